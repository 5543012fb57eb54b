"""Real sweeps: a parallel grid through joblib, a failing cell, an Optuna search, submitit
and Ray launchers, and the sweep report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import read_scalars, rl_train
from rl_runner.report import main as rl_report

TINY = ["total_env_steps=600", "eval.every_env_steps=300", "eval.episodes=2"]


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent.parent for p in sweep_dir.rglob(".hydra/config.yaml"))


@pytest.mark.slow
def test_parallel_grid_runs_every_job_and_reports_groups_across_seeds(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    proc = rl_train("-m", "hydra/launcher=local_parallel", "algo.lr=0.001,0.003", "seed=0,1",
                    *TINY, f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = job_dirs(tmp_path)
    assert [j.name for j in jobs] == [
        f"algo.lr={lr},eval.episodes=2,eval.every_env_steps=300,seed={s},total_env_steps=600"
        for lr in ("0.001", "0.003") for s in (0, 1)]
    for job in jobs:
        assert [s for s, _ in read_scalars(job)["eval/episodic_return"]][-1] >= 600
        acc = EventAccumulator(str(job))
        acc.Reload()
        session = plugin_data_pb2.HParamsPluginData.FromString(
            acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]).session_start_info
        assert session.hparams["algo.lr"].number_value in (0.001, 0.003)
        assert session.hparams["seed"].number_value in (0, 1)

    rl_report([str(tmp_path)])
    report = (tmp_path / "report.md").read_text()
    rows = [ln for ln in report.splitlines() if ln.startswith("| algo.lr=")]
    assert [r.split(" | ")[0] for r in rows] == ["| algo.lr=0.001", "| algo.lr=0.003"]
    assert all(r.split(" | ")[1:3] == ["2", "0"] for r in rows)  # 2 seeds, 0 failed
    assert (tmp_path / "curves.png").stat().st_size > 10_000


@pytest.mark.slow
def test_a_failing_cell_is_reported_and_the_others_complete(tmp_path):
    proc = rl_train("-m", "hydra/launcher=local_parallel", "algo.lr=0.003,-1", "seed=0", *TINY,
                    f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode != 0  # Hydra reports the failed job once all have run
    rest = "eval.episodes=2,eval.every_env_steps=300,seed=0,total_env_steps=600"
    good, bad = tmp_path / f"algo.lr=0.003,{rest}", tmp_path / f"algo.lr=-1,{rest}"
    assert json.loads((good / "metrics.json").read_text())["env_steps"] >= 600
    error = json.loads((bad / "failure.json").read_text())["error"]
    assert "algo.lr=-1 is out of range" in error
    rl_report([str(tmp_path)])
    report = (tmp_path / "report.md").read_text()
    assert "| algo.lr=-1.0 | 0 | 1 |" in report and "| algo.lr=0.003 | 1 | 0 |" in report
    assert "## Failed jobs" in report and "algo.lr=-1 is out of range" in report


@pytest.mark.slow
def test_optuna_search_with_two_seeds_per_trial(tmp_path):
    proc = rl_train("-m", "hparams_search=reinforce_cartpole", "hydra.sweeper.n_trials=2",
                    *TINY, f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    trials = [json.loads(p.read_text()) for p in tmp_path.glob("*/metrics.json")]
    assert len(trials) == 2 and all(t["seeds"] == [0, 1] for t in trials)
    for t in trials:  # each trial's objective: the mean over its seeds
        assert t["final_eval_return"] == pytest.approx(sum(t["final_eval_return_per_seed"]) / 2)
    assert results["best_value"] == pytest.approx(max(t["final_eval_return"] for t in trials))
    assert set(results["best_params"]) == {"algo.lr", "algo.hidden_sizes",
                                           "algo.episodes_per_update", "algo.entropy_coef"}
    assert (tmp_path / "optuna.db").exists()  # the study can be resumed


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["submitit_local", "ray"])
def test_cluster_launchers_run_a_job(tmp_path, launcher):
    extra = ["+hydra.launcher.ray.init.include_dashboard=false"] if launcher == "ray" else []
    proc = rl_train("-m", f"hydra/launcher={launcher}", "seed=3", *TINY, *extra,
                    f"hydra.sweep.dir={tmp_path}", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (job,) = job_dirs(tmp_path)
    assert json.loads((job / "metrics.json").read_text())["env_steps"] >= 600
    assert read_scalars(job)["eval/episodic_return"]


def test_report_groups_by_what_varies_and_bootstraps_the_mean():
    import numpy as np

    from rl_runner.report import Run, bootstrap_ci, group_key

    runs = [Run(Path(f"r{i}"), {"algo.lr": lr, "seed": s, "progress": False, "env.id": "X"})
            for i, (lr, s) in enumerate([(0.1, 0), (0.1, 1), (0.2, 0)])]
    assert group_key(runs) == ["algo.lr"]  # seed and runtime keys never split groups
    rng = np.random.default_rng(0)
    assert bootstrap_ci(np.array([3.0, 3.0, 3.0]), rng) == (3.0, 3.0)
    assert bootstrap_ci(np.array([7.0]), rng) == (7.0, 7.0)
    lo, hi = bootstrap_ci(np.array([0.0, 10.0, 0.0, 10.0]), rng)
    assert 0.0 <= lo < 5.0 < hi <= 10.0
