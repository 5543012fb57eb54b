"""Runs that survive: SIGINT + exact resume, corrupt checkpoints, NaN stops, rl-eval and
renders, the exported SavedModel."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import make_trainer, python, read_scalars, rl_train, train_in_process
from rl_runner.checkpoint import restore_policy
from rl_runner.errors import RunStopped

DDPG_TINY = ["algo=ddpg", "env=pusher", "total_env_steps=3000", "algo.learning_starts=500",
             "algo.buffer_size=5000", "algo.batch_size=32", "algo.hidden_sizes=[32,32]",
             "algo.jit_compile=false", "eval.every_env_steps=1000", "eval.episodes=2",
             "checkpoint.every_env_steps=1000", "progress=false",
             "algo.noise.type=pink"]  # the noise with the most state to resume exactly
CARTPOLE_TINY = ["total_env_steps=3000", "eval.every_env_steps=1000", "eval.episodes=3",
                 "checkpoint.every_env_steps=1000", "early_stop=false", "progress=false"]


def assert_strictly_increasing(scalars: dict, tag: str) -> list[int]:
    steps = [s for s, _ in scalars[tag]]
    assert steps == sorted(set(steps)), f"{tag}: {steps}"
    return steps


@pytest.mark.slow
def test_stop_signals_record_the_first_and_exit_on_the_second(tmp_path):
    from rl_runner.signals import StopSignals

    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stops:
        signal.raise_signal(signal.SIGTERM)  # recorded, not acted on: the loop finishes its step
        assert stops.received == signal.SIGTERM and stops.name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before  # put back
    # A second signal exits at once with 128 + its number, before the block's end.
    script = ("import signal, time; from rl_runner.signals import StopSignals\n"
              "with StopSignals():\n"
              "    signal.raise_signal(signal.SIGINT); signal.raise_signal(signal.SIGTERM)\n"
              "    time.sleep(5); print('not reached')\n")
    proc = python(script)
    assert proc.returncode == 128 + signal.SIGTERM and "not reached" not in proc.stdout
    assert "SIGINT: finishing this step" in proc.stderr and "second interrupt" in proc.stderr
    # The same signal within ECHO_SECONDS is the first one reaching this process twice (the
    # terminal's group and a parallel sweep's forwarding), not a second.
    script = ("import signal, time; from rl_runner.signals import StopSignals, ECHO_SECONDS\n"
              "with StopSignals():\n"
              "    signal.raise_signal(signal.SIGINT); signal.raise_signal(signal.SIGINT)\n"
              "    print('echo ignored', flush=True); time.sleep(ECHO_SECONDS + 0.1)\n"
              "    signal.raise_signal(signal.SIGINT); time.sleep(5); print('not reached')\n")
    proc = python(script)
    assert proc.returncode == 128 + signal.SIGINT and proc.stdout == "echo ignored\n"
    assert proc.stderr.count("finishing this step") == 1, proc.stderr


def test_ctrl_c_before_the_first_checkpoint_leaves_no_run_dir(tmp_path):
    """Ctrl-C while the run starts (TensorFlow loading, the env made): nothing to resume, so
    no dir is left, as for bad input. The interrupt is raised where the job starts, so it
    lands there every time."""
    script = ("import sys\nfrom rl_runner import job, train\n"
              "def interrupted(*args, **kwargs):\n    raise KeyboardInterrupt\n"
              "job.execute = interrupted\ntrain.cli(sys.argv[1:])\n")
    proc = python(script, *CARTPOLE_TINY, cwd=tmp_path)
    assert proc.returncode == 130, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"rl-train: stopped: interrupted before the first checkpoint: there is "
                        r"nothing to resume; \S+/outputs/\S+ is removed", last), last
    assert not (tmp_path / "outputs").exists()


def test_sigint_then_resume_matches_an_uninterrupted_run(tmp_path):
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    cmd = [sys.executable, "-m", "rl_runner.train", *DDPG_TINY, f"hydra.run.dir={interrupted}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (interrupted / "checkpoints" / "checkpoint").exists():  # mid-training
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"Resume with: rl-train resume={interrupted}" in err
    stopped_at = int(err.split("SIGINT at env step ")[1].split(":")[0].replace(",", ""))
    assert 1000 <= stopped_at < 3000
    assert not (interrupted / "metrics.json").exists()
    assert rl_eval(str(interrupted), "episodes=2").returncode == 0  # the interrupted policy
    helped = rl_train(f"resume={interrupted}", "--help", cwd=tmp_path)  # what it goes on with
    assert helped.returncode == 0 and helped.stdout.startswith(
        f"rl-train resume={interrupted} continues the run with its saved config")
    assert ["total_env_steps:", "3000", "#", "training", "budget", "in", "environment",
            "steps"] in [line.split()[:8] for line in helped.stdout.splitlines()]

    resumed = rl_train(f"resume={interrupted}", "progress=false", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"at env step {stopped_at:,} (" in resumed.stderr
    (kept,) = interrupted.glob("eval.ckpt-*.json")  # not left as the run's eval.json
    assert not (interrupted / "eval.json").exists()
    assert (f"rl-eval's eval.json scored a policy from before this resume: kept as "
            f"{kept.name}") in resumed.stderr
    done = rl_train(*DDPG_TINY, f"hydra.run.dir={reference}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]

    ours, theirs = read_scalars(interrupted), read_scalars(reference)
    for tag in ("eval/episodic_return", "charts/episodic_return", "losses/qf_loss"):
        assert_strictly_increasing(ours, tag)
    assert ours["eval/episodic_return"] == theirs["eval/episodic_return"]  # exact, on CPU
    assert ours["charts/episodic_return"] == theirs["charts/episodic_return"]
    metrics = json.loads((interrupted / "metrics.json").read_text())
    assert metrics["env_steps"] == 3000 and metrics["episodes"] == 30


@pytest.mark.slow
def test_truncated_checkpoint_falls_back_and_overwrites_nothing(tmp_path):
    train_in_process(CARTPOLE_TINY, tmp_path)
    (tmp_path / "metrics.json").unlink()  # as if the run had stopped after its last checkpoint
    ckpt_dir = tmp_path / "checkpoints"
    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    data = Path(latest + ".data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:40])
    truncated = data.read_bytes()

    proc = rl_train(f"resume={tmp_path}", "progress=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"warning: checkpoint {latest} is unreadable" in proc.stderr
    assert data.read_bytes() == truncated  # not overwritten: the resumed run saves new numbers
    numbers = sorted(int(p.name.split("-")[1].split(".")[0]) for p in ckpt_dir.glob("ckpt-*.index"))
    assert numbers[-1] > int(latest.rsplit("-", 1)[1])
    assert_strictly_increasing(read_scalars(tmp_path), "eval/episodic_return")
    assert json.loads((tmp_path / "metrics.json").read_text())["env_steps"] >= 3000


@pytest.mark.slow
def test_no_readable_checkpoint_is_a_one_line_error(tmp_path):
    train_in_process(CARTPOLE_TINY, tmp_path)
    (tmp_path / "metrics.json").unlink()
    for data in (tmp_path / "checkpoints").glob("ckpt-*.data-*"):
        data.write_bytes(b"garbage")
    before = sorted((p.name, p.stat().st_size) for p in tmp_path.rglob("*") if p.is_file())
    proc = rl_train(f"resume={tmp_path}", "progress=false", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"rl-train: error: resume: no readable checkpoint in {tmp_path / 'checkpoints'}")
    after = sorted((p.name, p.stat().st_size) for p in tmp_path.rglob("*") if p.is_file()
                   if p.name != "train.log")
    assert after == [b for b in before if b[0] != "train.log"]


@pytest.mark.parametrize("setup, message", [
    ("missing", "no such directory"),
    ("not_a_run", "not a run dir (no .hydra/config.yaml)"),
    ("finished", "the run already finished (metrics.json)"),
    ("extra_override", "continues the run with its saved config; drop algo.lr=0.1"),
    ("seeds", "trained several seeds (search.seeds): give one of them, e.g. resume="),
    ("no_checkpoint", "holds no trained run (no checkpoint in checkpoints/): it stopped before "
                      "its first checkpoint"),
])
def test_bad_resume_is_one_line_and_changes_nothing(tmp_path, setup, message):
    run_dir = tmp_path / "run"
    extra = []
    if setup != "missing":
        (run_dir / ".hydra").mkdir(parents=True)
    if setup in ("finished", "extra_override", "seeds", "no_checkpoint"):
        (run_dir / ".hydra" / "config.yaml").write_text("seed: 0\n")
    if setup == "seeds":
        (run_dir / "seed=0" / "checkpoints").mkdir(parents=True)
    if setup in ("finished", "extra_override"):
        (run_dir / "checkpoints").mkdir()
        (run_dir / "checkpoints" / "checkpoint").write_text("")
    if setup == "finished":
        (run_dir / "metrics.json").write_text("{}")
    if setup == "extra_override":
        extra = ["algo.lr=0.1"]
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    proc = rl_train(f"resume={run_dir}", *extra, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def poison_critic_at(step: int, variable: int):
    """A test hook: NaN in one of the first critic's variables once the run reaches ``step``."""
    from rl_runner.algos.ddpg import DDPGTrainer

    original = DDPGTrainer.iteration

    def iteration(self):
        if self.env_steps >= step:
            weights = self.agent.critics.online[0].trainable_variables[variable]
            weights.assign(tf.fill(weights.shape, float("nan")))
        return original(self)

    return iteration


