"""The config schema by dotted key (``algo.actor_lr``): a key's type and one-line doc.

The schema is the dataclasses in ``config.py``; ``algo`` is whichever algorithm's schema
``algo.name`` chooses, so a key under ``algo.`` is looked up in each of them. The overrides'
integer handling and the one-line refusals (``checks.py``) read it from here.

Nothing here imports TensorFlow, Hydra or OmegaConf.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any

from rl_runner.config import ALGORITHMS, Config


def schema_fields(schema) -> dict[str, tuple[Any, dataclasses.Field]]:
    """A schema's fields by name: (annotated type, field)."""
    hints = typing.get_type_hints(schema)
    return {f.name: (hints[f.name], f) for f in dataclasses.fields(schema)}


def schemas_at(path: list[str]) -> list:
    """The dataclass schemas a dotted key's parent may have (``algo``: every algorithm's)."""
    schemas = [Config]
    for part in path:
        found = []
        for schema in schemas:
            if part == "algo" and schema is Config:
                found.extend(dict.fromkeys(a.schema for a in ALGORITHMS.values()))
                continue
            hint = schema_fields(schema).get(part, (None,))[0]
            if dataclasses.is_dataclass(hint):
                found.append(hint)
        schemas = found
    return schemas


def _field(key: str):
    *parents, name = key.split(".")
    for schema in schemas_at(parents):
        if name in schema_fields(schema):
            return schema_fields(schema)[name]
    return None


def field_doc(key: str) -> str:
    """The one-line documentation of a dotted config key ('' when it has none)."""
    found = _field(key)
    return found[1].metadata.get("doc", "") if found else ""


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
