"""Greedy evaluation: during training, and of a saved run (``rl-eval``, ``rl_runner.evaluate``).

A run draws its evaluation start states from two streams of reset seeds of its own, derived
from its seed (``envs.start_seeds``; no two run seeds share a state, and neither stream meets
the training envs'):

- ``EVAL_STATES``: the periodic evaluations during training, the same states every time, so
  successive evals compare policies; they choose ``checkpoints/best``.
- ``HELDOUT_STATES``: never used for evaluation or selection during training. At the end the
  final policy and the best checkpoint are each scored on ``eval.heldout_episodes`` of them:
  the run's result (``metrics.json``). ``rl-eval`` uses them by default.

Of a saved run: ``load_policy`` restores only the policy (no optimizer, no replay) from a
checkpoint; ``evaluate_run`` runs deterministic episodes, writes ``eval.json`` and, when asked,
``rollout.gif`` or ``rollout.mp4`` (headless: MuJoCo through EGL by default) plus the first and
last frames to TensorBoard. ``eval_cli.py`` is the command line over these.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rl_runner import rundir
from rl_runner.config import Config, ConfigError, EnvConfig
from rl_runner.envs import HELDOUT_STATES, make_vector_env, start_seeds

EVAL_FILE = "eval.json"
RENDER_FORMATS = ("gif", "mp4")


class EvalResult(NamedTuple):
    mean: float
    std: float  # of the returns (ddof 1)
    ci95: tuple[float, float]  # 95 % confidence interval of the mean (percentile bootstrap)
    returns: np.ndarray
    lengths: np.ndarray
    first_actions: list  # the env actions of the first episode (sub-env 0), to render it

    def summary(self) -> dict:
        """Mean, std, CI and episodes: what metrics.json and eval.json report."""
        return {"mean": self.mean, "std": self.std, "ci95": list(self.ci95),
                "episodes": len(self.returns)}


def summarize(returns: np.ndarray, lengths: np.ndarray, first_actions: list) -> EvalResult:
    """Mean, std and the percentile bootstrap 95 % CI of the mean, seeded: the same returns give
    the same CI. Unlike a Student t interval, it stays within the returns seen (CartPole's
    returns of 500 with one of 200 have no CI above 500)."""
    from rl_runner.stats import bootstrap_ci

    mean = float(returns.mean())
    std = float(returns.std(ddof=1)) if len(returns) > 1 else 0.0
    ci95 = bootstrap_ci(np.asarray(returns, dtype=np.float64), np.random.default_rng(0))
    return EvalResult(mean, std, ci95, returns, lengths, first_actions)


class Evaluator:
    """Runs one greedy episode per reset seed, in parallel sub-envs, and reports the returns."""

    def __init__(self, env_cfg: EnvConfig, seeds: list[int]):
        self.seeds = list(seeds)
        self.episodes = len(self.seeds)
        self.env = make_vector_env(env_cfg, self.episodes, self.seeds[0])
        limit = self.env.unwrapped.envs[0].spec.max_episode_steps
        # The env steps of one evaluation at most (every episode to its time limit): a progress
        # bar's total. None where the env has no time limit.
        self.max_steps = self.episodes * limit if limit else None

    def __call__(self, act: Callable[[np.ndarray], np.ndarray],
                 stepped: Callable[[int], object] | None = None) -> EvalResult:
        """``stepped(n)`` (a progress bar's ``update``) is told the env steps each vector step
        takes, one per running episode, and at the end the rest of ``max_steps``: episodes that
        end before their time limit leave the bar's ETA an upper bound."""
        obs, _ = self.env.reset(seed=self.seeds)
        returns = np.zeros(self.episodes)
        lengths = np.zeros(self.episodes, dtype=np.int64)
        finished = np.zeros(self.episodes, dtype=bool)
        first_actions = []
        while not finished.all():
            actions = act(obs)
            if not finished[0]:
                first_actions.append(np.asarray(actions[0]).tolist())
            if stepped is not None:
                stepped(self.episodes - int(finished.sum()))
            obs, _, terminated, truncated, infos = self.env.step(actions)
            done = (terminated | truncated) & ~finished
            if done.any():
                returns[done] = infos["episode"]["r"][done]
                lengths[done] = infos["episode"]["l"][done]
                finished |= done
        if stepped is not None and self.max_steps:
            stepped(self.max_steps - int(lengths.sum()))
        return summarize(returns, lengths, first_actions)

    def close(self) -> None:
        self.env.close()


# ---------------------------------------------------------------------------------------------
# A saved run's policy
# ---------------------------------------------------------------------------------------------
def compiled_greedy(policy, obs_dim: int) -> Callable:
    """A policy module's ``greedy`` as one compiled function of a float32 batch: what rl-eval
    runs, and what scores a finished run's held-out episodes (the same numbers both ways)."""
    import tensorflow as tf

    return tf.function(policy.greedy,
                       input_signature=[tf.TensorSpec([None, obs_dim], tf.float32)])


@dataclass(repr=False)
class Policy:
    """A trained run's greedy policy: numpy observations in (one, or a batch), env-ready
    actions out."""

    config: Config  # the run's config
    checkpoint: str  # the checkpoint it was restored from
    greedy: Callable  # the compiled policy (compiled_greedy): float32 [batch, obs_dim] -> actions

    def __repr__(self) -> str:
        return (f"Policy({self.config.algo.name} on {self.config.env.id}, "
                f"checkpoint='{self.checkpoint}')")

    def __call__(self, obs) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        batch = obs[None] if obs.ndim == 1 else obs
        actions = self.greedy(batch).numpy()
        return actions[0] if obs.ndim == 1 else actions


def load_policy(run_dir: str | Path, checkpoint: str = "latest") -> Policy:
    """The greedy policy of a run dir's ``latest`` or ``best`` checkpoint; ConfigError when the
    dir holds none."""
    from rl_runner.envs import describe
    from rl_runner.rundir import load_run_config

    if checkpoint not in ("best", "latest"):
        raise ConfigError(f"checkpoint={checkpoint!r}: choose best or latest")
    run_dir = Path(run_dir)
    rundir.check_trained(run_dir)
    cfg = load_run_config(run_dir)
    spec = describe(cfg.env, cfg.algo.name)
    from rl_runner import device
    from rl_runner.algos import trainer_class
    from rl_runner.checkpoint import restore_policy

    # A run trained on a GPU evaluates on a machine without one.
    device.setup("cpu" if cfg.device == "cpu" else "auto", cfg.threads, cfg.seed,
                 cfg.deterministic)
    policy = trainer_class(cfg.algo.name).build_policy(spec, cfg.algo)
    path = restore_policy(run_dir, policy, checkpoint)
    return Policy(cfg, path, compiled_greedy(policy, spec.obs_dim))


# ---------------------------------------------------------------------------------------------
# Evaluating (and rendering) a saved run
# ---------------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """What ``evaluate_run`` measured (also written to ``<run_dir>/eval.json``)."""

    mean: float
    std: float  # of the returns (ddof 1)
    ci95: tuple[float, float]  # 95 % CI of the mean
    returns: list[float]
    lengths: list[int]
    episodes: int
    seed: int  # the seed whose held-out start states were used
    checkpoint: str
    config: Config = field(repr=False)  # the run's
    video: Path | None = None  # rollout.gif / rollout.mp4, when rendered
    rendered: dict | None = field(default=None, repr=False)  # the video's frames and return
    replaced: dict | None = field(default=None, repr=False)  # the eval.json it overwrote


def check_options(episodes: int | None, checkpoint: str, render: str | None, fps: int,
                  seed: int | None = None) -> None:
    for key, value, low, why in (("episodes", episodes, 2, " (a 95 % CI needs two)"),
                                 ("fps", fps, 1, ""), ("seed", seed, 0, "")):
        if value is not None and value < low:
            raise ConfigError(f"{key}={value} is out of range: must be >= {low}{why}")
    if checkpoint not in ("best", "latest"):
        raise ConfigError(f"checkpoint={checkpoint!r}: choose best or latest")
    if render not in (None, "none", *RENDER_FORMATS):
        raise ConfigError(f"render={render!r}: choose gif, mp4 or none")


def evaluate_run(run_dir: str | Path, episodes: int | None = None, checkpoint: str = "latest",
                 render: str | None = None, seed: int | None = None,
                 fps: int = 30, progress: bool = False) -> Evaluation:
    """Score a saved run's policy on ``episodes`` greedy episodes (default: the run's
    ``eval.heldout_episodes``) from held-out start states (the run's own, or ``seed``'s),
    render the first to ``rollout.<render>`` if asked, write ``eval.json`` (the one it
    replaces is returned as ``replaced``: None where there was none, {} where unreadable).
    With the defaults and ``checkpoint=latest`` this is the held-out score in the run's
    ``metrics.json``. ``progress``: a bar of the episodes' env steps."""
    from tqdm.auto import tqdm

    check_options(episodes, checkpoint, render, fps, seed)
    run_dir = Path(run_dir)
    policy = load_policy(run_dir, checkpoint)
    cfg = policy.config
    episodes = cfg.eval.heldout_episodes if episodes is None else episodes
    seed = cfg.seed if seed is None else seed
    seeds = start_seeds(seed, HELDOUT_STATES, episodes)
    evaluator = Evaluator(cfg.env, seeds)
    try:
        with tqdm(total=evaluator.max_steps, unit="step", disable=not progress,
                  dynamic_ncols=True, mininterval=0.5,
                  desc=f"{cfg.algo.name} {cfg.env.id}: {episodes} held-out episodes") as bar:
            result = evaluator(policy, bar.update)
    finally:
        evaluator.close()
    video = rendered = None
    report = {"run_dir": str(run_dir), "checkpoint": policy.checkpoint, "states": "heldout",
              "seed": seed, **result.summary(), "returns": result.returns.tolist(),
              "lengths": result.lengths.tolist()}
    if render not in (None, "none"):
        video = run_dir / f"rollout.{render}"
        rendered = render_episode(cfg.env, result.first_actions, seeds[0], video, fps)
        report["render"] = {"file": video.name, **rendered}
    replaced = previous_eval(run_dir)
    (run_dir / EVAL_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return Evaluation(result.mean, result.std, result.ci95, report["returns"],
                      report["lengths"], episodes, seed, policy.checkpoint, cfg, video, rendered,
                      replaced)


def previous_eval(run_dir: Path) -> dict | None:
    """The run's ``eval.json`` as it stands (``{}`` when unreadable; None when there is none)."""
    path = run_dir / EVAL_FILE
    if not path.exists():
        return None
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def render_episode(env_cfg: EnvConfig, actions: list, seed: int, path: Path, fps: int) -> dict:
    """Replay ``actions`` in a render env in a separate process (see rl_runner/render.py), and
    put the first and last frames into the run's TensorBoard."""
    import dataclasses
    import subprocess

    import imageio.v3 as iio

    from rl_runner import summaries

    job = json.dumps({"env": dataclasses.asdict(env_cfg), "seed": seed, "actions": actions,
                      "path": str(path), "fps": fps})
    proc = subprocess.run([sys.executable, "-m", "rl_runner.render"], input=job, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        hint = ("; headless MuJoCo needs EGL (apt-get install libegl1 libegl-mesa0 "
                "libgl1-mesa-dri) or MUJOCO_GL=osmesa with libosmesa6")
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"rendering failed (exit {proc.returncode}): {last}{hint}")
    rendered = json.loads(proc.stdout.strip().splitlines()[-1])
    frames = iio.imread(path, index=None)
    tb = summaries.Summaries(path.parent)
    tb.images(0, {"eval/rollout_first_frame": frames[0][..., :3],
                  "eval/rollout_last_frame": frames[-1][..., :3]})
    tb.close()
    return rendered
