#!/bin/bash
# rl-train end to end on a CUDA-13-only GPU machine (see README.md here): the set-up of
# run_on_cuda13.sh (carried TensorFlow, wheels, CUDA 12 names), then TD3 (td3_pusher, lr 1e-3)
# on Pusher-v5 with 16 envs, XLA, stopped by SIGINT after T seconds (a checkpoint is written).
# The events file is copied to $OUT every 10 s, so a run cut short still reports its evals.
#   T=265 bash benchmarks/gpu_shim/train_on_cuda13.sh [extra overrides, e.g. seed=1]
sed -n '1,/^export XLA_FLAGS/p' "$(dirname "$0")/run_on_cuda13.sh" > /tmp/env.sh
source /tmp/env.sh > $OUT/setup.log 2>&1
R=/tmp/run
( while sleep 10; do cp $R/events.out.tfevents.* $OUT/ 2>/dev/null; done ) &
t=$(date +%s)
timeout -s INT ${T:-230} python3 -m rl_runner.train algo=ddpg env=pusher preset=td3_pusher seed=0 \
  algo.actor_lr=0.001 algo.critic_lr=0.001 num_envs=16 eval.episodes=20 progress=false \
  hydra.run.dir=$R "$@" 2>&1 | grep -v -E "absl|cpu_feature_guard|rebuild TensorFlow|oneDNN|^I0000|^W0000" | tee $OUT/stdout.log
echo "train wall $(( $(date +%s) - t )) s"
cp $R/events.out.tfevents.* $R/metrics.json $R/.hydra/config.yaml $OUT/ 2>/dev/null; ls $R $R/checkpoints
