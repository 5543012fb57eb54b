"""Build a trainer from overrides exactly as `rl-train` would, for timing its parts."""
from __future__ import annotations

from hydra import compose, initialize_config_dir

from benchmarks.common import ROOT


def make_trainer(overrides: list[str], run_dir: str):
    from rl_runner.train import build_trainer, prepare

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["progress=false", *overrides])
    return build_trainer(*prepare(cfg), run_dir)[0]
