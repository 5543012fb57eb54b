"""Greedy evaluation: during training, and of a saved run (``rl-eval``, ``rl_runner.evaluate``).

During training: a separate vector env, one episode per sub-env, fixed reset seeds, so
successive evaluations of a run compare policies on the same start states.

Of a saved run: ``load_policy`` restores only the policy (no optimizer, no replay) from a
checkpoint; ``evaluate_run`` runs deterministic episodes, writes ``eval.json`` and, when asked,
``rollout.gif`` or ``rollout.mp4`` (headless: MuJoCo through EGL by default) plus the first and
last frames to TensorBoard. ``eval_cli.py`` is the command line over these.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rl_runner.config import Config, ConfigError, EnvConfig
from rl_runner.envs import make_vector_env

EVAL_SEED_OFFSET = 10_000  # eval envs never share reset seeds with training envs
EVAL_FILE = "eval.json"
RENDER_FORMATS = ("gif", "mp4")


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


# ---------------------------------------------------------------------------------------------
# A saved run's policy
# ---------------------------------------------------------------------------------------------
def check_trained(run_dir: Path) -> None:
    """ConfigError unless ``run_dir`` holds a run that trained (a checkpoint to load)."""
    checkpoints = "checkpoints"  # checkpoint.CHECKPOINT_DIR (that module imports TensorFlow)

    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such directory")
    if not (run_dir / ".hydra" / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a run dir (no .hydra/config.yaml): give a dir "
                          "that rl-train wrote")
    seeds = sorted(p.name for p in run_dir.glob("seed=*") if p.is_dir())
    if seeds and not (run_dir / checkpoints).exists():
        raise ConfigError(f"{run_dir} trained several seeds (search.seeds): give one of "
                          f"them, e.g. {run_dir / seeds[0]}")
    if not (run_dir / checkpoints / "checkpoint").is_file():
        raise ConfigError(f"{run_dir} holds no trained run (no checkpoint in "
                          f"{checkpoints}/): it stopped before its first checkpoint")


@dataclass(repr=False)
class Policy:
    """A trained run's greedy policy: numpy observations in (one, or a batch), env-ready
    actions out."""

    config: Config  # the run's config
    checkpoint: str  # the checkpoint it was restored from
    greedy: Callable  # the compiled policy: float32 tensor [batch, obs_dim] -> actions

    def __repr__(self) -> str:
        return (f"Policy({self.config.algo.name} on {self.config.env.id}, "
                f"checkpoint='{self.checkpoint}')")

    def __call__(self, obs) -> np.ndarray:
        import tensorflow as tf

        obs = np.asarray(obs, dtype=np.float32)
        batch = obs[None] if obs.ndim == 1 else obs
        actions = self.greedy(tf.constant(batch)).numpy()
        return actions[0] if obs.ndim == 1 else actions


def load_policy(run_dir: str | Path, checkpoint: str = "latest") -> Policy:
    """The greedy policy of a run dir's ``latest`` or ``best`` checkpoint; ConfigError when the
    dir holds none."""
    from rl_runner.config import load_run_config
    from rl_runner.envs import describe

    if checkpoint not in ("best", "latest"):
        raise ConfigError(f"checkpoint={checkpoint!r}: choose best or latest")
    run_dir = Path(run_dir)
    check_trained(run_dir)
    cfg = load_run_config(run_dir)
    spec = describe(cfg.env, cfg.algo.name)
    from rl_runner import device
    from rl_runner.algos import trainer_class
    from rl_runner.checkpoint import restore_policy
    from rl_runner.device import tf

    # A run trained on a GPU evaluates on a machine without one.
    device.setup("cpu" if cfg.device == "cpu" else "auto", cfg.threads, cfg.seed,
                 cfg.deterministic)
    policy = trainer_class(cfg.algo.name).build_policy(spec, cfg.algo)
    path = restore_policy(run_dir, policy, checkpoint)
    greedy = tf.function(policy.greedy, input_signature=[
        tf.TensorSpec([None, spec.obs_dim], tf.float32)])
    return Policy(cfg, path, greedy)


# ---------------------------------------------------------------------------------------------
# Evaluating (and rendering) a saved run
# ---------------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """What ``evaluate_run`` measured (also written to ``<run_dir>/eval.json``)."""

    mean: float
    std: float
    returns: list[float]
    lengths: list[int]
    episodes: int
    seed: int  # reset seed of the first episode
    checkpoint: str
    video: Path | None  # rollout.gif / rollout.mp4, when rendered


def check_options(episodes: int, checkpoint: str, render: str | None, fps: int) -> None:
    for key, value in (("episodes", episodes), ("fps", fps)):
        if value < 1:
            raise ConfigError(f"{key}={value} is out of range: must be >= 1")
    if checkpoint not in ("best", "latest"):
        raise ConfigError(f"checkpoint={checkpoint!r}: choose best or latest")
    if render not in (None, "none", *RENDER_FORMATS):
        raise ConfigError(f"render={render!r}: choose gif, mp4 or none")


def evaluate_run(run_dir: str | Path, episodes: int = 20, checkpoint: str = "latest",
                 render: str | None = None, seed: int | None = None,
                 fps: int = 30) -> Evaluation:
    """Run ``episodes`` greedy episodes of a saved run (reset seeds from ``seed``; default the
    run's own eval seed), render one to ``rollout.<render>`` if asked, write ``eval.json``."""
    check_options(episodes, checkpoint, render, fps)
    run_dir = Path(run_dir)
    policy = load_policy(run_dir, checkpoint)
    cfg = policy.config
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
    evaluator = Evaluator(cfg.env, episodes, seed)
    try:
        result = evaluator(policy)
    finally:
        evaluator.close()
    video = None
    report = {"run_dir": str(run_dir), "checkpoint": policy.checkpoint, "episodes": episodes,
              "seed": seed, "mean": result.mean, "std": result.std,
              "returns": result.returns.tolist(), "lengths": result.lengths.tolist()}
    if render not in (None, "none"):
        video = run_dir / f"rollout.{render}"
        rendered = render_episode(cfg.env, greedy_episode(cfg.env, policy, seed), seed, video,
                                  fps)
        report["render"] = {"file": video.name, **rendered}
    (run_dir / EVAL_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return Evaluation(result.mean, result.std, report["returns"], report["lengths"], episodes,
                      seed, policy.checkpoint, video)


def greedy_episode(env_cfg: EnvConfig, act: Callable[[np.ndarray], np.ndarray],
                   seed: int) -> list:
    """The actions of the evaluator's first episode (sub-env 0, reset with ``seed``)."""
    from rl_runner.envs import SeedEachEpisode, make_env

    env = SeedEachEpisode(make_env(env_cfg))
    try:
        obs, _ = env.reset(seed=seed)
        actions, done = [], False
        while not done:
            action = act(obs[None])[0]
            obs, _, terminated, truncated, _ = env.step(action)
            actions.append(np.asarray(action).tolist())
            done = terminated or truncated
        return actions
    finally:
        env.close()


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
