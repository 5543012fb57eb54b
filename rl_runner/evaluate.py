"""Greedy evaluation on a separate vector env: one episode per sub-env, fixed reset seeds, so
successive evaluations of a run compare policies on the same start states."""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from rl_runner.config import EnvConfig
from rl_runner.envs import make_vector_env


class EvalResult(NamedTuple):
    mean: float
    std: float
    returns: np.ndarray
    lengths: np.ndarray


class Evaluator:
    """Runs ``episodes`` greedy episodes in parallel sub-envs and reports their returns."""

    def __init__(self, env_cfg: EnvConfig, episodes: int, seed: int):
        self.env = make_vector_env(env_cfg, episodes, seed)
        self.episodes = episodes
        self.seed = seed

    def __call__(self, act: Callable[[np.ndarray], np.ndarray]) -> EvalResult:
        obs, _ = self.env.reset(seed=self.seed)
        returns = np.zeros(self.episodes)
        lengths = np.zeros(self.episodes, dtype=np.int64)
        finished = np.zeros(self.episodes, dtype=bool)
        while not finished.all():
            obs, _, terminated, truncated, infos = self.env.step(act(obs))
            done = (terminated | truncated) & ~finished
            if done.any():
                returns[done] = infos["episode"]["r"][done]
                lengths[done] = infos["episode"]["l"][done]
                finished |= done
        return EvalResult(float(returns.mean()), float(returns.std()), returns, lengths)

    def close(self) -> None:
        self.env.close()

