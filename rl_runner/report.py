"""``rl-report <dir>``: the runs below a dir (a sweep, a suite, one run), grouped by what
differs between them, with the statistics RL papers use (Agarwal et al. 2021, via ``rliable``).

A run's score is its held-out return (``metrics.json``: the final policy on start states that
no evaluation or selection saw; a run saved before held-out scoring: its last eval). Writes:

- ``report.md``: per group, the runs, failures, the mean and the IQM of their scores with
  stratified bootstrap 95 % CIs, the std (ddof 1), how many reached the threshold and the mean
  env steps to it; ``--compare A B``: the probability that group A improves on group B, with
  its CI; then the failed jobs and their error;
- ``curves.png``: eval return against env steps on a grid every run of a group covers (mean and
  its bootstrap 95 % CI), the threshold where the runs share one;
- ``profiles.png``: performance profiles, the fraction of a group's runs that score above each
  value.

With runs on several envs, ``--normalize FILE`` (JSON ``{"<env id>": [low, high]}``, e.g. the
random policy's and a reference score) adds the aggregate across envs of each method (the group
less ``env.id``): mean and IQM of the normalised scores, and their profiles.

Runs are read by ``runs.py`` (event files without TensorFlow, configs with OmegaConf; nothing
is executed or unpickled) and drawn by ``plots.py``.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rl_runner import console
from rl_runner.plots import plot_curves, plot_profiles
from rl_runner.runs import Run, find_runs, group_key, label, label_keys, unfinished_runs
from rl_runner.stats import mean_and_iqm, probability_of_improvement


def fail(message: str) -> None:
    """Bad input: one line, exit status 2."""
    print(f"rl-report: error: {message}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------
@dataclass
class Report:
    text: str
    groups: dict[str, list[Run]]  # label -> runs, in table order
    keys: list[str]  # the keys the labels name
    failures: list[Run]


FEW_RUNS = 5  # below this many runs a group's bootstrap CI gets a caveat


def fmt(stat: tuple[float, float, float]) -> str:
    return f"{stat[0]:.2f} [{stat[1]:.2f}, {stat[2]:.2f}]"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def summarise(root: Path, compare: tuple[int, int] | None = None,
              normalize: dict[str, list[float]] | None = None) -> Report:
    runs, unfinished = find_runs(root), unfinished_runs(root)
    if not runs and not unfinished:
        fail(f"no runs below {root} (no .hydra/config.yaml with "
                         "metrics.json or failure.json)")
    differing = group_key(runs)
    keys = label_keys(runs, differing)
    also = [k for k in differing if k not in keys]
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(label(run, keys), []).append(run)
    done = {name: [r for r in members if r.metrics] for name, members in groups.items()}
    stats = mean_and_iqm({name: np.array([[r.score] for r in ok])
                          for name, ok in done.items() if ok})
    finished = sum(len(ok) for ok in done.values())
    heldout = sum("heldout" in r.metrics for ok in done.values() for r in ok)
    score = "the held-out return" if heldout == finished else (
        f"the held-out return ({heldout} of {finished} finished runs; the others, saved before "
        "held-out scoring, their last eval)")
    told = f", told apart by {', '.join(keys)}" if keys else (
        "" if len(runs) < 2 else ", with the same config (seeds aside)")
    if also:  # the labels name the fewest keys; the reader must not credit them alone
        told += f" (the groups also differ in {', '.join(also)})"
    lines = [f"# Report: {root}", "",
             f"{_count(len(runs), 'run')} in {_count(len(groups), 'group')}{told}"
             f"{f'; {len(unfinished)} unfinished (listed below)' if unfinished else ''}. "
             f"Score: {score}. Mean and IQM "
             "over a group's runs with stratified bootstrap 95 % CIs; std with ddof 1.", "",
             "| # | group | runs | failed | mean [95 % CI] | IQM [95 % CI] | std "
             "| reached threshold | env steps to threshold |",
             "|---|---|---|---|---|---|---|---|---|"]
    for number, (name, ok) in enumerate(done.items(), 1):
        failed = len(groups[name]) - len(ok)
        if not ok:
            lines.append(f"| {number} | {name} | 0 | {failed} | — | — | — | — | — |")
            continue
        scores = np.array([r.score for r in ok])
        std = f"{scores.std(ddof=1):.2f}" if len(ok) > 1 else "—"
        solved = [r.metrics["env_steps_to_solve"] for r in ok if r.metrics["solved"]]
        reached, steps = f"{len(solved)}/{len(ok)}", f"{np.mean(solved):,.0f}" if solved else "—"
        if all(r.metrics.get("stop_at_return") is None for r in ok):
            reached = steps = "—"  # no threshold (env.stop_at_return unset)
        lines.append(f"| {number} | {name} | {len(ok)} | {failed} | {fmt(stats[name]['mean'])} "
                     f"| {fmt(stats[name]['iqm'])} | {std} | {reached} | {steps} |")
    few = [str(n) for n, ok in enumerate(done.values(), 1) if 1 < len(ok) < FEW_RUNS]
    if few:  # a bootstrap of 2 runs spans their min and max
        which = f"Group {few[0]} has" if len(few) == 1 else f"Groups {', '.join(few)} have"
        lines += ["", f"{which} fewer than {FEW_RUNS} runs: a bootstrap CI of that few is "
                  "rough (of 2 runs, their min and max); more seeds narrow it."]
    single = [str(n) for n, ok in enumerate(done.values(), 1) if len(ok) == 1]
    if single:
        which = f"Group {single[0]} has" if len(single) == 1 else \
            f"Groups {', '.join(single)} have"
        lines += ["", f"{which} one run: its CI is that run's score, with no spread to "
                  "estimate; more seeds give it one."]
    if compare:
        lines += ["", *compare_groups(done, compare)]
    if normalize:
        lines += ["", *across_envs(done, keys, normalize)]
    failures = [r for r in runs if r.error]
    if failures:
        lines += ["", "## Failed jobs", ""]
        lines += [f"- `{r.path.relative_to(root) if r.path != root else r.path}`: {r.error}"
                  for r in failures]
    if unfinished:
        lines += ["", "## Unfinished runs (stopped with a checkpoint, or still training)", ""]
        lines += [f"- `{path}`: rl-train resume={path}"
                  + (" (one seed of a search.seeds job: the job's later seeds did not run)"
                     if path.name.startswith("seed=") else "") for path in unfinished]
    return Report("\n".join(lines) + "\n", groups, keys, failures)


def compare_groups(done: dict[str, list[Run]], compare: tuple[int, int]) -> list[str]:
    names = list(done)
    for number in compare:
        if not 1 <= number <= len(names):
            fail(f"--compare {number}: groups are numbered 1 to "
                             f"{len(names)} (the # column)")
    if compare[0] == compare[1]:
        fail(f"--compare {compare[0]} {compare[1]}: give two different groups")
    a, b = (names[n - 1] for n in compare)
    envs = sorted({str(r.config.get("env.id")) for r in done[a] + done[b]})
    if len(envs) > 1:
        fail(f"--compare {compare[0]} {compare[1]}: the groups are on different envs "
             f"({', '.join(envs)}), whose returns do not compare; across envs, use --normalize")
    if len(done[a]) < 2 or len(done[b]) < 2:
        fail(f"--compare {compare[0]} {compare[1]}: each group needs two or more finished runs "
             f"(they have {len(done[a])} and {len(done[b])}): of one run each, the probability "
             "of improvement is 0 or 1; train more seeds")
    p, lo, hi = probability_of_improvement(np.array([[r.score] for r in done[a]]),
                                           np.array([[r.score] for r in done[b]]))
    return [f"Probability of improvement of #{compare[0]} ({a}) over #{compare[1]} ({b}): "
            f"{p:.2f} [{lo:.2f}, {hi:.2f}] (stratified bootstrap 95 % CI)."]


def normalised_scores(done: dict[str, list[Run]], keys: list[str],
                      normalize: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """Per method (the group less env.id), the scores normalised to ``[low, high] -> [0, 1]``
    as ``[runs, envs]``, the first N runs of each env (N: the fewest any env has)."""
    method_keys = [k for k in keys if k != "env.id"]
    by_method: dict[str, dict[str, list[float]]] = {}
    for ok in done.values():
        for run in ok:
            env = run.config["env.id"]
            if env not in normalize:
                fail(f"--normalize has no [low, high] for {env}")
            low, high = normalize[env]
            by_method.setdefault(label(run, method_keys), {}).setdefault(env, []).append(
                (run.score - low) / (high - low))
    out = {}
    for method, envs in by_method.items():
        n = min(len(v) for v in envs.values())
        out[method] = np.array([envs[e][:n] for e in sorted(envs)]).T
    return out


def across_envs(done, keys, normalize) -> list[str]:
    scores = normalised_scores(done, keys, normalize)
    stats = mean_and_iqm(scores)
    lines = ["## Across envs (normalised: 0 = low, 1 = high of --normalize)", "",
             "| method | envs | runs per env | mean [95 % CI] | IQM [95 % CI] |",
             "|---|---|---|---|---|"]
    lines += [f"| {m} | {s.shape[1]} | {s.shape[0]} | {fmt(stats[m]['mean'])} | "
              f"{fmt(stats[m]['iqm'])} |" for m, s in scores.items()]
    return lines


def read_normalize(path: Path) -> dict[str, list[float]]:
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"--normalize {path}: {exc}")
    if not isinstance(table, dict) or not all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) for x in v)
            and v[0] < v[1] for v in table.values()):
        fail(f'--normalize {path}: expected {{"<env id>": [low, high], ...}} with low < high '
             "(e.g. a random policy's return, then a reference)")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rl-report", description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog="Writes report.md, curves.png and profiles.png into DIR.")
    parser.add_argument("dir", type=Path, help="a multirun (sweep) dir or a single run dir")
    parser.add_argument("--compare", nargs=2, type=int, metavar=("A", "B"),
                        help="probability that group A improves on group B (numbers: the # "
                             "column)")
    parser.add_argument("--normalize", type=Path, metavar="FILE",
                        help='JSON {"<env id>": [low, high]}: aggregate across envs')
    args = parser.parse_args(argv)
    if args.dir.is_file():
        fail(f"{args.dir} is a file: give the run or sweep dir (rl-report <dir>)")
    if not args.dir.is_dir():
        fail(f"{args.dir}: no such directory")
    normalize = read_normalize(args.normalize) if args.normalize else None
    report = summarise(args.dir, args.compare and tuple(args.compare), normalize)
    (args.dir / "report.md").write_text(report.text)
    console.out(report.text)
    console.out(f"rl-report: wrote {args.dir / 'report.md'}{figures(report, args.dir, normalize)}")


def figures(report: Report, out: Path, normalize: dict | None) -> str:
    """Draw what the finished runs allow; returns the end of rl-report's last line."""
    done = {name: [r for r in runs if r.metrics] for name, runs in report.groups.items()}
    done = {name: runs for name, runs in done.items() if runs}
    for old in ("curves.png", "profiles.png"):  # an earlier report's: not of these runs
        (out / old).unlink(missing_ok=True)
    if not done:
        return " (no figures: no run finished)"
    plot_curves(done, out / "curves.png")
    envs = {r.config.get("env.id") for runs in done.values() for r in runs}
    if normalize:  # one profile per method, over the normalised scores of every env
        plot_profiles(normalised_scores(done, report.keys, normalize), out / "profiles.png",
                      "normalised held-out return")
    elif len(envs) > 1:
        return (", curves.png (no profiles.png: the runs are on several envs, whose returns "
                "do not compare; --normalize puts them on one scale)")
    else:
        plot_profiles({name: np.array([[r.score] for r in runs]) for name, runs in done.items()},
                      out / "profiles.png", "held-out return")
    return ", curves.png and profiles.png"


if __name__ == "__main__":
    main()
