"""Where a trained Pusher policy's return goes: the three reward terms, and how close it gets.

    python -m benchmarks.pusher_returns benchmarks/learning/ddpg_pusher_s0 [best|latest]

Pusher-v5's reward per step is dist + near + ctrl: -|object - goal| (weight 1),
-|object - fingertip| (weight 0.5) and -|action|^2 (weight 0.1). This runs the run's
deterministic policy for 20 episodes in one env reset from the trainer's eval seed (so other
start states than the trainer's evals, which reset 20 sub-envs once each) and prints each
term's mean episode sum, the object-goal distance at the start and at the end, the step at
which the object first came within 5 cm of the goal, the step at which the fingertip first came
within 10 cm of the object, and how fast the object then moved towards the goal. It tells a
slow reach from a slow push, a push that stops short, and a policy that pays for large actions.

    python -m benchmarks.pusher_returns benchmarks/learning/ddpg_pusher_s0 --replay

reads the replay buffer of the run's latest checkpoint instead (written when it fits
``checkpoint.replay_max_mb``) and prints, per 20k env steps of training, how often the object
moved and how far the training episodes (noisy actions) brought it towards the goal: when a
run started to push, and how fast that grew.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def goal_distance(obs: np.ndarray) -> np.ndarray:
    """Object-goal distance on the table (x, y of obs[17:20] and obs[20:23]). The env's
    ``reward_dist`` is 3-D and never falls below the goal's 4.8 cm height offset."""
    return np.linalg.norm(obs[..., 17:19] - obs[..., 20:22], axis=-1)


def replay_pushes(run_dir: Path, window: int = 20_000) -> None:
    """Pushing in the training data, from the checkpointed replay (fixed-length episodes, as
    Pusher's, and a buffer that has not wrapped around)."""
    import tensorflow as tf

    from rl_runner.config import load_run_config

    cfg = load_run_config(run_dir)
    path = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    reader = tf.train.load_checkpoint(path)
    keys = reader.get_variable_to_shape_map()
    find = lambda name: next((k for k in keys if name in k), None)  # noqa: E731
    if find("replay_data") is None:
        raise SystemExit(f"{path} holds no replay buffer (checkpoint.replay / replay_max_mb)")
    size = int(reader.get_tensor(find("replay_size")))
    if size >= cfg.algo.buffer_size:
        raise SystemExit(f"{run_dir}: the buffer has wrapped around; rows are not in order")
    rows = reader.get_tensor(find("replay_data"))[:size]
    from rl_runner.envs import describe

    spec = describe(cfg.env, cfg.algo.name)
    obs_dim, envs, steps = spec.obs_dim, cfg.num_envs, spec.max_episode_steps or 100
    next_at = obs_dim + spec.num_actions + 1  # [obs, action, reward, next obs, terminated, ...]
    moved = np.linalg.norm(rows[:, next_at + 17:next_at + 19] - rows[:, 17:19], axis=1)
    episodes = size // (envs * steps)
    eps = rows[: episodes * envs * steps].reshape(episodes, steps, envs, -1)
    final = goal_distance(eps[:, -1, :, next_at:next_at + obs_dim])
    gain = goal_distance(eps[:, 0, :, :obs_dim]) - final
    print(f"{run_dir} ({Path(path).name}): {size:,} transitions; per {window // 1000}k env "
          "steps: share of steps that moved the object > 1 mm; training episodes' mean "
          "object-goal gain, share gaining > 5 cm, share ending within 5 cm")
    per = window // (envs * steps)  # episodes (per env) in a window
    for lo in range(0, episodes, per):
        sl = slice(lo, lo + per)
        step_sl = slice(lo * envs * steps, (lo + per) * envs * steps)
        print(f"  {lo * envs * steps // 1000:4d}k: moved {np.mean(moved[step_sl] > 1e-3):.3f}  "
              f"gain {100 * gain[sl].mean():5.1f} cm  >5 cm {np.mean(gain[sl] > 0.05):.3f}  "
              f"ends <5 cm {np.mean(final[sl] < 0.05):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("checkpoint", nargs="?", default="best", choices=["best", "latest"])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--replay", action="store_true",
                        help="pushing in the checkpointed training data instead")
    args = parser.parse_args()
    if args.replay:
        return replay_pushes(args.run_dir)

    import tensorflow as tf

    from rl_runner import device
    from rl_runner.algos import trainer_class
    from rl_runner.checkpoint import restore_policy
    from rl_runner.config import load_run_config
    from rl_runner.envs import SeedEachEpisode, describe, make_env
    from rl_runner.evaluation import EVAL_SEED_OFFSET

    cfg = load_run_config(args.run_dir)
    spec = describe(cfg.env, cfg.algo.name)
    device.setup("cpu", 1, cfg.seed, False)
    policy = trainer_class(cfg.algo.name).build_policy(spec, cfg.algo)
    path = restore_policy(args.run_dir, policy, args.checkpoint)
    greedy = tf.function(policy.greedy, input_signature=[
        tf.TensorSpec([None, spec.obs_dim], tf.float32)])

    env = SeedEachEpisode(make_env(cfg.env))
    terms = {"reward_dist": [], "reward_near": [], "reward_ctrl": []}
    start, end, reached, returns, touch, push_speed = [], [], [], [], [], []
    obs, _ = env.reset(seed=cfg.seed + EVAL_SEED_OFFSET)
    for episode in range(args.episodes):
        if episode:
            obs, _ = env.reset()
        sums, total, first_close, done, t = dict.fromkeys(terms, 0.0), 0.0, None, False, 0
        start.append(float(goal_distance(obs)))
        at_object, goal_dist_then = None, None
        while not done:
            action = greedy(tf.constant(obs[None], tf.float32)).numpy()[0]
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            for key in terms:
                sums[key] += info[key]
            if first_close is None and goal_distance(obs) < 0.05:
                first_close = t
            if at_object is None and np.linalg.norm(obs[14:17] - obs[17:20]) < 0.1:
                at_object, goal_dist_then = t, goal_distance(obs)
            done, t = terminated or truncated, t + 1
        for key in terms:
            terms[key].append(sums[key])
        end.append(float(goal_distance(obs)))
        reached.append(first_close)
        returns.append(total)
        if at_object is not None:
            touch.append(at_object)
            push_speed.append((goal_dist_then - end[-1]) / max(1, t - 1 - at_object))
    env.close()
    hits = [r for r in reached if r is not None]
    print(f"{args.run_dir} ({Path(path).name}), {args.episodes} deterministic episodes")
    print(f"  return {np.mean(returns):.1f} = dist {np.mean(terms['reward_dist']):.1f} + near "
          f"{np.mean(terms['reward_near']):.1f} + ctrl {np.mean(terms['reward_ctrl']):.1f}")
    print(f"  object-goal distance: {np.mean(start):.3f} m at the start, {np.mean(end):.3f} m "
          f"at the end (median {np.median(end):.3f}, worst {np.max(end):.3f})")
    print(f"  within 5 cm of the goal in {len(hits)}/{args.episodes} episodes"
          + (f", first at step {np.median(hits):.0f} (median)" if hits else ""))
    if touch:
        print(f"  fingertip within 10 cm of the object in {len(touch)}/{args.episodes} episodes, "
              f"first at step {np.median(touch):.0f} (median); then the object moves towards "
              f"the goal at {1000 * np.mean(push_speed):.1f} mm/step")


if __name__ == "__main__":
    main()
