"""The SQLite driver, on the standard library's ``sqlite3``.

Why these settings: the module's legacy implicit transactions are switched off
(``isolation_level=None``) so that repodb alone decides when a transaction
starts; write transactions use ``BEGIN IMMEDIATE`` so that two writers queue
on the busy timeout instead of one failing with "database is locked" when it
upgrades its lock; WAL lets readers run beside the writer; foreign keys are
enforced, as on every other database.

Storage forms (SQLite has five storage classes): Decimal, date, datetime (UTC,
``YYYY-MM-DD HH:MM:SS.ffffff+00:00``; text without the offset, the form
earlier versions wrote and SQLite's ``CURRENT_TIMESTAMP`` writes, reads as UTC),
time, UUID, Enum (member name) and JSON are text; bool is 0/1; timedelta is an
integer count of microseconds; arrays are JSON text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from operator import attrgetter, methodcaller
from typing import Any

from .. import _codec
from .._codec import Codecs, Convert
from ..dialect import SQLITE
from ..errors import (
    CheckViolation,
    ConnectError,
    ConnectionLost,
    DataError,
    Error,
    ForeignKeyViolation,
    IntegrityError,
    NotNullViolation,
    ProgrammingError,
    QueryError,
    ReadOnlyError,
    SerializationFailure,
    StatementTimeout,
    UniqueViolation,
)
from ..types import DbType, Kind
from ..url import DatabaseUrl
from . import ConnectSettings, TransactionOptions

__all__ = ["CODECS", "SqliteConnection", "connect"]

_MICROS_PER_DAY = 86_400_000_000


_UTC = dt.UTC
_from_iso = dt.datetime.fromisoformat


def _encode_datetime(t: DbType[Any], c: Codecs) -> Convert:
    # Fixed-width UTC text with its offset: it sorts and compares like the
    # instants it names, and reads back in one C call (``_decode_datetime``).
    def encode(v: dt.datetime) -> str:
        if v.tzinfo is not _UTC:
            v = _codec.utc(v)
        return v.isoformat(" ", "microseconds")

    return encode


# ``_encode_datetime``'s text for an aware datetime in UTC, in C.
_UTC_TEXT = methodcaller("isoformat", " ", "microseconds")


def _decode_datetime(t: DbType[Any], c: Codecs) -> Convert:
    # Text without an offset (written before repodb stored one, or by SQLite's
    # own CURRENT_TIMESTAMP) is UTC.
    def decode(v: str) -> dt.datetime:
        value = _from_iso(v)
        if value.tzinfo is _UTC:
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=_UTC)
        return value.astimezone(_UTC)

    return decode


def _decode_datetime_column(t: DbType[Any], c: Codecs) -> _codec.ColumnConvert:
    decode = _decode_datetime(t, c)

    def decode_column(column: Sequence[str]) -> Sequence[dt.datetime]:
        values = list(map(_from_iso, column))
        if set(map(_TZINFO, values)) != {_UTC}:
            return list(map(decode, column))
        return values

    return decode_column


_TZINFO = attrgetter("tzinfo")


def _decode_text_column(convert: Callable[[str], Any]) -> _codec.ColumnBuilder:
    """Text columns converted by ``convert`` alone (a C call); numbers there take ``decode``."""

    def build(t: DbType[Any], c: Codecs) -> _codec.ColumnConvert:
        each = c.decode[t.kind](t, c)
        assert each is not None

        def decode_column(column: Sequence[Any]) -> Sequence[Any]:
            if set(map(type, column)) == {str}:
                return list(map(convert, column))
            return list(map(each, column))

        return decode_column

    return build


def _decode_bool_column(t: DbType[Any], c: Codecs) -> _codec.ColumnConvert:
    def decode_column(column: Sequence[Any]) -> Sequence[bool]:
        if not set(map(type, column)) == {int} or not set(column) <= {0, 1}:
            raise ValueError("not 0 or 1")
        return list(map(bool, column))

    return decode_column


def _encode_time(t: DbType[Any], c: Codecs) -> Convert:
    return lambda v: v.isoformat(timespec="microseconds")


def _encode_json(t: DbType[Any], c: Codecs) -> Convert:
    return _codec.json_text


def _decode_json(t: DbType[Any], c: Codecs) -> Convert:
    return json.loads


def _encode_array(t: DbType[Any], c: Codecs) -> Convert:
    if t.item is not None and (t.item.item or t.item).kind is Kind.BYTES:
        raise TypeError("arrays of bytes cannot be stored on SQLite (arrays are JSON text there)")
    return _encode_json(t, c)


def _plain(convert: Convert) -> _codec.Builder:
    return lambda t, c: convert


def _decode_float(t: DbType[Any], c: Codecs) -> Convert:
    return float


CODECS = Codecs(
    name="sqlite",
    encode={
        Kind.BOOL: _plain(int),
        Kind.FLOAT: _codec.reject_nan,
        Kind.DECIMAL: _plain(str),
        Kind.DATE: _codec.as_isoformat,
        Kind.DATETIME: _encode_datetime,
        Kind.TIME: _encode_time,
        Kind.TIMEDELTA: _codec.timedelta_micros,
        Kind.UUID: _plain(str),
        Kind.JSON: _encode_json,
        Kind.ENUM: _codec.enum_by_name,
        Kind.ARRAY: _encode_array,
    },
    decode={
        Kind.BOOL: _codec.bool_from_int,
        Kind.FLOAT: _decode_float,
        Kind.DECIMAL: _plain(lambda v: Decimal(v if isinstance(v, str) else str(v))),
        Kind.DATE: _plain(dt.date.fromisoformat),
        Kind.DATETIME: _decode_datetime,
        Kind.TIME: _plain(dt.time.fromisoformat),
        Kind.TIMEDELTA: _plain(lambda v: dt.timedelta(microseconds=v)),
        Kind.UUID: _plain(lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(v)),
        Kind.JSON: _decode_json,
        Kind.ENUM: _codec.enum_from_name,
        Kind.ARRAY: _codec.json_array_decoder(json.loads),
    },
    uniform_columns=False,
    decode_column={
        Kind.BOOL: _decode_bool_column,
        Kind.DECIMAL: _decode_text_column(Decimal),
        Kind.DATETIME: _decode_datetime_column,
        Kind.UUID: _decode_text_column(uuid.UUID),
        Kind.JSON: _decode_text_column(json.loads),
    },
    encode_exact={Kind.DATETIME: _UTC_TEXT},
    decode_exact={
        Kind.BOOL: (int, {0: False, 1: True}.__getitem__),
        Kind.DECIMAL: (str, Decimal),
        Kind.UUID: (str, uuid.UUID),
    },
    # A Decimal is stored as text, but a column of NUMERIC affinity (a
    # hand-written ``price NUMERIC(10, 2)``) turns that text into a number;
    # a REAL column keeps a whole float as an integer, so -0.0 reads as 0.0.
    readback=frozenset({Kind.DECIMAL, Kind.FLOAT}),
)

# Extended result codes (https://sqlite.org/rescode.html).
_BY_CODE: dict[int, type[QueryError]] = {
    1555: UniqueViolation,  # SQLITE_CONSTRAINT_PRIMARYKEY
    2067: UniqueViolation,  # SQLITE_CONSTRAINT_UNIQUE
    787: ForeignKeyViolation,  # SQLITE_CONSTRAINT_FOREIGNKEY
    1299: NotNullViolation,  # SQLITE_CONSTRAINT_NOTNULL
    275: CheckViolation,  # SQLITE_CONSTRAINT_CHECK
    517: SerializationFailure,  # SQLITE_BUSY_SNAPSHOT
}
_BY_PRIMARY_CODE: dict[int, type[QueryError]] = {
    19: IntegrityError,  # SQLITE_CONSTRAINT
    8: ReadOnlyError,  # SQLITE_READONLY
    9: StatementTimeout,  # SQLITE_INTERRUPT: only our progress handler interrupts
    18: DataError,  # SQLITE_TOOBIG
    20: DataError,  # SQLITE_MISMATCH
    25: ProgrammingError,  # SQLITE_RANGE
    1: ProgrammingError,  # SQLITE_ERROR: syntax, unknown table or column
    10: ConnectionLost,  # SQLITE_IOERR
    11: ConnectionLost,  # SQLITE_CORRUPT
    26: ConnectionLost,  # SQLITE_NOTADB
}
_COLUMNS_FAILED = re.compile(r"constraint failed: (.+)$")


class SqliteConnection:
    """A ``DriverConnection`` over one ``sqlite3.Connection``."""

    dialect = SQLITE
    codecs = CODECS
    native_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, raw: sqlite3.Connection, settings: ConnectSettings) -> None:
        self._raw = raw
        self._closed = False
        self._deadline = 0.0
        self._timeout: float | None = None
        self._query_only = False
        self.set_statement_timeout(settings.statement_timeout)

    @property
    def in_transaction(self) -> bool:
        return self._raw.in_transaction

    @property
    def closed(self) -> bool:
        return self._closed

    def _arm(self) -> None:
        if self._timeout is not None:
            self._deadline = time.monotonic() + self._timeout

    def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        if self._timeout is not None:
            self._arm()
        return self._raw.execute(sql, params).rowcount

    def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[tuple[Any, ...]]:
        if self._timeout is not None:
            self._arm()
        return self._raw.execute(sql, params).fetchall()

    def stream(self, sql: str, params: Sequence[Any], batch_size: int) -> Iterator[tuple[Any, ...]]:
        self._arm()
        cursor = self._raw.execute(sql, params)
        try:
            while batch := cursor.fetchmany(batch_size):
                yield from batch
                self._arm()
        finally:
            cursor.close()

    def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        self._arm()
        return self._raw.executemany(sql, params).rowcount

    def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        return self.execute_many(SQLITE.insert_sql(table, columns, prefix), rows)

    def begin(self, options: TransactionOptions) -> None:
        if options.read_only:
            self._raw.execute("BEGIN DEFERRED")
            # A connection that is read-only already (a CQRS replica) stays
            # so after the transaction: only switch it on (and off) here.
            if not self._raw.execute("PRAGMA query_only").fetchone()[0]:
                self._raw.execute("PRAGMA query_only = ON")
                self._query_only = True
        else:
            self._raw.execute("BEGIN IMMEDIATE")

    def _end(self, sql: str) -> None:
        try:
            self._raw.execute(sql)
        finally:
            if self._query_only and not self._raw.in_transaction:
                self._query_only = False
                self._raw.execute("PRAGMA query_only = OFF")

    def commit(self) -> None:
        self._end("COMMIT")

    def rollback(self) -> None:
        if self._raw.in_transaction:
            self._end("ROLLBACK")

    def set_statement_timeout(self, seconds: float | None) -> None:
        self._timeout = seconds
        if seconds is None:
            self._raw.set_progress_handler(None, 0)
        else:
            self._raw.set_progress_handler(self._past_deadline, 1000)

    def _past_deadline(self) -> bool:
        return time.monotonic() > self._deadline

    def ping(self) -> None:
        self._raw.execute("SELECT 1").fetchall()

    def abort(self) -> None:
        # sqlite3_interrupt is the one call SQLite allows from another thread.
        with contextlib.suppress(sqlite3.ProgrammingError):
            self._raw.interrupt()

    def close(self) -> None:
        self._closed = True
        self._raw.close()

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        return map_error(exc, sql)


def map_error(exc: BaseException, sql: str | None) -> Error:
    """The repodb error for a ``sqlite3`` exception."""
    message = str(exc)
    code: int | None = getattr(exc, "sqlite_errorcode", None)
    name: str | None = getattr(exc, "sqlite_errorname", None)
    cls: type[QueryError] = QueryError
    if code is not None:
        cls = _BY_CODE.get(code) or _BY_PRIMARY_CODE.get(code & 0xFF, QueryError)
    elif isinstance(exc, sqlite3.ProgrammingError):
        cls = ProgrammingError
    if cls is StatementTimeout:
        message = "statement timeout: the statement was interrupted"
    table, columns, constraint = _constraint_facts(cls, message)
    return cls(message, sql=sql, code=name, constraint=constraint, table=table, columns=columns)


def _constraint_facts(
    cls: type[QueryError], message: str
) -> tuple[str | None, tuple[str, ...], str | None]:
    """Table, columns and constraint name from SQLite's constraint message."""
    found = _COLUMNS_FAILED.search(message)
    if not found or not issubclass(cls, IntegrityError):
        return None, (), None
    what = found.group(1)
    if cls is CheckViolation:
        return None, (), what
    parts = [p.strip() for p in what.split(",")]
    if all(p.count(".") == 1 for p in parts):
        tables = {p.split(".")[0] for p in parts}
        columns = tuple(p.split(".")[1] for p in parts)
        return (tables.pop() if len(tables) == 1 else None), columns, None
    return None, (), None


