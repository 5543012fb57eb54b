"""``rl-eval <run_dir> [key=value ...]``: evaluate (and render) a trained run from the shell.

The work is ``evaluation.evaluate_run``; this module parses the options and prints.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rl_runner.config import ConfigError

PROG = "rl-eval"
OPTIONS = {"episodes": None, "checkpoint": "latest", "render": "none", "seed": None, "fps": "30"}


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as rl-eval's other errors: one line, exit 2."""

    def error(self, message: str):
        fail(f"{message} (rl-eval --help)")


def fail(message: str, code: int = 2):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(code)


def parse_options(items: list[str]) -> dict:
    """The key=value options, integers converted; their ranges and choices are
    ``evaluation.check_options``' (the Python API's too)."""
    opts = dict(OPTIONS)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in OPTIONS:
            fail(f"unknown option {item!r}: use key=value with key in {', '.join(OPTIONS)}")
        opts[key] = value
    for key in ("episodes", "fps", "seed"):
        try:
            opts[key] = None if opts[key] is None else int(opts[key])
        except ValueError:
            fail(f"{key}={opts[key]}: {key} takes an integer")
    return opts


def main(argv: list[str] | None = None) -> None:
    parser = Parser(
        prog=PROG, usage=f"{PROG} [-h] run_dir [key=value ...]",
        description="Evaluate (and render) a trained rl_runner run on its held-out "
        "start states (never used in training's evals): prints mean ± std and the 95 % CI, "
        "writes eval.json (and the video) into the run dir.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="options (key=value, defaults first):\n"
               "  episodes=N               greedy episodes (>= 2); default: the run's "
               "eval.heldout_episodes,\n"
               "                           which repeats the held-out score of its "
               "metrics.json\n"
               "  checkpoint=latest|best   the last checkpoint, or the best eval's policy\n"
               "  render=none|gif|mp4      also write rollout.gif / rollout.mp4 of one episode\n"
               "  seed=<run seed>          whose held-out start states to use\n"
               "  fps=30                   frames per second of the video")
    parser.add_argument("run_dir", nargs="?", help="a run dir written by rl-train")
    parser.add_argument("options", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    if args.run_dir is None:
        fail("give the run dir to evaluate: rl-eval <run_dir> [key=value ...]")
    opts = parse_options(args.options)

    from rl_runner.evaluation import EVAL_FILE, evaluate_run

    run_dir = Path(args.run_dir)
    try:
        result = evaluate_run(run_dir, **opts)
    except ConfigError as exc:
        fail(str(exc))
    except RuntimeError as exc:  # rendering failed
        fail(str(exc), 1)
    cfg = result.config
    which = f"{opts.get('checkpoint', 'latest')} checkpoint ({Path(result.checkpoint).name})"
    print(f"{PROG}: {cfg.algo.name} on {cfg.env.id}, {which}: "
          f"{result.mean:.2f} ± {result.std:.2f}, 95 % CI [{result.ci95[0]:.2f}, "
          f"{result.ci95[1]:.2f}] over {result.episodes} held-out episodes")
    if result.video is not None:
        print(f"{PROG}: wrote {result.video} ({result.rendered['frames']} frames, return "
              f"{result.rendered['return']:.2f})")
    print(f"{PROG}: wrote {run_dir / EVAL_FILE}")

if __name__ == "__main__":
    main()
