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


def knob(default: Any, doc: str, *, gt=None, ge=None, lt=None, le=None, choices=None,
         item_ge=None) -> Any:
    """A documented, range-checked dataclass field.

    ``gt``/``ge``/``lt``/``le`` bound a number; ``choices`` lists allowed strings; ``item_ge``
    bounds every item of a list. ``validate`` enforces them.
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

    name: str = knob("reinforce", "algorithm name; selects the trainer", choices=["reinforce"])
    lr: float = knob(1e-3, "Adam learning rate", gt=0.0, le=1.0)
    gamma: float = knob(0.99, "discount factor", gt=0.0, le=1.0)
    hidden_sizes: list[int] = knob([32, 32], "units per hidden layer of the policy MLP", item_ge=1)
    activation: str = knob("relu", "hidden-layer activation",
                           choices=["relu", "tanh", "elu", "silu"])
    episodes_per_update: int = knob(1, "complete episodes collected per gradient step", ge=1)
    normalize_returns: bool = knob(False, "standardise the batch's returns (a constant baseline)")
    entropy_coef: float = knob(0.0, "weight of the entropy bonus in the loss", ge=0.0)
    max_grad_norm: float = knob(0.0, "clip gradients to this global norm; 0 disables", ge=0.0)
    init_log_std: float = knob(-0.5, "initial log standard deviation (Box actions only)",
                               ge=-20.0, le=2.0)


@dataclass
class NoiseConfig:
    """Exploration noise added to the deterministic actor's action."""

    type: str = knob("gaussian", "exploration process: white, Ornstein-Uhlenbeck, pink (1/f, "
                     "Eberhard et al. 2023) or param (a perturbed actor, Plappert et al. 2018)",
                     choices=["gaussian", "ou", "pink", "param"])
    std_start: float = knob(0.1, "noise std at step 0, as a fraction of the action half-range "
                            "(param: how far the perturbation moves the actions)", ge=0.0)
    std_end: float = knob(0.1, "noise std after decay_env_steps", ge=0.0)
    decay_env_steps: int = knob(0, "env steps of the linear decay start -> end; 0: constant",
                                ge=0)
    ou_theta: float = knob(0.15, "mean-reversion rate of the Ornstein-Uhlenbeck process", gt=0.0)


