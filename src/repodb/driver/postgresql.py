"""The PostgreSQL driver, on psycopg 3.

Why these choices: parameters are bound on the server (psycopg's default), in
PostgreSQL's own ``$1`` style (``RawCursor``), so a request's markers need no
rewriting; requests are prepared on the server the first time they run and
reused after (psycopg keeps the prepared statements per connection); the
session time zone is UTC, so ``timestamptz`` values come back in UTC; the
connection is in autocommit mode and repodb issues ``BEGIN``/``COMMIT`` itself,
so transactions behave the same as on every other driver. A statement timeout
is PostgreSQL's ``statement_timeout``: the server cancels the query itself.

Requires the ``postgresql`` extra: ``pip install pyrepodb[postgresql]``.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import re
import socket
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .._codec import Codecs, Convert, enum_by_name, enum_from_name, json_text
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
from . import ConnectSettings, TransactionOptions

try:
    import psycopg
    from psycopg.pq import ExecStatus, TransactionStatus
    from psycopg.types.array import ListBinaryDumper, ListDumper
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "PostgreSQL support needs psycopg 3: pip install 'pyrepodb[postgresql]'"
    ) from e

__all__ = ["CODECS", "PostgresConnection", "connect"]


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
)

# An escaped NUL in JSON text: \u0000 after an even number of backslashes.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_KEY_COLUMNS = re.compile(r"^Key \((.+?)\)=")
_cursor_names = itertools.count(1)


class PostgresConnection:
    """A ``DriverConnection`` over one psycopg connection."""

    dialect = POSTGRESQL
    codecs = CODECS
    native_errors: tuple[type[BaseException], ...] = (psycopg.Error,)

    def __init__(self, raw: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._raw = raw
        self._cursor = raw.cursor()

    @property
    def in_transaction(self) -> bool:
        # UNKNOWN: the connection is closed or broken, and its transaction gone.
        status = self._raw.info.transaction_status
        return status != TransactionStatus.IDLE and status != TransactionStatus.UNKNOWN

    def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        if len(params) > _MAX_PARAMS:
            _too_many(params)
        cursor = self._cursor
        cursor.execute(sql, params, prepare=prepare)
        return cursor.rowcount

    def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[tuple[Any, ...]]:
        if len(params) > _MAX_PARAMS:
            _too_many(params)
        cursor = self._cursor
        cursor.execute(sql, params, prepare=prepare)
        result = cursor.pgresult
        return cursor.fetchall() if result and result.status == ExecStatus.TUPLES_OK else []

    def stream(self, sql: str, params: Sequence[Any], batch_size: int) -> Iterator[tuple[Any, ...]]:
        if len(params) > _MAX_PARAMS:
            _too_many(params)
        # Outside a transaction a server-side cursor must be WITH HOLD to
        # outlive the implicit transaction of its DECLARE.
        cursor = psycopg.RawServerCursor(
            self._raw, f"repodb_stream_{next(_cursor_names)}", withhold=not self.in_transaction
        )
        try:
            cursor.itersize = batch_size
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(batch_size):
                yield from batch
        finally:
            if not self._raw.broken:
                cursor.close()

    def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        cursor = self._cursor
        cursor.executemany(sql, params)
        return cursor.rowcount

    def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        names = ", ".join(map(POSTGRESQL.quote, columns))
        sql = f"COPY {POSTGRESQL.quote_table(table, prefix)} ({names}) FROM STDIN"
        count = 0
        with self._cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def begin(self, options: TransactionOptions) -> None:
        sql = "BEGIN"
        if options.isolation is not None:
            sql += " ISOLATION LEVEL " + options.isolation.value
        if options.read_only:
            sql += " READ ONLY"
        if options.deferrable:
            sql += " DEFERRABLE"
        self._cursor.execute(sql, prepare=False)

    def commit(self) -> None:
        # PostgreSQL answers COMMIT of a transaction that an earlier error
        # aborted by rolling it back without an error; report it as a failure.
        aborted = self._raw.info.transaction_status == TransactionStatus.INERROR
        self._cursor.execute("COMMIT", prepare=False)
        if aborted:
            raise lookup_sqlstate("25P02")(
                "COMMIT rolled the transaction back: a statement in it failed",
                sql="COMMIT",
                sqlstate="25P02",
            )

    def rollback(self) -> None:
        if self.in_transaction and not self._raw.broken:
            self._cursor.execute("ROLLBACK", prepare=False)

    def set_statement_timeout(self, seconds: float | None) -> None:
        self._cursor.execute(
            "SELECT set_config('statement_timeout', $1, false)", (_timeout_ms(seconds),)
        )

    def ping(self) -> None:
        self._cursor.execute("SELECT 1")

    def abort(self) -> None:
        # Shutting the socket down (through a duplicate of libpq's descriptor,
        # which libpq keeps) wakes a thread blocked reading from it at once:
        # its read sees end-of-file and psycopg reports the connection lost.
        # A cancel request would need the server to answer; a hung one won't.
        with (
            contextlib.suppress(psycopg.Error, OSError),
            socket.socket(fileno=os.dup(self._raw.pgconn.socket)) as sock,
        ):
            sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._raw.close()

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        return map_error(exc, sql, broken=self._raw.broken)


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


def connect(url: DatabaseUrl, settings: ConnectSettings) -> PostgresConnection:
    """Open a connection; the session runs in UTC with the requested statement timeout."""
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
    try:
        raw = psycopg.connect(
            url.target,
            autocommit=True,
            # Requests say whether to prepare (prepare=True/False on each
            # execute); None here would disable preparing altogether.
            prepare_threshold=5,
            cursor_factory=psycopg.RawCursor,
            context=_ADAPTERS,
            **extra,
        )
    except psycopg.Error as e:
        # Raised outside the except block, unchained: libpq's text can quote
        # the conninfo, password included ('missing "=" after ...'), and a
        # formatted traceback would show the chained exception's text.
        error = ConnectError(f"cannot connect to {url.redacted}: {url.scrub(str(e).strip())}")
    else:
        return PostgresConnection(raw)
    raise error
