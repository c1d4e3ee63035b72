"""The driver boundary: what a database driver must do, and nothing more.

Why: Caqti's drivers implement about nine functions and everything a user
calls (``one``, ``all``, ``stream``, ``transaction()``, retries) is written
once above them. A repodb driver is a module with a ``connect(url, settings)``
function returning an object that satisfies ``DriverConnection``. It runs SQL
with already-encoded parameters, controls transactions, and maps its native
exceptions to repodb's errors; it knows nothing of requests, schemas or
queries. An asyncio driver would satisfy a twin protocol with the same
methods as coroutines; the pure layers (requests, codecs, errors) serve both.

Drivers are found by name in ``DRIVERS`` and imported lazily, so the core
needs only the standard library.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from .._codec import Codecs
from ..dialect import Dialect
from ..errors import Error
from ..url import DatabaseUrl

__all__ = [
    "DRIVERS",
    "AsyncDriverConnection",
    "ConnectSettings",
    "DriverConnection",
    "IsolationLevel",
    "TransactionOptions",
    "load_async_driver",
    "load_driver",
]

Row = tuple[Any, ...]


class IsolationLevel(enum.Enum):
    """SQL isolation levels. SQLite is always serializable, which satisfies each."""

    READ_UNCOMMITTED = "READ UNCOMMITTED"
    READ_COMMITTED = "READ COMMITTED"
    REPEATABLE_READ = "REPEATABLE READ"
    SERIALIZABLE = "SERIALIZABLE"


@dataclasses.dataclass(frozen=True, slots=True)
class TransactionOptions:
    """How to begin a transaction.

    Options:
        isolation: the isolation level; ``None`` keeps the server default.
        read_only: refuse writes (SQLite: ``PRAGMA query_only``).
        deferrable: with SERIALIZABLE and read_only, wait for a snapshot that
            cannot fail (PostgreSQL only; ignored by SQLite).
    """

    isolation: IsolationLevel | None = None
    read_only: bool = False
    deferrable: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectSettings:
    """Settings applied when a connection is opened.

    Options:
        connect_timeout: seconds to wait for the server (PostgreSQL).
        statement_timeout: seconds after which a statement is cancelled.
    """

    connect_timeout: float = 10.0
    statement_timeout: float | None = None


class DriverConnection(Protocol):
    """One open connection, as a driver provides it.

    Parameters arrive encoded (see ``Codecs``) and in placeholder order; SQL
    arrives in the driver's dialect. Native exceptions listed in
    ``native_errors`` escape the methods and are turned into repodb errors by
    ``map_error`` in the shared layer, so each driver maps errors in one place.
    """

    dialect: Dialect
    codecs: Codecs
    native_errors: tuple[type[BaseException], ...]

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the server side of this connection."""
        ...

    @property
    def closed(self) -> bool:
        """Whether the connection is gone: closed, or dropped by the driver itself.

        psycopg drops a connection whose query cancellation was interrupted
        (its state is unknown); a pool must not lend it again.
        """
        ...

    def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        """Run a statement; return the affected row count (-1 when unknown)."""
        ...

    def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[Row]:
        """Run a query and return all its rows."""
        ...

    def stream(self, sql: str, params: Sequence[Any], batch_size: int) -> Iterator[Row]:
        """Run a query and yield rows without holding the whole result in memory.

        Closing the iterator releases the cursor.
        """
        ...

    def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        """Run one statement for each parameter tuple; return the affected row count."""
        ...

    def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        """Load rows into a table (in schema ``prefix``) by the fastest means the database has."""
        ...

    def begin(self, options: TransactionOptions) -> None:
        """Start a transaction."""
        ...

    def commit(self) -> None:
        """Commit the open transaction."""
        ...

    def rollback(self) -> None:
        """Roll back the open transaction; do nothing when none is open."""
        ...

    def set_statement_timeout(self, seconds: float | None) -> None:
        """Cancel statements that run longer than ``seconds`` (None: no limit)."""
        ...

    def ping(self) -> None:
        """Check that the connection works; raise a native error otherwise."""
        ...

    def abort(self) -> None:
        """Make the statement in progress fail at once, from any thread.

        Why: a server that hangs (SIGSTOPped, a dead host) never answers, and
        a statement waiting on it would wait as long; a watcher that sees the
        hang frees the waiting thread with this. Callable from another thread
        while a statement runs, before it starts or after it ends; never
        blocks. The connection is broken afterwards: the only thing left to
        do with it is ``close``.
        """
        ...

    def close(self) -> None:
        """Close the connection; closing twice does nothing."""
        ...

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        """The repodb error for a native exception raised while running ``sql``."""
        ...


class DriverModule(Protocol):
    """What a driver module exports."""

    def connect(self, url: DatabaseUrl, settings: ConnectSettings) -> DriverConnection: ...


DRIVERS: dict[str, str] = {
    "sqlite": "repodb.driver.sqlite",
    "postgresql": "repodb.driver.postgresql",
    "mariadb": "repodb.driver.mariadb",
}


def load_driver(name: str) -> DriverModule:
    """Import the driver module registered under ``name``.

    ValueError for an asyncio-only driver (``postgresql+asyncpg://``).
    """
    if name not in DRIVERS:
        raise ValueError(
            f"{name} is an asyncio driver: use it through connect_async, AsyncPool,"
            " AsyncCqrs or AsyncRepo, or drop '+asyncpg' from the URL for psycopg"
        )
    module: Any = importlib.import_module(DRIVERS[name])
    return module  # type: ignore[no-any-return]


# The asyncio twin of the protocol (imported last: it builds on the names above).
from ._async import AsyncDriverConnection, load_async_driver  # noqa: E402
