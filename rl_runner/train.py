"""The one entry point: ``rl-train [overrides]`` / ``python -m rl_runner.train``.

Hydra composes ``conf/`` into a DictConfig checked against the schemas in ``config.py`` (an
unknown key or a wrong type fails there). Here it becomes typed dataclasses once, its ranges
and the algorithm/env pairing are checked - all before TensorFlow is imported - and the
trainer runs. Returns the final eval return, so a sweeper can optimise it.
"""
from __future__ import annotations

import os
import runpy
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from rl_runner.config import (
    Config,
    ConfigError,
    load_run_config,
    register_configs,
    validate,
)
from rl_runner.errors import RunStopped

register_configs()


def _sqlite_url(path: str) -> str:
    """``${sqlite_url:<file>}`` in YAML: an SQLite URL for ``<file>``, creating its folder
    (an Optuna study stored in the sweep dir exists before Hydra creates that dir)."""
    from pathlib import Path

    file = Path(path).absolute()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


OmegaConf.register_new_resolver("sqlite_url", _sqlite_url, replace=True)

# Keys a resumed run may change: they do not affect what it computes.
RESUME_RUNTIME_KEYS = ("progress", "device", "threads")


def prepare(cfg: DictConfig):
    """Typed config and env description, or ConfigError: cheap, no TensorFlow."""
    from rl_runner.envs import describe

    try:
        typed: Config = OmegaConf.to_object(cfg)
    except MissingMandatoryValue as exc:
        raise ConfigError(f"{exc.full_key} is required and has no value (set it on the "
                          f"command line: {exc.full_key}=...)") from None
    validate(typed)
    return typed, describe(typed.env, typed.algo.name)


def check_resumable(run_dir: str) -> None:
    """Cheap checks of a run dir to resume, before Hydra touches it (no TensorFlow)."""
    from pathlib import Path

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


def run(typed: Config, spec, run_dir: str):
    """Build the trainer, resume it if asked, and train; returns RunMetrics."""
    trainer, used = build_trainer(typed, spec, run_dir)
    try:
        if typed.resume:
            path = trainer.resume()
            print(f"rl-train: resuming {run_dir} from {os.path.basename(path)} at env step "
                  f"{trainer.env_steps} ({used})", file=sys.stderr)
        else:
            print(f"rl-train: {typed.algo.name} on {spec.id} ({used}), run dir: {run_dir}",
                  file=sys.stderr)
        return trainer.train()
    finally:
        trainer.close()


def _fail(message: str, code: int, kind: str = "error", run_dir: str | None = None) -> None:
    """One line to stderr and exit; in a multirun, record the failure in the job's dir and
    raise, so the launcher marks this job failed and the other jobs go on."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        if run_dir:
            record_failure(run_dir, message)
        raise RuntimeError(message)
    print(f"rl-train: {kind}: {message}", file=sys.stderr)
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


def train_seeds(typed: Config, spec, run_dir: str) -> float:
    """Train ``search.seeds`` seeds (seed, seed+1, ...) one after another, each in
    ``<run_dir>/seed=<s>/`` with its own config; writes their summary to ``metrics.json`` and
    returns the mean final eval return."""
    import dataclasses
    import json
    from pathlib import Path

    finals = {}
    for seed in range(typed.seed, typed.seed + typed.search.seeds):
        one = dataclasses.replace(typed, seed=seed, search=dataclasses.replace(typed.search,
                                                                              seeds=1))
        seed_dir = Path(run_dir) / f"seed={seed}"
        (seed_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.structured(one), seed_dir / ".hydra" / "config.yaml")
        finals[seed] = run(one, spec, str(seed_dir)).final_eval_return
    mean = sum(finals.values()) / len(finals)
    summary = {"final_eval_return": mean, "seeds": list(finals),
               "final_eval_return_per_seed": list(finals.values())}
    (Path(run_dir) / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"rl-train: mean final eval return {mean:.2f} over seeds {list(finals)}",
          file=sys.stderr)
    return mean


def record_failure(run_dir: str, message: str) -> None:
    """``failure.json`` in a sweep job's dir, so a report lists the failed job."""
    import json
    from pathlib import Path

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / "failure.json").write_text(json.dumps({"error": message}) + "\n")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    run_dir = HydraConfig.get().runtime.output_dir
    try:
        typed, spec = prepare_resume(cfg) if cfg.resume else prepare(cfg)
        sweep_runtime(typed)
        if typed.search.seeds > 1:
            return train_seeds(typed, spec, run_dir)
        metrics = run(typed, spec, typed.resume or run_dir)
    except ConfigError as exc:
        return _fail(str(exc), 2, run_dir=run_dir)
    except RunStopped as exc:
        return _fail(str(exc), exc.exit_code, kind="stopped", run_dir=run_dir)
    except KeyboardInterrupt:  # outside the training loop (start-up, final save)
        return _fail("interrupted outside the training loop; the last checkpoint is kept",
                     130, kind="stopped", run_dir=run_dir)
    print(f"rl-train: final eval return {metrics.final_eval_return:.2f} "
          f"± {metrics.final_eval_return_std:.2f} after {metrics.env_steps} env steps"
          + (f" (solved at {metrics.env_steps_to_solve})" if metrics.solved else "")
          + f"\nrl-train: run dir {run_dir}\n"
          f"rl-train: tensorboard --logdir {os.path.dirname(run_dir)} --host 127.0.0.1",
          file=sys.stderr)
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
    try:
        if others:
            raise ConfigError(f"resume={run_dir} continues the run with its saved config; "
                              f"drop {' '.join(others)} (only {', '.join(RESUME_RUNTIME_KEYS)} "
                              "may change)")
        check_resumable(run_dir)
    except ConfigError as exc:
        print(f"rl-train: error: {exc}", file=sys.stderr)
        sys.exit(2)
    # Quoted for Hydra's override grammar: a sweep job's dir holds '=' and ','.
    quoted = "'" + run_dir.replace("\\", "\\\\").replace("'", "\\'") + "'"
    kept = [a for a in argv if not a.startswith("resume=")]
    return [*kept, f"resume={quoted}", f"hydra.run.dir={quoted}", "hydra.output_subdir=null"]


def cli() -> None:
    """Console script ``rl-train``: runs this file as ``__main__``, as ``python -m`` does, so that
    Hydra resolves ``config_path="../conf"`` next to the file rather than as a Python package."""
    runpy.run_module("rl_runner.train", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    sys.argv[1:] = resume_arguments(sys.argv[1:])
    main()