def connect(url: DatabaseUrl, settings: ConnectSettings) -> SqliteConnection:
    """Open a SQLite database file (created when missing) or an in-memory database."""
    unknown = set(url.options) - {"busy_timeout"}
    if unknown:
        raise ValueError(f"unknown SQLite URL option(s): {', '.join(sorted(unknown))}")
    raw_busy = url.options.get("busy_timeout", "5000")
    if not raw_busy.isdigit():
        raise ValueError(f"busy_timeout must be a whole number of milliseconds, not {raw_busy!r}")
    busy_ms = int(raw_busy)
    try:
        raw = sqlite3.connect(
            url.target,
            timeout=busy_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
    except sqlite3.Error as e:
        # Unchained, as every repodb error (errors.py says why).
        error = ConnectError(f"cannot open SQLite database {url.redacted}: {e}")
    else:
        return _configured(raw, url, settings, busy_ms)
    raise error


def _configured(
    raw: sqlite3.Connection, url: DatabaseUrl, settings: ConnectSettings, busy_ms: int
) -> SqliteConnection:
    """``raw`` with foreign keys, the busy timeout and WAL set up, or a ConnectError."""
    try:
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute(f"PRAGMA busy_timeout = {busy_ms:d}")
        if url.target != ":memory:":
            _use_wal(raw, busy_ms)
    except sqlite3.Error as e:
        raw.close()
        error = ConnectError(f"cannot open SQLite database {url.redacted}: {e}")
    except BaseException:
        # Interrupted (Ctrl-C) while waiting for a busy file: nobody else holds it.
        raw.close()
        raise
    else:
        return SqliteConnection(raw, settings)
    raise error


def _use_wal(raw: sqlite3.Connection, busy_ms: int) -> None:
    """Switch to WAL, retrying while the file is busy.

    SQLite does not call its busy handler for this switch, so connections
    opening a new file at once (a pool filling up) would fail with
    "database is locked" instead of waiting ``busy_timeout``.
    """
    deadline = time.monotonic() + busy_ms / 1000
    while True:
        try:
            raw.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.001)
