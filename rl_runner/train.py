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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any TensorFlow import

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from omegaconf.errors import MissingMandatoryValue  # noqa: E402

from rl_runner.config import (  # noqa: E402
    Config,
    ConfigError,
    load_run_config,
    register_configs,
    validate,
)
from rl_runner.errors import RunStopped  # noqa: E402

register_configs()

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


def run(typed: Config, spec, run_dir: str):
    """Build the trainer, resume it if asked, and train; returns RunMetrics."""
    from rl_runner import device
    from rl_runner.algos import trainer_class

    used = device.setup(typed.device, typed.threads, typed.seed, typed.deterministic)
    trainer = trainer_class(typed.algo.name)(typed, spec, run_dir)
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


def _fail(message: str, code: int, kind: str = "error") -> None:
    """One line to stderr and exit; in a multirun, raise so the launcher records the job as
    failed and the other jobs go on."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise RuntimeError(message)
    print(f"rl-train: {kind}: {message}", file=sys.stderr)
    sys.exit(code)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    run_dir = HydraConfig.get().runtime.output_dir
    try:
        typed, spec = prepare_resume(cfg) if cfg.resume else prepare(cfg)
        metrics = run(typed, spec, typed.resume or run_dir)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    except RunStopped as exc:
        return _fail(str(exc), exc.exit_code, kind="stopped")
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
    return [*argv, f"hydra.run.dir={run_dir}", "hydra.output_subdir=null"]


def cli() -> None:
    """Console script ``rl-train``: runs this file as ``__main__``, as ``python -m`` does, so that
    Hydra resolves ``config_path="../conf"`` next to the file rather than as a Python package."""
    runpy.run_module("rl_runner.train", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    sys.argv[1:] = resume_arguments(sys.argv[1:])
    main()
