"""Short real runs: the entry point, event files read back, artefacts, determinism, learning."""
from __future__ import annotations

import json
import math

import pytest

from conftest import read_scalars, rl_train, train_in_process

TINY = ["total_env_steps=3000", "eval.every_env_steps=1000", "eval.episodes=3",
        "early_stop=false"]


@pytest.mark.slow
def test_cli_run_writes_events_metrics_and_config(tmp_path):
    run_dir = tmp_path / "run"
    proc = rl_train(*TINY, "progress=false", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"run dir {run_dir}" in proc.stderr and "tensorboard --logdir" in proc.stderr

    scalars = read_scalars(run_dir)
    steps = [s for s, _ in scalars["eval/episodic_return"]]
    assert steps[:2] == sorted(steps[:2]) and 1000 <= steps[0] < 1600
    assert steps[-1] >= 3000 and len(steps) == 3
    # The mean of eval.episodes=3 CartPole episodes: a sum of whole steps over 3, each episode
    # at least 8 steps long.
    assert all(v >= 8 and (3 * v) == pytest.approx(round(3 * v), abs=1e-4)
               for _, v in scalars["eval/episodic_return"])
    for tag in ("eval/episodic_return_std", "charts/episodic_return", "charts/episodic_length",
                "losses/policy_loss", "losses/entropy"):
        assert scalars[tag], tag
    train_steps = [s for s, _ in scalars["charts/episodic_return"]]
    assert train_steps == sorted(train_steps) and train_steps[-1] <= steps[-1]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["env_steps"] == steps[-1]
    assert metrics["final_eval_return"] == pytest.approx(scalars["eval/episodic_return"][-1][1])
    assert metrics["solved"] is (metrics["best_eval_return"] >= 475)
    assert (run_dir / ".hydra" / "config.yaml").exists()
    # The run's result: 100 episodes from held-out start states, in metrics.json and TensorBoard.
    final = metrics["heldout"]
    assert final["episodes"] == 100 and final["ci95"][0] < final["mean"] < final["ci95"][1]
    assert final["ci95"][1] - final["ci95"][0] == pytest.approx(
        2 * 1.96 * final["std"] / 10, rel=0.15)  # a CI of the mean, not of the returns
    assert scalars["heldout/episodic_return"] == [(steps[-1], pytest.approx(final["mean"]))]
    assert [scalars[f"heldout/episodic_return_ci95_{end}"][0][1] for end in ("low", "high")] \
        == pytest.approx(final["ci95"])
    assert scalars["heldout/best_episodic_return"] == [
        (steps[-1], pytest.approx(metrics["heldout_best"]["mean"]))]


def test_each_run_seed_evaluates_and_is_scored_on_start_states_of_its_own():
    """Training envs, periodic evals and held-out episodes of seeds 0-2: no start state shared
    between two seeds or two uses (seeds s and s+1 shared 19 of 20 eval states, and with
    num_envs > 1 training sub-envs, before)."""
    import numpy as np

    from rl_runner.config import EnvConfig
    from rl_runner.envs import (
        EVAL_STATES,
        HELDOUT_STATES,
        TRAIN_STATES,
        make_vector_env,
        start_seeds,
    )
    from rl_runner.evaluation import Evaluator

    env = EnvConfig(id="Pusher-v5")
    states = []
    for seed in range(3):
        for stream, episodes in ((EVAL_STATES, 20), (HELDOUT_STATES, 100)):
            evaluator = Evaluator(env, start_seeds(seed, stream, episodes))
            states.append(evaluator.env.reset(seed=evaluator.seeds)[0])
            evaluator.close()
        train = make_vector_env(env, 4, seed)
        states.append(train.reset(seed=start_seeds(seed, TRAIN_STATES, 4))[0])
        train.close()
    states = np.concatenate(states)
    assert len(states) == 3 * (20 + 100 + 4)
    assert len(np.unique(states, axis=0)) == len(states)


@pytest.mark.parametrize("env_id, limit", [("CartPole-v1", 500), ("Pusher-v5", 100)])
def test_an_evaluations_progress_counts_its_env_steps_and_ends_at_its_bound(env_id, limit):
    """The bar of the held-out episodes moves with the env steps (Pusher's episodes all end at
    once, at their time limit: a bar of episodes stood at 0 until the end), and ends full when
    episodes end early (CartPole's random policy falls within ~20 steps)."""
    import numpy as np

    from rl_runner.config import EnvConfig
    from rl_runner.envs import HELDOUT_STATES, start_seeds
    from rl_runner.evaluation import Evaluator

    evaluator = Evaluator(EnvConfig(id=env_id), start_seeds(0, HELDOUT_STATES, 3))
    space = evaluator.env.action_space
    told: list[int] = []
    try:
        result = evaluator(lambda obs: space.sample(), told.append)
    finally:
        evaluator.close()
    steps = int(np.max(result.lengths))
    assert evaluator.max_steps == 3 * limit and sum(told) == 3 * limit
    assert told[0] == 3 and len(told) == steps + 1  # one per vector step, then the rest
    assert sum(told[:-1]) == int(np.sum(result.lengths))
    assert (told[-1] == 0) == (env_id == "Pusher-v5")


@pytest.mark.parametrize("previous, said", [
    (None, ""),
    ({"checkpoint": "/r/checkpoints/best/ckpt-3", "episodes": 100, "seed": 1, "mean": -24.5},
     " (replacing the previous one: best checkpoint (ckpt-3), 100 episodes, seed 1: -24.50)"),
    ({"checkpoint": "/r/checkpoints/ckpt-30", "episodes": 5, "seed": 0, "mean": 12},
     " (replacing the previous one: latest checkpoint (ckpt-30), 5 episodes, seed 0: 12.00)"),
    ({}, " (replacing an eval.json it could not read)"),
    ({"checkpoint": "c", "episodes": 5, "seed": 0, "mean": 10**400},
     " (replacing an eval.json it could not read)"),
    ({"checkpoint": None, "episodes": 5, "seed": 0, "mean": 1.0},
     " (replacing an eval.json it could not read)"),
])
def test_rl_eval_names_the_evaluation_its_eval_json_replaced(tmp_path, previous, said):
    from rl_runner.eval_cli import replacing
    from rl_runner.evaluation import previous_eval

    assert previous_eval(tmp_path) is None
    for text in ("[1, 2]", "{not json", "\xff"):
        (tmp_path / "eval.json").write_text(text)
        assert previous_eval(tmp_path) == {}
    if previous is not None:
        (tmp_path / "eval.json").write_text(json.dumps(previous))
        assert previous_eval(tmp_path) == previous
    assert replacing(previous) == said


def test_the_heldout_ci_stays_within_the_returns_and_is_reproducible():
    """99 CartPole episodes of 500 and one of 200: a Student t interval would reach 503 (a
    return no episode can have); the bootstrap CI stays at or below 500, the same each time."""
    import numpy as np

    from rl_runner.evaluation import summarize

    returns = np.array([500.0] * 99 + [200.0])
    result = summarize(returns, returns, [])
    assert result.mean == 497 and result.std == pytest.approx(30.0)
    assert 485 < result.ci95[0] < 497 < result.ci95[1] <= 500
    assert summarize(returns, returns, []).ci95 == result.ci95
    one = summarize(np.array([42.0]), np.array([42.0]), [])
    assert (one.mean, one.std, one.ci95) == (42.0, 0.0, (42.0, 42.0))


@pytest.mark.slow
def test_hparams_are_recorded_for_the_dashboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    train_in_process([*TINY, "total_env_steps=1000", "algo.lr=0.002"], tmp_path)
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    assert session.hparams["algo.lr"].number_value == pytest.approx(0.002)
    assert session.hparams["env.id"].string_value == "CartPole-v1"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/experiment"]).experiment
    assert {"heldout/episodic_return", "eval/episodic_return"} <= {
        m.name.tag for m in experiment.metric_infos}


@pytest.mark.slow
def test_same_seed_same_eval_curve(tmp_path):
    curves = []
    for i in range(2):
        train_in_process([*TINY, "seed=7"], tmp_path / str(i))
        curves.append(read_scalars(tmp_path / str(i))["eval/episodic_return"])
    assert curves[0] == curves[1]
    train_in_process([*TINY, "seed=8"], tmp_path / "other")
    assert read_scalars(tmp_path / "other")["eval/episodic_return"] != curves[0]


@pytest.mark.slow
def test_reinforce_solves_cartpole_with_the_default_preset(tmp_path):
    metrics = train_in_process(["seed=0"], tmp_path)
    assert metrics.solved and metrics.final_eval_return >= 475
    assert metrics.env_steps_to_solve <= 60_000


@pytest.mark.slow
def test_box_action_env_runs_gaussian_updates(tmp_path):
    metrics = train_in_process(["env=gym", "env.id=Pendulum-v1", "env.max_episode_steps=50",
                                "num_envs=2", "total_env_steps=600", "eval.every_env_steps=300",
                                "eval.episodes=2"], tmp_path)
    assert metrics.updates >= 5 and metrics.env_steps >= 600
    scalars = read_scalars(tmp_path)
    assert all(math.isfinite(v) for _, v in scalars["losses/policy_loss"])
    assert scalars["eval/episodic_return"][-1][1] == pytest.approx(metrics.final_eval_return)
    # A Gaussian policy's entropy is its log-std's alone: it moves only if log-std is trained.
    entropies = [v for _, v in scalars["losses/entropy"]]
    initial = -0.5 + 0.5 * (math.log(2 * math.pi) + 1)  # init_log_std -0.5, one action dim
    assert entropies[0] == pytest.approx(initial, abs=1e-6) and len(set(entropies)) > 1


@pytest.mark.slow
def test_multirun_grid_makes_one_run_dir_per_job(tmp_path):
    proc = rl_train("-m", "seed=0,1", "total_env_steps=500", "eval.every_env_steps=500",
                    "eval.episodes=2", "progress=false", f"hydra.sweep.dir={tmp_path}",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    prefix = "eval.episodes=2,eval.every_env_steps=500"
    for job in ("seed=0", "seed=1"):
        run_dir = tmp_path / f"{prefix},{job},total_env_steps=500"
        assert read_scalars(run_dir)["eval/episodic_return"], job


@pytest.mark.full
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_reinforce_solves_cartpole_on_every_benchmark_seed(tmp_path, seed):
    metrics = train_in_process([f"seed={seed}"], tmp_path)
    assert metrics.solved and metrics.final_eval_return >= 475
