#!/bin/bash
# rl-train end to end on a CUDA-13-only GPU machine (see README.md here): the set-up of
# run_on_cuda13.sh (carried TensorFlow, wheels, CUDA 12 names), then the named runs of
# benchmarks/bench_ddpg_learning.py (RUNS), side by side, each with num_envs=16 and device=gpu
# (XLA is the GPU default) in /tmp/runs/env16/<name>. After T seconds each is stopped by SIGINT
# (it writes a checkpoint). Every 15 s the runs' events files and logs are packed into
# $OUT/runs.tgz, so a lease that ends early still returns the evals so far. Exits 0 when every
# run finished or was stopped by the SIGINT (130), 1 otherwise.
#   T=265 bash benchmarks/gpu_shim/train_on_cuda13.sh td3_lr1e3_s0 [more run names]
: "${OUT:?set OUT to the folder whose files come back}"
names=("${@:-td3_lr1e3_s0}")
python3 -c "import sys; from benchmarks.bench_ddpg_learning import check_runs
check_runs(sys.argv[1:])" "${names[@]}" || exit 2
sed -n '1,/^export XLA_FLAGS/p' "$(dirname "$0")/run_on_cuda13.sh" > /tmp/env.sh
source /tmp/env.sh > "$OUT/setup.log" 2>&1
mkdir -p /tmp/runs
pack() {  # tar exits 1 when a file grew while read (the events files do): still a usable archive
  tar -C /tmp/runs -czf "$OUT/runs.tgz.$1" --warning=no-file-changed \
    --exclude='*/checkpoints' --exclude='*/policy' .
  [ $? -le 1 ] && mv "$OUT/runs.tgz.$1" "$OUT/runs.tgz"
}
( while sleep 15; do pack part; done ) > /dev/null 2>&1 & packer=$!
( sleep "${T:-230}"; pkill -INT -f "hydra.run.dir=/tmp/runs/" ) > /dev/null 2>&1 & stopper=$!
t=$(date +%s)
python3 - "${names[@]}" <<'PY'
import sys
from pathlib import Path
from benchmarks.bench_ddpg_learning import launch
names = sys.argv[1:]
codes = launch(names, len(names), out=Path("/tmp/runs/env16"), extra=("num_envs=16", "device=gpu"))
sys.exit(0 if all(code in (0, 130) for code in codes.values()) else 1)
PY
rc=$?
echo "train wall $(( $(date +%s) - t )) s"
pkill -P $packer; pkill -P $stopper; kill $packer $stopper 2>/dev/null; wait
pack final
grep -h "^rl-train" /tmp/runs/env16/*.log
exit $rc
