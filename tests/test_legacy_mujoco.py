"""Pusher-v4, the notebook's env: runs only with mujoco<3 (make test-legacy-mujoco)."""
from __future__ import annotations

import pytest

from conftest import read_scalars, train_in_process

mujoco = pytest.importorskip("mujoco")
pytestmark = [
    pytest.mark.legacy_mujoco,
    pytest.mark.skipif(int(mujoco.__version__.split(".")[0]) >= 3,
                       reason="Pusher-v4 needs mujoco<3: make test-legacy-mujoco"),
]


def test_ddpg_runs_on_pusher_v4(tmp_path):
    metrics = train_in_process(["algo=ddpg", "env=pusher_v4", "total_env_steps=400",
                                "algo.learning_starts=100", "algo.buffer_size=1000",
                                "algo.batch_size=32", "algo.hidden_sizes=[32,32]",
                                "eval.every_env_steps=200", "eval.episodes=2"], tmp_path)
    assert metrics.env_steps == 400 and metrics.episodes == 4
    assert metrics.updates == 2 * (400 - 100 + 1)  # ddpg_pusher's two per env step
    steps = [s for s, _ in read_scalars(tmp_path)["eval/episodic_return"]]
    assert steps == [200, 400]
