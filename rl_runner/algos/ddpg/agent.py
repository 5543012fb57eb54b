"""The DDPG/TD3 agent: actor, critics, their targets, optimizers and the replay buffer, and one
update read top to bottom (``update``): sample a batch, a critic step towards the TD target,
and every ``policy_delay`` critic steps an actor step and the soft target update.

Actions live in the actor's [-1, 1]^d space everywhere inside (buffer, critic, noise) and are
mapped affinely onto the env's [low, high] bounds only when sent to the env, so asymmetric
bounds are handled. Targets bootstrap through truncation: ``(1 - terminated)``, never
``(1 - done)``, because a time limit is not a terminal state (Pusher only ever truncates).
"""
from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from rl_runner.algos.base import NonFinite
from rl_runner.algos.ddpg.critics import Critics, soft_update
from rl_runner.config import DDPGConfig
from rl_runner.envs import EnvSpec
from rl_runner.networks import mlp
from rl_runner.replay import FilledRows, ReplayBuffer, Transitions

# What the non-finite flag can name, in the order an update computes them. The flag is
# 1 + 2 * index (+ 1 for Inf rather than NaN) of the first one to go non-finite; 0 while all are
# finite.
CHECKED = ("qf_loss", "qf_loss_gradient", "actor_loss", "actor_loss_gradient")


class UpdateMetrics(NamedTuple):
    qf_loss: tf.Tensor
    qf_values: tf.Tensor
    actor_loss: tf.Tensor
    nonfinite: tf.Tensor  # the flag above, read by the trainer after every call


def nonfinite_error(flag: float) -> NonFinite:
    index, inf = divmod(int(flag) - 1, 2)
    return NonFinite(CHECKED[index], "Inf" if inf else "NaN")


def to_bounds(actions, low, high):
    """[-1, 1] -> [low, high], affinely per dimension (numpy arrays or tensors)."""
    return low + (actions + 1.0) * 0.5 * (high - low)


def actor_net(spec: EnvSpec, cfg: DDPGConfig, name: str):
    """A deterministic actor: tanh outputs in [-1, 1], starting near 0."""
    return mlp(spec.obs_dim, cfg.hidden_sizes, spec.num_actions, cfg.activation,
               output_activation="tanh", output_gain=0.01, name=name,
               feature_norm=cfg.feature_norm)


class DeterministicPolicy(tf.Module):
    """An actor and the env's bounds: what acting, evaluation and the SavedModel need."""

    def __init__(self, spec: EnvSpec, cfg: DDPGConfig, name: str = "actor", *,
                 actor: tf.Module | None = None):
        """A new actor, or ``actor`` (the target actor, for ``eval_actor=target``)."""
        super().__init__(name="policy")
        self.actor = actor if actor is not None else actor_net(spec, cfg, name)
        self.low = tf.constant(spec.action_low)
        self.high = tf.constant(spec.action_high)

    def __call__(self, obs: tf.Tensor) -> tf.Tensor:
        """Deterministic actions in [-1, 1]."""
        return self.actor(obs)

    def greedy(self, obs: tf.Tensor) -> tf.Tensor:
        """Deterministic actions on the env's bounds."""
        return to_bounds(self(obs), self.low, self.high)


