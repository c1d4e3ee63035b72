"""The test sandbox: a test's writes happen in one transaction that is rolled back at its end.

Why: an application's tests need a database that every test finds as the
previous one found it, without recreating tables or deleting rows between
tests. Ecto's SQL sandbox and Django's ``TestCase`` do it the same way: each
test runs inside a transaction that is never committed. ``AsyncSandbox`` opens
one connection to the primary, begins that transaction, and is a Repo
source whose every checkout gives this one connection, so everything the
test and the application under test write goes into the transaction.

The application's own transactions still work: on the sandbox's connection
a transaction is a savepoint, so ``repo.transaction()`` commits into the
test's transaction (visible to the rest of the test) or rolls back on its
own. Statements outside any transaction get a savepoint each, as Ecto's
sandbox does: a failed statement, such as an expected unique violation,
leaves the rest of the test's writes usable, as under autocommit. With CQRS,
``sandbox.router()`` is a ``AsyncCqrs`` whose reads, writes and transactions all
use the sandbox's connection, so reads routed to "replicas" see the test's
writes.

Limits (see docs/testing.md): the isolation level of the application's
outermost transaction is accepted and not applied, as the sandbox's
transaction began already (``read_only`` is applied); statements that cannot run in a
transaction (``CREATE INDEX CONCURRENTLY``, ``VACUUM``) fail; other
connections do not see the test's writes; threads (and tasks) share the one
connection, one ``async with`` block at a time; a ``COMMIT`` or ``ROLLBACK`` sent
as SQL fails at once (``RuntimeError``) and a new transaction begins.

Example::

    async with AsyncSandbox("sqlite:///app.db") as sandbox:
        repo = AsyncRepo(sandbox)
        await repo.insert(cast(User, {"name": "Ada"}, ["name"]))
        async with repo.transaction():  # a savepoint
            ...
    # nothing written in the block remains
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from ._acompat_async import AsyncRLock
from .connection_async import AsyncConnection, connect_async
from .cqrs_async import AsyncCqrs, AsyncCqrsSession, CqrsConfig, CqrsStats, _Use
from .driver import AsyncDriverConnection, TransactionOptions
from .errors import Error
from .pool_async import PoolStats
from .url import parse_url

__all__ = ["AsyncSandbox", "AsyncSandboxRouter"]

T = TypeVar("T")

_INTENTS = frozenset({"read", "write", "transaction"})
# The application's outermost transaction, and a lone statement outside any.
_TRANSACTION = "repodb_sandbox_tx"
_STATEMENT = "repodb_sandbox_stmt"
# How the application's read-only transaction refuses writes inside the
# sandbox's, and how that ends (None: rolling its savepoint back ends it).
# Whether a lone statement needs a savepoint of its own: after a failed
# statement PostgreSQL refuses everything until the transaction is rolled back,
# while SQLite undoes only the statement and carries on. Each savepoint costs
# two more round trips (a single-row insert on PostgreSQL: about 3.5 times as long).
# MariaDB, like SQLite, undoes the failed statement alone. It cannot make a
# transaction read-only once it has begun (None): the sandbox refuses one.
_STATEMENT_SAVEPOINTS: dict[str, bool] = {"sqlite": False, "postgresql": True, "mariadb": False}
_READ_ONLY: dict[str, tuple[str, str | None] | None] = {
    "sqlite": ("PRAGMA query_only = ON", "PRAGMA query_only = OFF"),
    "postgresql": ("SET TRANSACTION READ ONLY", None),
    "mariadb": None,
}


class AsyncSandbox:
    """One connection to the primary inside a transaction that is rolled back at the end.

    It is a Repo source: ``AsyncRepo(sandbox)``; every ``checkout`` gives the same
    connection. Use it as a ``async with`` block, or call ``close()``. It
    connects and begins its transaction when it is made or, at the latest,
    when its ``async with`` block is entered (an asyncio task cannot wait in
    ``__init__``, so there).

    Options:
        source: a database URL (the sandbox opens a connection and closes it
            at the end), or an open ``AsyncConnection`` outside any transaction,
            which the sandbox borrows: it is left open, its transaction
            rolled back; do not use it directly meanwhile.
        timeout: seconds a thread (or task) waits for the connection while
            another holds it (``TimeoutError`` after that).
        connect_timeout, statement_timeout: as for ``repodb.connect_async``.
        statement_savepoints: run each statement outside the application's
            transactions in a savepoint of its own, so that a failed one
            (an expected unique violation) leaves the test's transaction
            usable. The default, None, does so where the database needs it
            (PostgreSQL, not SQLite); False saves two round trips per
            statement on PostgreSQL for suites that never expect one to fail.

    Threads and tasks: a ``async with`` block of ``checkout`` (a Repo operation, a
    whole ``repo.transaction()``) holds the connection for its thread or
    task; the others wait for it. The lock is re-entrant, and all share the
    one transaction, so they see each other's writes at once.

    Example::

        async with AsyncSandbox(url) as sandbox:
            blog = Blog(AsyncRepo(sandbox))
    """

    # Set when the sandbox opens (_open).
    _base: AsyncConnection
    _real: AsyncDriverConnection
    _conn: AsyncConnection

    def __init__(
        self,
        source: str | AsyncConnection,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        statement_timeout: float | None = None,
        statement_savepoints: bool | None = None,
    ) -> None:
        if isinstance(source, str):
            self._url = parse_url(source)
        elif not isinstance(source, AsyncConnection):
            raise TypeError(
                "AsyncSandbox takes a AsyncConnection or a database URL (a str), not "
                f"{type(source).__name__}"
            )
        elif source.in_transaction:
            raise ValueError("a sandbox needs a connection outside any transaction")
        else:
            self._url = source._url
        self._source = source
        self._owned = isinstance(source, str)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._statement_savepoints = statement_savepoints
        self._lock = AsyncRLock()
        self._opened = False
        self._closed = False
        self._block = _AsyncBlock(self)
        if True:  # ASYNC
            pass  # a task cannot wait here: ``async with`` (or the pytest fixture) opens it
        else:
            self._open()

    async def _open(self) -> None:
        """Connect (unless borrowing) and begin the transaction everything is rolled back with."""
        if self._opened:
            return
        if self._closed:
            raise RuntimeError("this sandbox is closed: its transaction was rolled back")
        if isinstance(self._source, str):
            base = await connect_async(
                self._source,
                connect_timeout=self._connect_timeout,
                statement_timeout=self._statement_timeout,
            )
        else:
            base = self._source
        real = base._driver
        failure: Error | None = None
        try:
            try:
                await real.begin(TransactionOptions())
            except real.native_errors as e:
                # Raised below, outside this block: see AsyncConnection._error.
                failure = real.map_error(e, "BEGIN")
        except BaseException:  # interrupted (a cancelled task): no connection left open
            if self._owned:
                base.abort()
                with contextlib.suppress(Error):
                    await base.close()
            raise
        if failure is not None:
            if self._owned:
                await base.close()
            raise failure
        self._base, self._real = base, real
        # The application's connection: the same session, its transactions savepoints.
        savepoints = self._statement_savepoints
        if savepoints is None:
            savepoints = _STATEMENT_SAVEPOINTS[real.dialect.name]
        self._conn = AsyncConnection(_AsyncSandboxDriver(real, savepoints), base._url)
        self._conn.label = base.label
        self._opened = True

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._opened else "not open yet"
        return f"<repodb.AsyncSandbox {self._url.redacted} {state}>"

    @property
    def connection(self) -> AsyncConnection:
        """The sandbox's connection, for code that takes a ``AsyncConnection``.

        Used directly it bypasses the lock that ``checkout`` takes, so keep
        it to one thread or task.
        """
        self._check_open()
        return self._conn

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def checkout(self, intent: str = "write") -> _AsyncBlock:
        """A ``async with`` block holding the sandbox's connection, for any intent.

        The block leaves the connection open; other threads or tasks wait until it ends.
        """
        if intent not in _INTENTS:
            raise ValueError(f"unknown intent {intent!r}: use read, write or transaction")
        return self._block

    def router(self) -> AsyncSandboxRouter:
        """A ``AsyncCqrs`` router for the application whose every route is this sandbox.

        Example::

            app = make_app(cqrs=sandbox.router())
        """
        return AsyncSandboxRouter(self)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this sandbox is closed: its transaction was rolled back")
        if not self._opened:
            raise RuntimeError(
                "this AsyncSandbox is not open yet: use it in a ``async with`` block"
            )

    async def _acquire(self) -> AsyncConnection:
        self._check_open()
        if not await self._lock.acquire(timeout=self._timeout):
            raise TimeoutError(
                f"another thread or task held the sandbox's connection for over {self._timeout} s"
                " (they share one connection, one block at a time)"
            )
        return self._conn

    async def close(self) -> None:
        """Roll back everything written in the sandbox; close the connection if it opened it."""
        if self._closed:
            return
        if not self._opened:
            self._closed = True
            return
        held = await self._lock.acquire(timeout=self._timeout)
        try:
            self._closed = True
            if not held:
                # Another holds the connection: cut it off, which ends the
                # transaction on the server without committing anything.
                self._base.abort()
                await self._close_base()
                raise TimeoutError(
                    f"a thread or task held the sandbox's connection for over {self._timeout} s "
                    "when the sandbox closed; its connection was aborted"
                )
            await self._end()
        finally:
            if held:
                self._lock.release()

    async def _end(self) -> None:
        failure: Error | None = None
        try:
            await self._real.rollback()
        except self._real.native_errors as e:
            failure = self._real.map_error(e, "ROLLBACK")
        finally:
            # A connection the sandbox opened is closed, even when the
            # rollback failed or was interrupted: the server discards the
            # transaction. A borrowed one is not.
            await self._close_base()
        if failure is not None and not self._owned:
            raise failure

    async def _close_base(self) -> None:
        if self._owned:
            with contextlib.suppress(Error):
                await self._base.close()

    async def __aenter__(self) -> Self:
        if True:  # ASYNC
            await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class _AsyncBlock:
    """``sandbox.checkout()``: the sandbox's connection, held by one thread or task at a time."""

    __slots__ = ("_sandbox",)

    def __init__(self, sandbox: AsyncSandbox) -> None:
        self._sandbox = sandbox

    async def __aenter__(self) -> AsyncConnection:
        return await self._sandbox._acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._sandbox._lock.release()


