"""The MariaDB (and MySQL) driver: asyncmy for asyncio, PyMySQL for sync code.

The asyncio driver is written here; the sync one (``mariadb.py``) is
generated from it by ``scripts/async_to_sync.py``: asyncmy follows PyMySQL's
API name for name, so the script renames the client's module and asyncmy's
``connected`` (PyMySQL's ``open``), and what only asyncmy needs (the
handshake's time bound, bytes as hex literals, killing a cancelled
statement, aborting the transport) is in ``# ASYNC`` blocks, each with the
sync module's form in its ``else:``. What both share without I/O (codecs,
error mapping, ``?`` markers, session settings) is in ``_mariadb.py``.

Why these clients: PyMySQL is pure Python, so ``pip install
pyrepodb[mariadb]`` works on a machine without a compiler or the client
library's headers, which mysqlclient and MariaDB Connector/Python both need.
asyncmy speaks the protocol in Cython, reads a row about seven times faster
than aiomysql (PyMySQL's code run on asyncio), lists rows about as fast as
the C clients, and installs from a wheel too (docs/mariadb.md has the
measurements behind both choices).

Choices: the connection is in autocommit mode and repodb issues ``START
TRANSACTION``/``COMMIT`` itself, as on every driver; the session runs in
UTC with ``ANSI_QUOTES`` and ``PIPES_AS_CONCAT`` (``_mariadb.SQL_MODE``);
``FOUND_ROWS`` makes an UPDATE's row count the rows it matched, as
elsewhere, not the rows it changed; a statement timeout is the server's
``max_statement_time``; ``stream`` reads with an unbuffered cursor.
Parameters are bound on the client, by escaping them into the statement
text; the session's ``sql_mode`` includes ``NO_BACKSLASH_ESCAPES``, which
both clients read from the server's status and quote ``str`` for (asyncmy's
optional server-side prepared statements stay off, so values come back in
the same forms on both).

A cancelled task (asyncio): a statement interrupted mid-way leaves the
protocol out of step, so the connection is closed (asyncmy closes it itself
when a read is interrupted; a pool then discards it), and the server thread
that ran the statement is killed from a second connection (``KILL``,
bounded by 5 s), so the statement stops and its transaction is rolled back
on the server instead of running on after the client left.

Requires the ``mariadb`` extra: ``pip install pyrepodb[mariadb]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

if True:  # ASYNC
    import asyncio
else:
    import socket

try:
    if True:  # ASYNC
        import asyncmy
        from asyncmy import converters
    else:
        import pymysql
    from asyncmy.constants import SERVER_STATUS
    from asyncmy.cursors import Cursor, SSCursor
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "MariaDB support needs PyMySQL (sync) and asyncmy (asyncio):"
        " pip install 'pyrepodb[mariadb]'"
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

# The parameters as the client takes them: a tuple (bytes wrapped for asyncmy).
_safe: Callable[[Sequence[Any]], tuple[Any, ...]]
if True:  # ASYNC

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

    def _hex_bytes(params: Sequence[Any]) -> tuple[Any, ...]:
        """``params`` as a tuple, bytes values wrapped so that asyncmy writes them as hex."""
        return tuple(_Binary(v) if isinstance(v, _BINARY) else v for v in params)

    _safe = _hex_bytes

    # How long a cancelled statement's KILL may take (a hung server never answers).
    _KILL_WAIT = 5.0
else:
    # PyMySQL quotes bytes for NO_BACKSLASH_ESCAPES itself: the values go as they are.
    _safe = tuple


T = TypeVar("T")
_DUPLICATE_KEY = 1062


class AsyncMariadbConnection:
    """A driver connection (``AsyncDriverConnection``) over one of the client library's."""

    dialect = MARIADB
    codecs = CODECS
    native_errors: tuple[type[BaseException], ...] = (asyncmy.MySQLError,)

    def __init__(self, raw: asyncmy.Connection, options: dict[str, Any]) -> None:
        self._raw = raw
        if True:  # ASYNC
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
                await self._run(None, stream.buffer_rest)
        return self._plain

    @property
    def in_transaction(self) -> bool:
        # The server reports it in every OK packet; the client keeps the last.
        # (The stubs do not declare server_status.)
        status: int = getattr(self._raw, "server_status", 0)
        return bool(self._raw.connected and status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)

    @property
    def closed(self) -> bool:
        return not self._raw.connected

    async def _run(self, sql: str | None, step: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await step(*args)``, noting a duplicate key's columns, stopping a cancelled statement.

        Why the columns here: MariaDB's duplicate-key error names only the
        key, and ``map_error``, which cannot wait, reads them from the cache
        this fills from the catalog. A cancelled task (asyncio) kills the
        statement on the server (``_kill``).
        """
        try:
            return await step(*args)
        except BaseException as e:
            if True:  # ASYNC
                if isinstance(e, asyncio.CancelledError):
                    await self._kill()
                    raise
            if isinstance(e, asyncmy.IntegrityError) and e.args and e.args[0] == _DUPLICATE_KEY:
                error = map_error(e, sql)
                if error.table and error.constraint:
                    await self._key_columns(error.table, error.constraint)
            raise

    if True:  # ASYNC

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
            with contextlib.suppress(asyncmy.MySQLError, OSError, TimeoutError):
                async with asyncio.timeout(_KILL_WAIT):
                    killer = await asyncmy.connect(**self._options)
                    try:
                        await killer.cursor().execute(f"KILL {int(thread)}")
                    finally:
                        killer.close()

    async def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        cursor = await self._cursor()
        count: int = await self._run(sql, cursor.execute, pyformat(sql), _safe(params))
        return count

    async def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[tuple[Any, ...]]:
        cursor = await self._cursor()
        await self._run(sql, cursor.execute, pyformat(sql), _safe(params))
        # The rows are in memory already (a buffered cursor): nothing to wait for.
        return list(await cursor.fetchall())

    async def stream(
        self, sql: str, params: Sequence[Any], batch_size: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        formatted = pyformat(sql)
        await self._cursor()
        cursor = self._raw.cursor(SSCursor)
        stream = _Stream(cursor)
        try:
            await self._run(sql, cursor.execute, formatted, _safe(params))
            self._streams.append(stream)
            while batch := await self._run(None, stream.fetch, batch_size):
                for row in batch:
                    yield row
        finally:
            if stream in self._streams:
                self._streams.remove(stream)
            # Closing an unbuffered cursor reads what the server still sends;
            # on a broken connection there is nothing left to read.
            if self._raw.connected:
                await self._run(None, cursor.close)

    async def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        # The client sends an INSERT ... VALUES as multi-row INSERTs of up to
        # max_allowed_packet bytes, every other statement once per row.
        cursor = await self._cursor()
        rows = [_safe(p) for p in params]
        count: int | None = await self._run(sql, cursor.executemany, pyformat(sql), rows)
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
        # SET TRANSACTION applies to the next transaction only.
        cursor = await self._cursor()
        for sql in begin_statements(options):
            await self._run(None, cursor.execute, sql)

    async def commit(self) -> None:
        cursor = await self._cursor()
        await self._run(None, cursor.execute, "COMMIT")

    async def rollback(self) -> None:
        if self.in_transaction:
            cursor = await self._cursor()
            await self._run(None, cursor.execute, "ROLLBACK")

    async def set_statement_timeout(self, seconds: float | None) -> None:
        cursor = await self._cursor()
        sql = f"SET SESSION max_statement_time = {timeout_seconds(seconds)}"
        await self._run(None, cursor.execute, sql)

    async def ping(self) -> None:
        await self._run(None, self._raw.ping, False)

    def abort(self) -> None:
        if True:  # ASYNC
            # Aborting the transport fails a read in progress at once (the
            # connection is lost); a hung server would never answer KILL QUERY.
            transport: asyncio.Transport | None = getattr(self._raw, "_transport", None)
            if transport is not None:
                transport.abort()
            self._raw.close()
        else:
            # Shutting the socket down wakes a thread blocked reading from it at
            # once: its read fails and PyMySQL reports the connection lost. KILL
            # QUERY would need a second connection and a server that answers.
            sock = getattr(self._raw, "_sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    async def close(self) -> None:
        raw = self._raw
        if raw.connected:
            if True:  # ASYNC
                try:
                    await raw.ensure_closed()
                except (asyncmy.MySQLError, OSError):
                    pass  # the server is gone: nothing to say goodbye to
                finally:
                    raw.close()  # also when interrupted (a cancelled task)
            else:
                # PyMySQL's close says goodbye and closes the socket whatever happens.
                with contextlib.suppress(pymysql.MySQLError, OSError):
                    raw.close()

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        error = map_error(exc, sql)
        if isinstance(error, UniqueViolation) and error.table and error.constraint:
            error.columns = self._keys.get((error.table, error.constraint), ())
        return error

    async def _key_columns(self, table: str, key: str) -> None:
        """Cache the columns of a unique key, from the catalog; nothing when the lookup fails."""
        if (table, key) in self._keys or not self._raw.connected:
            return
        with contextlib.suppress(asyncmy.MySQLError, OSError):
            cursor = self._plain
            await cursor.execute(KEY_COLUMNS, (table, key))
            rows = await cursor.fetchall()
            self._keys[table, key] = tuple(row[0] for row in rows)


class _Stream:
    """An unbuffered cursor's rows, read into memory when the connection is wanted."""

    __slots__ = ("buffered", "cursor")

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self.buffered: list[tuple[Any, ...]] | None = None

    async def fetch(self, size: int) -> list[tuple[Any, ...]]:
        if self.buffered is None:
            return list(await self.cursor.fetchmany(size))
        batch, self.buffered = self.buffered[:size], self.buffered[size:]
        return batch

    async def buffer_rest(self) -> None:
        self.buffered = list(await self.cursor.fetchall())


async def connect(url: DatabaseUrl, settings: ConnectSettings) -> AsyncMariadbConnection:
    """Open a connection: UTC, portable SQL mode, the requested statement timeout.

    The whole handshake is bounded by the connect timeout: both clients bound
    only the TCP connect with theirs, and a hung server accepts that and never
    greets. On asyncio a timeout wraps the connect; PyMySQL reads the greeting
    with its read timeout, so the connect timeout stands in for it until the
    session is set up (PyMySQL applies a changed ``_read_timeout`` on its next
    read).
    """
    options = connect_options(url, settings)
    if True:  # ASYNC
        options.pop("write_timeout", None)
        options["conv"] = _CONVERSIONS
    try:
        if True:  # ASYNC
            async with asyncio.timeout(options["connect_timeout"]):
                raw = await asyncmy.connect(**options)
        else:
            read_timeout = options.get("read_timeout")
            raw = pymysql.connect(**{**options, "read_timeout": options["connect_timeout"]})
            raw._read_timeout = read_timeout  # type: ignore[attr-defined, unused-ignore]
    except TimeoutError:
        error = connect_error(url, TimeoutError(f"no answer in {options['connect_timeout']:g} s"))
    except (asyncmy.MySQLError, OSError) as e:
        # Unchained, as every repodb error (errors.py says why).
        error = connect_error(url, e)
    else:
        return AsyncMariadbConnection(raw, options)
    raise error
