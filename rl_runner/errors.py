"""Exceptions the entry points turn into one-line messages (no TensorFlow import here)."""
from __future__ import annotations


class RunStopped(Exception):
    """The run stopped before its end; ``exit_code`` says why (130 SIGINT, 143 SIGTERM,
    3 diverged). The message is one line for the user."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
