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

from rl_runner.config import Config, ConfigError, register_configs, validate  # noqa: E402

register_configs()


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


def run(typed: Config, spec, run_dir: str):
    """Build the trainer and train; returns RunMetrics."""
    from rl_runner import device
    from rl_runner.algos import trainer_class

    used = device.setup(typed.device, typed.threads, typed.seed, typed.deterministic)
    trainer = trainer_class(typed.algo.name)(typed, spec, run_dir)
    print(f"rl-train: {typed.algo.name} on {spec.id} ({used}), run dir: {run_dir}",
          file=sys.stderr)
    try:
        return trainer.train()
    finally:
        trainer.close()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    run_dir = HydraConfig.get().runtime.output_dir
    try:
        typed, spec = prepare(cfg)
    except ConfigError as exc:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the launcher records this job as failed; the others go on
        print(f"rl-train: error: {exc}", file=sys.stderr)
        sys.exit(2)
    metrics = run(typed, spec, run_dir)
    print(f"rl-train: final eval return {metrics.final_eval_return:.2f} "
          f"± {metrics.final_eval_return_std:.2f} after {metrics.env_steps} env steps"
          + (f" (solved at {metrics.env_steps_to_solve})" if metrics.solved else "")
          + f"\nrl-train: run dir {run_dir}\n"
          f"rl-train: tensorboard --logdir {os.path.dirname(run_dir)} --host 127.0.0.1",
          file=sys.stderr)
    return metrics.final_eval_return


def cli() -> None:
    """Console script ``rl-train``: runs this file as ``__main__``, as ``python -m`` does, so that
    Hydra resolves ``config_path="../conf"`` next to the file rather than as a Python package."""
    runpy.run_module("rl_runner.train", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
