"""The training loop, once for every algorithm (the math lives in the subclasses).

A trainer subclass implements ``iteration`` (collect some env steps, update, return how many
env steps it took) and ``act_greedy`` (the deterministic policy for evaluation). This class
owns everything else: the env-step budget, evaluation schedule, early stopping, TensorBoard,
the progress bar and ``metrics.json``.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from rl_runner import summaries
from rl_runner.config import Config
from rl_runner.envs import EnvSpec, make_vector_env
from rl_runner.evaluate import Evaluator

EVAL_SEED_OFFSET = 10_000  # eval envs never share reset seeds with training envs


@dataclass
class RunMetrics:
    """What a finished run reports (``metrics.json``)."""

    final_eval_return: float
    final_eval_return_std: float
    best_eval_return: float
    env_steps: int
    episodes: int
    updates: int
    wall_seconds: float
    solved: bool
    stop_at_return: float | None
    env_steps_to_solve: int | None
    episodes_to_solve: int | None
    wall_seconds_to_solve: float | None


class Trainer:
    """Owns the loop; subclasses own networks, losses and collection."""

    def __init__(self, cfg: Config, spec: EnvSpec, run_dir: str | Path):
        self.cfg = cfg
        self.spec = spec
        self.run_dir = Path(run_dir)
        self.envs = make_vector_env(cfg.env, cfg.num_envs, cfg.seed)
        self.obs, _ = self.envs.reset(seed=cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.evaluator = Evaluator(cfg.env, cfg.eval.episodes, cfg.seed + EVAL_SEED_OFFSET)
        self.tb = summaries.Summaries(self.run_dir)
        self.env_steps = 0
        self.episodes = 0
        self.updates = 0
        threshold = cfg.stop_at_return
        self.threshold = spec.reward_threshold if threshold is None else threshold

    # -- to implement ------------------------------------------------------------------------
    def iteration(self) -> int:
        """Collect env steps and update; return the number of env steps taken."""
        raise NotImplementedError

    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions for a batch of observations, valid for the env."""
        raise NotImplementedError

    # -- shared helpers for subclasses --------------------------------------------------------
    def record_episodes(self, infos: dict, step: int) -> None:
        """Log the training episodes that ended in this vector step."""
        if "_episode" not in infos:
            return
        ended = np.flatnonzero(infos["_episode"])
        for i in ended:
            self.tb.scalars(step, {summaries.EPISODIC_RETURN: infos["episode"]["r"][i],
                                   summaries.EPISODIC_LENGTH: infos["episode"]["l"][i]})
        self.episodes += len(ended)

    # -- the loop ----------------------------------------------------------------------------
    def train(self) -> RunMetrics:
        cfg = self.cfg
        self.tb.hparams(summaries.flatten(cfg), run_name=str(self.run_dir))
        start = time.perf_counter()
        every = cfg.eval.every_env_steps
        next_eval = every
        best = -np.inf
        last = None
        solved_at = None
        clock, clock_steps, clock_updates = start, 0, 0
        bar = tqdm(total=cfg.total_env_steps, unit="step", disable=not cfg.progress,
                   dynamic_ncols=True, mininterval=0.5, desc=f"{cfg.algo.name} {self.spec.id}")
        try:
            while self.env_steps < cfg.total_env_steps:
                taken = self.iteration()
                self.env_steps += taken
                bar.update(taken)
                now = time.perf_counter()
                if now - clock >= 1.0:
                    self.tb.scalars(self.env_steps, {
                        summaries.SPS: (self.env_steps - clock_steps) / (now - clock),
                        summaries.UPDATES_PER_S: (self.updates - clock_updates) / (now - clock)})
                    clock, clock_steps, clock_updates = now, self.env_steps, self.updates
                if self.env_steps >= next_eval or self.env_steps >= cfg.total_env_steps:
                    while next_eval <= self.env_steps:
                        next_eval += every
                    last = self._evaluate()
                    best = max(best, last.mean)
                    bar.set_postfix(eval=f"{last.mean:.1f}", best=f"{best:.1f}")
                    if self._is_solved(last.mean) and solved_at is None:
                        solved_at = (self.env_steps, self.episodes, now - start)
                        if cfg.early_stop:
                            break
        finally:
            bar.close()
            self.tb.flush()
        wall = time.perf_counter() - start
        metrics = RunMetrics(
            final_eval_return=last.mean, final_eval_return_std=last.std,
            best_eval_return=float(best), env_steps=self.env_steps, episodes=self.episodes,
            updates=self.updates, wall_seconds=wall, solved=solved_at is not None,
            stop_at_return=self.threshold,
            env_steps_to_solve=solved_at[0] if solved_at else None,
            episodes_to_solve=solved_at[1] if solved_at else None,
            wall_seconds_to_solve=solved_at[2] if solved_at else None,
        )
        (self.run_dir / "metrics.json").write_text(json.dumps(asdict(metrics), indent=2) + "\n")
        return metrics

    def _is_solved(self, eval_return: float) -> bool:
        return self.threshold is not None and eval_return >= self.threshold

    def _evaluate(self):
        result = self.evaluator(self.act_greedy)
        self.tb.scalars(self.env_steps, {summaries.EVAL_RETURN: result.mean,
                                         summaries.EVAL_RETURN_STD: result.std})
        return result

    def close(self) -> None:
        self.envs.close()
        self.evaluator.close()
        self.tb.close()
