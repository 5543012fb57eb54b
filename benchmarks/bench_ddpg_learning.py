"""DDPG/TD3 learning on Pusher-v5: deterministic eval at 100k, 200k, 300k env steps.

    make bench-learning                       # all runs, 2 at a time (one per core), then report
    python -m benchmarks.bench_ddpg_learning --report   # summarise whatever has been written

Long (each run is ~300k updates of 256-256 networks: about an hour per run on a 2-core CPU
with 2 runs side by side). Run dirs go to benchmarks/learning/<run>/ (git-ignored); the
summary (eval points, curves.png) is written to benchmarks/ and RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import HERE, ROOT, median, write_fragment
from benchmarks.eval_actors import compare as compare_actors

# What earlier presets and candidates set, spelled out so their runs stay reproducible after
# the preset moves on.
PLAIN = ["algo.critic_layer_norm=false", "algo.feature_norm=false", "algo.noise.type=gaussian"]
LR3E4 = ["algo.actor_lr=0.0003", "algo.critic_lr=0.0003"]  # the presets before 1e-3
LR1E3 = ["algo.actor_lr=0.001", "algo.critic_lr=0.001"]  # TD3's, the presets' since
# ddpg_pusher since the fifteenth session, spelled out (the later entries vary one thing):
D3 = [*LR1E3, "algo.gamma=0.98", "algo.hidden_sizes=[256,256,256]"]
# ddpg_pusher since the twenty-first: twin critics, the actor on their mean
D3_TWINMEAN = [*D3, "algo.twin_critics=true", "algo.actor_q=mean"]
G099 = ["algo.gamma=0.99"]  # the presets' discount before 0.98
NORM = ["algo.critic_layer_norm=true", "algo.feature_norm=true"]
WHITE = ["algo.noise.type=gaussian"]
PUSHER_3E4 = ["algo=ddpg", "env=pusher", *LR3E4, *G099]
RUNS = {  # name -> overrides
    # The second preset: LayerNorm critic, unit-norm penultimate features, pink noise (Adam
    # 3e-4; the preset has 1e-3 since, ddpg_lr1e3_s*, and then gamma 0.98, ddpg_g098_s*).
    **{f"ddpg_pusher_s{seed}": [*PUSHER_3E4, f"seed={seed}"] for seed in (0, 1, 2)},
    # The first TD3 preset: the same with TD3's three options (and Adam 3e-4).
    **{f"td3_pusher_s{seed}": ["algo=ddpg", "env=pusher", "preset=td3_pusher", f"seed={seed}",
                               *LR3E4, *G099] for seed in (0, 1, 2)},
    # The first preset: no normalisation, white noise (it collapsed now and then).
    **{f"ddpg_plain_s{seed}": [*PUSHER_3E4, f"seed={seed}", *PLAIN]
       for seed in (0, 1, 2)},
    "td3_plain_s0": ["algo=ddpg", "env=pusher", "preset=td3_pusher", "seed=0", *PLAIN, *LR3E4,
                     *G099],
    # Candidates against the collapses: LayerNorm critic + unit-norm penultimate features.
    **{f"ddpg_norm_s{seed}": [*PUSHER_3E4, f"seed={seed}", *NORM, *WHITE]
       for seed in (0, 1, 2)},
    # Exploration: the policies above reach towards the object but never push it
    # (benchmarks/pusher_returns.py); temporally correlated noise that does not decay.
    "ddpg_norm_ou_s0": [*PUSHER_3E4, "seed=0", *NORM, "algo.noise.type=ou",
                        "algo.noise.std_start=0.3", "algo.noise.std_end=0.3"],
    # The object (obs[17:20]) moves over ~0.2 m while joint velocities span tens: normalising
    # the observations makes the critic as sensitive to where the object is as to the arm.
    "ddpg_norm_obs_s0": [*PUSHER_3E4, "seed=0", *NORM, *WHITE,
                         "algo.normalize_obs=true"],
    # ... and 3-step returns: the reward of a push reaches the action that made contact sooner.
    "ddpg_norm_obs_n3_s0": [*PUSHER_3E4, "seed=0", *NORM, *WHITE,
                            "algo.normalize_obs=true", "algo.n_step=3"],
    # The replay shows `ddpg_norm_s0` learning to push slowly and steadily from ~100k
    # (benchmarks/pusher_returns.py --replay): two updates per env step, same data.
    "ddpg_norm_utd2_s0": [*PUSHER_3E4, "seed=0", *NORM, *WHITE,
                          "algo.updates_per_step=2"],
    # The early collapse of the NORM runs (evals ~ -330 at 20k) comes from the unit-norm
    # features of the critic: probe with the critic's LayerNorm alone, and pink noise.
    "probe_ln_pink_s0": [*PUSHER_3E4, "seed=0", "algo.feature_norm=false",
                         "total_env_steps=40000"],
    # ... which fitted Q in ~1k updates and did not dip: the preset without the unit-norm
    # features, to 300k, as a candidate to replace it (it lost: median -34.3 at 300k).
    **{f"ddpg_ln_s{seed}": [*PUSHER_3E4, f"seed={seed}", "algo.feature_norm=false"]
       for seed in (0, 1, 2)},
    # TD3 (the better preset) pushes ~4x too slowly for -25 at 300k: learn more from the same
    # data, by two updates per env step or by TD3's original learning rates (1e-3; td3_pusher
    # has them since: td3_lr1e3_s* are its runs).
    "td3_utd2_s0": ["algo=ddpg", "env=pusher", "preset=td3_pusher", "seed=0", *LR3E4, *G099,
                    "algo.updates_per_step=2"],
    **{f"td3_lr1e3_s{seed}": ["algo=ddpg", "env=pusher", "preset=td3_pusher", f"seed={seed}",
                              *LR1E3, *G099] for seed in (0, 1, 2)},
    # Both levers reached ~-28.5 at 300k alone; together they may stack.
    "td3_lr1e3_utd2_s0": ["algo=ddpg", "env=pusher", "preset=td3_pusher", "seed=0", *LR1E3,
                          *G099, "algo.updates_per_step=2"],
    # TD3's learning rates for the DDPG preset too (ddpg_pusher has them since).
    **{f"ddpg_lr1e3_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *LR1E3, *G099]
       for seed in (0, 1, 2)},
    # Two updates per env step took TD3 from -31.6 to -28.4 at 300k (3e-4): the same for DDPG.
    "ddpg_utd2_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, *G099,
                     "algo.updates_per_step=2"],
    # 3-step returns were tried once, on a preset that still collapsed early (ddpg_norm_obs_n3):
    # again on the current one, where the push (reward ~80 steps after contact) is what is slow.
    "ddpg_n3_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, *G099, "algo.n_step=3"],
    # The eval policies push in the right direction but slowly: a less noisy actor gradient.
    "ddpg_b512_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, *G099, "algo.batch_size=512"],
    # More updates or less noisy ones did not learn the push sooner: the value of a push
    # reaches the contact step through the target network, one bootstrap hop per ~1/tau
    # updates; a faster target (tau 0.02, the same update cost) ...
    "ddpg_tau02_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, *G099, "algo.tau=0.02"],
    # ... or a shorter horizon (gamma 0.98: ~50 steps instead of ~100, a smaller, less biased
    # Q for the critic to fit; the push's gain per step is discounted more). Seed 0 led from
    # 60k (-29.4 at 200k against -32.4), so seeds 1 and 2 followed (ddpg_pusher has gamma 0.98
    # since: these are its runs), and shorter still.
    **{f"ddpg_g098_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *LR1E3,
                              "algo.gamma=0.98"] for seed in (0, 1, 2)},
    "ddpg_g095_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.95"],
    "ddpg_g097_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.97"],
    # ... and with TD3's options, the better preset at gamma 0.99.
    "td3_g098_s0": ["algo=ddpg", "env=pusher", "preset=td3_pusher", "seed=0", *LR1E3,
                    "algo.gamma=0.98"],
    # On top of gamma 0.98 (ddpg_pusher has it since): the original DDPG paper's 400-300 nets
    # (~1.5x the update cost; seed 0 had the best 250k-290k stretch, so seeds 1 and 2) ...
    **{f"ddpg_g098_h400_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *LR1E3,
                                   "algo.gamma=0.98", "algo.hidden_sizes=[400,300]"]
       for seed in (0, 1, 2)},
    # ... or more exploration noise early (pink 0.3 -> 0.05 over 200k, instead of 0.2 -> 0.05).
    "ddpg_g098_n03_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                         "algo.noise.std_start=0.3"],
    # The unit-norm features were kept against the early dip of Adam 3e-4, which 1e-3 does not
    # have; they cap how fast the critic's output (and the actor's) can move: without them ...
    "ddpg_g098_fn0_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                         "algo.feature_norm=false"],
    # ... or a slower actor than critic (the DDPG paper's 1e-4 / 1e-3): a steadier policy to
    # evaluate, which the critic tracks more closely.
    "ddpg_g098_alr3e4_s0": ["algo=ddpg", "env=pusher", "seed=0", "algo.actor_lr=0.0003",
                            "algo.critic_lr=0.001", "algo.gamma=0.98"],
    # The eval policies settle by ~200k, when the noise reaches its floor (0.05), on a push
    # that leaves the object ~10 cm short: twice the floor, to keep looking for a better push.
    "ddpg_g098_ne01_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                          "algo.noise.std_end=0.1"],
    # More noise, early (n03) or late (ne01), cost ~2 points at 200k both times: half the
    # preset's pink noise throughout (0.1 -> 0.025 over 200k).
    "ddpg_g098_nhalf_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                           "algo.noise.std_start=0.1", "algo.noise.std_end=0.025"],
    # The evals wander by +-1 around the plateau (seed 1 of the 400-300 nets: -28.0 at 290k,
    # -30.9 at 300k): learning rates that decay to 0 at 300k, so the last policy is a settled one.
    "ddpg_g098_lrlin_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                           "algo.lr_schedule=linear"],
    # 400-300 nets were ~1 point ahead over 250k-300k: depth instead of width (three 256
    # layers, 1.6x the update cost; deeper critics fit contact dynamics better, Nauman et al.
    # 2024). The preset since the fifteenth session.
    **{f"ddpg_g098_d3_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *LR1E3,
                                 "algo.gamma=0.98", "algo.hidden_sizes=[256,256,256]"]
       for seed in (0, 1, 2)},
    # CrossQ's recipe (Bhatt et al. 2024: its sample efficiency at UTD 1 matched REDQ's at UTD
    # 20): batch renormalisation in the critic instead of LayerNorm, no target networks, Adam
    # beta_1 0.5, the actor every third update.
    "ddpg_g098_cq_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                        "algo.crossq=true", "algo.critic_layer_norm=false",
                        "algo.adam_beta1=0.5", "algo.policy_delay=3"],
    # By 300k a third of a 1M buffer is from before the push was learned: a 100k buffer keeps
    # the critic on the last ~1000 episodes of the current policy's states.
    "ddpg_g098_buf100k_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                             "algo.buffer_size=100000"],
    # Is it the critic's capacity that 400-300 nets bought? A 512-512 critic with the 256-256
    # actor (~1.8x the update cost).
    "ddpg_g098_c512_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                          "algo.critic_hidden_sizes=[512,512]"],
    # Three 256 layers were ~0.5-1 point ahead of two on every seed: four (~2x the update
    # cost of two).
    **{f"ddpg_g098_d4_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *LR1E3,
                                 "algo.gamma=0.98", "algo.hidden_sizes=[256,256,256,256]"]
       for seed in (0, 1, 2)},
    # The actor sits at its critic's optimum (benchmarks/actor_vs_critic.py: the actions its
    # critic values more nearby play no better), so a faster push needs other data: parameter-
    # space noise changes the whole policy consistently for an episode, not each step's action.
    "ddpg_g098_d3_param_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                              "algo.hidden_sizes=[256,256,256]", "algo.noise.type=param"],
    # The critic is the limit, and its inputs mix joint velocities of order 1-10 with object
    # and goal positions whose cm-scale differences are what the push is about: running
    # mean/std observation normalisation (last tried in the third session, on a preset that
    # still collapsed).
    "ddpg_g098_d3_nobs_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                             "algo.hidden_sizes=[256,256,256]", "algo.normalize_obs=true"],
    # The critic's fit: 25 return quantiles (QR-DQN's quantile Huber loss; the actor climbs
    # their mean) instead of one mean-squared Q.
    **{f"ddpg_g098_d3_q25_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *LR1E3,
                                     "algo.gamma=0.98", "algo.hidden_sizes=[256,256,256]",
                                     "algo.quantiles=25"]
       for seed in (0, 1, 2)},
    # TQC's truncation on the one critic (Kuznetsov et al. 2020: d=2 of M=25 per net): the
    # target's top 2 quantiles dropped, against the critic's overestimation (~1.2 at 300k).
    "ddpg_g098_d3_q25d2_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                              "algo.hidden_sizes=[256,256,256]", "algo.quantiles=25",
                              "algo.drop_quantiles=2"],
    # The critic's data: half of each batch from the newest 100k transitions (a 100k buffer
    # was ahead at 120k-170k, then forgot: ddpg_g098_buf100k_s0), the rest from all of them.
    "ddpg_g098_d3_rec50_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                              "algo.hidden_sizes=[256,256,256]", "algo.recent_fraction=0.5"],
    # Representation, as TD7 learns it (SALE, Fujimoto et al. 2023): embeddings trained to
    # predict the next state's, fed to actor and critic. The critic's ranking of actions is the
    # limit (actor_vs_critic), and what it must rank is how a push moves the object: dynamics.
    # 256 is TD7's size (~2.8x the preset's update cost), 128 ~1.7x.
    "ddpg_g098_d3_sale_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                             "algo.hidden_sizes=[256,256,256]", "algo.sale=true"],
    **{f"ddpg_g098_d3_sale128_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *LR1E3,
                                         "algo.gamma=0.98", "algo.hidden_sizes=[256,256,256]",
                                         "algo.sale=true", "algo.sale_dim=128"]
       for seed in (0, 1, 2)},
    # The critic's loss: HL-Gauss (Farebrother et al. 2024), cross-entropy against the TD
    # target spread over 101 bins of [-50, 0] (Pusher's rewards are negative; the preset's Q
    # on replayed batches runs from ~-18 at 30k to ~-9 at 300k), instead of the squared error:
    # classification losses were more robust to noisy targets and kept the critic plastic.
    **{f"ddpg_g098_d3_hlg_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *LR1E3,
                                     "algo.gamma=0.98", "algo.hidden_sizes=[256,256,256]",
                                     "algo.value_bins=101", "algo.value_min=-50",
                                     "algo.value_max=0"]
       for seed in (0, 1, 2)},
    # Adam 2e-3: 1e-3 gained ~3 points over 3e-4 and UTD 2 on top of 1e-3 only ~0.6 (TD3,
    # td3_lr1e3_utd2_s0), as if the speed of the optimisation were no longer the limit; twice
    # the step size tests that at the preset's cost.
    "ddpg_g098_d3_lr2e3_s0": ["algo=ddpg", "env=pusher", "seed=0", "algo.actor_lr=0.002",
                              "algo.critic_lr=0.002", "algo.gamma=0.98",
                              "algo.hidden_sizes=[256,256,256]"],
    # Two updates per env step on the preset (~2x its update cost). At Adam 3e-4 UTD 2 gained
    # ~3 points at 300k (td3_utd2_s0), at 1e-3 ~0.6 (td3_lr1e3_utd2_s0); the preset's curve
    # still climbs from 200k to 300k.
    "ddpg_g098_d3_utd2_s0": ["algo=ddpg", "env=pusher", "seed=0", *LR1E3, "algo.gamma=0.98",
                             "algo.hidden_sizes=[256,256,256]", "algo.updates_per_step=2"],
    # Smaller batches at the preset's UTD 1: batch 512 learned the push later, not sooner
    # (ddpg_b512_s0), and small batches kept value nets plastic in Obando-Ceron et al. 2023
    # ("Small batch deep RL"). Both cost less per update than the preset's 256.
    **{f"ddpg_g098_d3_b{batch}_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *D3,
                                          f"algo.batch_size={batch}"]
       for batch in (64, 128) for seed in (0, 1, 2)},
    # SiLU instead of ReLU in actor and critic: a ReLU critic is piecewise linear in the action,
    # so the actor climbs a gradient that is constant on each piece and jumps between them; a
    # smooth one may steer the slow, precise push better. About the preset's cost.
    **{f"ddpg_g098_d3_silu_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *D3,
                                      "algo.activation=silu"]
       for seed in (0, 1, 2)},
    # The actor sits at its critic's optimum (actor_vs_critic: a Q-search around its actions
    # does worse), so the critic's argmax is what limits the push. Twin critics, bootstrapped
    # from their min as in TD3, with the actor climbing the first one (twin) or the mean of
    # both (twinmean, new algo.actor_q=mean: an argmax with less of one critic's noise).
    **{f"ddpg_g098_d3_{name}_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *D3,
                                        "algo.twin_critics=true", f"algo.actor_q={actor_q}"]
       for name, actor_q in (("twin", "first"), ("twinmean", "mean")) for seed in (0, 1, 2)},
    # Twin critics with TD3's target smoothing (no policy delay): the bootstrapped action gets
    # clipped noise (std 0.2), so the targets average Q over a neighbourhood of the actor's
    # action instead of trusting one sharp peak. And twin critics at batch 128 (batch 128 tied
    # with the preset at 0.56x its update cost): a twin preset at about the preset's cost.
    **{f"ddpg_g098_d3_twin_{name}_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *D3,
                                             "algo.twin_critics=true", extra]
       for name, extra in (("tps", "algo.target_policy_noise=0.2"),
                           ("b128", "algo.batch_size=128"))
       for seed in (0, 1, 2)},
    # The actor on the mean of two critics led twin critics alone: an ensemble takes that
    # further (REDQ, Chen et al. 2021: N critics, each bootstrapped from the min of 2 drawn at
    # random per update, so the targets stay as pessimistic as twin critics'), the actor on
    # the mean of all N, a less noisy argmax still.
    **{f"ddpg_g098_d3_ens{n}_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}", *D3,
                                        f"algo.num_critics={n}", "algo.target_critics=2",
                                        "algo.actor_q=mean"]
       for n in (3, 4) for seed in (0, 1, 2)},
    # The actor on twin critics' mean with TD3's policy delay (no target smoothing): actor and
    # targets move every second critic update, so the critics fit a target that moves half as
    # often, and the actor (which sits at its critic's optimum) climbs a better-fit mean; an
    # update costs less too.
    **{f"ddpg_g098_d3_twinmean_pd2_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}",
                                              *D3_TWINMEAN, "algo.policy_delay=2"]
       for seed in (0, 1, 2)},
    # A longer horizon on the twin preset: gamma 0.98 won over 0.99 with one critic partly
    # because its Q, half as large, carried less of the overestimation bias; the min over twin
    # targets removes part of that bias, and a longer horizon values a sooner push more.
    **{f"ddpg_g0985_d3_twinmean_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}",
                                           *[o for o in D3_TWINMEAN
                                             if not o.startswith("algo.gamma=")],
                                           "algo.gamma=0.985"]
       for seed in (0, 1, 2, 3, 4)},
    # Seeds 3 and 4 of the preset, beside gamma 0.985's: whether its lead over the preset at
    # most evals of seeds 0-2 holds on more seeds, and what the preset's median is on five.
    **{f"ddpg_g098_d3_twinmean_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}",
                                          *D3_TWINMEAN]
       for seed in (3, 4)},
    # Wider critics (three 512 layers; the actor keeps three 256) on the preset: the actor sits
    # at its critics' optimum, so the critics limit the push, and BRO (Nauman et al. 2024)
    # found LayerNorm critics gain with size. 2.37x the preset's update cost (update_cost.py).
    **{f"ddpg_g098_d3_twinmean_c512_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}",
                                               *D3_TWINMEAN,
                                               "algo.critic_hidden_sizes=[512,512,512]"]
       for seed in (0, 1, 2)},
    # ddpg_pusher since the twenty-sixth session: the same training, with the target
    # (Polyak-averaged) actor as the run's policy (`algo.eval_actor=target`). It beat the online
    # actor at 300k on all 16 runs above that got there (benchmarks/eval_actors.py).
    **{f"ddpg_g098_d3_twinmean_tgt_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}",
                                              *D3_TWINMEAN, "algo.eval_actor=target"]
       for seed in (0, 1, 2, 3, 4)},
    # Two updates per env step on it (UTD 2; 2x the update cost): more fitting per sample for
    # the LayerNorm critics, whose stability is what higher UTD ratios need (BRO, Nauman et
    # al. 2024, without its resets), with the target actor to damp the late swings that more
    # updates could bring. Tried before only with one critic: on the fifth preset
    # (`ddpg_g098_d3_utd2_s0`) it was behind the same seed at 300k, -30.0 against -27.7.
    # Here: -24.8, -24.5, -26.5 at 300k against -26.0, -25.6, -26.8 at UTD 1 (the same
    # seeds); ~2.2x the wall time on a CPU. ddpg_pusher since the twenty-seventh session.
    **{f"ddpg_g098_d3_twinmean_tgt_utd2_s{seed}": ["algo=ddpg", "env=pusher", f"seed={seed}",
                                                   *D3_TWINMEAN, "algo.eval_actor=target",
                                                   "algo.updates_per_step=2"]
       for seed in (0, 1, 2)},
}
# Until the fifteenth session `ddpg_pusher` had algo=ddpg's two 256 layers; it has three since.
# Every run above that names no sizes ran with two: pinned, so that each entry still says what
# ran.
# Since the twenty-first it has twin critics with the actor on their mean: every run that
# names neither these nor a preset had one critic (and TD3's runs, their actor on the first).
# Since the twenty-sixth its policy is the target actor: every run above evaluated the online
# one. Since the twenty-seventh it makes two updates per env step: every run above that names
# no UTD ratio made one.
for _overrides in RUNS.values():
    if not any(o.startswith("algo.hidden_sizes=") for o in _overrides):
        _overrides.append("algo.hidden_sizes=[256,256]")
    if not any(o.startswith(("algo.twin_critics=", "algo.num_critics=", "preset="))
               for o in _overrides):
        _overrides.append("algo.twin_critics=false")
    if not any(o.startswith("algo.actor_q=") for o in _overrides):
        _overrides.append("algo.actor_q=first")
    if not any(o.startswith("algo.eval_actor=") for o in _overrides):
        _overrides.append("algo.eval_actor=online")
    if not any(o.startswith(("algo.updates_per_step=", "preset=")) for o in _overrides):
        _overrides.append("algo.updates_per_step=1")
# the median's runs: ddpg_pusher as it is (two updates per env step, the target actor evaluated)
PRESET_DDPG = tuple(f"ddpg_g098_d3_twinmean_tgt_utd2_s{seed}" for seed in range(3))
# one update per env step (the preset in the twenty-sixth session)
SEVENTH_DDPG = tuple(f"ddpg_g098_d3_twinmean_tgt_s{seed}" for seed in range(3))
# the same training, the online actor evaluated (the preset until the twenty-sixth session)
SIXTH_DDPG = ("ddpg_g098_d3_twinmean_s0", "ddpg_g098_d3_twinmean_s1",
              "ddpg_g098_d3_twinmean_s2")
FIFTH_DDPG = ("ddpg_g098_d3_s0", "ddpg_g098_d3_s1", "ddpg_g098_d3_s2")  # one critic
FOURTH_DDPG = ("ddpg_g098_s0", "ddpg_g098_s1", "ddpg_g098_s2")  # two 256 layers
THIRD_DDPG = ("ddpg_lr1e3_s0", "ddpg_lr1e3_s1", "ddpg_lr1e3_s2")  # gamma 0.99
SECOND_DDPG = ("ddpg_pusher_s0", "ddpg_pusher_s1", "ddpg_pusher_s2")  # lr 3e-4
FIRST_PRESET = ("ddpg_plain_s0", "ddpg_plain_s1", "ddpg_plain_s2")  # the median to beat
PRESET_TD3 = ("td3_lr1e3_s0", "td3_lr1e3_s1", "td3_lr1e3_s2")
FIRST_TD3 = ("td3_pusher_s0", "td3_pusher_s1", "td3_pusher_s2")  # lr 3e-4
H400 = ("ddpg_g098_h400_s0", "ddpg_g098_h400_s1", "ddpg_g098_h400_s2")  # 400-300 nets
D4 = ("ddpg_g098_d4_s0", "ddpg_g098_d4_s1", "ddpg_g098_d4_s2")  # four 256 layers
Q25 = ("ddpg_g098_d3_q25_s0", "ddpg_g098_d3_q25_s1", "ddpg_g098_d3_q25_s2")  # 25 quantiles
SALE128 = ("ddpg_g098_d3_sale128_s0", "ddpg_g098_d3_sale128_s1",
           "ddpg_g098_d3_sale128_s2")  # TD7's embeddings, 128 wide
TWIN = ("ddpg_g098_d3_twin_s0", "ddpg_g098_d3_twin_s1", "ddpg_g098_d3_twin_s2")  # twin critics
# The levers tried on the sixth preset (none adopted; in the PNG only the last is in colour):
ENS3 = ("ddpg_g098_d3_ens3_s0", "ddpg_g098_d3_ens3_s1", "ddpg_g098_d3_ens3_s2")  # 3 critics
DELAY2 = ("ddpg_g098_d3_twinmean_pd2_s0", "ddpg_g098_d3_twinmean_pd2_s1",
          "ddpg_g098_d3_twinmean_pd2_s2")  # TD3's policy delay
G0985 = tuple(f"ddpg_g0985_d3_twinmean_s{seed}" for seed in range(5))  # gamma 0.985
C512 = tuple(f"ddpg_g098_d3_twinmean_c512_s{seed}" for seed in range(3))  # 3x512 critics
CANDIDATES = C512
# The presets on five seeds, beside gamma 0.985's five (the issue's median is of seeds 0-2).
SEVENTH_5 = (*SEVENTH_DDPG, "ddpg_g098_d3_twinmean_tgt_s3", "ddpg_g098_d3_twinmean_tgt_s4")
SIXTH_5 = (*SIXTH_DDPG, "ddpg_g098_d3_twinmean_s3", "ddpg_g098_d3_twinmean_s4")
# In colour in the PNG; the others in grey.
SHOWN = (*PRESET_DDPG, *SEVENTH_5, *SIXTH_5, *PRESET_TD3, *CANDIDATES)
CHECKPOINTS = (100_000, 200_000, 300_000)
LATE = (250_000, 300_000)  # one eval wanders by ~1 around a plateau: the mean of these six too
YLIM = (-60, -20)  # where the presets differ; the collapses of earlier runs went to -370
OUT = HERE / "learning"


def check_runs(names: list[str]) -> None:
    """Stop, before anything starts, on a name that is not in RUNS."""
    unknown = [name for name in names if name not in RUNS]
    if unknown:
        raise SystemExit(f"not in RUNS: {', '.join(unknown)}")


def launch(names: list[str], parallel: int, *, out: Path = OUT,
           extra: tuple[str, ...] = ()) -> dict[str, int]:
    """Runs the named RUNS, ``parallel`` at a time, in ``out``/<name> (log: ``out``/<name>.log),
    with ``extra`` overrides after each run's own; returns each run's exit code."""
    check_runs(names)
    out.mkdir(parents=True, exist_ok=True)
    pending, running, codes = list(names), [], {}
    while pending or running:
        while pending and len(running) < parallel:
            name = pending.pop(0)
            log = open(out / f"{name}.log", "w")
            cmd = [sys.executable, "-m", "rl_runner.train", *RUNS[name], *extra, "threads=1",
                   "progress=false", "eval.episodes=20", f"hydra.run.dir={out / name}"]
            running.append((name, subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log)))
            print(f"started {name}", flush=True)
        time.sleep(5)
        for name, proc in list(running):
            if proc.poll() is not None:
                print(f"finished {name} (exit {proc.returncode})", flush=True)
                codes[name] = proc.returncode
                running.remove((name, proc))
    return codes


def scalar_curve(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(run_dir), size_guidance={TENSORS: 0})
    acc.Reload()
    if tag not in acc.Tags()["tensors"]:
        return []
    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


def binned(curve: list[tuple[int, float]], width: int = 2000) -> list[tuple[int, float]]:
    """Mean of the points in each ``width``-step bin (training returns: one per episode).

    An episode is logged at the step it ended, so an episode ending at step 2000 falls in the
    bin of steps 1-2000 (the last one of a run does not make a bin of its own)."""
    bins: dict[int, list[float]] = {}
    for step, value in curve:
        bins.setdefault((step - 1) // width, []).append(value)
    return [((b + 1) * width, sum(v) / len(v)) for b, v in sorted(bins.items())]


def actor_rows(actors: dict[str, list]) -> list[str]:
    """The table of benchmarks/eval_actors.py: each run's kept checkpoints, online / target."""
    if not actors:
        return []
    steps = sorted({step for rows in actors.values() for step, _, _ in rows})
    # A run of the preset as it is and the earlier run of the same seed with the online actor
    # evaluated train alike, bitwise: the same checkpoints, counted once.
    unique = list({json.dumps(rows): rows for rows in actors.values()}.values())
    gains = [target - online for rows in unique for _, online, target in rows]
    at_end = [rows[-1][2] - rows[-1][1] for rows in unique]
    return ["", "Online / target (Polyak-averaged) actor on the same eval start states, at the "
            "checkpoints each run kept (`benchmarks/eval_actors.py`; `algo.eval_actor=target` "
            "logs the second; identical checkpoints counted once). The target actor is ahead "
            "at the last checkpoint in "
            f"{sum(g > 0 for g in at_end)} of {len(at_end)} runs (median gain "
            f"{median(at_end):.2f}), at all of them in {sum(g > 0 for g in gains)} of "
            f"{len(gains)}.", "",
            "| run | " + " | ".join(f"@{step // 1000}k" for step in steps) + " |",
            "|---|" + "---|" * len(steps),
            *(f"| {name} | " + " | ".join(
                next((f"{a:.1f} / {b:.1f}" for s, a, b in rows if s == step), "—")
                for step in steps) + " |" for name, rows in actors.items())]


