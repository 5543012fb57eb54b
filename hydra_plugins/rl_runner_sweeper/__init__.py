"""hydra-optuna-sweeper's sweeper as rl_runner's ``hparams_search`` presets run it. Hydra takes
sweepers only from this namespace package. Two changes: a continued study numbers its jobs on
(its trials' dirs are ``trial<num>_...``: a trial never lands in an earlier one's dir), and a
search whose every trial failed ends in rl-train's one line, where the plugin raised Optuna's
"No trials are completed yet" (or its storage's "Record does not exist") with a traceback."""
try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper as _Plugin
except ImportError:  # without the [sweep] extra there is no search to run
    _Plugin = None

if _Plugin is not None:

    class OptunaSweeper(_Plugin):
        def sweep(self, arguments: list[str]) -> None:
            self.sweeper.job_idx = self._trials_so_far()  # trial<num> dirs go on numbering
            try:
                return super().sweep(arguments)
            except ValueError as exc:
                if not self._none_completed(exc):
                    raise
                # rl-train's last line says so, after the failed jobs

        def _trials_so_far(self) -> int:
            """The trials of the study this search continues (0: a new study)."""
            import optuna

            impl = self.sweeper
            try:
                return len(optuna.load_study(study_name=impl.study_name,
                                             storage=impl.storage).trials)
            except (KeyError, ValueError):  # no such study yet, or no storage (in memory)
                return 0

        def _none_completed(self, exc: ValueError) -> bool:
            """Whether ``exc`` is the plugin asking for the best trial of a study with no
            completed trial: Optuna's message in memory, its storage's with a database."""
            import optuna

            if str(exc) not in ("No trials are completed yet.", "Record does not exist."):
                return False
            impl = self.sweeper
            if impl.storage is None:
                return True
            try:
                study = optuna.load_study(study_name=impl.study_name, storage=impl.storage)
            except KeyError:  # no study at all: the error came before any trial
                return False
            return not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
