"""DDPG/TD3 math on hand-computed values, the replay ring buffer, and short real runs."""
from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import compose, read_scalars, train_in_process
from rl_runner.algos.ddpg import (
    PARAM_NOISE_ADAPT,
    PARAM_NOISE_BATCH,
    PARAM_NOISE_INITIAL_STD,
    DDPGAgent,
    DDPGTrainer,
    Exploration,
    actor_net,
    direct_call,
    nonfinite_error,
    soft_update,
)
from rl_runner.checkpoint import export_policy
from rl_runner.config import ConfigError, DDPGConfig, NoiseConfig
from rl_runner.envs import EnvSpec
from rl_runner.job import prepare
from rl_runner.replay import ReplayBuffer, Transitions, check_fits

SPEC = EnvSpec("test", 3, False, 2, -np.ones(2, np.float32), np.ones(2, np.float32), None, None)


def constant(model, value: float) -> None:
    """Make a network output `value` for every input (zero kernels, last bias = value)."""
    weights = [np.zeros_like(w) for w in model.get_weights()]
    weights[-1][:] = value
    model.set_weights(weights)


def batch(rewards, terminated, n_obs=3, n_act=2) -> Transitions:
    b = len(rewards)
    return Transitions(tf.ones([b, n_obs]), tf.zeros([b, n_act]),
                       tf.constant(rewards, tf.float32), tf.ones([b, n_obs]),
                       tf.constant(terminated, tf.float32))


def agent(**overrides) -> DDPGAgent:
    return DDPGAgent(SPEC, DDPGConfig(hidden_sizes=[8], buffer_size=64, batch_size=4,
                                      **overrides), seed=0)


def test_critic_loss_by_hand_bootstraps_through_truncation_only():
    a = agent(gamma=0.9)
    constant(a.critics[0], 2.0)
    constant(a.critic_targets[0], 5.0)
    # targets: 1 + 0.9 * 5 = 5.5 (not terminated: truncation still bootstraps), and 1 (terminal)
    target = a.td_target(batch([1.0, 1.0], [0.0, 1.0]))
    np.testing.assert_allclose(target, [5.5, 1.0], rtol=1e-6)
    loss, q = a.critic_loss(batch([1.0, 1.0], [0.0, 1.0]))
    np.testing.assert_allclose(loss, ((2 - 5.5) ** 2 + (2 - 1) ** 2) / 2, rtol=1e-6)
    np.testing.assert_allclose(q, 2.0, rtol=1e-6)
    # An n-step sample brings its own discount: 1 + 0.25 * 5
    n_step = batch([1.0, 1.0], [0.0, 1.0])._replace(discount=tf.constant([0.25, 0.81]))
    np.testing.assert_allclose(a.td_target(n_step), [2.25, 1.0], rtol=1e-6)


def test_twin_critics_bootstrap_from_the_minimum_and_sum_losses():
    a = agent(gamma=0.5, twin_critics=True)
    constant(a.critics[0], 1.0)
    constant(a.critics[1], 3.0)
    constant(a.critic_targets[0], 4.0)
    constant(a.critic_targets[1], -2.0)
    b = batch([1.0], [0.0])
    np.testing.assert_allclose(a.td_target(b), [1 + 0.5 * -2.0])  # min(4, -2)
    loss, _ = a.critic_loss(b)
    np.testing.assert_allclose(loss, (1 - 0.0) ** 2 + (3 - 0.0) ** 2, rtol=1e-6)
    np.testing.assert_allclose(a.actor_loss(tf.ones([5, 3])), -1.0, rtol=1e-6)  # TD3: Q_1


def test_actor_q_mean_climbs_the_mean_of_the_twin_critics():
    a = agent(twin_critics=True, actor_q="mean")
    constant(a.critics[0], 1.0)
    constant(a.critics[1], 3.0)
    np.testing.assert_allclose(a.actor_loss(tf.ones([5, 3])), -2.0, rtol=1e-6)
    # Turning a preset's twin critics off leaves its actor_q=mean: one critic's Q
    one = agent(actor_q="mean")
    constant(one.critics[0], 1.5)
    np.testing.assert_allclose(one.actor_loss(tf.ones([5, 3])), -1.5, rtol=1e-6)


def test_an_ensemble_bootstraps_from_the_minimum_of_a_random_subset():
    # REDQ: 4 critics, the target's min over 2 drawn at random each update.
    a = agent(gamma=0.5, num_critics=4, target_critics=2, actor_q="mean")
    for critic, value in zip(a.critics, (1.0, 2.0, 3.0, 6.0)):
        constant(critic, value)
    target_values = (4.0, -2.0, 8.0, 0.0)
    for target, value in zip(a.critic_targets, target_values):
        constant(target, value)
    b = batch([1.0], [0.0])
    targets = {float(a.td_target(b)[0]) for _ in range(200)}
    # each pair's min occurs, and only those: -2 in 3 pairs of 6 (target 0), 0 in 2 (target
    # 1), 4 in (4, 8) (target 3); none is the min of all four alone
    assert targets == {1 + 0.5 * -2.0, 1 + 0.5 * 0.0, 1 + 0.5 * 4.0}
    # every critic learns, from the target drawn for this update (0, 1 or 3)
    losses = {round(float(a.critic_loss(b)[0]), 4) for _ in range(50)}
    assert losses == {1 + 4 + 9 + 36, 0 + 1 + 4 + 25, 4 + 1 + 0 + 9}
    np.testing.assert_allclose(a.actor_loss(tf.ones([5, 3])), -3.0, rtol=1e-6)  # the mean
    full = agent(gamma=0.5, num_critics=4)  # target_critics=0: the min over all four
    for target, value in zip(full.critic_targets, target_values):
        constant(target, value)
    np.testing.assert_allclose(full.td_target(b), [1 + 0.5 * -2.0])
    # num_critics wins over a preset's twin_critics
    assert len(agent(twin_critics=True, num_critics=3).critics) == 3


def quantiles(model, values) -> None:
    """Make a distributional critic output the quantiles ``values`` for every input."""
    weights = [np.zeros_like(w) for w in model.get_weights()]
    weights[-1][:] = values
    model.set_weights(weights)


def test_quantile_critic_loss_by_hand():
    a = agent(gamma=0.5, quantiles=2)
    quantiles(a.critics[0], [0.0, 2.0])  # at tau 0.25 and 0.75
    quantiles(a.critic_targets[0], [5.0, 1.0])  # sorted into the target: [1, 5]
    b = batch([1.0, 1.0], [0.0, 1.0])
    np.testing.assert_allclose(a.td_target(b), [[1.5, 3.5], [1.0, 1.0]], rtol=1e-6)
    # u = target_j - z_i; |tau_i - 1{u < 0}| * huber(u), the mean over batch, i and j:
    # first row: i=0: u = 1.5, 3.5 -> 0.25 * (1.0 + 3.0); i=1: u = -0.5, 1.5 ->
    # 0.25 * 0.125 + 0.75 * 1.0; terminal row: u = 1, 1 -> 0.25 * 0.5 * 2; u = -1, -1 -> same.
    expected = ((0.25 * 4.0 + 0.25 * 0.125 + 0.75 * 1.0) / 4 + 0.5 / 4) / 2
    loss, q = a.critic_loss(b)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(q, 1.0, rtol=1e-6)  # the mean quantile
    np.testing.assert_allclose(a.actor_loss(tf.ones([5, 3])), -1.0, rtol=1e-6)


