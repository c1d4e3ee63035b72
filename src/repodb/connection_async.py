"""Connections: running typed requests, transactions, bulk loads and timeouts.

Why: this is Caqti's "written once above every driver" layer. A driver only
runs SQL; ``AsyncConnection`` turns a ``Request`` into SQL for that driver, checks
and encodes the parameters, maps native errors to repodb's, checks the row
count and decodes rows. Everything here works the same on every database.

Example::

    async with await repodb.connect_async("sqlite:///app.db") as conn:
        async with conn.transaction():
            await conn.exec(insert_user, "Ada")
        names = await conn.all(list_names)
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Self, TypeVar, TypeVarTuple, overload

from . import _observe
from ._acompat_async import asleep
from ._connection_base import Rollback, aborted_error, unencodable
from ._observe import Watch
from .driver import (
    AsyncDriverConnection,
    ConnectSettings,
    IsolationLevel,
    TransactionOptions,
    load_async_driver,
)
from .errors import (
    CommitOutcomeUnknown,
    ConnectionLost,
    Error,
    MultipleResults,
    NotFound,
    TransactionRollback,
)
from .request import Many, One, Plan, Request, ZeroOrOne
from .types import DbType, Kind, to_dbtype
from .url import DatabaseUrl, parse_url

__all__ = ["AsyncConnection", "AsyncRowStream", "AsyncTransaction", "Rollback", "connect_async"]

P = TypeVar("P")
R = TypeVar("R")
T = TypeVar("T")
A = TypeVar("A")
Ts = TypeVarTuple("Ts")


async def connect_async(
    url: str,
    *,
    statement_timeout: float | None = None,
    connect_timeout: float = 10.0,
) -> AsyncConnection:
    """Open a connection to the database named by ``url``.

    Options:
        url: ``sqlite:///file.db``, ``sqlite::memory:``,
            ``postgresql://user:pw@host:port/db`` or a libpq conninfo string
            (psycopg); ``postgresql+asyncpg://user:pw@host:port/db`` for
            asyncpg (asyncio only; see docs/async.md on choosing).
        statement_timeout: seconds after which a statement is cancelled
            (``StatementTimeout``); on PostgreSQL the server cancels it.
        connect_timeout: seconds to wait for a server to answer.

    Example::

        conn = await repodb.connect_async("sqlite::memory:")
    """
    parsed = parse_url(url)
    settings = ConnectSettings(connect_timeout=connect_timeout, statement_timeout=statement_timeout)
    driver = await load_async_driver(parsed.library or parsed.driver).connect(parsed, settings)
    # Logging configured since the last connection counts from this one on.
    _observe.refresh()
    return AsyncConnection(driver, parsed)


class AsyncConnection:
    """An open database connection that runs typed requests.

    Not safe for concurrent use from several threads or tasks; use one per
    thread or task, or a pool. ``async with await connect_async(...) as conn:``
    closes it at the end of the block.
    """

    def __init__(self, driver: AsyncDriverConnection, url: DatabaseUrl) -> None:
        self._driver = driver
        self._url = url
        self._codecs = driver.codecs
        self._codecs_name = driver.codecs.name
        # A driver encodes text to UTF-8 as it binds it; a str holding a lone
        # surrogate ("\ud800") is not Unicode text and fails there.
        self._native: tuple[type[BaseException], ...] = (
            *driver.native_errors,
            UnicodeEncodeError,
        )
        self._depth = 0
        # Set when a statement fails inside a transaction: like PostgreSQL,
        # the transaction then accepts nothing but a rollback.
        self._aborted = False
        self._closed = False
        # Set when a statement failed with ConnectionLost: a pool discards it.
        self._broken = False
        # Set by abort(): whatever the driver says, statements failed by it were lost.
        self._cut = False
        self.dialect = driver.dialect
        self.codecs = driver.codecs
        # What telemetry calls this connection's server; pools and routers
        # set it ("replica 1"); a connection on its own counts as the primary.
        self.label = "primary"
        self._held = _AsyncHeld(self)
        # Telemetry (repodb._observe): set while a caller watches the statements
        # itself (a Repo running a typed request), or for good on a health
        # probe's connection; a pool checkout waiting to show on the next span;
        # the span attributes naming the server, computed once.
        self._quiet = False
        self._checkout: tuple[int, str, float] | None = None
        self._span_attributes: dict[str, Any] | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<repodb.AsyncConnection {self._url.redacted} {state}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether the connection is closed: by ``close``, or by its driver.

        psycopg closes a connection when the cancellation of its query is
        itself interrupted (a task cancelled twice); a pool then discards it.
        """
        return self._closed or self._driver.closed

    @property
    def broken(self) -> bool:
        """Whether a statement failed because the connection was lost (``ConnectionLost``)."""
        return self._broken

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection."""
        return not self._closed and self._driver.in_transaction

    def _error(
        self, exc: BaseException, sql: str | None, args: Sequence[Any] | None = None
    ) -> Error:
        """The repodb error for a driver exception; marks an open transaction aborted.

        Callers raise it after their ``except`` block, not inside it, so the
        driver's exception is neither its ``__cause__`` nor its
        ``__context__``: its text quotes row values (PostgreSQL's ``DETAIL:
        Key (token)=(...)``, ``Failing row contains (...)``), redacted or not,
        and a formatted traceback or an error tracker walking the chain would
        show them. What it reports is on the repodb error. ``args``, the
        statement's parameters when the caller has them, let a value the
        driver could not encode be named by its position.
        """
        if isinstance(exc, UnicodeEncodeError):
            # Refused while binding, before the statement was sent (a COPY
            # cut short reports itself: the server aborted the transaction).
            return unencodable(exc, sql, args)
        if self._depth:
            self._aborted = True
        if self._closed:
            error: Error = ConnectionLost("the connection is closed", sql=sql)
        elif self._cut:
            error = ConnectionLost("the connection was aborted (AsyncConnection.abort)", sql=sql)
        else:
            error = self._driver.map_error(exc, sql)
        if isinstance(error, ConnectionLost):
            self._broken = True
        return error

    def _plan(self, request: Request[Any, Any, Any]) -> Plan:
        try:
            plan: Plan | None = request._plans.get(self._codecs_name)
        except AttributeError:
            raise TypeError(
                f"expected a typed Request (Request.one(...), ...), not {type(request).__name__}"
            ) from None
        if self._aborted:
            raise aborted_error(request.sql)
        return plan if plan is not None else request.plan(self.dialect, self._codecs)

    async def _fetch(self, plan: Plan, params: object) -> list[tuple[Any, ...]]:
        args = plan.encode(params)
        if _observe.active and not self._quiet:
            return await self._watched(plan.sql, len, self._fetch_sql, plan.sql, args, plan.prepare)
        try:
            return await self._driver.fetch(plan.sql, args, plan.prepare)
        except self._native as e:
            error = self._error(e, plan.sql, args)
        raise error

    def checkout(self, intent: str = "write") -> _AsyncHeld:
        """This connection as a Repo's source: ``Repo(conn)`` runs everything on it.

        Pools and routers have the same method and choose a connection by
        ``intent`` (``read``, ``write`` or ``transaction``); a single
        connection serves every intent.
        """
        return self._held

    # Running compiled SQL (for the Repo) --------------------------------------

    async def _fetch_sql(
        self, sql: str, args: Sequence[Any], prepare: bool
    ) -> list[tuple[Any, ...]]:
        if self._aborted:
            raise aborted_error(sql)
        try:
            return await self._driver.fetch(sql, args, prepare)
        except self._native as e:
            error = self._error(e, sql, args)
        raise error

    async def _execute_sql(self, sql: str, args: Sequence[Any], prepare: bool) -> int:
        if self._aborted:
            raise aborted_error(sql)
        try:
            return await self._driver.execute(sql, args, prepare)
        except self._native as e:
            error = self._error(e, sql, args)
        raise error

    def _stream_sql(
        self, sql: str, args: Sequence[Any], batch_size: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        if self._aborted:
            raise aborted_error(sql)
        try:
            return self._driver.stream(sql, args, batch_size)
        except self._native as e:
            error = self._error(e, sql, args)
        raise error

    async def _copy_sql(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        if self._aborted:
            raise aborted_error(f"COPY {table}")
        try:
            return await self._driver.copy_in(table, columns, rows, prefix)
        except self._native as e:
            error = self._error(e, f"COPY {table}")
        raise error

    async def _execute_many_sql(self, sql: str, args: Iterable[Sequence[Any]]) -> int:
        if self._aborted:
            raise aborted_error(sql)
        try:
            return await self._driver.execute_many(sql, args)
        except self._native as e:
            error = self._error(e, sql)
        raise error

    # Running requests ------------------------------------------------------

    @overload
    async def exec(self, request: Request[None, Any, Many]) -> int: ...
    @overload
    async def exec(self, request: Request[P, Any, Many], params: P) -> int: ...
    async def exec(self, request: Request[Any, Any, Many], params: object = None) -> int:
        """Run a request for its effect; return the affected row count (-1 if unknown)."""
        plan = self._plan(request)
        args = plan.encode(params)
        if _observe.active and not self._quiet:
            return await self._watched(
                plan.sql, _count, self._execute_sql, plan.sql, args, plan.prepare
            )
        try:
            return await self._driver.execute(plan.sql, args, plan.prepare)
        except self._native as e:
            error = self._error(e, plan.sql, args)
        raise error

    @overload
    async def one(self, request: Request[None, R, One]) -> R: ...
    @overload
    async def one(self, request: Request[P, R, One], params: P) -> R: ...
    async def one(self, request: Request[Any, Any, One], params: object = None) -> Any:
        """The one row of a ``Request.one``; ``NotFound`` or ``MultipleResults`` otherwise."""
        plan = self._plan(request)
        if request.multiplicity is not One:
            raise TypeError(f"one() needs a Request.one, got {request!r}")
        rows = await self._fetch(plan, params)
        if len(rows) == 1:
            return plan.decode(rows[0])
        if rows:
            raise MultipleResults(f"expected one row, got {len(rows)}", sql=plan.sql)
        raise NotFound("expected one row, got none", sql=plan.sql)

    @overload
    async def one_or_none(self, request: Request[None, R, ZeroOrOne]) -> R | None: ...
    @overload
    async def one_or_none(self, request: Request[P, R, ZeroOrOne], params: P) -> R | None: ...
    async def one_or_none(
        self, request: Request[Any, Any, ZeroOrOne], params: object = None
    ) -> Any:
        """The row of a zero-or-one request, or None; ``MultipleResults`` for more."""
        plan = self._plan(request)
        if request.multiplicity is Many:
            raise TypeError(f"one_or_none() needs at most one row, got {request!r}")
        rows = await self._fetch(plan, params)
        if not rows:
            return None
        if len(rows) > 1:
            raise MultipleResults(f"expected at most one row, got {len(rows)}", sql=plan.sql)
        return plan.decode(rows[0])

    @overload
    async def all(self, request: Request[None, R, Many]) -> list[R]: ...
    @overload
    async def all(self, request: Request[P, R, Many], params: P) -> list[R]: ...
    async def all(self, request: Request[Any, Any, Many], params: object = None) -> list[Any]:
        """Every row, decoded."""
        plan = self._plan(request)
        return plan.decode_all(await self._fetch(plan, params))

    @overload
    def stream(
        self, request: Request[None, R, Many], *, batch_size: int = ...
    ) -> AsyncRowStream[R]: ...
    @overload
    def stream(
        self, request: Request[P, R, Many], params: P, *, batch_size: int = ...
    ) -> AsyncRowStream[R]: ...
    def stream(
        self, request: Request[Any, Any, Many], params: object = None, *, batch_size: int = 500
    ) -> AsyncRowStream[Any]:
        """Rows one at a time, fetched ``batch_size`` at a time.

        On PostgreSQL this is a server-side cursor (``WITH HOLD`` outside a
        transaction), so memory stays flat whatever the result size. Use it in
        a ``async with`` block, or exhaust it, to release the cursor promptly.
        """
        plan = self._plan(request)
        args = plan.encode(params)
        rows = self._driver.stream(plan.sql, args, batch_size)
        if _observe.active and not self._quiet:
            return AsyncRowStream(rows, plan, self, Watch(self, plan.sql))
        return AsyncRowStream(rows, plan, self)

    @overload
    async def fold(
        self, request: Request[None, R, Many], fn: Callable[[A, R], A], init: A
    ) -> A: ...
    @overload
    async def fold(
        self, request: Request[P, R, Many], fn: Callable[[A, R], A], init: A, params: P
    ) -> A: ...
    async def fold(
        self,
        request: Request[Any, Any, Many],
        fn: Callable[[Any, Any], Any],
        init: Any,
        params: object = None,
    ) -> Any:
        """Combine the rows into one value, streaming: ``fn(fn(init, row1), row2)...``."""
        acc = init
        async with self.stream(request, params) as rows:
            async for row in rows:
                acc = fn(acc, row)
        return acc

    # Bulk -----------------------------------------------------------------

    async def execute_many(self, request: Request[P, Any, Many], params: Iterable[P]) -> int:
        """Run a statement once per parameter value, atomically; return the affected rows."""
        plan = self._plan(request)
        encode = plan.encode
        async with self.transaction():
            rows = (encode(p) for p in params)
            if _observe.active and not self._quiet:
                return await self._watched(plan.sql, _count, self._execute_many_sql, plan.sql, rows)
            return await self._execute_many_sql(plan.sql, rows)
        raise AssertionError("unreachable")  # pragma: no cover

    async def copy_in(
        self,
        table: str,
        columns: list[str] | tuple[str, ...],
        row_type: type[T] | DbType[T],
        rows: Iterable[T],
        *,
        prefix: str | None = None,
    ) -> int:
        """Load many rows at once, atomically: ``COPY`` on PostgreSQL, batched inserts on SQLite.

        Options:
            table: the table's name, quoted for you as one identifier (a dot
                is part of the name, as in a schema's ``table=``).
            prefix: the schema the table is in (PostgreSQL), as a schema's
                ``prefix=``; default: found on the ``search_path``.
            columns: the columns the row values go to, in order.
            row_type: the type of one row, e.g. ``tup(int, str)``.

        Example::

            await conn.copy_in("users", ["id", "name"], tup(int, str), [(1, "Ada"), (2, "Grace")])
        """
        t = to_dbtype(row_type)
        if t.kind is not Kind.TUPLE and t.kind is not Kind.RECORD:
            raise TypeError("copy_in needs a row type with one member per column, e.g. tup(...)")
        if t.width != len(columns):
            raise ValueError(f"{len(columns)} columns but the row type has {t.width} members")
        from .request import params_encoder

        encode = params_encoder(t, self._codecs)
        async with self.transaction():
            encoded = (encode(r) for r in rows)
            if _observe.active and not self._quiet:
                return await self._watched(
                    f"COPY {table}", _count, self._copy_sql, table, columns, encoded, prefix
                )
            return await self._copy_sql(table, columns, encoded, prefix)
        raise AssertionError("unreachable")  # pragma: no cover

    # Transactions ---------------------------------------------------------

    def transaction(
        self,
        *,
        isolation: IsolationLevel | None = None,
        read_only: bool = False,
        deferrable: bool = False,
    ) -> AsyncTransaction:
        """A ``async with`` block that commits on success and rolls back on any exception.

        Inside another transaction it is a savepoint: an exception rolls back
        only the inner block. Options apply to the outermost transaction only.

        Example::

            async with conn.transaction(isolation=IsolationLevel.SERIALIZABLE):
                ...
        """
        options = TransactionOptions(isolation, read_only, deferrable)
        return AsyncTransaction(self, options)

    async def run_transaction(
        self,
        fn: Callable[[AsyncConnection], Awaitable[T]],
        *,
        attempts: int = 5,
        isolation: IsolationLevel | None = None,
        read_only: bool = False,
        deferrable: bool = False,
        base_delay: float = 0.01,
        max_delay: float = 1.0,
    ) -> T | None:
        """Run ``fn(conn)`` in a transaction, retrying on serialization failure or deadlock.

        Any ``TransactionRollback`` is retried: ``SerializationFailure``,
        ``DeadlockDetected``, and MariaDB's ``LockTimeout`` (1205), after
        which the server has undone only the statement that waited: every
        retry follows a ROLLBACK of the whole transaction and runs ``fn``
        from the start in a new one. Waits a random time up to
        ``base_delay * 2**attempt`` (capped at ``max_delay``) between
        attempts, so conflicting clients spread out;
        the last failure propagates. ``raise Rollback()`` in ``fn`` rolls back
        without retrying and returns None. It must not be called inside a
        transaction: a retry needs a fresh one.
        """
        if self._depth:
            raise RuntimeError("run_transaction cannot retry inside an open transaction")
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        for attempt in range(1, attempts + 1):
            try:
                async with self.transaction(
                    isolation=isolation, read_only=read_only, deferrable=deferrable
                ):
                    return await fn(self)
            except TransactionRollback:
                if attempt == attempts:
                    raise
                await asleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))
                continue
            # Only a Rollback raised by fn gets here: rolled back on request.
            return None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _step(self, sql: str | None, step: Callable[[], Awaitable[object]]) -> None:
        """Run a driver call whose result does not matter (BEGIN, a ping, ...), as ``sql``."""
        if sql is not None and _observe.active and not self._quiet:
            await self._watched(sql, _none, self._unwatched_step, sql, step)
            return
        await self._unwatched_step(sql, step)

    async def _unwatched_step(self, sql: str | None, step: Callable[[], Awaitable[object]]) -> None:
        try:
            await step()
            return
        except self._native as e:
            error = self._error(e, sql)
        raise error

    async def _run(self, sql: str) -> None:
        await self._step(sql, lambda: self._driver.execute(sql, (), False))

    async def _watched(
        self,
        sql: str,
        size: Callable[[T], int],
        run: Callable[[*Ts], Awaitable[T]],
        *args: *Ts,
    ) -> T:
        """``await run(*args)``, one statement, watched: its span, its event, its log line.

        Only called when ``repodb._observe.active``: the statement methods
        test that first, so nothing here costs anything when nobody watches.
        (Arguments, not a closure: a lambda in a statement method would make
        its variables cells, a cost on every call, watched or not.)
        """
        watch = Watch(self, sql)
        try:
            result = await run(*args)
        except BaseException as e:  # even interrupted, the span ends
            watch.end(0, e)
            raise
        watch.end(size(result))
        return result

    # Connection management -------------------------------------------------

    async def set_statement_timeout(self, seconds: float | None) -> None:
        """Cancel statements running longer than ``seconds`` from now on (None: no limit)."""
        await self._step(None, lambda: self._driver.set_statement_timeout(seconds))

    async def ping(self) -> None:
        """Raise a repodb error if the connection no longer works."""
        await self._step("SELECT 1", self._driver.ping)

    def abort(self) -> None:
        """Make the statement running on this connection fail now, from any thread.

        Why: a statement waiting on a server that hangs (SIGSTOPped, a dead
        host) waits as long as the server does; whoever sees the hang, such
        as the CQRS router's health probe, frees the waiting thread with
        this. The statement in progress raises ``ConnectionLost`` and the
        connection counts as broken from now on, so a pool discards it when it
        comes back (on PostgreSQL any later statement fails too). The only
        method safe to call from another thread; it never blocks.

        Example::

            threading.Timer(5.0, conn.abort).start()
            await conn.one(slow_report)  # ConnectionLost after 5 s at the latest
        """
        self._cut = True
        self._broken = True
        if not self._closed:
            self._driver.abort()

    async def close(self) -> None:
        """Close the connection; an open transaction is rolled back by the server."""
        if not self._closed:
            self._closed = True
            await self._step(None, self._driver.close)


class _AsyncHeld:
    """A ``async with`` block holding a connection that stays open afterwards."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def __aenter__(self) -> AsyncConnection:
        return self._conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class AsyncTransaction:
    """One transaction or savepoint; made by ``AsyncConnection.transaction()``."""

    def __init__(self, conn: AsyncConnection, options: TransactionOptions) -> None:
        self._conn = conn
        self._options = options
        self._savepoint: str | None = None
        self._active = False

    @property
    def connection(self) -> AsyncConnection:
        """The connection the transaction runs on."""
        return self._conn

    def rollback(self) -> None:
        """Roll this transaction back and leave its ``async with`` block."""
        raise Rollback(self)

    async def __aenter__(self) -> Self:
        conn = self._conn
        if self._active:
            raise RuntimeError("a AsyncTransaction cannot be entered twice")
        if conn._depth:
            if conn._aborted:
                raise aborted_error("SAVEPOINT")
            if self._options != TransactionOptions():
                raise ValueError("a nested transaction (savepoint) takes no options")
            self._savepoint = f"repodb_sp_{conn._depth}"
            await conn._run(f"SAVEPOINT {self._savepoint}")
        else:
            try:
                await conn._step("BEGIN", lambda: conn._driver.begin(self._options))
            except BaseException as e:
                if not isinstance(e, Error):
                    # Interrupted (a cancelled task) once BEGIN reached the
                    # server: no block would own the transaction it opened.
                    await self._end_unowned()
                raise
        conn._depth += 1
        self._active = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        conn = self._conn
        conn._depth -= 1
        self._active = False
        if exc is None:
            if conn._aborted:
                failure = aborted_error("COMMIT")
                await self._undo(failure)
                raise failure
            try:
                await self._commit()
            except BaseException as e:
                if self._savepoint is None and not isinstance(e, Error):
                    # Interrupted: COMMIT may not have run; never leave it open.
                    await self._end_unowned()
                raise
            return False
        await self._undo(exc)
        if isinstance(exc, Rollback):
            return exc.transaction is None or exc.transaction is self
        return False

    async def _commit(self) -> None:
        conn = self._conn
        if self._savepoint is not None:
            await conn._run(f"RELEASE SAVEPOINT {self._savepoint}")
            return
        try:
            if _observe.active and not conn._quiet:
                await conn._watched("COMMIT", _none, conn._driver.commit)
            else:
                await conn._driver.commit()
            return
        except conn._native as e:
            # SQLite keeps the transaction open when COMMIT fails (e.g. a
            # deferred foreign key); end it so no partial write survives.
            with contextlib.suppress(*conn._native):
                await conn._driver.rollback()
            error = conn._error(e, "COMMIT")
        if isinstance(error, ConnectionLost):
            # The server may have committed before the answer was lost.
            error = CommitOutcomeUnknown(
                f"the connection was lost during COMMIT, so whether the transaction "
                f"committed is unknown: {error.message}",
                sql="COMMIT",
                sqlstate=error.sqlstate,
                code=error.code,
            )
        raise error

    async def _undo(self, cause: BaseException) -> None:
        conn = self._conn
        try:
            if self._savepoint is not None:
                await conn._run(f"ROLLBACK TO SAVEPOINT {self._savepoint}")
                await conn._run(f"RELEASE SAVEPOINT {self._savepoint}")
            else:
                await conn._step("ROLLBACK", conn._driver.rollback)
        except Error as e:
            # The original error matters more; the failed rollback is noted.
            cause.add_note(f"repodb: rolling back also failed: {e}")
        else:
            conn._aborted = False
        finally:
            # Even interrupted: outside every block, no statement is refused.
            if self._savepoint is None:
                conn._aborted = False

    async def _end_unowned(self) -> None:
        """Roll back a transaction that an interrupted BEGIN or COMMIT left open.

        Why: the task was cancelled while the statement ran, but the server
        (or SQLite's thread) may have finished it; a transaction open with
        no block to end it would take in the connection's later statements
        and never commit them. Failing to roll back (a lost connection)
        changes nothing: the cancellation propagates.
        """
        conn = self._conn
        conn._aborted = False
        if conn.in_transaction and not conn.broken:
            with contextlib.suppress(*conn._native):
                await conn._driver.rollback()


