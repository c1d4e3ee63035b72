"""The test sandbox: a test's writes happen in one transaction that is rolled back at its end.

Why: an application's tests need a database that every test finds as the
previous one found it, without recreating tables or deleting rows between
tests. Ecto's SQL sandbox and Django's ``TestCase`` do it the same way: each
test runs inside a transaction that is never committed. ``Sandbox`` opens
one connection to the primary, begins that transaction, and is a Repo
source whose every checkout gives this one connection, so everything the
test and the application under test write goes into the transaction.

The application's own transactions still work: on the sandbox's connection
a transaction is a savepoint, so ``repo.transaction()`` commits into the
test's transaction (visible to the rest of the test) or rolls back on its
own. Statements outside any transaction get a savepoint each, as Ecto's
sandbox does: a failed statement, such as an expected unique violation,
leaves the rest of the test's writes usable, as under autocommit. With CQRS,
``sandbox.router()`` is a ``Cqrs`` whose reads, writes and transactions all
use the sandbox's connection, so reads routed to "replicas" see the test's
writes.

Limits (see docs/testing.md): the isolation level of the application's
outermost transaction is accepted and not applied, as the sandbox's
transaction began already (``read_only`` is applied); statements that cannot run in a
transaction (``CREATE INDEX CONCURRENTLY``, ``VACUUM``) fail; other
connections do not see the test's writes; threads share the one
connection, one ``with`` block at a time; a ``COMMIT`` or ``ROLLBACK`` sent
as SQL fails at once (``RuntimeError``) and a new transaction begins.

Example::

    with Sandbox("sqlite:///app.db") as sandbox:
        repo = Repo(sandbox)
        repo.insert(cast(User, {"name": "Ada"}, ["name"]))
        with repo.transaction():  # a savepoint
            ...
    # nothing written in the block remains
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from .connection import Connection, connect
from .cqrs import Cqrs, CqrsConfig, CqrsSession, CqrsStats, _Use
from .driver import DriverConnection, TransactionOptions
from .errors import Error
from .pool import PoolStats

__all__ = ["Sandbox", "SandboxRouter"]

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
_STATEMENT_SAVEPOINTS: dict[str, bool] = {"sqlite": False, "postgresql": True}
_READ_ONLY: dict[str, tuple[str, str | None]] = {
    "sqlite": ("PRAGMA query_only = ON", "PRAGMA query_only = OFF"),
    "postgresql": ("SET TRANSACTION READ ONLY", None),
}


class Sandbox:
    """One connection to the primary inside a transaction that is rolled back at the end.

    It is a Repo source: ``Repo(sandbox)``; every ``checkout`` gives the same
    connection. Use it as a ``with`` block, or call ``close()``.

    Options:
        source: a database URL (the sandbox opens a connection and closes it
            at the end), or an open ``Connection`` outside any transaction,
            which the sandbox borrows: it is left open, its transaction
            rolled back; do not use it directly meanwhile.
        timeout: seconds a thread waits for the connection while another
            thread holds it (``TimeoutError`` after that).
        connect_timeout, statement_timeout: as for ``repodb.connect``.
        statement_savepoints: run each statement outside the application's
            transactions in a savepoint of its own, so that a failed one
            (an expected unique violation) leaves the test's transaction
            usable. The default, None, does so where the database needs it
            (PostgreSQL, not SQLite); False saves two round trips per
            statement on PostgreSQL for suites that never expect one to fail.

    Threads: a ``with`` block of ``checkout`` (a Repo operation, a whole
    ``repo.transaction()``) holds the connection for its thread; other
    threads wait for it. The lock is re-entrant, and all threads share the
    one transaction, so they see each other's writes at once.

    Example::

        with Sandbox(url) as sandbox:
            blog = Blog(Repo(sandbox))
    """

    def __init__(
        self,
        source: str | Connection,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        statement_timeout: float | None = None,
        statement_savepoints: bool | None = None,
    ) -> None:
        if isinstance(source, str):
            base = connect(
                source, connect_timeout=connect_timeout, statement_timeout=statement_timeout
            )
            self._owned = True
        elif not isinstance(source, Connection):
            raise TypeError(
                f"Sandbox takes a Connection or a database URL (a str), not {type(source).__name__}"
            )
        else:
            if source.in_transaction:
                raise ValueError("a sandbox needs a connection outside any transaction")
            base = source
            self._owned = False
        self._base = base
        self._real = base._driver
        self._timeout = timeout
        self._lock = threading.RLock()
        self._closed = False
        failure: Error | None = None
        try:
            self._real.begin(TransactionOptions())
        except self._real.native_errors as e:
            # Raised below, outside this block: see Connection._error.
            failure = self._real.map_error(e, "BEGIN")
        if failure is not None:
            if self._owned:
                base.close()
            raise failure
        # The application's connection: the same session, its transactions savepoints.
        if statement_savepoints is None:
            statement_savepoints = _STATEMENT_SAVEPOINTS[self._real.dialect.name]
        self._conn = Connection(_SandboxDriver(self._real, statement_savepoints), base._url)
        self._conn.label = base.label
        self._block = _Block(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<repodb.Sandbox {self._base._url.redacted} {state}>"

    @property
    def connection(self) -> Connection:
        """The sandbox's connection, for code that takes a ``Connection``.

        Used directly it bypasses the lock that ``checkout`` takes, so keep
        it to one thread.
        """
        return self._conn

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def checkout(self, intent: str = "write") -> _Block:
        """A ``with`` block holding the sandbox's connection, for any intent.

        The block leaves the connection open; other threads wait until it ends.
        """
        if intent not in _INTENTS:
            raise ValueError(f"unknown intent {intent!r}: use read, write or transaction")
        return self._block

    def router(self) -> SandboxRouter:
        """A ``Cqrs`` router for the application whose every route is this sandbox.

        Example::

            app = make_app(cqrs=sandbox.router())
        """
        return SandboxRouter(self)

    def _acquire(self) -> Connection:
        if self._closed:
            raise RuntimeError("this sandbox is closed: its transaction was rolled back")
        if not self._lock.acquire(timeout=self._timeout):
            raise TimeoutError(
                f"another thread held the sandbox's connection for over {self._timeout} s "
                "(threads in a sandbox share one connection, one block at a time)"
            )
        return self._conn

    def close(self) -> None:
        """Roll back everything written in the sandbox; close the connection if it opened it."""
        if self._closed:
            return
        held = self._lock.acquire(timeout=self._timeout)
        try:
            self._closed = True
            if not held:
                # A thread still holds the connection: cut it off, which ends
                # the transaction on the server without committing anything.
                self._base.abort()
                self._close_base()
                raise TimeoutError(
                    f"a thread held the sandbox's connection for over {self._timeout} s "
                    "when the sandbox closed; its connection was aborted"
                )
            self._end()
        finally:
            if held:
                self._lock.release()

    def _end(self) -> None:
        failure: Error | None = None
        try:
            self._real.rollback()
        except self._real.native_errors as e:
            failure = self._real.map_error(e, "ROLLBACK")
        self._close_base()
        # A connection the sandbox opened is closed: the server discarded the
        # transaction even if the rollback failed. A borrowed one is not.
        if failure is not None and not self._owned:
            raise failure

    def _close_base(self) -> None:
        if self._owned:
            with contextlib.suppress(Error):
                self._base.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Block:
    """``sandbox.checkout()``: the sandbox's connection, held by one thread at a time."""

    __slots__ = ("_sandbox",)

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def __enter__(self) -> Connection:
        return self._sandbox._acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._sandbox._lock.release()


