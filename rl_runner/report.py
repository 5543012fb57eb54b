"""``rl-report <multirun_dir | run_dir>``: a sweep summary across seeds.

Finds every run below the dir (a dir with ``.hydra/config.yaml`` and ``metrics.json``, or a
failed job's ``failure.json``), groups the runs by the config keys that differ between them
(the seed aside), and writes:

- ``report.md``: per group, the number of seeds, failures, mean / std / bootstrap 95 % CI of the
  final eval return, how many runs reached their threshold and the mean env steps to reach it,
  the best eval return; then the failed jobs with their error;
- ``curves.png``: eval return vs env steps, mean and a shaded bootstrap 95 % CI per group
  (a run that stopped early because it solved keeps its last eval value).

Reads the event files with TensorBoard's loader and plain protobufs (no TensorFlow import) and
configs with OmegaConf; nothing is executed or unpickled.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IGNORED_KEYS = {"seed", "progress", "device", "threads", "verbose", "resume", "search.seeds"}
BOOTSTRAP_SAMPLES = 10_000


@dataclass
class Run:
    path: Path
    config: dict
    metrics: dict | None = None
    error: str | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, list) else value
    return out


def eval_curve(run_dir: Path, tag: str = "eval/episodic_return") -> list[tuple[int, float]]:
    """(step, value) of a scalar tag from a run dir's event files, last write per step wins."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    points: dict[int, float] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == tag:
                    v = (float(tensor_util.make_ndarray(value.tensor))
                         if value.HasField("tensor") else value.simple_value)
                    points[event.step] = v
    return sorted(points.items())


def find_runs(root: Path) -> list[Run]:
    from omegaconf import OmegaConf

    runs = []
    for cfg_path in sorted(root.rglob(".hydra/config.yaml")):
        run_dir = cfg_path.parent.parent
        config = flat(OmegaConf.to_container(OmegaConf.load(cfg_path)))
        failure, metrics = run_dir / "failure.json", run_dir / "metrics.json"
        if failure.exists():
            runs.append(Run(run_dir, config, error=json.loads(failure.read_text())["error"]))
        elif metrics.exists():
            m = json.loads(metrics.read_text())
            if "env_steps" in m:  # a single-seed run (a search job's summary has none)
                runs.append(Run(run_dir, config, metrics=m, curve=eval_curve(run_dir)))
    return runs


def group_key(runs: list[Run]) -> list[str]:
    """The config keys whose values differ between runs, seed and runtime keys aside."""
    keys = set().union(*(r.config for r in runs))
    varying = [k for k in sorted(keys) if k not in IGNORED_KEYS
               and len({json.dumps(r.config.get(k), default=str) for r in runs}) > 1]
    return varying


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap 95 % CI of the mean."""
    if len(values) < 2:
        return float(values[0]), float(values[0])
    means = rng.choice(values, size=(BOOTSTRAP_SAMPLES, len(values))).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(root: Path) -> tuple[str, dict[str, list[Run]], list[Run]]:
    runs = find_runs(root)
    if not runs:
        raise SystemExit(f"rl-report: error: no runs below {root} (no .hydra/config.yaml with "
                         "metrics.json or failure.json)")
    keys = group_key(runs)
    groups: dict[str, list[Run]] = {}
    for run in runs:
        label = ", ".join(f"{k}={run.config.get(k)}" for k in keys) or "all runs"
        groups.setdefault(label, []).append(run)
    rng = np.random.default_rng(0)
    lines = [f"# Sweep report: {root}", "",
             f"{len(runs)} runs in {len(groups)} groups; grouped by "
             f"{', '.join(keys) or '(nothing varies but the seed)'}. Final eval return: mean, "
             "std and bootstrap 95 % CI of the mean over seeds.", "",
             "| group | seeds | failed | final eval mean | std | 95 % CI | reached threshold "
             "| env steps to threshold | best eval mean |",
             "|---|---|---|---|---|---|---|---|---|"]
    failures = [r for r in runs if r.error]
    for label, members in groups.items():
        ok = [r for r in members if r.metrics]
        failed = len(members) - len(ok)
        if not ok:
            lines.append(f"| {label} | 0 | {failed} | — | — | — | — | — | — |")
            continue
        finals = np.array([r.metrics["final_eval_return"] for r in ok])
        lo, hi = bootstrap_ci(finals, rng)
        solved = [r.metrics["env_steps_to_solve"] for r in ok if r.metrics["solved"]]
        steps = f"{np.mean(solved):,.0f}" if solved else "—"
        best = np.mean([r.metrics["best_eval_return"] for r in ok])
        lines.append(f"| {label} | {len(ok)} | {failed} | {finals.mean():.2f} | "
                     f"{finals.std():.2f} | [{lo:.2f}, {hi:.2f}] | {len(solved)}/{len(ok)} | "
                     f"{steps} | {best:.2f} |")
    if failures:
        lines += ["", "## Failed jobs", ""]
        lines += [f"- `{r.path.relative_to(root) if r.path != root else r.path}`: {r.error}"
                  for r in failures]
    return "\n".join(lines) + "\n", groups, failures


def plot(groups: dict[str, list[Run]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, members in groups.items():
        runs = [r for r in members if r.curve]
        if not runs:
            continue
        start = max(r.curve[0][0] for r in runs)  # where every run has a first point
        grid = np.unique([s for r in runs for s, _ in r.curve if s >= start])
        ys = np.full((len(runs), len(grid)), np.nan)
        for i, run in enumerate(runs):
            steps, values = zip(*run.curve)
            # A run that stopped early because it solved keeps its last value; any other run
            # leaves the mean where its curve ends.
            end = grid[-1] if run.metrics.get("solved") else steps[-1]
            inside = (grid >= steps[0]) & (grid <= end)
            ys[i, inside] = np.interp(grid[inside], steps, values)
        ax.plot(grid, np.nanmean(ys, axis=0), label=f"{label} (n={len(runs)})")
        if len(runs) > 1:
            lo, hi = np.full(len(grid), np.nan), np.full(len(grid), np.nan)
            for j in range(len(grid)):
                column = ys[~np.isnan(ys[:, j]), j]
                if len(column) > 1:
                    lo[j], hi[j] = bootstrap_ci(column, rng)
            ax.fill_between(grid, lo, hi, alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("eval return (mean, 95 % CI)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rl-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="a multirun (sweep) dir or a single run dir")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        print(f"rl-report: error: {args.dir}: no such directory", file=sys.stderr)
        sys.exit(2)
    text, groups, _ = summarise(args.dir)
    (args.dir / "report.md").write_text(text)
    plot(groups, args.dir / "curves.png")
    print(text)
    print(f"rl-report: wrote {args.dir / 'report.md'} and {args.dir / 'curves.png'}")


if __name__ == "__main__":
    main()
