"""REINFORCE: Monte-Carlo policy gradient with reward-to-go returns.

Reads top to bottom: the policy (categorical for Discrete actions, diagonal Gaussian with a
learned state-independent log-std for Box actions), the loss, the compiled update, the trainer.

Collection is exactly on-policy: every update uses only episodes that started after the previous
update. With ``num_envs > 1`` the episodes still in flight at an update are dropped (their env
steps still count against the budget), and all sub-envs restart. A truncated episode (time
limit) is treated like a terminated one: REINFORCE has no critic to bootstrap from.
"""
from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from rl_runner.algos.base import NonFinite, Trainer
from rl_runner.config import Config, ReinforceConfig
from rl_runner.envs import EnvSpec
from rl_runner.networks import NumpyMLP, checked_gradients, mlp

LOG_2PI = math.log(2.0 * math.pi)


class Batch(NamedTuple):
    """The transitions of the episodes behind one update, concatenated in time order."""

    obs: np.ndarray       # [T, obs_dim] float32
    actions: np.ndarray   # [T] int32 (Discrete) or [T, act_dim] float32 (Box, unclipped)
    returns: np.ndarray   # [T] float32 reward-to-go


class Losses(NamedTuple):
    policy_loss: tf.Tensor
    entropy: tf.Tensor


def reward_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = r_t + gamma * G_{t+1} for one episode, computed backwards."""
    out = np.empty(len(rewards), dtype=np.float32)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + gamma * running
        out[t] = running
    return out


# ---------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------
class Policy(tf.Module):
    """An MLP over observations: logits (Discrete) or the Gaussian mean (Box)."""

    def __init__(self, spec: EnvSpec, cfg: ReinforceConfig):
        super().__init__(name="policy")
        self.discrete = spec.discrete
        self.net = mlp(spec.obs_dim, cfg.hidden_sizes, spec.num_actions, cfg.activation,
                       output_gain=0.01, name="policy_net")
        self.log_std = None
        if not self.discrete:
            self.low = tf.constant(spec.action_low)
            self.high = tf.constant(spec.action_high)
            self.log_std = tf.Variable(tf.fill([spec.num_actions], float(cfg.init_log_std)),
                                       name="log_std")

    @property
    def variables_to_train(self) -> list[tf.Variable]:
        extra = [] if self.log_std is None else [self.log_std]
        return list(self.net.trainable_variables) + extra

    def log_prob_entropy(self, obs: tf.Tensor, actions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """log pi(a|s) and the policy's entropy, per transition."""
        out = self.net(obs)
        if self.discrete:
            log_p = tf.nn.log_softmax(out)
            chosen = tf.gather(log_p, actions, axis=1, batch_dims=1)
            entropy = -tf.reduce_sum(tf.exp(log_p) * log_p, axis=1)
            return chosen, entropy
        z = (actions - out) * tf.exp(-self.log_std)
        log_prob = tf.reduce_sum(-0.5 * tf.square(z) - self.log_std - 0.5 * LOG_2PI, axis=1)
        entropy = tf.reduce_sum(self.log_std + 0.5 * (LOG_2PI + 1.0)) * tf.ones_like(log_prob)
        return log_prob, entropy

    def greedy(self, obs: tf.Tensor) -> tf.Tensor:
        """The deterministic policy: the most likely action, or the mean clipped to bounds."""
        out = self.net(obs)
        if self.discrete:
            return tf.argmax(out, axis=1, output_type=tf.int32)
        return tf.clip_by_value(out, self.low, self.high)


def policy_loss(log_prob: tf.Tensor, returns: tf.Tensor, entropy: tf.Tensor,
                normalize_returns: bool, entropy_coef: float) -> Losses:
    """-mean(log pi(a|s) * G) - entropy_coef * mean(H); G optionally standardised."""
    with tf.name_scope("policy_loss"):
        if normalize_returns:
            mean, var = tf.nn.moments(returns, axes=[0])
            returns = (returns - mean) / (tf.sqrt(var) + 1e-8)
        mean_entropy = tf.reduce_mean(entropy)
        loss = -tf.reduce_mean(log_prob * returns) - entropy_coef * mean_entropy
        return Losses(loss, mean_entropy)


