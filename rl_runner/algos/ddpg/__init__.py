"""DDPG and TD3 (``algo=ddpg``, ``algo=td3``): one agent, the TD3 parts switched on by config.

Read in this order: ``agent.py`` (networks, the update from sampling to the soft update),
``critics.py`` (one or two critics behind one interface), ``exploration.py`` (action noise),
``step.py`` (the compiled step: one TensorFlow call per env step), ``trainer.py`` (the env
loop's DDPG part).
"""
from rl_runner.algos.ddpg.agent import (
    DDPGAgent,
    DeterministicPolicy,
    UpdateMetrics,
    actor_net,
    nonfinite_error,
    to_bounds,
)
from rl_runner.algos.ddpg.critics import Critics, soft_update
from rl_runner.algos.ddpg.exploration import Exploration
from rl_runner.algos.ddpg.step import FusedStep, direct_call
from rl_runner.algos.ddpg.trainer import DDPGTrainer

__all__ = ["DDPGAgent", "DDPGTrainer", "Critics", "DeterministicPolicy", "Exploration",
           "FusedStep", "UpdateMetrics", "actor_net", "direct_call", "nonfinite_error",
           "soft_update", "to_bounds"]
