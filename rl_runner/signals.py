"""Ctrl-C and SIGTERM during training: a stop that loses nothing.

The first SIGINT or SIGTERM is only recorded: the loop finishes its step, writes a checkpoint and
stops (exit status 128 + the signal, with the command that resumes). A second exits at once,
keeping the previous checkpoint. Outside the main thread signals are left alone. No TensorFlow.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

CAUGHT = (signal.SIGINT, signal.SIGTERM)
# One Ctrl-C reaches every process of the terminal's group, and a parallel sweep's rl-train
# forwards it to its job processes too: the same signal this soon after the first is that one.
ECHO_SECONDS = 2.0


class StopSignals:
    """``with StopSignals() as stops:`` catches the signals for the block; ``stops.received``
    is the first one caught (None: none yet). The previous handlers come back on exit.
    ``first(signum)``, where given, replaces the training loop's line on the first signal."""

    def __init__(self, first: Callable[[int], None] | None = None):
        self.received: int | None = None
        self._at = 0.0
        self._first = first
        self._previous: dict = {}

    def _handle(self, signum, _frame) -> None:
        if signum == self.received and time.monotonic() - self._at < ECHO_SECONDS:
            return  # the first one's echo (see ECHO_SECONDS), not a second
        if self.received is not None:
            print("\nrl-train: second interrupt: exiting now; the previous checkpoint is kept",
                  file=sys.stderr)
            sys.stderr.flush()
            os._exit(128 + signum)
        self.received, self._at = signum, time.monotonic()
        if self._first is not None:
            self._first(signum)
            return
        print(f"\nrl-train: {self.name}: finishing this step and saving a checkpoint "
              f"({self.again} to exit at once)", file=sys.stderr)

    @property
    def again(self) -> str:
        return "Ctrl-C again" if self.received == signal.SIGINT else "a second signal"

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    def __enter__(self) -> StopSignals:
        for sig in CAUGHT:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            # None: a handler set outside Python, which cannot be put back: the default then
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()
