"""Exceptions the entry points turn into one-line messages (no TensorFlow import here)."""
from __future__ import annotations

RESUME_HINT = "Resume with: rl-train resume="  # the Python API words it as a call instead


class RunStopped(Exception):
    """The run stopped before its end; ``exit_code`` says why (130 SIGINT, 143 SIGTERM,
    3 diverged). The message is one line for the user; ``run_dir`` is the run to resume and
    ``checkpoint`` the checkpoint it would resume from (None if there is none yet)."""

    def __init__(self, message: str, exit_code: int, run_dir: str | None = None,
                 checkpoint: str | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.run_dir, self.checkpoint = run_dir, checkpoint
