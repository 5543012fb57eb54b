"""Typed configuration: dataclass schemas behind every Hydra config group, and their checks.

The schemas are registered in Hydra's ConfigStore (``register_configs``), so an unknown key or a
value of the wrong type fails while Hydra composes the config. Ranges are checked by ``validate``
once the config is a tree of these dataclasses, before TensorFlow is imported. Every field carries
its one-line documentation and its allowed range in ``metadata``; ``validate`` reads them, so the
range that is documented is the range that is checked.

Nothing in this module imports TensorFlow, gymnasium or Hydra at module level.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

MISSING = "???"  # omegaconf's marker for a value that must be set


class ConfigError(ValueError):
    """A config value is out of its allowed range; the message names key, value and range."""


def knob(doc: str, *, gt=None, ge=None, lt=None, le=None, choices=None, item_ge=None,
         default: Any = MISSING) -> Any:
    """A documented, range-checked dataclass field.

    ``gt``/``ge``/``lt``/``le`` bound a number; ``choices`` lists allowed strings; ``item_ge``
    bounds every item of a list. ``validate`` enforces them. Its default is written in the YAML
    (``rl_runner/conf``), once: here it is MISSING unless a key has no YAML of its own.
    """
    meta = {"doc": doc, "gt": gt, "ge": ge, "lt": lt, "le": le, "choices": choices,
            "item_ge": item_ge}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------------------------
# Config groups
# --------------------------------------------------------------------------------------------
@dataclass
class ReinforceConfig:
    """REINFORCE (Monte-Carlo policy gradient) with reward-to-go returns."""

    name: str = knob("the algorithm, as algo=<name> chose it")
    lr: float = knob("Adam learning rate", gt=0.0, le=1.0)
    gamma: float = knob("discount factor", gt=0.0, le=1.0)
    hidden_sizes: list[int] = knob("units per hidden layer of the policy MLP", item_ge=1)
    activation: str = knob("hidden-layer activation",
                           choices=["relu", "tanh", "elu", "silu"])
    episodes_per_update: int = knob("complete episodes per gradient step; with num_envs > 1 "
                                    "each env gives ceil(this / num_envs) of them", ge=1)
    normalize_returns: bool = knob("standardise the batch's returns (a constant baseline)")
    entropy_coef: float = knob("weight of the entropy bonus in the loss", ge=0.0)
    max_grad_norm: float = knob("clip gradients to this global norm; 0 disables", ge=0.0)
    init_log_std: float = knob("initial log standard deviation (Box actions only)",
                               ge=-20.0, le=2.0)


@dataclass
class NoiseConfig:
    """Exploration noise added to the deterministic actor's action."""

    type: str = knob("exploration noise: white (gaussian) or pink (1/f per "
                     "episode, Eberhard et al. 2023)", choices=["gaussian", "pink"])
    std_start: float = knob("noise std at step 0, as a fraction of the action half-range",
                            ge=0.0)
    std_end: float = knob("noise std after decay_env_steps", ge=0.0)
    decay_env_steps: int = knob("env steps of the linear decay start -> end; 0: constant",
                                ge=0)


@dataclass
class DDPGConfig:
    """DDPG (Lillicrap et al. 2015) and TD3 (Fujimoto et al. 2018): one schema, two configs
    (algo/ddpg.yaml, algo/td3.yaml)."""

    name: str = knob("the algorithm, as algo=<name> chose it")
    actor_lr: float = knob("Adam learning rate of the actor", gt=0.0, le=1.0)
    critic_lr: float = knob("Adam learning rate of the critic(s)", gt=0.0, le=1.0)
    gamma: float = knob("discount factor", gt=0.0, le=1.0)
    tau: float = knob("soft update: target <- tau*online + (1-tau)*target", gt=0.0,
                      le=1.0)
    batch_size: int = knob("transitions per gradient step", ge=1)
    buffer_size: int = knob("replay capacity in transitions", ge=1)
    learning_starts: int = knob("uniform-random env steps before learning starts",
                                ge=0)
    hidden_sizes: list[int] = knob("units per hidden layer (actor and critic)",
                                   item_ge=1)
    critic_hidden_sizes: list[int] | None = knob("units per hidden layer of the "
                                                 "critic(s); null: hidden_sizes", item_ge=1)
    activation: str = knob("hidden-layer activation",
                           choices=["relu", "tanh", "elu", "silu"])
    updates_per_step: float = knob("gradient steps per env step (UTD ratio)", gt=0.0)
    updates_per_call: int = knob("updates fused into one tf.function call", ge=1)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    twin_critics: bool = knob("two critics, bootstrapped from the minimum of their "
                              "targets (TD3)")
    actor_q: str = knob("the Q the actor climbs: the first critic's (TD3) or the mean "
                        "of both (with one critic, the same)", choices=["first", "mean"])
    policy_delay: int = knob("update the actor and targets every N critic updates (TD3: 2)",
                             ge=1)
    target_policy_noise: float = knob("std of the noise on the target action (fraction of "
                                      "the half-range; TD3: 0.2); 0 disables", ge=0.0)
    target_noise_clip: float = knob("clip of the target-action noise", ge=0.0)
    eval_actor: str = knob("the actor that is the run's policy (evaluated, saved as "
                           "best, exported, loaded by rl-eval): the online actor, or the target "
                           "actor (its Polyak average over ~1/tau updates); training explores "
                           "with the online actor either way", choices=["online", "target"])
    critic_layer_norm: bool = knob("LayerNorm before each hidden activation of the "
                                   "critic(s)")
    feature_norm: bool = knob("scale the last hidden features of actor and critic to "
                              "unit L2 norm (penultimate normalisation)")
    jit_compile: bool | None = knob("compile the fused update with XLA; null: on a GPU "
                                    "only (~7x the training loop's speed there; on a CPU "
                                    "within ~15 %)")