# The output bias makes Q NaN, so the loss check fires. NaN in the first hidden kernel passes a
# ReLU first, and oneDNN's ReLU (on by default, see rl_runner/__init__.py) maps NaN to 0: the
# loss stays finite and the gradient check fires instead, in the same iteration.
POISONED = {"output_bias": (-1, r"losses/qf_loss"),
            "hidden_kernel": (0, r"(losses/qf_loss|the gradient of losses/(qf|actor)_loss)")}


@pytest.mark.slow
@pytest.mark.parametrize("poisoned", list(POISONED))
def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, poisoned):
    from rl_runner.algos.ddpg import DDPGTrainer

    variable, named = POISONED[poisoned]
    monkeypatch.setattr(DDPGTrainer, "iteration", poison_critic_at(1500, variable))
    with pytest.raises(RunStopped) as stop:
        train_in_process(DDPG_TINY, tmp_path)
    assert stop.value.exit_code == 3
    assert re.match(f"{named} became NaN in the iteration after env step 1500;",
                    str(stop.value)), str(stop.value)
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert latest.endswith("ckpt-1") and f"Latest checkpoint (last good): {latest}" in \
        str(stop.value)
    monkeypatch.undo()
    trainer = make_trainer(DDPG_TINY, tmp_path)
    assert restore_policy(tmp_path, trainer.policy) == latest
    assert np.isfinite(trainer.act_greedy(np.zeros((2, trainer.spec.obs_dim)))).all()
    trainer.close()


