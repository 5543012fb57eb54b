"""rl_runner: a Hydra-configured experiment runner for policy-gradient RL in TensorFlow 2."""

__version__ = "0.1.0"
