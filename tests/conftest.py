"""Shared fixtures: compose the real config from conf/, run short real trainings in-process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rl_runner  # noqa: E402,F401  (sets TensorFlow's environment defaults)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "rl_runner" / "conf"


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="also run the long learning checks (marked full)")


def pytest_configure(config):
    config.addinivalue_line("markers", "full: long learning checks, run by make test-full")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--full"):
        return
    skip = pytest.mark.skip(reason="long learning check: make test-full")
    for item in items:
        if "full" in item.keywords:
            item.add_marker(skip)


def compose(overrides: list[str] | None = None):
    """The DictConfig `rl-train <overrides>` would see (without its hydra node), composed and
    checked by the CLI's own composition."""
    from rl_runner.composition import compose as rl_compose

    return rl_compose(list(overrides or []), hydra_config=False).cfg


def train_in_process(overrides: list[str], run_dir: Path):
    """Run a real training in this process, as rl-train would; returns RunMetrics."""
    from omegaconf import OmegaConf

    from rl_runner.job import prepare, run

    cfg = compose(["progress=false", *overrides])
    (Path(run_dir) / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, Path(run_dir) / ".hydra" / "config.yaml")  # as Hydra writes it
    typed, spec = prepare(cfg)
    return run(typed, spec, str(run_dir))


def make_trainer(overrides: list[str], run_dir: Path):
    """The trainer `rl-train <overrides>` would build (TensorFlow set up), not yet trained."""
    from rl_runner.job import build_trainer, prepare

    return build_trainer(*prepare(compose(["progress=false", *overrides])), run_dir)[0]


def python(code: str, *args: str, cwd: Path | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -c <code> <args>` in a subprocess, its output captured as text."""
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def rl_train(*args: str, cwd: Path, timeout: float = 300,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m rl_runner.train <args>` in a subprocess (the real entry point)."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run([sys.executable, "-m", "rl_runner.train", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in a run dir's event files, {tag: [(step, value), ...]}, read back with
    TensorBoard's own EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={TENSORS: 0})
    acc.Reload()
    import tensorflow as tf

    out = {}
    for tag in acc.Tags()["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
            events = acc.Tensors(tag)
            out[tag] = [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in events]
    return out
