#!/bin/bash
# rl-train end to end on a CUDA-13-only GPU machine (see README.md here): the set-up of
# run_on_cuda13.sh (carried TensorFlow, wheels, CUDA 12 names), then the named runs of
# benchmarks/bench_ddpg_learning.py (RUNS), side by side, each with num_envs=16 (XLA is the GPU
# default) in /tmp/runs/<name>_env16. After T seconds each is stopped by SIGINT (it writes a
# checkpoint). Every 15 s the runs' events files and logs are packed into $OUT/runs.tgz, so a
# lease that ends early still returns the evals so far.
#   T=265 bash benchmarks/gpu_shim/train_on_cuda13.sh td3_lr1e3_s0 [more run names]
sed -n '1,/^export XLA_FLAGS/p' "$(dirname "$0")/run_on_cuda13.sh" > /tmp/env.sh
source /tmp/env.sh > $OUT/setup.log 2>&1
mkdir -p /tmp/runs
pack() { tar -C /tmp/runs -czf $OUT/runs.tgz.part --exclude='*/checkpoints' --exclude='*/policy' . \
  && mv $OUT/runs.tgz.part $OUT/runs.tgz; }
( while sleep 15; do pack; done ) & packer=$!
( sleep ${T:-230}; pkill -INT -f "hydra.run.dir=/tmp/runs/" ) & stopper=$!  # these runs only
t=$(date +%s)
python3 - "${@:-td3_lr1e3_s0}" <<'PY'
import subprocess, sys
from benchmarks.bench_ddpg_learning import RUNS
procs = []
for name in sys.argv[1:]:
    run = f"/tmp/runs/{name}_env16"
    cmd = [sys.executable, "-m", "rl_runner.train", *RUNS[name], "num_envs=16", "threads=1",
           "progress=false", "eval.episodes=20", f"hydra.run.dir={run}"]
    procs.append(subprocess.Popen(cmd, stdout=open(f"{run}.log", "w"), stderr=subprocess.STDOUT))
    print("started", name, flush=True)
for p in procs:
    p.wait()
PY
echo "train wall $(( $(date +%s) - t )) s"
kill $packer $stopper 2>/dev/null; pack
grep -h "^rl-train" /tmp/runs/*.log
