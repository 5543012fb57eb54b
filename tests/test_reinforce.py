"""REINFORCE math on hand-computed values, the numpy acting copy, batching and retracing."""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from conftest import compose
from rl_runner.algos.reinforce import Policy, ReinforceTrainer, policy_loss, reward_to_go
from rl_runner.envs import EnvSpec
from rl_runner.job import prepare
from rl_runner.networks import NumpyMLP


def reinforce_config(*overrides: str):
    """The typed algo config rl-train composes (algo=reinforce, no preset), with overrides."""
    return OmegaConf.to_object(compose(["~preset", *overrides]).algo)


DISCRETE = EnvSpec("test", 3, True, 2, np.empty(0), np.empty(0), None, None)
BOX = EnvSpec("test", 3, False, 2, -np.ones(2, np.float32), np.ones(2, np.float32), None, None)


def fixed_policy(spec: EnvSpec, out_bias, log_std=None) -> Policy:
    """A policy whose output is `out_bias` for every observation (all kernels zero)."""
    policy = Policy(spec, reinforce_config("algo.hidden_sizes=[4]"))
    weights = [np.zeros_like(w) for w in policy.net.get_weights()]
    weights[-1] = np.asarray(out_bias, np.float32)
    policy.net.set_weights(weights)
    if log_std is not None:
        policy.log_std.assign(np.asarray(log_std, np.float32))
    return policy


def test_reward_to_go_by_hand():
    np.testing.assert_allclose(reward_to_go(np.array([1.0, 1.0, 1.0]), 0.5), [1.75, 1.5, 1.0])
    np.testing.assert_allclose(reward_to_go(np.array([0.0, 0.0, 2.0]), 0.9), [1.62, 1.8, 2.0])
    np.testing.assert_allclose(reward_to_go(np.array([1.0, 2.0]), 1.0), [3.0, 2.0])


def test_categorical_log_prob_and_entropy_by_hand():
    policy = fixed_policy(DISCRETE, [0.0, math.log(3.0)])  # probabilities 1/4, 3/4
    log_prob, entropy = policy.log_prob_entropy(tf.zeros([2, 3]), tf.constant([0, 1]))
    np.testing.assert_allclose(log_prob, [math.log(0.25), math.log(0.75)], rtol=1e-6)
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    np.testing.assert_allclose(entropy, [h, h], rtol=1e-6)


def test_gaussian_log_prob_and_entropy_by_hand():
    policy = fixed_policy(BOX, [0.5, -0.5], log_std=[math.log(2.0), 0.0])
    log_prob, entropy = policy.log_prob_entropy(tf.zeros([1, 3]), tf.constant([[1.5, 0.5]]))
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    expected = (-0.5 * 0.25 - math.log(2.0) - half_log_2pi) + (-0.5 * 1.0 - half_log_2pi)
    np.testing.assert_allclose(log_prob, [expected], rtol=1e-6)
    np.testing.assert_allclose(entropy, [math.log(2.0) + 2 * (half_log_2pi + 0.5)], rtol=1e-6)


def test_policy_loss_by_hand():
    log_prob = tf.constant([math.log(0.25), math.log(0.75)])
    returns = tf.constant([1.0, 2.0])
    entropy = tf.constant([0.5, 0.7])
    raw = policy_loss(log_prob, returns, entropy, normalize_returns=False, entropy_coef=0.0)
    np.testing.assert_allclose(raw.policy_loss,
                               -(math.log(0.25) * 1 + math.log(0.75) * 2) / 2, rtol=1e-6)
    # standardised returns [1, 2] -> [-1, 1]; entropy bonus 0.1 * mean(0.5, 0.7)
    norm = policy_loss(log_prob, returns, entropy, normalize_returns=True, entropy_coef=0.1)
    np.testing.assert_allclose(norm.policy_loss,
                               -(-math.log(0.25) + math.log(0.75)) / 2 - 0.1 * 0.6, rtol=1e-5)
    np.testing.assert_allclose(norm.entropy, 0.6, rtol=1e-6)


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu", "silu"])
def test_numpy_copy_matches_keras(activation):
    policy = Policy(DISCRETE, reinforce_config("algo.hidden_sizes=[16,8]",
                                              f"algo.activation={activation}"))
    policy.net.set_weights([w + np.random.default_rng(0).normal(0, 0.5, w.shape)
                            for w in policy.net.get_weights()])
    obs = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(NumpyMLP(policy.net, activation)(obs), policy.net(obs),
                               rtol=1e-4, atol=1e-4)


