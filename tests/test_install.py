"""The ordinary install: a wheel built from the checkout, installed into a fresh venv, used
from a directory that is not the checkout (configs come from the package, runs go to the
current directory's outputs/)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def run(cmd: list, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_trains_evaluates_and_reports_from_any_directory(tmp_path):
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist,
                 ROOT], cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("rl_runner-*.whl")
    assert run([sys.executable, "-m", "venv", venv], cwd=tmp_path).returncode == 0
    installed = run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel],
                    cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]
    bin_ = venv / "bin"

    helped = run([bin_ / "rl-train", "--help"], cwd=work)
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert "algo: ddpg, reinforce, td3" in helped.stdout

    trained = run([bin_ / "rl-train", "total_env_steps=600", "eval.every_env_steps=300",
                   "eval.episodes=2", "progress=false"], cwd=work)
    assert trained.returncode == 0, trained.stderr[-3000:]
    (run_dir,) = work.glob("outputs/*/*_reinforce_CartPole-v1")
    assert json.loads((run_dir / "metrics.json").read_text())["env_steps"] >= 600
    assert not (work / "outputs" / "conf").exists()  # the package's configs were used
    assert "Error importing" not in trained.stderr  # our sweeper plugin, without optuna

    evaluated = run([bin_ / "rl-eval", run_dir, "episodes=2"], cwd=work)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert json.loads((run_dir / "eval.json").read_text())["episodes"] == 2
    reported = run([bin_ / "rl-report", run_dir], cwd=work)
    assert reported.returncode == 0, reported.stderr[-3000:]

    refused = run([bin_ / "rl-train", "algo=ddgp"], cwd=work)
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("rl-train: error: algo=ddgp is not an option of algo: "
                                      "choose one of ddpg, reinforce, td3")

    api = run([bin_ / "python", "-c", API], cwd=work)  # the Python API of the installed wheel
    assert api.returncode == 0, api.stderr[-3000:]
    final, run_dir_from_python = api.stdout.split()
    assert float(final) == json.loads((run_dir / "metrics.json").read_text())[
        "final_eval_return"]  # same overrides, same seed: the CLI's number
    assert Path(run_dir_from_python).parent.parent == work / "outputs"


API = ("import rl_runner; r = rl_runner.train(['total_env_steps=600', "
       "'eval.every_env_steps=300', 'eval.episodes=2', 'progress=false']); "
       "print(r.metrics.final_eval_return, r.run_dir)")
