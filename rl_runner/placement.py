"""One GPU per parallel job: where the jobs of ``hydra/launcher=local_parallel`` run.

Hydra's joblib launcher runs ``n_jobs`` worker processes and hands each job to a free one, so
every job would see every GPU and TensorFlow would put them all on the first. Here each worker
process, before it imports TensorFlow, takes the lowest free *slot* (a lock file under the sweep
dir, held until the process exits) and sets ``CUDA_VISIBLE_DEVICES`` to one GPU: slot ``s`` runs
on GPU ``(s // jobs_per_gpu) % n_gpus``, so with ``jobs_per_gpu=1`` the workers go round-robin
over the visible GPUs, and with ``jobs_per_gpu=k`` k workers share a card before the next one is
used. A worker keeps its slot and GPU for the jobs it runs after its first one (TensorFlow's
devices are fixed once per process). TensorFlow grows GPU memory as needed
(``device.setup``), so jobs that share a card do not each reserve the whole of it.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

SLOTS_DIR = ".gpu_slots"
PLACEMENT_FILE = "placement.json"


@dataclass(frozen=True)
class Placement:
    slot: int  # this worker process's slot among the sweep's parallel workers
    gpu: str  # the CUDA id it sees (CUDA_VISIBLE_DEVICES)
    gpus: tuple[str, ...]  # the GPUs the sweep could use
    jobs_per_gpu: int


def visible_gpus(environ=os.environ) -> list[str]:
    """The CUDA ids this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else every GPU the
    NVIDIA driver lists (none on a machine without one). Reads no CUDA library."""
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [g.strip() for g in listed.split(",") if g.strip()]
        return [] if ids[:1] == ["-1"] else ids
    driver = Path("/proc/driver/nvidia/gpus")
    return [str(i) for i in range(len(list(driver.iterdir())))] if driver.is_dir() else []


def gpu_for_slot(slot: int, gpus: list[str] | tuple[str, ...], jobs_per_gpu: int) -> str:
    """Slot s -> GPU (s // jobs_per_gpu) mod n: round-robin, k slots per card."""
    return gpus[(slot // jobs_per_gpu) % len(gpus)]


def claim_slot(directory: Path) -> tuple[int, IO]:
    """The lowest slot no live process holds; the returned open file holds it (``flock``: the
    lock goes when the process does, so a replaced worker's slot is free again)."""
    directory.mkdir(parents=True, exist_ok=True)
    slot = 0
    while True:
        handle = open(directory / f"slot-{slot}", "a")  # noqa: SIM115 - held for the process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return slot, handle
        except BlockingIOError:
            handle.close()
            slot += 1


_held: tuple[Placement, IO] | None = None  # this process's slot, for its lifetime


def place(sweep_dir: str | Path, jobs_per_gpu: int) -> Placement | None:
    """Give this worker process one GPU (see the module doc); None when no GPU is visible or
    TensorFlow was imported before (its devices are fixed then)."""
    global _held
    if _held is not None:
        return _held[0]
    gpus = visible_gpus()
    if not gpus or "tensorflow" in sys.modules:
        return None
    slot, handle = claim_slot(Path(sweep_dir) / SLOTS_DIR)
    placement = Placement(slot, gpu_for_slot(slot, gpus, jobs_per_gpu), tuple(gpus),
                          jobs_per_gpu)
    os.environ["CUDA_VISIBLE_DEVICES"] = placement.gpu
    _held = (placement, handle)
    return placement


def record(placement: Placement, run_dir: str | Path) -> None:
    """``placement.json`` in the job's dir: which GPU the job ran on and why."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / PLACEMENT_FILE).write_text(json.dumps(asdict(placement)) + "\n")
