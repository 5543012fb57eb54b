"""Is a DDPG run limited by its actor or by its critic?

    python -m benchmarks.actor_vs_critic benchmarks/learning/ddpg_g098_d3_s0 [--sigma 0.2]

Loads the run's latest full checkpoint (actor and critics) and plays the same episodes twice:
with the deterministic actor, and with a Q-search policy that, at every step, scores the actor's
action and ``--candidates`` Gaussian perturbations of it (std ``--sigma`` in the [-1, 1] action
space) with the critics (their min, as the TD target takes it) and plays the best. Prints both
mean returns, their paired difference, and how much higher the searched action's Q was on
average. Then the critic's bias: its Q at the actor's states and actions, against the
discounted return that followed (bootstrapped with the critic at the time limit), at a few
steps of the actor's episodes.

If the search finds actions the critic values clearly more and they play better, the actor lags
its critic (an actor-side problem: its learning rate, its updates). If the search gains ~0 in Q,
or its actions play worse, the actor already sits at its critic's optimum, and a better policy
needs a better critic. The episodes use seeds other than the trainer's evaluations.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OTHER_EPISODES = 1000  # seed offset from the trainer's eval episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--sigma", type=float, default=0.2)
    parser.add_argument("--candidates", type=int, default=128)
    args = parser.parse_args()

    import tensorflow as tf

    from rl_runner import device
    from rl_runner.algos.ddpg import DDPGAgent, to_bounds
    from rl_runner.config import load_run_config
    from rl_runner.envs import SeedEachEpisode, describe, make_env
    from rl_runner.evaluation import EVAL_SEED_OFFSET

    cfg = load_run_config(args.run_dir)
    if cfg.algo.name != "ddpg":
        raise SystemExit(f"{args.run_dir} is a {cfg.algo.name} run: this needs a DDPG critic")
    spec = describe(cfg.env, cfg.algo.name)
    device.setup("cpu", 1, cfg.seed, False)
    agent = DDPGAgent(spec, cfg.algo, cfg.seed)
    path = tf.train.latest_checkpoint(str(args.run_dir / "checkpoints"))
    if path is None:
        raise SystemExit(f"{args.run_dir / 'checkpoints'} holds no checkpoint")
    tf.train.Checkpoint(policy=agent.eval_policy, **agent.checkpoint_parts(False)).restore(
        path).expect_partial().assert_existing_objects_matched()
    rng = tf.random.Generator.from_seed(0)
    k, sigma = args.candidates, args.sigma
    obs_spec = [tf.TensorSpec([1, spec.obs_dim], tf.float32)]

    def q_values(obs, actions):
        """min over the critics of Q(obs, actions), on normalised observations."""
        inputs = agent.critic_input(obs, actions, agent.policy.encoder)
        return tf.reduce_min(tf.stack([agent._q(c, inputs) for c in agent.critics]), axis=0)

    @tf.function(input_signature=obs_spec)
    def greedy(obs):  # -> action, Q of the actor's action, Q of the played one
        obs = agent.normalizer(obs)
        mu = agent.actor(agent.policy.actor_input(obs))
        q = q_values(obs, mu)[0]
        return mu, q, q

    @tf.function(input_signature=obs_spec)
    def searched(obs):
        obs = agent.normalizer(obs)
        mu = agent.actor(agent.policy.actor_input(obs))
        noise = sigma * rng.normal([k, spec.num_actions])
        candidates = tf.concat([mu, tf.clip_by_value(mu + noise, -1.0, 1.0)], axis=0)
        q = q_values(tf.repeat(obs, k + 1, axis=0), candidates)
        best = tf.argmax(q)
        return candidates[best][None], q[0], q[best]

    def play(policy) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Episode returns, Q of the actor's actions [episodes, steps + 1] (the last at the
        final observation), rewards [episodes, steps], and the mean Q gain of the played
        actions over the actor's."""
        env = SeedEachEpisode(make_env(cfg.env))
        obs, _ = env.reset(seed=cfg.seed + EVAL_SEED_OFFSET + OTHER_EPISODES)
        qs, rewards, gains = [], [], []
        for episode in range(args.episodes):
            if episode:
                obs, _ = env.reset()
            done = False
            qs.append([])
            rewards.append([])
            while not done:
                action, q_actor, q_played = policy(tf.constant(obs[None], tf.float32))
                qs[-1].append(float(q_actor))
                gains.append(float(q_played - q_actor))
                env_action = to_bounds(action.numpy()[0], spec.action_low, spec.action_high)
                obs, reward, terminated, truncated, _ = env.step(env_action)
                rewards[-1].append(float(reward))
                done = terminated or truncated
            qs[-1].append(0.0 if terminated else float(greedy(tf.constant(obs[None],
                                                                          tf.float32))[1]))
        env.close()  # fixed-length episodes (Pusher): the lists stack
        returns = np.array([sum(r) for r in rewards])
        return returns, np.array(qs), np.array(rewards), float(np.mean(gains))

    actor, qs, rewards, _ = play(greedy)
    search, _, _, gain = play(searched)
    diff = search - actor
    print(f"{args.run_dir} ({Path(path).name}), {args.episodes} episodes, {k} candidates, "
          f"sigma {sigma}")
    print(f"  actor {actor.mean():.2f}, Q-search {search.mean():.2f}: difference "
          f"{diff.mean():+.2f} (standard error {diff.std(ddof=1) / np.sqrt(len(diff)):.2f}); "
          f"Q of the searched action above the actor's by {gain:.4f} on average")
    gamma, steps = cfg.algo.gamma, rewards.shape[1]
    returns = qs[:, -1]  # the discounted return from each step on, bootstrapped at the end
    followed = np.zeros_like(rewards)
    for t in reversed(range(steps)):
        returns = rewards[:, t] + gamma * returns
        followed[:, t] = returns
    shown = [t for t in (0, 10, 25, 50, 75) if t < steps]
    print("  critic's Q of the actor's actions against the discounted return that followed: "
          + ", ".join(f"step {t} {qs[:, t].mean():.2f} vs {followed[:, t].mean():.2f}"
                      for t in shown))


if __name__ == "__main__":
    main()