class AsyncSandboxRouter(AsyncCqrs):
    """A ``AsyncCqrs`` whose reads, writes and transactions all use a sandbox's connection.

    Why: in a test the "replicas" must see what the test wrote, which is
    uncommitted; real replicas never would. It is a ``AsyncCqrs``, so code typed
    for the router takes it; it has no pools, probes or replicas
    (``stats()`` shows one connection, ``shutdown()`` does nothing: the
    sandbox owns the connection). ``session()`` gives a ``AsyncCqrsSession`` over
    it, reading its writes like everything else.

    Example::

        cqrs = sandbox.router()
        async with cqrs.write() as conn:
            ...
        async with cqrs.read() as conn:  # the same connection: sees the write
            ...
    """

    def __init__(self, sandbox: AsyncSandbox) -> None:
        # Not AsyncCqrs.__init__: there is nothing to connect or probe. These are
        # the attributes the inherited methods read, as for a router
        # without replicas.
        self._sandbox = sandbox
        self._config = CqrsConfig(primary_conninfo=sandbox._url.redacted)
        self._kind = sandbox._url.driver
        # One connection, no replicas: nothing lags, so sessions track no positions.
        self._replication = None
        self._replicas = None
        self._wal_probe = None

    def __repr__(self) -> str:
        return f"<repodb.AsyncSandboxRouter on {self._sandbox!r}>"

    def checkout(self, intent: str = "write") -> _AsyncBlock:
        """The sandbox's connection for a Repo, whatever the intent."""
        return self._sandbox.checkout(intent)

    def _lease(self, use: _Use, session: AsyncCqrsSession | None = None) -> _AsyncBlock:
        return self._sandbox._block

    def stats(self) -> CqrsStats:
        """One connection, always there; no replicas."""
        one = PoolStats(
            total=1,
            in_use=0,
            available=1,
            waiting=0,
            max_size=1,
            server_down=False,
            created=1,
            failed_connects=0,
            timeouts=0,
            discarded=0,
            returns_bad=0,
            expired=0,
        )
        return CqrsStats(one, (), 0)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Nothing to stop: the sandbox owns its connection and closes it."""


class _AsyncSandboxDriver:
    """The driver under the application's connection: its transactions are savepoints.

    Why a driver and not a flag on ``AsyncConnection``: ``AsyncConnection`` stays as
    in production, so nested transactions and ``run_transaction`` (which
    refuses to start inside an open transaction) work unchanged; only what
    "begin", "commit" and "rollback" mean changes. ``in_transaction`` is
    whether the application opened one. A read-only transaction refuses
    writes as in production; an isolation level cannot be set once the
    sandbox's transaction has begun, and is ignored.
    A lone statement runs in a savepoint of its own (where the dialect
    needs it, or as the sandbox was told), rolled back if it fails: on
    PostgreSQL a failed statement would otherwise abort the test's whole
    transaction. Streams are not wrapped: the savepoint would
    have to outlive the statement.
    """

    def __init__(self, real: AsyncDriverConnection, statement_savepoints: bool) -> None:
        self._real = real
        self._statement_savepoints = statement_savepoints
        self.dialect = real.dialect
        self.codecs = real.codecs
        self.native_errors = real.native_errors
        self._open = False
        self._read_only = False

    @property
    def in_transaction(self) -> bool:
        return self._open

    @property
    def closed(self) -> bool:
        return self._real.closed

    async def _statement(self, run: Callable[[], Awaitable[T]]) -> T:
        if self._open or not self._statement_savepoints:
            result = await run()
            await self._still_inside()
            return result
        await self._run(f"SAVEPOINT {_STATEMENT}")
        try:
            result = await run()
        except BaseException:  # even interrupted, the statement's savepoint is undone
            await self._undo(_STATEMENT)
            raise
        await self._still_inside()
        await self._run(f"RELEASE SAVEPOINT {_STATEMENT}")
        return result

    async def _still_inside(self) -> None:
        """Fail loudly when a statement ended the sandbox's own transaction.

        A ``COMMIT`` (or ``ROLLBACK``, ``END``) run as SQL on the sandbox's
        connection, or on MariaDB any DDL (it commits first), ends the
        transaction everything is rolled back with: what the test wrote before
        it is committed for good, and every later statement would commit on
        its own. A new transaction begins at once,
        so nothing after it is kept, and the test fails here, not in the
        next test that finds rows it did not write.
        """
        if self._real.in_transaction:
            return
        self._open = False
        self._read_only = False
        await self._real.begin(TransactionOptions())
        raise RuntimeError(
            "a statement ended the sandbox's transaction (COMMIT or ROLLBACK run as SQL, or"
            " DDL on a database that commits before it, such as MariaDB); what the test wrote"
            " before it may be committed and stay in the database. Use repo.transaction() or"
            " connection.transaction(): savepoints in the sandbox; create tables in"
            " repodb_setup"
        )

    async def _run(self, sql: str) -> None:
        await self._real.execute(sql, (), False)

    async def _undo(self, savepoint: str) -> None:
        # The statement's own error matters more than a failing rollback
        # (a lost connection), which the next statement reports anyway.
        with contextlib.suppress(*self.native_errors):
            await self._run(f"ROLLBACK TO SAVEPOINT {savepoint}")
            await self._run(f"RELEASE SAVEPOINT {savepoint}")

    async def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        return await self._statement(lambda: self._real.execute(sql, params, prepare))

    async def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[tuple[Any, ...]]:
        return await self._statement(lambda: self._real.fetch(sql, params, prepare))

    def stream(
        self, sql: str, params: Sequence[Any], batch_size: int
    ) -> AsyncIterator[tuple[Any, ...]]:
        return self._real.stream(sql, params, batch_size)

    async def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        return await self._statement(lambda: self._real.execute_many(sql, params))

    async def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        return await self._statement(lambda: self._real.copy_in(table, columns, rows, prefix))

    async def begin(self, options: TransactionOptions) -> None:
        read_only = _READ_ONLY[self.dialect.name]
        if options.read_only and read_only is None:
            raise Error(
                f"a read-only transaction cannot run in a sandbox on {self.dialect.name}: it"
                " cannot make the sandbox's open transaction read-only"
            )
        await self._run(f"SAVEPOINT {_TRANSACTION}")
        self._open = True
        if options.read_only and read_only is not None:
            self._read_only = True
            await self._run(read_only[0])

    async def commit(self) -> None:
        if self._read_only:
            # It wrote nothing, and only a rollback undoes PostgreSQL's READ ONLY.
            await self.rollback()
            return
        await self._run(f"RELEASE SAVEPOINT {_TRANSACTION}")
        self._open = False

    async def rollback(self) -> None:
        if not self._open:
            return
        try:
            await self._run(f"ROLLBACK TO SAVEPOINT {_TRANSACTION}")
            await self._run(f"RELEASE SAVEPOINT {_TRANSACTION}")
        finally:
            self._open = False
            read_only, self._read_only = self._read_only, False
            modes = _READ_ONLY[self.dialect.name]
            if read_only and modes is not None and modes[1] is not None:
                await self._run(modes[1])

    async def set_statement_timeout(self, seconds: float | None) -> None:
        await self._real.set_statement_timeout(seconds)

    async def ping(self) -> None:
        await self._real.ping()

    def abort(self) -> None:
        self._real.abort()

    async def close(self) -> None:
        """Nothing: the sandbox closes the real connection when it ends."""

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        return self._real.map_error(exc, sql)