def test_tqc_pools_the_target_critics_quantiles_and_drops_the_top_ones():
    a = agent(gamma=0.5, quantiles=2, twin_critics=True, drop_quantiles=1)
    quantiles(a.critic_targets[0], [5.0, 1.0])
    quantiles(a.critic_targets[1], [0.0, 3.0])
    # pooled and sorted [0, 1, 3, 5]; 2 critics x 1 dropped: [0, 1] (TD3's min of the means
    # would bootstrap from 1.5)
    np.testing.assert_allclose(a.td_target(batch([1.0], [0.0])), [[1.0, 1.5]], rtol=1e-6)
    # n-step discounts broadcast over the atoms
    n_step = batch([1.0], [0.0])._replace(discount=tf.constant([0.25]))
    np.testing.assert_allclose(a.td_target(n_step), [[1.0, 1.25]], rtol=1e-6)


def fit_critic_to_four_rewards(a: DDPGAgent, steps: int = 800) -> None:
    """``steps`` critic updates on one batch of terminal transitions whose rewards are 0, 10,
    20 and 30 in equal parts."""
    b = batch(np.repeat([0.0, 10.0, 20.0, 30.0], 16).tolist(), [1.0] * 64)
    variables = a.critics[0].trainable_variables

    @tf.function
    def fit():
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                loss, _ = a.critic_loss(b)
            a.critic_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    fit()


def test_quantile_critic_learns_the_quantiles_of_its_targets():
    # Terminal transitions whose rewards are 0, 10, 20 and 30 in equal parts: 4 quantiles
    # (tau 1/8 ... 7/8) settle within the Huber threshold (1) of these atoms; a scalar critic
    # would learn their mean, 15, and the trained critic's Q is that mean.
    a = agent(quantiles=4, critic_lr=0.05)
    fit_critic_to_four_rewards(a)
    inputs = a.critic_input(tf.ones([1, 3]), tf.zeros([1, 2]))
    z = a.critics[0](inputs).numpy()[0]
    np.testing.assert_allclose(z, [0.0, 10.0, 20.0, 30.0], atol=1.0)
    np.testing.assert_allclose(a._q(a.critics[0], inputs), 15.0, atol=1.0)


def gauss_histogram(t: float, edges: list[float], sigma: float) -> np.ndarray:
    """By hand: the mass of N(t, sigma^2) between consecutive ``edges``, over their span's."""
    cdf = [math.erf((x - t) / (math.sqrt(2.0) * sigma)) for x in edges]
    return np.diff(cdf) / (cdf[-1] - cdf[0])


def test_hl_gauss_histogram_by_hand():
    from rl_runner.algos.ddpg import hl_gauss_probs

    edges = [0.0, 1.0, 2.0, 3.0]
    probs = hl_gauss_probs(tf.constant([1.5, 0.2, 10.0]), tf.constant(edges), 0.75).numpy()
    for row, t in zip(probs, [1.5, 0.2, 3.0]):  # 10 is clipped to the support's end
        np.testing.assert_allclose(row, gauss_histogram(t, edges, 0.75), rtol=1e-5)
    np.testing.assert_allclose(probs[0, 0], probs[0, 2], rtol=1e-6)  # centred on the middle
    assert probs[1].argmax() == 0 and probs[2].argmax() == 2


def test_hl_gauss_critic_loss_by_hand():
    # Bins [0, 1), [1, 2), [2, 3), [3, 4]: centres 0.5 ... 3.5; sigma 0.75 bin widths.
    a = agent(gamma=0.5, value_bins=4, value_min=0.0, value_max=4.0)
    logits = np.log([0.1, 0.2, 0.3, 0.4])
    quantiles(a.critics[0], logits)  # softmax = [0.1, 0.2, 0.3, 0.4]: Q = 2.5
    quantiles(a.critic_targets[0], [0.0, 0.0, 0.0, 0.0])  # uniform: Q' = 2
    b = batch([1.0, 1.0], [0.0, 1.0])
    np.testing.assert_allclose(a.td_target(b), [2.0, 1.0], rtol=1e-6)  # 1 + 0.5 * 2, and 1
    expected = sum(-(gauss_histogram(t, [0.0, 1.0, 2.0, 3.0, 4.0], 0.75) * logits).sum() / 2
                   for t in (2.0, 1.0))  # the mean cross-entropy over the batch
    loss, q = a.critic_loss(b)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(q, 2.5, rtol=1e-6)
    np.testing.assert_allclose(a.actor_loss(tf.ones([5, 3])), -2.5, rtol=1e-6)


def test_hl_gauss_critic_learns_its_targets_distribution_and_their_mean():
    # Terminal rewards 0, 10, 20 and 30 in equal parts over bins of width 1 on [-5, 35]: the
    # softmax puts its mass near the four values, and Q, its mean, is theirs (15); a scalar
    # critic would have only the 15.
    a = agent(value_bins=40, value_min=-5.0, value_max=35.0, critic_lr=0.05)
    fit_critic_to_four_rewards(a)
    inputs = a.critic_input(tf.ones([1, 3]), tf.zeros([1, 2]))
    probs = tf.nn.softmax(a.critics[0](inputs)).numpy()[0]
    centres = np.arange(-4.5, 35.0)
    near = np.min(np.abs(centres[:, None] - np.array([0.0, 10.0, 20.0, 30.0])), axis=1) <= 2
    assert probs[near].sum() > 0.9
    np.testing.assert_allclose(probs[np.abs(centres - 15.0) <= 2].sum(), 0.0, atol=0.02)
    np.testing.assert_allclose(a._q(a.critics[0], inputs), 15.0, atol=0.5)


def test_target_policy_noise_is_clipped_and_actions_stay_in_bounds():
    a = agent(target_policy_noise=10.0, target_noise_clip=0.3)
    weights = [np.zeros_like(w) for w in a.actor_target.get_weights()]
    weights[-1][:] = np.arctanh(0.9)  # target action 0.9 in both dims
    a.actor_target.set_weights(weights)
    actions = a.next_actions(tf.ones([256, 3])).numpy()  # what td_target bootstraps from
    assert actions.min() >= 0.9 - 0.3 - 1e-6 and actions.max() <= 1.0
    assert np.isclose(actions, 1.0).any() and np.isclose(actions, 0.6).any()


