"""The runs below a dir, as ``rl-report`` reads them: each run's config, metrics and eval curve,
the keys that tell runs apart, and their curves on a common step grid. Configs are read with
OmegaConf and event files with ``events.py``; nothing is executed or unpickled."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rl_runner.events import eval_curve

IGNORED_KEYS = {"seed", "progress", "device", "threads", "jobs_per_gpu", "verbose", "resume",
                "search.seeds"}


@dataclass
class Run:
    path: Path
    config: dict
    metrics: dict | None = None
    error: str | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def score(self) -> float:
        """The held-out return (the last eval for runs saved before it existed)."""
        heldout = self.metrics.get("heldout")
        return heldout["mean"] if heldout else self.metrics["final_eval_return"]


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, list) else value
    return out


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


def unfinished_runs(root: Path) -> list[Path]:
    """The run dirs below ``root`` with a checkpoint and no result: stopped, or still
    training."""
    return [p.parent.parent for p in sorted(root.rglob(".hydra/config.yaml"))
            if (p.parent.parent / "checkpoints").is_dir()
            and not any((p.parent.parent / f).exists() for f in ("metrics.json", "failure.json"))]


def group_key(runs: list[Run], ignore=IGNORED_KEYS) -> list[str]:
    """The keys that tell the runs apart: two runs that both have the key hold different values
    (seed and runtime keys aside). A key only some runs have, another algorithm's, is told by the
    key that chose it (``algo.name``)."""
    keys = set().union(*(r.config for r in runs))
    return [k for k in sorted(keys) if k not in ignore and len(
        {json.dumps(r.config[k], default=str) for r in runs if k in r.config}) > 1]


FIRST_KEYS = ("algo.name", "env.id")  # named first in labels


def label_keys(runs: list[Run], keys: list[str]) -> list[str]:
    """The fewest of ``keys`` that still tell the groups apart, ``algo.name`` and ``env.id``
    first: a key is named only where the keys before it leave runs together that it splits
    (``algo=td3`` needs no ``algo.policy_delay=2`` beside it). ``env.id`` is named whenever
    the runs are on several envs."""
    ordered = [k for k in FIRST_KEYS if k in keys] + [k for k in keys if k not in FIRST_KEYS]
    named: list[str] = []
    for key in ordered:
        together: dict[str, set] = {}
        for run in runs:
            values = together.setdefault(label(run, named), set())
            values.add(json.dumps(run.config.get(key), default=str))
        if any(len(values) > 1 for values in together.values()):
            named.append(key)
    if "env.id" in keys and "env.id" not in named:  # a return means nothing without its env
        named.append("env.id")
    return sorted(named, key=ordered.index)


def label(run: Run, keys: list[str]) -> str:
    return ", ".join(f"{k}={run.config[k]}" for k in keys if k in run.config) or "all runs"


# ---------------------------------------------------------------------------------------------
# Curves on a common grid
# ---------------------------------------------------------------------------------------------
def common_grid(runs: list[Run]) -> tuple[np.ndarray, np.ndarray]:
    """Every run's eval curve on the steps that all of them cover: from the latest first eval to
    the earliest last one, a run that stopped because it solved holding its last value. Returns
    (steps, values[runs, steps])."""
    end_all = max(r.curve[-1][0] for r in runs)
    ends = [end_all if r.metrics.get("stop_reason") == "threshold" else r.curve[-1][0]
            for r in runs]
    start, end = max(r.curve[0][0] for r in runs), min(ends)
    grid = np.unique([s for r in runs for s, _ in r.curve if start <= s <= end] + [end])
    values = np.array([np.interp(grid, *zip(*r.curve)) for r in runs])
    return grid, values
