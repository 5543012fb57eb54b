"""DDPG on a GPU: the fused update's updates/s at batch 256 and 1024, with and without XLA, and
the training loop's env steps/s on Pusher-v5, on whatever card TensorFlow sees; then the loop with
more envs per call (`num_envs`) under XLA.

    python -m benchmarks.run ddpg_gpu

Without a GPU it says so and keeps the last recorded section (benchmarks/results/ddpg_4_gpu.md).
"""
from __future__ import annotations

from benchmarks.common import median, write_fragment
from benchmarks.harness import ddpg_rates

SECONDS = 3      # per measurement: a GPU has no thermal or neighbour drift worth longer windows
REPEATS = 3
BURST = 8        # updates per call in the burst column (`FusedStep.train(BURST)`, a tf.range loop)
ENVS = (4, 16, 64)  # num_envs of the vector-env rows (UTD 1: num_envs updates per loop call)
BASE = ["algo=ddpg", "env=pusher", "algo.learning_starts=1000", "algo.buffer_size=200000",
        "algo.hidden_sizes=[256,256]",  # every figure since the first session (ddpg_pusher: 3)
        "algo.twin_critics=false", "algo.actor_q=first",  # one critic (ddpg_pusher: two)
        "algo.updates_per_step=1",  # the roof is at UTD 1 (ddpg_pusher: 2)
        "device=gpu"]


def measure(batch_size: int, xla: bool, num_envs: int = 1) -> dict[str, list[float]]:
    """Isolated one-update calls/s, updates/s in bursts of BURST per call, and training-loop env
    steps/s (UTD 1), alternating, one process."""
    overrides = [*BASE, f"algo.batch_size={batch_size}", f"algo.jit_compile={str(xla).lower()}",
                 f"num_envs={num_envs}"]
    return ddpg_rates(overrides, repeats=REPEATS, seconds=SECONDS, warmup=2, burst=BURST)


def runs(r: dict[str, list[float]]) -> str:
    """Each repeat's update/burst/loop rates, for a table's last column."""
    return ", ".join(f"{a:.0f}/{b:.0f}/{c:.0f}" for a, b, c in zip(*r.values()))


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
            if batch_size == 256 and xla:
                one_env = median(r["loop"])
            rows.append(
                f"| {batch_size} | {'XLA' if xla else 'no XLA'} | {median(r['update']):.0f} | "
                f"{median(r['burst']):.0f} | {median(r['loop']):.0f} | {runs(r)} |")
    env_rows = []
    for num_envs in ENVS:
        r = measure(256, True, num_envs)
        print(f"num_envs {num_envs}: {r}", flush=True)
        many_envs = median(r["loop"])
        env_rows.append(f"| {num_envs} | {median(r['loop']):.0f} | {median(r['update']):.0f} | "
                        f"{median(r['burst']):.0f} | {runs(r)} |")
    write_fragment("ddpg_4_gpu", "\n".join([
        "### DDPG on a GPU (Pusher-v5, 256-256 actor and critic, UTD 1)",
        "",
        "One process; each row its own trainer built as `rl-train` builds it "
        "(`device=gpu`; the replay buffer lives on the GPU). Alternating "
        f"{REPEATS} times for {SECONDS} s each, 2 s of each untimed first: the isolated fused "
        "update called once per update (`FusedStep.train(1)`: sample + critic + actor + soft "
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
        "",
        "Second table, the same process: the training loop with `num_envs` MuJoCo envs "
        "stepped per call (gymnasium's SyncVectorEnv on the CPU), batch 256, XLA, UTD 1: "
        "each call stores num_envs transitions and runs num_envs updates, so the loop's env "
        "steps/s is also its updates/s.",
        "",
        f"| num_envs | loop env steps/s (= updates/s) | updates/s, 1 per call | "
        f"updates/s, {BURST} per call | runs (1/burst/loop) |",
        "|---|---|---|---|---|",
        *env_rows,
        "",
        f"**XLA, batch 256: the training loop runs {one_env:.0f} env steps/s with one env, "
        f"{many_envs:.0f} with {ENVS[-1]}**.",
    ]))