def report() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Run dirs are git-ignored and a fresh checkout has none: the JSON keeps every run's
    # curves, and runs found on disk replace their entries.
    saved = HERE / "learning_pusher.json"
    stored = json.loads(saved.read_text()) if saved.exists() else {}
    if "eval" not in stored:  # the first format held eval curves only
        stored = {"eval": stored, "training": {}}
    curves, training = stored["eval"], stored["training"]
    for name in RUNS:
        curve = scalar_curve(OUT / name, "eval/episodic_return") if (OUT / name).exists() else []
        if curve:
            curves[name] = curve
            training[name] = binned(scalar_curve(OUT / name, "charts/episodic_return"))
    curves = {name: curves[name] for name in RUNS if name in curves}
    actors = stored.get("actors", {})
    for name, curve in curves.items():  # online against target actor, once a run is at 300k
        if ((OUT / name).exists() and curve[-1][0] >= LATE[1]
                and actors.get(name, [[None]])[-1][0] != curve[-1][0]):
            actors[name] = [list(row) for row in compare_actors(OUT / name)]
    actors = {name: actors[name] for name in RUNS if name in actors}
    saved.write_text(json.dumps({"eval": curves, "training": training, "actors": actors})
                     + "\n")

    def at(curve, step):
        points = [v for s, v in curve if s <= step]
        return points[-1] if points and curve[-1][0] >= step else None

    def late_mean(curve):
        points = [v for s, v in curve if LATE[0] <= s <= LATE[1]]
        return sum(points) / len(points) if curve[-1][0] >= LATE[1] else None

    rows = []
    for name, curve in curves.items():
        cells = [*(at(curve, c) for c in CHECKPOINTS), late_mean(curve)]
        rows.append(f"| {name} | " + " | ".join("—" if v is None else f"{v:.1f}" for v in cells)
                    + f" | {max(v for _, v in curve):.1f} | {curve[-1][0]:,} |")
    def at_300(names):
        return [v for n, c in curves.items() if n in names
                for v in [at(c, 300_000)] if v is not None]

    def medians(groups):  # ' <label> (<n> of <N> seeds, `<runs>`): <median>.' per group with a 300k
        return "".join(f" {label} ({len(values)} of {len(names)} seeds, `{names[0][:-1]}*`): "
                       f"{median(values):.1f}." for label, names in groups
                       for values in [at_300(names)] if values)

    def five_seeds(groups):  # medians at each checkpoint and of the late means, seeds 0-4
        lines = []
        for label, names in groups:
            done = [curves[n] for n in names if n in curves and curves[n][-1][0] >= LATE[1]]
            if len(done) < len(names):
                continue
            cells = [median([at(c, step) for c in done]) for step in CHECKPOINTS]
            lines.append(f"- {label}: " + " / ".join(f"{v:.1f}" for v in cells)
                         + f", mean 250k-300k {median([late_mean(c) for c in done]):.1f}")
        if not lines:
            return []
        return ["", f"Medians of {len(groups[0][1])} seeds at 100k / 200k / 300k:", *lines]

    ddpg_300 = at_300(PRESET_DDPG)
    if len(ddpg_300) == len(PRESET_DDPG):
        preset_median = f"{median(ddpg_300):.1f}"
    elif len(ddpg_300) == len(PRESET_DDPG) - 1:  # the last seed can only move it between these
        preset_median = f"between {min(ddpg_300):.1f} and {max(ddpg_300):.1f}"
    else:
        preset_median = (", ".join(f"{v:.1f}" for v in ddpg_300) + " so far" if ddpg_300
                         else "not reached")
    fig, (ax, ax_train) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    colors = {name: plt.get_cmap(cmap)(0.4 + 0.55 * i / len(names)) for cmap, names in
              (("Blues", PRESET_DDPG), ("Purples", SEVENTH_5), ("Greens", SIXTH_5),
               ("RdPu", PRESET_TD3), ("Oranges", CANDIDATES))
              for i, name in enumerate(names)}
    earlier = [name for name in curves if name not in SHOWN]
    for name, curve in sorted(curves.items(), key=lambda item: item[0] in SHOWN):
        shown = name in SHOWN  # the rest in grey, drawn first, one legend entry for all
        style = (dict(color=colors[name], label=name, zorder=3) if shown else
                 dict(color="0.7", lw=0.8, zorder=1,
                      label=f"{len(earlier)} earlier runs (table)" if name == earlier[0] else None))
        ax.plot([s for s, _ in curve], [v for _, v in curve], **style)
        train_curve = training.get(name, [])
        ax_train.plot([s for s, _ in train_curve], [v for _, v in train_curve],
                      **{**style, "lw": 0.8, "label": None})
    for axis in (ax, ax_train):
        axis.axhline(-25, color="grey", ls="--", lw=1, label="target -25")
        axis.set_ylim(*YLIM)
    ax.set_ylabel("eval return (20 episodes, deterministic)")
    ax.set_title(f"Pusher-v5 (points below {YLIM[0]} are cut: the early collapses, in the table)")
    # In the lower panel's empty corner (below the training curves after 100k).
    ax_train.legend(*ax.get_legend_handles_labels(), fontsize=7, ncol=2, loc="lower right")
    ax_train.set_ylabel("training return (noisy actions, 2k-step means)")
    ax_train.set_xlabel("env steps")
    fig.tight_layout()
    fig.savefig(HERE / "learning_pusher.png", dpi=100)
    write_fragment("ddpg_3_learning", "\n".join([
        "### Learning on Pusher-v5 (`make bench-learning`)",
        "",
        "Deterministic eval, mean over 20 episodes, every 10k env steps; runs with "
        "`threads=1`, two side by side. Curves: `benchmarks/learning_pusher.png`; points: "
        "`benchmarks/learning_pusher.json`. A dash: the run had not reached that step. "
        "Mean 250k-300k: the mean of the six evals from 250k to 300k.",
        "",
        "| run | @100k | @200k | @300k | mean 250k-300k | best | last step |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"**Median `ddpg_pusher` eval at 300k ({len(ddpg_300)} of 3 seeds, "
        f"`{PRESET_DDPG[0][:-1]}*`): "
        f"{preset_median}** (target >= -25; "
        "published DDPG/TD3 after 1M steps: -30 ... -77; SB3 SAC: -36 @100k, -26 @1M)."
        + medians((("The seventh DDPG preset, one update per env step", SEVENTH_DDPG),
                   ("The sixth DDPG preset, the online actor evaluated", SIXTH_DDPG),
                   ("`td3_pusher`", PRESET_TD3),
                   ("`ddpg_pusher` with the actor on the first critic (TD3's)", TWIN),
                   ("`ddpg_pusher` with 3 critics (REDQ's min of 2)", ENS3),
                   ("`ddpg_pusher` with TD3's policy delay (2)", DELAY2),
                   ("`ddpg_pusher` with gamma 0.985", G0985),
                   ("`ddpg_pusher` with three 512 layers in each critic", C512),
                   ("The fifth DDPG preset, one critic", FIFTH_DDPG),
                   ("The same with SALE (128)", SALE128),
                   ("The same with 25 return quantiles", Q25),
                   ("The same with four 256 layers", D4),
                   ("The fourth DDPG preset, two 256 layers", FOURTH_DDPG),
                   ("The same with 400-300 nets", H400),
                   ("The first TD3 preset, Adam 3e-4", FIRST_TD3),
                   ("The third DDPG preset, gamma 0.99", THIRD_DDPG),
                   ("The second DDPG preset, Adam 3e-4", SECOND_DDPG),
                   ("The first preset", FIRST_PRESET))),
        *five_seeds((("The seventh preset (UTD 1)", SEVENTH_5),
                     ("The sixth preset (the online actor)", SIXTH_5),
                     ("The sixth preset with gamma 0.985", G0985))),
        *actor_rows(actors),
    ]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="only summarise existing runs")
    parser.add_argument("--runs", nargs="*", default=list(RUNS), help="which runs to launch")
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    if not args.report:
        launch(args.runs, args.parallel)
    report()


if __name__ == "__main__":
    main()