@dataclass
class EnvConfig:
    """A gymnasium environment, by id."""

    id: str = knob("gymnasium id, e.g. CartPole-v1, Pusher-v5")
    # Optional for every env: their defaults are written here, not in each env/*.yaml.
    kwargs: dict[str, Any] = knob("keyword arguments for gymnasium.make", default={})
    max_episode_steps: int | None = knob("override the time limit; null keeps the env's own",
                                         ge=1, default=None)


@dataclass
class EvalConfig:
    """Greedy evaluation on a separate environment."""

    every_env_steps: int = knob("evaluate every N env steps (and at the end)", ge=1)
    episodes: int = knob("episodes per periodic evaluation (the run's eval start states, "
                         "which also choose checkpoints/best; their std needs two or more)",
                         ge=2)
    heldout_episodes: int = knob("episodes from held-out start states that score the final "
                                 "policy and the best checkpoint at the end: the run's result "
                                 "(its 95 % CI needs two or more)", ge=2)


@dataclass
class CheckpointConfig:
    """Checkpoints for resume, and the best policy for rl-eval."""

    every_env_steps: int = knob("write a checkpoint every N env steps, and at the end",
                                ge=1)
    keep: int = knob("full checkpoints kept (the best policy is kept besides)", ge=1)
    replay: bool = knob("include the replay buffer (DDPG) when it fits replay_max_mb; "
                        "without it a resumed run starts with an empty buffer")
    replay_max_mb: int = knob("largest replay capacity (MiB) whose filled rows a checkpoint "
                              "holds", ge=0)


@dataclass
class SearchConfig:
    """What one sweep job optimises."""

    seeds: int = knob("seeds trained per job (seed, seed+1, ...); the job returns the mean "
                      "final eval return: one seed is too noisy to tune on", ge=1)


@dataclass
class Config:
    """The whole run: algorithm, environment and run-level keys."""

    algo: Any = MISSING
    env: EnvConfig = field(default_factory=EnvConfig)
    seed: int = knob("seeds numpy, TensorFlow, the envs and their action spaces", ge=0)
    total_env_steps: int = knob("training budget in environment steps (REINFORCE ends with "
                                "the batch of whole episodes that crosses it)", ge=1)
    num_envs: int = knob("parallel environments in the training vector env", ge=1)
    stop_at_return: float | None = knob("stop once the eval mean reaches this; null: "
                                           "the env's reward_threshold (none: never stop)")
    early_stop: bool = knob("stop at stop_at_return; false trains the whole budget")
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    resume: str | None = knob("run dir to continue (rl-train resume=<run_dir>); "
                                 "its saved config is used")
    progress: bool = knob("show a progress bar")
    device: str = knob("auto: GPU when TensorFlow sees one; cpu forces the CPU",
                       choices=["auto", "cpu", "gpu"])
    threads: int = knob("TensorFlow intra/inter-op threads; 0: TensorFlow's default "
                        "(set 1 when jobs run side by side)", ge=0)
    jobs_per_gpu: int = knob("parallel multirun jobs placed on one GPU before the next GPU "
                             "is used (hydra/launcher=local_parallel; 1: round-robin)", ge=1)
    deterministic: bool = knob("enable TensorFlow op determinism (same seed, same "
                               "curve on CPU)")
    verbose: bool = knob("show TensorFlow's start-up and INFO lines, and full "
                         "tracebacks for config errors")


