"""A replay buffer that lives in ``tf.Variable``s on the training device.

Transitions are written by ``add`` and sampled by ``sample`` - both meant to run *inside* the
trainer's compiled step, so no transition and no weight crosses between Python and TensorFlow
more than once per env step. Sampling draws indices from a seeded ``tf.random.Generator``, whose
state is a variable too (checkpointable, reproducible). A checkpoint holds the filled rows only
(``FilledRows``).
"""
from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf


class Transitions(NamedTuple):
    """A batch of transitions; actions in the actor's [-1, 1] space."""

    obs: tf.Tensor          # [B, obs_dim] float32
    actions: tf.Tensor      # [B, act_dim] float32
    rewards: tf.Tensor      # [B] float32
    next_obs: tf.Tensor     # [B, obs_dim] float32 (the final obs when an episode ended)
    terminated: tf.Tensor   # [B] float32: 1 only at a true terminal state, not at truncation


class ReplayBuffer(tf.Module):
    """A ring buffer of transitions in one device-resident variable.

    Each row is ``[obs, action, reward, next_obs, terminated]``: writing a vector step is one
    scatter and sampling a batch one gather, however many fields a transition has (each op
    inside the compiled step costs ~10 us of overhead on a CPU).
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, seed: int):
        super().__init__(name="replay")
        self.capacity = capacity
        self.sizes = [obs_dim, act_dim, 1, obs_dim, 1]  # the Transitions fields, in order
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
        obs, actions, rewards, next_obs, terminated = tf.split(rows, self.sizes, axis=1)
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
        """Uniform sample, with replacement, from the filled slots only."""
        idx = self.rng.uniform([batch_size], minval=0, maxval=self.size, dtype=tf.int64)
        return self.unpack(tf.gather(self.data, idx))

    def contents(self) -> Transitions:
        """The filled slots in storage order (for inspection and tests)."""
        return self.unpack(self.data[: self.size])


class FilledRows(tf.__internal__.tracking.Trackable):
    """A buffer's ``data`` as a checkpoint holds it: the filled rows only (``data[:size]``: the
    ring fills from row 0 and is full once it wraps), so a 1M-transition buffer 20k steps into a
    run writes 20k rows, not 1M. Saved under the key the whole variable had: a checkpoint that
    holds the whole variable (written before) restores through it too."""

    def __init__(self, buffer: ReplayBuffer):
        self.buffer = buffer

    def _serialize_to_tensors(self) -> dict:
        # read_value_no_copy, as the variable's own save reads it: a plain read of a variable
        # that scatter updates copies all of it (up to replay_max_mb more memory per save)
        return {"VARIABLE_VALUE": self.buffer.data.read_value_no_copy()[: self.buffer.size]}

    def _restore_from_tensors(self, restored_tensors: dict):
        rows = restored_tensors["VARIABLE_VALUE"]
        if rows.shape[0] > self.buffer.capacity or rows.shape[1] != self.buffer.width:
            raise ValueError(f"its replay buffer ({rows.shape[0]} rows of {rows.shape[1]}) does "
                             f"not fit this run's ({self.buffer.capacity} of {self.buffer.width})")
        return self.buffer.data[: tf.shape(rows)[0]].assign(rows)
