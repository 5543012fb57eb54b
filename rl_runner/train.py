"""The one entry point: ``rl-train [overrides]`` / ``python -m rl_runner.train``.

``cli`` first composes the overrides on the configs shipped in ``rl_runner/conf`` (see
``compose.py``): every mistake becomes one line and exit status 2 before anything is written.
It then claims a run dir of the run's own and hands over to Hydra (``main``), which writes
``.hydra/`` and runs the job: the config becomes typed dataclasses, its ranges and the
algorithm/env pairing are checked - all before TensorFlow is imported - and the trainer runs.
``main`` returns the final eval return, so a sweeper can optimise it.
"""
from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue

from rl_runner import compose, console, rundir
from rl_runner.config import (
    Config,
    ConfigError,
    load_run_config,
    register_configs,
    run_warnings,
    validate,
)
from rl_runner.errors import RunStopped

register_configs()
PROG = "rl-train"


def _sqlite_url(path: str) -> str:
    """``${sqlite_url:<file>}`` in YAML: an SQLite URL for ``<file>``, creating its folder
    (an Optuna study stored in the sweep dir exists before Hydra creates that dir)."""
    file = Path(path).absolute()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


OmegaConf.register_new_resolver("sqlite_url", _sqlite_url, replace=True)

# Keys a resumed run may change: they do not affect what it computes.
RESUME_RUNTIME_KEYS = ("progress", "device", "threads", "verbose")


def prepare(cfg: DictConfig):
    """Typed config and env description, or ConfigError: cheap, no TensorFlow."""
    from rl_runner.envs import describe

    cfg = run_config(cfg)
    try:
        typed: Config = OmegaConf.to_object(cfg)
    except MissingMandatoryValue as exc:
        raise ConfigError(f"{exc.full_key} is required and has no value (set it on the "
                          f"command line: {exc.full_key}=...)") from None
    validate(typed)
    return typed, describe(typed.env, typed.algo.name)


def run_config(cfg: DictConfig) -> DictConfig:
    """The run's keys without the ``hydra`` node (which compose's result carries)."""
    if "hydra" not in cfg:
        return cfg
    cfg = cfg.copy()
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def check_resumable(run_dir: str) -> None:
    """Cheap checks of a run dir to resume, before Hydra touches it (no TensorFlow)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ConfigError(f"resume={run_dir}: no such directory")
    if not (path / ".hydra" / "config.yaml").is_file():
        raise ConfigError(f"resume={run_dir}: not a run dir (no .hydra/config.yaml)")
    if (path / "metrics.json").is_file():
        raise ConfigError(f"resume={run_dir}: the run already finished (metrics.json); start "
                          "a new run, e.g. with a larger total_env_steps")
    seeds = sorted(p.name for p in path.glob("seed=*") if p.is_dir())
    if seeds and not (path / "checkpoints").exists():
        raise ConfigError(f"resume={run_dir} trained several seeds (search.seeds): resume one "
                          f"of them, e.g. resume={path / seeds[0]}")
    if not (path / "checkpoints" / "checkpoint").is_file():
        raise ConfigError(f"resume={run_dir}: no checkpoint to resume from (checkpoints/ "
                          "is missing or empty)")


def prepare_resume(cfg: DictConfig):
    """The saved config of the run to resume (runtime keys from the command line) and its
    env description."""
    from rl_runner.envs import describe

    check_resumable(cfg.resume)
    typed = load_run_config(cfg.resume)
    for key in RESUME_RUNTIME_KEYS:
        setattr(typed, key, cfg[key])
    typed.resume = cfg.resume
    return typed, describe(typed.env, typed.algo.name)


def build_trainer(typed: Config, spec, run_dir: str):
    """Set TensorFlow up for this run and build its trainer (not trained yet); returns the
    trainer and the device it uses. Tests and benchmarks build trainers through here too."""
    from rl_runner import device
    from rl_runner.algos import trainer_class

    used = device.setup(typed.device, typed.threads, typed.seed, typed.deterministic)
    return trainer_class(typed.algo.name)(typed, spec, run_dir), used


def run(typed: Config, spec, run_dir: str, preset: str | None = None):
    """Build the trainer, resume it if asked, and train; returns RunMetrics."""
    trainer, used = build_trainer(typed, spec, run_dir)
    try:
        if typed.resume:
            path = trainer.resume()
            print(f"{PROG}: resuming {run_dir} from {os.path.basename(path)} at env step "
                  f"{trainer.env_steps} ({used})", file=sys.stderr)
        else:
            applied = f"preset {preset}" if preset else "no preset"
            print(f"{PROG}: {typed.algo.name} on {spec.id} ({applied}, {used}), "
                  f"run dir {run_dir}", file=sys.stderr)
            for warning in run_warnings(typed):
                print(f"{PROG}: warning: {warning}", file=sys.stderr)
        return trainer.train()
    finally:
        trainer.close()


# The run dir this process claimed before Hydra started (released if the run never starts).
_claimed: rundir.Claim | None = None


def _fail(message: str, code: int, run_dir: str, kind: str = "error") -> float:
    """One line to stderr. A single run exits with ``code``; a run that never started leaves no
    dir behind. A multirun job records ``failure.json`` and returns NaN, so the launcher goes
    on with the other jobs and an Optuna trial counts as failed."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        job = HydraConfig.get().job.override_dirname or HydraConfig.get().job.num
        print(f"{PROG}: {kind}: [{job}] {message}", file=sys.stderr)
        record_failure(run_dir, message, code)
        return math.nan
    if _claimed is not None and code == 2 and not (_claimed.path / "checkpoints").exists():
        rundir.release(_claimed)
    print(f"{PROG}: {kind}: {message}", file=sys.stderr)
    sys.exit(code)


