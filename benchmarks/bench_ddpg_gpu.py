"""DDPG on a GPU: the fused update's updates/s at batch 256 and 1024, with and without XLA, and
the training loop's env steps/s on Pusher-v5, on whatever card TensorFlow sees.

    python -m benchmarks.run ddpg_gpu

Without a GPU it says so and keeps the last recorded section (benchmarks/results/ddpg_4_gpu.md).
"""
from __future__ import annotations

import tempfile

from benchmarks.bench_ddpg import rate
from benchmarks.common import median, write_fragment
from benchmarks.harness import make_trainer
from rl_runner.algos.ddpg import nonfinite_error

SECONDS = 3      # per measurement: a GPU has no thermal or neighbour drift worth longer windows
REPEATS = 3
BURST = 8        # updates per call in the burst column (`DDPGAgent.train(BURST)`, a tf.range loop)
BASE = ["algo=ddpg", "env=pusher", "algo.learning_starts=1000", "algo.buffer_size=200000",
        "device=gpu"]


def measure(batch_size: int, xla: bool) -> dict[str, list[float]]:
    """Isolated one-update calls/s, updates/s in bursts of BURST per call, and training-loop env
    steps/s (num_envs=1, UTD 1), alternating, one process."""
    overrides = [*BASE, f"algo.batch_size={batch_size}", f"algo.jit_compile={str(xla).lower()}"]
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(overrides, tmp)
        for _ in range(1200):  # past learning_starts; every graph traced (and XLA-compiled)
            trainer.env_steps += trainer.iteration()

        def updates(n):
            # Reading an output waits for the GPU: without it a call returns once its work is
            # queued, and rates would count queued work.
            flag = trainer.agent.train(n).nonfinite.numpy()
            if flag:
                raise nonfinite_error(flag)
            return n

        def single():
            return updates(1)

        def burst():
            return updates(BURST)

        def loop():
            n = trainer.iteration()
            trainer.env_steps += n
            return n

        for fn in (single, burst, loop):  # warm-up, untimed
            rate(fn, 2)
        out = {"single": [], "burst": [], "loop": []}
        for _ in range(REPEATS):
            for name, fn in (("single", single), ("burst", burst), ("loop", loop)):
                out[name].append(rate(fn, SECONDS))
        trainer.close()
    return out


def main() -> None:
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        print("ddpg_gpu: TensorFlow sees no GPU here; benchmarks/results/ddpg_4_gpu.md is kept")
        return
    rows = []
    for batch_size in (256, 1024):
        for xla in (False, True):
            r = measure(batch_size, xla)
            print(f"batch {batch_size} xla {xla}: {r}", flush=True)
            rows.append(
                f"| {batch_size} | {'XLA' if xla else 'no XLA'} | {median(r['single']):.0f} | "
                f"{median(r['burst']):.0f} | {median(r['loop']):.0f} | "
                f"{', '.join(f'{a:.0f}/{b:.0f}/{c:.0f}' for a, b, c in zip(*r.values()))} |")
    write_fragment("ddpg_4_gpu", "\n".join([
        "### DDPG on a GPU (Pusher-v5, 256-256 actor and critic, UTD 1)",
        "",
        "One process per table, each row its own trainer built as `rl-train` builds it "
        "(`device=gpu`; the replay buffer lives on the GPU). Alternating "
        f"{REPEATS} times for {SECONDS} s each, 2 s of each untimed first: the isolated fused "
        "update called once per update (`DDPGAgent.train(1)`: sample + critic + actor + soft "
        "target update; each call waits for its result), the same update "
        f"{BURST} times per call (`train({BURST})`, a "
        "`tf.range` loop in the graph, as `updates_per_step` > 1 runs it), and the full "
        "training loop (`num_envs=1`: MuJoCo step on the CPU, then one compiled "
        "store+update+act call).",
        "",
        f"| batch | compile | updates/s, 1 per call | updates/s, {BURST} per call | "
        "loop env steps/s | runs (1/burst/loop) |",
        "|---|---|---|---|---|---|",
        *rows,
    ]))