def test_actor_loss_by_hand():
    a = agent()
    constant(a.critics[0], 7.0)
    np.testing.assert_allclose(a.actor_loss(tf.ones([5, 3])), -7.0, rtol=1e-6)


def test_soft_update_matches_numpy():
    rng = np.random.default_rng(0)
    target = [tf.Variable(rng.normal(size=(3, 2)).astype(np.float32))]
    online = [tf.Variable(rng.normal(size=(3, 2)).astype(np.float32))]
    expected = 0.1 * online[0].numpy() + 0.9 * target[0].numpy()
    soft_update(target, online, 0.1)
    np.testing.assert_allclose(target[0], expected, rtol=1e-6)


def test_policy_delay_updates_actor_and_targets_every_n_critic_updates():
    a = agent(policy_delay=3, tau=0.5)
    a.replay.add(batch([1.0] * 8, [0.0] * 8))
    actor_before = [w.copy() for w in a.actor.get_weights()]
    target_before = [w.copy() for w in a.critic_targets[0].get_weights()]
    a.train(2)
    assert all(np.array_equal(x, y) for x, y in zip(actor_before, a.actor.get_weights()))
    assert all(np.array_equal(x, y) for x, y in zip(target_before,
                                                    a.critic_targets[0].get_weights()))
    a.train(1)  # third critic update: actor and targets move
    assert not all(np.array_equal(x, y) for x, y in zip(actor_before, a.actor.get_weights()))
    assert not all(np.array_equal(x, y) for x, y in zip(target_before,
                                                        a.critic_targets[0].get_weights()))


def test_linear_lr_schedule_reaches_zero_at_the_last_update_and_then_freezes_the_nets():
    a = DDPGAgent(SPEC, DDPGConfig(hidden_sizes=[8], buffer_size=64, batch_size=4,
                                   critic_lr=1e-3, actor_lr=4e-4, policy_delay=2,
                                   lr_schedule="linear"), seed=0, total_updates=8)
    a.replay.add(batch([1.0] * 8, [0.0] * 8))
    lr = lambda opt: float(opt.learning_rate)  # noqa: E731
    assert (lr(a.critic_optimizer), lr(a.actor_optimizer)) == pytest.approx((1e-3, 4e-4))
    a.train(2)  # 2 of 8 critic steps, 1 of 4 actor steps
    assert (lr(a.critic_optimizer), lr(a.actor_optimizer)) == pytest.approx((7.5e-4, 3e-4))
    a.train(6)
    assert (lr(a.critic_optimizer), lr(a.actor_optimizer)) == (0.0, 0.0)
    before = [w.copy() for net in (a.actor, a.critics[0]) for w in net.get_weights()]
    a.train(4)
    after = [w for net in (a.actor, a.critics[0]) for w in net.get_weights()]
    assert all(np.array_equal(x, y) for x, y in zip(before, after))
    constant_lr = agent()
    constant_lr.replay.add(batch([1.0] * 8, [0.0] * 8))
    constant_lr.train(8)
    assert float(constant_lr.critic_optimizer.learning_rate) == pytest.approx(3e-4)


@pytest.mark.parametrize("jit, bias, kind, updates, delay", [
    (False, math.nan, "NaN", 2, 1), (False, math.inf, "Inf", 2, 1),
    (True, math.nan, "NaN", 2, 1), (True, math.inf, "Inf", 2, 1),
    (True, math.nan, "NaN", 6, 2),  # the tf.range loop variant, actor every other update
], ids=["graph-nan", "graph-inf", "xla-nan", "xla-inf", "xla-loop-delay"])
def test_a_nonfinite_critic_loss_is_flagged_also_under_xla(jit, bias, kind, updates, delay):
    # XLA compiles tf.debugging.check_numerics away; the flag is plain data flow.
    a = agent(jit_compile=jit, policy_delay=delay)
    a.replay.add(batch([1.0] * 8, [0.0] * 8))
    a.nonfinite.assign(3.0)  # left by an earlier call: each call reports its own updates
    assert a.train(1).nonfinite.numpy() == 0
    a.critics[0].trainable_variables[-1].assign([bias])  # output bias: Q, so the loss
    error = nonfinite_error(a.train(updates).nonfinite.numpy())
    assert (error.name, error.kind) == ("qf_loss", kind)


def test_nonfinite_flag_names_the_first_loss_or_gradient_and_keeps_it():
    a = agent()
    flag = tf.function(a._flag_nonfinite, jit_compile=True)
    flag("actor_loss", tf.constant(1.0), [tf.ones(3), tf.constant([2.0, math.inf])])
    flag("qf_loss", tf.constant(math.nan), [tf.ones(3)])  # later: does not overwrite
    error = nonfinite_error(a.nonfinite.numpy())
    assert (error.name, error.kind) == ("actor_loss_gradient", "Inf")


def test_feature_norm_and_critic_layer_norm_shape_the_networks_and_targets_track_them():
    a = agent(feature_norm=True, critic_layer_norm=True, tau=1.0)
    x = tf.random.normal([5, 3])
    for net, inputs in ((a.actor, x), (a.critics[0], tf.concat([x, tf.ones([5, 2])], 1))):
        for layer in net.layers[:-1]:  # everything up to the output layer
            inputs = layer(inputs)
        np.testing.assert_allclose(tf.norm(inputs, axis=1), 1.0, rtol=1e-5)
    kinds = {type(layer).__name__ for layer in a.critics[0].layers}
    assert "LayerNormalization" in kinds
    assert "LayerNormalization" not in {type(layer).__name__ for layer in a.actor.layers}
    a.replay.add(batch([1.0] * 8, [0.0] * 8))
    a.train(1)
    online, target = a.critics[0].variables, a.critic_targets[0].variables
    assert len(online) == len(target) == 2 * 2 + 2  # two Dense, one LayerNorm
    for o, t in zip(online, target):  # tau = 1: targets copy every variable, LayerNorm's too
        np.testing.assert_array_equal(o, t)
    gamma = [v for v in online if "gamma" in v.path][0]
    assert not np.allclose(gamma, 1.0)  # the LayerNorm scale is trained


def test_critic_hidden_sizes_shape_the_critics_and_their_targets_only():
    def units(net):
        return [layer.units for layer in net.layers if hasattr(layer, "units")]

    a = agent(critic_hidden_sizes=[16, 12], twin_critics=True)
    assert units(a.actor) == units(a.actor_target) == [8, 2]
    assert all(units(c) == [16, 12, 1] for c in (*a.critics, *a.critic_targets))
    assert all(units(c) == [8, 1] for c in agent().critics)  # null: hidden_sizes


