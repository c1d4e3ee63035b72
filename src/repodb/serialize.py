"""Records as JSON-safe dicts, with their loaded associations, using the standard library only.

Why: a web handler returns records as JSON. ``dataclasses.asdict`` drops
preloaded associations (they are not dataclass fields) and leaves
datetimes, Decimals and UUIDs that ``json.dumps`` refuses. ``to_dict``
writes each field in the JSON form embedded records already use: dates and
datetimes as ISO 8601 text (datetimes in UTC), Decimal and UUID as text,
bytes as base64 text, a timedelta as microseconds, an Enum as its member's
name, embedded records as objects. Associations appear only when loaded;
one that is not loaded is left out, never shown as empty. Fields declared
``redact=True`` are left out too: they never show in a repr or a log either.

With pydantic, ``pydantic.TypeAdapter(User)`` does the same job with
pydantic's own JSON forms (see docs/pydantic.md).

Example::

    user = repo.get(User, 1, preload=["posts"])
    json.dumps(to_dict(user))                      # {"id": 1, ..., "posts": [...]}
    json.dumps(to_dict(user, include=[]))          # the columns only
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._jsonform import dumper
from .schema import (
    NOT_LOADED,
    Embedded,
    Schema,
    dump_embedded,
    field_annotations,
    field_options,
    is_loaded,
    schema_info,
)
from .types import DbType, Kind, to_dbtype

__all__ = ["Include", "is_loaded", "to_dict"]

Include = Sequence[str] | Mapping[str, "Include | None"]
"""Associations to write: names (``["posts"]``), or names to what to write of
each (``{"posts": ["comments"]}``); None under a name: everything loaded there."""


def to_dict(record: Schema | Embedded, *, include: Include | None = None) -> dict[str, Any]:
    """``record`` as a dict that ``json.dumps`` accepts, with its loaded associations.

    Options:
        include: which associations to write. None (the default): every
            loaded one, and theirs, all the way down. Names or a mapping
            (see ``Include``): exactly those, each of which must be loaded
            (``ValueError`` otherwise, so a response never silently misses
            what it promises). ``[]``: the columns only.

    Example::

        to_dict(user, include={"posts": ["comments"]})
    """
    if isinstance(record, Embedded):
        return dump_embedded(record)
    if not isinstance(record, Schema):
        raise TypeError(f"to_dict takes a schema or embedded record, not {type(record).__name__}")
    cls = type(record)
    values = record.__dict__
    out = {name: dump(values[name]) for name, dump in _dumpers(cls)}
    associations = schema_info(cls).associations
    if include is None:
        for name in associations:
            value = values.get(name, NOT_LOADED)
            if value is not NOT_LOADED:
                out[name] = _related(value, None)
        return out
    wanted = include.items() if isinstance(include, Mapping) else ((n, []) for n in include)
    for name, inner in wanted:
        if not is_loaded(record, name):
            raise ValueError(
                f"{cls.__name__}.{name} is not loaded: preload it, or leave it out of include="
            )
        out[name] = _related(values[name], inner)
    return out


def _related(value: Any, include: Include | None) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [to_dict(item, include=include) for item in value]
    return to_dict(value, include=include)


_DUMPERS: dict[type[Schema], tuple[tuple[str, Callable[[Any], Any]], ...]] = {}


def _dumpers(cls: type[Schema]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Each written field of ``cls`` and the function giving its JSON form (computed once)."""
    found = _DUMPERS.get(cls)
    if found is None:
        found = _DUMPERS[cls] = _field_dumpers(cls)
    return found


def _field_dumpers(cls: type[Schema]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    info = schema_info(cls)
    stored = {f.name: f for f in info.fields}
    hints = field_annotations(cls)
    found = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field_options(f).redact:
            continue
        column = stored.get(f.name)
        t = to_dbtype(hints[f.name]) if column is None else column.dbtype
        found.append((f.name, _dumper(t)))
    return tuple(found)


def _dumper(t: DbType[Any]) -> Callable[[Any], Any]:
    """The JSON form of a column of type ``t``; of an embedded record's, its declared type's."""
    if t.kind is Kind.OPTIONAL and t.item is not None and t.item.kind is Kind.JSON:
        inner = _dumper(t.item)
        return lambda v: None if v is None else inner(v)
    return dumper(t.item if t.kind is Kind.JSON and t.item is not None else t)