def sweep_runtime(typed: Config) -> None:
    """Side-by-side jobs (a multirun with a parallel launcher): no progress bars, and TensorFlow
    threads split between the jobs unless ``threads`` is set."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    typed.progress = False
    launcher = hydra_cfg.launcher
    n_jobs = launcher.get("n_jobs", 1) if "joblib" in str(launcher.get("_target_", "")) else 1
    if typed.threads == 0 and n_jobs != 1:
        cores = os.cpu_count() or 1
        typed.threads = 1 if n_jobs < 1 else max(1, cores // n_jobs)


def train_seeds(typed: Config, spec, run_dir: str, preset: str | None) -> float:
    """Train ``search.seeds`` seeds (seed, seed+1, ...) one after another, each in
    ``<run_dir>/seed=<s>/`` with its own config; writes their summary to ``metrics.json`` and
    returns the mean final eval return."""
    import dataclasses
    import json

    finals = {}
    for seed in range(typed.seed, typed.seed + typed.search.seeds):
        one = dataclasses.replace(typed, seed=seed, search=dataclasses.replace(typed.search,
                                                                              seeds=1))
        seed_dir = Path(run_dir) / f"seed={seed}"
        (seed_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.structured(one), seed_dir / ".hydra" / "config.yaml")
        finals[seed] = run(one, spec, str(seed_dir), preset).final_eval_return
    mean = sum(finals.values()) / len(finals)
    summary = {"final_eval_return": mean, "seeds": list(finals),
               "final_eval_return_per_seed": list(finals.values())}
    (Path(run_dir) / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{PROG}: mean final eval return {mean:.2f} over seeds {list(finals)}",
          file=sys.stderr)
    return mean


FAILURE_FILE = "failure.json"


def record_failure(run_dir: str, message: str, exit_code: int) -> None:
    """``failure.json`` in a sweep job's dir, so a report lists the failed job."""
    import json

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / FAILURE_FILE).write_text(
        json.dumps({"error": message, "exit_code": exit_code}) + "\n")


def print_summary(metrics, run_dir: str) -> None:
    """Why the run stopped, its final and best eval, where it is and how to look at it."""
    if metrics.stop_reason == "threshold":
        why = (f"reached the threshold {metrics.stop_at_return:g} at env step "
               f"{metrics.env_steps_to_solve:,}")
    else:
        why = f"total_env_steps reached ({metrics.env_steps:,} env steps)"
        if metrics.solved:
            why += f" (threshold {metrics.stop_at_return:g} first reached at env step " \
                   f"{metrics.env_steps_to_solve:,})"
    print(f"{PROG}: stopped: {why}\n"
          f"{PROG}: final eval return {metrics.final_eval_return:.2f} "
          f"± {metrics.final_eval_return_std:.2f}, best {metrics.best_eval_return:.2f}\n"
          f"{PROG}: run dir {run_dir}\n"
          f"{PROG}: tensorboard --logdir {os.path.dirname(run_dir)} --host 127.0.0.1",
          file=sys.stderr)


def check_job_dir(run_dir: str) -> None:
    """A sweep job never writes into a dir that holds an earlier run (a reused sweep dir)."""
    if (Path(run_dir) / "checkpoints").exists() or (Path(run_dir) / "metrics.json").exists():
        raise ConfigError(f"{run_dir} already holds a run from an earlier sweep: choose a new "
                          "hydra.sweep.dir, or continue that run with rl-train resume=<its dir>")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    run_dir = hydra_cfg.runtime.output_dir
    console.set_verbose(bool(cfg.get("verbose", False)))
    try:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            check_job_dir(run_dir)
        typed, spec = prepare_resume(cfg) if cfg.resume else prepare(cfg)
        sweep_runtime(typed)
        preset = compose.applied_preset(hydra_cfg.runtime.choices,
                                        GlobalHydra.instance().config_loader())
        if typed.search.seeds > 1:
            return train_seeds(typed, spec, run_dir, preset)
        metrics = run(typed, spec, typed.resume or run_dir, preset)
    except ConfigError as exc:
        return _fail(str(exc), 2, run_dir)
    except RunStopped as exc:
        return _fail(str(exc), exc.exit_code, run_dir, kind="stopped")
    except KeyboardInterrupt:  # outside the training loop (start-up, final save)
        return _fail("interrupted outside the training loop; the last checkpoint is kept",
                     130, run_dir, kind="stopped")
    print_summary(metrics, typed.resume or run_dir)
    return metrics.final_eval_return


