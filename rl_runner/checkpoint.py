"""Checkpoints: ``tf.train.Checkpoint`` + ``CheckpointManager`` in ``<run_dir>/checkpoints``.

Two managers: ``checkpoints/`` keeps the last ``checkpoint.keep`` full training states (networks,
targets, optimizer slots, RNGs, counters, env positions, optionally the replay buffer) for
exact resume; ``checkpoints/best/`` keeps the policy with the best eval return, for
``rl-eval checkpoint=best``. Python-side state (counters, numpy RNG, env positions) travels
inside the same checkpoint as JSON through ``tf.train.experimental.PythonState``: nothing is
pickled, and one write holds everything.

TensorFlow writes a checkpoint's data and index files before it atomically rewrites the small
``checkpoint`` state file that names the latest: a crash or a second Ctrl-C mid-write leaves the
previous checkpoint as latest, readable.
"""
from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rl_runner.config import ConfigError
from rl_runner.device import tf

CHECKPOINT_DIR = "checkpoints"
BEST_DIR = "best"
GLOB_CHARACTERS = set("[]*?")


class JsonState(tf.train.experimental.PythonState):
    """Python state saved as JSON inside a TensorFlow checkpoint."""

    def __init__(self, get: Callable[[], dict], set_: Callable[[dict], None]):
        self._get, self._set = get, set_

    def serialize(self) -> str:
        return json.dumps(self._get())

    def deserialize(self, string) -> None:
        self._set(json.loads(string.numpy() if hasattr(string, "numpy") else string))


@contextmanager
def readable(directory: Path):
    """``directory``, or a symlink to it whose path holds no glob characters: TensorFlow reads a
    checkpoint through a glob of its path, and a sweep job's dir name can hold ``[``, ``]``,
    ``*`` or ``?`` (``algo.hidden_sizes=[32,32]``), which the glob cannot match."""
    if not GLOB_CHARACTERS & set(str(directory)):
        yield directory
        return
    with tempfile.TemporaryDirectory(prefix="rl_runner_") as tmp:
        link = Path(tmp) / "checkpoints"
        link.symlink_to(Path(directory).resolve(), target_is_directory=True)
        yield link


def _number(path: str) -> int:
    return int(re.search(r"ckpt-(\d+)$", path).group(1))


class RunCheckpoints:
    """Full training states (last K) and the best policy of one run."""

    def __init__(self, run_dir: str | Path, parts: dict[str, Any], policy: tf.Module,
                 state: JsonState, keep: int):
        self.directory = Path(run_dir) / CHECKPOINT_DIR
        self.checkpoint = tf.train.Checkpoint(policy=policy, state=state, **parts)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory),
                                                  max_to_keep=keep)
        self.best = tf.train.CheckpointManager(tf.train.Checkpoint(policy=policy),
                                               str(self.directory / BEST_DIR), max_to_keep=1)

    @staticmethod
    def _save(manager: tf.train.CheckpointManager) -> str:
        """Numbered after every existing checkpoint, so a fallback never overwrites one."""
        existing = [_number(p) for p in manager.checkpoints]
        return manager.save(checkpoint_number=max(existing, default=0) + 1)

    def save(self) -> str:
        return self._save(self.manager)

    def save_best(self) -> str:
        return self._save(self.best)

    def restore_latest(self, warn: Callable[[str], None]) -> str:
        """Restore the newest readable checkpoint, falling back to older ones; ConfigError if
        none can be read. Returns the path restored."""
        candidates = list(reversed(self.manager.checkpoints))
        if not candidates:
            raise ConfigError(f"resume: {self.directory} holds no checkpoint")
        for path in candidates:
            try:
                with readable(self.directory) as directory:
                    self.checkpoint.restore(str(directory / Path(path).name)) \
                        .assert_existing_objects_matched()
                return path
            except ConfigError:  # read fine, but cannot be resumed (e.g. env replay)
                raise
            except Exception as exc:  # noqa: BLE001 - any unreadable file: try the next
                reason = str(exc).strip().splitlines()[0][:200]
                warn(f"checkpoint {path} is unreadable ({reason}); trying an older one")
        raise ConfigError(f"resume: no readable checkpoint in {self.directory} (tried "
                          f"{', '.join(Path(p).name for p in candidates)})")


def restore_policy(run_dir: str | Path, policy: tf.Module, which: str = "latest") -> str:
    """Load only the policy (no optimizer, no replay) from a run's latest or best checkpoint."""
    directory = Path(run_dir) / CHECKPOINT_DIR
    if which == "best":
        directory = directory / BEST_DIR
    # The state file's record, not tf.train.latest_checkpoint: that globs the path, and a sweep
    # job's dir name holds glob characters (algo.hidden_sizes=[32,32]).
    state = tf.train.get_checkpoint_state(str(directory))
    if state is None or not state.model_checkpoint_path:
        raise ConfigError(f"{directory} holds no checkpoint")
    path = state.model_checkpoint_path
    try:
        with readable(directory) as alias:
            tf.train.Checkpoint(policy=policy).restore(str(alias / Path(path).name)) \
                .expect_partial().assert_existing_objects_matched()
    except Exception as exc:  # noqa: BLE001 - truncated files raise IndexError, OpError, ...
        raise ConfigError(f"checkpoint {path} is unreadable: {str(exc).splitlines()[0]}") \
            from None
    return path


def export_policy(policy: tf.Module, obs_dim: int, path: str | Path) -> None:
    """Write the greedy policy as a SavedModel, usable with plain TensorFlow (no rl_runner):

    - ``tf.saved_model.load(path).act(obs)``: env-ready actions for observations as the env
      returns them: float32 or float64, one observation ``[obs_dim]`` or a batch
      ``[N, obs_dim]``;
    - the ``serving_default`` signature (TF Serving): ``observations`` ``[N, obs_dim]`` float32
      in, ``{"actions": [N, ...]}`` out.
    """
    def act(observations):
        batch = tf.cast(observations, tf.float32)
        if observations.shape.rank == 1:
            return policy.greedy(batch[None])[0]
        return policy.greedy(batch)

    policy.act = tf.function(act)  # tracked: the loaded object has .act(obs)
    for dtype in (tf.float32, tf.float64):
        for shape in ([None, obs_dim], [obs_dim]):
            policy.act.get_concrete_function(tf.TensorSpec(shape, dtype, name="observations"))
    serve = tf.function(lambda observations: {"actions": act(observations)},
                        input_signature=[tf.TensorSpec([None, obs_dim], tf.float32,
                                                       name="observations")])
    tf.saved_model.save(policy, str(path), signatures={"serving_default": serve})