def test_batch_renorm_is_batch_norm_in_warmup_then_renormalises_towards_running_stats():
    from rl_runner.networks import BatchRenorm

    layer = BatchRenorm(momentum=0.5, warmup=1, r_max=3.0, d_max=0.5, epsilon=1e-3)
    x = np.array([[0.0, 10.0], [2.0, 14.0], [4.0, 18.0]], np.float32)  # means 2, 14
    out = layer(tf.constant(x), training=True).numpy()  # warmup: plain batch norm
    var = x.var(axis=0)
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(var + 1e-3), rtol=1e-5)
    # Running stats move by (1 - momentum) towards the batch's (its variance unbiased).
    mean_run = 0.5 * x.mean(0)
    var_run = 0.5 * 1.0 + 0.5 * x.var(axis=0, ddof=1)
    np.testing.assert_allclose(layer.moving_mean, mean_run, rtol=1e-6)
    np.testing.assert_allclose(layer.moving_var, var_run, rtol=1e-6)
    assert {v.name for v in layer.trainable_variables} == {"scale", "offset"}

    y = 10.0 * x  # after warmup: r = std / std_run clipped to 3, d clipped to +-0.5
    out = layer(tf.constant(y), training=True).numpy()
    std, std_run = np.sqrt(y.var(axis=0) + 1e-3), np.sqrt(var_run + 1e-3)
    r = np.clip(std / std_run, 1 / 3, 3)
    d = np.clip((y.mean(0) - mean_run) / std_run, -0.5, 0.5)
    assert (r == 3).all() and (np.abs(d) == 0.5).all()  # both clipped, as intended here
    np.testing.assert_allclose(out, (y - y.mean(0)) / std * r + d, rtol=1e-5, atol=1e-6)
    assert layer.steps.numpy() == 2
    # Inference: the running statistics alone, nothing moves.
    mean_run = layer.moving_mean.numpy()
    std_run = np.sqrt(layer.moving_var.numpy() + 1e-3)
    np.testing.assert_allclose(layer(tf.constant(x)), (x - mean_run) / std_run, rtol=1e-5)
    assert layer.steps.numpy() == 2


def test_crossq_bootstraps_from_the_online_critics_in_one_joint_batch():
    a = agent(crossq=True, twin_critics=True, gamma=0.5, adam_beta1=0.5, feature_norm=True)
    assert a.actor_target is None and a.critic_targets == []
    assert not any(key.endswith("_target") for key in a.checkpoint_parts(False))
    assert a.critic_optimizer.beta_1 == a.actor_optimizer.beta_1 == 0.5
    actor_kinds = {type(layer).__name__ for layer in a.actor.layers}
    critic_kinds = {type(layer).__name__ for layer in a.critics[0].layers}
    # feature_norm shapes the actor only: batch renorm replaces it in the critic
    assert "BatchRenorm" not in actor_kinds and "UnitNormalization" in actor_kinds
    assert "BatchRenorm" in critic_kinds and "UnitNormalization" not in critic_kinds
    constant(a.critics[0], 1.0)
    constant(a.critics[1], 3.0)
    b = batch([1.0, 1.0], [0.0, 1.0])._replace(next_obs=3.0 * tf.ones([2, 3]))
    loss, q = a.critic_loss(b)
    # targets from the online critics' min: 1 + 0.5 * min(1, 3) = 1.5, and 1 (terminal)
    expected = ((1 - 1.5) ** 2 + (1 - 1) ** 2) / 2 + ((3 - 1.5) ** 2 + (3 - 1) ** 2) / 2
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(q, 1.0, rtol=1e-6)
    # One training-mode call over (s, a) and (s', mu(s')) together: the input layer's running
    # mean moved towards the mean of obs (1) and next_obs (3), i.e. 2, by 1 - 0.99.
    first = a.critics[0].layers[0]
    assert type(first).__name__ == "BatchRenorm" and first.steps.numpy() == 1
    np.testing.assert_allclose(first.moving_mean[:3], 0.01 * 2.0, rtol=1e-5)
    a.actor_loss(tf.ones([4, 3]))  # the actor's critic call is in inference mode
    assert first.steps.numpy() == 1


def test_crossq_checkpoint_restores_the_running_statistics(tmp_path):
    a = agent(crossq=True)
    a.replay.add(batch([1.0] * 8, [0.0] * 8))
    a.train(3)
    path = tf.train.Checkpoint(**a.checkpoint_parts(True)).write(str(tmp_path / "ckpt"))
    b = DDPGAgent(SPEC, DDPGConfig(hidden_sizes=[8], buffer_size=64, batch_size=4, crossq=True),
                  seed=1)  # other initial weights and rngs: all of them come from the file
    tf.train.Checkpoint(**b.checkpoint_parts(True)).read(path).assert_consumed()
    for x, y in zip(a.critics[0].variables, b.critics[0].variables):
        np.testing.assert_array_equal(x, y)
    assert b.critics[0].layers[0].steps.numpy() == 3
    np.testing.assert_array_equal(a.train(1).qf_loss, b.train(1).qf_loss)


def test_avg_l1_norm_and_the_embedding_input_layer_by_hand():
    from rl_runner.networks import EmbeddingInput, avg_l1_norm

    np.testing.assert_allclose(avg_l1_norm(tf.constant([[1.0, -3.0], [0.0, 0.0]])),
                               [[0.5, -1.5], [0.0, 0.0]])
    layer = EmbeddingInput(2, split=3)
    layer.build((None, 5))
    layer.dense.set_weights([np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32),
                             np.array([0.0, -1.0], np.float32)])
    # dense([1, 2, 3]) = [4, 6]; mean |.| = 5 -> [0.8, 1.2]; the last two columns pass through
    np.testing.assert_allclose(layer(tf.constant([[1.0, 2.0, 3.0, 7.0, -7.0]])),
                               [[0.8, 1.2, 7.0, -7.0]], rtol=1e-6)


def sale_agent(seed: int = 0, **overrides) -> DDPGAgent:
    settings = dict(hidden_sizes=[8, 8], buffer_size=64, batch_size=8, sale=True, sale_dim=4,
                    sale_update_every=3)
    return DDPGAgent(SPEC, DDPGConfig(**{**settings, **overrides}), seed=seed)


def test_sale_shapes_the_inputs_and_its_fixed_copies_follow_the_encoder_every_n_updates():
    a = sale_agent()
    # actor: [s | zs] = 3 + 4; critic: [s, a | zsa, zs] = 5 + 8, each through an embedding input
    for net, width in ((a.actor, 7), (a.actor_target, 7), (a.critics[0], 13),
                       (a.critic_targets[0], 13)):
        assert net.layers[0].name == "embedding_input" and net.input_shape == (None, width)
    obs, actions = tf.ones([2, 3]), tf.zeros([2, 2])
    inputs = a.critic_input(obs, actions, a.policy.encoder).numpy()
    zs = a.policy.encoder.zs(obs).numpy()
    np.testing.assert_allclose(np.abs(zs).mean(axis=1), 1.0, rtol=1e-5)  # AvgL1Norm'd
    np.testing.assert_allclose(inputs[:, 9:], zs)
    np.testing.assert_allclose(inputs[:, 5:9], a.policy.encoder.zsa(zs, actions))

    def weights(encoder):
        return [v.numpy() for v in encoder.weights()]

    start = weights(a.encoder)
    a.replay.add(batch([1.0] * 8, [0.0] * 8)._replace(next_obs=2.0 * tf.ones([8, 3])))
    a.train(2)
    moved = weights(a.encoder)
    assert not np.allclose(moved[0], start[0])  # the encoder learns every update ...
    for copy in (a.policy.encoder, a.encoder_target):  # ... its copies stay still
        for x, y in zip(weights(copy), start):
            np.testing.assert_array_equal(x, y)
    a.train(1)  # update 3: fixed <- encoder, fixed target <- the old fixed
    third = weights(a.encoder)
    for x, y in zip(weights(a.policy.encoder), third):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(weights(a.encoder_target), start):
        np.testing.assert_array_equal(x, y)
    a.train(3)  # update 6
    for x, y in zip(weights(a.encoder_target), third):
        np.testing.assert_array_equal(x, y)