@pytest.fixture
def cartpole_trainer(tmp_path):
    typed, spec = prepare(compose(["progress=false", "num_envs=3", "algo.episodes_per_update=4"]))
    trainer = ReinforceTrainer(typed, spec, tmp_path)
    yield trainer
    trainer.close()


def test_one_update_graph_serves_every_batch_length(cartpole_trainer):
    lengths = set()
    for _ in range(4):  # batches of different lengths, through the one concrete function
        steps = cartpole_trainer.iteration()
        cartpole_trainer.env_steps += steps
        lengths.add(steps)
    assert len(lengths) > 1
    obs_spec = cartpole_trainer.update.structured_input_signature[0][0]
    assert obs_spec.shape.as_list() == [None, 4]  # any length; never traced again


def test_batches_hold_only_complete_episodes(cartpole_trainer):
    batch, steps = cartpole_trainer.collect()
    # CartPole gives reward 1 per step, so each episode's first return (gamma 0.99) is
    # determined by its length, and a batch is complete episodes laid end to end.
    ends = np.flatnonzero(np.isclose(batch.returns, 1.0))
    assert len(ends) >= 4 and ends[-1] == len(batch.returns) - 1
    assert steps >= len(batch.returns)
    assert batch.obs.shape == (len(batch.returns), 4) and batch.actions.dtype == np.int32


def test_episode_segmentation_by_hand(cartpole_trainer):
    # two envs, four steps: env 0 ends at t=1 and t=3, env 1 ends at t=2 (t=3 is in flight)
    done = [np.array([False, False]), np.array([True, False]), np.array([False, True]),
            np.array([True, False])]
    obs = [np.full((2, 4), t, np.float32) for t in range(4)]
    acts = [np.array([t % 2, 1]) for t in range(4)]
    rew = [np.ones(2) for _ in range(4)]
    batch = cartpole_trainer._episodes(obs, acts, rew, done)
    np.testing.assert_allclose(batch.obs[:, 0], [0, 1, 2, 3, 0, 1, 2])
    np.testing.assert_allclose(batch.returns, [1.99, 1, 1.99, 1, 2.9701, 1.99, 1], rtol=1e-6)


class RandomLength(gym.Env):
    """Reward 1 per step; each episode lasts 1 or 50 steps, at random (mean 25.5)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.length = 0, int(self.np_random.choice([1, 50]))
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), 1.0, self.t >= self.length, False, {}


def test_batches_with_several_envs_are_not_biased_to_short_episodes(tmp_path):
    gym.register("RandomLength-v0", entry_point=RandomLength)
    typed, spec = prepare(compose(["env=gym", "env.id=RandomLength-v0", "num_envs=4",
                                   "algo.episodes_per_update=4", "algo.gamma=1",
                                   "progress=false"]))
    trainer = ReinforceTrainer(typed, spec, tmp_path)
    lengths = []
    for _ in range(150):
        batch, _ = trainer.collect()
        starts = np.r_[0, np.flatnonzero(batch.returns == 1.0)[:-1] + 1]
        lengths += batch.returns[starts].tolist()  # gamma 1: an episode's first return
    trainer.close()
    assert len(lengths) == 150 * 4  # one episode from each of the 4 envs per batch
    # Stopping at the 4th episode end anywhere keeps more 1-step episodes: a mean of 14.8.
    assert np.mean(lengths) == pytest.approx(25.5, abs=3.0)