class DDPGAgent(tf.Module):
    """Actor, critic(s), their targets, optimizers and the replay buffer."""

    def __init__(self, spec: EnvSpec, cfg: DDPGConfig, seed: int):
        super().__init__(name="ddpg")
        self.cfg = cfg
        self.policy = DeterministicPolicy(spec, cfg)
        self.actor = self.policy.actor
        self.actor_target = actor_net(spec, cfg, "actor_target")
        self.critics = Critics(spec, cfg)
        self.update_targets(1.0)  # the targets start as copies
        # The run's policy (evaluation, best checkpoint, export): the online actor, or the
        # target actor, the online one averaged over ~1/tau updates (eval_actor=target).
        self.eval_policy = self.policy if cfg.eval_actor == "online" else DeterministicPolicy(
            spec, cfg, actor=self.actor_target)
        self.actor_optimizer = tf.keras.optimizers.Adam(cfg.actor_lr)
        self.critic_optimizer = tf.keras.optimizers.Adam(cfg.critic_lr)
        # Slots created now, not inside the first trace of the step.
        self.actor_optimizer.build(self.actor.trainable_variables)
        self.critic_optimizer.build(self.critics.online_variables())
        self.replay = ReplayBuffer(cfg.buffer_size, spec.obs_dim, spec.num_actions, seed)
        self.rng = tf.random.Generator.from_seed(seed + 1)  # target policy noise
        self.critic_updates = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.last_actor_loss = tf.Variable(0.0, trainable=False)
        # Set in the graph, read on the host with the step's outputs: see flag_nonfinite.
        self.nonfinite = tf.Variable(0.0, trainable=False)

    def checkpoint_parts(self, include_replay: bool) -> dict:
        """Everything besides the policy that exact resume needs."""
        parts = {"actor_optimizer": self.actor_optimizer,
                 "critic_optimizer": self.critic_optimizer, "target_noise_rng": self.rng,
                 "critic_updates": self.critic_updates, "last_actor_loss": self.last_actor_loss,
                 "replay_rng": self.replay.rng, "actor_target": self.actor_target,
                 **self.critics.checkpoint_parts()}
        if self.eval_policy is not self.policy:  # the checkpoint's policy holds the target actor
            parts["actor"] = self.actor
        if include_replay:  # without it, a resumed buffer starts empty (size 0)
            parts.update(replay_data=FilledRows(self.replay), replay_ptr=self.replay.ptr,
                         replay_size=self.replay.size)
        return parts

    # -- losses ------------------------------------------------------------------------------
    def next_actions(self, next_obs: tf.Tensor) -> tf.Tensor:
        """mu'(s'), with TD3's clipped noise when ``target_policy_noise`` > 0."""
        next_actions = self.actor_target(next_obs)
        if self.cfg.target_policy_noise > 0:
            noise = self.rng.normal(tf.shape(next_actions)) * self.cfg.target_policy_noise
            clip = self.cfg.target_noise_clip
            next_actions = tf.clip_by_value(
                next_actions + tf.clip_by_value(noise, -clip, clip), -1.0, 1.0)
        return next_actions

    def td_target(self, batch: Transitions) -> tf.Tensor:
        """r + gamma * (1 - terminated) * min_i Q'_i(s', mu'(s')), without gradient."""
        with tf.name_scope("td_target"):
            q_next = self.critics.target_min(batch.next_obs, self.next_actions(batch.next_obs))
            return tf.stop_gradient(
                batch.rewards + self.cfg.gamma * (1.0 - batch.terminated) * q_next)

    def critic_loss(self, batch: Transitions) -> tuple[tf.Tensor, tf.Tensor]:
        """Sum over critics of the mean squared TD error, and the first critic's mean Q."""
        with tf.name_scope("critic_loss"):
            target = self.td_target(batch)
            qs = self.critics.q(batch.obs, batch.actions)
            loss = tf.add_n([tf.reduce_mean(tf.square(q - target)) for q in qs])
            return loss, tf.reduce_mean(qs[0])

    def actor_loss(self, obs: tf.Tensor) -> tf.Tensor:
        """-mean Q(s, mu(s)), Q as ``actor_q`` says."""
        with tf.name_scope("actor_loss"):
            return -tf.reduce_mean(self.critics.for_actor(obs, self.actor(obs)))

    # -- one update --------------------------------------------------------------------------
    def update(self) -> UpdateMetrics:
        """Sample, critic step, and (every ``policy_delay``) actor step + soft target update."""
        batch = self.replay.sample(self.cfg.batch_size)
        critic_vars = self.critics.online_variables()
        with tf.GradientTape() as tape:
            qf_loss, qf_values = self.critic_loss(batch)
        grads = tape.gradient(qf_loss, critic_vars)
        self.flag_nonfinite("qf_loss", qf_loss, grads)
        self.critic_optimizer.apply_gradients(zip(grads, critic_vars))
        self.critic_updates.assign_add(1)
        if self.cfg.policy_delay == 1:  # decided while tracing: no conditional in the graph
            self.actor_and_targets(batch)
        elif self.critic_updates % self.cfg.policy_delay == 0:
            self.actor_and_targets(batch)
        return UpdateMetrics(qf_loss, qf_values, tf.identity(self.last_actor_loss),
                             tf.identity(self.nonfinite))

    def actor_and_targets(self, batch: Transitions) -> None:
        actor_vars = self.actor.trainable_variables
        with tf.GradientTape() as tape:
            actor_loss = self.actor_loss(batch.obs)
        grads = tape.gradient(actor_loss, actor_vars)
        self.flag_nonfinite("actor_loss", actor_loss, grads)
        self.actor_optimizer.apply_gradients(zip(grads, actor_vars))
        self.last_actor_loss.assign(actor_loss)
        self.update_targets(self.cfg.tau)

    def update_targets(self, tau: float) -> None:
        """target <- tau * online + (1 - tau) * target, the actor's and the critics'."""
        soft_update(self.actor_target.variables, self.actor.variables, tau)
        self.critics.update_targets(tau)

    def flag_nonfinite(self, name: str, loss: tf.Tensor, grads: list[tf.Tensor]) -> None:
        """Record in ``self.nonfinite`` whether ``loss`` or its gradients went NaN/Inf.

        Gradients are checked as well as the loss, for the reason ``checked_gradients`` in
        rl_runner/networks.py gives (a ReLU that maps NaN to 0). The sum of all gradient
        entries is NaN if any entry is, and +-Inf if one is Inf: one reduction per gradient.
        A flag in the graph rather than ``tf.debugging.check_numerics``, because XLA compiles
        CheckNumerics away. The trainer reads the flag with the step's outputs and stops
        before it evaluates or checkpoints; the rest of that call's updates run on, on weights
        that are thrown away."""
        index = CHECKED.index(name)
        for i, value in ((index, loss), (index + 1, tf.add_n([tf.reduce_sum(g) for g in grads]))):
            code = tf.where(tf.math.is_nan(value), 1.0 + 2 * i,
                            tf.where(tf.math.is_inf(value), 2.0 + 2 * i, 0.0))
            self.nonfinite.assign(tf.where(self.nonfinite > 0, self.nonfinite, code))