def test_sale_encoder_learns_to_predict_the_next_state_embedding():
    keras.utils.set_random_seed(0)  # the initial weights
    a = sale_agent(sale_dim=16, critic_lr=1e-3)  # the encoder learns at the critic's rate
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (2200, 3)).astype(np.float32)
    actions = rng.uniform(-1, 1, (2200, 2)).astype(np.float32)
    next_obs = obs + 0.5 * np.concatenate([actions, actions[:, :1] * actions[:, 1:]], axis=1)
    train = [tf.constant(x[:2000]) for x in (obs, actions, next_obs)]
    held_out = [tf.constant(x[2000:]) for x in (obs, actions, next_obs)]
    weights = a.encoder.weights()
    draw = tf.random.Generator.from_seed(0)

    @tf.function
    def fit():
        for _ in tf.range(1500):
            idx = draw.uniform([256], 0, 2000, tf.int32)
            with tf.GradientTape() as tape:
                loss = a.encoder.loss(*[tf.gather(x, idx) for x in train])
            a.encoder_optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))

    untrained = [v.numpy() for v in a.encoder.state_action.variables]
    fit()
    zs, target = a.encoder.zs(held_out[0]), a.encoder.zs(held_out[2])
    learned = float(tf.reduce_mean(tf.square(a.encoder.zsa(zs, held_out[1]) - target)))
    # Against the same target embeddings: "the next state is this one" (what a model that
    # ignores the action could do at best here), and the state-action net before learning.
    blind = float(tf.reduce_mean(tf.square(zs - target)))
    a.encoder.state_action.set_weights(untrained)
    before = float(tf.reduce_mean(tf.square(a.encoder.zsa(zs, held_out[1]) - target)))
    assert learned < 0.5 * blind and learned < 0.1 * before, (learned, blind, before)


def test_sale_checkpoint_restores_encoders_and_training_goes_on_exactly(tmp_path):
    a = sale_agent()
    a.replay.add(batch([1.0] * 8, [0.0] * 8)._replace(next_obs=2.0 * tf.ones([8, 3])))
    a.train(4)
    path = tf.train.Checkpoint(policy=a.policy, **a.checkpoint_parts(True)).write(
        str(tmp_path / "ckpt"))
    b = sale_agent(seed=1)  # other initial weights and rngs: all of them come from the file
    tf.train.Checkpoint(policy=b.policy, **b.checkpoint_parts(True)).read(path).assert_consumed()
    np.testing.assert_array_equal(a.policy(tf.ones([2, 3])), b.policy(tf.ones([2, 3])))
    export_policy(b.policy, 3, tmp_path / "saved_model")  # the encoder travels with the actor
    obs = tf.constant(np.random.default_rng(0).normal(size=(4, 3)), tf.float32)
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    np.testing.assert_allclose(loaded.act(obs), b.policy.greedy(obs), rtol=1e-6)
    for _ in range(3):  # across a refresh of the fixed copies (update 6)
        x, y = a.train(1), b.train(1)
        np.testing.assert_array_equal(x.qf_loss, y.qf_loss)
        np.testing.assert_array_equal(x.encoder_loss, y.encoder_loss)
        assert float(x.encoder_loss) > 0


def param_agent(seed: int = 0) -> DDPGAgent:
    a = DDPGAgent(SPEC, DDPGConfig(hidden_sizes=[8], buffer_size=64, batch_size=4,
                                   noise=NoiseConfig(type="param")), seed=seed)
    states = tf.constant(np.random.default_rng(seed).normal(size=(16, 3)), tf.float32)
    a.replay.add(batch([1.0] * 16, [0.0] * 16)._replace(obs=states))
    return a


