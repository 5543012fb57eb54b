"""Real sweeps: a parallel grid through joblib, a failing cell, an Optuna search, submitit
and Ray launchers, and the sweep report."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import python, read_scalars, rl_train
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
    assert proc.stderr.strip().splitlines()[-1] == (
        f"rl-train: sweep done: {tmp_path}; compare its runs: rl-report {tmp_path}")
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

    # rl-report in its own process: TensorFlow is never imported to read the event files.
    proc = python("import sys; from rl_runner.report import main; "
                  f"main([{str(tmp_path)!r}, '--compare', '2', '1']); "
                  "print('tensorflow' in sys.modules)", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1] == "False"
    report = (tmp_path / "report.md").read_text()
    rows = [ln.split(" | ") for ln in report.splitlines() if ln.startswith("| 1 |")
            or ln.startswith("| 2 |")]
    assert [r[1] for r in rows] == ["algo.lr=0.001", "algo.lr=0.003"]  # only the key that varies
    assert all(r[2:4] == ["2", "0"] for r in rows)  # 2 seeds, 0 failed
    scores = {lr: [json.loads((j / "metrics.json").read_text())["heldout"]["mean"]
                   for j in jobs if f"algo.lr={lr}," in j.name] for lr in ("0.001", "0.003")}
    for row, lr in zip(rows, scores):
        assert row[4].startswith(f"{sum(scores[lr]) / 2:.2f} [")  # the held-out mean
        std = abs(scores[lr][0] - scores[lr][1]) / 2 ** 0.5  # ddof 1
        assert row[6] == f"{std:.2f}"
    assert "Probability of improvement of #2 (algo.lr=0.003) over #1 (algo.lr=0.001): " in report
    for figure in ("curves.png", "profiles.png"):
        assert (tmp_path / figure).stat().st_size > 10_000


@pytest.mark.slow
def test_a_job_that_fails_is_reported_and_the_others_complete(tmp_path):
    proc = with_failing_jobs(tmp_path, "num == 0", "-m", "algo.lr=0.01,0.003", "seed=0", *TINY)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "rl-train: error: 1 job(s) of the sweep failed; each wrote failure.json")
    rest = "eval.episodes=2,eval.every_env_steps=300,seed=0,total_env_steps=600"
    good, bad = tmp_path / f"algo.lr=0.003,{rest}", tmp_path / f"algo.lr=0.01,{rest}"
    assert json.loads((good / "metrics.json").read_text())["env_steps"] >= 600
    error = json.loads((bad / "failure.json").read_text())["error"]
    assert error == "losses/policy_loss became NaN (a stand-in)"
    rl_report([str(tmp_path)])
    report = (tmp_path / "report.md").read_text()
    assert "| algo.lr=0.01 | 0 | 1 |" in report and "| algo.lr=0.003 | 1 | 0 |" in report
    assert "## Failed jobs" in report and "became NaN (a stand-in)" in report


@pytest.mark.slow
def test_a_grid_into_a_sweep_dir_that_holds_runs_is_refused_and_they_are_untouched(tmp_path):
    first = rl_train("-m", "seed=0", *TINY, f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    again = rl_train("-m", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        f"rl-train: error: hydra.sweep.dir={tmp_path} already holds the runs of an earlier "
        "sweep: choose a new hydra.sweep.dir (a stopped job continues with rl-train "
        "resume=<its job dir>)"]
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_ctrl_c_stops_the_whole_sweep_and_keeps_the_job_resumable(tmp_path):
    import signal
    import time

    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "rl_runner.train", "-m", "seed=0,1", "total_env_steps=200000",
           "early_stop=false", "checkpoint.every_env_steps=1000", "progress=false",
           f"hydra.sweep.dir={sweep}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while not list(sweep.glob("*/checkpoints/checkpoint")):  # the first job, mid-training
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    (job,) = [p for p in sweep.iterdir() if p.is_dir() and p.name != ".hydra"]  # no seed=1
    assert "seed=0" in job.name and not list(sweep.rglob("failure.json"))
    assert err.strip().splitlines()[-1].endswith(
        f"Resume with: rl-train resume={job}; the sweep stops here (its later jobs do not run)")


GRID_OF_3 = ["seed=0,1,2"]  # two jobs side by side, the third after them
IDLE_PROCESS = ["hydra.launcher.n_jobs=3", "seed=0,1"]  # a job process with no job
SEARCH = ["hparams_search=reinforce_cartpole", "hydra.sweeper.n_trials=3", "search.seeds=1"]


@pytest.mark.slow
def test_ctrl_c_between_two_jobs_of_a_sweep_stops_it_before_the_next(tmp_path):
    """SIGINT while Hydra writes the second job's config (between the jobs of a grid in
    rl-train's process): it had raised KeyboardInterrupt there, a traceback and a half-made job
    dir. Now the first job is whole, the second never starts, and rl-train says so."""
    proc = rl_train_patched(tmp_path, "hydra.core.utils._save_config",
                            "if 'seed=1' in str(args[2]) and args[1] == 'config.yaml':\n"
                            "    os.kill(os.getpid(), signal.SIGINT)", "-m", "seed=0,1", *TINY)
    assert proc.returncode == 130 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "rl-train: stopped: SIGINT: the sweep stopped: each job it stopped saved a checkpoint "
        "and printed the command that resumes it; the later jobs did not start")
    (job,) = job_dirs(tmp_path)  # no seed=1
    assert ",seed=0," in job.name and (job / "metrics.json").exists()
    assert not list(tmp_path.rglob("failure.json"))


@pytest.mark.slow
def test_ctrl_c_while_a_job_starts_checkpoints_it_and_prints_its_resume_command(tmp_path):
    """SIGINT while the first job builds its trainer (before its training loop), in rl-train's
    process: the job checkpoints at its first step, and its resume command is printed before
    the sweep's line (which says each stopped job printed one)."""
    proc = rl_train_patched(tmp_path, "rl_runner.job.build_trainer",
                            "os.kill(os.getpid(), signal.SIGINT)", "-m", "seed=0,1", *TINY)
    assert proc.returncode == 130 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (job,) = job_dirs(tmp_path)  # no seed=1
    assert (job / "checkpoints" / "checkpoint").exists()
    *_, stopped, summary = proc.stderr.strip().splitlines()
    assert stopped.startswith("rl-train: stopped: [") and stopped.endswith(
        f"Resume with: rl-train resume={job}; the sweep stops here (its later jobs do not run)")
    assert summary.startswith("rl-train: stopped: SIGINT: the sweep stopped: each job it stopped")


