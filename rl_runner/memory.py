"""Memory a run needs, checked before TensorFlow loads (``job.prepare``): the replay buffer's
float32 storage against the memory available."""
from __future__ import annotations

import os

from rl_runner.config import ConfigError


def bytes_needed(capacity: int, obs_dim: int, act_dim: int) -> int:
    """float32 storage for ``capacity`` transitions (one row each)."""
    return 4 * capacity * (2 * obs_dim + act_dim + 2)


def available_bytes() -> int | None:
    """Memory the buffer may use: MemAvailable on Linux, else None (unchecked)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(capacity: int, obs_dim: int, act_dim: int, env_id: str,
               available: int | None = None) -> None:
    """Fail with a clear message when the buffer would not fit in memory (80 % at most)."""
    need = bytes_needed(capacity, obs_dim, act_dim)
    available = available_bytes() if available is None else available
    if available is not None and need > 0.8 * available:
        raise ConfigError(
            f"algo.buffer_size={capacity} needs {need / 2**30:.1f} GiB for {env_id} "
            f"transitions but only {available / 2**30:.1f} GiB of memory is available: "
            f"lower algo.buffer_size (at most {int(0.8 * available / (need / capacity)):,})")