def test_param_noise_perturbs_every_actor_weight_and_adapts_to_the_action_distance():
    a = param_agent()
    actor, perturbed = a.actor.trainable_variables, a.perturbed_actor.trainable_variables
    rng = tf.random.Generator.from_state(a.param_rng.state.numpy(), a.param_rng.algorithm)
    eps = [rng.normal(tf.shape(v)) for v in actor]
    idx = rng.uniform([PARAM_NOISE_BATCH], minval=0, maxval=16, dtype=tf.int64)
    states = tf.gather(a.replay.contents().obs, idx)
    # What sigma = 0.1 moves the actions by, on those states, measured on a copy of the actor.
    probe = actor_net(SPEC, a.cfg, "probe")
    for p, v, e in zip(probe.trainable_variables, actor, eps):
        p.assign(v + 0.1 * e)
    moved = float(tf.sqrt(tf.reduce_mean(tf.square(probe(states) - a.actor(states)))))
    assert moved > 0

    obs = tf.constant([[0.5, -0.2, 0.1]])
    actions, distance = a.perturb(obs, tf.constant(moved * 1.5))  # moved too little: grow
    assert float(distance) == pytest.approx(moved, rel=1e-5)
    sigma = 0.1 * PARAM_NOISE_ADAPT
    assert float(a.param_noise_std) == pytest.approx(sigma)
    for p, v, e in zip(perturbed, actor, eps):
        np.testing.assert_allclose(p, v + sigma * e, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(actions, a.perturbed_actor(obs), rtol=1e-6)
    assert not np.allclose(actions, a.policy(obs))  # explores off the greedy action
    a.perturb(obs, tf.constant(0.0))                # moved too far: shrink
    assert float(a.param_noise_std) == pytest.approx(sigma / PARAM_NOISE_ADAPT)
    # The fused step acts through the perturbed actor; evaluation through the actor.
    step_actions = a.compiled["step"](tf.zeros([1, a.replay.width + 3]), tf.constant(0), 0)[0]
    np.testing.assert_allclose(step_actions, a.perturbed_actor(tf.zeros([1, 3])), rtol=1e-6)
    np.testing.assert_allclose(a.act(tf.zeros([1, 3])), a.policy(tf.zeros([1, 3])), rtol=1e-6)


def test_param_noise_checkpoint_restores_the_perturbation_its_scale_and_rng(tmp_path):
    a = param_agent()
    obs = tf.constant([[0.5, -0.2, 0.1]])
    a.perturb(obs, tf.constant(1.0))
    path = tf.train.Checkpoint(policy=a.policy, **a.checkpoint_parts(True)).write(
        str(tmp_path / "ckpt"))
    b = param_agent(seed=1)  # other weights and rngs: all of them come from the file
    tf.train.Checkpoint(policy=b.policy, **b.checkpoint_parts(True)).read(path).assert_consumed()
    np.testing.assert_array_equal(a.behaviour(obs), b.behaviour(obs))
    first, second = a.perturb(obs, tf.constant(1.0)), b.perturb(obs, tf.constant(1.0))
    np.testing.assert_array_equal(first[0], second[0])
    assert float(a.param_noise_std) == float(b.param_noise_std)


def test_param_noise_trainer_redraws_as_learning_starts_and_at_each_episode_end(tmp_path):
    typed, spec = prepare(compose([
        "algo=ddpg", "env=gym", "env.id=Pendulum-v1", "env.max_episode_steps=10",
        "algo.noise.type=param", "algo.learning_starts=25", "algo.buffer_size=1000",
        "algo.batch_size=8", "algo.hidden_sizes=[16]", "progress=false"]))
    trainer = DDPGTrainer(typed, spec, tmp_path)
    redraws = []
    for _ in range(50):
        before = trainer.agent.param_rng.state.numpy().copy()
        trainer.env_steps += trainer.iteration()
        redraws += [trainer.env_steps] * (not np.array_equal(
            before, trainer.agent.param_rng.state.numpy()))
    assert redraws == [25, 30, 40, 50]
    # The next action comes from the perturbed actor, with no noise added on top.
    np.testing.assert_allclose(
        trainer.policy_out, trainer.agent.behaviour(tf.constant(trainer.obs, tf.float32)),
        rtol=1e-5)
    assert not np.any(trainer.noise(trainer.env_steps))
    # Four redraws, each moving sigma by one factor of PARAM_NOISE_ADAPT either way.
    moves = math.log(float(trainer.agent.param_noise_std) / PARAM_NOISE_INITIAL_STD,
                     PARAM_NOISE_ADAPT)
    assert moves == pytest.approx(round(moves), abs=1e-3) and round(moves) in (-4, -2, 0, 2, 4)
    trainer.close()


def test_direct_call_returns_what_the_concrete_function_returns():
    v = tf.Variable([1.0, 2.0])  # a captured input, like the agent's weights

    def fn(x, n):
        return x * v, {"n": n + 1}

    concrete = tf.function(fn).get_concrete_function(tf.TensorSpec([2]),
                                                     tf.TensorSpec([], tf.int32))
    call = direct_call(concrete)
    x, n = tf.constant([3.0, 4.0]), tf.constant(5)
    direct, public = call(x, n), concrete(x, n)
    np.testing.assert_array_equal(direct[0], public[0])
    assert int(direct[1]["n"]) == int(public[1]["n"]) == 6
    v.assign([0.0, 1.0])  # the captured variable is read at call time, not frozen
    np.testing.assert_array_equal(call(x, n)[0], [0.0, 4.0])


def test_replay_wraps_around_and_samples_only_filled_slots():
    buf = ReplayBuffer(capacity=5, obs_dim=1, act_dim=1, seed=0)

    def add(values):
        v = tf.constant(values, tf.float32)
        buf.add(Transitions(v[:, None], v[:, None], v, v[:, None], tf.zeros_like(v)))

    add([1.0, 2.0])
    sampled = buf.sample(200).rewards.numpy()
    assert set(sampled) == {1.0, 2.0}  # never the empty slots (zeros)
    add([3.0, 4.0, 5.0, 6.0])            # 6 overwrites slot 0 (value 1)
    assert int(buf.ptr) == 1 and int(buf.size) == 5
    np.testing.assert_array_equal(buf.contents().rewards.numpy(), [6, 2, 3, 4, 5])
    assert set(buf.sample(500).rewards.numpy()) == {2.0, 3.0, 4.0, 5.0, 6.0}


def test_recent_fraction_draws_that_part_of_the_batch_from_the_newest_transitions():
    buf = ReplayBuffer(capacity=10, obs_dim=1, act_dim=1, seed=0, recent_fraction=0.25,
                       recent_size=3)
    v = tf.range(1.0, 14.0)  # 13 writes into 10 slots: 4 ... 13 are left, the newest 11 ... 13
    buf.add(Transitions(v[:, None], v[:, None], v, v[:, None], tf.zeros_like(v)))
    rewards = buf.sample(400).rewards.numpy()
    assert set(rewards[300:]) == {11.0, 12.0, 13.0}  # a quarter: the newest 3, across the wrap
    assert set(rewards[:300]) == set(range(4, 14))  # the rest: uniform over all 10
    assert np.mean(rewards >= 11) == pytest.approx(0.25 + 0.75 * 0.3, abs=0.05)
    small = ReplayBuffer(capacity=10, obs_dim=1, act_dim=1, seed=0, recent_fraction=1.0,
                         recent_size=100)  # fewer filled slots than recent_size: those
    small.add(Transitions(v[:2, None], v[:2, None], v[:2], v[:2, None], tf.zeros([2])))
    assert set(small.sample(100).rewards.numpy()) == {1.0, 2.0}


def test_n_step_samples_stop_at_episode_ends_and_at_the_newest_transition():
    # Two envs (stride 2), 3-step returns, gamma 0.5. Each transition's obs and next obs hold its
    # reward, so a sample's next obs names the transition it bootstraps from.
    buf = ReplayBuffer(capacity=12, obs_dim=1, act_dim=1, seed=0, n_step=3, gamma=0.5, stride=2)

    def add(r0, r1, terminated=(0.0, 0.0), done=(0.0, 0.0)):
        r = tf.constant([r0, r1], tf.float32)
        rows = buf.pack(Transitions(r[:, None], r[:, None], r, r[:, None],
                                    tf.constant(terminated)))
        buf.add_rows(tf.concat([rows, tf.constant(done)[:, None]], axis=1))

    add(1, 10)
    add(2, 20, done=(1.0, 0.0))                  # env 0 truncated: no terminal, but a window end
    add(3, 30, terminated=(0.0, 1.0), done=(0.0, 1.0))  # env 1 terminated
    add(4, 40)
    add(5, 50)

    def sample(*idx):
        b = buf.gather(tf.constant(idx, tf.int64))
        return [b.rewards.numpy().tolist(), b.next_obs.numpy()[:, 0].tolist(),
                b.terminated.numpy().tolist(), b.discount.numpy().tolist()]

    assert sample(0, 1, 4, 6, 9) == [
        [1 + 0.5 * 2, 10 + 0.5 * 20 + 0.25 * 30, 3 + 0.5 * 4 + 0.25 * 5, 4 + 0.5 * 5, 50],
        [2, 30, 5, 5, 50],                      # the last included transition's next obs
        [0, 1, 0, 0, 0],                        # only env 1's window ends in a terminal
        [0.25, 0.125, 0.125, 0.25, 0.5]]        # stopped by: truncation, -, -, newest, newest
    add(6, 60)
    add(7, 70)                                   # wraps: overwrites rows 0 and 1
    assert sample(8, 10)[:2] == [[5 + 0.5 * 6 + 0.25 * 7, 6 + 0.5 * 7], [7, 7]]
    assert buf.sample(64).discount.shape == [64]


def test_buffer_too_big_for_memory_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"algo.buffer_size=1000000000 needs 204.9 GiB for "
                                          r"Pusher-v5 transitions but only 16.0 GiB"):
        check_fits(1_000_000_000, 23, 7, "Pusher-v5", available=16 * 2**30)
    check_fits(1_000_000, 23, 7, "Pusher-v5", available=16 * 2**30)


