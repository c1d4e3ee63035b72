"""The PostgreSQL driver on asyncpg, for the asyncio API only: ``postgresql+asyncpg://``.

Why a second PostgreSQL driver: asyncpg speaks the protocol itself, in
Cython, and runs a lookup by key in about half the client instructions of
psycopg's ``AsyncConnection`` (docs/performance.md). It is asyncio only, so
this module has no generated sync twin; psycopg stays the default, and a
URL asks for asyncpg by name (``postgresql+asyncpg://``, SQLAlchemy's
spelling), which ``AsyncPool``, ``AsyncCqrs`` and ``AsyncRepo`` pass on.

Same semantics as the psycopg driver, and where asyncpg's own differ:

- values: repodb's codecs (``_postgresql_base.py``) check and convert them as
  for psycopg; asyncpg gives JSON as text and UUIDs as its own class, which
  the codecs turn into what psycopg gives. Dates and timestamps go through
  binary codecs of this module, set on each connection: asyncpg's own store
  ``date.max`` and ``datetime.max`` as ``infinity`` (and the mins as
  ``-infinity``), and refuse an aware datetime for a ``timestamp`` column
  (asyncpg types a parameter by what the server infers), which this one
  stores as its UTC time, as the server does for psycopg;
- the session runs in UTC with the requested ``statement_timeout``; a URL's
  ``options=-c name=value`` become server settings;
- every statement with parameters is prepared: asyncpg keeps the last 100
  per connection (``?statement_cache_size=N``; 0 behind PgBouncer in
  transaction mode), so a request's ``prepare`` flag changes nothing;
- ``stream`` declares a server-side cursor, WITH HOLD outside a transaction,
  as psycopg does (asyncpg's own cursors would need a transaction);
- ``execute_many`` is one pipelined, atomic batch; asyncpg does not report
  its row count, so it returns -1;
- a cancelled task: asyncpg sends the server a cancel request; the driver
  then waits for the server's answer before the cancellation goes on, as
  psycopg does, so that whether a BEGIN or COMMIT took effect is known.

Requires the ``asyncpg`` extra: ``pip install pyrepodb[asyncpg]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import struct
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

try:
    import asyncpg
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("asyncpg support needs asyncpg: pip install 'pyrepodb[asyncpg]'") from e

from .._codec import Codecs, Convert
from ..dialect import POSTGRESQL
from ..errors import (
    ConnectError,
    ConnectionLost,
    Error,
    ProgrammingError,
    QueryError,
    lookup_sqlstate,
)
from ..types import DbType, Kind
from ..url import DatabaseUrl
from . import ConnectSettings, TransactionOptions
from ._postgresql_base import (
    DECODE,
    DECODE_COLUMN,
    ENCODE,
    MAX_PARAMS,
    READBACK,
    aborted_commit,
    begin_sql,
    server_error,
    timeout_ms,
    too_many_params,
)

__all__ = ["CODECS", "AsyncpgConnection", "connect", "map_error"]

T = TypeVar("T")


def _decode_json(t: DbType[Any], c: Codecs) -> Convert:
    return json.loads


def _decode_uuid(t: DbType[Any], c: Codecs) -> Convert:
    # From its int: asyncpg's UUID computes ``bytes`` slowly (7x the whole conversion).
    return lambda v: uuid.UUID(int=v.int)


CODECS = Codecs(
    name="asyncpg",
    encode=ENCODE,
    decode={**DECODE, Kind.JSON: _decode_json, Kind.UUID: _decode_uuid},
    decode_column=DECODE_COLUMN,
    readback=READBACK,
)

# Query options of a URL that are repodb's or libpq's, not server settings
# (asyncpg would send any option it does not know to the server as one).
_OWN_OPTIONS = ("options", "connect_timeout", "statement_cache_size")
# One ``-c name=value`` (or ``--name=value``) of libpq's ``options``; ``\ `` escapes a space.
_SERVER_OPTION = re.compile(r"(?:-c\s*|--)((?:[^\s\\]|\\.)+)")
# A cancelled statement waits this long for the server's answer (psycopg: 5 s).
_SETTLE_WAIT = 5.0
# Closing waits this long for the server to hang up; a hung server never does.
_CLOSE_WAIT = 1.0
_CURSOR_EXISTS = "SELECT EXISTS (SELECT FROM pg_cursors WHERE name = $1)"
# PostgreSQL's epoch for dates and times, and its binary forms: days in 32
# bits, microseconds in 64; the extremes of each are -infinity and infinity.
_EPOCH = dt.datetime(2000, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=dt.UTC)
_EPOCH_DAY = _EPOCH.toordinal()
_MICROSECOND = dt.timedelta(microseconds=1)
_INT32 = struct.Struct("!i")
_INT64 = struct.Struct("!q")


def _infinite(kind: str, n: int) -> Exception:
    # What psycopg says of an infinite value; asyncpg would give date.max or a naive datetime.max.
    why = (
        "too large (after year 10K): 'infinity'"
        if n > 0
        else "too small (before year 1): '-infinity'"
    )
    error: Exception = asyncpg.exceptions.DataError(f"{kind} {why}")
    return error


def _encode_date(value: dt.date) -> bytes:
    return _INT32.pack(value.toordinal() - _EPOCH_DAY)


def _decode_date(data: bytes) -> dt.date:
    days: int = _INT32.unpack(data)[0]
    if days in (2**31 - 1, -(2**31)):
        raise _infinite("date", days)
    return dt.date.fromordinal(days + _EPOCH_DAY)


def _encode_timestamp(value: dt.datetime) -> bytes:
    # An aware value is stored as its UTC time, as the server stores psycopg's timestamptz.
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return _INT64.pack((value - _EPOCH) // _MICROSECOND)


def _decode_timestamp(data: bytes) -> dt.datetime:
    micros: int = _INT64.unpack(data)[0]
    if micros in (2**63 - 1, -(2**63)):
        raise _infinite("timestamp", micros)
    return _EPOCH + micros * _MICROSECOND


def _encode_timestamptz(value: dt.datetime) -> bytes:
    return _INT64.pack((value - _EPOCH_UTC) // _MICROSECOND)


def _decode_timestamptz(data: bytes) -> dt.datetime:
    micros: int = _INT64.unpack(data)[0]
    if micros in (2**63 - 1, -(2**63)):
        raise _infinite("timestamp", micros)
    return _EPOCH_UTC + micros * _MICROSECOND


# Set on each connection (no round trip: asyncpg knows the built-in types).
# asyncpg's own codecs store date.min/max and datetime.min/max as -infinity
# and infinity, and refuse an aware datetime for a ``timestamp``; these
# store every value as psycopg does.
_TIME_CODECS = (
    ("date", _encode_date, _decode_date),
    ("timestamp", _encode_timestamp, _decode_timestamp),
    ("timestamptz", _encode_timestamptz, _decode_timestamptz),
)


def _rowcount(status: str) -> int:
    """The row count ending a command tag (``INSERT 0 5``, ``SELECT 3``); -1 when it has none."""
    count = status.rpartition(" ")[2]
    return int(count) if count.isdigit() else -1


def _too_many(params: Sequence[Any]) -> None:
    raise asyncpg.InterfaceError(too_many_params(len(params)))


class AsyncpgConnection:
    """An ``AsyncDriverConnection`` over one ``asyncpg.Connection``."""

    dialect = POSTGRESQL
    codecs = CODECS
    native_errors: tuple[type[BaseException], ...] = (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.InternalClientError,
        # A dropped socket, as the transport reports it.
        OSError,
    )

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._loop = asyncio.get_running_loop()
        # The numbers of this connection's open stream cursors: a closed
        # one's name is taken again, so a query's DECLARE is prepared once.
        self._cursors: set[int] = set()

    @property
    def in_transaction(self) -> bool:
        return bool(self._raw.is_in_transaction())

    @property
    def closed(self) -> bool:
        return bool(self._raw.is_closed())

    async def _settle(self) -> None:
        """After a cancelled statement: wait until the server has answered it.

        Why: asyncpg sends the server a cancel request and raises at once,
        so whether the statement (a BEGIN, a COMMIT) took effect, and with it
        ``in_transaction``, is known only when the server answers. psycopg
        waits for that answer before the cancellation goes on; so does this,
        through a statement asyncpg sends once the answer has come. A
        connection that gives none in time (a hung server), or whose wait is
        itself cancelled, is dropped: its state cannot be known.
        """
        if self._raw.is_closed():
            return
        try:
            await asyncio.wait_for(self._raw.execute("SELECT 1"), _SETTLE_WAIT)
        except asyncpg.PostgresError:
            pass  # answered (a failed transaction refuses it): the state is known
        except asyncio.CancelledError:
            await self._drop()
            raise
        except Exception:
            self._raw.terminate()

    async def _drop(self) -> None:
        """Terminate the connection once asyncpg's cancel requests on their way have left.

        Why: asyncpg sends a cancel request from a task of its own, and
        ``terminate()`` cancels that task; a request that had not left yet
        (the task cancelled again right after its first cancellation) would
        never reach the server, and the statement would run on there, locks
        held, until it ended: a dropped connection does not stop it. The
        wait is bounded (a hung server never answers), and a further
        cancellation cuts it short: the connection is terminated either way.
        """
        raw = self._raw
        try:
            # asyncpg keeps its cancel tasks in a private set; none when it renames it.
            pending = [t for t in getattr(raw, "_cancellations", ()) if not t.done()]
            if pending:
                await asyncio.wait(pending, timeout=_SETTLE_WAIT)
        finally:
            raw.terminate()

    async def _settled(self, step: Awaitable[T]) -> T:
        """``await step``, settling the connection when the task is cancelled meanwhile."""
        try:
            return await step
        except asyncio.CancelledError:
            await self._settle()
            raise

    async def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        if len(params) > MAX_PARAMS:
            _too_many(params)
        try:
            status = await self._raw.execute(sql, *params)
        except asyncio.CancelledError:
            await self._settle()
            raise
        return _rowcount(status)

    async def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[tuple[Any, ...]]:
        if len(params) > MAX_PARAMS:
            _too_many(params)
        try:
            rows = await self._raw.fetch(sql, *params)
        except asyncio.CancelledError:
            await self._settle()
            raise
        return list(map(tuple, rows))

    async def stream(
        self, sql: str, params: Sequence[Any], batch_size: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        if len(params) > MAX_PARAMS:
            _too_many(params)
        number = next(n for n in range(1, len(self._cursors) + 2) if n not in self._cursors)
        self._cursors.add(number)
        name = f"repodb_stream_{number}"
        raw = self._raw
        # None: DECLARE was interrupted (a cancelled task), and whether the
        # server ran it before the cancel request came is unknown.
        declared: bool | None = False
        try:
            # Outside a transaction the cursor must be WITH HOLD to outlive
            # the implicit transaction of its DECLARE.
            hold = "" if self.in_transaction else " WITH HOLD"
            try:
                await raw.execute(f"DECLARE {name} NO SCROLL CURSOR{hold} FOR {sql}", *params)
            except asyncpg.PostgresError:
                raise
            except BaseException:
                declared = None
                raise
            declared = True
            # Prepared apart from asyncpg's cache, which keys statements by
            # their text: a cached FETCH would keep the columns of the
            # last cursor of this name.
            fetch = await raw.prepare(f"FETCH FORWARD {batch_size} FROM {name}")
            while batch := await fetch.fetch():
                for row in batch:
                    yield tuple(row)
        finally:
            self._cursors.discard(number)
            if declared is not False and not raw.is_closed():
                try:
                    if declared or await raw.fetchval(_CURSOR_EXISTS, name):
                        await raw.execute(f"CLOSE {name}")
                except asyncpg.InFailedSQLTransactionError:
                    pass  # the failed transaction's rollback closes it
                except BaseException:
                    # Interrupted (a cancelled task): whether the server
                    # closed the cursor is unknown, and a WITH HOLD one would
                    # outlive the stream. Drop the connection (a pool discards it).
                    await self._drop()
                    raise

    async def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        await self._settled(self._raw.executemany(sql, params))
        return -1

    async def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        # asyncpg quotes the names itself, and loads in COPY's binary format.
        status = await self._settled(
            self._raw.copy_records_to_table(
                table, records=rows, columns=list(columns), schema_name=prefix
            )
        )
        return _rowcount(status)

    async def begin(self, options: TransactionOptions) -> None:
        await self._settled(self._raw.execute(begin_sql(options)))

    async def commit(self) -> None:
        if await self._settled(self._raw.execute("COMMIT")) == "ROLLBACK":
            raise aborted_commit()

    async def rollback(self) -> None:
        if self.in_transaction and not self._raw.is_closed():
            await self._settled(self._raw.execute("ROLLBACK"))

    async def set_statement_timeout(self, seconds: float | None) -> None:
        await self._raw.execute(
            "SELECT set_config('statement_timeout', $1, false)", timeout_ms(seconds)
        )

    async def ping(self) -> None:
        await self._settled(self._raw.execute("SELECT 1"))

    def abort(self) -> None:
        # terminate() drops the socket without a word to the server (which
        # may hang), and the statement waiting on it fails at once. It must
        # run on the connection's loop; this may be called from any thread.
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop:
            self._raw.terminate()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._raw.terminate)

    async def close(self) -> None:
        # A hung server: asyncpg drops the connection without waiting more.
        with contextlib.suppress(TimeoutError):
            await self._raw.close(timeout=_CLOSE_WAIT)

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        return map_error(exc, sql, closed=self._raw.is_closed())


def map_error(exc: BaseException, sql: str | None, *, closed: bool = False) -> Error:
    """The repodb error for an asyncpg exception (or a dropped socket's OSError)."""
    if isinstance(exc, asyncpg.PostgresError):
        # Also asyncpg's own: a connection lost mid-statement is 08003, a
        # parameter it cannot encode for its type 22000.
        return server_error(
            lookup_sqlstate(exc.sqlstate),
            exc.message or str(exc),
            sql,
            sqlstate=exc.sqlstate,
            detail=exc.detail,
            column=exc.column_name,
            constraint=exc.constraint_name,
            table=exc.table_name,
        )
    message = str(exc).strip() or type(exc).__name__
    if closed or isinstance(exc, OSError):
        return ConnectionLost(message, sql=sql)
    if isinstance(exc, asyncpg.InterfaceError):
        return ProgrammingError(message, sql=sql)
    return QueryError(message, sql=sql)


# A malformed URL option (a statement_cache_size that is not a number) too.
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*AsyncpgConnection.native_errors, ValueError)