@dataclass
class DDPGConfig:
    """DDPG with TD3's tricks as options (twin critics, delayed actor, target smoothing)."""

    name: str = knob("ddpg", "algorithm name; selects the trainer", choices=["ddpg"])
    actor_lr: float = knob(3e-4, "Adam learning rate of the actor", gt=0.0, le=1.0)
    critic_lr: float = knob(3e-4, "Adam learning rate of the critic(s)", gt=0.0, le=1.0)
    gamma: float = knob(0.99, "discount factor", gt=0.0, le=1.0)
    n_step: int = knob(1, "n-step returns: sum N rewards (within an episode) before "
                       "bootstrapping; 1 = one-step TD", ge=1, le=100)
    tau: float = knob(0.005, "soft update: target <- tau*online + (1-tau)*target", gt=0.0,
                      le=1.0)
    batch_size: int = knob(256, "transitions per gradient step", ge=1)
    buffer_size: int = knob(1_000_000, "replay capacity in transitions", ge=1)
    recent_fraction: float = knob(0.0, "fraction of each batch drawn from the newest "
                                  "recent_size transitions (the rest from the whole buffer); "
                                  "0: uniform", ge=0.0, le=1.0)
    recent_size: int = knob(100_000, "transitions that recent_fraction draws from", ge=1)
    learning_starts: int = knob(10_000, "uniform-random env steps before learning starts",
                                ge=0)
    hidden_sizes: list[int] = knob([256, 256], "units per hidden layer (actor and critic)",
                                   item_ge=1)
    critic_hidden_sizes: list[int] | None = knob(None, "units per hidden layer of the "
                                                 "critic(s); null: hidden_sizes", item_ge=1)
    activation: str = knob("relu", "hidden-layer activation",
                           choices=["relu", "tanh", "elu", "silu"])
    updates_per_step: float = knob(1.0, "gradient steps per env step (UTD ratio)", gt=0.0)
    lr_schedule: str = knob("constant", "learning rates over the run: constant, or linear "
                            "decay to 0 at the last update of total_env_steps",
                            choices=["constant", "linear"])
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    twin_critics: bool = knob(False, "TD3: learn two critics and bootstrap from their minimum")
    num_critics: int = knob(0, "critics learned side by side, whatever twin_critics says; 0: 2 "
                            "with twin_critics, else 1; 3 or more: an ensemble (REDQ, Chen et "
                            "al. 2021)", ge=0)
    target_critics: int = knob(0, "how many critics, drawn at random each update, the target's "
                               "minimum is taken over (REDQ: 2); 0: all of them", ge=0)
    actor_q: str = knob("first", "the Q the actor climbs: the first critic's (TD3) or the mean "
                        "of all critics' (a less noisy argmax; with one critic, the same)",
                        choices=["first", "mean"])
    eval_actor: str = knob("online", "the actor that is the run's policy (evaluated, saved as "
                           "best, exported, loaded by rl-eval): the online actor, or the target "
                           "actor (its Polyak average, the online actor smoothed over ~1/tau "
                           "updates); training explores with the online actor either way",
                           choices=["online", "target"])
    policy_delay: int = knob(1, "TD3: update the actor and targets every N critic updates",
                             ge=1)
    target_policy_noise: float = knob(0.0, "TD3: std of the noise on the target action "
                                      "(fraction of the half-range); 0 disables", ge=0.0)
    target_noise_clip: float = knob(0.5, "TD3: clip of the target-action noise", ge=0.0)
    normalize_obs: bool = knob(False, "normalise observations by running mean/std")
    critic_layer_norm: bool = knob(False, "LayerNorm before each hidden activation of the "
                                   "critic(s)")
    feature_norm: bool = knob(False, "scale the last hidden features of actor and critic to "
                              "unit L2 norm (penultimate normalisation)")
    crossq: bool = knob(False, "CrossQ: batch renormalisation in the critic(s) (instead of "
                        "their LayerNorm and unit-norm features), no target networks; the "
                        "critic sees (s, a) and (s', mu(s')) in one batch")
    quantiles: int = knob(0, "distributional critic(s): N quantiles of the return (QR-DQN's "
                          "quantile Huber loss; Q is their mean); 0: a scalar Q", ge=0, le=1000)
    drop_quantiles: int = knob(0, "TQC: per critic, the top k quantiles dropped from the "
                               "pooled target quantiles of all critics (instead of TD3's min)",
                               ge=0)
    value_bins: int = knob(0, "HL-Gauss critic(s) (Farebrother et al. 2024): Q as a softmax over "
                           "N bins of [value_min, value_max], learned by cross-entropy against "
                           "a Gaussian-smoothed TD target; 0: a scalar Q", ge=0, le=10000)
    value_min: float | None = knob(None, "HL-Gauss: the lowest Q the bins cover (targets below "
                                   "are clipped to it)")
    value_max: float | None = knob(None, "HL-Gauss: the highest Q the bins cover (targets above "
                                   "are clipped to it)")
    sale: bool = knob(False, "SALE (TD7): an encoder learns state and state-action embeddings "
                      "by predicting the next state's; actor and critic(s) take them beside "
                      "their inputs")
    sale_dim: int = knob(256, "SALE: embedding size (and the encoder's hidden width)", ge=1)
    sale_update_every: int = knob(250, "SALE: the embeddings that actor and critics see are "
                                  "copies of the encoder, refreshed every N updates", ge=1)
    adam_beta1: float = knob(0.9, "Adam's beta_1 for actor and critic (CrossQ: 0.5)", gt=0.0,
                             lt=1.0)
    jit_compile: bool | None = knob(None, "compile the fused update with XLA; null: on a GPU "
                                    "only (~7x the training loop's speed there; on a CPU "
                                    "within ~15 %)")
    updates_per_call: int = knob(1, "updates fused into one tf.function call", ge=1)


