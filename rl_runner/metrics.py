"""What a finished run reports, in its ``metrics.json``: ``RunMetrics`` for a run of one seed,
``SeedsMetrics`` for a job of ``search.seeds`` seeds. Plain dataclasses, no TensorFlow: the
API, rl-report and resume read them without importing the trainers."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

METRICS_FILE = "metrics.json"


@dataclass
class HeldOut:
    """A policy's score on the run's held-out start states (``envs.HELDOUT_STATES``)."""

    mean: float
    std: float  # of the episode returns (ddof 1)
    ci95: list[float]  # 95 % confidence interval of the mean
    episodes: int


@dataclass
class RunMetrics:
    """What a finished run reports. Its result is ``heldout``: the final policy on start
    states that no evaluation or selection saw. The ``*_eval_*`` values are the periodic
    evals' (the states that chose the best checkpoint)."""

    heldout: HeldOut | None  # the final policy (None: a run saved before held-out scoring)
    heldout_best: HeldOut | None  # the best checkpoint, on the same states
    final_eval_return: float
    final_eval_return_std: float
    best_eval_return: float
    env_steps: int
    episodes: int
    updates: int
    wall_seconds: float
    solved: bool
    stop_at_return: float | None
    env_steps_to_solve: int | None
    episodes_to_solve: int | None
    wall_seconds_to_solve: float | None
    stop_reason: str  # "budget" (total_env_steps done) or "threshold" (early stop)
    warnings: list[str]  # settings that ran but were likely not meant (config.run_warnings)

    @classmethod
    def from_dict(cls, values: dict) -> RunMetrics:
        """From ``metrics.json``; a run saved before held-out scoring has ``heldout`` None."""
        held = {k: HeldOut(**values[k]) if values.get(k) else None
                for k in ("heldout", "heldout_best")}
        return cls(**{**values, **held})


@dataclass
class SeedsMetrics:
    """What a job of ``search.seeds`` seeds reports."""

    final_eval_return: float  # the mean over the seeds: a search's objective
    seeds: list[int]
    final_eval_return_per_seed: list[float]
    heldout_return_per_seed: list[float] = dataclasses.field(default_factory=list)  # results


def write(run_dir: str | Path, metrics: RunMetrics | SeedsMetrics) -> None:
    (Path(run_dir) / METRICS_FILE).write_text(
        json.dumps(dataclasses.asdict(metrics), indent=2) + "\n")


def read(run_dir: str | Path) -> RunMetrics | SeedsMetrics | None:
    """The metrics of the run in ``run_dir``; None while it is unfinished."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return None
    values = json.loads(path.read_text())
    return SeedsMetrics(**values) if "seeds" in values else RunMetrics.from_dict(values)
