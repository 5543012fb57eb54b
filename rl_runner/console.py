"""What a run prints: one-line messages, and TensorFlow kept quiet unless ``verbose=true``.

TensorFlow's native start-up lines (oneDNN and CUDA notices, "failed call to cuInit" on a
machine without GPU) are written to file descriptor 2 before ``TF_CPP_MIN_LOG_LEVEL`` is read,
so they are silenced by pointing descriptor 2 at /dev/null while TensorFlow is imported and
first looks for devices. Python exceptions are unaffected: they are raised after the
descriptor is restored. ``verbose=true`` (or ``RL_RUNNER_VERBOSE=1``) keeps every line.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys

PROG = "rl-train"
VERBOSE_ENV = "RL_RUNNER_VERBOSE"
# Python loggers that speak at INFO during a run (checkpoint sharding, SavedModel export, font
# cache): WARNING unless verbose.
CHATTY_LOGGERS = ("absl", "tensorflow", "matplotlib", "h5py")


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false")


def set_verbose(on: bool) -> None:
    """Apply the ``verbose`` switch to this process and the jobs it starts."""
    os.environ[VERBOSE_ENV] = "1" if on else "0"
    if on:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    level = logging.INFO if on else logging.WARNING
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if on:
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.NOTSET)


@contextlib.contextmanager
def native_stderr_silenced():
    """Discard what native code writes to file descriptor 2 inside the block (not verbose)."""
    if verbose():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (some notebook kernels)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_tag = ""  # "[#<job num>] " in a job that runs beside others (sweeps.sweep_runtime)
log = logging.getLogger("rl_runner")


def tag_lines(tag: str) -> None:
    """Begin each of this job's lines with ``tag``: its Hydra job number, so the lines of jobs
    that run side by side tell apart."""
    global _tag
    _tag = tag


def tag() -> str:
    return _tag


def say(*lines: str) -> None:
    """rl-train's own lines of a run: on stderr in one write (a parallel job's lines stay
    together), and in the run's ``train.log`` (Hydra's job log file gets INFO; its console
    handler only warnings, so a line is not shown twice)."""
    sys.stderr.write("".join(f"{PROG}: {_tag}{line}\n" for line in lines))
    sys.stderr.flush()
    for line in lines:
        log.info(line)


def error(prog: str, message: str, code: int = 2, kind: str = "error"):
    """One line on stderr and exit with ``code``."""
    print(f"{prog}: {kind}: {message}", file=sys.stderr)
    sys.exit(code)


def out(text: str) -> None:
    """``text`` to stdout, which may be a pipe that closes early (``rl-train --help | head``):
    then the rest is dropped, without Python's BrokenPipeError traceback."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # for the exit's flush
