"""The DDPG/TD3 trainer: one vector env step per iteration, one compiled call per step
(``step.FusedStep``); the loop, evaluation and checkpoints are ``algos/base.py``'s."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from rl_runner.algos.base import Trainer
from rl_runner.algos.ddpg.agent import DDPGAgent, DeterministicPolicy, nonfinite_error, to_bounds
from rl_runner.algos.ddpg.exploration import Exploration
from rl_runner.algos.ddpg.step import FusedStep
from rl_runner.config import Config, DDPGConfig
from rl_runner.console import say
from rl_runner.envs import EnvSpec, final_observations
from rl_runner.memory import bytes_needed

LOG_EVERY_ENV_STEPS = 1000  # losses are fetched from the device this often


class DDPGTrainer(Trainer):
    def __init__(self, cfg: Config, spec: EnvSpec, run_dir):
        self.algo: DDPGConfig = cfg.algo
        super().__init__(cfg, spec, run_dir)
        self.agent = DDPGAgent(spec, self.algo, cfg.seed)
        self.fused = FusedStep(self.agent, spec.obs_dim, self.algo.jit_compile)
        self.policy = self.agent.eval_policy
        self.noise = Exploration(self.algo.noise, cfg.num_envs, spec.num_actions, self.rng,
                                 spec.max_episode_steps)
        self.low, self.high = spec.action_low, spec.action_high
        self.policy_out = self.fused.act(tf.constant(self.obs, tf.float32)).numpy()
        self.owed_updates = 0.0
        self.next_log = LOG_EVERY_ENV_STEPS

    @staticmethod
    def build_policy(spec: EnvSpec, algo: DDPGConfig) -> DeterministicPolicy:
        """The policy alone, to load from a checkpoint (rl-eval)."""
        return DeterministicPolicy(spec, algo)

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        return to_bounds(actions, self.low, self.high)

    def iteration(self) -> int:
        """Act (uniform at random before ``learning_starts``, then the actor plus noise), step
        the envs, and hand the transitions to one compiled store + update + act call."""
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
                                       terminated[:, None], next_obs], axis=1, dtype=np.float32)
        policy_out, metrics = self.fused.step(rows_and_obs, num_updates)
        flag = metrics.nonfinite.numpy()
        if flag:
            raise nonfinite_error(flag)
        self.policy_out = policy_out.numpy()
        self.obs = next_obs
        self.updates += num_updates
        if num_updates and steps_after >= self.next_log:
            self.next_log = steps_after + LOG_EVERY_ENV_STEPS
            self.tb.scalars(steps_after, {
                "losses/qf_loss": metrics.qf_loss, "losses/qf_values": metrics.qf_values,
                "losses/actor_loss": metrics.actor_loss,
                "charts/exploration_noise": self.noise.std(self.env_steps)})
        return n

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint_parts(self) -> dict:
        c = self.cfg.checkpoint
        size_mb = bytes_needed(self.algo.buffer_size, self.spec.obs_dim,
                               self.spec.num_actions) / 2**20
        include = c.replay and size_mb <= c.replay_max_mb
        if not include:
            why = ("checkpoint.replay=false" if not c.replay else
                   f"{size_mb:.0f} MiB > checkpoint.replay_max_mb={c.replay_max_mb}")
            say(f"the replay buffer is not checkpointed ({why}): a resumed run starts with an "
                "empty buffer")
        return self.agent.checkpoint_parts(include)

    def extra_state(self) -> dict:
        return {"noise": self.noise.state_dict(), "owed_updates": self.owed_updates,
                "next_log": self.next_log, "policy_out": self.policy_out.tolist()}

    def load_extra_state(self, state: dict) -> None:
        self.noise.load_state_dict(state["noise"])
        self.owed_updates = state["owed_updates"]
        self.next_log = state["next_log"]
        self.policy_out = np.asarray(state["policy_out"], np.float32)