class SandboxRouter(Cqrs):
    """A ``Cqrs`` whose reads, writes and transactions all use a sandbox's connection.

    Why: in a test the "replicas" must see what the test wrote, which is
    uncommitted; real replicas never would. It is a ``Cqrs``, so code typed
    for the router takes it; it has no pools, probes or replicas
    (``stats()`` shows one connection, ``shutdown()`` does nothing: the
    sandbox owns the connection). ``session()`` gives a ``CqrsSession`` over
    it, reading its writes like everything else.

    Example::

        cqrs = sandbox.router()
        with cqrs.write() as conn:
            ...
        with cqrs.read() as conn:  # the same connection: sees the write
            ...
    """

    def __init__(self, sandbox: Sandbox) -> None:
        # Not Cqrs.__init__: there is nothing to connect or probe. These are
        # the attributes the inherited methods read, as for a router
        # without replicas.
        self._sandbox = sandbox
        self._config = CqrsConfig(primary_conninfo=sandbox._base._url.redacted)
        self._tracks_wal = False
        self._replicas = None
        self._wal_probe = None

    def __repr__(self) -> str:
        return f"<repodb.SandboxRouter on {self._sandbox!r}>"

    def checkout(self, intent: str = "write") -> _Block:
        """The sandbox's connection for a Repo, whatever the intent."""
        return self._sandbox.checkout(intent)

    def _lease(self, use: _Use, session: CqrsSession | None = None) -> _Block:
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

    def shutdown(self, timeout: float = 10.0) -> None:
        """Nothing to stop: the sandbox owns its connection and closes it."""


