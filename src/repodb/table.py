"""Schemaless tables: a table by name, with the types of its columns given where they are used.

Why: not every table deserves a schema class. A report reads three columns
of a log table, a migration copies rows, a join table of a many-to-many
holds two keys: Ecto queries ``from u in "users"`` with explicit selects,
and inserts maps into a table by name. ``table("users")`` is that source.
Its columns are typed where you say: ``users.col("age", int)`` is a
``Column[int]`` for the type checker and a bound ``int`` for the codecs;
columns declared in ``table("users", age=int | None)`` are typed when read
as attributes (``users.age``) too, and ``insert_all`` takes rows only for
declared columns, so every value is encoded by its type.

A query of a table has no records to return: it must ``select`` its
columns (a value, a tuple or a dict), which the query says when it is
compiled otherwise. ``where(field=...)`` keywords, preloads and
association joins need a schema too.

Example::

    users = table("users", id=int, name=str, age=int | None)
    adults = query(users).where(users.col("age", int) >= 18).select(users.col("name", str))
    # Query[str]: SELECT "u0"."name" FROM "users" AS "u0" WHERE ("u0"."age" >= ?)
    insert_all(users, [{"name": "Ada", "age": 36}])
"""

from __future__ import annotations

import keyword
import types
from collections.abc import Mapping
from typing import Any, TypeVar

from .expr import Column
from .schema import Col, Schema, schema_info
from .types import DbType, to_dbtype

__all__ = ["Table", "table"]

T = TypeVar("T")


class Table:
    """A table named without a schema class; build it with ``table(...)``.

    Its own attributes start with ``_`` (and ``col``), so that a column's
    name reads as an attribute; ``users["col"]`` reaches any column.
    """

    __slots__ = ("_columns", "_name", "_prefix", "_record")

    def __init__(self, name: str, prefix: str | None, columns: Mapping[str, Any]) -> None:
        self._name = name
        self._prefix = prefix
        self._columns = {column: to_dbtype(annotation) for column, annotation in columns.items()}
        # The binding of the table's columns, and the record class insert_all writes with.
        self._record = _record_class(name, prefix, tuple(columns.items()))

    def col(self, name: str, type_: type[T] | DbType[T]) -> Column[T]:
        """The column ``name``, holding values of ``type_``: ``users.col("age", int)``."""
        dbtype = type_ if isinstance(type_, DbType) else to_dbtype(type_)
        return Column(self._record, name, name if name in self._columns else None, dbtype)

    def __getattr__(self, name: str) -> Column[Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Column[Any]:
        """The column ``name``: typed when the table declares it, else untyped."""
        declared = self._columns.get(name)
        return Column(self._record, name, name if declared is not None else None, declared)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Table) and other._record is self._record

    def __hash__(self) -> int:
        return hash(self._record)

    def __repr__(self) -> str:
        shown = ", ".join(f"{c}={t!r}" for c, t in self._columns.items())
        prefix = f", prefix={self._prefix!r}" if self._prefix else ""
        return f"table({self._name!r}{prefix}{', ' if shown else ''}{shown})"


def table(name: str, /, *, prefix: str | None = None, **columns: Any) -> Table:
    """The table ``name`` (in the PostgreSQL schema ``prefix``), with typed ``columns``.

    Options:
        prefix: the table's schema (PostgreSQL), as a Schema's ``prefix``
            (so a column called ``prefix`` is reached with ``col``).
        columns: column name -> Python type (``int``, ``str | None``,
            ``datetime``...), as a schema field's ``Col[...]`` holds it.
            Reading ``users.age`` gives a column of that type; ``insert_all``
            writes only declared columns, whose names must then be Python
            identifiers (else declare a Schema with ``field(source=...)``).

    Example::

        logs = table("logs", level=str, at=datetime)
        recent = query(logs).where(logs.at > since).select({"level": logs.level})
    """
    return Table(name, prefix, columns)


def record_class(target: Table) -> type[Schema]:
    """The schema class ``insert_all`` writes a table's rows with (for the package's own use)."""
    for column in target._columns:
        if not column.isidentifier() or keyword.iskeyword(column) or column in _RESERVED:
            raise ValueError(
                f"insert_all into {target!r}: the column {column!r} is no Python identifier;"
                " declare a Schema with field(source=...) to write it"
            )
    return target._record


def is_table_record(schema: type[Schema]) -> bool:
    """Whether ``schema`` is the record class of a ``table(...)`` (its rows are dicts)."""
    return schema in _TABLES.values()


_RESERVED = frozenset({"replace"})
# ``Col`` subscripted with types known at run time only.
_COL: Any = Col
_TABLES: dict[tuple[object, ...], type[Schema]] = {}
# Tables made in a loop (one per tenant, per call) share their classes; past
# this many, new ones are no longer kept, each then carrying its own.
_MAX_TABLES = 1024


def _record_class(
    name: str, prefix: str | None, columns: tuple[tuple[str, Any], ...]
) -> type[Schema]:
    """A schema class of the declared columns, one per distinct declaration.

    Its fields have no defaults: a column a row leaves out gets the
    database's default, never a NULL the class would make up.
    """
    key: tuple[object, ...] = (name, prefix, columns)
    try:
        found = _TABLES.get(key)
    except TypeError:  # an annotation that does not hash: a class of its own
        found, key = None, ()
    if found is not None:
        return found
    annotations = {c: _COL[t] for c, t in columns if _usable(c)}

    def body(namespace: dict[str, Any]) -> None:
        namespace["__annotations__"] = annotations
        namespace["__module__"] = __name__

    label = f"{prefix}.{name}" if prefix else name
    cls = types.new_class(f"table({label!r})", (Schema,), {"table": name, "prefix": prefix}, body)
    schema_info(cls)  # the declared types resolve now, not at the first insert
    if key and len(_TABLES) < _MAX_TABLES:
        _TABLES[key] = cls
    return cls


def _usable(column: str) -> bool:
    return column.isidentifier() and not keyword.iskeyword(column) and column not in _RESERVED