class AsyncLeasedTransaction:
    """A transaction on a connection that a ``async with`` block lends (a pool's or a router's).

    Why one class: entering takes the connection, then begins; leaving ends
    the transaction, then gives the connection back, telling the lease how
    the block ended (a lease marks a replica down or notes a WAL position by
    it) and giving it back even when COMMIT or ROLLBACK fails. The Repo's and
    the router's transaction blocks are both this.

    Example::

        async with AsyncLeasedTransaction(pool.connection(), isolation=None) as conn:
            await conn.exec(...)
    """

    __slots__ = ("_lease", "_options", "_tx")

    def __init__(
        self,
        lease: AbstractAsyncContextManager[AsyncConnection],
        *,
        isolation: IsolationLevel | None = None,
        read_only: bool = False,
    ) -> None:
        self._lease = lease
        self._options = (isolation, read_only)
        self._tx: AsyncTransaction | None = None

    @property
    def transaction(self) -> AsyncTransaction:
        """The transaction of the entered block."""
        if self._tx is None:
            raise RuntimeError("the transaction block has not been entered")
        return self._tx

    async def __aenter__(self) -> AsyncConnection:
        if self._tx is not None:
            raise RuntimeError("a transaction block cannot be entered twice")
        conn = await self._lease.__aenter__()
        isolation, read_only = self._options
        try:
            tx = conn.transaction(isolation=isolation, read_only=read_only)
            await tx.__aenter__()
        except BaseException:  # even interrupted, the connection goes back
            await self._lease.__aexit__(*sys.exc_info())
            raise
        self._tx = tx
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        tx = self.transaction
        try:
            handled = await tx.__aexit__(exc_type, exc, tb)
        except BaseException:  # even interrupted, the connection goes back
            await self._lease.__aexit__(*sys.exc_info())
            raise
        if handled:
            await self._lease.__aexit__(None, None, None)
        else:
            await self._lease.__aexit__(exc_type, exc, tb)
        return handled


