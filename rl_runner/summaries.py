"""TensorBoard output: one tag vocabulary, env steps on the x-axis, hyperparameters for the
HParams dashboard.

Tags (README lists them):
  eval/episodic_return       mean greedy return over the eval episodes
  eval/episodic_return_std   their standard deviation
  eval/best_episodic_return  the best eval mean so far (an HParams metric)
  heldout/episodic_return    at the end: the final policy's mean on held-out start states (the
                             run's result; an HParams metric)
  heldout/episodic_return_std      their standard deviation
  heldout/episodic_return_ci95_low, _high   the 95 % confidence interval of the mean
  heldout/best_episodic_return     the best checkpoint's mean on the same states
  charts/episodic_return     return of each finished training episode
  charts/episodic_length     its length
  charts/SPS                 environment steps per second of wall time
  losses/...                 per algorithm (policy_loss, entropy; qf_loss, actor_loss, ...)
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

EVAL_RETURN = "eval/episodic_return"
EVAL_RETURN_STD = "eval/episodic_return_std"
EVAL_BEST = "eval/best_episodic_return"
EPISODIC_RETURN = "charts/episodic_return"
EPISODIC_LENGTH = "charts/episodic_length"
HELDOUT_RETURN = "heldout/episodic_return"
HELDOUT_RETURN_STD = "heldout/episodic_return_std"
HELDOUT_RETURN_CI = ("heldout/episodic_return_ci95_low", "heldout/episodic_return_ci95_high")
HELDOUT_BEST_RETURN = "heldout/best_episodic_return"
SPS = "charts/SPS"
UPDATES_PER_S = "charts/updates_per_s"


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
    """A TensorBoard event writer for one run directory.

    Writes the same records as ``tf.summary.scalar`` (float32 tensors tagged for the scalars
    plugin) through TensorBoard's own event-file writer, without TensorFlow ops: an eager
    ``tf.summary.scalar`` call costs ~1 ms on a 2-core CPU, this ~20 us, and episodes end often.
    """

    def __init__(self, log_dir: str | Path):
        self.writer = EventFileWriter(str(log_dir), flush_secs=10)
        self._described: set[str] = set()

    def _add(self, step: int, summary: Summary) -> None:
        self.writer.add_event(Event(wall_time=time.time(), step=int(step), summary=summary))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        summary = Summary()
        for tag, value in values.items():
            entry = summary.value.add(tag=tag)
            entry.tensor.CopyFrom(tensor_util.make_tensor_proto(np.float32(value)))
            if tag not in self._described:  # plugin metadata once per tag, as tf.summary does
                entry.metadata.CopyFrom(scalar_metadata.create_summary_metadata("", ""))
                self._described.add(tag)
        self._add(step, summary)

    def images(self, step: int, images: dict[str, np.ndarray]) -> None:
        """RGB frames (H, W, 3 uint8) as PNG image summaries."""
        import imageio.v3 as iio

        summary = Summary()
        for tag, frame in images.items():
            summary.value.add(tag=tag, image=Summary.Image(
                height=frame.shape[0], width=frame.shape[1], colorspace=3,
                encoded_image_string=iio.imwrite("<bytes>", frame, extension=".png")))
        self._add(step, summary)

    def hparams(self, hparams: dict[str, Any], run_name: str) -> None:
        """Record the run's hyperparameters; its metrics are the eval tags' last values."""
        from tensorboard.plugins.hparams import api as hp  # imports TensorFlow: lazily

        self._add(0, hp.hparams_config_pb(
            hparams=[hp.HParam(k) for k in sorted(hparams)],
            metrics=[hp.Metric(HELDOUT_RETURN, display_name="held-out return"),
                     hp.Metric(HELDOUT_BEST_RETURN, display_name="held-out return, best"),
                     hp.Metric(EVAL_RETURN, display_name="final eval return"),
                     hp.Metric(EVAL_BEST, display_name="best eval return"),
                     hp.Metric(EVAL_RETURN_STD, display_name="eval return std"),
                     hp.Metric(SPS, display_name="env steps/s")]))
        self._add(0, hp.hparams_pb(hparams, trial_id=run_name))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def trim_events(log_dir: str | Path, step: int) -> int:
    """Remove the events after ``step`` from a run's event files, so that a run resumed from
    its checkpoint at ``step`` goes on with no duplicated steps (a run killed hard may have
    logged past its last checkpoint). Each file is rewritten to a temporary name and then
    atomically replaces the original. Returns the number of events removed.

    TensorBoard's SessionLog.START purge would hide them too, but only its legacy loader
    honours it for scalars written as tensors.
    """
    from tensorboard.backend.event_processing.event_file_loader import (
        RawEventFileLoader,
    )
    from tensorboard.summary.writer.record_writer import RecordWriter

    removed = 0
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        records = list(RawEventFileLoader(str(path)).Load())
        keep = [r for r in records if Event.FromString(r).step <= step]
        if len(keep) == len(records):
            continue
        tmp = path.with_name(path.name + ".trim")
        with open(tmp, "wb") as f:
            writer = RecordWriter(f)
            for record in keep:
                writer.write(record)
            writer.flush()
        tmp.replace(path)
        removed += len(records) - len(keep)
    return removed
