"""`make bench`: run the benchmarks and write benchmarks/RESULTS.md.

    python -m benchmarks.run               # all
    python -m benchmarks.run reinforce     # one group; the other sections are kept

Each group writes its sections to benchmarks/results/*.md; RESULTS.md is their concatenation
under a header naming the machine and the command. Run on an idle machine: on 2 cores any
other load changes the numbers.
"""
from __future__ import annotations

import argparse
import importlib

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
    order = [*GROUPS, "ddpg_3", "notes"]  # learning (make bench-learning) and notes last

    def place(path):
        rank = [i for i, prefix in enumerate(order) if path.stem.startswith(prefix)]
        return (max(rank) if rank else len(order), path.stem)

    sections = sorted(FRAGMENTS.glob("*.md"), key=place)
    header = ["# Benchmark results", "",
              "Written by `make bench` (`python -m benchmarks.run [group ...]`); medians of "
              "repeats; comparisons measured side by side in one process. Each section names "
              "the machine it was measured on.", ""]
    body = [p.read_text() for p in sections]
    (HERE / "RESULTS.md").write_text("\n".join(header) + "\n" + "\n".join(body))
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
