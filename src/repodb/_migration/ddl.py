"""DDL per dialect: the column type names migrations declare, as data.

Why: a migration declares columns with repodb types (``int``, ``optional(str)``),
the same types requests and schemas use, so a table's columns decode the way
its schema expects on every database. The names below are chosen for that:
on SQLite every name gives the storage affinity the codecs rely on (Decimal
is kept as text, so its column must have TEXT affinity, or SQLite would turn
``1.10`` into the float 1.1).
"""

from __future__ import annotations

from typing import Any

from ..dialect import Dialect
from ..types import DbType, Kind

__all__ = ["column_type"]

_TYPE_NAMES: dict[str, dict[Kind, str]] = {
    "sqlite": {
        Kind.BOOL: "BOOLEAN",
        Kind.INT: "INTEGER",
        Kind.FLOAT: "REAL",
        Kind.DECIMAL: "TEXT",
        Kind.STR: "TEXT",
        Kind.BYTES: "BLOB",
        Kind.DATE: "DATE",
        Kind.DATETIME: "DATETIME",
        Kind.TIME: "TIME",
        Kind.TIMEDELTA: "INTEGER",
        Kind.UUID: "TEXT",
        Kind.JSON: "TEXT",
        Kind.ENUM: "TEXT",
        # Arrays and embedded records are JSON text there.
        Kind.ARRAY: "TEXT",
        Kind.RECORD: "TEXT",
    },
    "postgresql": {
        Kind.BOOL: "boolean",
        Kind.INT: "bigint",
        Kind.FLOAT: "double precision",
        Kind.DECIMAL: "numeric",
        Kind.STR: "text",
        Kind.BYTES: "bytea",
        Kind.DATE: "date",
        Kind.DATETIME: "timestamptz",
        Kind.TIME: "time",
        Kind.TIMEDELTA: "interval",
        Kind.UUID: "uuid",
        Kind.JSON: "jsonb",
        Kind.ENUM: "text",
        Kind.RECORD: "jsonb",
    },
}


def column_type(dialect: Dialect, t: DbType[Any]) -> str:
    """The SQL type name of a column holding ``t`` (nullability aside)."""
    if t.kind is Kind.OPTIONAL:
        assert t.item is not None
        return column_type(dialect, t.item)
    names = _TYPE_NAMES[dialect.name]
    if t.kind is Kind.ARRAY and Kind.ARRAY not in names:
        assert t.item is not None
        return column_type(dialect, t.item) + "[]"
    try:
        return names[t.kind]
    except KeyError:
        raise TypeError(f"a {dialect.name} column cannot hold {t!r}") from None