def resume_arguments(argv: list[str]) -> list[str]:
    """``resume=<run_dir>``: check the dir before Hydra creates or writes anything, and run
    in it without rewriting its saved config. Other overrides are refused, except the runtime
    keys; returns the arguments to hand to Hydra."""
    resume = [a for a in argv if a.startswith("resume=")]
    if not resume or "-m" in argv or "--multirun" in argv:
        return argv
    run_dir = resume[0].split("=", 1)[1]
    others = [a for a in argv if not a.startswith(("resume=", "hydra.", "-"))
              and a.split("=", 1)[0].lstrip("+~") not in RESUME_RUNTIME_KEYS]
    if others:
        raise ConfigError(f"resume={run_dir} continues the run with its saved config; "
                          f"drop {' '.join(others)} (only {', '.join(RESUME_RUNTIME_KEYS)} "
                          "may change)")
    check_resumable(run_dir)
    quoted = rundir.quoted(run_dir)
    kept = [a for a in argv if not a.startswith("resume=")]
    return [*kept, f"resume={quoted}", f"hydra.run.dir={quoted}", "hydra.output_subdir=null"]


# Hydra's flags that print something and run nothing.
_INFO_FLAGS = ("help", "hydra_help", "info", "shell_completion", "experimental_rerun")


def sweep_cells(overrides: list[str]) -> list[list[str]]:
    """The jobs of a grid (Hydra's basic sweeper's own expansion)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [cell for batch in BasicSweeper.split_arguments(parsed, None) for cell in batch]


def _explicit(overrides: list[str], key: str) -> bool:
    return any(o.partition("=")[0].lstrip("+") == key for o in overrides)


def check_arguments(argv: list[str]) -> tuple[list[str], Path | None]:
    """Compose and check what ``argv`` asks for, and claim its run or sweep dir; returns the
    arguments to hand to Hydra and, for a multirun, its sweep dir. ConfigError on bad input,
    with nothing written."""
    global _claimed
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_args(argv)
    if any(getattr(args, flag) for flag in _INFO_FLAGS):
        return argv, None
    if any(a.startswith("resume=") for a in args.overrides) and not args.multirun:
        return resume_arguments(argv), None
    overrides = compose.normalise(args.overrides)
    flags = [a for a in argv if a not in args.overrides]
    name = args.config_name or compose.CONFIG_NAME
    if args.multirun:
        composed = None
        for cell in sweep_cells(overrides):
            composed = compose.compose(cell, name)
            if "BasicSweeper" not in str(composed.cfg.hydra.sweeper.get("_target_")):
                break  # Optuna & co. choose their cells as they go: the base config is checked
        sweep_dir = None
        if args.cfg is None and not _explicit(overrides, "hydra.sweep.dir"):
            sweep_dir = rundir.claim_sweep(composed.cfg.hydra.sweep.dir)
            overrides.append(f"hydra.sweep.dir={rundir.quoted(sweep_dir)}")
        elif _explicit(overrides, "hydra.sweep.dir"):
            sweep_dir = Path(composed.cfg.hydra.sweep.dir).absolute()
        return [*flags, *overrides], sweep_dir
    composed = compose.compose(overrides, name)
    prepare(composed.cfg)
    if args.cfg is None:
        explicit = _explicit(overrides, "hydra.run.dir")
        _claimed = rundir.claim(composed.cfg.hydra.run.dir, explicit)
        overrides.append(f"hydra.run.dir={rundir.quoted(_claimed.path)}")
    return [*flags, *overrides], None


def _failed_jobs(sweep_dir: Path | None, since: float) -> list[dict]:
    import json

    if sweep_dir is None or not sweep_dir.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sweep_dir.rglob(FAILURE_FILE)
            if p.stat().st_mtime >= since]


def cli(argv: list[str] | None = None) -> None:
    """Console script ``rl-train``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    console.set_verbose(any(a.lstrip("+") in ("verbose=true", "verbose=True") for a in argv))
    start = time.time()
    try:
        argv, sweep_dir = check_arguments(argv)
    except ConfigError as exc:
        console.error(PROG, str(exc))
    sys.argv[1:] = argv
    main()
    failed = _failed_jobs(sweep_dir, start)
    if failed:
        code = 2 if all(f.get("exit_code") == 2 for f in failed) else 1
        console.error(PROG, f"{len(failed)} job(s) of the sweep failed; each wrote "
                      f"failure.json in its dir under {sweep_dir} (rl-report lists them)", code)


if __name__ == "__main__":
    cli()
