"""rl_runner: a Hydra-configured experiment runner for policy-gradient RL in TensorFlow 2.

The Python API (see ``api.py``; nothing heavy is imported until it is used):

    import rl_runner
    run = rl_runner.train(["algo=ddpg", "env=pusher", "total_env_steps=20000"])
    policy = rl_runner.load_policy(run.run_dir)
    rl_runner.evaluate(run.run_dir, episodes=10, render="gif")
    cfg = rl_runner.compose(["algo=ddpg", "env=pusher"])  # the typed config, nothing trained
"""
import importlib
import os

# TensorFlow reads these when it is first imported, so they are set on importing the package,
# before any module of it imports TensorFlow; a value already in the environment wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no INFO/WARNING start-up banner
# oneDNN matmul kernels on the CPU. TensorFlow turns them on by default only on some Intel
# CPUs; on the 2-core AMD VM of benchmarks/RESULTS.md they make the fused DDPG update ~12 %
# faster than Eigen's (and than XLA's). TF_ENABLE_ONEDNN_OPTS=0 opts out.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
__all__ = ["train", "compose", "load_policy", "evaluate", "Run", "ConfigError", "RunStopped"]

_FROM = {"compose": "rl_runner.api", "load_policy": "rl_runner.api",
         "evaluate": "rl_runner.api", "Run": "rl_runner.api",
         "ConfigError": "rl_runner.config", "RunStopped": "rl_runner.errors"}


def __getattr__(name: str):
    if name == "train":  # the module rl_runner/train.py, callable as api.train
        return importlib.import_module("rl_runner.train")
    if name in _FROM:
        value = getattr(importlib.import_module(_FROM[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rl_runner' has no attribute {name!r}")


def __dir__():
    return sorted({*__all__, "__version__"})
