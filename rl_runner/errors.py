"""Exceptions the entry points turn into one-line messages (no TensorFlow import here)."""
from __future__ import annotations


class RunStopped(Exception):
    """The run stopped before its end; ``exit_code`` says why (130 SIGINT, 143 SIGTERM,
    3 diverged). The message is one line for the user; ``run_dir`` is the run to resume and
    ``checkpoint`` the checkpoint it would resume from (None if there is none yet). A
    ``resumable`` stop ends its message with how to resume: ``resume_with``, the command by
    default (the Python API words it as a call)."""

    def __init__(self, message: str, exit_code: int, run_dir: str | None = None,
                 checkpoint: str | None = None, resumable: bool = False):
        super().__init__(message)
        self.exit_code = exit_code
        self.run_dir, self.checkpoint, self.resumable = run_dir, checkpoint, resumable
        self.resume_with = f"rl-train resume={run_dir}"

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} Resume with: {self.resume_with}" if self.resumable else message