class AsyncRowStream(AsyncIterator[R]):
    """An iterator over decoded rows that releases its cursor when closed."""

    def __init__(
        self,
        rows: AsyncIterator[tuple[Any, ...]],
        plan: Plan,
        conn: AsyncConnection,
        watch: Watch | None = None,
    ) -> None:
        self._decode = plan.decode
        self._sql = plan.sql
        self._conn = conn
        self._native = conn._native
        # Watched: rows are counted on their way, and the span ends at the
        # stream's end, its failure or its close, whichever comes first.
        self._watch = watch
        self._count = [0]
        self._rows = rows if watch is None else _counted(rows, self._count)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> R:
        try:
            row = await anext(self._rows)
        except self._native as e:
            error = self._conn._error(e, self._sql)
        except StopAsyncIteration:
            self._finish(None)
            raise
        else:
            result: R = self._decode(row)
            return result
        self._finish(error)
        raise error

    def _finish(self, error: BaseException | None) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.end(self._count[0], error)

    async def close(self) -> None:
        """Release the cursor; further iteration stops."""
        close = getattr(self._rows, "aclose", None)
        error: Error | None = None
        if close is not None:
            try:
                await close()
            except self._native as e:
                error = self._conn._error(e, self._sql)
        self._finish(error)
        if error is not None:
            raise error

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _count(affected: int) -> int:
    return affected


def _none(result: object) -> int:
    return 0


async def _counted(
    rows: AsyncIterator[tuple[Any, ...]], count: list[int]
) -> AsyncIterator[tuple[Any, ...]]:
    """``rows``, adding one to ``count[0]`` per row; closing it closes ``rows``."""
    try:
        async for row in rows:
            count[0] += 1
            yield row
    finally:
        close = getattr(rows, "aclose", None)
        if close is not None:
            await close()
