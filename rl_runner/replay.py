"""A replay buffer that lives in ``tf.Variable``s on the training device.

Transitions are written by ``add`` and sampled by ``sample`` - both meant to run *inside* the
trainer's compiled step, so no transition and no weight crosses between Python and TensorFlow
more than once per env step. Sampling draws indices from a seeded ``tf.random.Generator``, whose
state is a variable too (checkpointable, reproducible).
"""
from __future__ import annotations

import os
from typing import NamedTuple

import tensorflow as tf

from rl_runner.config import ConfigError


class Transitions(NamedTuple):
    """A batch of transitions; actions in the actor's [-1, 1] space."""

    obs: tf.Tensor          # [B, obs_dim] float32
    actions: tf.Tensor      # [B, act_dim] float32
    rewards: tf.Tensor      # [B] float32
    next_obs: tf.Tensor     # [B, obs_dim] float32 (the final obs when an episode ended)
    terminated: tf.Tensor   # [B] float32: 1 only at a true terminal state, not at truncation
    discount: tf.Tensor | None = None  # [B] gamma**k of an n-step sample; None: one step


def n_step_fold(rows: tf.Tensor, written: tf.Tensor, reward_col: int, done_col: int,
                gamma: float) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Fold up to n consecutive transitions of one env into one n-step transition.

    ``rows`` [B, n, width] are transitions t, t+1, ... of the same env; ``written`` [B, n] says
    which of them exist yet. Step k is included while every earlier step is included and did
    not end its episode (terminated or truncated), so a window stops at an episode's end and at
    the newest transition. Returns the discounted reward sum over the included k steps, the
    row of the last included step (whose next observation and ``terminated`` bootstrap), and
    ``gamma**k``."""
    n = rows.shape[1]
    not_done = 1.0 - rows[:, :, done_col]
    carried = tf.math.cumprod(not_done, axis=1, exclusive=True)  # no episode end before k
    included = carried * tf.cast(written, tf.float32)
    steps = tf.cast(tf.reduce_sum(included, axis=1), tf.int32)   # >= 1: step 0 always counts
    powers = tf.constant([gamma ** k for k in range(n)], tf.float32)
    rewards = tf.reduce_sum(included * powers * rows[:, :, reward_col], axis=1)
    last = tf.gather(rows, steps - 1, batch_dims=1)
    return rewards, last, tf.pow(tf.constant(gamma, tf.float32), tf.cast(steps, tf.float32))


def bytes_needed(capacity: int, obs_dim: int, act_dim: int, n_step: int = 1) -> int:
    """float32 storage for ``capacity`` transitions (one row each; n-step adds a column)."""
    return 4 * capacity * (2 * obs_dim + act_dim + 2 + (n_step > 1))


def available_bytes() -> int | None:
    """Memory the buffer may use: MemAvailable on Linux, else None (unchecked)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(capacity: int, obs_dim: int, act_dim: int, env_id: str,
               available: int | None = None, n_step: int = 1) -> None:
    """Fail with a clear message when the buffer would not fit in memory (80 % at most)."""
    need = bytes_needed(capacity, obs_dim, act_dim, n_step)
    available = available_bytes() if available is None else available
    if available is not None and need > 0.8 * available:
        raise ConfigError(
            f"algo.buffer_size={capacity} needs {need / 2**30:.1f} GiB for {env_id} "
            f"transitions but only {available / 2**30:.1f} GiB of memory is available: "
            f"lower algo.buffer_size (at most {int(0.8 * available / (need / capacity)):,})")