@dataclass
class EnvConfig:
    """A gymnasium environment, by id."""

    id: str = knob(MISSING, "gymnasium id, e.g. CartPole-v1, Pusher-v5")
    kwargs: dict[str, Any] = knob({}, "keyword arguments for gymnasium.make")
    max_episode_steps: int | None = knob(None, "override the time limit; null keeps the "
                                            "env's own", ge=1)


@dataclass
class EvalConfig:
    """Greedy evaluation on a separate environment."""

    every_env_steps: int = knob(10_000, "evaluate every N env steps (and at the end)", ge=1)
    episodes: int = knob(10, "episodes per evaluation", ge=1)


@dataclass
class CheckpointConfig:
    """Checkpoints for resume, and the best policy for rl-eval."""

    every_env_steps: int = knob(10_000, "write a checkpoint every N env steps, and at the end",
                                ge=1)
    keep: int = knob(3, "full checkpoints kept (the best policy is kept besides)", ge=1)
    replay: bool = knob(True, "include the replay buffer (DDPG) when it fits replay_max_mb; "
                        "without it a resumed run starts with an empty buffer")
    replay_max_mb: int = knob(2048, "largest replay buffer (MiB) written into a checkpoint",
                              ge=0)


@dataclass
class SearchConfig:
    """What one sweep job optimises."""

    seeds: int = knob(1, "seeds trained per job (seed, seed+1, ...); the job returns the mean "
                      "final eval return: one seed is too noisy to tune on", ge=1)


@dataclass
class Config:
    """The whole run: algorithm, environment and run-level keys."""

    algo: Any = MISSING
    env: EnvConfig = field(default_factory=EnvConfig)
    seed: int = knob(0, "seeds numpy, TensorFlow, the envs and their action spaces", ge=0)
    total_env_steps: int = knob(200_000, "training budget in environment steps", ge=1)
    num_envs: int = knob(1, "parallel environments in the training vector env", ge=1)
    stop_at_return: float | None = knob(None, "stop once the eval mean reaches this; null: "
                                           "the env's reward_threshold (none: never stop)")
    early_stop: bool = knob(True, "stop at stop_at_return; false trains the whole budget")
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    resume: str | None = knob(None, "run dir to continue (rl-train resume=<run_dir>); "
                                 "its saved config is used")
    progress: bool = knob(True, "show a progress bar")
    device: str = knob("auto", "auto: GPU when TensorFlow sees one; cpu forces the CPU",
                       choices=["auto", "cpu", "gpu"])
    threads: int = knob(0, "TensorFlow intra/inter-op threads; 0: TensorFlow's default "
                        "(set 1 when jobs run side by side)", ge=0)
    jobs_per_gpu: int = knob(1, "parallel multirun jobs placed on one GPU before the next GPU "
                             "is used (hydra/launcher=local_parallel; 1: round-robin)", ge=1)
    deterministic: bool = knob(True, "enable TensorFlow op determinism (same seed, same "
                               "curve on CPU)")
    verbose: bool = knob(False, "show TensorFlow's start-up and INFO lines, and full "
                         "tracebacks for config errors")


ALGO_SCHEMAS = {"reinforce": ReinforceConfig, "ddpg": DDPGConfig}


