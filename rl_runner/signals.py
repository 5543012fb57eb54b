"""Ctrl-C and SIGTERM during training, and during a sweep: a stop that loses nothing.

The first SIGINT or SIGTERM is only recorded: the loop finishes its step, writes a checkpoint and
stops (exit status 128 + the signal, with the command that resumes). A second exits at once,
keeping the previous checkpoint. Outside the main thread signals are left alone. No TensorFlow.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from rl_runner import console

CAUGHT = (signal.SIGINT, signal.SIGTERM)
# One Ctrl-C reaches every process of the terminal's group, and a parallel sweep's rl-train
# forwards it to its job processes too: the same signal this soon after the first is that one.
ECHO_SECONDS = 2.0


class Arrivals:
    """The signals a process receives: the first, and whether a later one is that one's echo
    (``ECHO_SECONDS``) or a second."""

    def __init__(self):
        self.received: int | None = None
        self._at = 0.0

    def arrive(self, signum: int) -> str:
        """``"first"``, ``"echo"`` or ``"second"``."""
        if self.received is None:
            self.received, self._at = signum, time.monotonic()
            return "first"
        if signum == self.received and time.monotonic() - self._at < ECHO_SECONDS:
            return "echo"
        return "second"

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    @property
    def again(self) -> str:
        return "Ctrl-C again" if self.received == signal.SIGINT else "a second signal"


def hold() -> None:
    """A parallel sweep's job process, from its start: SIGINT and SIGTERM are held (blocked,
    and ignored should a thread not block them), so a process waiting for a job, or starting
    or ending one, is not killed by them; a training loop acts on one held for it
    (``StopSignals``)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, CAUGHT)
    for sig in CAUGHT:
        signal.signal(sig, signal.SIG_IGN)


def exit_now(signum: int) -> None:
    print("\nrl-train: second interrupt: exiting now; the previous checkpoint is kept",
          file=sys.stderr)
    sys.stderr.flush()
    os._exit(128 + signum)


class StopSignals:
    """``with StopSignals() as stops:`` catches the signals for the block; ``stops.received``
    is the first one caught (None: none yet). The previous handlers come back on exit. The
    signals are unblocked for the block: a parallel sweep's job process holds them outside its
    training loop (``hold``), and one that came meanwhile is acted on here."""

    def __init__(self):
        self.arrivals = Arrivals()
        self._previous: dict = {}
        self._mask: set | None = None

    def _handle(self, signum, _frame) -> None:
        arrival = self.arrivals.arrive(signum)
        if arrival == "second":
            exit_now(signum)
        if arrival == "first":
            print(f"\nrl-train: {console.tag()}{self.name}: finishing this step and saving a "
                  f"checkpoint "
                  f"({self.arrivals.again} to exit at once)", file=sys.stderr)

    @property
    def received(self) -> int | None:
        return self.arrivals.received

    @property
    def name(self) -> str:
        return self.arrivals.name

    def __enter__(self) -> StopSignals:
        for sig in CAUGHT:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        if self._previous:
            self._mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, CAUGHT)
            if (signum := stopping()) is not None:  # the sweep stops: its signal came before
                self.arrivals.arrive(signum)  # this loop (to rl-train's SweepStop)
        return self

    def __exit__(self, *exc) -> None:
        if self._mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
            self._mask = None
        _restore(self._previous)


def _restore(previous: dict) -> None:
    """Put back the handlers ``signal.signal`` returned, and forget them."""
    for sig, handler in previous.items():
        # None: a handler set outside Python, which cannot be put back: the default then
        signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    previous.clear()


STOP_ENV = "RL_RUNNER_SWEEP_STOP"  # a sweep's stop marker, for its jobs


class SweepStop:
    """``with SweepStop(sweep_dir, parallel) as stops:`` around a sweep (``-m``): a signal
    stops it cleanly wherever it comes, with ``parallel`` where its jobs run side by side in
    child processes (``hydra/launcher=local_parallel``, ``sweeps.job_processes`` > 1).

    rl-train catches SIGINT and SIGTERM itself. Between two jobs in its own process, one had
    interrupted Hydra writing the next job's config (a traceback, a half-made job dir); in a
    parallel sweep, joblib's interrupted wait killed the jobs, mid-save. A job in its training
    loop acts on the signal itself (``StopSignals``): it finishes its step and checkpoints. A
    later job does not start (``stopping``). A second signal exits at once.

    ``parallel``: the job processes hold both signals (``hold``) except in a training loop, so
    one waiting for a job, or starting or ending one, is not killed by them; the terminal sends
    Ctrl-C to every process, and a signal sent to rl-train alone is forwarded to them."""

    def __init__(self, sweep_dir: Path, parallel: bool):
        self.arrivals = Arrivals()
        self.parallel = parallel
        self.marker = Path(sweep_dir).absolute() / f".stopping-{os.getpid()}-{time.time_ns()}"
        self._previous: dict = {}

    @property
    def received(self) -> int | None:
        return self.arrivals.received

    def _handle(self, signum, _frame) -> None:
        arrival = self.arrivals.arrive(signum)
        if arrival == "echo":
            return
        if self.parallel:
            _forward(signum)
        if arrival == "second":
            self.marker.unlink(missing_ok=True)
            exit_now(signum)
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        written = self.marker.with_suffix(".part")
        written.write_text(str(signum))
        os.replace(written, self.marker)  # whole: a job never reads it half-written
        running = "each running job finishes its step and saves a checkpoint; " \
            if self.parallel else ""
        print(f"\nrl-train: {self.arrivals.name}: {running}no later job starts "
              f"({self.arrivals.again} to exit at once)", file=sys.stderr)

    def __enter__(self) -> SweepStop:
        os.environ[STOP_ENV] = str(self.marker)
        self._previous = {sig: signal.signal(sig, self._handle) for sig in CAUGHT}
        if self.parallel:
            import functools

            from joblib import parallel, register_parallel_backend

            # Hydra's joblib launcher asks joblib for its "loky" backend by name: that
            # backend, with each job process holding the signals from its start.
            self._loky = parallel.BACKENDS["loky"]
            register_parallel_backend("loky", functools.partial(self._loky, initializer=hold))
        return self

    def __exit__(self, *exc) -> None:
        if self.parallel:
            from joblib import register_parallel_backend

            register_parallel_backend("loky", self._loky)
        _restore(self._previous)
        os.environ.pop(STOP_ENV, None)
        self.marker.unlink(missing_ok=True)


def stopping(wait: float = 0.0) -> int | None:
    """In a job of a sweep: the signal that stops the sweep, or None while it goes on. ``wait``:
    seconds to wait for it, in a job a signal stopped (the terminal's Ctrl-C reaches the job
    too, and it may stop before rl-train, on a busy machine, has written the marker)."""
    marker = os.environ.get(STOP_ENV)
    if not marker:
        return None
    deadline = time.monotonic() + wait
    while True:
        try:
            return int(Path(marker).read_text())
        except (OSError, ValueError):  # not there: the sweep goes on
            if time.monotonic() >= deadline:
                return None
        time.sleep(0.05)


def _forward(signum: int) -> None:
    """The signal to this process's child processes: the job processes, which hold it outside
    a training loop (and the resource trackers, which ignore it). Linux; elsewhere a job hears
    a Ctrl-C from the terminal only."""
    pids = []
    for task in Path("/proc/self/task").glob("*/children"):
        try:
            pids += [int(pid) for pid in task.read_text().split()]
        except OSError:
            pass
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
