"""Exploration noise in the actor's [-1, 1] action space, with a linearly decaying std:
white Gaussian noise, or pink noise (power spectrum 1/f, from ``pink-noise-rl``, the paper
authors' package; Eberhard et al. 2023) drawn as one unit-variance sequence per episode and
env, so that ``std_start``/``std_end`` mean the same for both."""
from __future__ import annotations

import numpy as np

from rl_runner.config import NoiseConfig


class Exploration:
    def __init__(self, cfg: NoiseConfig, num_envs: int, act_dim: int, rng: np.random.Generator,
                 episode_steps: int | None = None):
        self.cfg, self.rng = cfg, rng
        self.shape = (num_envs, act_dim)
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
        if self.pink:
            return std * np.stack([process.sample() for process in self.pink])
        return std * self.rng.standard_normal(self.shape)

    def reset(self, done: np.ndarray) -> None:
        """A new pink sequence for the envs whose episode ended (white noise has no state)."""
        for i in np.flatnonzero(done) if self.pink else ():
            self.pink[i].reset()

    def state_dict(self) -> dict:
        """What exact resume needs (JSON-friendly)."""
        return {"pink": [[p.buffer.tolist(), p.idx] for p in self.pink]}

    def load_state_dict(self, state: dict) -> None:
        for process, (buffer, idx) in zip(self.pink, state["pink"]):
            process.buffer, process.idx = np.asarray(buffer), idx
