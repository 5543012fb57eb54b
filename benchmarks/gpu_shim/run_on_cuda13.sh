#!/bin/bash
# On a GPU machine with CUDA 13 only and no network (see README.md here): unpack TensorFlow
# (carried in xz chunks .tfz*/tf.part-* and gathered in /tmp/acc), install the wheels in .whl,
# point TensorFlow's CUDA 12 library names at CUDA 13's (libcudart.so.12: the shim in .dev),
# check a matmul against numpy, plain and under XLA, then `python -m benchmarks.run ddpg_gpu`.
#   bash benchmarks/gpu_shim/run_on_cuda13.sh [check|quick]
export PYTHONUNBUFFERED=1
S=/tmp/site
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 --version
mkdir -p $S /tmp/acc
mv .tfz*/tf.part-* /tmp/acc/ 2>/dev/null
ls -la /tmp/acc | tail -n +2 | awk '{s+=$5} END {print "chunks bytes", s}'
if [ ! -f $S/.tf_ok ]; then
  t=$(date +%s); cat /tmp/acc/tf.part-* | xz -d -T0 | tar -C $S -xf - && touch $S/.tf_ok
  echo "unpacked tf in $(( $(date +%s) - t )) s"; [ -f $S/.tf_ok ] || { echo TF UNPACK FAILED; exit 3; }
fi
if [ ! -f $S/.whl_ok ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .whl/*.whl && touch $S/.whl_ok || { echo PIP FAILED; exit 4; }
fi
export PYTHONPATH=$S:$PWD
L=/tmp/cu12; mkdir -p $L; dirs=""
[ -s /tmp/libs.txt ] || find /usr/local /opt /usr/lib/x86_64-linux-gnu -xdev -name "lib*.so*" 2>/dev/null | grep -v stub > /tmp/libs.txt
for want in libcudart.so.12 libcublas.so.12 libcublasLt.so.12 libcufft.so.11 libcusolver.so.11 libcusparse.so.12 libcudnn.so.9 libnvJitLink.so.12 libcupti.so.12 libnccl.so.2 libnvrtc.so.12; do
  fam=${want%%.so.*}
  f=$(grep "/$want\$" /tmp/libs.txt | sort -t/ -k2,2r | head -1)
  if [ -n "$f" ]; then d=$(dirname $(readlink -f $f)); dirs="$dirs:$d"; echo "$want found: $f"; continue; fi
  f=$(grep "/$fam\.so\.[0-9]*\$" /tmp/libs.txt | sort -t/ -k2,2r | grep -m1 -E "^/usr/local/cuda|^/" )
  [ -z "$f" ] && { echo "no $fam"; continue; }
  r=$(readlink -f $f); dirs="$dirs:$(dirname $r)"; ln -sf $r $L/$want; echo "$want -> $r"
done
rm -f $L/libcudart.so.12 && cp .dev/libcudart.so.12 $L/ && echo "libcudart.so.12 = shim over CUDA 13 (cudaGetDeviceProperties_v2)"
export LD_LIBRARY_PATH=$L$dirs:$LD_LIBRARY_PATH
C=$(ls -d /usr/local/cuda 2>/dev/null || dirname $(dirname $(which ptxas)))
export XLA_FLAGS=--xla_gpu_cuda_data_dir=$C CUDA_CACHE_MAXSIZE=4294967296
echo "cuda dir $C; ptxas $(which ptxas)"
if [ "$1" = quick ]; then timeout 200 python3 -c "import benchmarks.bench_ddpg_gpu as b; print('QUICK batch 256 no XLA', b.measure(256, False), flush=True)" 2>&1 | grep -v -E "cpu_feature_guard|rebuild TensorFlow" | tee $OUT/quick.log | tail -5; exit 0; fi
TF_CPP_MIN_LOG_LEVEL=0 timeout 240 python3 -c "
import time; t=time.time(); import tensorflow as tf
print('import', round(time.time()-t,1), 's', tf.__version__, flush=True)
g=tf.config.list_physical_devices('GPU'); print('GPUs', g, flush=True)
if g:
    print(tf.config.experimental.get_device_details(g[0]))
    import numpy as np; a=np.random.default_rng(0).standard_normal((512,256)).astype(np.float32); ref=np.maximum(a@a.T,0)
    t=time.time(); y=tf.nn.relu(tf.constant(a)@tf.transpose(tf.constant(a))); print('matmul on', y.device, 'max err', float(np.abs(y.numpy()-ref).max()), round(time.time()-t,1), 's', flush=True)
    f=tf.function(lambda b: tf.nn.relu(b@tf.transpose(b)), jit_compile=True)
    t=time.time(); e2=float(np.abs(f(tf.constant(a)).numpy()-ref).max()); print('xla max err', e2, round(time.time()-t,1), 's', flush=True)
    e1=float(np.abs(y.numpy()-ref).max()); top=float(ref.max())
    if 'GPU' in y.device and max(e1, e2) < 1e-2 * top: print('CHECK_OK', flush=True)
" 2>&1 | grep -v -E "^$|cpu_feature_guard|rebuild TensorFlow" | tail -40 | tee $OUT/check.log
grep -q CHECK_OK $OUT/check.log || { echo NO GPU IN TF; exit 5; }
[ "$1" = check ] && exit 0
timeout ${BENCH_TIMEOUT:-560} python3 -m benchmarks.run ddpg_gpu 2>&1 | grep -v -E "cpu_feature_guard|rebuild TensorFlow" | tee $OUT/bench.log | tail -30
cp benchmarks/results/ddpg_4_gpu.md $OUT/ 2>/dev/null; echo rc done
