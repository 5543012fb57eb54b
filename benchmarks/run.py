"""`make bench`: run the benchmarks and write benchmarks/RESULTS.md.

    python -m benchmarks.run               # all
    python -m benchmarks.run reinforce     # one group; the other sections are kept

Each group writes its sections to benchmarks/results/*.md; RESULTS.md lists the claims and
concatenates the sections, each naming its machine, date and command. Run on an idle machine:
on 2 cores any other load changes the numbers.
"""
from __future__ import annotations

import argparse
import importlib
import re

from benchmarks.common import FRAGMENTS, HERE

GROUPS = {"reinforce": "benchmarks.bench_reinforce", "ddpg": "benchmarks.bench_ddpg",
          "ddpg_gpu": "benchmarks.bench_ddpg_gpu"}  # ddpg_gpu: only where TensorFlow sees a GPU


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", help=f"any of {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--collate", action="store_true",
                        help="only rebuild RESULTS.md from benchmarks/results/")
    args = parser.parse_args()
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(GROUPS)}")
    for group in [] if args.collate else args.groups or list(GROUPS):
        print(f"benchmark group: {group}", flush=True)
        importlib.import_module(GROUPS[group]).main()
    collate()


# The page's order: what a user asks first (does it learn, how well), then how fast.
ORDER = ("ddpg_5_suite", "ddpg_3_learning", "reinforce_1_solve", "reinforce_2_speedup",
         "reinforce_3_throughput", "ddpg_1_roof", "ddpg_2_notebook", "ddpg_4_gpu")


def collate() -> None:
    """RESULTS.md: a list of the claims with their headline, then one section per claim."""
    sections = sorted(FRAGMENTS.glob("*.md"),
                      key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER),
                                     p.stem))
    claims = []
    for path in sections:
        text = path.read_text()
        title = text.splitlines()[0].lstrip("# ").strip()
        anchor = re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")
        headline = re.search(r"\*\*(.+?)\*\*", text)
        claims.append(f"- [{title}](#{anchor})" + (f": {headline.group(1)}" if headline else ""))
    header = ["# Results", "",
              "Each section is one claim: what was measured, the machine and date, the command, "
              "the seeds or repeats, and the result (medians of repeats; comparisons measured "
              "side by side in one process). Learning results are held-out scores where the "
              "runs have them (the final policy on 100 episodes from start states that no "
              "evaluation or selection saw). `make bench` rewrites the speed sections, "
              "`make bench-learning` and `make bench-suite` the learning ones; "
              "`python -m benchmarks.run --collate` rebuilds this page.", "", *claims, ""]
    body = [p.read_text() for p in sections]
    (HERE / "RESULTS.md").write_text("\n".join(header) + "\n" + "\n".join(body))
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
