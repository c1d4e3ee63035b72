"""What the PostgreSQL drivers share: codecs, error mapping, settings (no I/O).

The drivers are ``postgresql_async.py`` and ``postgresql.py``, generated
from it; why psycopg is used as it is, is said there.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

# The drivers import psycopg first, and say how to install it when it is missing.
import psycopg
from psycopg.types.array import ListBinaryDumper, ListDumper

from .._codec import Codecs, ColumnConvert, Convert, enum_by_name, enum_from_name, json_text
from ..dialect import POSTGRESQL
from ..errors import (
    ConnectionLost,
    DataError,
    EncodeError,
    Error,
    ProgrammingError,
    QueryError,
    lookup_sqlstate,
)
from ..types import DbType, Kind
from ..url import DatabaseUrl
from . import ConnectSettings

__all__ = ["CODECS", "connect_options", "map_error"]


def _encode_str(t: DbType[Any], c: Codecs) -> Convert:
    def encode(v: str) -> str:
        if "\x00" in v:
            raise EncodeError("PostgreSQL text cannot contain NUL (\\x00) characters")
        return v

    return encode


class _JsonbText(str):
    """JSON text bound as ``jsonb``: the text the codec checked, not a second dump of the value."""

    __slots__ = ()


class _JsonbTextDumper(psycopg.adapt.Dumper):
    oid = psycopg.postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return obj.encode()


def _encode_json(t: DbType[Any], c: Codecs) -> Convert:
    def encode(v: object) -> _JsonbText:
        text = json_text(v)
        if "\\u0000" in text and _JSON_NUL.search(text):
            raise EncodeError("PostgreSQL jsonb cannot contain NUL (\\u0000) characters")
        return _JsonbText(text)

    return encode


class _BigintList(list[Any]):
    """A list of ints bound as ``bigint[]``, the type of repodb's (64-bit) ``int`` arrays.

    Why: psycopg types a list of ints by its values (``smallint[]`` for
    small ones), and PostgreSQL has no operator between ``smallint[]`` and
    a ``bigint[]`` column. Every other kind already binds as its declared
    type (text as an untyped literal, which the column's type resolves).
    """

    __slots__ = ()


def _adapters() -> psycopg.adapt.AdaptersMap:
    """psycopg's adapters, with ``_BigintList`` and ``_JsonbText`` dumped as their types."""
    adapters = psycopg.adapt.AdaptersMap(psycopg.adapters)
    info = psycopg.postgres.types["bigint"]
    for base in (ListDumper, ListBinaryDumper):
        fixed = type(base.__name__, (base,), {"oid": info.array_oid, "element_oid": info.oid})
        adapters.register_dumper(_BigintList, fixed)
    adapters.register_dumper(_JsonbText, _JsonbTextDumper)
    return adapters


_ADAPTERS = _adapters()


def _encode_array(t: DbType[Any], c: Codecs) -> Convert | None:
    assert t.item is not None
    return _BigintList if (t.item.item or t.item).kind is Kind.INT else None


def _decode_datetime(t: DbType[Any], c: Codecs) -> Convert:
    from datetime import UTC

    # A ``timestamp`` (without time zone) column is read as UTC.
    return lambda v: v.replace(tzinfo=UTC) if v.tzinfo is None else v


def _decode_datetime_column(t: DbType[Any], c: Codecs) -> ColumnConvert:
    decode = _decode_datetime(t, c)
    tzinfo = attrgetter("tzinfo")

    # A ``timestamptz`` column (the usual one) is already aware: it stays as
    # it is, and its rows too.
    def decode_column(column: Sequence[Any]) -> Sequence[Any]:
        if None in map(tzinfo, column):
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


CODECS = Codecs(
    name="postgresql",
    encode={
        Kind.STR: _encode_str,
        Kind.JSON: _encode_json,
        Kind.ENUM: enum_by_name,
        Kind.ARRAY: _encode_array,
    },
    decode={
        Kind.DATETIME: _decode_datetime,
        Kind.ENUM: enum_from_name,
        Kind.ARRAY: _decode_array,
    },
    decode_column={Kind.DATETIME: _decode_datetime_column},
)

# An escaped NUL in JSON text: \u0000 after an even number of backslashes.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_KEY_COLUMNS = re.compile(r"^Key \((.+?)\)=")
_cursor_names = itertools.count(1)


# The protocol counts a statement's parameters in 16 bits.
_MAX_PARAMS = POSTGRESQL.max_params


def _too_many(params: Sequence[Any]) -> None:
    # psycopg refuses before sending, with an OperationalError that reads as
    # a lost connection (a retried read, a replica marked down); this one
    # maps to ProgrammingError, a mistake in the statement.
    raise psycopg.ProgrammingError(
        f"{len(params)} parameters: PostgreSQL takes at most {_MAX_PARAMS} in one statement"
        " (split a long IN list, or compare with = ANY of one array parameter)"
    )


def _timeout_ms(seconds: float | None) -> str:
    return "0" if seconds is None else str(max(1, math.ceil(seconds * 1000)))


def map_error(exc: BaseException, sql: str | None, *, broken: bool = False) -> Error:
    """The repodb error for a psycopg exception."""
    if not isinstance(exc, psycopg.Error):
        return QueryError(str(exc), sql=sql)
    sqlstate = exc.sqlstate
    diag = exc.diag
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    if sqlstate:
        cls = lookup_sqlstate(sqlstate)
    elif broken or isinstance(exc, psycopg.OperationalError):
        cls = ConnectionLost
    elif isinstance(exc, psycopg.DataError):
        cls = DataError
    elif isinstance(exc, psycopg.ProgrammingError):
        cls = ProgrammingError
    else:
        cls = QueryError
    detail = diag.message_detail
    columns: tuple[str, ...] = ()
    if diag.column_name:
        columns = (diag.column_name,)
    elif detail and (keys := _KEY_COLUMNS.match(detail)):
        columns = tuple(c.strip().strip('"') for c in keys.group(1).split(","))
    return cls(
        message,
        sql=sql,
        sqlstate=sqlstate,
        constraint=diag.constraint_name,
        table=diag.table_name,
        columns=columns,
        detail=detail,
    )


def connect_options(url: DatabaseUrl, settings: ConnectSettings) -> dict[str, Any]:
    """psycopg's connection options: UTC, the statement timeout, a connect timeout."""
    server_options = " ".join(
        part
        for part in (
            url.options.get("options", ""),
            "-c TimeZone=UTC",
            f"-c statement_timeout={_timeout_ms(settings.statement_timeout)}",
        )
        if part
    )
    extra: dict[str, Any] = {"options": server_options}
    if "connect_timeout" not in url.options:
        extra["connect_timeout"] = max(2, math.ceil(settings.connect_timeout))
    return extra
