"""The MariaDB (and MySQL) driver for asyncio, on asyncmy.

Why asyncmy: it speaks the protocol in Cython, and reads a row about seven
times faster than aiomysql (PyMySQL's code run on asyncio) and lists rows
about as fast as the C clients; it installs from a wheel, with no compiler
or client headers (docs/mariadb.md has the measurements). It follows
PyMySQL's API and error tree, so everything but the waiting is shared with
the sync driver (``_mariadb.py``: codecs, error mapping, ``?`` markers,
session settings); this module holds only the I/O.

Same semantics as the sync driver: autocommit, with repodb's own ``START
TRANSACTION``; UTC and the portable ``sql_mode``; matched row counts; the
statement timeout is ``max_statement_time``; parameters bound on the client
(asyncmy's text protocol, as PyMySQL's: its optional server-side prepared
statements stay off, so values come back in the same forms); ``stream``
reads with an unbuffered cursor.

A cancelled task: a statement interrupted mid-way leaves the protocol out of
step, so the connection is closed (asyncmy closes it itself when a read is
interrupted; a pool then discards it), and the server thread that ran the
statement is killed from a second connection (``KILL``, bounded by 5 s), so
the statement stops and its transaction is rolled back on the server
instead of running on after the client left.

Requires the ``mariadb`` extra: ``pip install pyrepodb[mariadb]``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from typing import Any, TypeVar, cast

try:
    import asyncmy
    from asyncmy import converters
    from asyncmy.constants import SERVER_STATUS
    from asyncmy.cursors import Cursor, SSCursor
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "MariaDB support for asyncio needs asyncmy: pip install 'pyrepodb[mariadb]'"
    ) from e

from ..dialect import MARIADB
from ..errors import Error, UniqueViolation
from ..url import DatabaseUrl
from . import ConnectSettings, TransactionOptions
from ._mariadb import (
    CODECS,
    KEY_COLUMNS,
    begin_statements,
    connect_error,
    connect_options,
    map_error,
    pyformat,
    timeout_seconds,
)

__all__ = ["CODECS", "AsyncMariadbConnection", "connect", "map_error"]


class _Binary:
    """A bytes value on its way into a statement, written as a hex literal.

    Why: asyncmy 0.2 writes ``bytes`` with backslash escapes whatever the
    session's ``sql_mode``, and repodb's sessions run with
    ``NO_BACKSLASH_ESCAPES`` (the portable mode, as PyMySQL honours it): a
    quote or backslash in the value then ended the literal early, so bytes
    could be stored wrong, fail as a syntax error, or carry SQL of their own.
    ``X'..'`` holds no quote or backslash at all.
    """

    __slots__ = ("value",)

    def __init__(self, value: bytes | bytearray | memoryview) -> None:
        self.value = bytes(value)


def _hex_literal(value: _Binary, mapping: object = None) -> str:
    return "X'" + value.value.hex() + "'"


def _quoted(value: object, mapping: object = None) -> str:
    # asyncmy's fallback for a value of a type it has no encoder for, and for
    # a str inside a sequence: written as NO_BACKSLASH_ESCAPES reads it.
    return "'" + str(value).replace("'", "''") + "'"


_CONVERSIONS = {**converters.conversions, _Binary: _hex_literal, str: _quoted}
_BINARY = (bytes, bytearray, memoryview)


def _safe(params: Sequence[Any]) -> tuple[Any, ...]:
    """``params`` as a tuple, bytes values wrapped so that asyncmy writes them as hex."""
    return tuple(_Binary(v) if isinstance(v, _BINARY) else v for v in params)


T = TypeVar("T")
# How long a cancelled statement's KILL may take (a hung server never answers).
_KILL_WAIT = 5.0
_DUPLICATE_KEY = 1062


class AsyncMariadbConnection:
    """An ``AsyncDriverConnection`` over one asyncmy connection."""

    dialect = MARIADB
    codecs = CODECS
    native_errors: tuple[type[BaseException], ...] = (asyncmy.errors.MySQLError,)

    def __init__(self, raw: asyncmy.Connection, options: dict[str, Any]) -> None:
        self._raw = raw
        # What a second connection needs to kill a cancelled statement.
        self._options = options
        self._plain: Cursor = raw.cursor()
        self._streams: list[_Stream] = []
        self._keys: dict[tuple[str, str], tuple[str, ...]] = {}

    async def _cursor(self) -> Cursor:
        # The protocol runs one statement at a time: an open stream's unread
        # rows are read into memory first, and the stream goes on from there.
        if self._streams:
            streams, self._streams = self._streams, []
            for stream in streams:
                await self._run(stream.buffer_rest())
        return self._plain

    @property
    def in_transaction(self) -> bool:
        # The server reports it in every OK packet; asyncmy keeps the last.
        # (The stubs do not declare server_status.)
        status: int = getattr(self._raw, "server_status", 0)
        return bool(self._raw.connected and status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)

    @property
    def closed(self) -> bool:
        return not self._raw.connected

    async def _run(self, step: Awaitable[T], sql: str | None = None) -> T:
        """``await step``: on cancellation, stop the statement on the server; note a key's columns.

        Why the columns here: MariaDB's duplicate-key error names only the
        key, and ``map_error``, which cannot wait, reads them from the cache
        this fills from the catalog.
        """
        try:
            return await step
        except asyncio.CancelledError:
            await self._kill()
            raise
        except asyncmy.errors.IntegrityError as e:
            if e.args and e.args[0] == _DUPLICATE_KEY:
                error = map_error(e, sql)
                if error.table and error.constraint:
                    await self._key_columns(error.table, error.constraint)
            raise

    async def _kill(self) -> None:
        """Close this connection and kill its server thread from a second one.

        A statement interrupted mid-way left its reply unread, so the
        connection cannot be used again; closing it does not stop the
        statement (the server notices only when it next writes), ``KILL``
        does, and rolls back the thread's transaction. Failing (the thread
        already gone, a hung server) or interrupted again, it gives up: the
        cancellation goes on either way.
        """
        raw = self._raw
        thread = raw.thread_id()
        raw.close()
        with contextlib.suppress(asyncmy.errors.MySQLError, OSError, TimeoutError):
            async with asyncio.timeout(_KILL_WAIT):
                killer = await asyncmy.connect(**self._options)
                try:
                    await killer.cursor().execute(f"KILL {int(thread)}")
                finally:
                    killer.close()

    async def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        cursor = await self._cursor()
        return await self._run(cursor.execute(pyformat(sql), _safe(params)), sql)

    async def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[tuple[Any, ...]]:
        cursor = await self._cursor()
        await self._run(cursor.execute(pyformat(sql), _safe(params)), sql)
        rows: list[tuple[Any, ...]] = await self._run(cursor.fetchall())
        return rows

    async def stream(
        self, sql: str, params: Sequence[Any], batch_size: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        formatted = pyformat(sql)
        await self._cursor()
        cursor = cast(SSCursor, self._raw.cursor(SSCursor))
        stream = _Stream(cursor)
        try:
            await self._run(cursor.execute(formatted, _safe(params)), sql)
            self._streams.append(stream)
            while batch := await self._run(stream.fetch(batch_size)):
                for row in batch:
                    yield row
        finally:
            if stream in self._streams:
                self._streams.remove(stream)
            # Closing an unbuffered cursor reads what the server still sends;
            # on a broken connection there is nothing left to read.
            if self._raw.connected:
                await self._run(cursor.close())

    async def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        # asyncmy sends an INSERT ... VALUES as multi-row INSERTs of up to
        # max_allowed_packet bytes, every other statement once per row.
        cursor = await self._cursor()
        rows = [_safe(p) for p in params]
        count: int | None = await self._run(cursor.executemany(pyformat(sql), rows), sql)
        return count or 0

    async def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        return await self.execute_many(MARIADB.insert_sql(table, columns, prefix), rows)

    async def begin(self, options: TransactionOptions) -> None:
        cursor = await self._cursor()
        for sql in begin_statements(options):
            await self._run(cursor.execute(sql))

    async def commit(self) -> None:
        cursor = await self._cursor()
        await self._run(cursor.execute("COMMIT"))

    async def rollback(self) -> None:
        if self.in_transaction:
            cursor = await self._cursor()
            await self._run(cursor.execute("ROLLBACK"))

    async def set_statement_timeout(self, seconds: float | None) -> None:
        cursor = await self._cursor()
        sql = f"SET SESSION max_statement_time = {timeout_seconds(seconds)}"
        await self._run(cursor.execute(sql))

    async def ping(self) -> None:
        await self._run(self._raw.ping(reconnect=False))

    def abort(self) -> None:
        # Aborting the transport fails a read in progress at once (the
        # connection is lost); a hung server would never answer KILL QUERY.
        transport: asyncio.Transport | None = getattr(self._raw, "_transport", None)
        if transport is not None:
            transport.abort()
        self._raw.close()

    async def close(self) -> None:
        raw = self._raw
        if raw.connected:
            try:
                await raw.ensure_closed()
            except (asyncmy.errors.MySQLError, OSError):
                pass  # the server is gone: nothing to say goodbye to
            finally:
                raw.close()  # also when interrupted (a cancelled task)

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        error = map_error(exc, sql)
        if isinstance(error, UniqueViolation) and error.table and error.constraint:
            error.columns = self._keys.get((error.table, error.constraint), ())
        return error

    async def _key_columns(self, table: str, key: str) -> None:
        """Cache the columns of a unique key, from the catalog; nothing when the lookup fails."""
        if (table, key) in self._keys or not self._raw.connected:
            return
        with contextlib.suppress(asyncmy.errors.MySQLError, OSError):
            cursor = self._plain
            await cursor.execute(KEY_COLUMNS, (table, key))
            rows = await cursor.fetchall()
            self._keys[table, key] = tuple(row[0] for row in rows)


class _Stream:
    """An unbuffered cursor's rows, read into memory when the connection is wanted."""

    __slots__ = ("buffered", "cursor")

    def __init__(self, cursor: SSCursor) -> None:
        self.cursor = cursor
        self.buffered: list[tuple[Any, ...]] | None = None

    async def fetch(self, size: int) -> list[tuple[Any, ...]]:
        if self.buffered is None:
            rows: list[tuple[Any, ...]] = await self.cursor.fetchmany(size)
            return rows
        batch, self.buffered = self.buffered[:size], self.buffered[size:]
        return batch

    async def buffer_rest(self) -> None:
        self.buffered = list(await self.cursor.fetchall())


async def connect(url: DatabaseUrl, settings: ConnectSettings) -> AsyncMariadbConnection:
    """Open a connection: UTC, portable SQL mode, the requested statement timeout.

    The whole handshake is bounded by the connect timeout: asyncmy bounds
    only the TCP connect, and a hung server accepts that and never greets.
    """
    options = connect_options(url, settings)
    options.pop("write_timeout", None)
    options["conv"] = _CONVERSIONS
    try:
        async with asyncio.timeout(options["connect_timeout"]):
            raw = await asyncmy.connect(**options)
    except TimeoutError:
        error = connect_error(url, TimeoutError(f"no answer in {options['connect_timeout']:g} s"))
    except (asyncmy.errors.MySQLError, OSError) as e:
        # Unchained, as every repodb error (errors.py says why).
        error = connect_error(url, e)
    else:
        return AsyncMariadbConnection(raw, options)
    raise error