def register_configs() -> None:
    """Register the schemas so Hydra type-checks every group while composing."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for name, schema in ALGO_SCHEMAS.items():
        cs.store(name=f"schema_{name}", node=schema)  # outside the groups: not an option
    cs.store(name="schema_env", node=EnvConfig)


# --------------------------------------------------------------------------------------------
# Range checks
# --------------------------------------------------------------------------------------------
def _describe(meta: dict) -> str:
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
        rng = _describe(meta)
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
    if starts is not None and cfg.total_env_steps - starts < 2 * cfg.eval.every_env_steps:
        warnings.append(f"only {cfg.total_env_steps - starts} of total_env_steps="
                        f"{cfg.total_env_steps} come after algo.learning_starts={starts}: fewer "
                        f"than two evaluations (eval.every_env_steps="
                        f"{cfg.eval.every_env_steps}) of a learning policy")
    return warnings


def critic_count(cfg: DDPGConfig) -> int:
    """The critics a DDPG config learns: ``num_critics`` where it is set (so that it overrides
    a preset's ``twin_critics``), else 2 with twin critics, else 1."""
    return cfg.num_critics or (2 if cfg.twin_critics else 1)


def _check_ddpg(obj: DDPGConfig, prefix: str) -> None:
    """The DDPG keys that constrain each other."""
    if obj.buffer_size < obj.batch_size:
        raise ConfigError(f"{prefix}buffer_size={obj.buffer_size} is out of range: must be >= "
                          f"{prefix}batch_size={obj.batch_size}")
    if obj.crossq and obj.critic_layer_norm:
        raise ConfigError(f"{prefix}crossq=true replaces the critic's LayerNorm with batch "
                          f"renormalisation: set {prefix}critic_layer_norm=false")
    for key in ("quantiles", "value_bins"):
        if getattr(obj, key) == 1:
            raise ConfigError(f"{prefix}{key}=1 is out of range: must be 0 (a scalar Q) or >= 2")
    # Options that each replace the same part of the critic or its loss.
    shown = lambda key: str(getattr(obj, key)).lower()  # noqa: E731 - true, not True
    for key, other in (("quantiles", "crossq"), ("value_bins", "quantiles"),
                       ("value_bins", "crossq"), ("sale", "crossq")):
        if getattr(obj, key) and getattr(obj, other):
            raise ConfigError(f"{prefix}{key}={shown(key)} does not combine with "
                              f"{prefix}{other}={shown(other)}: set one of them")
    if obj.value_bins:
        if obj.value_min is None or obj.value_max is None:
            raise ConfigError(f"{prefix}value_bins={obj.value_bins} needs {prefix}value_min and "
                              f"{prefix}value_max: the range of Q its bins cover (e.g. the "
                              "discounted sum of the lowest and highest reward)")
        if not obj.value_min < obj.value_max:
            raise ConfigError(f"{prefix}value_min={obj.value_min} is out of range: must be < "
                              f"{prefix}value_max={obj.value_max}")
    critics = critic_count(obj)
    if obj.target_critics > critics:
        raise ConfigError(f"{prefix}target_critics={obj.target_critics} is out of range: must be "
                          f"<= the {critics} critic(s) learned ({prefix}num_critics, "
                          f"{prefix}twin_critics)")
    if obj.target_critics and (obj.quantiles or obj.crossq):
        raise ConfigError(f"{prefix}target_critics={obj.target_critics} does not combine with "
                          f"{prefix}quantiles or {prefix}crossq (their targets use every critic)")
    if obj.sale and obj.n_step > 1:
        raise ConfigError(f"{prefix}sale=true needs {prefix}n_step=1 (its encoder learns "
                          f"one-step dynamics); got n_step={obj.n_step}")
    if obj.drop_quantiles and obj.drop_quantiles >= obj.quantiles:
        raise ConfigError(f"{prefix}drop_quantiles={obj.drop_quantiles} is out of range: must be "
                          f"< {prefix}quantiles={obj.quantiles} (a distributional critic keeps "
                          f"at least one quantile)")
    if obj.crossq and obj.eval_actor == "target":
        raise ConfigError(f"{prefix}eval_actor=target needs the target actor, and "
                          f"{prefix}crossq=true has no target networks: set "
                          f"{prefix}eval_actor=online")


def load_run_config(run_dir) -> Config:
    """The typed config a run was started with (``<run_dir>/.hydra/config.yaml``), read with
    OmegaConf (plain YAML, nothing executed) and checked like a fresh one."""
    from pathlib import Path

    from omegaconf import OmegaConf

    path = Path(run_dir) / ".hydra" / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run dir: {path} does not exist")
    loaded = OmegaConf.load(path)
    name = OmegaConf.select(loaded, "algo.name")
    if name not in ALGO_SCHEMAS:
        raise ConfigError(f"{path}: algo.name={name!r} is not one of {', '.join(ALGO_SCHEMAS)}")
    schema = OmegaConf.structured(Config)
    schema.algo = OmegaConf.structured(ALGO_SCHEMAS[name])
    typed = OmegaConf.to_object(OmegaConf.merge(schema, loaded))
    validate(typed)
    return typed
