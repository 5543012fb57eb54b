"""DDPG for continuous actions, with TD3's tricks as options.

Reads top to bottom: the agent's networks, its losses, the fused compiled step, the trainer.

One compiled call per vector env step (``DDPGAgent.step``) stores the step's transitions in the
device-resident replay buffer, runs ``num_updates`` full updates (sample, critic, actor, soft
target update; unrolled up to ``UNROLL`` updates, in a ``tf.range`` loop beyond), and returns
the actor's action for the next observations.
Each Python -> TensorFlow crossing costs about as much as a fifth of an update on a 2-core CPU,
so one crossing per env step is what keeps the loop at the update's speed.

Actions live in the actor's [-1, 1]^d space everywhere inside (buffer, critic, noise) and are
mapped affinely onto the env's [low, high] bounds only when sent to the env, so asymmetric
bounds are handled. Targets bootstrap through truncation: ``(1 - terminated)``, never
``(1 - done)``, because a time limit is not a terminal state (Pusher only ever truncates).
"""
from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from rl_runner.algos.base import NonFinite, Trainer
from rl_runner.config import Config, DDPGConfig, critic_count
from rl_runner.envs import EnvSpec, final_observations
from rl_runner.networks import ObsNormalizer, avg_l1_norm, mlp
from rl_runner.replay import ReplayBuffer, Transitions, bytes_needed, check_fits

# HL-Gauss: the target histogram's std, in bin widths (Farebrother et al. 2024's choice: it
# spreads each target over ~6 bins).
HL_GAUSS_SIGMA = 0.75
LOG_EVERY_ENV_STEPS = 1000  # losses are fetched from the device this often
UNROLL = 4  # up to this many updates per call are unrolled in the graph; more run in a loop
LOOP = UNROLL + 1  # the graph variant with a tf.range loop
# What the non-finite flag can name, in the order an update computes them. The flag is
# 1 + 2 * index (+ 1 for Inf rather than NaN) of the first one to go non-finite; 0 while all are
# finite.
CHECKED = ("encoder_loss", "encoder_loss_gradient", "qf_loss", "qf_loss_gradient", "actor_loss",
           "actor_loss_gradient")
# Parameter-space noise (Plappert et al. 2018, their DDPG settings): the scale of the weight
# perturbation starts here and is multiplied or divided by ADAPT at each redraw, so that the
# perturbed actor's actions on PARAM_NOISE_BATCH replayed states stay near the scheduled std.
PARAM_NOISE_INITIAL_STD = 0.1
PARAM_NOISE_ADAPT = 1.01
PARAM_NOISE_BATCH = 256


class UpdateMetrics(NamedTuple):
    qf_loss: tf.Tensor
    qf_values: tf.Tensor
    actor_loss: tf.Tensor
    nonfinite: tf.Tensor  # the flag above, read by the trainer after every call
    encoder_loss: tf.Tensor  # SALE's; 0 without it


def nonfinite_error(flag: float) -> NonFinite:
    index, inf = divmod(int(flag) - 1, 2)
    return NonFinite(CHECKED[index], "Inf" if inf else "NaN")


def to_bounds(actions, low, high):
    """[-1, 1] -> [low, high], affinely per dimension (numpy arrays or tensors)."""
    return low + (actions + 1.0) * 0.5 * (high - low)


def actor_net(spec: EnvSpec, cfg: DDPGConfig, name: str):
    """A deterministic actor: tanh outputs in [-1, 1]. With SALE its inputs are [s | zs]."""
    return mlp(spec.obs_dim + (cfg.sale_dim if cfg.sale else 0), cfg.hidden_sizes,
               spec.num_actions, cfg.activation, output_activation="tanh", output_gain=0.01,
               name=name, feature_norm=cfg.feature_norm,
               embed_split=spec.obs_dim if cfg.sale else None)