@pytest.mark.slow
def test_a_nan_reinforce_loss_stops_the_run_naming_it(tmp_path, monkeypatch):
    """REINFORCE checks with check_numerics in its graph; the trainer turns the error into the
    same stop as DDPG's flag."""
    from rl_runner.algos.reinforce import ReinforceTrainer

    original = ReinforceTrainer.iteration

    def iteration(self):
        if self.env_steps >= 1000:  # the acting copy stays finite: the update meets the NaN
            bias = self.policy.variables_to_train[-1]
            bias.assign(tf.fill(bias.shape, float("nan")))
        return original(self)

    monkeypatch.setattr(ReinforceTrainer, "iteration", iteration)
    with pytest.raises(RunStopped) as stop:
        train_in_process(CARTPOLE_TINY, tmp_path)
    match = re.match(r"losses/policy_loss became NaN in the iteration after env step (\d+);",
                     str(stop.value))
    assert match and int(match.group(1)) >= 1000, str(stop.value)
    assert stop.value.exit_code == 3


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [CARTPOLE_TINY, DDPG_TINY], ids=["cartpole", "pusher"])
def test_saved_model_gives_the_trainers_actions(tmp_path, overrides):
    trainer = make_trainer([*overrides, "total_env_steps=1000"], tmp_path)
    trainer.train()
    obs = np.random.default_rng(0).normal(size=(6, trainer.spec.obs_dim)).astype(np.float32)
    expected = trainer.act_greedy(obs)
    trainer.close()
    loaded = tf.saved_model.load(str(tmp_path / "policy"))
    served = loaded.signatures["serving_default"](observations=tf.constant(obs))
    np.testing.assert_allclose(served["actions"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.act(obs).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_eval_actor_target_is_the_runs_policy_and_resume_keeps_both_actors(tmp_path):
    from rl_runner.algos.ddpg import DDPGTrainer

    overrides = [*DDPG_TINY, "total_env_steps=1000", "algo.eval_actor=target"]
    trainer = make_trainer(overrides, tmp_path)
    trainer.train()  # 500 updates at tau 0.005: the target actor lags the online one
    agent, spec = trainer.agent, trainer.spec
    obs = np.random.default_rng(0).normal(size=(6, spec.obs_dim)).astype(np.float32)
    normalized = tf.constant(obs)
    target = trainer.to_env(agent.actor_target(normalized).numpy())
    online = trainer.to_env(agent.actor(normalized).numpy())
    assert np.abs(target - online).max() > 1e-3
    np.testing.assert_allclose(trainer.act_greedy(obs), target, rtol=1e-5, atol=1e-6)
    weights = {name: [v.numpy() for v in net.variables]
               for name, net in (("actor", agent.actor), ("actor_target", agent.actor_target))}
    trainer.close()

    policy = DDPGTrainer.build_policy(spec, trainer.algo)  # what rl-eval loads
    restore_policy(tmp_path, policy)
    np.testing.assert_allclose(policy.greedy(obs).numpy(), target, rtol=1e-5, atol=1e-6)
    loaded = tf.saved_model.load(str(tmp_path / "policy"))
    np.testing.assert_allclose(loaded.act(obs).numpy(), target, rtol=1e-5, atol=1e-6)

    again = make_trainer(overrides, tmp_path)
    again.resume()  # each actor back in its own place: exploration goes on with the online one
    for name, saved in weights.items():
        for variable, value in zip(getattr(again.agent, name).variables, saved):
            np.testing.assert_array_equal(variable.numpy(), value)
    again.close()


@pytest.mark.slow
def test_a_run_dir_named_with_glob_characters_resumes_and_evaluates(tmp_path):
    """A sweep job's dir is named by its overrides (algo.hidden_sizes=[32,32]); TensorFlow reads
    checkpoints through a glob of their path."""
    run_dir = tmp_path / "algo.hidden_sizes=[8,8],x=*?"
    metrics = train_in_process([*CARTPOLE_TINY, "total_env_steps=1000", "algo.hidden_sizes=[8,8]",
                                "eval.heldout_episodes=5"], run_dir)
    assert metrics.heldout_best.episodes == 5  # the best checkpoint was read back
    again = make_trainer([*CARTPOLE_TINY, "algo.hidden_sizes=[8,8]"], run_dir)
    assert again.resume().endswith("ckpt-1") and again.env_steps == metrics.env_steps
    again.close()
    proc = rl_eval(str(run_dir), "checkpoint=best")
    assert proc.returncode == 0, proc.stderr[-2000:]
    first = json.loads((run_dir / "eval.json").read_text())
    assert first["mean"] == metrics.heldout_best.mean
    assert proc.stdout.splitlines()[-1] == f"rl-eval: wrote {run_dir / 'eval.json'}"
    proc = rl_eval(str(run_dir), "episodes=3")  # the first evaluation's numbers are named
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1] == (
        f"rl-eval: wrote {run_dir / 'eval.json'} (replacing the previous one: "
        f"best checkpoint ({Path(first['checkpoint']).name}), 5 episodes, seed {first['seed']}: "
        f"{first['mean']:.2f})")
    assert json.loads((run_dir / "eval.json").read_text())["episodes"] == 3


def rl_eval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rl_runner.eval_cli", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("overrides, length", [(CARTPOLE_TINY, None), (DDPG_TINY, 100)],
                         ids=["cartpole", "pusher"])
