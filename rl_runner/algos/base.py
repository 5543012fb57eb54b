"""The training loop, once for every algorithm (the math lives in the subclasses).

A trainer subclass sets ``self.policy`` (a ``tf.Module`` with ``greedy(obs)``: what evaluation
runs, the best policy and the exported SavedModel; ``build_policy`` makes a fresh one) and
implements ``iteration`` (collect some env steps, update, return how many env steps it took)
and what else a checkpoint holds (``checkpoint_parts``, ``extra_state``). This class owns the
rest: the env-step budget, the evaluation schedule and the held-out score at the end, early
stopping, TensorBoard, the progress bars, checkpoints and exact resume, stops on Ctrl-C/SIGTERM
(caught by ``signals.StopSignals``) and on NaN, ``metrics.json`` and the exported SavedModel.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from rl_runner import summaries
from rl_runner.checkpoint import JsonState, RunCheckpoints, export_policy
from rl_runner.config import Config, run_warnings
from rl_runner.envs import (
    EVAL_STATES,
    HELDOUT_STATES,
    TRAIN_STATES,
    EnvPosition,
    EnvSpec,
    make_vector_env,
    positions,
    restore_positions,
    start_seeds,
)
from rl_runner.errors import RunStopped
from rl_runner.evaluation import EvalResult, Evaluator, compiled_greedy
from rl_runner.metrics import HeldOut, RunMetrics
from rl_runner.metrics import write as write_metrics
from rl_runner.signals import StopSignals

POLICY_DIR = "policy"


class NonFinite(Exception):
    """A loss (``name``) or its gradient (``<loss>_gradient``) became ``kind``: NaN or Inf."""

    def __init__(self, name: str, kind: str):
        super().__init__(f"{name} became {kind}")
        self.name, self.kind = name, kind


def _after(step: int, scheduled: int, every: int) -> int:
    """The first point of the schedule ``scheduled + k * every`` past ``step``."""
    while scheduled <= step:
        scheduled += every
    return scheduled


class Trainer:
    """Owns the loop; subclasses own networks, losses and collection."""

    def __init__(self, cfg: Config, spec: EnvSpec, run_dir: str | Path):
        self.cfg = cfg
        self.spec = spec
        self.run_dir = Path(run_dir)
        self.envs = make_vector_env(cfg.env, cfg.num_envs, cfg.seed)
        self.obs, _ = self.envs.reset(seed=start_seeds(cfg.seed, TRAIN_STATES, cfg.num_envs))
        self.rng = np.random.default_rng(cfg.seed)
        self.evaluator = Evaluator(cfg.env,
                                   start_seeds(cfg.seed, EVAL_STATES, cfg.eval.episodes))
        self._tb: summaries.Summaries | None = None
        threshold = cfg.stop_at_return
        self.threshold = spec.reward_threshold if threshold is None else threshold
        # Loop state: everything here is checkpointed (``_state``).
        self.env_steps = 0
        self.episodes = 0
        self.updates = 0
        self.next_eval = cfg.eval.every_env_steps
        self.next_checkpoint = cfg.checkpoint.every_env_steps
        self.best = -np.inf
        self.last_eval: tuple[float, float] | None = None
        self.last_eval_step = -1
        self.solved_at: tuple[int, int, float] | None = None
        self.elapsed = 0.0
        self.episode_actions: list[list] = [[] for _ in range(cfg.num_envs)]
        self.last_checkpoint_step = -1
        self.policy: tf.Module  # set by the subclass
        self._greedy = None  # act_greedy's compiled policy, made on first use
        self._checkpoints: RunCheckpoints | None = None

    # -- to implement ------------------------------------------------------------------------
    def iteration(self) -> int:
        """Collect env steps and update; return the number of env steps taken."""
        raise NotImplementedError

    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions for a batch of observations, valid for the env: the policy's
        compiled ``greedy``, as rl-eval runs it (a trainer with a faster way overrides this)."""
        if self._greedy is None:
            self._greedy = self._numpy_policy(self.policy)
        return self._greedy(obs)

    @staticmethod
    def build_policy(spec: EnvSpec, algo) -> tf.Module:
        """A fresh policy module like ``self.policy``, to restore a checkpoint into."""
        raise NotImplementedError

    def checkpoint_parts(self) -> dict[str, Any]:
        """Trackables besides the policy that exact resume needs (optimizers, targets, ...)."""
        raise NotImplementedError

    def extra_state(self) -> dict:
        """JSON-able algorithm state outside TensorFlow (noise processes, ...)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def after_restore(self) -> None:
        """Called once a checkpoint is fully restored (e.g. to refresh copies of weights)."""

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

    def track_actions(self, env_actions: np.ndarray, done: np.ndarray) -> None:
        """Remember each sub-env's actions since its episode began (for exact resume); a
        trainer that can be checkpointed mid-episode calls this every vector step."""
        for i, acts in enumerate(self.episode_actions):
            if done[i]:
                acts.clear()
            else:  # the caller hands a fresh array every step: rows need no copy
                acts.append(env_actions[i])

    # -- checkpoint state --------------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "env_steps": self.env_steps, "episodes": self.episodes, "updates": self.updates,
            "next_eval": self.next_eval, "next_checkpoint": self.next_checkpoint,
            "best": None if self.best == -np.inf else self.best,
            "last_eval": self.last_eval, "last_eval_step": self.last_eval_step,
            "solved_at": self.solved_at, "elapsed": self.elapsed,
            "numpy_rng": self.rng.bit_generator.state,
            "envs": [p._asdict() for p in positions(self.envs, self.episode_actions)],
            "algo": self.extra_state(),
        }

    def _load_state(self, state: dict) -> None:
        for key in ("env_steps", "episodes", "updates", "next_eval", "next_checkpoint",
                    "last_eval_step", "elapsed"):
            setattr(self, key, state[key])
        self.best = -np.inf if state["best"] is None else state["best"]
        self.last_eval = tuple(state["last_eval"]) if state["last_eval"] else None
        self.solved_at = tuple(state["solved_at"]) if state["solved_at"] else None
        self.rng.bit_generator.state = state["numpy_rng"]
        saved = [EnvPosition(**p) for p in state["envs"]]
        self.obs = restore_positions(self.envs, saved)
        self.episode_actions = [[np.asarray(a, np.float32) for a in p.actions] for p in saved]
        self.load_extra_state(state["algo"])

    @property
    def checkpoints(self) -> RunCheckpoints:
        if self._checkpoints is None:
            self._checkpoints = RunCheckpoints(self.run_dir, self.checkpoint_parts(),
                                               self.policy, JsonState(self._state,
                                                                      self._load_state),
                                               self.cfg.checkpoint.keep)
        return self._checkpoints

    def resume(self) -> str:
        """Restore the newest readable checkpoint; the event files lose what came after it."""
        path = self.checkpoints.restore_latest(
            warn=lambda msg: print(f"rl-train: warning: {msg}", file=sys.stderr))
        self.after_restore()
        self.last_checkpoint_step = self.env_steps
        removed = summaries.trim_events(self.run_dir, self.env_steps)
        if removed:
            print(f"rl-train: dropped {removed} TensorBoard events logged after the checkpoint",
                  file=sys.stderr)
        return path

    @property
    def tb(self) -> summaries.Summaries:
        """The run's event writer, opened on first use (a failed resume writes nothing)."""
        if self._tb is None:
            self._tb = summaries.Summaries(self.run_dir)
        return self._tb

    # -- the loop ----------------------------------------------------------------------------
    def train(self) -> RunMetrics:
        cfg = self.cfg
        if self.env_steps == 0:
            self.tb.hparams(summaries.flatten(cfg), run_name=str(self.run_dir))
        bar = tqdm(total=cfg.total_env_steps, initial=self.env_steps, unit="step",
                   disable=not cfg.progress, dynamic_ncols=True, mininterval=0.5,
                   desc=self._title)
        try:
            with StopSignals() as stops:
                self._loop(bar, stops)
        finally:
            bar.close()
            self.tb.flush()
        if self.last_eval_step != self.env_steps:  # e.g. resumed at the very end
            self._evaluate()
        self._save_checkpoint()
        export_policy(self.policy, self.spec.obs_dim, self.run_dir / POLICY_DIR)
        metrics = self._metrics(*self._score_heldout())
        write_metrics(self.run_dir, metrics)
        return metrics

    @property
    def _title(self) -> str:
        """The progress bar's description."""
        return f"{self.cfg.algo.name} {self.spec.id}"

    def _loop(self, bar: tqdm, stops: StopSignals) -> None:
        """Iterate until the budget is spent or the threshold is reached: throughput,
        evaluations and checkpoints on their schedules; a caught signal stops it (checkpointed)."""
        cfg = self.cfg
        start = time.perf_counter() - self.elapsed
        clock, clock_steps, clock_updates = time.perf_counter(), self.env_steps, self.updates
        while self.env_steps < cfg.total_env_steps and not self._early_stopped():
            before = self.env_steps
            try:
                taken = self.iteration()
            except NonFinite as exc:  # the trainer's own check of its losses
                raise self._diverged(exc, before) from None
            self.env_steps += taken
            bar.update(taken)
            now = time.perf_counter()
            self.elapsed = now - start
            if now - clock >= 1.0:
                self.tb.scalars(self.env_steps, {
                    summaries.SPS: (self.env_steps - clock_steps) / (now - clock),
                    summaries.UPDATES_PER_S: (self.updates - clock_updates) / (now - clock)})
                clock, clock_steps, clock_updates = now, self.env_steps, self.updates
            if self.env_steps >= self.next_eval or self.env_steps >= cfg.total_env_steps:
                self._evaluate()
                bar.set_postfix(eval=f"{self.last_eval[0]:.1f}", best=f"{self.best:.1f}")
            if self.env_steps >= self.next_checkpoint:
                self.next_checkpoint = _after(self.env_steps, self.next_checkpoint,
                                              cfg.checkpoint.every_env_steps)
                self._save_checkpoint()
            if stops.received is not None:
                raise self._interrupted(stops)
        if self._early_stopped() or self.env_steps > bar.total:
            bar.total = self.env_steps  # the bar ends full where the run did, and says why
            if self._early_stopped():
                bar.set_description_str(f"{self._title}: solved")
            bar.refresh()

    def _save_checkpoint(self) -> str:
        if self.last_checkpoint_step != self.env_steps:
            self.last_checkpoint_step = self.env_steps
            self.checkpoints.save()
        return self.checkpoints.manager.latest_checkpoint

    def _early_stopped(self) -> bool:
        """Stopped at the threshold, before the budget (a solve at the final eval, at or past
        total_env_steps, is a budget stop that solved)."""
        return (self.cfg.early_stop and self.solved_at is not None
                and self.solved_at[0] < self.cfg.total_env_steps)

    def _evaluate(self) -> None:
        self.next_eval = _after(self.env_steps, self.next_eval, self.cfg.eval.every_env_steps)
        result: EvalResult = self.evaluator(self.act_greedy)
        self.last_eval, self.last_eval_step = (result.mean, result.std), self.env_steps
        if result.mean > self.best:
            self.best = result.mean
            self.checkpoints.save_best()
        self.tb.scalars(self.env_steps, {summaries.EVAL_RETURN: result.mean,
                                         summaries.EVAL_RETURN_STD: result.std,
                                         summaries.EVAL_BEST: self.best})
        solved = self.threshold is not None and result.mean >= self.threshold
        if solved and self.solved_at is None:
            self.solved_at = (self.env_steps, self.episodes, self.elapsed)

    def _score_heldout(self) -> tuple[HeldOut, HeldOut]:
        """The final policy and the best checkpoint, each on the run's held-out start states,
        through the compiled greedy policy rl-eval uses (so rl-eval repeats these numbers)."""
        from rl_runner.checkpoint import restore_policy

        seeds = start_seeds(self.cfg.seed, HELDOUT_STATES, self.cfg.eval.heldout_episodes)
        evaluator = Evaluator(self.cfg.env, seeds)
        best = type(self).build_policy(self.spec, self.cfg.algo)
        restore_policy(self.run_dir, best, "best")
        try:
            with tqdm(total=evaluator.max_steps and 2 * evaluator.max_steps, unit="step",
                      disable=not self.cfg.progress, dynamic_ncols=True, mininterval=0.5,
                      desc=f"{self._title}: {len(seeds)} held-out episodes, final and best"
                      ) as bar:
                scores = [evaluator(self._numpy_policy(policy), bar.update)
                          for policy in (self.policy, best)]
        finally:
            evaluator.close()
        final, best = (HeldOut(**r.summary()) for r in scores)
        self.tb.scalars(self.env_steps, {summaries.HELDOUT_RETURN: final.mean,
                                         summaries.HELDOUT_RETURN_STD: final.std,
                                         summaries.HELDOUT_RETURN_CI[0]: final.ci95[0],
                                         summaries.HELDOUT_RETURN_CI[1]: final.ci95[1],
                                         summaries.HELDOUT_BEST_RETURN: best.mean})
        self.tb.flush()
        return final, best

    def _numpy_policy(self, policy: tf.Module):
        greedy = compiled_greedy(policy, self.spec.obs_dim)
        return lambda obs: greedy(obs.astype(np.float32)).numpy()

    def _metrics(self, heldout: HeldOut, heldout_best: HeldOut) -> RunMetrics:
        mean, std = self.last_eval
        return RunMetrics(
            heldout=heldout, heldout_best=heldout_best,
            final_eval_return=mean, final_eval_return_std=std, best_eval_return=float(self.best),
            env_steps=self.env_steps, episodes=self.episodes, updates=self.updates,
            wall_seconds=self.elapsed, solved=self.solved_at is not None,
            stop_at_return=self.threshold,
            env_steps_to_solve=self.solved_at[0] if self.solved_at else None,
            episodes_to_solve=self.solved_at[1] if self.solved_at else None,
            wall_seconds_to_solve=self.solved_at[2] if self.solved_at else None,
            stop_reason="threshold" if self._early_stopped() else "budget",
            warnings=run_warnings(self.cfg))

    # -- stops -------------------------------------------------------------------------------
    def _interrupted(self, stops: StopSignals) -> RunStopped:
        path = self._save_checkpoint()
        self.tb.flush()
        return RunStopped(f"{stops.name} at env step {self.env_steps:,}: checkpoint {path} "
                          "written.", 128 + stops.received, str(self.run_dir), path,
                          resumable=True)

    def _diverged(self, exc: NonFinite, before: int) -> RunStopped:
        latest = self.checkpoints.manager.latest_checkpoint or "none yet"
        loss = f"losses/{exc.name.removesuffix('_gradient')}"
        what = f"the gradient of {loss}" if exc.name.endswith("_gradient") else loss
        return RunStopped(f"{what} became {exc.kind} in the iteration "
                          f"after env step {before}; stopped without saving. "
                          f"Latest checkpoint (last good): {latest}", 3, str(self.run_dir),
                          self.checkpoints.manager.latest_checkpoint)

    def close(self) -> None:
        self.envs.close()
        self.evaluator.close()
        if self._tb is not None:
            self._tb.close()
