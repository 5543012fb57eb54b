"""Build a trainer from overrides exactly as `rl-train` would, and time its parts."""
from __future__ import annotations

import tempfile
import time


def make_trainer(overrides: list[str], run_dir: str):
    from rl_runner import composition
    from rl_runner.job import build_trainer, prepare

    cfg = composition.compose(["progress=false", *overrides], hydra_config=False).cfg
    return build_trainer(*prepare(cfg), run_dir)[0]


def rate(fn, seconds: float) -> float:
    """Calls of ``fn`` per second (fn returns how many units it did)."""
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        done += fn()
    return done / (time.perf_counter() - t0)


def ddpg_rates(overrides: list[str], *, repeats: int, seconds: float, warmup: float,
               burst: int | None = None) -> dict[str, list[float]]:
    """DDPG's fused update against its training loop, alternating in one process.

    Builds the trainer as `rl-train` would, runs it past ``learning_starts`` (every graph
    traced, XLA-compiled where on), then times, ``repeats`` times for ``seconds`` each after
    ``warmup`` untimed seconds of each: ``update``, the isolated one-update call
    (`FusedStep.train(1)`: sample + critic + actor + soft target update, the graph the loop's
    step runs minus store and act), in updates/s; ``burst`` (when given), ``burst`` updates per
    call (a `tf.range` loop in the graph), in updates/s; ``loop``, the full training loop
    (env step, one compiled store+update+act call), in env steps/s.
    """
    from rl_runner.algos.ddpg import nonfinite_error

    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(overrides, tmp)
        for _ in range(1200 // trainer.cfg.num_envs):
            trainer.env_steps += trainer.iteration()

        def updates(n: int) -> int:
            # Reading an output waits for the device: on a GPU a call returns once its work is
            # queued, and the rate would count queued work.
            flag = trainer.fused.train(n).nonfinite.numpy()
            if flag:
                raise nonfinite_error(flag)
            return n

        def loop() -> int:
            n = trainer.iteration()
            trainer.env_steps += n
            return n

        fns = {"update": lambda: updates(1)}
        if burst:
            fns["burst"] = lambda: updates(burst)
        fns["loop"] = loop
        for fn in fns.values():
            rate(fn, warmup)
        out = {name: [] for name in fns}
        for _ in range(repeats):
            for name, fn in fns.items():
                out[name].append(rate(fn, seconds))
        trainer.close()
    return out
