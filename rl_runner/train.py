"""Training, from the shell (``rl-train [overrides]``) and from Python:
``rl_runner.train(["algo=ddpg", "env=pusher"]) -> Run`` (see ``rl_runner.api.train``).

``cli`` first composes the overrides on the configs shipped in ``rl_runner/conf`` (see
``composition.py``): every mistake becomes one line and exit status 2 before anything is
written. It then claims a run dir of the run's own and hands over to Hydra (``main``), which
writes ``.hydra/`` and runs the job (``job.py``). ``main`` returns the final eval return, so a
sweeper can optimise it (a failed or stopped sweep job: see ``sweeps.FailedJob``).

This module is callable: ``rl_runner.train([...])`` is ``api.train`` (the function and the
module share the name ``rl_runner.train``, so the module forwards the call).
"""
from __future__ import annotations

import contextlib
import shutil
import sys
import time
import types
from pathlib import Path
from typing import NamedTuple

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rl_runner import composition, console, job, rundir, signals, sweeps
from rl_runner.config import ConfigError, register_configs
from rl_runner.console import PROG
from rl_runner.errors import RunStopped
from rl_runner.job import FAILURE_FILE, RESUME_RUNTIME_KEYS
from rl_runner.metrics import SeedsMetrics

register_configs()

# The run dir this process claimed before Hydra started (released if the run never starts).
_claimed: rundir.Claim | None = None