@pytest.mark.slow
@pytest.mark.parametrize("how, jobs, running", [
    ("ctrl-c", GRID_OF_3, 2),
    ("sigterm-to-rl-train", IDLE_PROCESS, 2),
    ("ctrl-c", SEARCH, 1),  # a trial at a time: one job process waits, idle
], ids=["ctrl-c-grid", "sigterm-idle-process", "ctrl-c-search"])
def test_a_stopped_parallel_sweep_checkpoints_its_running_jobs_and_starts_no_other(
        tmp_path, how, jobs, running):
    """Ctrl-C at a terminal reaches rl-train and its job processes; SIGTERM sent to rl-train
    alone is forwarded. Either way each running job saves a checkpoint, no later job or trial
    starts, an idle job process survives (loky would kill every job if one died), nothing
    records a failure, and rl-train exits with 128 + the signal. Before, joblib's interrupted
    wait printed a traceback and killed the jobs, one mid-save; a search crashed on the NaN of
    a stopped trial."""
    import os
    import signal
    import time

    from rl_runner.job import check_resumable

    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "rl_runner.train", "-m", "hydra/launcher=local_parallel",
           *jobs, "total_env_steps=200000", "early_stop=false",
           "checkpoint.every_env_steps=1000", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,  # its own terminal group
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 180
    while len(list(sweep.glob("*/checkpoints/checkpoint"))) < running:  # mid-training
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    sig = signal.SIGINT if how == "ctrl-c" else signal.SIGTERM
    if how == "ctrl-c":
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err[-3000:]
    failures = [f.read_text() for f in sweep.rglob("failure.json")]
    assert "Traceback" not in err and not failures, (failures, err[-3000:])
    stopped = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name != ".hydra")
    assert len(stopped) == running and not [p for p in sweep.iterdir() if "stopping" in p.name]
    for job in stopped:
        assert f"Resume with: rl-train resume={job}\n" in err
        check_resumable(str(job))  # a checkpoint, and no metrics.json: it stopped mid-run
    if jobs is SEARCH:
        import optuna

        study = optuna.load_study(study_name="reinforce_cartpole",
                                  storage=f"sqlite:///{sweep / 'optuna.db'}")
        assert [t.state.name for t in study.trials] == ["RUNNING"]
    assert err.strip().splitlines()[-1] == (
        f"rl-train: stopped: {sig.name}: the sweep stopped: each job it stopped saved a "
        "checkpoint and printed the command that resumes it; the later jobs did not start")


