"""Greedy evaluation, during training and of a saved run (``rl-eval``).

During training: a separate vector env, one episode per sub-env, fixed reset seeds, so
successive evaluations of a run compare policies on the same start states.

``rl-eval <run_dir> [episodes=20] [checkpoint=best|latest] [render=gif|mp4|none] [seed=N]``
loads only the policy (no optimizer, no replay) from a run's checkpoint, runs deterministic
episodes, prints mean +- std, writes ``eval.json`` and, with ``render=``, ``rollout.gif`` or
``rollout.mp4`` (headless: MuJoCo through EGL by default) plus the first and last frames to
TensorBoard.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

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



# ---------------------------------------------------------------------------------------------
# rl-eval
# ---------------------------------------------------------------------------------------------
OPTIONS = {"episodes": "20", "checkpoint": "latest", "render": "none", "seed": None, "fps": "30"}


def parse_options(parser: argparse.ArgumentParser, items: list[str]) -> dict:
    opts = dict(OPTIONS)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in OPTIONS:
            parser.error(f"unknown option {item!r}: use key=value with key in "
                         f"{', '.join(OPTIONS)}")
        opts[key] = value
    try:
        opts["episodes"], opts["fps"] = int(opts["episodes"]), int(opts["fps"])
        opts["seed"] = None if opts["seed"] is None else int(opts["seed"])
    except ValueError as exc:
        parser.error(f"episodes, fps and seed take integers ({exc})")
    if opts["episodes"] < 1 or opts["fps"] < 1:
        parser.error("episodes and fps must be >= 1")
    if opts["checkpoint"] not in ("best", "latest"):
        parser.error(f"checkpoint={opts['checkpoint']!r}: choose best or latest")
    if opts["render"] not in ("gif", "mp4", "none"):
        parser.error(f"render={opts['render']!r}: choose gif, mp4 or none")
    return opts


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


def render(env_cfg: EnvConfig, actions: list, seed: int, path: Path, fps: int) -> dict:
    """Replay ``actions`` in a render env in a separate process (see rl_runner/render.py)."""
    import dataclasses
    import subprocess

    job = json.dumps({"env": dataclasses.asdict(env_cfg), "seed": seed, "actions": actions,
                      "path": str(path), "fps": fps})
    proc = subprocess.run([sys.executable, "-m", "rl_runner.render"], input=job, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        hint = ("; headless MuJoCo needs EGL (apt-get install libegl1 libegl-mesa0 "
                "libgl1-mesa-dri) or MUJOCO_GL=osmesa with libosmesa6")
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"rendering failed (exit {proc.returncode}): {last}{hint}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_trained(run_dir: Path) -> None:
    """ConfigError unless ``run_dir`` holds a run that trained (a checkpoint to load)."""
    from rl_runner.config import ConfigError

    checkpoints = "checkpoints"  # checkpoint.CHECKPOINT_DIR (that module imports TensorFlow)

    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such directory")
    if not (run_dir / ".hydra" / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a run dir (no .hydra/config.yaml): give a dir "
                          "that rl-train wrote")
    if not (run_dir / checkpoints / "checkpoint").is_file():
        raise ConfigError(f"{run_dir} holds no trained run (no checkpoint in "
                          f"{checkpoints}/): it stopped before its first checkpoint")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rl-eval", description="Evaluate (and render) a trained rl_runner run: prints mean "
        "± std, writes eval.json (and the video) into the run dir.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="options (key=value, defaults first):\n"
               "  episodes=20              greedy episodes to run\n"
               "  checkpoint=latest|best   the last checkpoint, or the best eval's policy\n"
               "  render=none|gif|mp4      also write rollout.gif / rollout.mp4 of one episode\n"
               "  seed=<run seed + 10000>  reset seed of the first episode (the run's eval "
               "states)\n"
               "  fps=30                   frames per second of the video")
    parser.add_argument("run_dir", help="a run dir written by rl-train")
    parser.add_argument("options", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    opts = parse_options(parser, args.options)

    from rl_runner.config import ConfigError, load_run_config
    from rl_runner.envs import describe

    run_dir = Path(args.run_dir)
    try:
        check_trained(run_dir)
        cfg = load_run_config(run_dir)
        spec = describe(cfg.env, cfg.algo.name)
        from rl_runner import device, summaries
        from rl_runner.algos import trainer_class
        from rl_runner.algos.base import EVAL_SEED_OFFSET
        from rl_runner.checkpoint import restore_policy
        from rl_runner.device import tf

        device.setup(cfg.device, cfg.threads, cfg.seed, cfg.deterministic)
        policy = trainer_class(cfg.algo.name).build_policy(spec, cfg.algo)
        path = restore_policy(run_dir, policy, opts["checkpoint"])
    except ConfigError as exc:
        print(f"rl-eval: error: {exc}", file=sys.stderr)
        sys.exit(2)

    greedy = tf.function(policy.greedy, input_signature=[
        tf.TensorSpec([None, spec.obs_dim], tf.float32)])

    def act(obs: np.ndarray) -> np.ndarray:
        return greedy(tf.constant(obs, tf.float32)).numpy()

    seed = cfg.seed + EVAL_SEED_OFFSET if opts["seed"] is None else opts["seed"]
    evaluator = Evaluator(cfg.env, opts["episodes"], seed)
    result = evaluator(act)
    evaluator.close()
    report = {"run_dir": str(run_dir), "checkpoint": path, "episodes": opts["episodes"],
              "seed": seed, "mean": result.mean, "std": result.std,
              "returns": result.returns.tolist(), "lengths": result.lengths.tolist()}
    print(f"rl-eval: {cfg.algo.name} on {spec.id}, {Path(path).name}: "
          f"{result.mean:.2f} ± {result.std:.2f} over {opts['episodes']} episodes")
    if opts["render"] != "none":
        import imageio.v3 as iio

        video = run_dir / f"rollout.{opts['render']}"
        try:
            rendered = render(cfg.env, greedy_episode(cfg.env, act, seed), seed, video,
                              opts["fps"])
        except RuntimeError as exc:
            print(f"rl-eval: error: {exc}", file=sys.stderr)
            sys.exit(1)
        frames = iio.imread(video, index=None)
        tb = summaries.Summaries(run_dir)
        tb.images(0, {"eval/rollout_first_frame": frames[0][..., :3],
                      "eval/rollout_last_frame": frames[-1][..., :3]})
        tb.close()
        report["render"] = {"file": video.name, **rendered}
        print(f"rl-eval: wrote {video} ({rendered['frames']} frames, return "
              f"{rendered['return']:.2f})")
    (run_dir / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"rl-eval: wrote {run_dir / 'eval.json'}")


if __name__ == "__main__":
    main()
