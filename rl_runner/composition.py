"""Command-line overrides -> a checked config, before Hydra runs anything or writes a dir.

``rl-train`` composes its config here first, through Hydra's compose API on the configs shipped
in ``rl_runner/conf``, so that every mistake a user can type (an unknown key or group option, a
wrong type, a missing value, override syntax, a preset that does not exist) becomes one
``ConfigError`` line that names the key, the value and what is allowed, before a run dir exists.
It also makes what people type work: integral floats (``1e6``) for integer keys.

Nothing here imports TensorFlow.
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rl_runner.config import ALGORITHMS, Config, ConfigError

CONFIG_MODULE = "rl_runner.conf"
CONFIG_NAME = "config"
JOB_NAME = "train"  # hydra.job.name, as rl-train (rl_runner/train.py) has it: train.log
CONFIG_DIR = Path(__file__).resolve().parent / "conf"
GRAMMAR_URL = "https://hydra.cc/docs/advanced/override_grammar/basic/"


# --------------------------------------------------------------------------------------------
# The schema, by dotted key
# --------------------------------------------------------------------------------------------
def _fields(schema) -> dict[str, tuple[Any, dataclasses.Field]]:
    hints = typing.get_type_hints(schema)
    return {f.name: (hints[f.name], f) for f in dataclasses.fields(schema)}


def _schemas_at(path: list[str]) -> list:
    """The dataclass schemas a dotted key's parent may have (``algo``: every algorithm's)."""
    schemas = [Config]
    for part in path:
        found = []
        for schema in schemas:
            if part == "algo" and schema is Config:
                found.extend(dict.fromkeys(a.schema for a in ALGORITHMS.values()))
                continue
            hint = _fields(schema).get(part, (None,))[0]
            if dataclasses.is_dataclass(hint):
                found.append(hint)
        schemas = found
    return schemas


def _field(key: str):
    *parents, name = key.split(".")
    for schema in _schemas_at(parents):
        if name in _fields(schema):
            return _fields(schema)[name]
    return None


def field_doc(key: str) -> str:
    """The one-line documentation of a dotted config key ('' when it has none)."""
    found = _field(key)
    return found[1].metadata.get("doc", "") if found else ""


def key_type(key: str):
    """The annotated type of a dotted config key, or None (not in the schema, or Any)."""
    found = _field(key)
    return found[0] if found else None


def _takes_integers(hint) -> bool:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if hint is int:
        return True
    if typing.get_origin(hint) in (list, typing.Union) or type(hint).__name__ == "UnionType":
        return any(a is int or _takes_integers(a) for a in args)
    return False


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
        if sep and not bare.startswith("hydra") and _takes_integers(key_type(bare)):
            value = _FLOAT.sub(_integral, value)
        out.append(f"{key}{sep}{value}")
    return out


# --------------------------------------------------------------------------------------------
# Composition with one-line errors
# --------------------------------------------------------------------------------------------
def _option_list(options) -> str:
    return ", ".join(o for o in options if not o.endswith("_schema"))


def _override_key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~").split("@")[0]


def _find_override(overrides: list[str], key: str) -> str | None:
    for override in overrides:
        if _override_key(override) == key:
            return override
    return None


def _type_word(name: str) -> str:
    return {"Integer": "an integer", "Float": "a number", "Boolean": "true or false",
            "String": "a string"}.get(name, name)


def _doc(key: str) -> str:
    doc = field_doc(key)
    return f" ({doc})" if doc else ""


def explain(exc: Exception, overrides: list[str], loader=None) -> str:
    """One line for an error Hydra or OmegaConf raised while composing ``overrides``."""
    from hydra.errors import MissingConfigException, OverrideParseException

    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    while cause is not None:  # "Error merging override ..." keeps the reason in its cause
        text += "\n" + str(cause)
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, OverrideParseException):
        bad = _unparsable(overrides)
        return (f"cannot parse {bad!r}: {first} (quote values with special characters; "
                f"syntax: {GRAMMAR_URL})")
    if isinstance(exc, MissingConfigException):
        missing = getattr(exc, "missing_cfg_file", None) or ""
        group, _, option = missing.rpartition("/")
        options = list(getattr(exc, "options", None) or [])
        if group and not options and loader is not None:
            options = loader.get_group_options(group)
        if group:
            return (f"{group}={option} is not an option of {group}: choose one of "
                    f"{_option_list(options)}")
        return first
    match = re.search(r"Could not override '([^']+)'", text)
    if match:
        return _unknown_key(match.group(1), overrides)
    match = re.search(r"Ambiguous value for argument '([^=']+)=([^']*)'", text)
    if match:  # a comma list outside a multirun
        key, value = match.groups()
        hint = key_type(key)
        takes_list = typing.get_origin(hint) is list or any(
            typing.get_origin(a) is list for a in typing.get_args(hint))
        written = (f"; a list value is written {key}=[{value}]"
                   if takes_list and "[" not in value else "")
        return f"{key}={value}: a comma list is a sweep (rl-train -m {key}={value}){written}"
    match = re.search(r"Error merging override (.+)", text)
    if match:
        override = match.group(1).strip()
        key = _override_key(override)
        kind = re.search(r"could not be converted to (\w+)", text)
        if kind:
            return (f"{override}: {key} takes {_type_word(kind.group(1))}{_doc(key)}")
        if "is not a valid bool" in text:
            return f"{override}: {key} takes true or false{_doc(key)}"
        if "is not a ListConfig" in text:
            return f"{override}: {key} takes a list, e.g. {key}=[64,64]{_doc(key)}"
        reason = [ln for ln in text.strip().splitlines()[1:] if ln.strip()
                  and not ln.startswith(("full_key", "object_type", "    "))]
        return f"{override}: {reason[0] if reason else first}{_doc(key)}"
    match = re.search(r"Could not append to config. An item is already at '([^']+)'", text)
    if match:
        key = match.group(1)
        return f"+{key}: {key} already exists; set it without the +: {key}=..."
    return first


def _unparsable(overrides: list[str]) -> str:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_override(override)
        except Exception:  # noqa: BLE001 - the one the grammar refuses
            return override
    return " ".join(overrides)


def _unknown_key(key: str, overrides: list[str]) -> str:
    parent = key.rpartition(".")[0]
    where = parent or "the config"
    schemas = _schemas_at(parent.split(".")) if parent else [Config]
    if parent == "algo":
        choice = _find_override(overrides, "algo")
        name = choice.partition("=")[2] if choice else "reinforce"
        schemas = [ALGORITHMS[name].schema if name in ALGORITHMS else schemas[0]]
        where = f"algo={name}"
    return _not_a_key(key, where, schemas[0] if schemas else None)


def _not_a_key(key: str, where: str, schema) -> str:
    names = ", ".join(f.name for f in dataclasses.fields(schema)) if schema else ""
    return f"{key} is not a key of {where}" + (f" ({where} has {names})" if names else "")


def check_keys(cfg: DictConfig) -> None:
    """Refuse keys the schema lacks (``+algo.lrr=1`` is added by Hydra whatever the schema)."""
    def walk(node, schema, prefix: str):
        fields = _fields(schema)
        for key in node.keys():
            path = f"{prefix}{key}"
            if key not in fields:
                where = prefix.rstrip(".") or "the config"
                if prefix == "algo.":
                    where = f"algo={node.get('name')}"
                raise ConfigError(_not_a_key(path, where, schema))
            hint = fields[key][0]
            child = node[key] if not OmegaConf.is_missing(node, key) else None
            if key == "algo" and schema is Config and isinstance(child, DictConfig):
                algo = ALGORITHMS.get(child.get("name"))
                if algo is not None:
                    walk(child, algo.schema, "algo.")
            elif dataclasses.is_dataclass(hint) and isinstance(child, DictConfig):
                walk(child, hint, f"{path}.")

    walk(OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "hydra"]), Config, "")


def check_missing(cfg: DictConfig) -> None:
    """A mandatory value left unset (``env=gym`` without ``env.id``)."""
    run_keys = OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "hydra"])
    for key in sorted(OmegaConf.missing_keys(run_keys)):
        hint = " (any gymnasium id, e.g. env.id=Pendulum-v1)" if key == "env.id" else ""
        raise ConfigError(f"{key} is required and has no value: set it on the command line, "
                          f"{key}=...{hint}")


def check_groups(overrides: list[str], loader) -> None:
    """Group choices Hydra would take silently or fail on with a traceback."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    groups = set(loader.list_groups(""))
    for parsed in OverridesParser.create().parse_overrides(overrides):
        group = parsed.key_or_group
        if group not in groups or parsed.is_delete() or parsed.is_sweep_override():
            continue
        value = parsed.value()
        options = loader.get_group_options(group)
        if value is None:
            extra = "; ~preset trains without a preset" if group == "preset" else ""
            raise ConfigError(f"{group}=null is not an option of {group}: choose one of "
                              f"{_option_list(options)}{extra}")
        if group == "preset" and isinstance(value, str) and value not in options:
            raise ConfigError(f"preset={value} does not exist: choose one of "
                              f"{_option_list(options)}, or ~preset for none")


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
        check_groups(overrides, loader)
        cfg = hydra_compose(config_name=config_name, overrides=overrides,
                            return_hydra_config=hydra_config)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - Hydra/OmegaConf: one line for the user
        if _full_errors():
            raise
        raise ConfigError(explain(exc, overrides, loader)) from None
    if hydra_config:
        check_algo_name(cfg.hydra.runtime.choices.get("algo"), OmegaConf.select(cfg, "algo.name"))
    check_missing(cfg)
    check_keys(cfg)
    preset = applied_preset(cfg.hydra.runtime.choices, loader) if hydra_config else None
    if preset is not None:
        check_preset_algo(preset, cfg.hydra.runtime.choices.get("algo"))
    if hydra_config:
        check_env_id(cfg.hydra.runtime.choices.get("env"), OmegaConf.select(cfg, "env.id"),
                     loader)
    return Composed(cfg, preset)


