"""SQLite for asyncio: the sync driver's calls, run on one dedicated thread per connection.

Why a thread: ``sqlite3`` blocks; the event loop must not. One
thread per connection keeps SQLite's own ordering, and ``abort`` (SQLite's
``interrupt``) is safe from the loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any, TypeVar

from ..dialect import SQLITE
from ..errors import Error
from ..url import DatabaseUrl
from . import ConnectSettings, TransactionOptions, sqlite

__all__ = ["AsyncSqliteConnection", "connect"]

T = TypeVar("T")
Row = tuple[Any, ...]


class AsyncSqliteConnection:
    """An ``AsyncDriverConnection`` over a ``SqliteConnection`` and its own thread."""

    dialect = SQLITE
    codecs = sqlite.CODECS
    native_errors = sqlite.SqliteConnection.native_errors

    def __init__(self, sync: sqlite.SqliteConnection, worker: ThreadPoolExecutor) -> None:
        self._sync = sync
        self._worker = worker
        self._closed = False

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            # The worker thread is gone; fail as sqlite3 does on a closed
            # connection (a native error, mapped like any other), not with
            # the executor's RuntimeError.
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        future = asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The task is cancelled, but the thread still runs the statement,
            # and the connection's next call would wait behind it: interrupt
            # it (the one call SQLite allows from another thread) and let the
            # thread finish before the cancellation goes on.
            self._sync.abort()
            with contextlib.suppress(Exception):
                await future
            raise

    @property
    def in_transaction(self) -> bool:
        return self._sync.in_transaction

    @property
    def closed(self) -> bool:
        return self._closed

    async def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        return await self._call(self._sync.execute, sql, params, prepare)

    async def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[Row]:
        return await self._call(self._sync.fetch, sql, params, prepare)

    async def stream(self, sql: str, params: Sequence[Any], batch_size: int) -> AsyncIterator[Row]:
        rows = self._sync.stream(sql, params, batch_size)
        try:
            while batch := await self._call(_take, rows, batch_size):
                for row in batch:
                    yield row
        finally:
            await self._call(getattr(rows, "close", _nothing))

    async def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        return await self._call(self._sync.execute_many, sql, params)

    async def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        return await self._call(self._sync.copy_in, table, columns, rows, prefix)

    async def begin(self, options: TransactionOptions) -> None:
        await self._call(self._sync.begin, options)

    async def commit(self) -> None:
        await self._call(self._sync.commit)

    async def rollback(self) -> None:
        await self._call(self._sync.rollback)

    async def set_statement_timeout(self, seconds: float | None) -> None:
        await self._call(self._sync.set_statement_timeout, seconds)

    async def ping(self) -> None:
        await self._call(self._sync.ping)

    def abort(self) -> None:
        self._sync.abort()

    async def close(self) -> None:
        try:
            await self._call(self._sync.close)
        finally:
            self._closed = True
            self._worker.shutdown(wait=False)

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        return self._sync.map_error(exc, sql)


def _nothing() -> None:
    return None


def _take(rows: Iterator[Row], n: int) -> list[Row]:
    return list(islice(rows, n))


async def connect(url: DatabaseUrl, settings: ConnectSettings) -> AsyncSqliteConnection:
    """Open the database on a new thread that will run every call of the connection."""
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="repodb-sqlite")
    opening = worker.submit(sqlite.connect, url, settings)
    try:
        sync = await asyncio.shield(asyncio.wrap_future(opening))
    except BaseException:
        # Cancelled while the thread opens the file: the thread still opens
        # it, and nothing else would close what it opens. The callback is
        # the thread's own (or runs here, once it is done), not the event
        # loop's: a loop closed meanwhile (``asyncio.run`` ending on the
        # cancellation) would never run it.
        opening.add_done_callback(lambda done: _discard(done, worker))
        raise
    return AsyncSqliteConnection(sync, worker)


def _discard(done: Future[sqlite.SqliteConnection], worker: ThreadPoolExecutor) -> None:
    if not done.cancelled() and done.exception() is None:
        done.result().close()
    worker.shutdown(wait=False)