def _fail(message: str, code: int, run_dir: str, kind: str = "error"):
    """One line to stderr. A single run exits with ``code``; a run that never started leaves no
    dir behind. A multirun job records ``failure.json`` and returns a ``FailedJob``, so the
    launcher goes on with the other jobs and an Optuna trial counts as failed; a job a signal
    stopped stops its sweep (``SweepStopped``, ``StoppedJob``)."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        name = HydraConfig.get().job.override_dirname or HydraConfig.get().job.num
        if code >= 128 and sweeps.job_processes(HydraConfig.get().launcher) == 1:
            raise sweeps.SweepStopped(f"[{name}] {message}; the sweep stops here (its later "
                                      "jobs do not run)", code)  # a job in rl-train's process
        print(f"{PROG}: {console.tag()}{kind}: [{name}] {message}", file=sys.stderr)
        if code >= 128 and signals.stopping(wait=signals.ECHO_SECONDS):
            return sweeps.StoppedJob()  # the sweep's stop, not this job's failure
        job.record_failure(run_dir, message, code)
        return sweeps.FailedJob(message)
    if _claimed is not None and code in (2, 130) and not (_claimed.path / "checkpoints").exists():
        rundir.release(_claimed)  # bad input, or Ctrl-C before the first checkpoint
    print(f"{PROG}: {kind}: {message}", file=sys.stderr)
    sys.exit(code)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig):
    hydra_cfg = HydraConfig.get()
    run_dir = hydra_cfg.runtime.output_dir
    console.set_verbose(bool(cfg.get("verbose", False)))
    preset = composition.applied_preset(hydra_cfg.runtime.choices,
                                        GlobalHydra.instance().config_loader())
    try:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            job.check_job_dir(run_dir)
            if signals.stopping():  # a later job of a stopped sweep: its dir goes, unless
                if all(p.name == ".hydra" or p.suffix == ".log" for p in Path(run_dir).iterdir()):
                    shutil.rmtree(run_dir, ignore_errors=True)  # an earlier job left more
                if sweeps.job_processes(hydra_cfg.launcher) == 1:  # in this process: the
                    raise sweeps.SweepStopped("", 130)  # launcher stops now (cli words it)
                return sweeps.StoppedJob()
        metrics = job.execute(cfg, run_dir, preset, adjust=sweeps.sweep_runtime)
    except ConfigError as exc:
        return _fail(str(exc), 2, run_dir)
    except RunStopped as exc:
        return _fail(str(exc), exc.exit_code, run_dir, kind="stopped")
    except KeyboardInterrupt:  # outside the training loop (start-up, final eval and save)
        try:
            rundir.check_trained(Path(run_dir))
            message = ("interrupted outside the training loop; the last checkpoint is kept. "
                       f"Resume with: rl-train resume={run_dir}")
        except ConfigError:
            message = "interrupted before the first checkpoint: there is nothing to resume"
            if _claimed is not None and _claimed.created:
                message += f"; {run_dir} is removed"
        return _fail(message, 130, run_dir, kind="stopped")
    if not isinstance(metrics, SeedsMetrics):
        job.print_summary(metrics, cfg.resume or run_dir)
    return metrics.final_eval_return


def resume_arguments(argv: list[str]) -> list[str]:
    """``resume=<run_dir>``: check the dir before Hydra creates or writes anything, and run
    in it without rewriting its saved config. Other overrides are refused, except the runtime
    keys; returns the arguments to hand to Hydra."""
    resume = [a for a in argv if a.startswith("resume=")]
    if not resume or "-m" in argv or "--multirun" in argv:
        return argv
    run_dir = resume[-1].split("=", 1)[1]  # the last, as Hydra takes a key given twice
    others = [a for a in argv if not a.startswith(("resume=", "hydra.", "-"))
              and a.split("=", 1)[0].lstrip("+~") not in RESUME_RUNTIME_KEYS]
    if others:
        raise ConfigError(f"resume={run_dir} continues the run with its saved config; "
                          f"drop {' '.join(others)} (only {', '.join(RESUME_RUNTIME_KEYS)} "
                          "may change)")
    job.check_resumable(run_dir)
    quoted = rundir.quoted(run_dir)
    kept = [a for a in argv if not a.startswith("resume=")]
    return [*kept, f"resume={quoted}", f"hydra.run.dir={quoted}", "hydra.output_subdir=null"]


# Hydra's flags that print something and run nothing.
_INFO_FLAGS = ("help", "hydra_help", "info", "shell_completion", "experimental_rerun")


def _checked_cell(overrides: list[str], name: str, here: bool = True):
    """A multirun cell composed, and checked as its job will be where it is a grid's (a
    search's cell is checked at the ends of its ranges instead). ``here``: its job runs on this
    machine, whose free memory its replay buffer must fit (a SLURM node's is not this one's)."""
    composed = composition.compose(overrides, name)
    if not sweeps.is_search(composed.cfg):
        job.prepare(composed.cfg, memory=here)
    return composed


def _checks(overrides: list[str], name: str, here: bool) -> bool:
    try:
        _checked_cell(overrides, name, here)
    except ConfigError:
        return False
    return True


def _explicit(overrides: list[str], key: str) -> bool:
    return any(o.partition("=")[0].lstrip("+") == key for o in overrides)


class Checked(NamedTuple):
    argv: list[str]  # the arguments to hand to Hydra
    sweep_dir: Path | None  # a multirun's sweep dir
    claim: rundir.Claim | None  # the run dir claimed for a single run
    search: bool = False  # a multirun whose sweeper draws its points (Optuna)
    processes: int = 0  # a multirun's jobs side by side on this machine (sweeps.job_processes)


def check_arguments(argv: list[str]) -> Checked:
    """Compose and check what ``argv`` asks for, and claim its run or sweep dir. ConfigError
    on bad input, with nothing written."""
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_args(argv)
    if any(getattr(args, flag) for flag in _INFO_FLAGS):
        return Checked(argv, None, None)
    resumes = [a for a in args.overrides if a.startswith("resume=")]
    if resumes and args.multirun:
        raise ConfigError(f"{resumes[0]} under -m: a resume continues one run, without -m: "
                          "rl-train resume=<run_dir> (a sweep's job resumes by its own dir)")
    if resumes:
        return Checked(resume_arguments(argv), None, None)
    overrides = composition.normalise(args.overrides)
    flags = [a for a in argv if a not in args.overrides]
    name = args.config_name or composition.CONFIG_NAME
    if args.multirun:
        cells = sweeps.sweep_cells(overrides, name)
        try:  # what every cell shares: the sweeper, the launcher, the sweep dir
            first = composition.compose(cells[0], name).cfg
        except ConfigError:
            first = None  # the loop below raises it, naming the job if others compose
        search = first is not None and sweeps.is_search(first)
        processes = sweeps.job_processes(first.hydra.launcher) if first is not None else 1
        if first is not None and args.cfg is not None:  # prints a config; runs nothing
            return Checked([*flags, *overrides], None, None, search, processes)
        if first is not None and _explicit(overrides, "hydra.sweep.dir") and not search:
            sweep_dir = Path(first.hydra.sweep.dir).absolute()  # (a search continues its study)
            if any(sweep_dir.glob("*/.hydra")):
                raise ConfigError(f"hydra.sweep.dir={first.hydra.sweep.dir} already holds the "
                                  "runs of an earlier sweep: choose a new hydra.sweep.dir (a "
                                  "stopped job continues with rl-train resume=<its job dir>)")
        for cell in cells:
            try:  # all before the first job starts: a bad cell is not found hours in
                composed = _checked_cell(cell, name, processes > 0)
            except ConfigError as exc:
                if not any(_checks(other, name, processes > 0) for other in cells
                           if other is not cell):
                    raise  # a mistake every job shares
                job_name = ",".join(o for o in cell if o not in overrides)
                raise ConfigError(f"the job {job_name}: {exc} (a sweep starts when every job "
                                  "checks out; none has started)") from None
            if search:
                sweeps.check_search(overrides)  # Optuna & co. choose their cells as they go:
                fixed = [o for o in overrides if not sweeps.is_sweep(o)]  # their ranges' ends
                for point in sweeps.search_points(sweeps.search_space(composed.cfg, overrides)):
                    try:
                        job.prepare(composition.compose([*fixed, *point], name).cfg,
                                    memory=processes > 0)
                    except ConfigError as exc:
                        raise ConfigError(f"{exc} (a value the search can draw; no trial has "
                                          "started)") from None
                break
        if _explicit(overrides, "hydra.sweep.dir"):
            sweep_dir = Path(first.hydra.sweep.dir).absolute()
        else:
            sweep_dir = rundir.claim_sweep(first.hydra.sweep.dir)
            overrides.append(f"hydra.sweep.dir={rundir.quoted(sweep_dir)}")
        return Checked([*flags, *overrides], sweep_dir, None, search, processes)
    composed = composition.compose(overrides, name)
    sweeper = composed.cfg.hydra.runtime.choices.get("hydra/sweeper")
    if sweeper not in (None, "basic") and args.cfg is None:  # a single run would ignore it
        chosen = next((o for o in args.overrides if o.startswith("hparams_search=")),
                      f"hydra/sweeper={sweeper}")
        raise ConfigError(f"{chosen} is a search ({sweeper}): it runs with -m: rl-train -m "
                          f"{' '.join(args.overrides)}")
    job.prepare(composed.cfg)
    claim = None
    if args.cfg is None:
        explicit = _explicit(overrides, "hydra.run.dir")
        claim = rundir.claim(composed.cfg.hydra.run.dir, explicit)
        overrides.append(f"hydra.run.dir={rundir.quoted(claim.path)}")
    return Checked([*flags, *overrides], None, claim)


def repeated_keys(argv: list[str]) -> list[str]:
    """The command line's keys given twice with different values (see ``checks.repeated``)."""
    from hydra._internal.utils import get_args_parser

    from rl_runner.checks import repeated

    return repeated(get_args_parser().parse_args(argv).overrides)