def test_rl_eval_writes_eval_json_and_a_gif(tmp_path, overrides, length):
    import imageio.v3 as iio
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    metrics = train_in_process([*overrides, "total_env_steps=1000",
                                "eval.heldout_episodes=7"], tmp_path)
    proc = rl_eval("checkpoint=best", "checkpoint=latest", "render=gif", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]  # options first, too; the last one wins
    assert ("rl-eval: warning: checkpoint is given twice (checkpoint=best, then "
            "checkpoint=latest): the last one is used") in proc.stderr.splitlines()
    report = json.loads((tmp_path / "eval.json").read_text())
    # the latest checkpoint on the run's held-out states: its metrics.json score, exactly
    assert report["states"] == "heldout" and report["episodes"] == 7
    assert [report[k] for k in ("mean", "std", "ci95")] == \
        [getattr(metrics.heldout, k) for k in ("mean", "std", "ci95")]
    assert len(report["returns"]) == 7
    frames = iio.imread(tmp_path / "rollout.gif", index=None)
    steps = report["render"]["frames"] - 1
    assert frames.shape[0] == steps + 1  # the reset frame and one per step, none merged
    assert steps == report["lengths"][0] and steps == (length or steps)
    assert report["render"]["return"] == pytest.approx(report["returns"][0])
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert {"eval/rollout_first_frame", "eval/rollout_last_frame"} <= set(acc.Tags()["images"])