def test_a_job_a_signal_stopped_waits_for_its_sweeps_marker(tmp_path, monkeypatch):
    """The terminal's Ctrl-C reaches a parallel sweep's job and rl-train at once; on a busy
    machine the job could checkpoint and ask whether the sweep stops before rl-train had written
    its marker, and record a failure (a CI run did)."""
    import signal
    import threading

    from rl_runner import signals

    marker = tmp_path / ".stopping"
    monkeypatch.setenv(signals.STOP_ENV, str(marker))
    assert signals.stopping() is None and signals.stopping(wait=0.2) is None
    threading.Timer(0.3, marker.write_text, [str(int(signal.SIGINT))]).start()
    assert signals.stopping() is None
    assert signals.stopping(wait=signals.ECHO_SECONDS) == signal.SIGINT


def rl_train_patched(tmp_path: Path, target: str, body: str,
                     *args: str) -> subprocess.CompletedProcess:
    """``rl-train <args>`` into the sweep dir ``tmp_path``, in a process where ``target``
    (``module.function``) runs ``body`` first (it sees the call's ``args`` and ``keys``, and
    ``num``, the job's number, where a job runs), then itself. Jobs run in rl-train's process
    (the patch is not in a launcher's workers)."""
    module, _, name = target.rpartition(".")
    script = "\n".join([
        "import os, signal, sys",
        "from hydra.core.hydra_config import HydraConfig",
        "from rl_runner.errors import RunStopped",
        f"import {module} as patched",
        f"real = patched.{name}",
        "def wrapper(*args, **keys):",
        "    num = HydraConfig.get().job.num if HydraConfig.initialized() else None",
        *(f"    {line}" for line in body.splitlines()),
        "    return real(*args, **keys)",
        f"patched.{name} = wrapper",
        "from rl_runner.train import cli",
        "cli(sys.argv[1:])", ""])
    return python(script, *args, f"hydra.sweep.dir={tmp_path}", cwd=tmp_path, timeout=300)


def with_failing_jobs(tmp_path: Path, fails: str, *args: str) -> subprocess.CompletedProcess:
    """Its jobs fail where ``fails`` (a condition on ``num``) is true, at run time, as if their
    losses became NaN."""
    return rl_train_patched(tmp_path, "rl_runner.job.execute", f"if {fails}:\n    raise "
                            "RunStopped('losses/policy_loss became NaN (a stand-in)', 3, args[1])",
                            *args)


FAILING_SEARCH = ["-m", "hparams_search=reinforce_cartpole", "hydra.sweeper.n_trials=2",
          "search.seeds=1", *TINY]


