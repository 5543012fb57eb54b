"""The compiled step: one TensorFlow call per vector env step.

``FusedStep.step`` stores the step's transitions in the device-resident replay buffer, runs
``num_updates`` full updates (unrolled up to ``UNROLL`` updates, in a ``tf.range`` loop beyond),
and returns the actor's action for the next observations. Each Python -> TensorFlow crossing
costs about as much as a fifth of an update on a 2-core CPU, so one crossing per env step is
what keeps the loop at the update's speed.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from rl_runner.algos.ddpg.agent import DDPGAgent, UpdateMetrics

UNROLL = 4  # up to this many updates per call are unrolled in the graph; more run in a loop
LOOP = UNROLL + 1  # the graph variant with a tf.range loop
# TensorFlow versions whose ConcreteFunction._call_flat(args, captured_inputs) ``direct_call``
# was checked against (tests/test_ddpg.py: same results as the public call).
DIRECT_CALL_VERIFIED = ("2.21.",)


def direct_call(concrete):
    """``concrete`` as a plain callable of its flat tensor inputs, in order.

    A ``ConcreteFunction`` call first binds its arguments to the traced signature (~0.2-0.4 ms
    a call on a 2-core CPU, 3-4 % of a DDPG step). The hot loop always passes tensors of the
    traced dtypes in the traced order, so on the TensorFlow versions where it was verified it
    calls TensorFlow's private flat entry point; elsewhere it is the public call. The one use
    of a private TensorFlow API in rl_runner."""
    call_flat = getattr(concrete, "_call_flat", None)
    if call_flat is None or not tf.__version__.startswith(DIRECT_CALL_VERIFIED):
        return concrete
    captured = concrete.captured_inputs  # variable handles: fixed for the function's life
    return lambda *tensors: call_flat(list(tensors), captured)


class FusedStep:
    """The agent's compiled graphs: store + update + act (``step``), update only (``train``),
    and act (``act``) for the first action."""

    def __init__(self, agent: DDPGAgent, obs_dim: int, jit_compile: bool | None):
        self.agent, self.obs_dim = agent, obs_dim
        jit = jit_compile
        if jit is None:  # after device.setup: device=cpu hides the GPU from this list
            jit = bool(tf.config.list_logical_devices("GPU"))
        self.compiled = {"step": tf.function(self._step, jit_compile=jit),
                         "train": tf.function(self._updates, jit_compile=jit)}
        count_spec = tf.TensorSpec([], tf.int32)
        self._specs = {"step": (tf.TensorSpec([None, agent.replay.width + obs_dim], tf.float32),
                                count_spec),
                       "train": (count_spec,)}
        self._calls: dict[tuple[str, int], object] = {}  # (graph, variant) -> direct call
        self._counts: dict[int, tf.Tensor] = {}  # update counts as tensors, made once each
        # The first action, before the first step: one fixed signature.
        self.act = tf.function(agent.policy.__call__).get_concrete_function(
            tf.TensorSpec([None, obs_dim], tf.float32))

    def _call(self, name: str, num_updates: int):
        """The direct call of graph ``name`` for ``num_updates`` updates, and the count tensor.

        Up to ``UNROLL`` updates get graphs of their own with the updates unrolled (num_envs
        vector steps at UTD 1 make num_envs updates a call); more run in a ``tf.range`` loop,
        whose loop variables (every captured weight and slot) cost ~0.2-0.4 ms a call on a
        2-core CPU even for one iteration. Each graph is traced at most once per variant
        (0 .. ``UNROLL``, ``LOOP``)."""
        num_updates = int(num_updates)
        variant = min(num_updates, LOOP)
        call = self._calls.get((name, variant))
        if call is None:
            call = self._calls[name, variant] = direct_call(
                self.compiled[name].get_concrete_function(*self._specs[name], variant))
        count = self._counts.get(num_updates)
        if count is None:
            count = self._counts[num_updates] = tf.constant(num_updates, tf.int32)
        return call, count

    def step(self, rows_and_obs: np.ndarray, num_updates: int):
        """One compiled call: store the transition rows, run ``num_updates`` updates, and act.

        ``rows_and_obs`` is ``[replay row (see ReplayBuffer) | observation to act on]`` per env,
        one array so that one tensor crosses into TensorFlow per env step."""
        call, count = self._call("step", num_updates)
        return call(tf.constant(rows_and_obs, tf.float32), count)

    def train(self, num_updates: int) -> UpdateMetrics:
        """``num_updates`` updates alone (benchmarks and tests; training goes through step)."""
        call, count = self._call("train", num_updates)
        return call(count)

    def _updates(self, num_updates: tf.Tensor, variant: int) -> UpdateMetrics:
        """``variant`` updates unrolled, or ``num_updates`` in a loop (``variant == LOOP``)."""
        agent = self.agent
        agent.nonfinite.assign(0.0)  # each call reports its own updates
        metrics = UpdateMetrics(tf.constant(0.0), tf.constant(0.0), tf.constant(0.0),
                                tf.identity(agent.nonfinite))
        if variant == LOOP:
            for _ in tf.range(num_updates):
                metrics = agent.update()
            return metrics
        for _ in range(variant):
            metrics = agent.update()
        return metrics

    def _step(self, rows_and_obs: tf.Tensor, num_updates: tf.Tensor, variant: int):
        """Store a vector step's transitions, run the updates, act on the next observations."""
        rows, act_obs = tf.split(rows_and_obs, [self.agent.replay.width, self.obs_dim], axis=1)
        self.agent.replay.add_rows(rows)
        metrics = self._updates(num_updates, variant)
        return self.agent.policy(act_obs), metrics
