"""The PostgreSQL driver, on psycopg 3.

The asyncio driver is written here; the sync one (``postgresql.py``) is
generated from it by ``scripts/async_to_sync.py``, since psycopg's async and
sync APIs match name for name. What both share without I/O (codecs, error mapping,
connection settings) is in ``_postgresql.py``.

Why these choices: parameters are bound on the server (psycopg's default), in
PostgreSQL's own ``$1`` style (``RawCursor``), so a request's markers need no
rewriting; requests are prepared on the server the first time they run and
reused after (psycopg keeps the prepared statements per connection); the
session time zone is UTC, so ``timestamptz`` values come back in UTC; the
connection is in autocommit mode and repodb issues ``BEGIN``/``COMMIT`` itself,
so transactions behave the same as on every other driver. A statement timeout
is PostgreSQL's ``statement_timeout``: the server cancels the query itself.

Through a transaction pooler (``pooler=transaction`` in the URL, for
PgBouncer's ``pool_mode = transaction``) consecutive transactions may run on
different server connections, so nothing is kept in the session: no startup
``options`` (PgBouncer refuses them), nothing prepared on the server, the
timeout set with ``SET LOCAL`` semantics in each transaction (in ``BEGIN``'s
round trip) and, outside one, in the same implicit transaction as the
statement (a pipeline, one round trip); ``timestamptz`` is turned to UTC on
the client; a stream outside a transaction runs in one of its own, since a
``WITH HOLD`` cursor would stay on a server connection the next statement
may not get.

Requires the ``postgresql`` extra: ``pip install pyrepodb[postgresql]``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

if True:  # ASYNC
    import asyncio

try:
    import psycopg
    from psycopg.pq import ExecStatus, TransactionStatus
    from psycopg.pq.abc import PGcancel
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "PostgreSQL support needs psycopg 3: pip install 'pyrepodb[postgresql]'"
    ) from e

from ..dialect import POSTGRESQL
from ..errors import Error
from ..url import DatabaseUrl
from . import ConnectSettings, TransactionOptions
from ._postgresql import (
    _ADAPTERS,
    CODECS,
    _cursor_names,
    _too_many,
    connect_error,
    connect_options,
    map_error,
    pooled,
    set_local_timeout,
)
from ._postgresql_base import MAX_PARAMS, aborted_commit, begin_sql, timeout_ms

__all__ = ["CODECS", "AsyncPostgresConnection", "connect", "map_error"]

T = TypeVar("T")
# How long a statement psycopg gave up on waits for repodb's cancel request to be sent.
_CANCEL_WAIT = 5.0


def _send_cancel(handle: PGcancel) -> None:
    with contextlib.suppress(psycopg.Error):
        handle.cancel()


class AsyncPostgresConnection:
    """An ``AsyncDriverConnection`` over one psycopg ``AsyncConnection``."""

    dialect = POSTGRESQL
    codecs = CODECS
    native_errors: tuple[type[BaseException], ...] = (psycopg.Error,)

    def __init__(
        self,
        raw: psycopg.AsyncConnection[tuple[Any, ...]],
        pooler: bool = False,
        statement_timeout: float | None = None,
    ) -> None:
        self._raw = raw
        self._cursor = raw.cursor()
        self._pooler = pooler
        # For a statement psycopg gave up on (see _interrupted); None once used,
        # or when libpq could not make one (psycopg's own cancel still runs).
        self._cancel_handle: PGcancel | None = None
        with contextlib.suppress(psycopg.Error):
            self._cancel_handle = raw.pgconn.get_cancel()
        # Through a pooler, the cursor that sets the timeout before a statement.
        self._prelude = raw.cursor()
        # Through a pooler: the statement that sets the timeout in the current
        # transaction, or None when there is no timeout to set.
        self._local_timeout: str | None = None
        if pooler and statement_timeout is not None:
            self._local_timeout = set_local_timeout(statement_timeout)

    @property
    def in_transaction(self) -> bool:
        # UNKNOWN: the connection is closed or broken, and its transaction gone.
        status = self._raw.info.transaction_status
        return status != TransactionStatus.IDLE and status != TransactionStatus.UNKNOWN

    @property
    def closed(self) -> bool:
        return self._raw.closed

    async def _interrupted(self, exc: BaseException) -> None:
        """After ``exc`` from psycopg: cancel on the server a statement psycopg gave up on.

        Why: a task cancelled while its statement runs makes psycopg send
        the server a cancel request and wait for the statement to end.
        Interrupted again meanwhile (a task cancelled twice, an
        ``asyncio.timeout`` then a cancel), or waiting in vain, psycopg
        closes the connection, whose state it cannot know, and the
        interruption goes on; the statement, whose cancel request may never
        have left, runs on in the server until it ends (locks held): a
        closed connection does not stop it, the server notices a client gone
        only when it next writes. So this sends a cancel request of its own:
        from the handle taken when the connection opened (``cancel_safe``
        needs the connection psycopg has just closed), on a thread (libpq's
        ``PQcancel`` blocks), waited for ``_CANCEL_WAIT`` at most (a hung
        server never answers; the daemon thread ends when it does). An
        interruption is not an ``Exception``; after one, psycopg closes the
        connection only when it gave up on a statement.
        """
        handle = self._cancel_handle
        if handle is None or isinstance(exc, Exception) or not self._raw.closed:
            return
        self._cancel_handle = None
        thread = threading.Thread(
            target=_send_cancel, args=(handle,), name="repodb-pg-cancel", daemon=True
        )
        thread.start()
        if True:  # ASYNC
            await asyncio.to_thread(thread.join, _CANCEL_WAIT)
        else:
            thread.join(_CANCEL_WAIT)

    async def _guarded(self, step: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await step(*args, **kwargs)``, cancelling a statement psycopg gave up on."""
        try:
            return await step(*args, **kwargs)
        except BaseException as e:
            await self._interrupted(e)
            raise

    async def _send(self, sql: str, params: Sequence[Any], prepare: bool) -> None:
        if len(params) > MAX_PARAMS:
            _too_many(params)
        try:
            if self._local_timeout is None or self.in_transaction:
                await self._cursor.execute(sql, params, prepare=prepare and not self._pooler)
                return
            # Through a pooler, outside a transaction: the timeout and the
            # statement share the implicit transaction that ends at the
            # pipeline's Sync, and so one server connection (one round trip).
            # Leaving the block sends the Sync and reads both results.
            async with self._raw.pipeline():
                await self._prelude.execute(self._local_timeout, prepare=False)
                await self._cursor.execute(sql, params, prepare=False)
        except BaseException as e:  # a try costs nothing until it catches
            await self._interrupted(e)
            raise

    async def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        await self._send(sql, params, prepare)
        return self._cursor.rowcount

    async def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[tuple[Any, ...]]:
        cursor = self._cursor
        await self._send(sql, params, prepare)
        result = cursor.pgresult
        return await cursor.fetchall() if result and result.status == ExecStatus.TUPLES_OK else []

    async def stream(
        self, sql: str, params: Sequence[Any], batch_size: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        if len(params) > MAX_PARAMS:
            _too_many(params)
        # Outside a transaction a server-side cursor must be WITH HOLD to
        # outlive the implicit transaction of its DECLARE; through a pooler,
        # which may run the next FETCH on another server connection, the
        # stream runs in a transaction of its own instead.
        own = self._pooler and not self.in_transaction
        cursor = psycopg.AsyncRawServerCursor(
            self._raw,
            f"repodb_stream_{next(_cursor_names)}",
            withhold=not own and not self.in_transaction,
        )
        if own:
            await self.begin(TransactionOptions())
        try:
            cursor.itersize = batch_size
            await self._guarded(cursor.execute, sql, params)
            while batch := await self._guarded(cursor.fetchmany, batch_size):
                for row in batch:
                    yield row
        finally:
            if not self._raw.broken:
                try:
                    await cursor.close()
                except BaseException:
                    # Interrupted (a cancelled task) while closing: whether the
                    # server closed the cursor is unknown, and a WITH HOLD one
                    # would outlive the stream. Drop the connection (a pool
                    # discards it); the cursor then closes without I/O.
                    self._raw.pgconn.finish()
                    await cursor.close()
                    raise
                if own and self._raw.info.transaction_status == TransactionStatus.INERROR:
                    await self.rollback()  # the error that ended the stream is the one to see
                elif own:
                    await self.commit()

    async def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        cursor = self._cursor
        await self._guarded(cursor.executemany, sql, params)
        return cursor.rowcount

    async def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        names = ", ".join(map(POSTGRESQL.quote, columns))
        sql = f"COPY {POSTGRESQL.quote_table(table, prefix)} ({names}) FROM STDIN"
        count = 0
        try:
            async with self._cursor.copy(sql) as copy:
                for row in rows:
                    await copy.write_row(row)
                    count += 1
        except BaseException as e:
            await self._interrupted(e)
            raise
        return count

    async def begin(self, options: TransactionOptions) -> None:
        sql = begin_sql(options)
        if self._local_timeout is not None:
            # One round trip: without parameters psycopg sends the simple
            # protocol, which takes several statements.
            sql += "; " + self._local_timeout
        await self._cursor.execute(sql, prepare=False)

    async def commit(self) -> None:
        aborted = self._raw.info.transaction_status == TransactionStatus.INERROR
        # COMMIT may wait: deferred constraints, a synchronous standby.
        await self._guarded(self._cursor.execute, "COMMIT", prepare=False)
        if aborted:
            raise aborted_commit()

    async def rollback(self) -> None:
        if self.in_transaction and not self._raw.broken:
            await self._cursor.execute("ROLLBACK", prepare=False)

    async def set_statement_timeout(self, seconds: float | None) -> None:
        if self._pooler:
            # The session belongs to the pooler: kept here, set per transaction.
            self._local_timeout = None if seconds is None else set_local_timeout(seconds)
            if self.in_transaction:
                await self._cursor.execute(set_local_timeout(seconds), prepare=False)
            return
        await self._cursor.execute(
            "SELECT set_config('statement_timeout', $1, false)", (timeout_ms(seconds),)
        )

    async def ping(self) -> None:
        await self._cursor.execute("SELECT 1")

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

    async def close(self) -> None:
        await self._raw.close()

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        return map_error(exc, sql, broken=self._raw.broken)


async def connect(url: DatabaseUrl, settings: ConnectSettings) -> AsyncPostgresConnection:
    """Open a connection; the session runs in UTC with the requested statement timeout.

    ``pooler=transaction`` in the URL: through a transaction pooler (see the module's docstring).
    """
    pooler = pooled(url)
    try:
        # Requests say whether to prepare (prepare=True/False on each
        # execute); connect_options' prepare_threshold=None (a pooler)
        # disables preparing altogether.
        raw = await psycopg.AsyncConnection.connect(
            url.without("pooler") if pooler else url.target,
            autocommit=True,
            cursor_factory=psycopg.AsyncRawCursor,
            context=_ADAPTERS,
            **connect_options(url, settings, pooler),
        )
    except psycopg.Error as e:
        # Raised outside the except block, unchained: libpq's text can quote
        # the conninfo, password included ('missing "=" after ...'), and a
        # formatted traceback would show the chained exception's text.
        error = connect_error(url, e)
    else:
        return AsyncPostgresConnection(raw, pooler, settings.statement_timeout)
    raise error