@pytest.mark.slow
def test_a_trial_that_fails_is_marked_failed_and_the_search_goes_on(tmp_path):
    """A trial that fails at run time (here the first one): failure.json, the trial FAIL in
    the study, the next trial runs and is the best; rl-train exits 1 naming the failure. A NaN
    objective had crashed hydra-optuna-sweeper ("Values were told") with a traceback."""
    import optuna

    proc = with_failing_jobs(tmp_path, "num == 0", *FAILING_SEARCH)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "rl-train: error: 1 job(s) of the sweep failed; each wrote failure.json")
    (failure,) = tmp_path.rglob("failure.json")
    assert json.loads(failure.read_text())["exit_code"] == 3
    study = optuna.load_study(study_name="reinforce_cartpole",
                              storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(study.trials[1].value)



@pytest.mark.slow
def test_a_search_whose_every_trial_fails_ends_in_one_line(tmp_path):
    """Every trial fails: the plugin had raised Optuna's "No trials are completed yet" with a
    traceback; now the sweep ends as one with failed jobs, saying there is no best value."""
    proc = with_failing_jobs(tmp_path, "True", *FAILING_SEARCH)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"rl-train: error: 2 job(s) of the sweep failed; each wrote failure.json in its dir "
        f"under {tmp_path} (rl-report lists them); no trial completed, so the search has no "
        "best value")
    assert len(list(tmp_path.rglob("failure.json"))) == 2
    assert not (tmp_path / "optimization_results.yaml").exists()

def test_a_job_whose_overrides_make_too_long_a_name_is_named_by_its_number():
    from rl_runner.sweeps import JOB_DIR_NAME_MAX, _job_subdir, _trial_subdir

    short = "algo.lr=0.001,seed=1"
    assert _job_subdir(short, 3) == short and _job_subdir("", 0) == "job0"  # rl-train -m alone
    sampled = ",".join(f"algo.key{i}=0.00035384535909065536" for i in range(8))
    assert len(sampled) > JOB_DIR_NAME_MAX and _job_subdir(sampled, 3) == "job3"
    assert _trial_subdir(short, 3) == f"trial3_{short}" and _trial_subdir(sampled, 3) == "trial3"


