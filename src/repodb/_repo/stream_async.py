"""``repo.stream``: results read in batches through a held connection.

Why: a large result should not be loaded at once. The stream holds its
connection (and, on PostgreSQL, a server-side cursor) until it is closed or
exhausted, decodes a batch at a time, and reports one telemetry event for the
whole stream when it ends. A stream dropped half-read, neither closed nor
exhausted, would hold its connection for ever: when it is garbage-collected,
its cursor is closed and its connection given back, with a WARNING on the
``repodb.pool`` logger, as for a leaked connection. That work is not done in
the finalizer itself, which may run inside the garbage collector while the
same thread holds the pool's lock: the sync stream hands it to a short-lived
thread, the async one to a task of its event loop.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from .._compile.cache import compile_statement
from .._observe import Watch
from ..errors import Error
from ..prepared import Prepared
from ..query import Query

if True:  # ASYNC
    import asyncio  # the sync module loads no asyncio

if TYPE_CHECKING:
    from ..connection_async import AsyncConnection
    from ..repo_async import AsyncRepo, Intent

__all__ = ["AsyncRepoStream"]

T = TypeVar("T")
_perf = time.perf_counter
_logger = logging.getLogger("repodb.pool")


class AsyncRepoStream(AsyncIterator[T]):
    """Results of ``repo.stream``, fetched in batches; close it (or use ``with``) when done."""

    def __init__(
        self,
        repo: AsyncRepo,
        q: Query[T] | Prepared[T],
        values: tuple[Any, ...],
        intent: Intent,
        batch_size: int,
    ) -> None:
        self._buffer: list[T] = []
        self._batch = batch_size
        self._closed = False
        if True:  # ASYNC
            # A task cannot wait in __init__: the checkout waits for ``async with``
            # or the first item.
            self._pending: (
                tuple[AsyncRepo, Query[T] | Prepared[T], tuple[Any, ...], Intent] | None
            ) = (repo, q, values, intent)
        else:
            self._open(repo, q, values, intent)

    async def _open(
        self, repo: AsyncRepo, q: Query[T] | Prepared[T], values: tuple[Any, ...], intent: Intent
    ) -> None:
        """Check out a connection for ``intent`` and start ``q`` (prepared: with ``values``)."""
        batch_size = self._batch
        started = _perf()
        self._hold = repo._source.checkout(intent)
        conn = await self._hold.__aenter__()
        self._conn = conn
        # One telemetry event (and span) for the whole stream, ended when it
        # closes: checkout, fetch and decode times, and the rows it produced.
        self._repo = repo
        self._watch: Watch | None = None
        self._times = [0.0 if repo._held else _perf() - started, 0.0, 0.0]
        self._count = 0
        self._failure: BaseException | None = None
        try:
            codecs = conn.codecs
            if isinstance(q, Prepared):
                plan = q.plan(repo._dialect(conn), codecs)
                sql, encode, self._decode = plan.sql, plan.encode, plan.decode
                self._params, self._hidden = values, plan.hidden
            else:
                compiled = compile_statement(q, repo._dialect(conn))
                sql, encode, self._decode = (
                    compiled.sql,
                    compiled.encoder(codecs),
                    compiled.decoder(codecs),
                )
                self._params, self._hidden = compiled.params, compiled.hidden
            if repo._observing():
                self._watch = Watch(conn, sql)
            started = _perf()
            try:
                self._rows = conn._stream_sql(sql, encode(self._params), batch_size)
            except Exception as e:  # the event reports any failure, which propagates
                self._report(e)
                raise
            self._times[1] = _perf() - started
        except BaseException:  # even interrupted, the connection goes back
            await self._hold.__aexit__(*sys.exc_info())
            raise
        self._sql = sql
        # Dropped unclosed, the stream still gives its connection back.
        held = (self._hold, self._rows, conn, sql)
        if True:  # ASYNC
            loop = asyncio.get_running_loop()
            self._finalizer = weakref.finalize(self, _abandoned, *held, loop)
        else:
            self._finalizer = weakref.finalize(self, _abandoned, *held)
        # Not at exit: a program ending with a stream open needs no thread for it.
        self._finalizer.atexit = False

    if True:  # ASYNC

        async def _opened(self) -> None:
            """Check out and start the query, once (the sync stream opens in ``__init__``)."""
            if self._pending is not None:
                repo, q, values, intent = self._pending
                self._pending = None
                self._closed = True  # until it is open: a failed start leaves nothing to close
                await self._open(repo, q, values, intent)
                self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if True:  # ASYNC
            await self._opened()
        if not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            rows = []
            started = _perf()
            error: Error | None = None
            try:
                async for row in self._rows:
                    rows.append(row)
                    if len(rows) >= self._batch:
                        break
            except self._conn._native as e:
                # Raised below, outside this block: see AsyncConnection._error.
                error = self._conn._error(e, self._sql)
            except BaseException as e:  # even interrupted, the stream ends and reports it
                self._failure = e
                await self.close()
                raise
            if error is not None:
                self._failure = error
                await self.close()
                raise error
            fetched = _perf()
            self._times[1] += fetched - started
            if not rows:
                await self.close()
                raise StopAsyncIteration
            self._buffer = self._decode(rows)
            self._count += len(rows)
            self._times[2] += _perf() - fetched
            self._buffer.reverse()
        return self._buffer.pop()

    async def close(self) -> None:
        """Release the cursor and give the connection back; further iteration stops."""
        if True:  # ASYNC
            if self._pending is not None:
                self._pending = None
                self._closed = True
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        try:
            close = getattr(self._rows, "aclose", None)
            if close is not None:
                error: Error | None = None
                try:
                    await close()
                except self._conn._native as e:
                    error = self._conn._error(e, self._sql)
                if error is not None:
                    raise error
        finally:
            # The source sees how the stream ended: a router marks a replica
            # that failed mid-stream (a recovery conflict) down.
            failure = self._failure
            if failure is None:
                await self._hold.__aexit__(None, None, None)
            else:
                await self._hold.__aexit__(type(failure), failure, failure.__traceback__)
            self._report(self._failure)

    def _report(self, error: BaseException | None) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            checkout, fetch, decode = self._times
            self._repo._end(
                watch,
                self._params,
                self._hidden,
                self._count,
                error,
                checkout=checkout,
                spent=(fetch, decode),
            )

    async def __aenter__(self) -> Self:
        if True:  # ASYNC
            await self._opened()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


_DROPPED = (
    "a stream was dropped before it was closed or read to the end; its cursor is closed and "
    "its connection given back now (close streams, or read them in a with block): %s"
)


async def _give_back(
    hold: AbstractAsyncContextManager[AsyncConnection],
    rows: AsyncIterator[tuple[Any, ...]],
    conn: AsyncConnection,
) -> None:
    """Close an abandoned stream's cursor, then give its connection back."""
    try:
        close = getattr(rows, "aclose", None)
        if close is not None:
            with contextlib.suppress(*conn._native):
                await close()
    finally:
        await hold.__aexit__(None, None, None)


if True:  # ASYNC

    def _abandoned(
        hold: AbstractAsyncContextManager[AsyncConnection],
        rows: AsyncIterator[tuple[Any, ...]],
        conn: AsyncConnection,
        sql: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """The stream was collected unclosed: its loop gives the connection back."""
        _logger.warning(_DROPPED, sql)
        # The loop keeps only a weak reference to a task: this one holds it.
        tasks: set[asyncio.Task[None]] = set()

        def start() -> None:
            task = loop.create_task(_give_back(hold, rows, conn))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing can run it
            loop.call_soon_threadsafe(start)

else:

    def _abandoned(
        hold: AbstractAsyncContextManager[AsyncConnection],
        rows: AsyncIterator[tuple[Any, ...]],
        conn: AsyncConnection,
        sql: str,
    ) -> None:
        """The stream was collected unclosed: a thread gives the connection back."""
        _logger.warning(_DROPPED, sql)
        worker = threading.Thread(
            target=_give_back, args=(hold, rows, conn), name="repodb-stream-dropped", daemon=True
        )
        with contextlib.suppress(RuntimeError):  # the interpreter is shutting down
            worker.start()
