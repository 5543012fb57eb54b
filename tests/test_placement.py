"""One GPU per parallel job, tested without a GPU: the slot -> GPU rule, slots held by live
processes only, and a real parallel multirun told (through CUDA_VISIBLE_DEVICES) that it has
GPUs, each job recording the one it was given."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import rl_train
from rl_runner.placement import PLACEMENT_FILE, claim_slot, gpu_for_slot, visible_gpus


def test_slots_go_round_robin_or_fill_a_card_first():
    gpus = ["3", "5"]
    assert [gpu_for_slot(s, gpus, 1) for s in range(5)] == ["3", "5", "3", "5", "3"]
    assert [gpu_for_slot(s, gpus, 2) for s in range(5)] == ["3", "3", "5", "5", "3"]
    assert [gpu_for_slot(s, ["0"], 4) for s in range(3)] == ["0", "0", "0"]


@pytest.mark.parametrize("listed, gpus", [("3,5", ["3", "5"]), (" 0, 1 ", ["0", "1"]),
                                          ("-1", []), ("", [])])
def test_visible_gpus_follow_cuda_visible_devices(listed, gpus):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": listed}) == gpus


def test_a_slot_is_held_while_its_holder_lives(tmp_path):
    first, held = claim_slot(tmp_path)
    second, other = claim_slot(tmp_path)
    assert (first, second) == (0, 1)
    held.close()  # its process is gone
    assert claim_slot(tmp_path)[0] == 0
    other.close()


HOLD = ("import sys; from rl_runner.placement import place; p = place(sys.argv[1], "
        "int(sys.argv[2])); print(p.slot, p.gpu, flush=True); sys.stdin.read()")


@pytest.mark.parametrize("jobs_per_gpu, expected", [(1, ["3", "5", "3"]), (2, ["3", "3", "5"])])
def test_worker_processes_take_the_next_free_gpu(tmp_path, jobs_per_gpu, expected):
    env = {"CUDA_VISIBLE_DEVICES": "3,5", "PATH": "/usr/bin:/bin"}
    workers, placed = [], []
    try:
        for _ in expected:  # each worker holds its slot while the next one starts
            workers.append(subprocess.Popen(
                [sys.executable, "-c", HOLD, str(tmp_path), str(jobs_per_gpu)], env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            placed.append(workers[-1].stdout.readline().split())
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    assert placed == [[str(slot), gpu] for slot, gpu in enumerate(expected)]
    # All of them gone: the slots are free again.
    assert claim_slot(tmp_path)[0] == 0


@pytest.mark.slow
def test_a_parallel_multirun_gives_each_worker_its_own_gpu(tmp_path):
    proc = rl_train("-m", "hydra/launcher=local_parallel", "seed=0,1,2,3",
                    "total_env_steps=600", "eval.every_env_steps=300", "eval.episodes=2",
                    f"hydra.sweep.dir={tmp_path}", cwd=tmp_path,
                    env={"CUDA_VISIBLE_DEVICES": "3,5"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    placed = [json.loads(p.read_text()) for p in sorted(tmp_path.glob(f"*/{PLACEMENT_FILE}"))]
    assert len(placed) == 4
    for job in placed:
        assert job["gpus"] == ["3", "5"] and job["jobs_per_gpu"] == 1
        assert job["gpu"] == gpu_for_slot(job["slot"], ["3", "5"], 1)
    assert {job["gpu"] for job in placed} == {"3", "5"}  # both workers, one card each
    for metrics in Path(tmp_path).glob("*/metrics.json"):  # no GPU here: they trained on CPU
        assert json.loads(metrics.read_text())["env_steps"] >= 600
    # Each job's lines carry its number (Hydra's launch lines list "#2 : seed=2 ..."), and its
    # summary's four lines come together, whichever job ends beside it.
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("rl-train: [#")]
    for num in range(4):
        mine = [i for i, ln in enumerate(lines) if ln.startswith(f"rl-train: [#{num}] ")]
        assert len(mine) == 5 and "seed=" + str(num) in lines[mine[0]], lines
        assert mine[1:] == list(range(mine[1], mine[1] + 4)), lines
        assert lines[mine[1]].startswith(f"rl-train: [#{num}] stopped: ")