class _SandboxDriver:
    """The driver under the application's connection: its transactions are savepoints.

    Why a driver and not a flag on ``Connection``: ``Connection`` stays as
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

    def __init__(self, real: DriverConnection, statement_savepoints: bool) -> None:
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

    def _statement(self, run: Callable[[], T]) -> T:
        if self._open or not self._statement_savepoints:
            result = run()
            self._still_inside()
            return result
        self._run(f"SAVEPOINT {_STATEMENT}")
        try:
            result = run()
        except BaseException:  # even interrupted, the statement's savepoint is undone
            self._undo(_STATEMENT)
            raise
        self._still_inside()
        self._run(f"RELEASE SAVEPOINT {_STATEMENT}")
        return result

    def _still_inside(self) -> None:
        """Fail loudly when a statement ended the sandbox's own transaction.

        A ``COMMIT`` (or ``ROLLBACK``, ``END``) run as SQL on the sandbox's
        connection ends the transaction everything is rolled back with: what
        the test wrote before it is committed for good, and every later
        statement would commit on its own. A new transaction begins at once,
        so nothing after it is kept, and the test fails here, not in the
        next test that finds rows it did not write.
        """
        if self._real.in_transaction:
            return
        self._open = False
        self._read_only = False
        self._real.begin(TransactionOptions())
        raise RuntimeError(
            "a statement ended the sandbox's transaction (COMMIT or ROLLBACK run as SQL); "
            "what the test wrote before it may be committed and stay in the database. "
            "Use repo.transaction() or connection.transaction(): savepoints in the sandbox"
        )

    def _run(self, sql: str) -> None:
        self._real.execute(sql, (), False)

    def _undo(self, savepoint: str) -> None:
        # The statement's own error matters more than a failing rollback
        # (a lost connection), which the next statement reports anyway.
        with contextlib.suppress(*self.native_errors):
            self._run(f"ROLLBACK TO SAVEPOINT {savepoint}")
            self._run(f"RELEASE SAVEPOINT {savepoint}")

    def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        return self._statement(lambda: self._real.execute(sql, params, prepare))

    def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[tuple[Any, ...]]:
        return self._statement(lambda: self._real.fetch(sql, params, prepare))

    def stream(self, sql: str, params: Sequence[Any], batch_size: int) -> Iterator[tuple[Any, ...]]:
        return self._real.stream(sql, params, batch_size)

    def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        return self._statement(lambda: self._real.execute_many(sql, params))

    def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        return self._statement(lambda: self._real.copy_in(table, columns, rows, prefix))

    def begin(self, options: TransactionOptions) -> None:
        self._run(f"SAVEPOINT {_TRANSACTION}")
        self._open = True
        if options.read_only:
            self._read_only = True
            self._run(_READ_ONLY[self.dialect.name][0])

    def commit(self) -> None:
        if self._read_only:
            # It wrote nothing, and only a rollback undoes PostgreSQL's READ ONLY.
            self.rollback()
            return
        self._run(f"RELEASE SAVEPOINT {_TRANSACTION}")
        self._open = False

    def rollback(self) -> None:
        if not self._open:
            return
        try:
            self._run(f"ROLLBACK TO SAVEPOINT {_TRANSACTION}")
            self._run(f"RELEASE SAVEPOINT {_TRANSACTION}")
        finally:
            self._open = False
            read_only, self._read_only = self._read_only, False
            writable = _READ_ONLY[self.dialect.name][1]
            if read_only and writable is not None:
                self._run(writable)

    def set_statement_timeout(self, seconds: float | None) -> None:
        self._real.set_statement_timeout(seconds)

    def ping(self) -> None:
        self._real.ping()

    def abort(self) -> None:
        self._real.abort()

    def close(self) -> None:
        """Nothing: the sandbox closes the real connection when it ends."""

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        return self._real.map_error(exc, sql)