def _server_settings(url: DatabaseUrl, settings: ConnectSettings) -> dict[str, str]:
    """The session's settings: the URL's ``options``, then UTC and the statement timeout."""
    found: dict[str, str] = {}
    for option in _SERVER_OPTION.findall(url.options.get("options", "")):
        name, _, value = re.sub(r"\\(.)", r"\1", option).partition("=")
        found[name.replace("-", "_")] = value
    found["TimeZone"] = "UTC"
    found["statement_timeout"] = timeout_ms(settings.statement_timeout)
    return found


async def connect(url: DatabaseUrl, settings: ConnectSettings) -> AsyncpgConnection:
    """Open a connection; the session runs in UTC with the requested statement timeout.

    ValueError for ``pooler=transaction``: that mode is psycopg's (docs/pgbouncer.md); asyncpg
    would send the session settings PgBouncer refuses at startup.
    """
    if "pooler" in url.options:
        raise ValueError(
            f"pooler= in {url.redacted}: a transaction pooler is supported on psycopg only"
            " (drop '+asyncpg'); asyncpg behind PgBouncer needs statement_cache_size=0 and"
            " PgBouncer's ignore_startup_parameters for TimeZone and statement_timeout"
        )
    query = [(k, v) for k, v in url.options.items() if k not in _OWN_OPTIONS]
    dsn = urlsplit(url.target)._replace(query=urlencode(query)).geturl()
    timeout = float(url.options.get("connect_timeout") or settings.connect_timeout)
    raw: Any = None
    try:
        raw = await asyncpg.connect(
            dsn,
            timeout=timeout,
            statement_cache_size=int(url.options.get("statement_cache_size", 100)),
            server_settings=_server_settings(url, settings),
        )
        for name, encode, decode in _TIME_CODECS:
            await raw.set_type_codec(
                name, schema="pg_catalog", encoder=encode, decoder=decode, format="binary"
            )
    except _CONNECT_ERRORS as e:
        if raw is not None:
            raw.terminate()
        # Raised outside the except block, unchained, as the psycopg driver
        # does: the library's text may quote the URL, password included.
        why = str(e).strip() or f"no answer within {timeout:g} s"
        error = ConnectError(f"cannot connect to {url.redacted}: {url.scrub(why)}")
    else:
        return AsyncpgConnection(raw)
    raise error
