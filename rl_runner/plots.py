"""``rl-report``'s figures: eval curves on a common step grid with bootstrap CIs, and
performance profiles (rliable's plot)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rl_runner.runs import Run, common_grid
from rl_runner.stats import bootstrap_ci, performance_profiles


def plot_curves(groups: dict[str, list[Run]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    thresholds = set()
    for name, members in groups.items():
        runs = [r for r in members if r.metrics and r.curve]
        if not runs:
            continue
        thresholds |= {r.metrics.get("stop_at_return") for r in runs}
        grid, values = common_grid(runs)
        ax.plot(grid, values.mean(axis=0), label=f"{name} (n={len(runs)})",
                marker="o" if len(grid) == 1 else None)  # one eval: a point, not a line
        if len(runs) > 1:
            lo, hi = np.array([bootstrap_ci(column, rng) for column in values.T]).T
            ax.fill_between(grid, lo, hi, alpha=0.2)
    if len(thresholds) == 1 and None not in thresholds:
        ax.axhline(thresholds.pop(), color="grey", ls="--", lw=1, label="threshold")
    ax.set_xlabel("env steps")
    ax.set_ylabel("eval return (mean over runs, 95 % CI)")
    if ax.lines:  # runs whose event files are gone have no curve
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_profiles(scores: dict[str, np.ndarray], path: Path, xlabel: str) -> None:
    """Performance profiles: per method, the fraction of runs scoring above tau, with CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    taus, profiles, cis = performance_profiles(scores)
    fig, ax = plt.subplots(figsize=(7, 4))
    plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=cis, ax=ax,
                                         xlabel=xlabel, labelsize="small", ticklabelsize=8)
    ax.legend([plt.Line2D([], [], color=line.get_color()) for line in ax.lines[:len(scores)]],
              list(scores), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
