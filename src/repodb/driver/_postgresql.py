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
    ConnectError,
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

__all__ = ["CODECS", "connect_error", "connect_options", "map_error", "pooled"]


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


def pooled(url: DatabaseUrl) -> bool:
    """Whether ``url`` names a transaction pooler (``pooler=transaction``); ValueError if unknown.

    Why an option and not detection: a pooler set to ignore the startup
    ``options`` connects fine and silently drops UTC and the timeout, so
    nothing observable at connect time tells it from a server.
    """
    mode = url.options.get("pooler")
    if mode is None:
        return False
    if mode != "transaction":
        raise ValueError(
            f"unknown pooler={mode!r} in {url.redacted}: the one mode is pooler=transaction"
            " (PgBouncer's pool_mode = transaction, and any pooler that may change"
            " the server connection between transactions)"
        )
    return True


def connect_options(url: DatabaseUrl, settings: ConnectSettings, pooler: bool) -> dict[str, Any]:
    """psycopg's connection options: UTC, the statement timeout, a connect timeout.

    Through a transaction pooler there is no startup ``options`` (PgBouncer
    refuses it) and nothing is prepared on the server; the driver sets the
    timeout per transaction or statement instead.
    """
    extra: dict[str, Any] = {"prepare_threshold": None if pooler else 5}
    if not pooler:
        extra["options"] = " ".join(
            part
            for part in (
                url.options.get("options", ""),
                "-c TimeZone=UTC",
                f"-c statement_timeout={_timeout_ms(settings.statement_timeout)}",
            )
            if part
        )
    if "connect_timeout" not in url.options:
        extra["connect_timeout"] = max(2, math.ceil(settings.connect_timeout))
    return extra


def connect_error(url: DatabaseUrl, exc: psycopg.Error) -> ConnectError:
    """The ``ConnectError`` for a failed connect, its text scrubbed of the password.

    PgBouncer's refusal of the startup ``options`` gets a hint: the URL
    option that makes repodb work through it.
    """
    text = url.scrub(str(exc).strip())
    if "unsupported startup parameter" in text:
        text += (
            " (a connection pooler such as PgBouncer: add pooler=transaction to the URL,"
            " see docs/pgbouncer.md)"
        )
    return ConnectError(f"cannot connect to {url.redacted}: {text}")


def set_local_timeout(seconds: float | None) -> str:
    """The statement that sets the timeout until the end of the current transaction."""
    return f"SELECT set_config('statement_timeout', '{_timeout_ms(seconds)}', true)"
