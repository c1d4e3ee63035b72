"""The ``async with`` blocks the CQRS router hands out: a read and a tracked write.

Why separate classes: each block must give its connection back to the pool
it came from, and see how the block ended. A read that failed because its
replica died, or was cancelled by a recovery conflict, marks that replica
down on the way out, so the Repo's retry of the read goes elsewhere. A
write in a read-your-writes session notes the primary's WAL position
before the connection goes back.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from .. import _observe
from ..connection_async import AsyncConnection
from ..errors import ConnectionLost, SerializationFailure

if TYPE_CHECKING:
    from ..cqrs_async import AsyncCqrs, AsyncCqrsSession
    from ..pool_async import AsyncPool

__all__ = ["REPLICA_DOWN_ON", "AsyncReadLease", "AsyncWriteLease"]

# Failures that take a replica out of rotation. On a hot standby a 40001 is
# a recovery conflict (standbys refuse SERIALIZABLE): the replica is
# replaying something that conflicts with reads, so reads go elsewhere
# until the next probe, soon after.
REPLICA_DOWN_ON: tuple[type[BaseException], ...] = (ConnectionLost, SerializationFailure)


class AsyncReadLease:
    """A connection for reading: a fitting replica, else the primary."""

    __slots__ = ("_conn", "_index", "_router", "_session")

    def __init__(self, router: AsyncCqrs, session: AsyncCqrsSession | None) -> None:
        self._router = router
        self._session = session
        self._conn: AsyncConnection | None = None
        self._index: int | None = None

    async def __aenter__(self) -> AsyncConnection:
        if self._conn is not None:
            raise RuntimeError("this connection block is already in use")
        self._index, conn = await self._router._acquire_read(self._session)
        self._conn = conn
        if _observe.active:
            why = "a replica" if self._index is not None else "the primary, no replica could serve"
            _observe.routed(conn, "read", why)
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        index = self._index
        replicas = self._router._replicas
        if index is None or replicas is None:
            await self._router._primary.release(conn)
        else:
            await replicas._release(index, conn, exc, REPLICA_DOWN_ON)


class AsyncWriteLease:
    """A primary connection whose writes the session's later reads must see."""

    __slots__ = ("_conn", "_pool", "_session")

    def __init__(self, pool: AsyncPool, session: AsyncCqrsSession) -> None:
        self._pool = pool
        self._session = session
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> AsyncConnection:
        if self._conn is not None:
            raise RuntimeError("this connection block is already in use")
        self._conn = await self._pool.acquire()
        return self._conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # Even after an error: statements before it may have committed.
            await self._session._wrote(conn)
        finally:
            await self._pool.release(conn)
