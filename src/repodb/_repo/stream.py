"""``repo.stream``: results read in batches through a held connection.

Why: a large result should not be loaded at once. The stream holds its
connection (and, on PostgreSQL, a server-side cursor) until it is closed or
exhausted, decodes a batch at a time, and reports one telemetry event for the
whole stream when it ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from .._compile.cache import compile_statement
from ..errors import Error
from ..query import Query

if TYPE_CHECKING:
    from ..repo import Intent, Repo

__all__ = ["RepoStream"]

T = TypeVar("T")
_perf = time.perf_counter


class RepoStream(Iterator[T]):
    """Results of ``repo.stream``, fetched in batches; close it (or use ``with``) when done."""

    def __init__(self, repo: Repo, q: Query[T], intent: Intent, batch_size: int) -> None:
        started = _perf()
        self._hold = repo._source.checkout(intent)
        conn = self._hold.__enter__()
        self._conn = conn
        # One telemetry event for the whole stream, emitted when it closes:
        # checkout, fetch and decode times, and the rows it produced.
        self._repo = repo if repo._observing() else None
        self._times = [0.0 if repo._held else _perf() - started, 0.0, 0.0]
        self._count = 0
        self._failure: BaseException | None = None
        try:
            self._compiled = compiled = compile_statement(q, conn.dialect)
            self._decode = compiled.decoder(conn.codecs)
            started = _perf()
            try:
                self._rows = conn._stream_sql(
                    compiled.sql, compiled.encode(conn.codecs), batch_size
                )
            except Exception as e:  # the event reports any failure, which propagates
                self._report(e)
                raise
            self._times[1] = _perf() - started
        except BaseException:  # even interrupted, the connection goes back
            self._hold.__exit__(*sys.exc_info())
            raise
        self._sql = compiled.sql
        self._buffer: list[T] = []
        self._batch = batch_size
        self._closed = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> T:
        if not self._buffer:
            if self._closed:
                raise StopIteration
            rows = []
            started = _perf()
            error: Error | None = None
            try:
                for row in self._rows:
                    rows.append(row)
                    if len(rows) >= self._batch:
                        break
            except self._conn._native as e:
                # Raised below, outside this block: see Connection._error.
                error = self._conn._error(e, self._sql)
            except BaseException as e:  # even interrupted, the stream ends and reports it
                self._failure = e
                self.close()
                raise
            if error is not None:
                self._failure = error
                self.close()
                raise error
            fetched = _perf()
            self._times[1] += fetched - started
            if not rows:
                self.close()
                raise StopIteration
            self._buffer = self._decode(rows)
            self._count += len(rows)
            self._times[2] += _perf() - fetched
            self._buffer.reverse()
        return self._buffer.pop()

    def close(self) -> None:
        """Release the cursor and give the connection back; further iteration stops."""
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._rows, "close", None)
            if close is not None:
                error: Error | None = None
                try:
                    close()
                except self._conn._native as e:
                    error = self._conn._error(e, self._sql)
                if error is not None:
                    raise error
        finally:
            # The source sees how the stream ended: a router marks a replica
            # that failed mid-stream (a recovery conflict) down.
            failure = self._failure
            if failure is None:
                self._hold.__exit__(None, None, None)
            else:
                self._hold.__exit__(type(failure), failure, failure.__traceback__)
            self._report(self._failure)

    def _report(self, error: BaseException | None) -> None:
        if self._repo is not None:
            c, (checkout, fetch, decode) = self._compiled, self._times
            times = (checkout, fetch, decode)
            self._repo._emit(self._conn, c.sql, c.params, c.hidden, times, self._count, error)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
