"""Learning runs to 300k env steps: the Pusher presets, and the MuJoCo suite on the defaults.

    make bench-learning                       # pusher: ddpg_pusher and td3_pusher, 3 seeds each
    make bench-suite                          # suite: algo=td3 defaults on 5 MuJoCo envs, 3 seeds
    python -m benchmarks.bench_ddpg_learning suite --runs td3_Hopper_s0   # some of them
    python -m benchmarks.bench_ddpg_learning suite --algos td3 ddpg       # the ddpg defaults too
    python -m benchmarks.bench_ddpg_learning suite --report               # summarise only

Each run is 300k env steps (an hour or more on a 2-core CPU), two side by side with
``threads=1``. Run dirs go to ``benchmarks/learning/<run>/`` (git-ignored, ``--out`` elsewhere);
an interrupted run is resumed from its checkpoint by the next call. What the report needs
(curves and held-out scores) is kept in ``benchmarks/<bench>.json``, so a fresh checkout can
rebuild the tables; ``--report`` writes the results fragment and the figure.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import HERE, ROOT, machine

SEEDS = (0, 1, 2)
BUDGET = 300_000
OUT = HERE / "learning"
RECORD = "measured.json"  # in a finished run's dir: the machine and date it finished on

# The suite's targets: TD3 (Fujimoto et al. 2018) at 300k env steps, the median of the paper's
# 10 published learning curves (github.com/sfujim/TD3, learning_curves/, index 60; gym v1 envs
# on mujoco-py). ../shared/REFERENCES.md lists them with the 100k and 1M points.
SUITE_ENVS = {"Hopper": 2579.0, "Walker2d": 3289.0, "HalfCheetah": 7657.0, "Ant": 1577.0,
              "InvertedDoublePendulum": 9310.0}
TARGET_SOURCE = ("TD3 paper's learning curves (Fujimoto et al. 2018, github.com/sfujim/TD3 "
                 "learning_curves/), median of 10 seeds at 300k env steps")
PUSHER_TARGET = -25.0


def pusher_runs() -> dict[str, list[str]]:
    """Each Pusher preset as it ships (``algo=<a> env=pusher`` selects it), three seeds."""
    return {f"{algo}_pusher_s{s}": [f"algo={algo}", "env=pusher", f"seed={s}"]
            for algo in ("ddpg", "td3") for s in SEEDS}


def suite_runs(algos=("td3",)) -> dict[str, list[str]]:
    """The algo's defaults (no preset exists for these envs) on each suite env, three seeds."""
    return {f"{algo}_{env}_s{s}": [f"algo={algo}", "env=gym", f"env.id={env}-v5", f"seed={s}",
                                   f"total_env_steps={BUDGET}", "early_stop=false"]
            for algo in algos for env in SUITE_ENVS for s in SEEDS}


def command(runs: dict[str, list[str]], name: str, out: Path) -> list[str]:
    run_dir = out / name
    started = (run_dir / "checkpoints" / "checkpoint").exists()
    if started and not (run_dir / "metrics.json").exists():
        args = [f"resume={run_dir}"]  # interrupted: go on from its last checkpoint
    else:
        args = [*runs[name], f"hydra.run.dir={run_dir}"]
    return [sys.executable, "-m", "rl_runner.train", *args, "threads=1", "progress=false"]


def launch(runs: dict[str, list[str]], parallel: int, out: Path) -> dict[str, int]:
    """Run (or resume) the runs not finished yet, ``parallel`` at a time; their exit codes."""
    out.mkdir(parents=True, exist_ok=True)
    pending = [n for n in runs if not (out / n / "metrics.json").exists()]
    running, codes = [], {}
    while pending or running:
        while pending and len(running) < parallel:
            name = pending.pop(0)
            log = open(out / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
            running.append((name, subprocess.Popen(command(runs, name, out), cwd=ROOT,
                                                   stdout=log, stderr=log)))
            print(f"started {name}", flush=True)
        time.sleep(5)
        for name, proc in list(running):
            if proc.poll() is not None:
                print(f"finished {name} (exit {proc.returncode})", flush=True)
                if proc.returncode == 0:  # where it ran, for the table's stamp
                    (out / name / RECORD).write_text(json.dumps(
                        {"machine": machine(), "date": datetime.date.today().isoformat()}))
                codes[name] = proc.returncode
                running.remove((name, proc))
    return codes


def collect(runs: dict[str, list[str]], out: Path, saved: Path) -> dict:
    """Curves and held-out scores of the runs on disk, merged into ``saved`` (what a fresh
    checkout reports from)."""
    from rl_runner.events import eval_curve

    stored = json.loads(saved.read_text()) if saved.exists() else {}
    for name in runs:
        run_dir = out / name
        if not run_dir.is_dir():
            continue
        entry = {"eval": eval_curve(run_dir)}
        if (run_dir / RECORD).exists():
            entry.update(json.loads((run_dir / RECORD).read_text()))
        metrics = run_dir / "metrics.json"
        if metrics.exists():
            done = json.loads(metrics.read_text())
            entry.update(heldout=done["heldout"], heldout_best=done["heldout_best"],
                         env_steps=done["env_steps"], wall_seconds=done["wall_seconds"])
        if entry["eval"]:
            stored[name] = entry
    saved.write_text(json.dumps(stored) + "\n")
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", choices=["pusher", "suite"])
    parser.add_argument("--report", action="store_true", help="only summarise")
    parser.add_argument("--runs", nargs="*", help="which runs (default: all of the bench)")
    parser.add_argument("--algos", nargs="*", default=["td3"], choices=["td3", "ddpg"],
                        help="suite: the algorithms' defaults to run")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT, help="where the run dirs go")
    args = parser.parse_args()
    runs = pusher_runs() if args.bench == "pusher" else suite_runs(args.algos)
    unknown = sorted(set(args.runs or []) - set(runs))
    if unknown:
        parser.error(f"not runs of {args.bench}: {', '.join(unknown)}")
    if not args.report:
        launch({n: runs[n] for n in args.runs or runs}, args.parallel, args.out.resolve())
    stored = collect(runs, args.out.resolve(), HERE / f"learning_{args.bench}.json")
    from benchmarks import learning_report

    learning_report.write(args.bench, stored)


if __name__ == "__main__":
    main()
