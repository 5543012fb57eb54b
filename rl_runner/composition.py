"""Command-line overrides -> a checked config, before Hydra runs anything or writes a dir.

``rl-train`` composes its config here first, through Hydra's compose API on the configs shipped
in ``rl_runner/conf``, so that every mistake a user can type (an unknown key or group option, a
wrong type, a missing value, override syntax, a preset that does not exist) becomes one
``ConfigError`` line that names the key, the value and what is allowed, before a run dir exists
(the lines are ``checks.py``'s). It also makes what people type work: integral floats (``1e6``)
for integer keys.

Nothing here imports TensorFlow.
"""
from __future__ import annotations

import contextlib
import re
import typing
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rl_runner import checks
from rl_runner.config import ConfigError
from rl_runner.keys import key_type, takes_integers

CONFIG_MODULE = "rl_runner.conf"
CONFIG_NAME = "config"
JOB_NAME = "train"  # hydra.job.name, as rl-train (rl_runner/train.py) has it: train.log
CONFIG_DIR = Path(__file__).resolve().parent / "conf"

_FLOAT = re.compile(r"(?<![\w.])[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.])")


def _integral(match: re.Match) -> str:
    text = match.group(0)
    if not any(c in text for c in ".eE"):
        return text
    value = float(text)
    return str(int(value)) if value.is_integer() and abs(value) < 2**63 else text


def normalise(overrides: list[str]) -> list[str]:
    """Write integral floats as integers for integer keys (``algo.buffer_size=1e6`` ->
    ``1000000``, in sweeps too); other values are left for the schema to accept or refuse."""
    out = []
    for override in overrides:
        key, sep, value = override.partition("=")
        bare = key.lstrip("+~").split("@")[0]
        if sep and not bare.startswith("hydra") and takes_integers(key_type(bare)):
            value = _FLOAT.sub(_integral, value)
        out.append(f"{key}{sep}{value}")
    return out


def applied_preset(choices, loader) -> str | None:
    """The preset that was merged: the ``preset`` choice when such a config exists."""
    name = choices.get("preset") if choices is not None else None
    return name if name and name in loader.get_group_options("preset") else None


class Composed(typing.NamedTuple):
    cfg: DictConfig
    preset: str | None  # the preset that was merged, if any


@contextlib.contextmanager
def session():
    """Hydra's global state for composing (and running a job, from the Python API) on the
    configs shipped in ``rl_runner/conf``; yields the config loader. Cleared on entry and exit,
    so a process can compose and train any number of times."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from rl_runner.config import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(CONFIG_MODULE, job_name=JOB_NAME, version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


def compose(overrides: list[str], config_name: str = CONFIG_NAME,
            hydra_config: bool = True) -> Composed:
    """The config ``rl-train <overrides>`` runs with (the ``hydra`` node included), checked:
    any composition error becomes a one-line ``ConfigError``."""
    with session() as loader:
        return compose_in(loader, overrides, config_name, hydra_config)


def compose_in(loader, overrides: list[str], config_name: str = CONFIG_NAME,
               hydra_config: bool = True) -> Composed:
    """``compose`` inside a ``session()``."""
    from hydra import compose as hydra_compose

    try:
        checks.check_groups(overrides, loader)
        cfg = hydra_compose(config_name=config_name, overrides=overrides,
                            return_hydra_config=hydra_config)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - Hydra/OmegaConf: one line for the user
        if _full_errors():
            raise
        preset = re.search(r"In 'preset/(\w+)'", str(exc))
        if preset and hydra_config:  # a preset for another algorithm has keys this one lacks
            _check_preset_without_it(loader, overrides, config_name, preset.group(1))
        raise ConfigError(checks.explain(exc, overrides, loader)) from None
    if hydra_config:
        checks.check_algo_name(cfg.hydra.runtime.choices.get("algo"),
                               OmegaConf.select(cfg, "algo.name"))
    checks.check_missing(cfg)
    checks.check_keys(cfg)
    preset = applied_preset(cfg.hydra.runtime.choices, loader) if hydra_config else None
    if preset is not None:
        choices = cfg.hydra.runtime.choices
        checks.check_preset(preset, choices.get("algo"), choices.get("env"),
                            loader.get_group_options("env"))
    if hydra_config:
        checks.check_env_id(cfg.hydra.runtime.choices.get("env"),
                            OmegaConf.select(cfg, "env.id"), loader)
    return Composed(cfg, preset)


def _check_preset_without_it(loader, overrides: list[str], config_name: str,
                             preset: str) -> None:
    """``check_preset``'s algorithm check, with the algorithm the overrides choose without the
    preset."""
    others = [o for o in overrides if checks.override_key(o) != "preset"]
    try:
        cfg = compose_in(loader, [*others, "~preset"], config_name).cfg
    except ConfigError:
        return
    checks.check_preset(preset, cfg.hydra.runtime.choices.get("algo"))


def _full_errors() -> bool:
    import os

    from rl_runner.console import verbose

    return os.environ.get("HYDRA_FULL_ERROR") == "1" or verbose()
