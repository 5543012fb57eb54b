"""Render a recorded episode: ``python -m rl_runner.render`` reads JSON on stdin
``{"env": {...EnvConfig}, "seed": int, "actions": [[...], ...], "path": str, "fps": int}``,
replays the actions in an ``rgb_array`` env reset like the evaluator's first episode, writes
the frames as a GIF or MP4 to ``path``, and prints ``{"frames": n, "return": r}``.

It runs in its own process on purpose: MuJoCo's EGL/Mesa rendering and TensorFlow's bundled
LLVM crash when loaded into one process, so ``rl-eval`` computes the actions with TensorFlow and
this process, which never imports it, renders them. Gymnasium envs are deterministic given the
reset seed and the actions, so the replay is the evaluated episode.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np


def mark_progress(frames: list[np.ndarray]) -> list[np.ndarray]:
    """A thin progress bar along the bottom edge (where the episode is), with a marker pixel
    that moves one column a frame: no two consecutive frames are identical, so GIF encoders
    cannot merge them and the file holds exactly one frame per step."""
    n = len(frames)
    marked = []
    for i, frame in enumerate(frames):
        frame = np.array(frame[..., :3], dtype=np.uint8, copy=True)
        width = frame.shape[1]
        frame[-3:-1, : max(1, round((i + 1) * width / n))] = (255, 255, 255)
        frame[-1, :] = 0
        frame[-1, i % width] = (255, 255, 255)
        marked.append(frame)
    return marked


def write_video(frames: list[np.ndarray], path: Path, fps: int) -> None:
    import imageio.v2 as imageio

    frames = mark_progress(frames)
    if path.suffix == ".gif":
        # duration is per frame, in ms; loop=0 repeats forever
        imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)
    else:
        imageio.mimsave(path, frames, fps=fps, macro_block_size=1)


def main() -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless; MUJOCO_GL=osmesa also works
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame (CartPole) without a display
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    from rl_runner.config import EnvConfig
    from rl_runner.envs import SeedEachEpisode, make_env

    job = json.load(sys.stdin)
    # seeded like sub-env 0 of the evaluator: the replay is its first eval episode
    env = SeedEachEpisode(make_env(EnvConfig(**job["env"]), render_mode="rgb_array"))
    try:
        env.reset(seed=job["seed"])
        frames, total = [env.render()], 0.0
        for action in job["actions"]:
            _, reward, _, _, _ = env.step(np.asarray(action, dtype=env.action_space.dtype))
            frames.append(env.render())
            total += float(reward)
    finally:
        env.close()
    write_video(frames, Path(job["path"]), job["fps"])
    print(json.dumps({"frames": len(frames), "return": total}))


if __name__ == "__main__":
    main()