class NumpyPolicy:
    """The policy for acting, in numpy: ~15 us per call instead of a TensorFlow crossing."""

    def __init__(self, policy: Policy, activation: str, spec: EnvSpec):
        self.policy = policy
        self.net = NumpyMLP(policy.net, activation)
        self.low, self.high = spec.action_low, spec.action_high
        self.std = None
        self.refresh()

    def refresh(self, values: list[np.ndarray] | None = None) -> None:
        """Take the policy's variables (as ``Policy.variables_to_train``) after an update."""
        if values is None:
            values = [v.numpy() for v in self.policy.variables_to_train]
        if self.policy.log_std is None:
            self.net.refresh(values)
        else:
            self.net.refresh(values[:-1])
            self.std = np.exp(values[-1])

    def sample(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(action to store for the loss, action to send to the env)."""
        out = self.net(obs)
        if self.policy.discrete:  # Gumbel-max: a sample from softmax(out)
            a = np.argmax(out - np.log(-np.log(rng.random(out.shape))), axis=1)
            return a, a
        a = (out + self.std * rng.standard_normal(out.shape)).astype(np.float32)
        return a, np.clip(a, self.low, self.high)

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        out = self.net(obs)
        if self.policy.discrete:
            return np.argmax(out, axis=1)
        return np.clip(out, self.low, self.high)


# ---------------------------------------------------------------------------------------------
# Trainer
# ---------------------------------------------------------------------------------------------
class ReinforceTrainer(Trainer):
    """Collects ``episodes_per_update`` complete episodes (spread evenly over the sub-envs),
    then takes one compiled gradient step."""

    def __init__(self, cfg: Config, spec: EnvSpec, run_dir):
        super().__init__(cfg, spec, run_dir)
        self.algo: ReinforceConfig = cfg.algo
        self.policy = Policy(spec, self.algo)
        self.optimizer = tf.keras.optimizers.Adam(self.algo.lr)
        # Slots created now, not inside the first trace (which would trace the update twice).
        self.optimizer.build(self.policy.variables_to_train)
        self.actor = NumpyPolicy(self.policy, self.algo.activation, spec)
        action_spec = (tf.TensorSpec([None], tf.int32) if spec.discrete
                       else tf.TensorSpec([None, spec.num_actions], tf.float32))
        # One signature for every batch length: the update never retraces. Called as the
        # concrete function, which skips tf.function's per-call argument binding.
        self.update = tf.function(self._update).get_concrete_function(
            tf.TensorSpec([None, spec.obs_dim], tf.float32), action_spec,
            tf.TensorSpec([None], tf.float32))

    @staticmethod
    def build_policy(spec: EnvSpec, algo: ReinforceConfig) -> Policy:
        """The policy alone, to load from a checkpoint (rl-eval)."""
        return Policy(spec, algo)

    def _update(self, obs: tf.Tensor, actions: tf.Tensor, returns: tf.Tensor):
        """One gradient step; returns the losses and the updated variables' values (the acting
        copy takes them from this one call instead of a crossing per variable)."""
        variables = self.policy.variables_to_train
        with tf.GradientTape() as tape:
            log_prob, entropy = self.policy.log_prob_entropy(obs, actions)
            losses = policy_loss(log_prob, returns, entropy, self.algo.normalize_returns,
                                 self.algo.entropy_coef)
            loss = tf.debugging.check_numerics(losses.policy_loss, "policy_loss")
        grads = checked_gradients(tape.gradient(loss, variables), "policy_loss")
        if self.algo.max_grad_norm > 0:
            grads, _ = tf.clip_by_global_norm(grads, self.algo.max_grad_norm)
        self.optimizer.apply_gradients(zip(grads, variables))
        return losses, [tf.identity(v) for v in variables]

    def episodes_per_env(self) -> int:
        """Complete episodes each sub-env contributes to a batch: ``episodes_per_update``
        spread over ``num_envs``, rounded up."""
        return -(-self.algo.episodes_per_update // self.cfg.num_envs)

    def collect(self) -> tuple[Batch, int]:
        """Step the vector env until every sub-env has ended ``episodes_per_env`` episodes
        begun after the last update; the batch is exactly those episodes.

        A fixed count per env, rather than "until K episodes have ended in all", keeps the
        batch unbiased: stopping at the K-th end would keep the episodes that end first, the
        short ones. A sub-env that is done waits (its later steps are not kept), and episodes
        still running at the end are dropped: all envs are reset for the next batch."""
        n, quota = self.cfg.num_envs, self.episodes_per_env()
        obs_t, act_t, rew_t, done_t = [], [], [], []
        ended = np.zeros(n, dtype=np.int64)
        steps = 0
        obs = self.obs
        while (ended < quota).any():
            stored, sent = self.actor.sample(obs, self.rng)
            next_obs, reward, terminated, truncated, infos = self.envs.step(sent)
            steps += n
            done = terminated | truncated
            obs_t.append(obs)
            act_t.append(stored)
            rew_t.append(reward)
            done_t.append(done)
            self.record_episodes(infos, self.env_steps + steps)
            ended += done
            obs = next_obs
        if n > 1 and not done.all():
            # Episodes in flight began under this policy but would end under the next one.
            obs, _ = self.envs.reset()
        self.obs = obs
        return self._episodes(obs_t, act_t, rew_t, done_t, quota), steps

    def _episodes(self, obs_t, act_t, rew_t, done_t, quota: int | None = None) -> Batch:
        """The first ``quota`` complete episodes of each sub-env (all complete ones: None)."""
        obs_a, act_a = np.stack(obs_t, 1), np.stack(act_t, 1)   # [n, T, ...]
        rew_a, done_a = np.stack(rew_t, 1), np.stack(done_t, 1)
        obs, actions, returns = [], [], []
        for i in range(obs_a.shape[0]):
            start = 0
            for end in (np.flatnonzero(done_a[i]) + 1)[:quota]:
                obs.append(obs_a[i, start:end])
                actions.append(act_a[i, start:end])
                returns.append(reward_to_go(rew_a[i, start:end], self.algo.gamma))
                start = end
        action_dtype = np.int32 if self.spec.discrete else np.float32
        return Batch(np.concatenate(obs).astype(np.float32),
                     np.concatenate(actions).astype(action_dtype), np.concatenate(returns))

    def iteration(self) -> int:
        batch, steps = self.collect()
        try:
            losses, values = self.update(*batch)
        except tf.errors.InvalidArgumentError as exc:  # from check_numerics in _update
            match = re.search(r"(\w+) : Tensor had (NaN|Inf)", str(exc))
            if match is None:
                raise
            raise NonFinite(*match.groups()) from None
        self.updates += 1
        self.actor.refresh([v.numpy() for v in values])
        self.tb.scalars(self.env_steps + steps, {"losses/policy_loss": losses.policy_loss,
                                                 "losses/entropy": losses.entropy})
        return steps

    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        return self.actor.greedy(obs)

    def checkpoint_parts(self) -> dict:
        return {"optimizer": self.optimizer}

    def after_restore(self) -> None:
        self.actor.refresh()  # the acting copy follows the restored weights