def test_exploration_schedules_and_ou_stationary_std():
    cfg = NoiseConfig(type="gaussian", std_start=0.3, std_end=0.1, decay_env_steps=100)
    noise = Exploration(cfg, 1, 2, np.random.default_rng(0))
    assert [noise.std(s) for s in (0, 50, 100, 1000)] == pytest.approx([0.3, 0.2, 0.1, 0.1])
    ou = Exploration(NoiseConfig(type="ou", std_start=0.2), 1, 1, np.random.default_rng(0))
    xs = np.array([ou(0)[0, 0] for _ in range(20000)])
    assert xs.std() == pytest.approx(0.2, rel=0.1)
    assert np.corrcoef(xs[:-1], xs[1:])[0, 1] == pytest.approx(0.85, abs=0.03)


def test_pink_noise_has_the_scheduled_std_is_correlated_and_restarts_per_episode():
    cfg = NoiseConfig(type="pink", std_start=0.2)
    noise = Exploration(cfg, 2, 3, np.random.default_rng(0), episode_steps=100)
    xs = np.array([noise(0) for _ in range(100)])         # one episode: [100, envs, actions]
    assert xs.std() == pytest.approx(0.2, rel=0.15)        # unit-variance sequences x std
    series = xs.reshape(100, -1).T
    lag1 = np.mean([np.corrcoef(x[:-1], x[1:])[0, 1] for x in series])
    white = Exploration(NoiseConfig(std_start=0.2), 2, 3, np.random.default_rng(0))
    ws = np.array([white(0) for _ in range(100)]).reshape(100, -1).T
    assert lag1 > 0.4 and abs(np.mean([np.corrcoef(x[:-1], x[1:])[0, 1] for x in ws])) < 0.1
    saved = noise.state_dict()
    copy = Exploration(cfg, 2, 3, np.random.default_rng(1), episode_steps=100)
    copy.load_state_dict(json.loads(json.dumps(saved)))   # what a checkpoint keeps
    noise.reset(np.array([True, False]))                   # env 0's episode ended
    assert noise.pink[0].idx == 0 and noise.pink[1].idx == 100
    assert not np.allclose(noise.pink[0].buffer, copy.pink[0].buffer)
    np.testing.assert_array_equal(noise.pink[1].buffer, copy.pink[1].buffer)


def test_asymmetric_bounds_are_scaled_affinely(tmp_path):
    typed, spec = prepare(compose(["algo=ddpg", "env=gym", "env.id=MountainCarContinuous-v0",
                                   "algo.buffer_size=1000", "progress=false"]))
    spec = spec._replace(action_low=np.array([0.0], np.float32),
                         action_high=np.array([4.0], np.float32))
    trainer = DDPGTrainer(typed, spec, tmp_path)
    np.testing.assert_allclose(trainer.to_env(np.array([[-1.0], [0.0], [1.0]])),
                               [[0.0], [2.0], [4.0]])
    trainer.close()


@pytest.mark.parametrize("extra", [[], ["algo.crossq=true", "algo.critic_layer_norm=false",
                                        "algo.eval_actor=online"],
                                   ["algo.quantiles=5", "algo.twin_critics=true",
                                    "algo.drop_quantiles=1", "algo.recent_fraction=0.5"],
                                   ["algo.sale=true", "algo.sale_dim=16", "algo.n_step=1",
                                    "algo.twin_critics=true", "algo.noise.type=param"],
                                   ["algo.value_bins=11", "algo.value_min=-50",
                                    "algo.value_max=0", "algo.twin_critics=true"]],
                         ids=["ddpg", "crossq", "tqc_recent", "sale_param", "hl_gauss"])
def test_fused_step_does_not_retrace(tmp_path, extra):
    typed, spec = prepare(compose(["algo=ddpg", "env=pusher", "algo.buffer_size=5000",
                                   "algo.learning_starts=20", "algo.batch_size=16",
                                   "algo.hidden_sizes=[32,32]", "num_envs=2", "algo.n_step=3",
                                   "algo.updates_per_step=1",
                                   "progress=false", *extra]))
    trainer = DDPGTrainer(typed, spec, tmp_path)
    for _ in range(40):  # random phase (0 updates), then 2 updates per call
        trainer.env_steps += trainer.iteration()
    assert trainer.updates == 2 * (40 - 10 + 1)
    trainer.act_greedy(np.zeros((5, spec.obs_dim)))  # another batch size
    # One step graph without updates (the random phase), one with a loop of them.
    assert {name: fn.experimental_get_tracing_count()
            for name, fn in trainer.agent.compiled.items()} == {"step": 2, "act": 1, "train": 0}
    trainer.close()


@pytest.mark.slow
def test_short_pusher_v5_run_writes_eval_points_and_losses(tmp_path):
    metrics = train_in_process(["algo=ddpg", "env=pusher", "total_env_steps=1200",
                                "algo.learning_starts=200", "algo.buffer_size=5000",
                                "algo.batch_size=64", "algo.hidden_sizes=[64,64]",
                                "eval.every_env_steps=600", "eval.episodes=2",
                                "preset=td3_pusher", "algo.lr_schedule=linear",
                                "algo.noise.type=param"], tmp_path)
    scalars = read_scalars(tmp_path)
    assert [s for s, _ in scalars["eval/episodic_return"]] == [600, 1200]
    assert all(-1000 < v < 0 for _, v in scalars["eval/episodic_return"])
    for tag in ("losses/qf_loss", "losses/qf_values", "losses/actor_loss",
                "charts/exploration_noise", "charts/episodic_return", "charts/learning_rate",
                "charts/param_noise_std", "charts/param_noise_distance"):
        assert scalars[tag] and all(math.isfinite(v) for _, v in scalars[tag]), tag
    assert all(v > 0 for _, v in scalars["charts/param_noise_distance"])
    assert metrics.updates == 1200 - 200 + 1 and metrics.episodes == 12
    # Logged after the step's updates: (step - 199) of the run's 1001 done, from 1e-3 to 0.
    assert scalars["charts/learning_rate"] == [
        (step, pytest.approx(1e-3 * (1 - (step - 199) / 1001), rel=1e-4))
        for step, _ in scalars["charts/learning_rate"]]


