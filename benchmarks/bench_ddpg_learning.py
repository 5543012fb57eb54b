"""DDPG and TD3 presets learning on Pusher-v5: deterministic eval every 10k env steps to 300k.

    make bench-learning                                  # every run, 2 at a time, then report
    python -m benchmarks.bench_ddpg_learning --runs td3_pusher_s0   # some of them
    python -m benchmarks.bench_ddpg_learning --report    # summarise what has been written

Each run is ~300k env steps (hours on a 2-core CPU). Run dirs go to benchmarks/learning/<run>/
(git-ignored); an interrupted run is resumed where its checkpoint left it. The curves are kept
in learning_pusher.json (a fresh checkout has no run dirs), plotted to learning_pusher.png and
summarised in RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import HERE, ROOT, median, write_fragment

SEEDS = (0, 1, 2)
RUNS = {  # name -> overrides: each preset as it ships, three seeds
    **{f"ddpg_pusher_s{s}": ["algo=ddpg", "env=pusher", f"seed={s}"] for s in SEEDS},
    **{f"td3_pusher_s{s}": ["algo=td3", "env=pusher", f"seed={s}"] for s in SEEDS},
}
PRESETS = {"ddpg_pusher": [f"ddpg_pusher_s{s}" for s in SEEDS],
           "td3_pusher": [f"td3_pusher_s{s}" for s in SEEDS]}
CHECKPOINTS = (100_000, 200_000, 300_000)
TARGET = -25.0
OUT = HERE / "learning"


def command(name: str, out: Path) -> list[str]:
    run_dir = out / name
    started = (run_dir / "checkpoints" / "checkpoint").exists()
    if started and not (run_dir / "metrics.json").exists():
        args = [f"resume={run_dir}"]  # interrupted: go on from its last checkpoint
    else:
        args = [*RUNS[name], "eval.episodes=20", f"hydra.run.dir={run_dir}"]
    return [sys.executable, "-m", "rl_runner.train", *args, "threads=1", "progress=false"]


def launch(names: list[str], parallel: int, out: Path = OUT) -> dict[str, int]:
    """Run (or resume) the named runs, ``parallel`` at a time; returns their exit codes."""
    unknown = [name for name in names if name not in RUNS]
    if unknown:
        raise SystemExit(f"not in RUNS: {', '.join(unknown)}")
    out.mkdir(parents=True, exist_ok=True)
    names = [n for n in names if not (out / n / "metrics.json").exists()]
    pending, running, codes = list(names), [], {}
    while pending or running:
        while pending and len(running) < parallel:
            name = pending.pop(0)
            log = open(out / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
            running.append((name, subprocess.Popen(command(name, out), cwd=ROOT, stdout=log,
                                                   stderr=log)))
            print(f"started {name}", flush=True)
        time.sleep(5)
        for name, proc in list(running):
            if proc.poll() is not None:
                print(f"finished {name} (exit {proc.returncode})", flush=True)
                codes[name] = proc.returncode
                running.remove((name, proc))
    return codes


def scalar_curve(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(run_dir), size_guidance={TENSORS: 0})
    acc.Reload()
    if tag not in acc.Tags()["tensors"]:
        return []
    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


def at(curve, step):
    """The eval at ``step`` (the last one at or before it), once the run got there."""
    points = [v for s, v in curve if s <= step]
    return points[-1] if points and curve[-1][0] >= step else None


def report() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saved = HERE / "learning_pusher.json"
    stored = json.loads(saved.read_text()) if saved.exists() else {"eval": {}}
    curves = stored["eval"]
    for name in RUNS:
        curve = scalar_curve(OUT / name, "eval/episodic_return") if (OUT / name).exists() else []
        if curve:
            curves[name] = curve
    curves = {name: curves[name] for name in RUNS if name in curves}
    saved.write_text(json.dumps({"eval": curves}) + "\n")

    rows = [f"| {name} | " + " | ".join("—" if v is None else f"{v:.1f}"
                                        for v in (at(curve, c) for c in CHECKPOINTS)) + " |"
            for name, curve in curves.items()]
    summary = []
    for preset, names in PRESETS.items():
        done = [at(curves[n], CHECKPOINTS[-1]) for n in names if n in curves]
        done = [v for v in done if v is not None]
        if done:
            summary.append(f"- `{preset}`: median at 300k {median(done):.1f} "
                           f"({len(done)} of {len(names)} seeds)")
    fig, ax = plt.subplots(figsize=(7, 4))
    for preset, cmap in (("ddpg_pusher", "Blues"), ("td3_pusher", "RdPu")):
        for i, name in enumerate(PRESETS[preset]):
            if name in curves:
                ax.plot(*zip(*curves[name]), label=name,
                        color=plt.get_cmap(cmap)(0.45 + 0.25 * i))
    ax.axhline(TARGET, color="grey", ls="--", lw=1, label=f"target {TARGET:g}")
    ax.set_ylim(-60, -20)
    ax.set(xlabel="env steps", ylabel="eval return (20 episodes, deterministic)",
           title="Pusher-v5, the presets")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(HERE / "learning_pusher.png", dpi=100)
    write_fragment("ddpg_3_learning", "\n".join([
        "### Learning on Pusher-v5 (`make bench-learning`)", "",
        "The presets as they ship, three seeds each, `threads=1`, two runs side by side; "
        "deterministic eval, mean of 20 episodes. Curves: `benchmarks/learning_pusher.png`.",
        "", "| run | @100k | @200k | @300k |", "|---|---|---|---|", *rows, "", *summary]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="only summarise existing runs")
    parser.add_argument("--runs", nargs="*", default=list(RUNS), help="which runs to launch")
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    if not args.report:
        launch(args.runs, args.parallel)
    report()


if __name__ == "__main__":
    main()
