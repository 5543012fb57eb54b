"""TensorBoard output: one tag vocabulary, env steps on the x-axis, hyperparameters for the
HParams dashboard.

Tags (README lists them):
  eval/episodic_return       mean greedy return over the eval episodes
  eval/episodic_return_std   their standard deviation
  charts/episodic_return     return of each finished training episode
  charts/episodic_length     its length
  charts/SPS                 environment steps per second of wall time
  losses/...                 per algorithm (policy_loss, entropy; qf_loss, actor_loss, ...)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

EVAL_RETURN = "eval/episodic_return"
EVAL_RETURN_STD = "eval/episodic_return_std"
EPISODIC_RETURN = "charts/episodic_return"
EPISODIC_LENGTH = "charts/episodic_length"
SPS = "charts/SPS"


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A config dataclass tree as {dotted.key: bool|int|float|str} for the HParams plugin."""
    out: dict[str, Any] = {}
    items = dataclasses.asdict(obj).items() if dataclasses.is_dataclass(obj) else obj.items()
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, prefix=f"{path}."))
        elif isinstance(value, (bool, int, float, str)):
            out[path] = value
        else:  # lists, None, empty dicts: shown as text
            out[path] = str(value)
    return out


class Summaries:
    """A TensorBoard event writer for one run directory."""

    def __init__(self, log_dir: str | Path):
        self.writer = tf.summary.create_file_writer(str(log_dir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        with self.writer.as_default(step=int(step)):
            for tag, value in values.items():
                tf.summary.scalar(tag, float(value))

    def hparams(self, hparams: dict[str, Any], run_name: str) -> None:
        """Record the run's hyperparameters; its metrics are the eval tags' last values."""
        with self.writer.as_default():
            hp.hparams_config(
                hparams=[hp.HParam(k) for k in sorted(hparams)],
                metrics=[hp.Metric(EVAL_RETURN, display_name="final eval return"),
                         hp.Metric(EVAL_RETURN_STD, display_name="eval return std"),
                         hp.Metric(SPS, display_name="env steps/s")],
            )
            hp.hparams(hparams, trial_id=run_name)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