def test_an_evaluation_before_a_resume_is_kept_under_its_checkpoint(tmp_path):
    from rl_runner.rundir import set_aside_evaluation

    def evaluated(checkpoint: str, video: bool = False) -> dict:
        report = {"checkpoint": str(tmp_path / "checkpoints" / checkpoint), "mean": 1.5}
        if video:
            report["render"] = {"file": "rollout.gif", "frames": 4}
            (tmp_path / "rollout.gif").write_bytes(b"GIF89a")
        (tmp_path / "eval.json").write_text(json.dumps(report))
        return report

    assert set_aside_evaluation(tmp_path) == []
    report = evaluated("ckpt-3", video=True)
    assert set_aside_evaluation(tmp_path) == ["eval.ckpt-3.json", "rollout.ckpt-3.gif"]
    kept = json.loads((tmp_path / "eval.ckpt-3.json").read_text())
    assert kept == {**report, "render": {"file": "rollout.ckpt-3.gif", "frames": 4}}
    assert (tmp_path / "rollout.ckpt-3.gif").read_bytes() == b"GIF89a"
    evaluated("ckpt-3", video=True)  # again, after a second resume: nothing overwritten
    assert set_aside_evaluation(tmp_path) == ["eval.ckpt-3_2.json", "rollout.ckpt-3_2.gif"]
    evaluated("best/ckpt-3")  # the best policy's checkpoints are numbered on their own
    assert set_aside_evaluation(tmp_path) == ["eval.best.ckpt-3.json"]
    (tmp_path / "eval.json").write_text("[edited")
    assert set_aside_evaluation(tmp_path) == ["eval.unreadable.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "eval.best.ckpt-3.json", "eval.ckpt-3.json", "eval.ckpt-3_2.json",
        "eval.unreadable.json", "rollout.ckpt-3.gif", "rollout.ckpt-3_2.gif"]


def test_rl_eval_bad_arguments_are_one_line(tmp_path):
    proc = rl_eval(str(tmp_path), "checkpoint=newest")
    assert proc.returncode == 2 and "checkpoint='newest': choose best or latest" in proc.stderr
    proc = rl_eval(str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"rl-eval: error: {tmp_path / 'nope'}: no such directory")


def test_resume_arguments_quote_a_sweep_job_dir_for_hydra(tmp_path):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from rl_runner.train import resume_arguments

    run_dir = tmp_path / "algo.lr=0.001,seed=1"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "checkpoint").write_text("")
    args = resume_arguments([f"resume={run_dir}", "progress=false"])
    parsed = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(args)}
    assert parsed["resume"] == str(run_dir) and parsed["hydra.run.dir"] == str(run_dir)
    assert parsed["progress"] is False and parsed["hydra.output_subdir"] is None
