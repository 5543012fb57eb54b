"""Algorithm registry: ``algo.name`` -> trainer class (imported lazily: it imports TensorFlow)."""
from __future__ import annotations

import importlib

TRAINERS = {
    "reinforce": "rl_runner.algos.reinforce:ReinforceTrainer",
    "ddpg": "rl_runner.algos.ddpg:DDPGTrainer",
    "td3": "rl_runner.algos.ddpg:DDPGTrainer",  # DDPG with twin critics, delay, smoothing
}


def trainer_class(name: str):
    import rl_runner.device  # noqa: F401  (imports TensorFlow quietly, before the trainers do)

    module, cls = TRAINERS[name].split(":")
    return getattr(importlib.import_module(module), cls)
