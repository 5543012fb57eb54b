"""A run's TensorBoard event files, read without TensorFlow.

``rl-report`` and the benchmarks read curves with the protobuf classes TensorBoard ships and a
plain reader of the TFRecord framing (``records``). Nothing is executed or unpickled: an event
is a protobuf message.
"""
from __future__ import annotations

import struct
from pathlib import Path


def records(path: Path):
    """The records of a TFRecord file (TensorBoard's event files), read with plain Python:
    TensorBoard's own loader imports TensorFlow when it is installed (seconds and its start-up
    lines). Format: uint64 length, uint32 CRC of it, the data, uint32 CRC of the data; a
    truncated last record (a run still writing) ends the file."""
    with open(path, "rb") as f:
        while len(header := f.read(12)) == 12:
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            if len(data) < length or len(f.read(4)) < 4:
                return
            yield data


def eval_curve(run_dir: Path, tag: str = "eval/episodic_return") -> list[tuple[int, float]]:
    """(step, value) of a scalar tag from a run dir's event files, last write per step wins."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.util import tensor_util

    points: dict[int, float] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for record in records(path):
            event = Event.FromString(record)
            for value in event.summary.value:
                if value.tag == tag:
                    v = (float(tensor_util.make_ndarray(value.tensor))
                         if value.HasField("tensor") else value.simple_value)
                    points[event.step] = v
    return sorted(points.items())