@pytest.mark.slow
def test_optuna_search_with_two_seeds_per_trial(tmp_path):
    proc = rl_train("-m", "hparams_search=reinforce_cartpole", "hydra.sweeper.n_trials=2",
                    "algo.gamma=interval(0.9,0.999)",  # a search range from the command line
                    *TINY, f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    trials = [json.loads(p.read_text()) for p in tmp_path.glob("*/metrics.json")]
    assert len(trials) == 2 and all(t["seeds"] == [0, 1] for t in trials)
    for t in trials:  # each trial's objective: the mean over its seeds
        assert t["final_eval_return"] == pytest.approx(sum(t["final_eval_return_per_seed"]) / 2)
        assert len(t["heldout_return_per_seed"]) == 2
    assert proc.stderr.count("rl-train: seed ") == 4  # each seed's held-out line
    # Optuna's own lines, plain in a pipe (Optuna 2 colours them wherever they go)
    assert "A new study created in RDB" in proc.stderr and "\x1b[" not in proc.stderr
    assert results["best_value"] == pytest.approx(max(t["final_eval_return"] for t in trials))
    assert set(results["best_params"]) == {"algo.lr", "algo.hidden_sizes", "algo.gamma",
                                           "algo.episodes_per_update", "algo.entropy_coef"}
    assert 0.9 <= results["best_params"]["algo.gamma"] <= 0.999
    assert (tmp_path / "optuna.db").exists()  # the study can be resumed
    assert proc.stderr.strip().splitlines()[-1] == (
        f"rl-train: sweep done: {tmp_path}; the best parameters: "
        f"{tmp_path / 'optimization_results.yaml'}; compare its runs: rl-report {tmp_path}")


@pytest.mark.slow
def test_a_continued_search_numbers_its_trials_on_and_keeps_the_earlier_ones(tmp_path):
    """The same command twice: the study continues in the same sweep dir. Its seeded sampler
    draws the first point again; that trial had landed in trial 0's dir, rewritten its config
    and marked it failed."""
    import optuna

    search = ["-m", "hparams_search=reinforce_cartpole", "hydra.sweeper.n_trials=1",
              "search.seeds=1", *TINY, f"hydra.sweep.dir={tmp_path}"]
    for _ in range(2):
        proc = rl_train(*search, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
    dirs = job_dirs(tmp_path)
    assert [d.name.split("_")[0] for d in dirs] == ["trial0", "trial1"]
    assert dirs[0].name[len("trial0"):] == dirs[1].name[len("trial1"):]  # the same point
    assert all((d / "metrics.json").exists() for d in dirs)
    assert not list(tmp_path.rglob("failure.json"))
    study = optuna.load_study(study_name="reinforce_cartpole",
                              storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]


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

    from rl_runner.runs import Run, group_key, label_keys
    from rl_runner.stats import bootstrap_ci

    runs = [Run(Path(f"r{i}"), {"algo.lr": lr, "seed": s, "progress": False, "env.id": "X"})
            for i, (lr, s) in enumerate([(0.1, 0), (0.1, 1), (0.2, 0)])]
    assert group_key(runs) == ["algo.lr"]  # seed and runtime keys never split groups
    # ddpg and td3 differ in policy_delay, which algo.name already tells; reinforce has neither
    # key (it is not a difference); the two td3 runs differ in tau: named.
    algos = [Run(Path(f"a{i}"), {"algo.name": name, "algo.policy_delay": delay, "algo.tau": tau})
             for i, (name, delay, tau) in enumerate([("ddpg", 1, 0.005), ("td3", 2, 0.005),
                                                      ("td3", 2, 0.01)])]
    algos.append(Run(Path("a3"), {"algo.name": "reinforce", "algo.lr": 0.003}))
    assert group_key(algos) == ["algo.name", "algo.policy_delay", "algo.tau"]
    assert label_keys(algos, group_key(algos)) == ["algo.name", "algo.tau"]
    rng = np.random.default_rng(0)
    assert bootstrap_ci(np.array([3.0, 3.0, 3.0]), rng) == (3.0, 3.0)
    assert bootstrap_ci(np.array([7.0]), rng) == (7.0, 7.0)
    lo, hi = bootstrap_ci(np.array([0.0, 10.0, 0.0, 10.0]), rng)
    assert 0.0 <= lo < 5.0 < hi <= 10.0


@pytest.mark.parametrize("args, message", [
    (["--compare", "1", "1"], "--compare 1 1: give two different groups"),
    (["{run}/metrics.json"], "{run}/metrics.json is a file: give the run or sweep dir "
                             "(rl-report <dir>)"),
    (["--compare", "1", "3"], "--compare 3: groups are numbered 1 to 2 (the # column)"),
    (["--compare", "1", "2"], "--compare 1 2: the groups are on different envs (Acrobot-v1, "
                              "CartPole-v1), whose returns do not compare; across envs, use "
                              "--normalize"),
    (["--normalize", "{normalize}"], "--normalize {normalize}: expected {{\"<env id>\": [low, "
                                     "high], ...}} with low < high (e.g. a random policy's "
                                     "return, then a reference)"),
])
def test_report_refuses_comparisons_that_mean_nothing(tmp_path, args, message):
    from omegaconf import OmegaConf

    for env in ("CartPole-v1", "Acrobot-v1"):
        run = tmp_path / env
        (run / ".hydra").mkdir(parents=True)
        OmegaConf.save({"env": {"id": env}, "seed": 0}, run / ".hydra" / "config.yaml")
        (run / "metrics.json").write_text(json.dumps({
            "env_steps": 10, "final_eval_return": 1.0, "solved": False,
            "env_steps_to_solve": None, "stop_reason": "budget"}))
    normalize = tmp_path / "normalize.json"
    normalize.write_text(json.dumps({"CartPole-v1": [500, 0], "Acrobot-v1": [-500, -60]}))
    given = [a.format(normalize=normalize, run=run) for a in args]
    argv = given if given[0].endswith(".json") else [str(tmp_path), *given]
    proc = subprocess.run([sys.executable, "-m", "rl_runner.report", *argv],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    expected = message.format(normalize=normalize, run=run)
    assert proc.stderr.strip() == f"rl-report: error: {expected}"
    assert not (tmp_path / "report.md").exists()


def test_report_names_every_key_the_groups_differ_in(tmp_path, capsys):
    from omegaconf import OmegaConf

    from rl_runner.report import summarise

    for i, (lr, hidden) in enumerate([(0.1, [32]), (0.2, [64])]):  # an Optuna sweep's trials
        run = tmp_path / f"job{i}"
        (run / ".hydra").mkdir(parents=True)
        OmegaConf.save({"algo": {"lr": lr, "hidden_sizes": hidden}, "env": {"id": "X-v1"}},
                       run / ".hydra" / "config.yaml")
        (run / "metrics.json").write_text(json.dumps({
            "env_steps": 10, "final_eval_return": 1.0, "solved": False,
            "env_steps_to_solve": None, "stop_reason": "budget"}))
    text = summarise(tmp_path).text
    assert ("2 runs in 2 groups, told apart by algo.hidden_sizes (the groups also differ in "
            "algo.lr).") in text
    assert "have fewer than" not in text and ("Groups 1, 2 have one run: its CI is that run's "
                                              "score, with no spread to estimate") in text
    with pytest.raises(SystemExit) as stop:
        summarise(tmp_path, compare=(1, 2))
    assert stop.value.code == 2 and capsys.readouterr().err == (
        "rl-report: error: --compare 1 2: each group needs two or more finished runs (they "
        "have 1 and 1): of one run each, the probability of improvement is 0 or 1; train more "
        "seeds\n")
    (tmp_path / "job1" / "metrics.json").unlink()
    (tmp_path / "job1" / ".hydra" / "config.yaml").write_text(
        (tmp_path / "job0" / ".hydra" / "config.yaml").read_text())  # a second seed of job0
    (tmp_path / "job1" / "metrics.json").write_text(json.dumps({
        "env_steps": 10, "final_eval_return": 3.0, "solved": False,
        "env_steps_to_solve": None, "stop_reason": "budget"}))
    assert ("Group 1 has fewer than 5 runs: a bootstrap CI of that few is rough (of 2 runs, "
            "their min and max); more seeds narrow it.") in summarise(tmp_path).text



def fake_run(path: Path, algo: str, env: str, score: float | str | None,
             threshold=None) -> Path:
    """A run dir as rl-report reads it: finished (its score), failed (None) or stopped with a
    checkpoint ("stopped")."""
    from omegaconf import OmegaConf

    (path / ".hydra").mkdir(parents=True)
    OmegaConf.save({"algo": {"name": algo}, "env": {"id": env}}, path / ".hydra" / "config.yaml")
    if score is None:
        (path / "failure.json").write_text(json.dumps({"error": "it failed", "exit_code": 1}))
    elif score == "stopped":
        (path / "checkpoints").mkdir()
    else:
        (path / "metrics.json").write_text(json.dumps({
            "heldout": {"mean": score}, "env_steps": 10, "final_eval_return": score,
            "solved": False, "env_steps_to_solve": None, "stop_reason": "budget",
            "stop_at_return": threshold}))
    return path


def test_report_of_runs_on_two_envs_names_each_env_and_draws_no_shared_profile(tmp_path,
                                                                                 capsys):
    """An everyday folder: a CartPole run (threshold 500), two Pendulum runs that scored alike
    (no threshold), one stopped with a checkpoint. The envs are named in the groups (not pooled
    under algo.name), no profile puts their returns on one axis, no threshold is claimed for
    Pendulum, and the stopped run is listed with its resume command."""
    fake_run(tmp_path / "a", "reinforce", "CartPole-v1", 500.0, threshold=500.0)
    for name in ("b", "c"):
        fake_run(tmp_path / name, "td3", "Pendulum-v1", -150.0)
    stopped = fake_run(tmp_path / "d", "td3", "Pendulum-v1", "stopped")
    (tmp_path / "profiles.png").write_bytes(b"an earlier report's")
    rl_report([str(tmp_path)])
    out = capsys.readouterr().out
    text = (tmp_path / "report.md").read_text()
    assert ("3 runs in 2 groups, told apart by algo.name, env.id; 1 unfinished (listed "
            "below).") in text
    assert ("| 1 | algo.name=reinforce, env.id=CartPole-v1 | 1 | 0 | 500.00 [500.00, 500.00] |"
            in text and "| 0/1 | — |" in text)  # its threshold: 500, not reached
    assert "| 2 | algo.name=td3, env.id=Pendulum-v1 | 2 | 0 |" in text and "| — | — |" in text
    assert f"- `{stopped}`: rl-train resume={stopped}" in text
    assert out.strip().splitlines()[-1].endswith(
        ", curves.png (no profiles.png: the runs are on several envs, whose returns do not "
        "compare; --normalize puts them on one scale)")
    assert not (tmp_path / "profiles.png").exists()


def test_report_with_no_finished_run_writes_the_table_and_no_figure(tmp_path, capsys):
    for name in ("a", "b"):
        fake_run(tmp_path / name, "reinforce", "CartPole-v1", None)
    rl_report([str(tmp_path)])  # it had raised numpy's "need at least one array"
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"rl-report: wrote {tmp_path / 'report.md'} (no figures: no run finished)")
    assert "| 1 | all runs | 0 | 2 | — |" in (tmp_path / "report.md").read_text()
    assert not list(tmp_path.glob("*.png"))

def test_report_statistics_are_rliables_and_curves_share_a_grid():
    import numpy as np

    from rl_runner.runs import Run, common_grid
    from rl_runner.stats import mean_and_iqm, performance_profiles, probability_of_improvement

    scores = np.arange(1.0, 9.0)[:, None]  # 8 runs of one task
    stats = mean_and_iqm({"a": scores})["a"]
    assert stats["mean"][0] == 4.5 and stats["iqm"][0] == 4.5  # IQM: the mean of 3, 4, 5, 6
    assert stats["mean"][1] < 4.5 < stats["mean"][2] and stats["iqm"][1] < 4.5 < stats["iqm"][2]
    skew = np.array([[0.0], [1.0], [1.0], [1.0], [1.0], [1.0], [1.0], [100.0]])
    assert mean_and_iqm({"s": skew})["s"]["iqm"][0] == 1.0  # the outliers trimmed
    assert probability_of_improvement(scores + 10, scores) == (1.0, 1.0, 1.0)
    assert probability_of_improvement(scores, scores)[0] == 0.5
    taus, profile, cis = performance_profiles({"a": scores}, points=8)
    assert taus.tolist() == list(range(1, 9))  # from the lowest score to the highest
    assert profile["a"].tolist() == [k / 8 for k in range(7, -1, -1)]  # the fraction above tau
    taus, profile, _ = performance_profiles({"a": np.full((3, 1), 500.0)}, points=3)
    assert taus.tolist() == [450, 500, 550] and profile["a"].tolist() == [1, 0, 0]  # all alike
    # Seeded (rliable resamples with numpy's global generator): the same scores, the same CIs.
    np.random.seed(1)
    assert np.array_equal(cis["a"], performance_profiles({"a": scores}, points=8)[2]["a"])
    assert mean_and_iqm({"a": scores}) == {"a": stats}
    assert mean_and_iqm({"s": skew, "a": scores})["a"] == stats  # whatever else is reported

    # Seeds evaluated at slightly different steps: every grid point averages both, so the last
    # point is not one seed's value. A run that solved early holds its last value.
    a = Run(Path("a"), {}, {"stop_reason": "budget"}, curve=[(1000, 0.0), (2000, 10.0),
                                                             (3000, 20.0)])
    b = Run(Path("b"), {}, {"stop_reason": "budget"}, curve=[(1010, 0.0), (2010, 30.0),
                                                             (3010, 40.0)])
    grid, values = common_grid([a, b])
    assert grid[0] == 1010 and grid[-1] == 3000 and values.shape == (2, len(grid))
    assert values[:, -1].tolist() == [20.0, 39.9]
    solved = Run(Path("c"), {}, {"stop_reason": "threshold"}, curve=[(1000, 5.0), (2000, 9.0)])
    grid, values = common_grid([a, solved])
    assert grid[-1] == 3000 and values[1, -1] == 9.0
