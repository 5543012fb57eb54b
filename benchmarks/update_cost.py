"""What an option costs per update: the fused update of `ddpg_pusher` variants, one process.

    python -m benchmarks.update_cost                 # every variant below
    python -m benchmarks.update_cost preset q25      # some of them

Builds each variant's trainer as `rl-train algo=ddpg env=pusher <overrides>` would (one
thread, as the learning runs use), runs it past ``learning_starts``, then times the isolated
one-update call (`DDPGAgent.train(1)`) of every variant in turn, ``--repeats`` times for
``--seconds`` each: the variants see the same machine state. Prints the median updates/s and
each variant's time per update against the first one named. Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import contextlib
import tempfile

from benchmarks.common import median
from benchmarks.harness import make_trainer, rate

# One critic, as ddpg_pusher had until the twenty-first session: every variant's figure is
# against that preset ("twin_mean" is ddpg_pusher since).
BASE = ["algo=ddpg", "env=pusher", "algo.learning_starts=1000", "algo.buffer_size=20000",
        "threads=1", "algo.twin_critics=false", "algo.actor_q=first",
        "algo.updates_per_step=1"]  # the cost of one update (ddpg_pusher makes two per step)
TWIN_MEAN = ["algo.twin_critics=true", "algo.actor_q=mean"]  # ddpg_pusher's critics since
VARIANTS = {
    "preset": [],  # the fifth ddpg_pusher: three 256 layers, LayerNorm critic, unit-norm features
    "two_layers": ["algo.hidden_sizes=[256,256]"],
    "q25": ["algo.quantiles=25"],
    "q25_twin_d2": ["algo.quantiles=25", "algo.twin_critics=true", "algo.drop_quantiles=2"],
    "recent50": ["algo.recent_fraction=0.5"],
    "normalize_obs": ["algo.normalize_obs=true"],
    "sale": ["algo.sale=true"],
    "sale128": ["algo.sale=true", "algo.sale_dim=128"],
    "hl_gauss": ["algo.value_bins=101", "algo.value_min=-50", "algo.value_max=0"],
    "batch128": ["algo.batch_size=128"],
    "silu": ["algo.activation=silu"],
    "twin": ["algo.twin_critics=true"],
    "twin_mean": TWIN_MEAN,  # ddpg_pusher since
    "twin_smoothing": ["algo.twin_critics=true", "algo.target_policy_noise=0.2"],
    "twin_batch128": ["algo.twin_critics=true", "algo.batch_size=128"],
    "twin_mean_delay2": [*TWIN_MEAN, "algo.policy_delay=2"],
    "twin_mean_c512": [*TWIN_MEAN, "algo.critic_hidden_sizes=[512,512,512]"],  # BRO's lever
    "ensemble3": ["algo.num_critics=3", "algo.target_critics=2", "algo.actor_q=mean"],
    "ensemble4": ["algo.num_critics=4", "algo.target_critics=2", "algo.actor_q=mean"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", help=f"the first is the reference; of "
                        f"{', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    names = args.variants or list(VARIANTS)
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")

    with contextlib.ExitStack() as stack:
        trainers = {}
        for name in names:
            run_dir = stack.enter_context(tempfile.TemporaryDirectory())
            trainer = make_trainer([*BASE, *VARIANTS[name]], run_dir)
            stack.callback(trainer.close)
            while trainer.env_steps <= trainer.cfg.algo.learning_starts:
                trainer.env_steps += trainer.iteration()
            trainers[name] = trainer

        def one_update(trainer) -> int:
            trainer.agent.train(1).qf_loss.numpy()
            return 1

        for trainer in trainers.values():
            rate(lambda t=trainer: one_update(t), 1.0)  # warm-up
        rates = {name: [] for name in names}
        for _ in range(args.repeats):
            for name, trainer in trainers.items():
                rates[name].append(rate(lambda t=trainer: one_update(t), args.seconds))

    ref = median(rates[names[0]])
    print(f"{'variant':14s} {'updates/s':>10s} {'time x':>7s}   (median of {args.repeats} x "
          f"{args.seconds:g} s, interleaved)")
    for name in names:
        print(f"{name:14s} {median(rates[name]):10.1f} {ref / median(rates[name]):7.2f}")


if __name__ == "__main__":
    main()