def check_algo_name(group: str | None, name: str | None) -> None:
    """``algo=<name>`` chooses the algorithm; ``algo.name`` is what it wrote, not a second
    choice (``algo=ddpg algo.name=td3`` would be DDPG's keys under TD3's name)."""
    if name in ALGORITHMS and (group not in ALGORITHMS or name == group):
        return  # an algo group of one's own (hydra.searchpath) may name any algorithm
    what = f"does not match algo={group}" if group in ALGORITHMS else "is not an algorithm"
    raise ConfigError(f"algo.name={name} {what}: the algorithm is chosen with algo=<name> "
                      f"({', '.join(ALGORITHMS)}) and algo.name follows it")


def check_env_id(group: str | None, env_id: str | None, loader) -> None:
    """``env=cartpole`` and ``env=pusher`` name one env each (and pick its presets): another id
    on them would train that env with CartPole's or Pusher's preset. Any id is ``env=gym``'s."""
    def group_id(option: str):
        found = loader.repository.load_config(f"env/{option}")
        return found.config.get("id") if found is not None else None

    fixed = group_id(group) if group else None
    if env_id is None or fixed in (None, "???") or env_id == fixed:
        return
    other = [g for g in loader.get_group_options("env") if group_id(g) == env_id]
    use = f"env={other[0]}" if other else f"env=gym env.id={env_id}"
    raise ConfigError(f"env.id={env_id} on env={group}, which is {fixed}: use {use} (env=gym "
                      "takes any id)")


def check_preset_algo(preset: str, algo: str | None) -> None:
    """A preset is named ``<algo>_<env>``: applied to another algorithm, it would tune the wrong
    one (``algo=ddpg preset=td3_pusher`` is no TD3)."""
    tuned_for = preset.split("_")[0]
    if tuned_for in ALGORITHMS and algo is not None and tuned_for != algo:
        raise ConfigError(f"preset={preset} is tuned for algo={tuned_for}, not algo={algo}: "
                          f"run algo={tuned_for} (its preset comes with it), or choose "
                          f"another preset")


def _full_errors() -> bool:
    import os

    from rl_runner.console import verbose

    return os.environ.get("HYDRA_FULL_ERROR") == "1" or verbose()