@dataclass(frozen=True)
class Algorithm:
    """What rl_runner knows of an algorithm: the one registry (``algo.name`` -> this)."""

    schema: type  # the dataclass of its config group (``algo/<name>.yaml``)
    trainer: str  # "module:Class", imported when a run starts (it imports TensorFlow)
    continuous: bool  # needs a Box action space with finite bounds (a tanh-squashed actor);
    # else a Discrete or any Box action space


ALGORITHMS = {
    "reinforce": Algorithm(ReinforceConfig, "rl_runner.algos.reinforce:ReinforceTrainer",
                           continuous=False),
    "ddpg": Algorithm(DDPGConfig, "rl_runner.algos.ddpg:DDPGTrainer", continuous=True),
    # DDPG with twin critics, delayed actor updates and target smoothing (algo/td3.yaml)
    "td3": Algorithm(DDPGConfig, "rl_runner.algos.ddpg:DDPGTrainer", continuous=True),
}


def register_configs() -> None:
    """Register the schemas so Hydra type-checks every group while composing."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for name, algorithm in ALGORITHMS.items():
        cs.store(name=f"schema_{name}", node=algorithm.schema)  # outside the groups: not an option
    cs.store(name="schema_env", node=EnvConfig)


# --------------------------------------------------------------------------------------------
# Range checks
# --------------------------------------------------------------------------------------------
def describe_range(meta: dict) -> str:
    """A field's allowed range in words (``> 0 and <= 1``; '' when unbounded)."""
    parts = []
    for key, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if meta.get(key) is not None:
            parts.append(f"{sym} {meta[key]:g}")
    return " and ".join(parts)


def _check(path: str, value: Any, meta: dict) -> None:
    doc = meta.get("doc", "")
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise ConfigError(f"{path}={value!r} is not allowed: choose one of "
                          f"{', '.join(map(str, meta['choices']))} ({doc})")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rng = describe_range(meta)
        if rng and (math.isnan(value)
                    or (meta["gt"] is not None and not value > meta["gt"])
                    or (meta["ge"] is not None and not value >= meta["ge"])
                    or (meta["lt"] is not None and not value < meta["lt"])
                    or (meta["le"] is not None and not value <= meta["le"])):
            raise ConfigError(f"{path}={value:g} is out of range: must be {rng} ({doc})")
    if isinstance(value, list) and meta.get("item_ge") is not None:
        if not value:
            raise ConfigError(f"{path}=[] is empty: give at least one size ({doc})")
        for item in value:
            if not item >= meta["item_ge"]:
                raise ConfigError(f"{path}={value} is out of range: every item must be >= "
                                  f"{meta['item_ge']} ({doc})")


def validate(obj: Any, prefix: str = "") -> None:
    """Check every documented range in a config dataclass tree; raise ConfigError on the first
    value out of range, naming its dotted key."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            validate(value, prefix=f"{path}.")
        elif f.metadata and value is not None:
            _check(path, value, f.metadata)
    if isinstance(obj, DDPGConfig):
        _check_ddpg(obj, prefix)
    if isinstance(obj, Config):
        _check_budget(obj)


def _check_budget(cfg: Config) -> None:
    """A DDPG run whose budget ends before its first update would train nothing."""
    starts = getattr(cfg.algo, "learning_starts", None)
    if starts is not None and starts >= cfg.total_env_steps:
        raise ConfigError(f"algo.learning_starts={starts} is out of range: must be < "
                          f"total_env_steps={cfg.total_env_steps}, or the run ends before its "
                          f"first update (lower algo.learning_starts or raise total_env_steps)")


def run_warnings(cfg: Config) -> list[str]:
    """Settings that run but are likely not what was meant (printed at the start of a run and
    kept in ``metrics.json``)."""
    warnings = []
    starts = getattr(cfg.algo, "learning_starts", None)
    total, every = cfg.total_env_steps, cfg.eval.every_env_steps
    if starts is not None:  # evals at each multiple of every, and at the end
        learning = total // every - starts // every + (total % every > 0)
        if learning < 2:
            warnings.append(f"only {learning} evaluation{'s' * (learning != 1)} of "
                            f"total_env_steps={total} (eval.every_env_steps={every}) come"
                            f"{'s' * (learning == 1)} after algo.learning_starts={starts}: "
                            "fewer than two of a learning policy")
    return warnings


def _check_ddpg(obj: DDPGConfig, prefix: str) -> None:
    """The DDPG keys that constrain each other."""
    if obj.buffer_size < obj.batch_size:
        raise ConfigError(f"{prefix}buffer_size={obj.buffer_size} is out of range: must be >= "
                          f"{prefix}batch_size={obj.batch_size}")
