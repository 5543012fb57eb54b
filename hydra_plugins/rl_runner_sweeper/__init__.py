"""hydra-optuna-sweeper's sweeper as rl_runner's ``hparams_search`` presets run it. Hydra takes
sweepers only from this namespace package. One change: a search whose every trial failed ends
as a sweep with failed jobs does (rl-train's one line, each job's ``failure.json``), where the
plugin raised Optuna's "No trials are completed yet" with a traceback."""
try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper as _Plugin
except ImportError:  # without the [sweep] extra there is no search to run
    _Plugin = None

if _Plugin is not None:

    class OptunaSweeper(_Plugin):
        def sweep(self, arguments: list[str]) -> None:
            try:
                return super().sweep(arguments)
            except ValueError as exc:  # the best trial of a study with none completed
                if self._completed(exc):
                    raise
                # none completed: rl-train's last line says so, after the failed jobs

        def _completed(self, exc: ValueError) -> bool:
            """Whether the study has a completed trial. In memory it is gone: Optuna's
            message says (with a storage, its message is the storage's)."""
            import optuna

            impl = self.sweeper
            if impl.storage is None:
                return "No trials are completed yet" not in str(exc)
            study = optuna.load_study(study_name=impl.study_name, storage=impl.storage)
            return any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
