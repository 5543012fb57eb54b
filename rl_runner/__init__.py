"""rl_runner: a Hydra-configured experiment runner for policy-gradient RL in TensorFlow 2."""
import os

# TensorFlow reads these when it is first imported, so they are set on importing the package,
# before any module of it imports TensorFlow; a value already in the environment wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no INFO/WARNING start-up banner
# oneDNN matmul kernels on the CPU. TensorFlow turns them on by default only on some Intel
# CPUs; on the 2-core AMD VM of benchmarks/RESULTS.md they make the fused DDPG update ~12 %
# faster than Eigen's (and than XLA's). TF_ENABLE_ONEDNN_OPTS=0 opts out.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