def _failed_jobs(sweep_dir: Path | None, since: float) -> list[dict]:
    import json

    if sweep_dir is None or not sweep_dir.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sweep_dir.rglob(FAILURE_FILE)
            if p.stat().st_mtime >= since]


def cli(argv: list[str] | None = None) -> None:
    """Console script ``rl-train``."""
    global _claimed
    argv = list(sys.argv[1:] if argv is None else argv)
    console.set_verbose(any(a.lstrip("+") in ("verbose=true", "verbose=True") for a in argv))
    start, given = time.time(), argv
    try:
        if {"--help", "-h"} & set(argv):
            from rl_runner.usage import help_text

            console.out(help_text(argv))
            return
        checked = check_arguments(argv)
        argv, sweep_dir, _claimed = checked.argv, checked.sweep_dir, checked.claim
    except ConfigError as exc:
        console.error(PROG, str(exc))
    except KeyboardInterrupt:  # while composing: nothing was written
        console.error(PROG, "interrupted before the run started", 130, kind="stopped")
    for line in repeated_keys(given):
        print(f"{PROG}: warning: {line}", file=sys.stderr)
    if checked.search:
        sweeps.plain_optuna_logs()
    sys.argv[1:] = argv
    sweep_stop = None  # a sweep whose jobs run on this machine stops cleanly (SLURM's: scancel)
    if sweep_dir is not None and checked.processes:
        sweep_stop = signals.SweepStop(sweep_dir, parallel=checked.processes > 1)
    try:
        with sweep_stop or contextlib.nullcontext():
            main()
    except sweeps.SweepStopped as stop:  # a job of this process stopped, or the sweep between two
        if sweep_stop is None or sweep_stop.received is None:
            console.error(PROG, str(stop), stop.exit_code, kind="stopped")
        if str(stop):  # a job's stop, with its resume command, then the sweep's line below
            print(f"{PROG}: stopped: {stop}", file=sys.stderr)
    failed = _failed_jobs(sweep_dir, start)
    if sweep_stop is not None and sweep_stop.received is not None:
        before = f"; {len(failed)} job(s) had failed (failure.json)" if failed else ""
        console.error(PROG, f"{sweep_stop.arrivals.name}: the sweep stopped: each job it "
                      "stopped saved a checkpoint and printed the command that resumes it; the "
                      f"later jobs did not start{before}", 128 + sweep_stop.received,
                      kind="stopped")
    no_best = checked.search and sweep_dir is not None and not (
        sweep_dir / "optimization_results.yaml").exists()
    if failed or no_best:
        code = 2 if failed and all(f.get("exit_code") == 2 for f in failed) else 1
        why = [f"{len(failed)} job(s) of the sweep failed; each wrote failure.json in its dir "
               f"under {sweep_dir} (rl-report lists them)"] if failed else []
        why += ["no trial completed, so the search has no best value"] if no_best else []
        console.error(PROG, "; ".join(why), code)
    if sweep_dir is not None:
        best = (f"; the best parameters: {sweep_dir / 'optimization_results.yaml'}"
                if checked.search else "")
        print(f"{PROG}: sweep done: {sweep_dir}{best}; compare its runs: rl-report {sweep_dir}",
              file=sys.stderr)


class _CallableModule(types.ModuleType):
    def __call__(self, overrides=None, /, **keys):
        """rl_runner.train(overrides=None, /, **keys) -> Run: train as ``rl-train`` does.

        ``overrides``: a list (``["algo=ddpg", "seed=1"]``) or a dict (``{"algo": "ddpg",
        "env": "pusher", "algo.actor_lr": 1e-3}``); keywords add top-level keys
        (``total_env_steps=20000``, ``resume=run_dir``). Returns the finished ``Run``
        (``.metrics``, ``.run_dir``);
        raises ``rl_runner.ConfigError`` on bad input (nothing written) and
        ``rl_runner.RunStopped`` when interrupted (the checkpoint kept). Full documentation:
        ``help(rl_runner.api.train)``."""
        from rl_runner.api import train

        return train(overrides, **keys)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    cli()
