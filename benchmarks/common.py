"""Shared by the benchmarks: machine description, result fragments, medians."""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import rl_runner  # noqa: E402,F401  (sets TensorFlow's environment defaults)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FRAGMENTS = HERE / "results"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import tensorflow as tf

    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    from importlib.metadata import version

    return (f"{cpu}, {os.cpu_count()} cores, "
            f"{'GPU: ' + ', '.join(gpus) if gpus else 'no GPU'}; "
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}, gymnasium "
            f"{version('gymnasium')}, mujoco {version('mujoco')}")


def median(values) -> float:
    return float(statistics.median(values))


def measured_now() -> str:
    import datetime

    return f"Measured {datetime.date.today().isoformat()} on: {machine()}."


def write_fragment(name: str, text: str, measured: str | None = None) -> None:
    """One benchmark's section of RESULTS.md, kept so sections can be rerun on their own;
    stamped with the machine and date it was measured on: now and here, unless ``measured``
    says otherwise (a table rebuilt from stored runs)."""
    FRAGMENTS.mkdir(exist_ok=True)
    title, _, rest = text.partition("\n")
    stamp = measured or measured_now()
    (FRAGMENTS / f"{name}.md").write_text(f"{title}\n\n{stamp}\n{rest.rstrip()}\n")


def rl_train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rl_runner.train", *args], cwd=cwd,
                          capture_output=True, text=True)
