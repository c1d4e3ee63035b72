"""What every PostgreSQL driver shares, whatever its client library (no I/O, no import of one).

Why a module of its own: the psycopg drivers (``postgresql_async.py`` and
its generated twin) and the asyncpg driver (``asyncpg_async.py``) must give
the same values, the same errors and the same transactions, and an
application that installs only one of the libraries must not need the other.
So the checks on values going in, the conversions of values coming out, the
statement timeout, ``BEGIN``'s options and the building of a repodb error from
the server's fields are written here once; each driver adds only how its
library names those fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

from .._codec import (
    Builder,
    Codecs,
    ColumnBuilder,
    ColumnConvert,
    Convert,
    enum_by_name,
    enum_from_name,
    json_text,
)
from ..dialect import POSTGRESQL
from ..errors import EncodeError, Error, QueryError, lookup_sqlstate
from ..types import DbType, Kind
from . import TransactionOptions

__all__ = [
    "DECODE",
    "DECODE_COLUMN",
    "ENCODE",
    "MAX_PARAMS",
    "READBACK",
    "BigintList",
    "JsonbText",
    "aborted_commit",
    "begin_sql",
    "server_error",
    "timeout_ms",
    "too_many_params",
]


def _encode_str(t: DbType[Any], c: Codecs) -> Convert:
    def encode(v: str) -> str:
        if "\x00" in v:
            raise EncodeError("PostgreSQL text cannot contain NUL (\\x00) characters")
        return v

    return encode


class JsonbText(str):
    """JSON text bound as ``jsonb``: the text the codec checked, not a second dump of the value."""

    __slots__ = ()


# An escaped NUL in JSON text: \u0000 after an even number of backslashes.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _encode_json(t: DbType[Any], c: Codecs) -> Convert:
    def encode(v: object) -> JsonbText:
        text = json_text(v)
        if "\\u0000" in text and _JSON_NUL.search(text):
            raise EncodeError("PostgreSQL jsonb cannot contain NUL (\\u0000) characters")
        return JsonbText(text)

    return encode


class BigintList(list[Any]):
    """A list of ints bound as ``bigint[]``, the type of repodb's (64-bit) ``int`` arrays.

    Why: psycopg types a list of ints by its values (``smallint[]`` for
    small ones), and PostgreSQL has no operator between ``smallint[]`` and
    a ``bigint[]`` column. Every other kind already binds as its declared
    type (text as an untyped literal, which the column's type resolves).
    """

    __slots__ = ()


def _encode_array(t: DbType[Any], c: Codecs) -> Convert | None:
    assert t.item is not None
    return BigintList if (t.item.item or t.item).kind is Kind.INT else None


def _decode_datetime(t: DbType[Any], c: Codecs) -> Convert:
    from datetime import UTC

    # A ``timestamp`` (without time zone) column is read as UTC, and a
    # ``timestamptz`` in UTC whatever the session's TimeZone (which a
    # transaction pooler does not let repodb set).
    def decode(v: Any) -> Any:
        zone = v.tzinfo
        if zone is UTC:
            return v
        return v.replace(tzinfo=UTC) if zone is None else v.astimezone(UTC)

    return decode


def _decode_datetime_column(t: DbType[Any], c: Codecs) -> ColumnConvert:
    from datetime import UTC

    decode = _decode_datetime(t, c)
    tzinfo = attrgetter("tzinfo")

    # A ``timestamptz`` column read in a UTC session (the usual case) is
    # final: it stays as it is, and its rows too.
    def decode_column(column: Sequence[Any]) -> Sequence[Any]:
        if set(map(tzinfo, column)) != {UTC}:
            return list(map(decode, column))
        return column

    return decode_column


def _decode_array(t: DbType[Any], c: Codecs) -> Convert:
    from .._codec import decoder

    assert t.item is not None
    item = decoder(t.item, c)
    if item is None:
        return list
    known = item
    return lambda v: [known(x) for x in v]


ENCODE: Mapping[Kind, Builder] = {
    Kind.STR: _encode_str,
    Kind.JSON: _encode_json,
    Kind.ENUM: enum_by_name,
    Kind.ARRAY: _encode_array,
}
DECODE: Mapping[Kind, Builder] = {
    Kind.DATETIME: _decode_datetime,
    Kind.ENUM: enum_from_name,
    Kind.ARRAY: _decode_array,
}
# What a write reads back (``Codecs.readback``): a numeric column's scale
# (``numeric(14, 2)`` keeps 1.5 as 1.50), and jsonb's own forms (keys
# sorted, duplicates dropped, 1e+16 printed as an integer).
READBACK = frozenset({Kind.DECIMAL, Kind.JSON})
# Whole result columns converted at once (``Codecs.decode_column``).
DECODE_COLUMN: Mapping[Kind, ColumnBuilder] = {Kind.DATETIME: _decode_datetime_column}

# The protocol counts a statement's parameters in 16 bits.
MAX_PARAMS = POSTGRESQL.max_params

_KEY_COLUMNS = re.compile(r"^Key \((.+?)\)=")


def too_many_params(count: int) -> str:
    """The message refusing a statement with ``count`` parameters, over the protocol's limit."""
    return (
        f"{count} parameters: PostgreSQL takes at most {MAX_PARAMS} in one statement"
        " (split a long IN list, or compare with = ANY of one array parameter)"
    )


def timeout_ms(seconds: float | None) -> str:
    """``statement_timeout``'s value for ``seconds`` (``"0"``: no limit)."""
    return "0" if seconds is None else str(max(1, math.ceil(seconds * 1000)))


def begin_sql(options: TransactionOptions) -> str:
    """The ``BEGIN`` statement for ``options``."""
    sql = "BEGIN"
    if options.isolation is not None:
        sql += " ISOLATION LEVEL " + options.isolation.value
    if options.read_only:
        sql += " READ ONLY"
    if options.deferrable:
        sql += " DEFERRABLE"
    return sql


def aborted_commit() -> Error:
    """The error for a ``COMMIT`` that PostgreSQL answered by rolling back.

    PostgreSQL answers COMMIT of a transaction that an earlier error aborted
    by rolling it back without an error; repodb reports it as a failure.
    """
    return lookup_sqlstate("25P02")(
        "COMMIT rolled the transaction back: a statement in it failed",
        sql="COMMIT",
        sqlstate="25P02",
    )


def server_error(
    cls: type[QueryError],
    message: str,
    sql: str | None,
    *,
    sqlstate: str | None,
    detail: str | None,
    column: str | None,
    constraint: str | None,
    table: str | None,
) -> Error:
    """A repodb error from the fields of a server's error report.

    The columns are the reported column, or else those a unique or foreign
    key violation names in its detail (``Key (a, b)=(...)``).
    """
    columns: tuple[str, ...] = ()
    if column:
        columns = (column,)
    elif detail and (keys := _KEY_COLUMNS.match(detail)):
        columns = tuple(c.strip().strip('"') for c in keys.group(1).split(","))
    return cls(
        message,
        sql=sql,
        sqlstate=sqlstate,
        constraint=constraint,
        table=table,
        columns=columns,
        detail=detail,
    )