class SaleEncoder(tf.Module):
    """SALE's encoder (TD7, Fujimoto et al. 2023): a state embedding zs = AvgL1Norm(f(s)) and a
    state-action embedding zsa = g(zs, a), learned so that zsa predicts the next state's zs.
    Both nets have two ELU hidden layers of the embedding's size, as in TD7. The embeddings
    carry what the dynamics need (here: how the object moves under a push) into actor and
    critic, which learn only from rewards otherwise."""

    def __init__(self, obs_dim: int, act_dim: int, dim: int, name: str):
        super().__init__(name=name)
        self.state = mlp(obs_dim, [dim, dim], dim, "elu", name=f"{name}_state")
        self.state_action = mlp(dim + act_dim, [dim, dim], dim, "elu",
                                name=f"{name}_state_action")

    def weights(self) -> list[tf.Variable]:
        return [*self.state.variables, *self.state_action.variables]

    def zs(self, obs: tf.Tensor) -> tf.Tensor:
        return avg_l1_norm(self.state(obs))

    def zsa(self, zs: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
        return self.state_action(tf.concat([zs, actions], axis=1))

    def loss(self, obs: tf.Tensor, actions: tf.Tensor, next_obs: tf.Tensor) -> tf.Tensor:
        """Mean squared error of zsa(s, a) against the next state's zs (without gradient)."""
        target = tf.stop_gradient(self.zs(next_obs))
        return tf.reduce_mean(tf.square(self.zsa(self.zs(obs), actions) - target))


def direct_call(concrete):
    """``concrete`` as a plain callable of its flat tensor inputs, in order.

    A ``ConcreteFunction`` call first binds its arguments to the traced signature (~0.2-0.4 ms
    a call on a 2-core CPU, 3-4 % of a DDPG step). The hot loop always passes tensors of the
    traced dtypes in the traced order, so it calls TensorFlow's flat entry point directly; a
    TensorFlow without it gets the public call."""
    call_flat = getattr(concrete, "_call_flat", None)
    if call_flat is None:
        return concrete
    captured = concrete.captured_inputs  # variable handles: fixed for the function's life
    return lambda *tensors: call_flat(list(tensors), captured)


def learning_rate(lr: float, schedule: str, updates: int | None):
    """Adam's learning rate: ``lr``, or a linear decay from it to 0 at the optimizer's
    ``updates``-th step (evaluated on its iteration count, so a resumed run carries on)."""
    if schedule == "constant":
        return lr
    if updates is None:
        raise ValueError("lr_schedule='linear' needs the run's total_updates")
    return tf.keras.optimizers.schedules.PolynomialDecay(lr, max(1, updates), 0.0, power=1.0)


def quantile_huber_loss(z: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """QR-DQN's loss (Dabney et al. 2018) of quantiles ``z`` [batch, N] at the midpoints
    tau_i = (i + 0.5) / N against target atoms [batch, M]: the mean over batch, i and j of
    |tau_i - 1{u_ij < 0}| * huber(u_ij), u_ij = target_j - z_i, Huber threshold 1 (TQC's)."""
    n = tf.shape(z)[1]
    taus = (tf.range(n, dtype=tf.float32) + 0.5) / tf.cast(n, tf.float32)
    u = target[:, None, :] - z[:, :, None]
    abs_u = tf.abs(u)
    huber = tf.where(abs_u <= 1.0, 0.5 * tf.square(u), abs_u - 0.5)
    weight = tf.abs(taus[None, :, None] - tf.cast(u < 0.0, tf.float32))
    return tf.reduce_mean(weight * huber)


def hl_gauss_probs(target: tf.Tensor, edges: tf.Tensor, sigma: float) -> tf.Tensor:
    """HL-Gauss (Farebrother et al. 2024): scalar targets [batch] as histograms [batch, bins]
    over the bins between ``edges`` [bins + 1]: the mass of N(target, sigma^2) in each bin,
    renormalised to the support. Targets are clipped to the support first, so one far outside
    still makes a histogram (its edge bins) rather than 0 / 0."""
    target = tf.clip_by_value(target, edges[0], edges[-1])
    cdf = tf.math.erf((edges[None, :] - target[:, None]) / (math.sqrt(2.0) * sigma))
    return (cdf[:, 1:] - cdf[:, :-1]) / (cdf[:, -1:] - cdf[:, :1])


def soft_update(target: list[tf.Variable], online: list[tf.Variable], tau: float) -> None:
    """target <- tau * online + (1 - tau) * target, for every variable pair."""
    for t, o in zip(target, online):
        t.assign(tau * o + (1.0 - tau) * t)


# ---------------------------------------------------------------------------------------------
# Agent: networks, losses, the compiled step
# ---------------------------------------------------------------------------------------------
class DeterministicPolicy(tf.Module):
    """Observation normaliser + actor (+ SALE's fixed encoder): what acting, evaluation and
    the SavedModel need."""

    def __init__(self, spec: EnvSpec, cfg: DDPGConfig, name: str = "actor", *,
                 actor: tf.Module | None = None, like: DeterministicPolicy | None = None):
        """A new actor; or ``actor`` with ``like``'s normaliser and encoder (the target actor's
        policy, for ``eval_actor=target``)."""
        super().__init__(name="policy")
        self.normalizer = (like.normalizer if like is not None else
                           ObsNormalizer(spec.obs_dim, cfg.normalize_obs))
        self.actor = actor if actor is not None else actor_net(spec, cfg, name)
        # SALE: the fixed copy of the encoder that actor and critic see (see DDPGAgent.update).
        self.encoder = like.encoder if like is not None else (
            SaleEncoder(spec.obs_dim, spec.num_actions, cfg.sale_dim, "encoder_fixed")
            if cfg.sale else None)
        self.low = tf.constant(spec.action_low)
        self.high = tf.constant(spec.action_high)

    def actor_input(self, obs: tf.Tensor, zs: tf.Tensor | None = None) -> tf.Tensor:
        """What the actor takes for normalised ``obs``: obs, or [obs | zs] with SALE (``zs``:
        an embedding of obs already computed, e.g. by the target encoder; else this policy's)."""
        if self.encoder is None:
            return obs
        return tf.concat([obs, self.encoder.zs(obs) if zs is None else zs], axis=1)

    def __call__(self, obs: tf.Tensor) -> tf.Tensor:
        """Deterministic actions in [-1, 1]."""
        return self.actor(self.actor_input(self.normalizer(obs)))

    def greedy(self, obs: tf.Tensor) -> tf.Tensor:
        """Deterministic actions on the env's bounds."""
        return to_bounds(self(obs), self.low, self.high)


class DDPGAgent(tf.Module):
    """Actor, critic(s), their targets, optimizers and the replay buffer."""

    def __init__(self, spec: EnvSpec, cfg: DDPGConfig, seed: int, num_envs: int = 1,
                 total_updates: int | None = None):
        """``total_updates``: the run's critic updates, where ``lr_schedule=linear`` ends."""
        super().__init__(name="ddpg")
        self.cfg = cfg
        obs_dim, act_dim = spec.obs_dim, spec.num_actions
        self.obs_dim, self.act_dim = obs_dim, act_dim

        critic_sizes = cfg.critic_hidden_sizes or cfg.hidden_sizes

        def critic(name):  # CrossQ's batch renorm replaces the LayerNorm and unit-norm features
            # SALE: the inputs are [s, a | zsa, zs]
            return mlp(obs_dim + act_dim + (2 * cfg.sale_dim if cfg.sale else 0), critic_sizes,
                       cfg.quantiles or cfg.value_bins or 1, cfg.activation, name=name,
                       layer_norm=cfg.critic_layer_norm and not cfg.crossq,
                       feature_norm=cfg.feature_norm and not cfg.crossq, batch_renorm=cfg.crossq,
                       embed_split=obs_dim + act_dim if cfg.sale else None)

        n_critics = critic_count(cfg)
        # HL-Gauss: the bins' edges and centres (the critic's outputs are logits over them).
        self.value_edges = self.value_centers = None
        if cfg.value_bins:
            edges = np.linspace(cfg.value_min, cfg.value_max, cfg.value_bins + 1)
            self.value_edges = tf.constant(edges, tf.float32)
            self.value_centers = tf.constant((edges[:-1] + edges[1:]) / 2, tf.float32)
            self.value_sigma = HL_GAUSS_SIGMA * (edges[1] - edges[0])
        self.policy = DeterministicPolicy(spec, cfg)
        self.actor, self.normalizer = self.policy.actor, self.policy.normalizer
        # CrossQ bootstraps from the online networks: no targets to build or update.
        self.actor_target = None if cfg.crossq else actor_net(spec, cfg, "actor_target")
        self.critics = [critic(f"critic_{i}") for i in range(n_critics)]
        self.critic_targets = [] if cfg.crossq else [critic(f"critic_{i}_target")
                                                     for i in range(n_critics)]
        if self.actor_target is not None:
            soft_update(self.actor_target.variables, self.actor.variables, 1.0)
        # The run's policy (evaluation, best checkpoint, export): the online actor, or the
        # target actor, the online one averaged over ~1/tau updates (eval_actor=target).
        self.eval_policy = self.policy if cfg.eval_actor == "online" else DeterministicPolicy(
            spec, cfg, actor=self.actor_target, like=self.policy)
        for target, online in zip(self.critic_targets, self.critics):
            soft_update(target.variables, online.variables, 1.0)

        self.actor_optimizer = tf.keras.optimizers.Adam(
            learning_rate(cfg.actor_lr, cfg.lr_schedule,
                          total_updates and total_updates // cfg.policy_delay),
            beta_1=cfg.adam_beta1)
        self.critic_optimizer = tf.keras.optimizers.Adam(
            learning_rate(cfg.critic_lr, cfg.lr_schedule, total_updates), beta_1=cfg.adam_beta1)
        # Slots created now, not inside the first trace of the step.
        self.actor_optimizer.build(self.actor.trainable_variables)
        self.critic_optimizer.build(self._critic_variables())
        # SALE: the encoder learns every update; the policy's fixed copy (seen by actor and
        # critics) and the fixed target copy (seen by the targets) follow it every
        # sale_update_every updates, so the embeddings stay still between refreshes.
        self.encoder = self.encoder_target = self.encoder_optimizer = None
        if cfg.sale:
            self.encoder = SaleEncoder(obs_dim, act_dim, cfg.sale_dim, "encoder")
            self.encoder_target = SaleEncoder(obs_dim, act_dim, cfg.sale_dim,
                                              "encoder_fixed_target")
            for copy in (self.policy.encoder, self.encoder_target):
                soft_update(copy.weights(), self.encoder.weights(), 1.0)
            self.encoder_optimizer = tf.keras.optimizers.Adam(
                learning_rate(cfg.critic_lr, cfg.lr_schedule, total_updates),
                beta_1=cfg.adam_beta1)
            self.encoder_optimizer.build(self.encoder.weights())

        self.replay = ReplayBuffer(cfg.buffer_size, obs_dim, act_dim, seed, n_step=cfg.n_step,
                                   gamma=cfg.gamma, stride=num_envs,
                                   recent_fraction=cfg.recent_fraction,
                                   recent_size=cfg.recent_size)
        self.rng = tf.random.Generator.from_seed(seed + 1)  # target policy noise
        # Parameter-space noise: the behaviour policy is a perturbed copy of the actor.
        self.perturbed_actor = None
        if cfg.noise.type == "param":
            self.perturbed_actor = actor_net(spec, cfg, "perturbed_actor")
            soft_update(self.perturbed_actor.variables, self.actor.variables, 1.0)
            self.param_noise_std = tf.Variable(PARAM_NOISE_INITIAL_STD, trainable=False)
            self.param_rng = tf.random.Generator.from_seed(seed + 2)
        self.critic_updates = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.last_actor_loss = tf.Variable(0.0, trainable=False)
        self.last_encoder_loss = tf.Variable(0.0, trainable=False)
        # Set in the graph, read on the host with the step's outputs: see _flag_nonfinite.
        self.nonfinite = tf.Variable(0.0, trainable=False)

        obs_spec = tf.TensorSpec([None, obs_dim], tf.float32)
        jit = cfg.jit_compile
        if jit is None:  # after device.setup: device=cpu hides the GPU from this list
            jit = bool(tf.config.list_logical_devices("GPU"))
        jit = jit or None  # None: TensorFlow's default, as before this option existed
        self.compiled = {
            "step": tf.function(self._step, jit_compile=jit),
            "act": tf.function(self.policy.__call__),
            "train": tf.function(self._updates, jit_compile=jit)}
        if self.perturbed_actor is not None:  # called once an episode, off the hot path
            self.perturb = tf.function(self._perturb, input_signature=[
                obs_spec, tf.TensorSpec([], tf.float32)])
        count_spec = tf.TensorSpec([], tf.int32)
        self._specs = {"step": (tf.TensorSpec([None, self.replay.width + obs_dim], tf.float32),
                                count_spec),
                       "train": (count_spec,)}
        self._calls: dict[tuple[str, int], object] = {}  # (graph, variant) -> direct call
        self._counts: dict[int, tf.Tensor] = {}  # update counts as tensors, made once each
        # Acting outside the hot loop (the first action, evaluation): one fixed signature.
        self.act = self.compiled["act"].get_concrete_function(obs_spec)
        self.act_eval = self.act if self.eval_policy is self.policy else tf.function(
            self.eval_policy.__call__).get_concrete_function(obs_spec)

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

    def train(self, num_updates: int | tf.Tensor) -> UpdateMetrics:
        """``num_updates`` updates alone (benchmarks and tests; training goes through step)."""
        call, count = self._call("train", num_updates)
        return call(count)

    def checkpoint_parts(self, include_replay: bool) -> dict:
        """Everything besides the policy that exact resume needs."""
        parts = {"actor_optimizer": self.actor_optimizer,
                 "critic_optimizer": self.critic_optimizer, "target_noise_rng": self.rng,
                 "critic_updates": self.critic_updates, "last_actor_loss": self.last_actor_loss,
                 "replay_rng": self.replay.rng}
        if self.actor_target is not None:
            parts["actor_target"] = self.actor_target
        if self.eval_policy is not self.policy:  # the checkpoint's policy holds the target actor
            parts["actor"] = self.actor
        if self.perturbed_actor is not None:
            parts.update(perturbed_actor=self.perturbed_actor,
                         param_noise_std=self.param_noise_std, param_noise_rng=self.param_rng)
        for i, critic in enumerate(self.critics):
            parts[f"critic_{i}"] = critic
        for i, target in enumerate(self.critic_targets):
            parts[f"critic_{i}_target"] = target
        if self.encoder is not None:
            parts.update(encoder=self.encoder, encoder_fixed_target=self.encoder_target,
                         encoder_optimizer=self.encoder_optimizer,
                         last_encoder_loss=self.last_encoder_loss)
        if include_replay:  # without it, a resumed buffer starts empty (size 0)
            parts.update(replay_data=self.replay.data, replay_ptr=self.replay.ptr,
                         replay_size=self.replay.size)
        return parts

    def _critic_variables(self) -> list[tf.Variable]:
        return [v for c in self.critics for v in c.trainable_variables]

    @staticmethod
    def critic_input(obs: tf.Tensor, actions: tf.Tensor, encoder: SaleEncoder | None = None,
                     zs: tf.Tensor | None = None) -> tf.Tensor:
        """[s, a]; with SALE [s, a, zsa, zs] from ``encoder`` (``zs``: already computed)."""
        if encoder is None:
            return tf.concat([obs, actions], axis=1)
        zs = encoder.zs(obs) if zs is None else zs
        return tf.concat([obs, actions, encoder.zsa(zs, actions), zs], axis=1)

    def _q(self, critic, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Q at ``critic_input`` rows: a distributional critic's mean quantile, an HL-Gauss
        critic's mean bin; ``training`` uses and moves a CrossQ critic's batch statistics."""
        return self._q_of(critic(inputs, training=training))

    def _q_of(self, out: tf.Tensor) -> tf.Tensor:
        """Q from a critic's outputs [batch, 1 | quantiles | bins]."""
        if self.value_centers is not None:
            return tf.linalg.matvec(tf.nn.softmax(out), self.value_centers)
        return tf.squeeze(out, axis=1) if out.shape[1] == 1 else tf.reduce_mean(out, axis=1)

    # -- losses ------------------------------------------------------------------------------
    def td_target(self, batch: Transitions) -> tf.Tensor:
        """r + gamma * (1 - terminated) * min_i Q_target_i(s', mu_target(s') [+ clipped noise]),
        the minimum over every target critic or ``target_critics`` of them drawn at random.

        With ``quantiles``: [batch, atoms], TQC's target: the quantiles of every target critic
        at (s', mu'(s')), pooled and sorted, less the top ``drop_quantiles`` per critic, each
        bootstrapped like Q. An n-step sample brings its own discount (``gamma**k`` for its k
        rewards)."""
        with tf.name_scope("td_target"):
            next_obs = self.normalizer(batch.next_obs)
            zs = None if self.encoder_target is None else self.encoder_target.zs(next_obs)
            next_actions = self.next_actions(next_obs, zs)
            inputs = self.critic_input(next_obs, next_actions, self.encoder_target, zs)
            if self.cfg.quantiles:  # critic outputs: [batch, quantiles]
                atoms = tf.sort(tf.concat([c(inputs) for c in self.critic_targets], axis=1),
                                axis=1)
                keep = len(self.critic_targets) * (self.cfg.quantiles - self.cfg.drop_quantiles)
                return self.bootstrap(batch, atoms[:, :keep])
            return self.bootstrap(batch, self._min_q(
                tf.stack([self._q(c, inputs) for c in self.critic_targets])))

    def _min_q(self, q_stack: tf.Tensor) -> tf.Tensor:
        """The minimum over the critics' Q [critics, batch]; with ``target_critics``, over
        that many critics drawn at random (the same ones for the whole batch, as REDQ does)."""
        n, m = len(self.critics), self.cfg.target_critics
        if 0 < m < n:
            q_stack = tf.gather(q_stack, tf.argsort(self.rng.uniform([n]))[:m])
        return tf.reduce_min(q_stack, axis=0)

    def next_actions(self, next_obs: tf.Tensor, zs: tf.Tensor | None = None) -> tf.Tensor:
        """mu'(s') (the online mu(s') with CrossQ), with TD3's clipped noise if it is on;
        ``zs``: SALE's target embedding of s'."""
        actor = self.actor if self.actor_target is None else self.actor_target
        next_actions = actor(self.policy.actor_input(next_obs, zs))
        if self.cfg.target_policy_noise > 0:
            noise = self.rng.normal(tf.shape(next_actions)) * self.cfg.target_policy_noise
            clip = self.cfg.target_noise_clip
            next_actions = tf.clip_by_value(
                next_actions + tf.clip_by_value(noise, -clip, clip), -1.0, 1.0)
        return next_actions

    def bootstrap(self, batch: Transitions, q_next: tf.Tensor) -> tf.Tensor:
        """r + discount * (1 - terminated) * q_next, without gradient; q_next is [batch] or
        [batch, atoms]."""
        discount = self.cfg.gamma if batch.discount is None else batch.discount
        rewards, not_done = batch.rewards, 1.0 - batch.terminated
        if q_next.shape.rank == 2:
            rewards, not_done = rewards[:, None], not_done[:, None]
            if batch.discount is not None:
                discount = discount[:, None]
        return tf.stop_gradient(rewards + discount * not_done * q_next)

    def critic_loss(self, batch: Transitions,
                    zs: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """Sum over critics of the mean squared TD error (distributional: of the quantile Huber
        loss; HL-Gauss: of the cross-entropy against the target's histogram); and the mean Q
        of the first critic. ``zs``: SALE's fixed embedding of ``batch.obs``, if computed."""
        with tf.name_scope("critic_loss"):
            obs = self.normalizer(batch.obs)
            if self.cfg.crossq:
                qs, target = self._crossq_values(batch, obs)
            else:
                target = self.td_target(batch)
                inputs = self.critic_input(obs, batch.actions, self.policy.encoder, zs)
                if self.cfg.quantiles:
                    quantiles = [c(inputs) for c in self.critics]
                    loss = tf.add_n([quantile_huber_loss(z, target) for z in quantiles])
                    return loss, tf.reduce_mean(quantiles[0])
                if self.cfg.value_bins:
                    logits = [c(inputs) for c in self.critics]
                    probs = hl_gauss_probs(target, self.value_edges, self.value_sigma)
                    loss = tf.add_n([tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
                        probs, out)) for out in logits])
                    return loss, tf.reduce_mean(self._q_of(logits[0]))
                qs = [self._q(c, inputs) for c in self.critics]
            loss = tf.add_n([tf.reduce_mean(tf.square(q - target)) for q in qs])
            return loss, tf.reduce_mean(qs[0])

    def _crossq_values(self, batch: Transitions, obs: tf.Tensor):
        """CrossQ: each critic evaluates (s, a) and (s', mu(s')) in one training-mode call, so
        its batch statistics cover both distributions; the s' half, without gradient, is the
        bootstrap (no target networks)."""
        next_obs = self.normalizer(batch.next_obs)
        both_obs = tf.concat([obs, next_obs], axis=0)
        both_actions = tf.concat([batch.actions, self.next_actions(next_obs)], axis=0)
        qs, q_nexts = [], []
        inputs = self.critic_input(both_obs, both_actions)
        for c in self.critics:
            q, q_next = tf.split(self._q(c, inputs, training=True), 2)
            qs.append(q)
            q_nexts.append(q_next)
        return qs, self.bootstrap(batch, self._min_q(tf.stack(q_nexts)))

    def actor_loss(self, obs: tf.Tensor, zs: tf.Tensor | None = None) -> tf.Tensor:
        """-mean Q_1(s, mu(s)) (``actor_q=mean``: of the critics' mean Q); ``zs``: SALE's fixed
        embedding of ``obs``, if computed."""
        with tf.name_scope("actor_loss"):
            obs = self.normalizer(obs)
            encoder = self.policy.encoder
            if encoder is not None and zs is None:
                zs = encoder.zs(obs)
            actions = self.actor(self.policy.actor_input(obs, zs))
            inputs = self.critic_input(obs, actions, encoder, zs)
            if self.cfg.actor_q == "mean":
                return -tf.reduce_mean(tf.add_n([self._q(c, inputs) for c in self.critics])
                                       / len(self.critics))
            return -tf.reduce_mean(self._q(self.critics[0], inputs))

    # -- updates -----------------------------------------------------------------------------
    def _flag_nonfinite(self, name: str, loss: tf.Tensor, grads: list[tf.Tensor]) -> None:
        """Record in ``self.nonfinite`` whether ``loss`` or its gradients went NaN/Inf.

        Gradients are checked as well as the loss, for the reason ``checked_gradients`` in
        rl_runner/networks.py gives (a ReLU that maps NaN to 0). The sum of all gradient
        entries is NaN if any entry is, and +-Inf if one is Inf (NaN if both signs are; finite
        gradients overflow a float32 sum only far beyond divergence): one reduction per
        gradient, as check_numerics did. A flag in the graph rather than
        ``tf.debugging.check_numerics``, because XLA compiles CheckNumerics away: with
        ``jit_compile`` a run went on through NaN. The trainer reads the flag with the step's
        outputs and stops before it evaluates or checkpoints (``Trainer._diverged``); the rest
        of that call's updates run on, on weights that are thrown away."""
        index = CHECKED.index(name)
        for i, value in ((index, loss), (index + 1, tf.add_n([tf.reduce_sum(g) for g in grads]))):
            code = tf.where(tf.math.is_nan(value), 1.0 + 2 * i,
                            tf.where(tf.math.is_inf(value), 2.0 + 2 * i, 0.0))
            self.nonfinite.assign(tf.where(self.nonfinite > 0, self.nonfinite, code))

    def update(self) -> UpdateMetrics:
        """One full update: sample, (SALE: encoder step,) critic step, and (every policy_delay)
        actor + targets."""
        batch = self.replay.sample(self.cfg.batch_size)
        zs = None  # SALE: the fixed encoder's embedding of s, for critic and actor alike
        if self.encoder is not None:
            self._encoder_step(batch)
            zs = self.policy.encoder.zs(self.normalizer(batch.obs))
        critic_vars = self._critic_variables()
        with tf.GradientTape() as tape:
            qf_loss, qf_values = self.critic_loss(batch, zs)
        grads = tape.gradient(qf_loss, critic_vars)
        self._flag_nonfinite("qf_loss", qf_loss, grads)
        self.critic_optimizer.apply_gradients(zip(grads, critic_vars))
        self.critic_updates.assign_add(1)
        if self.cfg.policy_delay == 1:  # decided while tracing: no conditional in the graph
            self._actor_and_targets(batch, zs)
        elif self.critic_updates % self.cfg.policy_delay == 0:
            self._actor_and_targets(batch, zs)
        if self.encoder is not None and self.critic_updates % self.cfg.sale_update_every == 0:
            soft_update(self.encoder_target.weights(), self.policy.encoder.weights(), 1.0)
            soft_update(self.policy.encoder.weights(), self.encoder.weights(), 1.0)
        encoder_loss = (tf.constant(0.0) if self.encoder is None
                        else tf.identity(self.last_encoder_loss))
        return UpdateMetrics(qf_loss, qf_values, tf.identity(self.last_actor_loss),
                             tf.identity(self.nonfinite), encoder_loss)

    def _encoder_step(self, batch: Transitions) -> None:
        weights = self.encoder.weights()
        with tf.GradientTape() as tape:
            loss = self.encoder.loss(self.normalizer(batch.obs), batch.actions,
                                     self.normalizer(batch.next_obs))
        grads = tape.gradient(loss, weights)
        self._flag_nonfinite("encoder_loss", loss, grads)
        self.encoder_optimizer.apply_gradients(zip(grads, weights))
        self.last_encoder_loss.assign(loss)

    def _actor_and_targets(self, batch: Transitions, zs: tf.Tensor | None = None) -> None:
        actor_vars = self.actor.trainable_variables
        with tf.GradientTape() as tape:
            actor_loss = self.actor_loss(batch.obs, zs)
        grads = tape.gradient(actor_loss, actor_vars)
        self._flag_nonfinite("actor_loss", actor_loss, grads)
        self.actor_optimizer.apply_gradients(zip(grads, actor_vars))
        self.last_actor_loss.assign(actor_loss)
        if self.actor_target is not None:
            soft_update(self.actor_target.variables, self.actor.variables, self.cfg.tau)
        for target, online in zip(self.critic_targets, self.critics):
            soft_update(target.variables, online.variables, self.cfg.tau)

    def _updates(self, num_updates: tf.Tensor, variant: int) -> UpdateMetrics:
        """``variant`` updates unrolled, or ``num_updates`` in a loop (``variant == LOOP``)."""
        self.nonfinite.assign(0.0)  # each call reports its own updates
        metrics = UpdateMetrics(tf.constant(0.0), tf.constant(0.0), tf.constant(0.0),
                                tf.identity(self.nonfinite), tf.constant(0.0))
        if variant == LOOP:
            for _ in tf.range(num_updates):
                metrics = self.update()
            return metrics
        for _ in range(variant):
            metrics = self.update()
        return metrics

    def _step(self, rows_and_obs: tf.Tensor, num_updates: tf.Tensor, variant: int):
        """Store a vector step's transitions, run the updates, act on the next observations."""
        rows, act_obs = tf.split(rows_and_obs, [self.replay.width, self.obs_dim], axis=1)
        self.replay.add_rows(rows)
        self.normalizer.update(act_obs)
        metrics = self._updates(num_updates, variant)
        return self.behaviour(act_obs), metrics

    def behaviour(self, obs: tf.Tensor) -> tf.Tensor:
        """The actions to explore from, in [-1, 1]: the actor's, or its perturbed copy's."""
        if self.perturbed_actor is None:
            return self.policy(obs)
        return self.perturbed_actor(self.policy.actor_input(self.normalizer(obs)))

    def _perturb(self, obs: tf.Tensor, target_std: tf.Tensor):
        """Redraw the parameter noise: perturbed actor = actor + sigma * eps, eps ~ N(0, 1) per
        weight (Plappert et al. 2018). sigma first adapts: divided by PARAM_NOISE_ADAPT when the
        perturbation moves the actions of replayed states by more than ``target_std`` (root mean
        square, in [-1, 1] action units), multiplied otherwise. Returns the perturbed actor's
        actions on ``obs`` and the measured distance."""
        actor_vars = self.actor.trainable_variables
        eps = [self.param_rng.normal(tf.shape(v)) for v in actor_vars]
        idx = self.param_rng.uniform([PARAM_NOISE_BATCH], minval=0, maxval=self.replay.size,
                                     dtype=tf.int64)
        states = self.policy.actor_input(
            self.normalizer(self.replay.unpack(tf.gather(self.replay.data, idx)).obs))
        for p, v, e in zip(self.perturbed_actor.trainable_variables, actor_vars, eps):
            p.assign(v + self.param_noise_std * e)
        distance = tf.sqrt(tf.reduce_mean(
            tf.square(self.perturbed_actor(states) - self.actor(states))))
        self.param_noise_std.assign(tf.where(distance > target_std,
                                             self.param_noise_std / PARAM_NOISE_ADAPT,
                                             self.param_noise_std * PARAM_NOISE_ADAPT))
        for p, v, e in zip(self.perturbed_actor.trainable_variables, actor_vars, eps):
            p.assign(v + self.param_noise_std * e)
        return self.behaviour(obs), distance


# ---------------------------------------------------------------------------------------------
# Exploration
# ---------------------------------------------------------------------------------------------
class Exploration:
    """Gaussian, Ornstein-Uhlenbeck or pink noise in the [-1, 1] action space, with a linearly
    decaying std. The OU process is a discrete AR(1) whose stationary std is the scheduled
    std, and pink noise (power spectrum 1/f, from ``pink-noise-rl``, the paper authors'
    package) is drawn as one unit-variance sequence per episode and env, so
    ``std_start``/``std_end`` mean the same for every type. With parameter-space noise
    (``param``) the noise is in the actor's weights (``DDPGAgent.perturb``) and this adds none;
    the scheduled std is then how far the perturbation moves the actions."""

    def __init__(self, cfg, num_envs: int, act_dim: int, rng: np.random.Generator,
                 episode_steps: int | None = None):
        self.cfg, self.rng = cfg, rng
        self.state = np.zeros((num_envs, act_dim))
        self.pink = []
        if cfg.type == "pink":
            from pink import PinkNoiseProcess

            # One sequence spans an episode (1000 steps when the env has no time limit).
            self.pink = [PinkNoiseProcess(size=(act_dim, episode_steps or 1000), rng=rng)
                         for _ in range(num_envs)]

    def std(self, env_steps: int) -> float:
        c = self.cfg
        if c.decay_env_steps <= 0:
            return c.std_start
        frac = min(1.0, env_steps / c.decay_env_steps)
        return c.std_start + frac * (c.std_end - c.std_start)

    def __call__(self, env_steps: int) -> np.ndarray:
        std = self.std(env_steps)
        if self.cfg.type == "param":  # the noise is in the actor's weights (DDPGAgent.perturb)
            return np.zeros(self.state.shape)
        if self.pink:
            return std * np.stack([process.sample() for process in self.pink])
        white = self.rng.standard_normal(self.state.shape)
        if self.cfg.type == "gaussian":
            return std * white
        keep = 1.0 - self.cfg.ou_theta
        self.state = keep * self.state + np.sqrt(1.0 - keep ** 2) * white
        return std * self.state

    def reset(self, done: np.ndarray) -> None:
        """Restart the OU process, or draw a new pink sequence, for the envs whose episode
        ended (Gaussian noise has no state)."""
        if self.cfg.type == "ou":
            self.state[done] = 0.0
        if self.pink:
            for i in np.flatnonzero(done):
                self.pink[i].reset()

    def state_dict(self) -> dict:
        """What exact resume needs (JSON-friendly)."""
        return {"ou": self.state.tolist(),
                "pink": [[p.buffer.tolist(), p.idx] for p in self.pink]}

    def load_state_dict(self, state: dict | list) -> None:
        if isinstance(state, list):  # written before pink noise: the OU state alone
            state = {"ou": state, "pink": []}
        self.state = np.asarray(state["ou"])
        for process, (buffer, idx) in zip(self.pink, state["pink"]):
            process.buffer, process.idx = np.asarray(buffer), idx


# ---------------------------------------------------------------------------------------------
# Trainer
# ---------------------------------------------------------------------------------------------
class DDPGTrainer(Trainer):
    """One vector env step per iteration, one compiled call per step."""

    def __init__(self, cfg: Config, spec: EnvSpec, run_dir):
        self.algo: DDPGConfig = cfg.algo
        check_fits(self.algo.buffer_size, spec.obs_dim, spec.num_actions, spec.id,
                   n_step=self.algo.n_step)
        super().__init__(cfg, spec, run_dir)
        # Updates start at the env step that reaches learning_starts (see iteration).
        total_updates = math.ceil(max(0, cfg.total_env_steps - self.algo.learning_starts
                                      + cfg.num_envs) * self.algo.updates_per_step)
        self.agent = DDPGAgent(spec, self.algo, cfg.seed, cfg.num_envs, total_updates)
        self.policy = self.agent.eval_policy
        self.noise = Exploration(self.algo.noise, cfg.num_envs, spec.num_actions, self.rng,
                                 spec.max_episode_steps)
        self.low, self.high = spec.action_low, spec.action_high
        self.policy_out = self.agent.act(tf.constant(self.obs, tf.float32)).numpy()
        self.owed_updates = 0.0
        self.next_log = LOG_EVERY_ENV_STEPS
        self.param_distance = 0.0  # see param_noise_scalars

    @staticmethod
    def build_policy(spec: EnvSpec, algo: DDPGConfig) -> DeterministicPolicy:
        """The policy alone, to load from a checkpoint (rl-eval)."""
        return DeterministicPolicy(spec, algo)

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        return to_bounds(actions, self.low, self.high)

    def iteration(self) -> int:
        n = self.cfg.num_envs
        steps_after = self.env_steps + n
        if self.env_steps < self.algo.learning_starts:
            actions = self.rng.uniform(-1.0, 1.0, self.policy_out.shape)
        else:
            actions = np.clip(self.policy_out + self.noise(self.env_steps), -1.0, 1.0)
        actions = actions.astype(np.float32)
        env_actions = self.to_env(actions)
        next_obs, rewards, terminated, truncated, infos = self.envs.step(env_actions)
        done = terminated | truncated
        self.track_actions(env_actions, done)
        self.record_episodes(infos, steps_after)
        self.noise.reset(done)

        num_updates = 0
        if steps_after >= self.algo.learning_starts:
            self.owed_updates += n * self.algo.updates_per_step
            if self.owed_updates >= self.algo.updates_per_call:
                num_updates = int(self.owed_updates)
                self.owed_updates -= num_updates
        rows_and_obs = np.concatenate([self.obs, actions, rewards[:, None],
                                       final_observations(next_obs, infos, done),
                                       terminated[:, None], *self.done_column(done), next_obs],
                                      axis=1, dtype=np.float32)
        policy_out, metrics = self.agent.step(rows_and_obs, num_updates)
        flag = metrics.nonfinite.numpy()
        if flag:
            raise nonfinite_error(flag)
        self.policy_out = policy_out.numpy()
        start = max(1, self.algo.learning_starts)
        if self.agent.perturbed_actor is not None and steps_after >= start and (
                done.any() or self.env_steps < start):  # as learning starts, and per episode
            policy_out, distance = self.agent.perturb(tf.constant(next_obs, tf.float32),
                                                      tf.constant(self.noise.std(steps_after),
                                                                  tf.float32))
            self.policy_out, self.param_distance = policy_out.numpy(), float(distance)
        self.obs = next_obs
        self.updates += num_updates
        if num_updates and steps_after >= self.next_log:
            self.next_log = steps_after + LOG_EVERY_ENV_STEPS
            self.tb.scalars(steps_after, {
                "losses/qf_loss": metrics.qf_loss, "losses/qf_values": metrics.qf_values,
                "losses/actor_loss": metrics.actor_loss,
                **({"losses/encoder_loss": metrics.encoder_loss} if self.algo.sale else {}),
                "charts/exploration_noise": self.noise.std(self.env_steps),
                "charts/learning_rate": float(self.agent.critic_optimizer.learning_rate),
                **self.param_noise_scalars()})
        return n

    def param_noise_scalars(self) -> dict[str, float]:
        """The weight perturbation's scale, and how far it moved the actions when last drawn."""
        if self.agent.perturbed_actor is None:
            return {}
        return {"charts/param_noise_std": float(self.agent.param_noise_std),
                "charts/param_noise_distance": self.param_distance}

    def done_column(self, done: np.ndarray) -> list[np.ndarray]:
        """n-step rows end with ``done``: where a window of transitions stops."""
        return [done[:, None]] if self.algo.n_step > 1 else []

    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        return self.to_env(self.agent.act_eval(tf.constant(obs, tf.float32)).numpy())

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint_parts(self) -> dict:
        c = self.cfg.checkpoint
        size_mb = bytes_needed(self.algo.buffer_size, self.spec.obs_dim,
                               self.spec.num_actions, self.algo.n_step) / 2**20
        include = c.replay and size_mb <= c.replay_max_mb
        if not include:
            why = ("checkpoint.replay=false" if not c.replay else
                   f"{size_mb:.0f} MiB > checkpoint.replay_max_mb={c.replay_max_mb}")
            print(f"rl-train: the replay buffer is not checkpointed ({why}): a resumed run "
                  "starts with an empty buffer", file=sys.stderr)
        return self.agent.checkpoint_parts(include)

    def extra_state(self) -> dict:
        return {"noise": self.noise.state_dict(), "owed_updates": self.owed_updates,
                "next_log": self.next_log, "policy_out": self.policy_out.tolist(),
                "param_distance": self.param_distance}

    def load_extra_state(self, state: dict) -> None:
        self.noise.load_state_dict(state["noise"])
        self.owed_updates = state["owed_updates"]
        self.next_log = state["next_log"]
        self.policy_out = np.asarray(state["policy_out"], np.float32)
        self.param_distance = state.get("param_distance", 0.0)  # older checkpoints: none
