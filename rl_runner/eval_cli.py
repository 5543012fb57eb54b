"""``rl-eval <run_dir> [key=value ...]``: evaluate (and render) a trained run from the shell.

The work is ``evaluation.evaluate_run``; this module parses the options and prints.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rl_runner.checks import repeated
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


def split_arguments(items: list[str]) -> tuple[str, list[str]]:
    """The run dir and the key=value options, in any order. A sweep job's dir is named by its
    overrides (``algo.lr=0.1,seed=1``): an item is an option only when its key is one, and
    ``seed=1`` alone, where such a dir exists, is that dir."""
    dirs, options = [], []
    for i, item in enumerate(items):
        key, sep, value = item.partition("=")
        flag = key.removeprefix("--")
        if item.startswith("--") and flag in OPTIONS:
            value = value if sep else items[i + 1] if i + 1 < len(items) else "<value>"
            fail(f"{key}: options are key=value: rl-eval <run_dir> {flag}={value}")
        if item.startswith("-"):
            fail(f"unrecognized arguments: {item} (rl-eval --help)")
        if sep and key in OPTIONS and not item.endswith("/"):
            options.append(item)
        elif sep and "/" not in key and not Path(item).exists():
            fail(f"{item!r} is neither an option (key=value with key in {', '.join(OPTIONS)}) "
                 "nor a dir")
        else:
            dirs.append(item)
    if not dirs:
        dirs = [o for o in options if Path(o).is_dir()][-1:]
        options = [o for o in options if o not in dirs]
    if not dirs:
        fail("give the run dir to evaluate: rl-eval <run_dir> [key=value ...]")
    if len(dirs) > 1:
        fail(f"give one run dir to evaluate, not {len(dirs)}: {' '.join(dirs)}")
    return dirs[0], options


def parse_options(items: list[str]) -> dict:
    """The key=value options (``split_arguments`` let only known keys through), integers
    converted; their ranges and choices are ``evaluation.check_options``' (the Python API's
    too)."""
    opts = dict(OPTIONS)
    for item in items:
        key, _, value = item.partition("=")
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
        description="Evaluate (and render) a trained rl_runner run on its held-out start states\n"
        "(never used in training's evals): prints mean ± std and the 95 % CI, writes\n"
        "eval.json (and the video) into the run dir.",
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
    parser.add_argument("run_dir", help="a run dir written by rl-train")
    parser.add_argument("options", nargs="*", metavar="key=value",
                        help="before or after the run dir")
    argv = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(argv):
        parser.parse_args(["-h"])
    run_dir, options = split_arguments(argv)
    for line in repeated(options):  # as rl-train: the last one is used
        print(f"{PROG}: warning: {line}", file=sys.stderr)
    opts = parse_options(options)

    from rl_runner.evaluation import EVAL_FILE, evaluate_run

    run_dir = Path(run_dir)
    try:
        result = evaluate_run(run_dir, **opts, progress=sys.stderr.isatty())
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
    print(f"{PROG}: wrote {run_dir / EVAL_FILE}{replacing(result.replaced)}")


def replacing(previous: dict | None) -> str:
    """What the eval.json just written replaced, so a user who kept a number knows it is gone."""
    if previous is None:
        return ""
    try:
        path = Path(previous["checkpoint"])
        which = "best" if path.parent.name == "best" else "latest"
        what = (f"{which} checkpoint ({path.name}), {previous['episodes']} episodes, "
                f"seed {previous['seed']}: {float(previous['mean']):.2f}")
    except (KeyError, TypeError, ValueError, OverflowError):
        return " (replacing an eval.json it could not read)"
    return f" (replacing the previous one: {what})"


if __name__ == "__main__":
    main()