class ReplayBuffer(tf.Module):
    """A ring buffer of transitions in one device-resident variable.

    Each row is ``[obs, action, reward, next_obs, terminated]``: writing a vector step is one
    scatter and sampling a batch one gather, however many fields a transition has (each op
    inside the compiled step costs ~10 us of overhead on a CPU).

    With ``n_step > 1`` a row also ends with ``done`` (terminated or truncated), and a sample
    folds transitions t .. t+n-1 of the same env into one (``n_step_fold``). Every write is one
    vector step of ``stride`` envs, so the next transition of the env at row i is at row
    i + stride.
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, seed: int,
                 n_step: int = 1, gamma: float = 0.99, stride: int = 1,
                 recent_fraction: float = 0.0, recent_size: int = 100_000):
        """``recent_fraction`` of each sample comes from the newest ``recent_size`` transitions
        (the rest, as always, from all of them)."""
        super().__init__(name="replay")
        self.capacity, self.n_step, self.gamma, self.stride = capacity, n_step, gamma, stride
        self.recent_fraction, self.recent_size = recent_fraction, recent_size
        self.sizes = [obs_dim, act_dim, 1, obs_dim, 1]  # the Transitions fields, in order
        if n_step > 1:
            self.sizes.append(1)  # done
        self.width = sum(self.sizes)
        self.data = tf.Variable(tf.zeros([capacity, self.width], tf.float32), trainable=False,
                                name="data")
        self.ptr = tf.Variable(0, dtype=tf.int64, trainable=False)    # next slot to write
        self.size = tf.Variable(0, dtype=tf.int64, trainable=False)   # filled slots
        self.rng = tf.random.Generator.from_seed(seed)

    def pack(self, batch: Transitions) -> tf.Tensor:
        """Transitions -> rows of ``data``."""
        return tf.concat([batch.obs, batch.actions, batch.rewards[:, None], batch.next_obs,
                          batch.terminated[:, None]], axis=1)

    def unpack(self, rows: tf.Tensor) -> Transitions:
        obs, actions, rewards, next_obs, terminated = tf.split(rows, self.sizes, axis=1)[:5]
        return Transitions(obs, actions, rewards[:, 0], next_obs, terminated[:, 0])

    def add_rows(self, rows: tf.Tensor) -> None:
        """Write n packed transitions at the ring pointer (wrapping around)."""
        n = tf.shape(rows, out_type=tf.int64)[0]
        idx = tf.math.floormod(self.ptr + tf.range(n, dtype=tf.int64), self.capacity)
        self.data.scatter_nd_update(idx[:, None], rows)
        self.ptr.assign(tf.math.floormod(self.ptr + n, self.capacity))
        self.size.assign(tf.minimum(self.size + n, self.capacity))

    def add(self, batch: Transitions) -> None:
        self.add_rows(self.pack(batch))

    def sample(self, batch_size: int) -> Transitions:
        """Uniform sample, with replacement, from the filled slots only; with
        ``recent_fraction``, that fraction of the batch (rounded) is drawn uniformly from the
        newest ``recent_size`` of them instead."""
        recent = round(self.recent_fraction * batch_size)
        idx = self.rng.uniform([batch_size - recent], minval=0, maxval=self.size, dtype=tf.int64)
        if recent:
            back = self.rng.uniform([recent], minval=0, dtype=tf.int64,
                                    maxval=tf.minimum(self.size, self.recent_size))
            newest = tf.math.floormod(self.ptr - 1 - back, self.capacity)
            idx = tf.concat([idx, newest], axis=0)
        return self.gather(idx)

    def gather(self, idx: tf.Tensor) -> Transitions:
        """The transitions starting at rows ``idx`` (n-step ones when ``n_step > 1``)."""
        if self.n_step == 1:
            return self.unpack(tf.gather(self.data, idx))
        ahead = tf.range(self.n_step, dtype=tf.int64) * self.stride
        rows = tf.gather(self.data, tf.math.floormod(idx[:, None] + ahead, self.capacity))
        newer = tf.math.floormod(self.ptr - 1 - idx, self.capacity)  # rows written after idx
        reward_col, done_col = sum(self.sizes[:2]), self.width - 1
        rewards, last, discount = n_step_fold(rows, ahead[None, :] <= newer[:, None],
                                              reward_col, done_col, self.gamma)
        first = self.unpack(rows[:, 0])
        tail = self.unpack(last)
        return Transitions(first.obs, first.actions, rewards, tail.next_obs, tail.terminated,
                           discount)

    def contents(self) -> Transitions:
        """The filled slots in storage order (for inspection and tests)."""
        return self.unpack(self.data[: self.size])