def test_ddpg_on_cartpole_stops_before_building_anything():
    with pytest.raises(ConfigError, match="ddpg needs a continuous \\(Box\\) action space; "
                                          "CartPole-v1 has Discrete\\(2\\) - use algo=reinforce"):
        prepare(compose(["algo=ddpg", "env=cartpole"]))


def test_pusher_v4_without_the_legacy_extra_says_what_to_install():
    import mujoco

    if int(mujoco.__version__.split(".")[0]) < 3:
        pytest.skip("legacy mujoco installed: Pusher-v4 works here (test_legacy_mujoco.py)")
    with pytest.raises(ConfigError) as err:
        prepare(compose(["algo=ddpg", "env=pusher_v4"]))
    assert str(err.value) == (
        f"env.id='Pusher-v4' needs mujoco<3 (installed: mujoco {mujoco.__version__}): pip "
        "install -e '.[legacy-mujoco]' in its own venv, or use env=pusher (Pusher-v5)")


@pytest.mark.parametrize("override, message", [
    ("algo.tau=0", "algo.tau=0 is out of range: must be > 0 and <= 1"),
    ("algo.batch_size=0", "algo.batch_size=0 is out of range: must be >= 1"),
    ("algo.buffer_size=100", "algo.buffer_size=100 is out of range: must be >= "
                             "algo.batch_size=256"),
    ("algo.noise.type=brown", "algo.noise.type='brown' is not allowed"),
    ("algo.policy_delay=0", "algo.policy_delay=0 is out of range: must be >= 1"),
    ("algo.n_step=0", "algo.n_step=0 is out of range: must be >= 1 and <= 100"),
    ("algo.updates_per_step=0", "algo.updates_per_step=0 is out of range: must be > 0"),
    ("algo.lr_schedule=cosine", "algo.lr_schedule='cosine' is not allowed"),
    ("algo.critic_hidden_sizes=[64,0]", "algo.critic_hidden_sizes=[64, 0] is out of range: "
                                        "every item must be >= 1"),
    ("algo.adam_beta1=1", "algo.adam_beta1=1 is out of range: must be > 0 and < 1"),
    ("algo.crossq=true", "algo.crossq=true replaces the critic's LayerNorm with batch "
                         "renormalisation: set algo.critic_layer_norm=false"),
    ("algo.recent_fraction=1.5", "algo.recent_fraction=1.5 is out of range: must be >= 0 and "
                                 "<= 1"),
    ("algo.quantiles=1", "algo.quantiles=1 is out of range: must be 0 (a scalar Q) or >= 2"),
    ("algo.drop_quantiles=2", "algo.drop_quantiles=2 is out of range: must be < "
                              "algo.quantiles=0 (a distributional critic keeps at least one "
                              "quantile)"),
    ("algo.sale=true algo.n_step=3", "algo.sale=true needs algo.n_step=1 (its encoder learns "
                                     "one-step dynamics); got n_step=3"),
    ("algo.sale=true algo.crossq=true algo.critic_layer_norm=false",
     "algo.sale=true does not combine with algo.crossq=true: set one of them"),
    ("algo.sale_dim=0", "algo.sale_dim=0 is out of range: must be >= 1"),
    ("algo.num_critics=3 algo.target_critics=4",
     "algo.target_critics=4 is out of range: must be <= the 3 critic(s) learned"),
    ("algo.target_critics=3", "algo.target_critics=3 is out of range: must be <= the 2 "
                              "critic(s) learned"),
    ("algo.num_critics=3 algo.target_critics=2 algo.quantiles=5",
     "algo.target_critics=2 does not combine with algo.quantiles or algo.crossq"),
    ("algo.actor_q=max", "algo.actor_q='max' is not allowed"),
    ("algo.eval_actor=best", "algo.eval_actor='best' is not allowed"),
    ("algo.eval_actor=target algo.crossq=true algo.critic_layer_norm=false",
     "algo.eval_actor=target needs the target actor, and algo.crossq=true has no target "
     "networks: set algo.eval_actor=online"),
    ("algo.value_bins=1", "algo.value_bins=1 is out of range: must be 0 (a scalar Q) or >= 2"),
    ("algo.value_bins=51 algo.value_min=-50",
     "algo.value_bins=51 needs algo.value_min and algo.value_max: the range of Q its bins "
     "cover"),
    ("algo.value_bins=51 algo.value_min=0 algo.value_max=-50",
     "algo.value_min=0.0 is out of range: must be < algo.value_max=-50.0"),
    ("algo.value_bins=51 algo.value_min=-50 algo.value_max=0 algo.quantiles=25",
     "algo.value_bins=51 does not combine with algo.quantiles=25: set one of them"),
    ("algo.value_bins=51 algo.value_min=-50 algo.value_max=0 algo.crossq=true "
     "algo.critic_layer_norm=false",
     "algo.value_bins=51 does not combine with algo.crossq=true: set one of them"),
])
def test_ddpg_ranges(override, message):
    with pytest.raises(ConfigError) as err:
        prepare(compose(["algo=ddpg", "env=pusher", *override.split()]))
    assert message in str(err.value)


def test_quantiles_and_crossq_do_not_combine():
    with pytest.raises(ConfigError, match="algo.quantiles=25 does not combine with "
                                          "algo.crossq=true: set one of them"):
        prepare(compose(["algo=ddpg", "env=pusher", "algo.quantiles=25", "algo.crossq=true",
                         "algo.critic_layer_norm=false"]))


def test_observation_normalizer_tracks_running_mean_and_std():
    from rl_runner.networks import ObsNormalizer

    norm = ObsNormalizer(2, enabled=True)
    data = np.random.default_rng(0).normal([3.0, -1.0], [2.0, 0.5], size=(3000, 2))
    for chunk in np.split(data.astype(np.float32), 30):  # batches, as vector steps arrive
        norm.update(tf.constant(chunk))
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(axis=0), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(norm.var.numpy(), data.var(axis=0), rtol=1e-3)
    z = norm(tf.constant(data[:5], tf.float32)).numpy()
    np.testing.assert_allclose(z, (data[:5] - data.mean(0)) / data.std(0), rtol=1e-2, atol=1e-3)
    off = ObsNormalizer(2, enabled=False)
    off.update(tf.constant(data[:10], tf.float32))
    np.testing.assert_array_equal(off(tf.constant([[5.0, 6.0]])), [[5.0, 6.0]])


@pytest.mark.full
def test_ddpg_learns_pendulum(tmp_path):
    metrics = train_in_process(["algo=ddpg", "env=gym", "env.id=Pendulum-v1",
                                "total_env_steps=12000", "algo.learning_starts=1000",
                                "eval.every_env_steps=2000", "eval.episodes=10"], tmp_path)
    assert metrics.best_eval_return > -250  # random policy: about -1200
