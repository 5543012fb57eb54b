"""DDPG/TD3 math on hand-computed values, the replay ring buffer, and short real runs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from conftest import compose, read_scalars, train_in_process
from rl_runner.algos.ddpg import (
    DDPGAgent,
    DDPGTrainer,
    Exploration,
    FusedStep,
    direct_call,
    nonfinite_error,
    soft_update,
)
from rl_runner.api import as_overrides
from rl_runner.config import ConfigError, DDPGConfig
from rl_runner.envs import EnvSpec
from rl_runner.job import prepare
from rl_runner.memory import check_fits
from rl_runner.replay import ReplayBuffer, Transitions

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


def ddpg_config(algo: str = "ddpg", **keys) -> DDPGConfig:
    """The typed ``algo`` config rl-train composes for ``algo=<algo>`` (no preset), small
    networks and buffer, and ``keys`` (algo keys) on top."""
    cfg = compose([f"algo={algo}", "env=pusher", "~preset", "algo.hidden_sizes=[8]",
                   "algo.buffer_size=64", "algo.batch_size=4",
                   *as_overrides({"algo": keys}, {})])
    return OmegaConf.to_object(cfg.algo)


def agent(**keys) -> DDPGAgent:
    return DDPGAgent(SPEC, ddpg_config(**keys), seed=0)


_FUSED: dict[int, FusedStep] = {}


def train(a: DDPGAgent, num_updates: int):
    """``num_updates`` updates of ``a`` through its compiled graph (built once per agent)."""
    fused = _FUSED.get(id(a))
    if fused is None or fused.agent is not a:
        fused = _FUSED[id(a)] = FusedStep(a, SPEC.obs_dim, a.cfg.jit_compile)
    return fused.train(num_updates)


def test_critic_loss_by_hand_bootstraps_through_truncation_only():
    a = agent(gamma=0.9)
    constant(a.critics.online[0], 2.0)
    constant(a.critics.targets[0], 5.0)
    # targets: 1 + 0.9 * 5 = 5.5 (not terminated: truncation still bootstraps), and 1 (terminal)
    target = a.td_target(batch([1.0, 1.0], [0.0, 1.0]))
    np.testing.assert_allclose(target, [5.5, 1.0], rtol=1e-6)
    loss, q = a.critic_loss(batch([1.0, 1.0], [0.0, 1.0]))
    np.testing.assert_allclose(loss, ((2 - 5.5) ** 2 + (2 - 1) ** 2) / 2, rtol=1e-6)
    np.testing.assert_allclose(q, 2.0, rtol=1e-6)


def test_twin_critics_bootstrap_from_the_minimum_and_sum_losses():
    a = agent(gamma=0.5, twin_critics=True)
    constant(a.critics.online[0], 1.0)
    constant(a.critics.online[1], 3.0)
    constant(a.critics.targets[0], 4.0)
    constant(a.critics.targets[1], -2.0)
    b = batch([1.0], [0.0])
    np.testing.assert_allclose(a.td_target(b), [1 + 0.5 * -2.0])  # min(4, -2)
    loss, _ = a.critic_loss(b)
    np.testing.assert_allclose(loss, (1 - 0.0) ** 2 + (3 - 0.0) ** 2, rtol=1e-6)
    np.testing.assert_allclose(a.actor_loss(tf.ones([5, 3])), -1.0, rtol=1e-6)  # TD3: Q_1


def test_actor_q_mean_climbs_the_mean_of_the_twin_critics():
    a = agent(twin_critics=True, actor_q="mean")
    constant(a.critics.online[0], 1.0)
    constant(a.critics.online[1], 3.0)
    np.testing.assert_allclose(a.actor_loss(tf.ones([5, 3])), -2.0, rtol=1e-6)
    # Turning a preset's twin critics off leaves its actor_q=mean: one critic's Q
    one = agent(actor_q="mean")
    constant(one.critics.online[0], 1.5)
    np.testing.assert_allclose(one.actor_loss(tf.ones([5, 3])), -1.5, rtol=1e-6)


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
    constant(a.critics.online[0], 7.0)
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
    target_before = [w.copy() for w in a.critics.targets[0].get_weights()]
    train(a, 2)
    assert all(np.array_equal(x, y) for x, y in zip(actor_before, a.actor.get_weights()))
    assert all(np.array_equal(x, y) for x, y in zip(target_before,
                                                    a.critics.targets[0].get_weights()))
    train(a, 1)  # third critic update: actor and targets move
    assert not all(np.array_equal(x, y) for x, y in zip(actor_before, a.actor.get_weights()))
    assert not all(np.array_equal(x, y) for x, y in zip(target_before,
                                                        a.critics.targets[0].get_weights()))


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
    assert train(a, 1).nonfinite.numpy() == 0
    a.critics.online[0].trainable_variables[-1].assign([bias])  # output bias: Q, so the loss
    error = nonfinite_error(train(a, updates).nonfinite.numpy())
    assert (error.name, error.kind) == ("qf_loss", kind)


def test_nonfinite_flag_names_the_first_loss_or_gradient_and_keeps_it():
    a = agent()
    flag = tf.function(a.flag_nonfinite, jit_compile=True)
    flag("actor_loss", tf.constant(1.0), [tf.ones(3), tf.constant([2.0, math.inf])])
    flag("qf_loss", tf.constant(math.nan), [tf.ones(3)])  # later: does not overwrite
    error = nonfinite_error(a.nonfinite.numpy())
    assert (error.name, error.kind) == ("actor_loss_gradient", "Inf")


def test_feature_norm_and_critic_layer_norm_shape_the_networks_and_targets_track_them():
    a = agent(feature_norm=True, critic_layer_norm=True, tau=1.0)
    x = tf.random.normal([5, 3])
    for net, inputs in ((a.actor, x), (a.critics.online[0], tf.concat([x, tf.ones([5, 2])], 1))):
        for layer in net.layers[:-1]:  # everything up to the output layer
            inputs = layer(inputs)
        np.testing.assert_allclose(tf.norm(inputs, axis=1), 1.0, rtol=1e-5)
    kinds = {type(layer).__name__ for layer in a.critics.online[0].layers}
    assert "LayerNormalization" in kinds
    assert "LayerNormalization" not in {type(layer).__name__ for layer in a.actor.layers}
    a.replay.add(batch([1.0] * 8, [0.0] * 8))
    train(a, 1)
    online, target = a.critics.online[0].variables, a.critics.targets[0].variables
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
    assert all(units(c) == [16, 12, 1] for c in (*a.critics.online, *a.critics.targets))
    assert all(units(c) == [8, 1] for c in agent().critics.online)  # null: hidden_sizes


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


def test_the_agents_update_is_the_same_through_the_direct_and_the_public_call(monkeypatch):
    from rl_runner.algos.ddpg import step

    def trained(direct: bool):
        if not direct:
            monkeypatch.setattr(step, "DIRECT_CALL_VERIFIED", ())
        tf.keras.utils.set_random_seed(0)
        a = agent(twin_critics=True, policy_delay=2)
        a.replay.add(batch(list(np.linspace(-1, 1, 16)), [0.0] * 15 + [1.0]))
        fused = FusedStep(a, SPEC.obs_dim, None)
        metrics = [fused.train(n) for n in (1, 3, 6)]  # unrolled variants and the loop
        call = fused._calls["train", 1]
        monkeypatch.undo()
        return call, [float(m.qf_loss) for m in metrics], [v.numpy() for v in a.variables]

    direct_call_, direct_losses, direct_weights = trained(direct=True)
    public_call, public_losses, public_weights = trained(direct=False)
    if tf.__version__.startswith(step.DIRECT_CALL_VERIFIED):  # the private path was taken
        assert type(direct_call_).__name__ == "function"
    assert type(public_call).__name__ == "ConcreteFunction"
    assert direct_losses == public_losses
    assert all(np.array_equal(x, y) for x, y in zip(direct_weights, public_weights))


def test_td3_is_ddpg_with_the_papers_three_changes():
    ddpg, td3 = ddpg_config(), ddpg_config("td3")
    assert (td3.name, td3.twin_critics, td3.policy_delay, td3.target_policy_noise,
            td3.target_noise_clip, td3.actor_q) == ("td3", True, 2, 0.2, 0.5, "first")
    changed = {k for k in vars(ddpg) if getattr(ddpg, k) != getattr(td3, k)}
    assert changed == {"name", "twin_critics", "policy_delay", "target_policy_noise"}


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


def test_a_checkpoint_holds_the_filled_rows_and_restores_them_and_older_whole_buffers(
        tmp_path):
    """A 1,000-row buffer with 3 rows written saves 3 rows (it saved 1,000: 220 MB for
    Pusher's 1M buffer at any step); a full one saves all, in ring order; a checkpoint written
    before, holding the whole variable under the same key, restores too."""
    from rl_runner.replay import FilledRows

    def buffer(rows: int) -> ReplayBuffer:
        buf = ReplayBuffer(capacity=1000, obs_dim=2, act_dim=1, seed=0)
        if rows:
            buf.add_rows(tf.reshape(tf.range(rows * buf.width, dtype=tf.float32),
                                    [rows, buf.width]))
        return buf

    def parts(buf: ReplayBuffer, data) -> dict:
        return {"replay_data": data, "replay_ptr": buf.ptr, "replay_size": buf.size}

    for rows, saved in ((3, 3), (1000, 1000), (1003, 1000)):  # 1003: wrapped, ptr 3
        buf = buffer(rows)
        path = tf.train.Checkpoint(**parts(buf, FilledRows(buf))).save(tmp_path / f"r{rows}")
        shapes = dict(tf.train.list_variables(path))
        assert shapes["replay_data/.ATTRIBUTES/VARIABLE_VALUE"] == [saved, buf.width]
        again = buffer(0)
        tf.train.Checkpoint(**parts(again, FilledRows(again))).restore(path) \
            .assert_existing_objects_matched()
        for variable in ("data", "ptr", "size"):
            np.testing.assert_array_equal(getattr(again, variable).numpy(),
                                          getattr(buf, variable).numpy())
    old = buffer(3)
    path = tf.train.Checkpoint(**parts(old, old.data)).save(tmp_path / "whole")
    assert dict(tf.train.list_variables(path))["replay_data/.ATTRIBUTES/VARIABLE_VALUE"] == \
        [1000, old.width]
    again = buffer(0)
    tf.train.Checkpoint(**parts(again, FilledRows(again))).restore(path) \
        .assert_existing_objects_matched()
    np.testing.assert_array_equal(again.data.numpy(), old.data.numpy())
    assert int(again.size) == 3 and int(again.ptr) == 3
    small = ReplayBuffer(capacity=2, obs_dim=2, act_dim=1, seed=0)
    with pytest.raises(ValueError, match=r"its replay buffer \(3 rows of 7\) does not fit this "
                                         r"run's \(2 of 7\)"):
        tf.train.Checkpoint(**parts(small, FilledRows(small))).restore(
            tmp_path / "r3-1")


def test_buffer_too_big_for_memory_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"algo.buffer_size=1000000000 needs 204.9 GiB for "
                                          r"Pusher-v5 transitions but only 16.0 GiB"):
        check_fits(1_000_000_000, 23, 7, "Pusher-v5", available=16 * 2**30)
    check_fits(1_000_000, 23, 7, "Pusher-v5", available=16 * 2**30)


def noise_config(**keys):
    return ddpg_config(noise=keys).noise


def test_exploration_schedule_and_white_noise_std():
    cfg = noise_config(type="gaussian", std_start=0.3, std_end=0.1, decay_env_steps=100)
    noise = Exploration(cfg, 1, 2, np.random.default_rng(0))
    assert [noise.std(s) for s in (0, 50, 100, 1000)] == pytest.approx([0.3, 0.2, 0.1, 0.1])
    xs = np.array([noise(0) for _ in range(5000)])
    assert xs.shape == (5000, 1, 2) and xs.std() == pytest.approx(0.3, rel=0.05)


def test_pink_noise_has_the_scheduled_std_is_correlated_and_restarts_per_episode():
    cfg = noise_config(type="pink", std_start=0.2)
    noise = Exploration(cfg, 2, 3, np.random.default_rng(0), episode_steps=100)
    xs = np.array([noise(0) for _ in range(100)])         # one episode: [100, envs, actions]
    assert xs.std() == pytest.approx(0.2, rel=0.15)        # unit-variance sequences x std
    series = xs.reshape(100, -1).T
    lag1 = np.mean([np.corrcoef(x[:-1], x[1:])[0, 1] for x in series])
    white = Exploration(noise_config(std_start=0.2), 2, 3, np.random.default_rng(0))
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


@pytest.mark.parametrize("algo", ["ddpg", "td3"])
def test_fused_step_does_not_retrace(tmp_path, algo):
    typed, spec = prepare(compose([f"algo={algo}", "env=pusher", "algo.buffer_size=5000",
                                   "algo.learning_starts=20", "algo.batch_size=16",
                                   "algo.hidden_sizes=[32,32]", "num_envs=2",
                                   "algo.updates_per_step=1", "progress=false"]))
    trainer = DDPGTrainer(typed, spec, tmp_path)
    for _ in range(40):  # random phase (0 updates), then 2 updates per call
        trainer.env_steps += trainer.iteration()
    assert trainer.updates == 2 * (40 - 10 + 1)
    trainer.act_greedy(np.zeros((5, spec.obs_dim)))  # another batch size
    # One step graph without updates (the random phase), one with a loop of them.
    assert {name: fn.experimental_get_tracing_count()
            for name, fn in trainer.fused.compiled.items()} == {"step": 2, "train": 0}
    trainer.close()


@pytest.mark.slow
def test_short_pusher_v5_run_writes_eval_points_and_losses(tmp_path):
    metrics = train_in_process(["algo=td3", "env=pusher", "total_env_steps=1200",
                                "algo.learning_starts=200", "algo.buffer_size=5000",
                                "algo.batch_size=64", "algo.hidden_sizes=[64,64]",
                                "eval.every_env_steps=600", "eval.episodes=2"], tmp_path)
    scalars = read_scalars(tmp_path)
    assert [s for s, _ in scalars["eval/episodic_return"]] == [600, 1200]
    assert scalars["eval/episodic_return"][-1][1] == pytest.approx(metrics.final_eval_return)
    for tag in ("losses/qf_loss", "losses/qf_values", "losses/actor_loss",
                "charts/exploration_noise", "charts/episodic_return"):
        assert scalars[tag] and all(math.isfinite(v) for _, v in scalars[tag]), tag
    assert metrics.updates == 1200 - 200 + 1 and metrics.episodes == 12
    # td3_pusher's pink noise decays from 0.2 towards 0.05 over 200k env steps.
    assert [v for _, v in scalars["charts/exploration_noise"]] == pytest.approx(
        [0.2 - 0.15 * s / 200_000 for s, _ in scalars["charts/exploration_noise"]], rel=1e-2)


def test_ddpg_on_cartpole_stops_before_building_anything():
    with pytest.raises(ConfigError, match="ddpg needs a continuous \\(Box\\) action space; "
                                          "CartPole-v1 has Discrete\\(2\\) - use algo=reinforce"):
        prepare(compose(["algo=ddpg", "env=cartpole"]))


def test_pusher_v4_without_the_legacy_extra_says_what_to_install(recwarn):
    import mujoco

    if int(mujoco.__version__.split(".")[0]) < 3:
        pytest.skip("legacy mujoco installed: Pusher-v4 works here (test_legacy_mujoco.py)")
    with pytest.raises(ConfigError) as err:
        prepare(compose(["algo=ddpg", "env=pusher_v4"]))
    assert str(err.value) == (
        f"env.id='Pusher-v4' needs mujoco<3 (installed: mujoco {mujoco.__version__}): pip "
        "install -e '.[legacy-mujoco]' in its own venv, or use env=pusher (Pusher-v5)")
    # The one line only: gymnasium's "Pusher-v4 is out of date" is not shown before it.
    assert not [w for w in recwarn if "Pusher-v4" in str(w.message)]


@pytest.mark.parametrize("override, message", [
    ("algo.tau=0", "algo.tau=0 is out of range: must be > 0 and <= 1"),
    ("algo.batch_size=0", "algo.batch_size=0 is out of range: must be >= 1"),
    ("algo.buffer_size=100", "algo.buffer_size=100 is out of range: must be >= "
                             "algo.batch_size=256"),
    ("algo.noise.type=ou", "algo.noise.type='ou' is not allowed: choose one of gaussian, pink"),
    ("algo.policy_delay=0", "algo.policy_delay=0 is out of range: must be >= 1"),
    ("algo.updates_per_step=0", "algo.updates_per_step=0 is out of range: must be > 0"),
    ("algo.critic_hidden_sizes=[64,0]", "algo.critic_hidden_sizes=[64, 0] is out of range: "
                                        "every item must be >= 1"),
    ("algo.actor_q=max", "algo.actor_q='max' is not allowed"),
    ("algo.eval_actor=best", "algo.eval_actor='best' is not allowed"),
    ("algo.sale=true", "algo.sale is not a key of algo=ddpg"),  # removed variants are gone
])
def test_ddpg_ranges(override, message):
    import rl_runner

    with pytest.raises(ConfigError) as err:
        rl_runner.compose(["algo=ddpg", "env=pusher", *override.split()])
    assert message in str(err.value)


@pytest.mark.full
def test_ddpg_learns_pendulum(tmp_path):
    metrics = train_in_process(["algo=ddpg", "env=gym", "env.id=Pendulum-v1",
                                "total_env_steps=12000", "algo.learning_starts=1000",
                                "eval.every_env_steps=2000", "eval.episodes=10"], tmp_path)
    assert metrics.best_eval_return > -250  # random policy: about -1200
