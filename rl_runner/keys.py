"""The config schema by dotted key (``algo.actor_lr``): a key's type and one-line doc.

The schema is the dataclasses in ``config.py``; ``algo`` is whichever algorithm's schema
``algo.name`` chooses, so a key under ``algo.`` is looked up in each of them. The overrides'
integer handling and the one-line refusals (``checks.py``) read it from here.

Nothing here imports TensorFlow, Hydra or OmegaConf.
"""
from __future__ import annotations

import dataclasses
import textwrap
import typing
from typing import Any

from rl_runner.config import ALGORITHMS, Config, describe_range


def schema_fields(schema) -> dict[str, tuple[Any, dataclasses.Field]]:
    """A schema's fields by name: (annotated type, field)."""
    hints = typing.get_type_hints(schema)
    return {f.name: (hints[f.name], f) for f in dataclasses.fields(schema)}


def schemas_at(path: list[str], algo: str | None = None) -> list:
    """The dataclass schemas a dotted key's parent may have (``algo``: the schema of ``algo``
    when given, else every algorithm's)."""
    schemas = [Config]
    for part in path:
        found = []
        for schema in schemas:
            if part == "algo" and schema is Config:
                chosen = [ALGORITHMS[algo]] if algo in ALGORITHMS else ALGORITHMS.values()
                found.extend(dict.fromkeys(a.schema for a in chosen))
                continue
            hint = schema_fields(schema).get(part, (None,))[0]
            if dataclasses.is_dataclass(hint):
                found.append(hint)
        schemas = found
    return schemas


def _field(key: str, algo: str | None = None):
    *parents, name = key.split(".")
    for schema in schemas_at(parents, algo):
        if name in schema_fields(schema):
            return schema_fields(schema)[name]
    return None


def field_doc(key: str, algo: str | None = None) -> str:
    """The one-line documentation of a dotted config key ('' when it has none); an ``algo.``
    key's in the schema of ``algo`` where given."""
    found = _field(key, algo)
    return found[1].metadata.get("doc", "") if found else ""


def allowed(meta: dict) -> str:
    """A field's allowed values in words: its range, its choices, or its items' bound."""
    if meta.get("choices"):
        return " | ".join(meta["choices"])
    if meta.get("item_ge") is not None:
        return f"every item >= {meta['item_ge']}"
    return describe_range(meta)


def annotated(tree: dict, prefix: str = "", indent: str = "",
              algo: str | None = None) -> list[str]:
    """A plain config tree as YAML lines, each key's doc and allowed values beside it
    (``rl-train --help``); ``algo`` is the tree's ``algo.name`` when not given."""
    import yaml

    algo = algo or (tree.get("algo") or {}).get("name")
    lines = []
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            text = f"{indent}{name}:"
            nested = annotated(value, f"{key}.", indent + "  ", algo)
        else:
            shown = yaml.safe_dump(value, default_flow_style=True, width=1000)
            shown = shown.removesuffix("...\n").strip()  # a scalar's end-of-document marker
            text, nested = f"{indent}{name}: {shown}", []
        found = _field(key, algo)
        meta = found[1].metadata if found else {}
        rule = f" ({allowed(meta)})".replace(" ", "\0") if allowed(meta) else ""  # one piece
        doc = meta.get("doc", "") + rule
        if doc:
            column = max(len(text), 34)
            if column > 55:  # a long value: its doc starts on the next line
                lines.append(text)
                text, column = "", 34
            wrapped = textwrap.wrap(doc, 95 - column, break_on_hyphens=False)
            wrapped = [part.replace("\0", " ") for part in wrapped]
            lines.append(f"{text:<{column}} # {wrapped[0]}")
            lines.extend(f"{'':<{column}} #   {more}" for more in wrapped[1:])
        else:
            lines.append(text)
        lines.extend(nested)
    return lines


def key_type(key: str):
    """The annotated type of a dotted config key, or None (not in the schema, or Any)."""
    found = _field(key)
    return found[0] if found else None


def takes_integers(hint) -> bool:
    """Whether a key of this type holds integers (``int``, ``int | None``, ``list[int]``)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if hint is int:
        return True
    if typing.get_origin(hint) in (list, typing.Union) or type(hint).__name__ == "UnionType":
        return any(a is int or takes_integers(a) for a in args)
    return False


def takes_list(hint) -> bool:
    """Whether a key of this type holds a list (``list[int]``, ``list[int] | None``)."""
    return typing.get_origin(hint) is list or any(
        typing.get_origin(a) is list for a in typing.get_args(hint))


def not_a_key(key: str, where: str, schema) -> str:
    """The line for a key the schema lacks, listing the keys ``where`` has."""
    names = ", ".join(f.name for f in dataclasses.fields(schema)) if schema else ""
    return f"{key} is not a key of {where}" + (f" ({where} has {names})" if names else "")
