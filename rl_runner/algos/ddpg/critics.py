"""The critic(s): Q(s, a) -> a scalar, one MLP (DDPG) or two (``twin_critics``, TD3), each with a
Polyak-averaged target. The agent asks them three things, whatever their number: Q of every
critic (the critic loss), the minimum over the targets (the TD target), and the Q the actor
climbs (``actor_q``: the first critic's, or the mean of both)."""
from __future__ import annotations

import tensorflow as tf

from rl_runner.config import DDPGConfig
from rl_runner.envs import EnvSpec
from rl_runner.networks import mlp


def soft_update(target: list[tf.Variable], online: list[tf.Variable], tau: float) -> None:
    """target <- tau * online + (1 - tau) * target, for every variable pair."""
    for t, o in zip(target, online):
        t.assign(tau * o + (1.0 - tau) * t)


def critic_net(spec: EnvSpec, cfg: DDPGConfig, name: str):
    """Q(s, a): an MLP on [s, a] with one output."""
    return mlp(spec.obs_dim + spec.num_actions, cfg.critic_hidden_sizes or cfg.hidden_sizes, 1,
               cfg.activation, name=name, layer_norm=cfg.critic_layer_norm,
               feature_norm=cfg.feature_norm)


class Critics(tf.Module):
    """One or two critics and their targets (built here, in that order)."""

    def __init__(self, spec: EnvSpec, cfg: DDPGConfig):
        super().__init__(name="critics")
        count = 2 if cfg.twin_critics else 1
        self.online = [critic_net(spec, cfg, f"critic_{i}") for i in range(count)]
        self.targets = [critic_net(spec, cfg, f"critic_{i}_target") for i in range(count)]
        self.actor_q = cfg.actor_q

    def update_targets(self, tau: float) -> None:
        for target, online in zip(self.targets, self.online):
            soft_update(target.variables, online.variables, tau)

    def online_variables(self) -> list[tf.Variable]:
        return [v for c in self.online for v in c.trainable_variables]

    @staticmethod
    def _q(critic, obs: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
        return tf.squeeze(critic(tf.concat([obs, actions], axis=1)), axis=1)

    def q(self, obs: tf.Tensor, actions: tf.Tensor) -> list[tf.Tensor]:
        """Every online critic's Q [batch]."""
        return [self._q(c, obs, actions) for c in self.online]

    def target_min(self, obs: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
        """The minimum of the target critics' Q [batch] (with one critic, its Q)."""
        return tf.reduce_min(tf.stack([self._q(c, obs, actions) for c in self.targets]), axis=0)

    def for_actor(self, obs: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
        """The Q [batch] the actor climbs: the first critic's, or the critics' mean."""
        if self.actor_q == "mean":
            return tf.add_n(self.q(obs, actions)) / len(self.online)
        return self._q(self.online[0], obs, actions)

    def checkpoint_parts(self) -> dict:
        parts = {f"critic_{i}": c for i, c in enumerate(self.online)}
        parts.update({f"critic_{i}_target": t for i, t in enumerate(self.targets)})
        return parts
