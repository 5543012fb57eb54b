"""``algo.name`` -> trainer class, from the one registry (``rl_runner.config.ALGORITHMS``),
imported lazily: the trainers import TensorFlow."""
from __future__ import annotations

import importlib

from rl_runner.config import ALGORITHMS


def trainer_class(name: str):
    import rl_runner.device  # noqa: F401  (imports TensorFlow quietly, before the trainers do)

    module, cls = ALGORITHMS[name].trainer.split(":")
    return getattr(importlib.import_module(module), cls)
