"""REINFORCE on CartPole-v1: time to solve, speed-up over a notebook-style loop, throughput.

    python -m benchmarks.run reinforce
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, median, rl_train, write_fragment

SEEDS = [0, 1, 2, 3, 4]
EPISODES = 300


def time_to_solve() -> str:
    rows, walls, heldout, solved_all = [], [], [], True
    with tempfile.TemporaryDirectory() as tmp:
        for seed in SEEDS:
            run_dir = Path(tmp) / f"seed{seed}"
            t0 = time.perf_counter()
            proc = rl_train(f"seed={seed}", "progress=false", f"hydra.run.dir={run_dir}",
                            cwd=ROOT)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            m = json.loads((run_dir / "metrics.json").read_text())
            solved_all &= m["solved"]
            walls.append(wall)
            held = m["heldout"]
            heldout.append(held["mean"])
            rows.append(f"| {seed} | {'yes' if m['solved'] else 'no'} | {m['episodes_to_solve']} "
                        f"| {m['env_steps_to_solve']} | {m['final_eval_return']:.1f} "
                        f"| {held['mean']:.1f} [{held['ci95'][0]:.1f}, {held['ci95'][1]:.1f}] "
                        f"| {m['wall_seconds_to_solve'] or float('nan'):.1f} | {wall:.1f} |")
    return "\n".join([
        "### Time to solve CartPole-v1 (default preset `reinforce_cartpole`)",
        "",
        "`rl-train seed=S progress=false`, one process per seed, run one after another. Solved: "
        "greedy eval mean over 10 episodes >= 475 (the env's reward_threshold), evaluated every "
        "5,000 env steps; the eval that stops the run is the selection, so the solved policy is "
        "then scored on 100 held-out episodes (mean [95 % CI]). Process wall = process start to "
        "exit (Python, Hydra and TensorFlow imports and the held-out episodes included).",
        "",
        "| seed | solved | episodes | env steps | final eval | held-out | train s to solve "
        "| process wall s |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"**Every seed solved: {'yes' if solved_all else 'NO'}; held-out median "
        f"{median(heldout):.1f}; median process wall {median(walls):.1f} s** (target <= 30 s).",
    ])


# ---------------------------------------------------------------------------------------------
def notebook_loop(episodes: int, seed: int) -> tuple[int, float]:
    """The notebook's REINFORCE loop, as written there: an eager Keras call per env step,
    np.random.choice, an eager update per episode. Returns (env steps, seconds)."""
    import gymnasium as gym
    import tensorflow as tf
    from tensorflow.keras import Sequential
    from tensorflow.keras.layers import Dense, Input

    tf.keras.utils.set_random_seed(seed)
    env = gym.make("CartPole-v1")
    policy_net = Sequential([Input(shape=(4,)), Dense(32, activation="relu"),
                             Dense(32, activation="relu"), Dense(2, activation="softmax")])
    optimizer = tf.keras.optimizers.Adam(1e-3)
    gamma = 0.99
    steps = 0
    t0 = time.perf_counter()
    s, _ = env.reset(seed=seed)
    for _ in range(episodes):
        states, actions, rewards = [], [], []
        s, _ = env.reset()
        while True:
            probs = policy_net(tf.convert_to_tensor([s], dtype=tf.float32))[0].numpy()
            probs = probs / probs.sum()
            a = np.random.choice(len(probs), p=probs)
            s_next, r, terminated, truncated, _ = env.step(a)
            states.append(s), actions.append(a), rewards.append(r)
            steps += 1
            if terminated or truncated:
                break
            s = s_next
        G = np.zeros(len(rewards))
        running = 0.0
        for t in reversed(range(len(rewards))):
            running = rewards[t] + gamma * running
            G[t] = running
        with tf.GradientTape() as tape:
            probs = policy_net(tf.convert_to_tensor(states, dtype=tf.float32))
            sel = tf.reduce_sum(probs * tf.one_hot(actions, depth=2), axis=1)
            loss = -tf.reduce_mean(tf.math.log(sel + 1e-8) *
                                   tf.convert_to_tensor(G, dtype=tf.float32))
        grads = tape.gradient(loss, policy_net.trainable_variables)
        optimizer.apply_gradients(zip(grads, policy_net.trainable_variables))
    return steps, time.perf_counter() - t0


def runner_loop(overrides: list[str], updates: int) -> tuple[int, float, int]:
    """rl_runner's trainer doing `updates` collect+update iterations (no evaluation).
    Returns (env steps, seconds, episodes)."""
    from benchmarks.harness import make_trainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(overrides, tmp)
        trainer.iteration()  # trace the update outside the timing
        steps, episodes = 0, trainer.episodes
        t0 = time.perf_counter()
        for _ in range(updates):
            steps += trainer.iteration()
        seconds = time.perf_counter() - t0
        episodes = trainer.episodes - episodes
        trainer.close()
    return steps, seconds, episodes


def speedup(repeats: int = 3) -> str:
    ours, theirs = [], []
    for r in range(repeats):
        steps, sec, _ = runner_loop(["preset=reinforce_seed", f"seed={r}"], EPISODES)
        ours.append(steps / sec)
        steps, sec = notebook_loop(EPISODES, seed=r)
        theirs.append(steps / sec)
    ratio = median(ours) / median(theirs)
    return "\n".join([
        f"### Engineering speed-up at equal work ({EPISODES} episodes, notebook setup)",
        "",
        f"Both loops train the notebook's network and update (32-32 ReLU, Adam 1e-3, one episode "
        f"per update, raw returns) for {EPISODES} episodes without evaluation, side by side in one "
        "process, alternating, repeats = seeds 0..2. Notebook-style: an eager Keras call per env "
        "step and an eager update (written in `benchmarks/bench_reinforce.py`). rl_runner: "
        "`preset=reinforce_seed` (numpy acting copy, one compiled update per batch).",
        "",
        "| loop | env steps/s (median) | runs |",
        "|---|---|---|",
        f"| notebook-style | {median(theirs):,.0f} | {', '.join(f'{x:,.0f}' for x in theirs)} |",
        f"| rl_runner | {median(ours):,.0f} | {', '.join(f'{x:,.0f}' for x in ours)} |",
        "",
        f"**Speed-up: {ratio:.1f}x** (target >= 20x).",
    ])


# ---------------------------------------------------------------------------------------------
def acting_cost(repeats: int = 2000) -> list[str]:
    """Per-vector-step policy cost: numpy copy vs one compiled tf.function call."""
    import tensorflow as tf

    import rl_runner
    from rl_runner.algos.reinforce import Policy
    from rl_runner.envs import EnvSpec
    from rl_runner.networks import NumpyMLP

    spec = EnvSpec("CartPole-v1", 4, True, 2, np.empty(0), np.empty(0), 475.0, 500)
    policy = Policy(spec, rl_runner.compose(["algo.hidden_sizes=[64,64]"]).algo)
    numpy_net = NumpyMLP(policy.net, "relu")
    compiled = tf.function(lambda x: policy.net(x))
    rows = []
    for n in (1, 8):
        obs = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
        compiled(obs)
        times = {}
        for name, fn in (("numpy copy", numpy_net), ("tf.function", lambda o: compiled(o).numpy())):
            samples = []
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(repeats):
                    fn(obs)
                samples.append((time.perf_counter() - t0) / repeats * 1e6)
            times[name] = median(samples)
        rows.append(f"| {n} | {times['numpy copy']:.1f} | {times['tf.function']:.1f} "
                    f"| {times['tf.function'] / times['numpy copy']:.0f}x |")
    return rows


def throughput(updates: int = 60, repeats: int = 3) -> str:
    rows, medians = [], {}
    for n in (1, 4, 8):
        sps = []
        for r in range(repeats):
            steps, sec, _ = runner_loop([f"num_envs={n}", "algo.episodes_per_update=8",
                                         f"seed={r}"], updates)
            sps.append(steps / sec)
        medians[n] = median(sps)
        rows.append(f"| {n} | {median(sps):,.0f} | {', '.join(f'{x:,.0f}' for x in sps)} |")
    return "\n".join([
        "### Collection throughput during training (default preset, 8 episodes per update)",
        "",
        f"Env steps per second over {updates} collect+update iterations of an untrained policy "
        "(short episodes, so the per-update cost weighs more than late in training), median of "
        f"{repeats}. With num_envs > 1 each env gives a fixed count of complete episodes per "
        "batch; the steps of episodes still running when the batch is full count too.",
        "",
        "| num_envs | env steps/s (median) | runs |",
        "|---|---|---|",
        *rows,
        "",
        "Acting cost per vector step (64-64 policy), which decided how collection acts:",
        "",
        "| batch | numpy copy (us) | tf.function call (us) | ratio |",
        "|---|---|---|---|",
        *acting_cost(),
        "",
        "Collection therefore acts through the numpy copy, refreshed after each update.",
        "",
        f"**{medians[8]:,.0f} env steps/s with `num_envs=8`, {medians[8] / medians[1]:.1f}x one "
        "env**.",
    ])


def main() -> None:
    write_fragment("reinforce_1_solve", time_to_solve())
    write_fragment("reinforce_2_speedup", speedup())
    write_fragment("reinforce_3_throughput", throughput())
