"""One-line refusals: what a user typed wrong, named by key, value and what is allowed.

``explain`` turns an error Hydra or OmegaConf raised while composing into one line; the
``check_*`` functions refuse what Hydra would compose without complaint (a key the schema lacks
added with ``+``, a mandatory value left unset, ``preset=null``, a preset tuned for another
algorithm, an env id on an env group that names another env). ``composition.compose`` runs
them all; each raises ``ConfigError``.

Nothing here imports TensorFlow.
"""
from __future__ import annotations

import dataclasses
import re
import typing

from omegaconf import DictConfig, OmegaConf

from rl_runner.config import ALGORITHMS, Config, ConfigError
from rl_runner.keys import field_doc, key_type, not_a_key, schema_fields, schemas_at, takes_list

GRAMMAR_URL = "https://hydra.cc/docs/advanced/override_grammar/basic/"
# Hydra plugin configs that the shipped configs use, and the extra that installs each plugin.
PLUGIN_EXTRAS = {"hydra/launcher/joblib": "sweep", "hydra/sweeper/optuna": "sweep",
                 "hydra/launcher/submitit_slurm": "cluster", "hydra/launcher/ray": "cluster"}


def _option_list(options) -> str:
    return ", ".join(o for o in options if not o.endswith("_schema"))


def override_key(override: str) -> str:
    """The dotted key of an override (``+algo.lr=1`` -> ``algo.lr``)."""
    return override.partition("=")[0].lstrip("+~").split("@")[0]


def _find_override(overrides: list[str], key: str) -> str | None:
    for override in overrides:
        if override_key(override) == key:
            return override
    return None


def _type_word(name: str) -> str:
    return {"Integer": "an integer", "Float": "a number", "Boolean": "true or false",
            "String": "a string"}.get(name, name)


def _doc(key: str, overrides: list[str]) -> str:
    """`` (<the key's doc>)``, from the schema of the algorithm the overrides choose."""
    chosen = _find_override(overrides, "algo")
    doc = field_doc(key, chosen.partition("=")[2] if chosen else None)
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
        if missing in PLUGIN_EXTRAS:  # a shipped config on a plugin not installed
            chosen = next((o for o in overrides
                           if override_key(o) in (group, "hparams_search")), None)
            return (f"{chosen or missing} needs Hydra's {option} plugin ({group}={option}), "
                    f"which is not installed: pip install '.[{PLUGIN_EXTRAS[missing]}]' in the "
                    "rl_runner checkout (make install has it)")
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
        written = (f"; a list value is written {key}=[{value}]"
                   if takes_list(key_type(key)) and "[" not in value else "")
        return f"{key}={value}: a comma list is a sweep (rl-train -m {key}={value}){written}"
    match = re.search(r"Error merging override (.+)", text)
    if match:
        override = match.group(1).strip()
        key = override_key(override)
        kind = re.search(r"could not be converted to (\w+)", text)
        if kind:
            return (f"{override}: {key} takes {_type_word(kind.group(1))}{_doc(key, overrides)}")
        if "is not a valid bool" in text:
            return f"{override}: {key} takes true or false{_doc(key, overrides)}"
        if "is not a ListConfig" in text:
            return f"{override}: {key} takes a list, e.g. {key}=[64,64]{_doc(key, overrides)}"
        reason = [ln for ln in text.strip().splitlines()[1:] if ln.strip()
                  and not ln.startswith(("full_key", "object_type", "    "))]
        return f"{override}: {reason[0] if reason else first}{_doc(key, overrides)}"
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
    if typing.get_origin(key_type(key)) is dict:  # env.kwargs={g:9.81}: Hydra's struct mode
        given = _find_override(overrides, key)
        value = given.partition("=")[2] if given else "{...}"
        return (f"{key}={value}: {key} starts empty and takes new entries only with a plus: "
                f"++{key}={value} (or one by one: +{key}.<name>=<value>)")
    parent = key.rpartition(".")[0]
    if typing.get_origin(key_type(parent)) is dict:  # env.kwargs: entries of the user's own
        value = _find_override(overrides, key)
        return (f"{key} is not in {parent} yet: add an entry with +{key}="
                f"{value.partition('=')[2] if value else '...'}{_doc(parent, overrides)}")
    where = parent or "the config"
    schemas = schemas_at(parent.split(".")) if parent else [Config]
    if parent == "algo":
        choice = _find_override(overrides, "algo")
        name = choice.partition("=")[2] if choice else "reinforce"
        schemas = [ALGORITHMS[name].schema if name in ALGORITHMS else schemas[0]]
        where = f"algo={name}"
    return not_a_key(key, where, schemas[0] if schemas else None)


def check_keys(cfg: DictConfig) -> None:
    """Refuse keys the schema lacks (``+algo.lrr=1`` is added by Hydra whatever the schema)."""
    def walk(node, schema, prefix: str):
        known = schema_fields(schema)
        for key in node.keys():
            path = f"{prefix}{key}"
            if key not in known:
                where = prefix.rstrip(".") or "the config"
                if prefix == "algo.":
                    where = f"algo={node.get('name')}"
                raise ConfigError(not_a_key(path, where, schema))
            hint = known[key][0]
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


def repeated(overrides: list[str]) -> list[str]:
    """Keys given twice with different values (Hydra takes the last one): a warning each, since
    a script's base overrides followed by the user's own is a way to call rl-train."""
    seen: dict[str, str] = {}
    lines = []
    for override in overrides:
        key = override_key(override)
        if key in seen and seen[key] != override:
            lines.append(f"{key} is given twice ({seen[key]}, then {override}): the last one "
                         "is used")
        seen[key] = override
    return lines


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


def check_preset(preset: str, algo: str | None, env: str | None = None,
                 envs: list[str] = ()) -> None:
    """A preset is named ``<algo>_<env>``: applied to another algorithm, it would tune the wrong
    one (``algo=ddpg preset=td3_pusher`` is no TD3); applied to another env group, it would put
    one env's tuning on another without a word."""
    tuned_for, _, tuned_env = preset.partition("_")
    if tuned_for in ALGORITHMS and algo is not None and tuned_for != algo:
        raise ConfigError(f"preset={preset} is tuned for algo={tuned_for}, not algo={algo}: "
                          f"add algo={tuned_for}, or choose another preset")
    if tuned_env in envs and env is not None and tuned_env != env:
        raise ConfigError(f"preset={preset} is tuned for env={tuned_env}, not env={env}: "
                          f"add env={tuned_env}, or choose another preset")
