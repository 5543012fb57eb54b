"""The statistics RL papers report (Agarwal et al. 2021), through ``rliable``.

Scores are ``[runs, tasks]`` arrays, one per group. Intervals are stratified bootstrap 95 % CIs,
seeded per group: a group's scores give the same CIs in every report, whatever other groups the
report holds.
"""
from __future__ import annotations

import numpy as np

REPS = 5_000  # bootstrap resamples


def interval_estimates(scores: dict, func) -> tuple[dict, dict]:
    """rliable's stratified bootstrap of ``func`` for each group, seeded per group.

    rliable 1.2 draws its resampling indices from numpy's global generator (its
    ``random_state`` does not reach them), so each group's call seeds that generator, and the
    caller's state is put back afterwards. Not for use from several threads at once."""
    from rliable import library as rly

    points, cis = {}, {}
    state = np.random.get_state()
    try:
        for name, values in scores.items():
            np.random.seed(0)
            point, ci = rly.get_interval_estimates({name: values}, func, reps=REPS)
            points[name], cis[name] = point[name], ci[name]
    finally:
        np.random.set_state(state)
    return points, cis


def mean_and_iqm(scores: dict[str, np.ndarray]) -> dict[str, dict[str, tuple[float, float,
                                                                               float]]]:
    """For each ``name: scores[runs, tasks]``: the mean and the IQM (interquartile mean) with
    stratified bootstrap 95 % CIs, ``{name: {"mean": (point, lo, hi), "iqm": (...)}}``."""
    from rliable import metrics

    def both(x):
        return np.array([metrics.aggregate_mean(x), metrics.aggregate_iqm(x)])

    points, cis = interval_estimates(scores, both)
    return {name: {stat: (float(points[name][i]), float(cis[name][0, i]),
                          float(cis[name][1, i])) for i, stat in enumerate(("mean", "iqm"))}
            for name in scores}


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """P(X > Y) (Agarwal et al. 2021) of two ``[runs, tasks]`` score arrays, with its
    stratified bootstrap 95 % CI."""
    from rliable import metrics

    points, cis = interval_estimates({"xy": (x, y)}, metrics.probability_of_improvement)
    return float(points["xy"]), *(float(v) for v in np.ravel(cis["xy"]))


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap 95 % CI of the mean (of one curve point)."""
    if len(values) < 2:
        return float(values[0]), float(values[0])
    means = rng.choice(values, size=(REPS, len(values))).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def performance_profiles(scores: dict[str, np.ndarray], points: int = 101):
    """Performance profiles: per group, the fraction of runs scoring above each of ``points``
    values of tau spanning every score, with stratified bootstrap 95 % CIs. Returns
    ``(taus, {name: fractions}, {name: [2, points] CIs})``."""
    from rliable import library as rly

    every = np.concatenate([s.ravel() for s in scores.values()])
    low, high = every.min(), every.max()
    if low == high:  # one score (one run, or every run solved): a span around it
        low, high = low - max(1.0, abs(low) * 0.1), high + max(1.0, abs(high) * 0.1)
    taus = np.linspace(low, high, points)
    profiles, cis = interval_estimates(scores, lambda x: rly.score_distributions(x, taus))
    return taus, profiles, cis
