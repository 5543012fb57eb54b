"""The first hour of a new user, with real processes: what they type wrong gets one line and
exit 2 with nothing left on disk; runs started together get their own dirs; the console is
quiet and ends with a summary; the README's SavedModel snippet runs; rl-eval explains itself."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT, compose, python, rl_train

TINY = ["total_env_steps=600", "eval.every_env_steps=300", "eval.episodes=2", "progress=false"]
DDPG_TINY = ["algo=ddpg", "env=pusher", "algo.learning_starts=200", "algo.buffer_size=5000",
             "algo.batch_size=32", "algo.hidden_sizes=[32,32]", "total_env_steps=600",
             "eval.every_env_steps=300", "eval.episodes=2", "progress=false"]


def files_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*"))


# --------------------------------------------------------------------------------------------
# Bad input: one line, exit 2, nothing written
# --------------------------------------------------------------------------------------------
BAD_INPUT = [
    (["env=gym"], "env.id is required and has no value: set it on the command line, "
                  "env.id=... (any gymnasium id, e.g. env.id=Pendulum-v1)"),
    (["preset=null"], "preset=null is not an option of preset: choose one of ddpg_pusher, "
                      "ddpg_pusher_v4, ddpg_seed, reinforce_cartpole, reinforce_seed, "
                      "td3_pusher; ~preset trains without a preset"),
    (["preset=nonsense"], "preset=nonsense does not exist: choose one of ddpg_pusher, "
                          "ddpg_pusher_v4, ddpg_seed, reinforce_cartpole, reinforce_seed, "
                          "td3_pusher, or ~preset for none"),
    (["algo=ddgp"], "algo=ddgp is not an option of algo: choose one of ddpg, reinforce, td3"),
    (["algo=ddpg", "env=pusher", "preset=td3_pusher"],
     "preset=td3_pusher is tuned for algo=td3, not algo=ddpg: add algo=td3, or choose another "
     "preset"),
    (["algo=ddpg", "env=gym", "env.id=Pendulum-v1", "preset=ddpg_pusher"],
     "preset=ddpg_pusher is tuned for env=pusher, not env=gym: add env=pusher, or choose "
     "another preset"),
    (["eval.episodes=1"],  # its std was recorded as 0.0
     "eval.episodes=1 is out of range: must be >= 2 (episodes per periodic evaluation"),
    (["env=gym", "env.id=FrozenLake-v1"],
     "reinforce needs flat Box observations; FrozenLake-v1 has Discrete(16) (register the env "
     "wrapped in gymnasium's FlattenObservation in a module of your own, then "
     "env.id=<module>:<its id>)"),
    (["preset=ddpg_seed"],  # its keys are not REINFORCE's: Hydra's error ended at a colon
     "preset=ddpg_seed is tuned for algo=ddpg, not algo=reinforce: add algo=ddpg, or choose "
     "another preset"),
    (["+algo.lrr=1"], "algo.lrr is not a key of algo=reinforce (algo=reinforce has name, lr, "),
    (["algo=ddpg", "algo.lrr=1"], "algo.lrr is not a key of algo=ddpg (algo=ddpg has name, "),
    (["+foo=1"], "foo is not a key of the config (the config has algo, env, seed, "),
    (["+algo.lr=1"], "+algo.lr: algo.lr already exists; set it without the +: algo.lr=..."),
    (["seed=1.5"], "seed=1.5: seed takes an integer (seeds numpy, TensorFlow, the envs and "
                   "their action spaces)"),
    (["algo.lr=abc"], "algo.lr=abc: algo.lr takes a number (Adam learning rate)"),
    (["progress=maybe"], "progress=maybe: progress takes true or false (show a progress bar)"),
    (["algo.hidden_sizes=64"], "algo.hidden_sizes=64: algo.hidden_sizes takes a list, e.g. "
                               "algo.hidden_sizes=[64,64]"),
    (["algo=ddpg", "env=pusher", "algo.buffer_size=1.5"],
     "algo.buffer_size=1.5: algo.buffer_size takes an integer (replay capacity in transitions)"),
    (["algo=ddpg", "env=pusher", "algo.buffer_size=100000000000"],  # before TensorFlow loads
     "algo.buffer_size=100000000000 needs 20489.1 GiB for Pusher-v5 transitions but only "),
    (["algo.hidden_sizes=64,64"], "algo.hidden_sizes=64,64: a comma list is a sweep (rl-train "
                                  "-m algo.hidden_sizes=64,64); a list value is written "
                                  "algo.hidden_sizes=[64,64]"),
    (["algo.name=foo"], "algo.name=foo does not match algo=reinforce: the algorithm is chosen "
                        "with algo=<name> (reinforce, ddpg, td3) and algo.name follows it"),
    (["algo=ddpg", "env=pusher", "algo.name=td3"], "algo.name=td3 does not match algo=ddpg"),
    (["algo.hidden_sizes=[1,2],[3,4]"], "algo.hidden_sizes=[1,2],[3,4]: a comma list is a "
                                        "sweep (rl-train -m algo.hidden_sizes=[1,2],[3,4])"),
    (["-m", "env.id=Pendulum-v1,Acrobot-v1"],  # every cell is checked before any job
     "env.id=Pendulum-v1 on env=cartpole, which is CartPole-v1: use env=gym env.id=Pendulum-v1"),
    (["seed=[1"], "cannot parse 'seed=[1': no viable alternative at input '[1'"),
    (["hydra/launcher=nope"], "hydra/launcher=nope is not an option of hydra/launcher: choose "
                              "one of basic, joblib, local_parallel, ray, "),
    (["algo.lr=-1"], "algo.lr=-1 is out of range: must be > 0 and <= 1 (Adam learning rate)"),
    (["algo=ddpg", "env=pusher", "algo.tau=2"], "algo.tau=2 is out of range: must be > 0 and "
                                                "<= 1"),
    (["eval.every_env_steps=0"], "eval.every_env_steps=0 is out of range: must be >= 1"),
    (["env=gym", "env.id=NoSuchEnv-v0"], "env.id='NoSuchEnv-v0': Environment `NoSuchEnv` "
                                          "doesn't exist"),
    (["env.id=Pusher-v5"], "env.id=Pusher-v5 on env=cartpole, which is CartPole-v1: use "
                           "env=pusher (env=gym takes any id)"),
    (["algo=td3", "env=pusher", "env.id=Hopper-v5"],
     "env.id=Hopper-v5 on env=pusher, which is Pusher-v5: use env=gym env.id=Hopper-v5"),
    (["algo=td3", "env=gym", "env.id=Hopper"],  # gymnasium would pick one, with a warning
     "env.id='Hopper' names no version: write env.id=Hopper-v5 (the latest), so the run "
     "records the env it trained on"),
    (["algo=ddpg"], "ddpg needs a continuous (Box) action space; CartPole-v1 has Discrete(2)"),
    (["algo=ddpg", "env=gym", "env.id=Pendulum-v1", "total_env_steps=5000"],
     "algo.learning_starts=10000 is out of range: must be < total_env_steps=5000, or the run "
     "ends before its first update"),
    (["device=tpu"], "device='tpu' is not allowed: choose one of auto, cpu, gpu"),
    (["hparams_search=reinforce_cartpole", "seed=3"],  # without -m, one run would ignore it
     "hparams_search=reinforce_cartpole is a search (optuna): it runs with -m: rl-train -m "
     "hparams_search=reinforce_cartpole seed=3"),
    (["eval.heldout_episodes=1"], "eval.heldout_episodes=1 is out of range: must be >= 2"),
    (["env=gym", "env.id=Pendulum-v1", "+env.kwargs.gravity=5"],  # gymnasium's TypeError
     "env.kwargs.gravity=5: Pendulum-v1 takes no keyword argument gravity (it takes: "
     "render_mode, g)"),
    (["env=gym", "env.id=Pendulum-v1", "+env.kwargs.g=abc"],  # fails only once it runs
     "env.kwargs.g=abc: Pendulum-v1 fails on its first step with these values: TypeError: "),
    (["env=gym", "env.id=Pendulum-v1", "env.kwargs={g:9.81}"],  # "not a key", then listed
     "env.kwargs={g:9.81}: env.kwargs starts empty and takes new entries only with a plus: "
     "++env.kwargs={g:9.81} (or one by one: +env.kwargs.<name>=<value>)"),
    (["env=gym", "env.id=Pendulum-v1", "env.kwargs.g=5"],
     "env.kwargs.g is not in env.kwargs yet: add an entry with +env.kwargs.g=5"),
    (["-m", "algo=reinforce,td3", "env=gym", "env.id=Pendulum-v1", "algo.tau=0.01"],
     "the job algo=reinforce: algo.tau is not a key of algo=reinforce (algo=reinforce has "),
    (["-m", "algo.lr=0.003,-1", "seed=0"],  # failed when its job ran, after the others
     "the job algo.lr=-1: algo.lr=-1 is out of range: must be > 0 and <= 1 (Adam learning "
     "rate) (a sweep starts when every job checks out; none has started)"),
    (["-m", "resume=a,b"],  # Hydra's config loader failed at the second job
     "resume=a,b under -m: a resume continues one run, without -m: rl-train resume=<run_dir>"),
    (["-m", "hparams_search=reinforce_cartpole", "seed=0,1"],  # Optuna would tune the seed
     "seed=0,1 under a search would tune the seed like a hyperparameter: a trial trains "
     "search.seeds seeds (seed, seed+1, ...), so set search.seeds=<n> instead"),
    (["-m", "hparams_search=reinforce_cartpole", "algo.lr=interval(0.5,2)"],  # Optuna's
     "algo.lr=2 is out of range: must be > 0 and <= 1 (Adam learning rate) (a value the "
     "search can draw; no trial has started)"),  # traceback, after a failed trial
    (["-m", "hparams_search=ddpg_pusher"],  # the search's own space, for another algo
     "algo.actor_lr is not a key of algo=reinforce (algo=reinforce has "),
    (["-m", "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=0", "seed=0,1"],  # joblib's
     "hydra.launcher.n_jobs=0 is out of range: the jobs side by side, >= 1, or -1 for one per "
     "core (-2: all but one, ...)"),  # ValueError traceback, after the sweep dir was made
    (["-m", "algo.lr=interval(0.001,0.01)"],  # Hydra's basic sweeper raised its traceback
     "algo.lr=interval(0.001,0.01) is a search range: a -m grid takes values (a,b,c) or "
     "range(start,stop,step); interval() needs a search, hparams_search=<name> (Optuna)"),
]


@pytest.mark.parametrize("args,message", BAD_INPUT,
                         ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, args, message):
    proc = rl_train(*args, cwd=tmp_path, timeout=120)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith(f"rl-train: error: {message}"), lines[0]
    assert proc.stdout == ""
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("overrides, missing, message", [
    (["-m", "hydra/launcher=local_parallel"], "hydra/launcher/joblib",
     "hydra/launcher=local_parallel needs Hydra's joblib plugin (hydra/launcher=joblib), which "
     "is not installed: pip install '.[sweep]' in the rl_runner checkout (make install "
     "has it)"),
    (["-m", "hparams_search=ddpg_pusher"], "hydra/sweeper/optuna",
     "hparams_search=ddpg_pusher needs Hydra's optuna plugin (hydra/sweeper=optuna), which is "
     "not installed: pip install '.[sweep]' in the rl_runner checkout (make install has "
     "it)"),
])
def test_a_plugin_not_installed_names_the_extra(overrides, missing, message):
    from hydra.errors import MissingConfigException

    from rl_runner.checks import explain

    # What Hydra raises where the extra is not installed (here every extra is).
    exc = MissingConfigException(f"Could not load '{missing}'", missing, ["basic"])
    assert explain(exc, overrides) == message


def test_full_error_still_shows_the_trace(tmp_path):
    proc = rl_train("algo=ddgp", cwd=tmp_path, timeout=120,
                    env={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    assert "Could not find 'algo/ddgp'" in proc.stderr


def test_a_typo_in_one_sweep_cell_refuses_the_sweep_before_any_job(tmp_path):
    proc = rl_train("-m", "seed=0,1", "algo.lrr=1,2", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "rl-train: error: algo.lrr is not a key of algo=reinforce (algo=reinforce has name, lr, "
        "gamma, hidden_sizes, activation, episodes_per_update, normalize_returns, "
        "entropy_coef, max_grad_norm, init_log_std)"]
    assert files_under(tmp_path) == []


# --------------------------------------------------------------------------------------------
# What people type works
# --------------------------------------------------------------------------------------------
def test_integral_floats_are_accepted_for_integer_keys():
    from rl_runner.composition import normalise

    cfg = compose(normalise(["algo=ddpg", "env=pusher", "algo.buffer_size=1e6",
                             "total_env_steps=2.5e5", "algo.hidden_sizes=[2.56e2,64]",
                             "algo.tau=1e-2", "stop_at_return=-2e1"]))
    assert cfg.algo.buffer_size == 1_000_000 and cfg.total_env_steps == 250_000
    assert list(cfg.algo.hidden_sizes) == [256, 64]
    assert cfg.algo.tau == 0.01 and cfg.stop_at_return == -20.0
    assert normalise(["-m", "seed=1e0,2e0", "algo.batch_size=range(1e2,3e2,1e2)"]) == [
        "-m", "seed=1,2", "algo.batch_size=range(100,300,100)"]
    assert normalise(["algo.buffer_size=1.5", "algo.lr=3e-4"]) == [
        "algo.buffer_size=1.5", "algo.lr=3e-4"]


def test_rl_train_help_lists_groups_without_schemas(tmp_path):
    proc = rl_train("--help", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "algo: ddpg, reinforce, td3" in proc.stdout
    launchers = next(ln for ln in proc.stdout.splitlines() if "hydra/launcher:" in ln)
    assert {"local_parallel", "slurm"} <= set(launchers.split(": ")[1].split(", "))  # README's
    assert "_schema" not in proc.stdout and proc.stderr == ""
    assert files_under(tmp_path) == []


def test_a_key_given_twice_is_a_warning_and_the_last_one_is_used(tmp_path):
    proc = rl_train("seed=1", "algo=reinforce", "seed=2", "algo=reinforce", "--cfg", "job",
                    cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ("rl-train: warning: seed is given twice (seed=1, then seed=2): the "
                           "last one is used\n")  # the same value twice is no news
    assert "\nseed: 2\n" in proc.stdout
    assert files_under(tmp_path) == []


def test_rl_train_help_documents_the_keys_its_overrides_compose(tmp_path):
    proc = rl_train("algo=ddpg", "env=pusher", "--help", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "rl-train algo=ddpg env=pusher, the preset ddpg_pusher merged:" in proc.stdout
    joined = re.sub(r"\n +#   ", " ", proc.stdout)  # a long doc goes on under its first line
    assert max(len(line) for line in proc.stdout.splitlines()) <= 100
    lines = [line.split() for line in joined.splitlines()]
    # the preset's value, then the key's doc (DDPG's, not REINFORCE's) and its range
    assert ["hidden_sizes:", "[256,", "256,", "256]", "#", "units", "per", "hidden", "layer",
            "(actor", "and", "critic)", "(every", "item", ">=", "1)"] in lines
    assert ["tau:", "0.005", "#", "soft", "update:", "target", "<-", "tau*online", "+",
            "(1-tau)*target", "(>", "0", "and", "<=", "1)"] in lines
    proc = rl_train("algo=sac", "--help", cwd=tmp_path, timeout=120)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == ("rl-train: error: algo=sac is not an option of algo: choose one of "
                           "ddpg, reinforce, td3\n")
    assert files_under(tmp_path) == []


def test_rl_train_help_of_a_search_shows_its_space(tmp_path):
    proc = rl_train("-m", "hparams_search=reinforce_cartpole", "algo.lr=interval(0.001,0.01)",
                    "--help", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 100
    space = proc.stdout.split("Searched by Optuna (n_trials 20, direction maximize), each trial "
                              "the keys above with these drawn:\n")[1]
    joined = re.sub(r"\n +# ", " # ", re.sub(r"\n +#   ", " ", space))  # a doc under its key
    lines = [line.split() for line in joined.splitlines()]
    assert ["algo.lr:", "interval(0.001,0.01)", "=", "uniform", "in", "[0.001,", "0.01]", "#",
            "Adam", "learning", "rate", "(>", "0", "and", "<=", "1)"] in lines  # over the file's
    assert ["algo.entropy_coef:", "choice(0.0,", "0.001,", "0.01)", "#", "weight", "of", "the",
            "entropy", "bonus", "in", "the", "loss", "(>=", "0)"] in lines
    assert ["algo.episodes_per_update:", "range(1,", "8)", "=", "1", "to", "8,", "both",
            "included"] == lines[2][:9]  # Optuna draws the stop too, unlike a -m grid
    fixed = rl_train("-m", "hparams_search=reinforce_cartpole", "algo.entropy_coef=0.01",
                     "--help", cwd=tmp_path, timeout=120)  # a value given wins over the range
    assert fixed.returncode == 0 and "algo.entropy_coef: choice" not in fixed.stdout
    grid = rl_train("-m", "seed=1,2", "--help", cwd=tmp_path, timeout=120)
    assert grid.returncode == 0 and "Searched by" not in grid.stdout  # a grid's jobs: the keys
    assert files_under(tmp_path) == []


# --------------------------------------------------------------------------------------------
# Run dirs of their own
# --------------------------------------------------------------------------------------------
def test_claims_of_one_name_from_many_threads_are_all_distinct(tmp_path):
    from rl_runner.rundir import claim

    claimed, start = [], threading.Barrier(8)

    def take():
        start.wait()
        claimed.append(claim(tmp_path / "outputs" / "12-00-00_ddpg_Pusher-v5", False).path)

    threads = [threading.Thread(target=take) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(set(claimed)) == 8
    assert sorted(p.name for p in claimed) == sorted(
        ["12-00-00_ddpg_Pusher-v5"] + [f"12-00-00_ddpg_Pusher-v5_{n}" for n in range(2, 9)])


def test_an_explicit_dir_that_holds_a_run_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    proc = rl_train(*TINY, f"hydra.run.dir={run_dir}", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"rl-train: error: hydra.run.dir={run_dir} already holds a run: choose another dir, or "
        f"continue that run with rl-train resume={run_dir}")
    assert files_under(run_dir) == [run_dir / ".hydra"]
    (run_dir / "metrics.json").write_text("{}")  # finished: resume would refuse it
    proc = rl_train(*TINY, f"hydra.run.dir={run_dir}", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"rl-train: error: hydra.run.dir={run_dir} already holds a finished run: choose "
        "another dir")


@pytest.mark.slow
def test_runs_started_together_each_get_their_own_dir(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "rl_runner.train", *TINY, f"seed={s}"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for s in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e[-2000:] for _, e in outs]
    runs = sorted(p.parent for p in tmp_path.glob("outputs/*/*/metrics.json"))
    assert len(runs) == 3
    for run_dir in runs:
        assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
        seeds = [ln for ln in (run_dir / ".hydra" / "overrides.yaml").read_text().splitlines()
                 if "seed=" in ln]
        assert len(seeds) == 1
    printed = {re.search(r"run dir (\S+)", err).group(1) for _, err in outs}
    assert printed == {str(r) for r in runs}


# --------------------------------------------------------------------------------------------
# A quiet console with a summary
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_console_is_rl_trains_own_lines_and_ends_with_why_it_stopped(tmp_path):
    budget = [a for a in TINY if not a.startswith("total_env_steps=")]
    proc = rl_train(*budget, "total_env_steps=5000", "stop_at_return=9", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert all(ln.startswith("rl-train: ") for ln in lines), lines
    assert proc.stdout == ""
    (run_dir,) = tmp_path.glob("outputs/*/*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["stop_reason"] == "threshold"
    assert metrics["env_steps_to_solve"] == metrics["env_steps"] < 5000
    final, best = metrics["heldout"], metrics["heldout_best"]
    assert lines[0] == (f"rl-train: reinforce on CartPole-v1 (preset reinforce_cartpole, "
                        f"CPU:0), run dir {run_dir}")
    assert lines[1:] == [
        f"rl-train: stopped: reached the threshold 9 at env step "
        f"{metrics['env_steps_to_solve']:,}",
        f"rl-train: held-out return {final['mean']:.2f} ± {final['std']:.2f}, 95 % CI "
        f"[{final['ci95'][0]:.2f}, {final['ci95'][1]:.2f}] over 100 episodes; best checkpoint "
        f"{best['mean']:.2f} ± {best['std']:.2f}",
        f"rl-train: run dir {run_dir}",
        f"rl-train: tensorboard --logdir {run_dir.parent} --host 127.0.0.1"]


@pytest.mark.slow
def test_the_progress_bars_cover_training_and_the_held_out_episodes(tmp_path):
    shown = [a for a in TINY if a != "progress=false"]
    proc = rl_train(*shown, "eval.heldout_episodes=3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bars = [re.split(r"\s*\|", state)[0] for state in re.split(r"[\r\n]", proc.stderr)
            if "%|" in state]  # each state of a bar: its description and percentage
    assert "reinforce CartPole-v1: 100%" in bars
    assert "reinforce CartPole-v1: 3 held-out episodes, final and best: 100%" in bars
    assert "| 3000/3000 [" in proc.stderr  # each policy's 3 episodes, up to 500 steps each


@pytest.mark.slow
def test_verbose_shows_tensorflows_lines(tmp_path):
    proc = rl_train(*TINY, "verbose=true", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()
            and not ln.startswith("rl-train: ")]


@pytest.mark.slow
def test_a_solve_at_the_final_eval_is_a_budget_stop(tmp_path):
    """REINFORCE ends with the batch of whole episodes that crosses the budget; a threshold
    first reached at the final eval, there, did not stop the run early."""
    proc = rl_train("total_env_steps=600", "eval.every_env_steps=5000", "eval.episodes=2",
                    "eval.heldout_episodes=2", "stop_at_return=1", "progress=false",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (metrics,) = tmp_path.glob("outputs/*/*/metrics.json")
    metrics = json.loads(metrics.read_text())
    assert metrics["stop_reason"] == "budget" and metrics["solved"]
    assert metrics["env_steps_to_solve"] == metrics["env_steps"] >= 600
    assert (f"rl-train: stopped: total_env_steps reached ({metrics['env_steps']:,} env steps) "
            f"(threshold 1 first reached at env step {metrics['env_steps']:,})") in \
        proc.stderr.splitlines()


def test_a_ddpg_budget_with_little_learning_is_announced_and_recorded(tmp_path):
    proc = rl_train(*DDPG_TINY, "algo.learning_starts=500", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warning = ("only 1 evaluation of total_env_steps=600 (eval.every_env_steps=300) comes "
               "after algo.learning_starts=500: fewer than two of a learning policy")
    assert f"rl-train: warning: {warning}" in proc.stderr.splitlines()
    assert "(preset ddpg_pusher, CPU:0)" in proc.stderr
    (metrics,) = tmp_path.glob("outputs/*/*/metrics.json")
    assert json.loads(metrics.read_text())["warnings"] == [warning]


# --------------------------------------------------------------------------------------------
# The exported policy, as the README shows it; rl-eval's help and refusals
# --------------------------------------------------------------------------------------------
def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- savedmodel-snippet -->\n```python\n(.*?)```", text, re.S)
    assert match, "README: the SavedModel snippet (marked savedmodel-snippet) is missing"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.parametrize("args,env_id", [(TINY, "CartPole-v1"), (DDPG_TINY, "Pusher-v5")],
                         ids=["cartpole", "pusher"])
def test_readme_savedmodel_snippet_runs_as_written(tmp_path, args, env_id):
    proc = rl_train(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = tmp_path.glob("outputs/*/*")
    code = readme_snippet()
    assert '"outputs/<run>/policy"' in code and '"Pusher-v5"' in code
    code = code.replace('"outputs/<run>/policy"', repr(str(run_dir / "policy")))
    code = code.replace('"Pusher-v5"', repr(env_id))
    code += "\nprint('steps', steps)\n"
    run = python(code, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    steps = int(run.stdout.split()[-1])
    assert steps == 100 if env_id == "Pusher-v5" else 1 <= steps <= 500


def test_rl_eval_help_states_its_defaults():
    proc = subprocess.run([sys.executable, "-m", "rl_runner.eval_cli", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and max(len(line) for line in proc.stdout.splitlines()) <= 100
    for default in ("eval.heldout_episodes", "checkpoint=latest|best", "render=none|gif|mp4",
                    "fps=30"):
        assert default in proc.stdout


@pytest.mark.parametrize("args, message", [
    ([], "give the run dir to evaluate: rl-eval <run_dir> [key=value ...]"),
    (["run", "episodes=1"], "episodes=1 is out of range: must be >= 2 (a 95 % CI needs "
                            "two)"),
    (["run", "fps=abc"], "fps=abc: fps takes an integer"),
    (["run", "seed=-1"], "seed=-1 is out of range: must be >= 0"),
    (["run", "epsiodes=5"], "'epsiodes=5' is neither an option (key=value with key in "
                            "episodes, checkpoint, render, seed, fps) nor a dir"),
    (["run", "--bogus"], "unrecognized arguments: --bogus (rl-eval --help)"),
    (["--episodes", "5", "run"], "--episodes: options are key=value: rl-eval <run_dir> "
                                 "episodes=5"),
    (["run", "other"], "give one run dir to evaluate, not 2: run other"),
])
def test_rl_eval_bad_arguments_are_one_line(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "rl_runner.eval_cli", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (2, f"rl-eval: error: {message}\n")
    assert files_under(tmp_path) == []


def test_rl_eval_finds_its_run_dir_before_or_after_the_options(tmp_path, monkeypatch):
    from rl_runner.eval_cli import split_arguments

    monkeypatch.chdir(tmp_path)
    (tmp_path / "seed=1").mkdir()  # a sweep job's dir, named by its overrides
    assert split_arguments(["episodes=5", "run", "render=gif"]) == (
        "run", ["episodes=5", "render=gif"])
    assert split_arguments(["sweep/algo.lr=0.1,seed=1", "seed=3"]) == (
        "sweep/algo.lr=0.1,seed=1", ["seed=3"])
    assert split_arguments(["seed=1", "episodes=5"]) == ("seed=1", ["episodes=5"])
    assert split_arguments(["seed=1/", "seed=2"]) == ("seed=1/", ["seed=2"])


def test_rl_eval_refuses_a_dir_without_a_trained_run(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    proc = subprocess.run([sys.executable, "-m", "rl_runner.eval_cli", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"rl-eval: error: {tmp_path} holds no trained run (no "
                                   "checkpoint in checkpoints/): it stopped before its first "
                                   "checkpoint")


def test_an_oversized_replay_buffer_is_refused_before_tensorflow_loads():
    code = ("import sys, rl_runner\n"
            "try:\n"
            "    rl_runner.compose(['algo=ddpg', 'env=pusher', 'algo.buffer_size=100000000000'])\n"
            "except rl_runner.ConfigError as exc:\n"
            "    print(exc)\n"
            "print('tensorflow' in sys.modules)\n")
    proc = python(code)
    message, tf_loaded = proc.stdout.strip().splitlines()
    assert message.startswith("algo.buffer_size=100000000000 needs 20489.1 GiB") and \
        tf_loaded == "False", proc.stderr[-2000:]


def test_a_new_run_names_its_env_version_and_a_saved_one_still_loads():
    import gymnasium as gym

    from rl_runner.config import ConfigError
    from rl_runner.envs import check_versioned, describe

    for given, written in (("Pendulum", "Pendulum-v1"),
                           ("gymnasium.envs.classic_control:Pendulum",
                            "gymnasium.envs.classic_control:Pendulum-v1")):
        with pytest.raises(ConfigError, match=f"names no version: write env.id={written} "):
            check_versioned(given)
    check_versioned("ALE/Pong-v5")  # versioned: make_env reports it if it is not installed
    gym.register("RlRunnerNoVersion", entry_point="gymnasium.envs.classic_control:PendulumEnv")
    try:
        check_versioned("RlRunnerNoVersion")  # registered without a version: that is its id
    finally:
        del gym.registry["RlRunnerNoVersion"]
    saved = compose(["algo=ddpg", "env=gym", "env.id=Pendulum-v1"]).env
    saved.id = "Pendulum"  # a run saved before ids had to name their version
    assert describe(saved, "ddpg").obs_dim == 3


def test_help_into_a_pipe_closed_early_is_quiet(tmp_path):
    """``rl-train --help | head -1``: the pipe closes before the help is written; it had ended
    in a BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "rl_runner.train", "--help"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # as head does once it has its line
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and err == ""


def test_mujocos_notices_on_gymnasiums_model_files_stay_off_the_console(tmp_path):
    """mujoco 4 prints "compiler attribute 'settotalmass' is deprecated" 7 times whenever
    HalfCheetah-v5's model loads (the check at start-up loads it): not the user's to act on."""
    proc = rl_train("algo=td3", "env=gym", "env.id=HalfCheetah-v5", "--cfg", "job", cwd=tmp_path,
                    timeout=120)
    assert proc.returncode == 0 and "id: HalfCheetah-v5" in proc.stdout, proc.stderr[-2000:]
    assert proc.stderr == ""
