"""The Python API end to end: train, compose, load_policy, evaluate, errors, two trains in one
process, resume and search.seeds; the same run dirs and lines as rl-train."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

import rl_runner
from conftest import ROOT, python, rl_train

CARTPOLE = ["total_env_steps=3000", "eval.every_env_steps=1000", "eval.episodes=3",
            "checkpoint.every_env_steps=1000", "early_stop=false", "progress=false"]
PENDULUM = ["algo=td3", "env=gym", "env.id=Pendulum-v1", "total_env_steps=1000",
            "algo.learning_starts=300", "algo.buffer_size=5000", "algo.batch_size=32",
            "algo.hidden_sizes=[32,32]", "eval.every_env_steps=500", "eval.episodes=2",
            "eval.heldout_episodes=5", "progress=false"]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent.parent for p in root.rglob(".hydra/config.yaml"))


@pytest.mark.slow
def test_train_twice_in_one_process_gives_the_clis_run(in_tmp):
    first = rl_runner.train(CARTPOLE)
    second = rl_runner.train({"total_env_steps": 3000, "early_stop": False, "progress": False,
                              "eval": {"every_env_steps": 1000, "episodes": 3},
                              "checkpoint.every_env_steps": 1000})
    assert first.run_dir != second.run_dir and run_dirs(in_tmp) == sorted(
        [first.run_dir, second.run_dir])
    # Nothing leaks between the two runs: same seed, same numbers.
    assert first.metrics == second.metrics.__class__(**{
        **second.metrics.__dict__, "wall_seconds": first.metrics.wall_seconds,
        "wall_seconds_to_solve": first.metrics.wall_seconds_to_solve})
    assert first.metrics.env_steps >= 3000 and first.config.algo.name == "reinforce"
    # The same artefact as the CLI writes, and the same result.
    assert {".hydra", "checkpoints", "metrics.json", "policy", "train.log"} <= {
        p.name for p in first.run_dir.iterdir()}
    assert {"config.yaml", "hydra.yaml", "overrides.yaml"} <= {
        p.name for p in (first.run_dir / ".hydra").iterdir()}
    log = (first.run_dir / "train.log").read_text()  # rl-train's lines, also from Python
    assert "reinforce on CartPole-v1 (preset reinforce_cartpole" in log and "stopped: " in log
    assert repr(first) == (f"Run(reinforce on CartPole-v1, heldout="
                           f"{first.metrics.heldout.mean:.2f}, run_dir='{first.run_dir}')")
    assert rl_runner.Run.load(first.run_dir).metrics == first.metrics  # HeldOut read back
    loaded = python("import sys, rl_runner; run = rl_runner.Run.load(sys.argv[1]); "
                    "print(run.metrics.heldout.mean, 'tensorflow' in sys.modules)",
                    str(first.run_dir))  # reading a run does not load TensorFlow
    assert loaded.stdout.split() == [repr(first.metrics.heldout.mean), "False"], loaded.stderr
    cli = rl_train(*CARTPOLE, "hydra.run.dir=cli", cwd=in_tmp)
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert json.loads((in_tmp / "cli" / "metrics.json").read_text())["final_eval_return"] == \
        first.metrics.final_eval_return
    assert rl_runner.Run.load(in_tmp / "cli").metrics.episodes == first.metrics.episodes

    policy = rl_runner.load_policy(first.run_dir)
    single, batch = policy(np.zeros(4)), policy(np.zeros((5, 4), np.float64))
    assert np.ndim(single) == 0 and batch.shape == (5,) and set(batch.tolist()) <= {0, 1}
    evaluation = rl_runner.evaluate(first.run_dir, render="gif")
    assert evaluation.video == first.run_dir / "rollout.gif" and evaluation.video.stat().st_size
    saved = json.loads((first.run_dir / "eval.json").read_text())
    assert saved["mean"] == evaluation.mean and len(evaluation.returns) == 100
    # By default the run's held-out states, all of them: its metrics.json result.
    assert evaluation.mean == first.metrics.heldout.mean
    assert list(evaluation.ci95) == first.metrics.heldout.ci95


def readme_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("<!-- api-snippet -->\n```python\n")[1].split("```")[0]


@pytest.mark.slow
def test_the_readmes_python_example_on_a_short_run(in_tmp):
    snippet = readme_snippet()
    asked = '["algo=td3", "env=gym", "env.id=Pendulum-v1", "total_env_steps=30000"]'
    assert asked in snippet
    namespace = {}
    exec(snippet.replace(asked, repr(PENDULUM)), namespace)  # the README's lines, a shorter run
    run, policy, result = namespace["run"], namespace["policy"], namespace["result"]
    assert run.metrics.updates > 0 and np.isfinite(run.metrics.heldout.mean)
    actions = policy(np.zeros((3, 3), np.float32))
    assert actions.shape == (3, 1) and np.all(np.abs(actions) <= 2.0)  # Pendulum's bounds
    assert result.episodes == 10 and result.lengths == [200] * 10
    assert result.video.suffix == ".gif" and result.video.stat().st_size > 10_000
    assert namespace["cfg"].algo.name == "ddpg" and namespace["cfg"].env.id == "Pusher-v5"
    best = run.evaluate(episodes=2, checkpoint="best")
    assert Path(best.checkpoint).parent.name == "best" and best.episodes == 2


BAD = [(["algo.lrr=1"], "algo.lrr is not a key of algo=reinforce"),
       (["env=nope"], "env=nope is not an option of env"),
       (["algo=ddpg", "env=gym", "env.id=Pendulum-v1", "total_env_steps=5000"],
        "algo.learning_starts"),
       ({"algo": {"lr": "fast"}}, "algo.lr=fast: algo.lr takes a number")]


@pytest.mark.parametrize("overrides, starts", BAD, ids=[str(b[0])[:30] for b in BAD])
def test_errors_are_rl_trains_one_line_and_leave_nothing(in_tmp, overrides, starts):
    with pytest.raises(rl_runner.ConfigError) as error:
        rl_runner.train(overrides)
    assert str(error.value).startswith(starts), str(error.value)
    assert list(in_tmp.iterdir()) == []
    if isinstance(overrides, list):
        cli = rl_train(*overrides, cwd=in_tmp)
        assert cli.returncode == 2 and cli.stderr.strip() == f"rl-train: error: {error.value}"


def test_the_package_shows_its_api():
    assert dir(rl_runner) == sorted(["ConfigError", "Run", "RunStopped", "__version__", "compose",
                                     "evaluate", "load_policy", "train"])
    assert "-> Run: train as ``rl-train`` does" in type(rl_runner.train).__call__.__doc__
    with pytest.raises(rl_runner.ConfigError,
                       match=r"^episodes=1 is out of range: must be >= 2 \(a 95 % CI needs"):
        rl_runner.evaluate("anywhere", episodes=1)


def test_compose_returns_the_typed_config_and_takes_lists_dicts_and_keywords(in_tmp):
    from rl_runner.config import Config

    listed = rl_runner.compose(["algo=ddpg", "env=pusher", "algo.buffer_size=1e6", "seed=3"])
    as_dict = rl_runner.compose({"algo": "ddpg", "env": "pusher", "algo.buffer_size": 1e6},
                                seed=3)
    assert isinstance(listed, Config) and listed == as_dict
    assert listed.algo.buffer_size == 1_000_000 and listed.env.id == "Pusher-v5"
    assert listed.algo.updates_per_step == 2  # the ddpg_pusher preset came with them
    with pytest.raises(TypeError, match=r"not one string: \['algo=ddpg', 'seed=1'\]"):
        rl_runner.compose("algo=ddpg seed=1")
    with pytest.raises(rl_runner.ConfigError, match="takes overrides only"):
        rl_runner.train(["-m", "seed=0,1"])
    assert list(in_tmp.iterdir()) == []


@pytest.mark.slow
def test_interrupted_then_resumed_from_python(in_tmp, monkeypatch):
    from rl_runner.algos.reinforce import ReinforceTrainer

    iteration = ReinforceTrainer.iteration

    def interrupt_once(self):  # Ctrl-C in a notebook: SIGINT to this process mid-run
        if self.env_steps >= 1500 and not os.environ.get("_INTERRUPTED"):
            os.environ["_INTERRUPTED"] = "1"
            os.kill(os.getpid(), signal.SIGINT)
        return iteration(self)

    monkeypatch.setattr(ReinforceTrainer, "iteration", interrupt_once)
    monkeypatch.delenv("_INTERRUPTED", raising=False)
    with pytest.raises(rl_runner.RunStopped, match="SIGINT at env step") as stopped:
        rl_runner.train(CARTPOLE, **{"hydra.run.dir": "stopped"})
    assert stopped.value.exit_code == 130 and not (in_tmp / "stopped" / "metrics.json").exists()
    assert stopped.value.run_dir == str(in_tmp / "stopped")
    assert Path(stopped.value.checkpoint).parent == in_tmp / "stopped" / "checkpoints"
    assert str(stopped.value).endswith(
        f"Resume with: rl_runner.train(resume={str(in_tmp / 'stopped')!r})")
    resumed = rl_runner.train(resume=in_tmp / "stopped", progress=False)
    assert resumed.run_dir == in_tmp / "stopped" and resumed.metrics.env_steps >= 3000
    reference = rl_runner.train(CARTPOLE)
    assert resumed.metrics.final_eval_return == reference.metrics.final_eval_return


@pytest.mark.slow
def test_search_seeds_from_python(in_tmp, capsys):
    run = rl_runner.train([*CARTPOLE, "total_env_steps=1000", "search.seeds=2"])
    assert [r.config.seed for r in run.seeds] == [0, 1]
    finals = [r.metrics.final_eval_return for r in run.seeds]
    assert run.metrics.final_eval_return == pytest.approx(np.mean(finals))
    assert run.metrics.final_eval_return_per_seed == finals
    assert run.metrics.heldout_return_per_seed == [r.metrics.heldout.mean for r in run.seeds]
    err = capsys.readouterr().err
    for seed, (final, held) in enumerate(zip(finals, run.metrics.heldout_return_per_seed)):
        assert f"seed {seed}: final eval return {final:.2f}; held-out return {held:.2f} ± " in err
    assert f"mean held-out return {np.mean(run.metrics.heldout_return_per_seed):.2f}" in err


def test_a_config_error_after_the_claim_releases_the_run_dir(in_tmp):
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    with pytest.raises(rl_runner.ConfigError, match="device=gpu"):
        rl_runner.train([*CARTPOLE, "device=gpu"])
    assert list(in_tmp.iterdir()) == []
