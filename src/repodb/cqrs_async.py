"""CQRS: reads to replicas, writes to the primary, without changing application code.

Why: read traffic usually dwarfs writes, and streaming replicas can serve
it. ``AsyncCqrs`` holds a pool for the primary and one ``AsyncMultiPool``
for the replicas, and hands out connections by what they are for. ``Repo(cqrs)``
routes by itself: reads (``all``, ``one``, ``get``, ``exists``,
``aggregate``, ``stream``, ``preload``) go to a replica; writes, queries
with ``lock`` and typed requests go to the primary; a ``repo.transaction()``
holds one primary connection.

What it adds to a plain split (see docs/cqrs.md for the details):

- Health: a replica that refuses, resets, hangs or shuts down is out of
  rotation from its first failure, and back when a background probe gets an
  answer. A read that failed on it is retried once elsewhere by the Repo.
- Lag: with ``max_replica_lag_seconds`` (or ``max_replica_lag_bytes`` on
  PostgreSQL, ``max_replica_lag_transactions`` on MariaDB), a replica
  further behind the primary gets no reads until it catches up.
- Fallback: when no replica can serve, reads go to the primary, never to
  an error; when the primary is down too, to a lagging replica.
- Failover: the primary's address may list several hosts; the router
  connects to the one that takes writes. Every new connection's role is
  checked (``pg_is_in_recovery()``; MariaDB's ``@@read_only``): a replica is
  never used as the primary, and a promoted replica gets no more reads as
  a replica.
- Read-your-writes: inside ``async with cqrs.session() as s``, a read after a
  write goes to a replica only once that replica has replayed the write
  (its WAL position on PostgreSQL, its GTID on MariaDB).

What differs between PostgreSQL and MariaDB replication (the queries, and
the positions: WAL bytes or GTID lists) is data, a ``Replication`` record of
``repodb._cqrs.replication``.

SQLite works too: replicas are read-only connections to the primary's file,
so an application can be written for CQRS and run without a server.

Example::

    cqrs = AsyncCqrs.create(CqrsConfig(
        primary_conninfo="postgresql://app@primary/shop",
        replica_conninfos=["postgresql://app@replica1/shop", "postgresql://app@replica2/shop"],
    ))
    async with cqrs.read() as conn:            # a replica
        await conn.all(users_query)
    async with cqrs.transaction() as conn:     # the primary
        await conn.exec(insert_user)
    await cqrs.shutdown()
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, overload

from ._cause_log import CauseLog
from ._cqrs.config import CqrsConfig, CqrsStats, ReplicaStats, Selection, writable_target
from ._cqrs.lag import Lag, WalHistory
from ._cqrs.leases_async import REPLICA_DOWN_ON, AsyncReadLease, AsyncWriteLease
from ._cqrs.probe_async import AsyncProber
from ._cqrs.replication import POSTGRESQL_REPLICATION, REPLICATION, Replication
from ._cqrs.token import UNKNOWN_POSITION, make_token, read_token
from .connection_async import AsyncConnection, AsyncLeasedTransaction
from .errors import ConnectError, Error
from .multipool_async import AsyncMultiPool
from .pool_async import AsyncPool
from .request import Request
from .url import parse_url

__all__ = [
    "AsyncCqrs",
    "AsyncCqrsSession",
    "CqrsConfig",
    "CqrsStats",
    "ReplicaSelection",
    "ReplicaStats",
]

T = TypeVar("T")

#: How a replica is chosen for each read (the ``Selection`` of ``repodb.multipool``).
ReplicaSelection = Selection

_logger = logging.getLogger("repodb.cqrs")
_now = time.monotonic

_Use = Literal["read", "write", "primary", "transaction"]

_QUERY_ONLY = Request.exec("PRAGMA query_only = ON")


class _AsyncRoutes:
    """The connection blocks of a router and of its sessions."""

    def _lease(self, use: _Use) -> AbstractAsyncContextManager[AsyncConnection]:
        raise NotImplementedError

    def checkout(self, intent: str = "write") -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for a Repo: ``read`` from a replica, other intents from the primary."""
        if intent == "read":
            return self._lease("read")
        if intent == "write":
            return self._lease("write")
        if intent == "transaction":
            return self._lease("transaction")
        raise ValueError(f"unknown intent {intent!r}: use read, write or transaction")

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection block on a replica (the primary when none can serve)."""
        return self._lease("read")

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection block on the primary, for writes."""
        return self._lease("write")

    def primary(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection block on the primary, for reads that must see the latest writes."""
        return self._lease("primary")

    @overload
    def transaction(self, fn: None = None) -> AbstractAsyncContextManager[AsyncConnection]: ...
    @overload
    def transaction(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> Awaitable[T | None]: ...
    def transaction(
        self, fn: Callable[[AsyncConnection], Awaitable[T]] | None = None
    ) -> AbstractAsyncContextManager[AsyncConnection] | Awaitable[T | None]:
        """A transaction on one primary connection: a block, or ``fn(conn)`` in one.

        The block commits at its end and rolls back on an exception, which
        propagates, or on ``raise Rollback()``, which does not (the function
        form then returns None).
        """
        block = AsyncLeasedTransaction(self._lease("transaction"))
        if fn is None:
            return block
        return _call_in(block, fn)

    async def with_read(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``await fn(conn)`` on a replica connection; its result.

        ``fn`` is a read by contract: it may run twice. When the server fails
        under it before it returns (``ConnectionLost``, or a recovery conflict
        on a replica), that replica is taken out of rotation and ``fn`` runs
        once more on another server (another replica, else the primary), as
        the Repo retries its reads; a second failure propagates. A
        ``async with cqrs.read()`` block cannot be run again: there, the
        failure reaches the block's code.

        Example::

            total = await cqrs.with_read(lambda conn: conn.one(count_orders))
        """
        try:
            async with self._lease("read") as conn:
                return await fn(conn)
        except REPLICA_DOWN_ON:
            pass  # the lease took that replica out of rotation: the next one is elsewhere
        async with self._lease("read") as conn:
            return await fn(conn)

    async def with_write(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``await fn(conn)`` on a primary connection; its result."""
        async with self._lease("write") as conn:
            return await fn(conn)

    async def with_primary(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``await fn(conn)`` on a primary connection, for a read that must be current."""
        async with self._lease("primary") as conn:
            return await fn(conn)


class AsyncCqrs(_AsyncRoutes):
    """A router over a primary and its replicas; a Repo source.

    Options: a ``CqrsConfig``. Creating it connects to nothing: pools open
    connections when first used, and the health probes start in the
    background (asyncio tasks of the running loop, or daemon threads for the
    sync router), stopped by ``shutdown``.

    Example::

        config = CqrsConfig("sqlite:///app.db", replica_conninfos=["sqlite:///app.db"])
        async with AsyncCqrs(config) as cqrs:
            async with cqrs.read() as conn:
                ...
    """

    def __init__(self, config: CqrsConfig) -> None:
        primary_url = parse_url(config.primary_conninfo)
        for url in config.replica_conninfos:
            if parse_url(url).driver != primary_url.driver:
                raise ValueError("the primary and the replicas must be the same kind of database")
        if config.replica_conninfos and primary_url.target == ":memory:":
            raise ValueError("an in-memory SQLite database cannot have replicas; use a file")
        replication = REPLICATION.get(primary_url.driver)
        primary_target = writable_target(config.primary_conninfo)
        self._config = config
        self._kind = primary_url.driver
        self._replication: Replication[Any] | None = replication
        self._lag_lock = threading.Lock()
        self._wal_read_failures = CauseLog(_logger)
        count = len(config.replica_conninfos)
        self._lags: list[Lag | None] = [None] * count
        self._lagging = [False] * count
        self._limits = (_distance_limit(config, replication), config.max_replica_lag_seconds)
        limited = self._limits != (None, None)
        self._accept = self._fresh_enough if limited else None
        # Enough history to tell any lag over the limit, and a minute for stats.
        keep = max(60.0, 2 * (config.max_replica_lag_seconds or 0.0))
        self._history = WalHistory(keep)
        self._primary = AsyncPool(
            primary_target,
            max_size=config.primary_max_size,
            timeout=config.timeout,
            validate=config.validate,
            configure=None if replication is None else _writable(replication),
            connect_timeout=config.connect_timeout,
            statement_timeout=config.statement_timeout,
            session_reset=config.session_reset,
            reset=config.reset,
            label="primary",
        )
        self._replicas: AsyncMultiPool | None = None
        self._wal_probe: AsyncProber | None = None
        if not count:
            return
        listener = None if replication is None else _listener(self)
        if replication is not None:
            # Probed first: a replica's lag needs a primary sample taken before it.
            self._wal_probe = AsyncProber(
                primary_target,
                "primary",
                _primary_position(replication),
                interval=config.check_interval,
                timeout=config.probe_timeout,
                connect_timeout=config.connect_timeout,
                backoff_min=0.05,
                backoff_max=1.0,
                on_result=listener,
            )
        self._replicas = AsyncMultiPool(
            config.replica_conninfos,
            max_size_per_server=config.replica_max_size_each,
            selection=config.replica_selection,
            labels=[f"replica {i + 1}" for i in range(count)],
            timeout=config.timeout,
            validate=config.validate,
            configure=_read_only if replication is None else _replica(replication),
            session_reset=config.session_reset,
            reset=config.reset,
            connect_timeout=config.connect_timeout,
            statement_timeout=config.statement_timeout,
            check_interval=config.check_interval,
            probe_timeout=config.probe_timeout,
            probe=None if replication is None else _replica_position(replication),
            on_probe=None if listener is None else lambda i: listener(),
        )

    @classmethod
    def create(cls, config: CqrsConfig) -> Self:
        """``AsyncCqrs(config)``, under the seed's name."""
        return cls(config)

    @property
    def config(self) -> CqrsConfig:
        """The configuration it was made with."""
        return self._config

    def __repr__(self) -> str:
        replicas = len(self._config.replica_conninfos)
        shown = parse_url(self._config.primary_conninfo).redacted
        return f"<repodb.AsyncCqrs primary={shown} replicas={replicas}>"

    def session(self, after: str | None = None) -> AsyncCqrsSession:
        """A read-your-writes scope: ``async with cqrs.session() as s``.

        After a write through the session, its reads go to a replica only
        once that replica has replayed the write; until then, to the primary.

        Options:
            after: an earlier session's ``token()``: every read of this one
                must see that session's writes, as if it had made them
                itself. It carries a write from one unit of work to the
                next: a web application sends it in a cookie with the
                redirect after a POST, so the GET that follows reads the new
                row even from lagging replicas. A text that is not a token
                is a ValueError, and so is a token from a database of
                another kind; SQLite, which has no lag, checks it and needs
                nothing more. A bare WAL position (``last_write_lsn``, the
                older form) is still taken on PostgreSQL, with a
                DeprecationWarning.

        Example::

            async with cqrs.session(after=request.cookies.get("rw")) as s:
                post = await AsyncRepo(s).get(Post, post_id)
        """
        return AsyncCqrsSession(self, after)

    # Health ------------------------------------------------------------------

    def mark_replica_unhealthy(self, index: int) -> None:
        """No reads to replica ``index`` until ``mark_replica_healthy``, whatever probes see."""
        self._replica_pool(index).mark_down(index)

    def mark_replica_healthy(self, index: int) -> None:
        """Undo ``mark_replica_unhealthy``; the replica gets reads again if it answers."""
        self._replica_pool(index).mark_up(index)

    def stats(self) -> CqrsStats:
        """The primary pool's statistics, each replica's health, lag and pool."""
        primary = self._primary.stats()
        if self._replicas is None:
            return CqrsStats(primary, (), 0)
        with self._lag_lock:
            # Probe threads update them together, under this lock.
            lags, lagging_flags = list(self._lags), list(self._lagging)
        replicas = []
        unit = None if self._replication is None else self._replication.distance_unit
        for server in self._replicas.stats().servers:
            i = server.index
            lag, lagging = lags[i], lagging_flags[i]
            replicas.append(
                ReplicaStats(
                    index=i,
                    label=server.label,
                    healthy=server.healthy and not lagging,
                    down=server.down,
                    marked_unhealthy=server.marked_down,
                    lagging=lagging,
                    lag_bytes=_distance(lag, unit, "bytes"),
                    lag_seconds=None if lag is None else lag.seconds,
                    lag_transactions=_distance(lag, unit, "transactions"),
                    last_error=server.last_error,
                    pool=server.pool,
                )
            )
        return CqrsStats(primary, tuple(replicas), sum(r.healthy for r in replicas))

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the probes and shut the pools down (see ``AsyncPool.shutdown``)."""
        deadline = _now() + timeout
        probe = self._wal_probe
        if probe is not None:
            await probe.stop(0.0)
        if self._replicas is not None:
            await self._replicas.shutdown(max(0.0, deadline - _now()))
        await self._primary.shutdown(max(0.0, deadline - _now()))
        if probe is not None:
            await probe.stop(max(0.0, min(1.0, deadline - _now())))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    def checkout(self, intent: str = "write") -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for a Repo: ``read`` from a replica, other intents from the primary."""
        # The Repo calls this for every operation: reads take the short way.
        if intent == "read":
            return AsyncReadLease(self, None)
        return super().checkout(intent)

    # Routing -----------------------------------------------------------------

    def _lease(
        self, use: _Use, session: AsyncCqrsSession | None = None
    ) -> AbstractAsyncContextManager[AsyncConnection]:
        if use == "read":
            return AsyncReadLease(self, session)
        if session is not None and use != "primary" and self._replication is not None:
            return AsyncWriteLease(self._primary, session)
        return self._primary.connection()

    async def _acquire_read(
        self, session: AsyncCqrsSession | None
    ) -> tuple[int | None, AsyncConnection]:
        """A fitting replica's connection, else the primary's: (replica index or None, conn)."""
        replicas = self._replicas
        fits = None
        if session is not None:
            floor = session._position
            if isinstance(floor, _Unknown):
                return None, await self._primary.acquire()
            if floor is not None and replicas is not None and self._replication is not None:
                fits = _has_replayed(replicas, self._replication, floor)
        if replicas is not None:
            found = await replicas._acquire(self._accept, fits, REPLICA_DOWN_ON)
            if found is not None:
                return found
        try:
            return None, await self._primary.acquire()
        except ConnectError:
            # The primary is down too: a lagging replica beats no answer.
            found = None
            if replicas is not None:
                found = await replicas._acquire(None, fits, REPLICA_DOWN_ON)
            if found is None:
                raise
            return found

    def _fresh_enough(self, index: int) -> bool:
        return not self._lagging[index]

    def _replica_pool(self, index: int) -> AsyncMultiPool:
        if self._replicas is None:
            raise IndexError(f"no replica {index}: this router has no replicas")
        return self._replicas

    def _measured(self) -> None:
        """A probe finished: recompute every replica's lag (called by the probes)."""
        wal_probe = self._wal_probe
        if wal_probe is None:
            return
        replication = self._replication
        assert replication is not None  # the position probe exists only with it
        changes = []
        with self._lag_lock:
            at = wal_probe.measured_at
            # The primary's probe gives a distance (an int), None before the first.
            if at is not None and isinstance(wal_probe.result, int):
                self._history.add(at, wal_probe.result)
            replicas = self._replicas
            for i, prober in enumerate(() if replicas is None else replicas._probers):
                measured = prober.measured_at
                result = prober.result
                if measured is None or result is None:
                    continue
                lag = self._history.lag(replication.distance(result), measured)
                if lag is None:
                    continue
                self._lags[i] = lag
                lagging = self._over_limit(lag)
                if lagging != self._lagging[i]:
                    self._lagging[i] = lagging
                    changes.append((prober.label, lag, lagging))
        if changes and replicas is not None:
            # Which replicas a read may use has changed (its accept filter, _fresh_enough).
            replicas._changed()
        for label, lag, lagging in changes:
            _logger.info(
                "%s is %d %s / %.1f s behind the primary: %s",
                label,
                lag.distance,
                replication.distance_unit,
                lag.seconds,
                "no reads until it catches up" if lagging else "back in rotation",
            )

    def _over_limit(self, lag: Lag) -> bool:
        max_distance, max_seconds = self._limits
        return (max_distance is not None and lag.distance > max_distance) or (
            max_seconds is not None and lag.seconds > max_seconds
        )


class _Unknown:
    """The position of a session's last write could not be read."""


_UNKNOWN = _Unknown()


class AsyncCqrsSession(_AsyncRoutes):
    """A read-your-writes scope over an ``AsyncCqrs``; a Repo source.

    Use one per unit of work (a web request, a job), from one thread or task
    at a time. A write through the session (``write()``, ``transaction()``,
    ``Repo`` writes) records the primary's WAL position when its block ends
    (on MariaDB, the GTID of the block's last commit, ``@@last_gtid``).
    A later read goes to a replica only if that replica has replayed up to
    that position, checked on the replica that serves the read (its last
    health probe, else a query on the very connection); otherwise it goes to
    the primary. Reads before the first write go to replicas as usual. On
    SQLite there is no lag: replicas read the primary's file. ``token()``
    carries the position to a later session (``cqrs.session(after=token)``),
    such as the next request of the same client.

    Example::

        async with cqrs.session() as s:
            async with s.write() as conn:
                await conn.exec(insert_post)
            async with s.read() as conn:  # a replica that has it, or the primary
                await conn.one(post_by_id)
    """

    def __init__(self, cqrs: AsyncCqrs, after: str | None = None) -> None:
        self._cqrs = cqrs
        self._lock = threading.Lock()
        # The database's position (see repodb._cqrs.replication), or _UNKNOWN.
        self._position: object = None
        # A write happened (or was carried in): SQLite's token says so.
        self._has_written = False
        self._closed = False
        if after is not None:
            self._resume(after)

    def _resume(self, after: str) -> None:
        """Start at the position of ``after``, a token (or a bare WAL position)."""
        # Often a client's cookie: checked as strictly as the server writes it.
        kind = self._cqrs._kind
        replication = self._cqrs._replication
        position = read_token(after, kind)
        # SQLite's router took the deprecated bare WAL position too (it stands in
        # for PostgreSQL's in applications' tests), so it still does, with the warning.
        bare = (POSTGRESQL_REPLICATION if replication is None else replication).bare_position
        if position is None:
            if bare is None or not bare.fullmatch(after):
                raise ValueError(
                    f"not a read-your-writes token like rw1.{kind}.<position>: {after[:40]!r}"
                )
            warnings.warn(
                "cqrs.session(after=) with a bare WAL position is deprecated: "
                "pass session.token() instead",
                DeprecationWarning,
                stacklevel=4,
            )
        self._has_written = True
        if replication is None:
            return
        if position is None:
            self._position = replication.parse(after)
        elif position == UNKNOWN_POSITION:
            self._position = _UNKNOWN
        else:
            try:
                self._position = replication.read_token_position(position)
            except ValueError:
                raise ValueError(
                    f"not a {kind} position in a read-your-writes token: {after[:40]!r}"
                ) from None

    def token(self) -> str | None:
        """What the next unit of work passes to ``cqrs.session(after=)``; None before any write.

        Why: after a POST, the redirect's GET is a new request with a new
        session, which knows nothing of the write; this opaque text, sent
        in a cookie or header, brings the write position along. Letters,
        digits, ``.``, ``_`` and ``-`` only, so it needs no escaping in a
        cookie, a header or a URL. A session resumed from a token gives it
        back (or a later one once it wrote), so a chain of requests keeps it.

        Example::

            response.set_cookie("rw", s.token())  # after a write
        """
        kind = self._cqrs._kind
        replication = self._cqrs._replication
        position = self._position
        if isinstance(position, _Unknown):
            return make_token(kind, UNKNOWN_POSITION)
        if position is not None and replication is not None:
            return make_token(kind, replication.token_position(position))
        if self._has_written and replication is None:
            return make_token(kind, "0")
        return None

    @property
    def last_write_lsn(self) -> str | None:
        """The WAL position (``"0/3000148"``) reads must see; None before any write.

        PostgreSQL's only (None elsewhere: a MariaDB position is a GTID list).
        For logs and diagnostics; to carry a write to the next request, use
        ``token()``.
        """
        position = self._position
        if not isinstance(position, int):
            return None
        return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"

    def _lease(self, use: _Use) -> AbstractAsyncContextManager[AsyncConnection]:
        if self._closed:
            raise RuntimeError("this CQRS session has ended")
        if use in ("write", "transaction"):
            self._has_written = True
        return self._cqrs._lease(use, self)

    async def _wrote(self, conn: AsyncConnection) -> None:
        """A write block on ``conn`` ended: remember a position that covers its writes."""
        replication = self._cqrs._replication
        assert replication is not None  # only routers with one track writes
        try:
            position = replication.parse(await conn.one(replication.write_position))
        except (Error, ValueError) as e:
            # Reads cannot tell which replica has the write: the primary serves
            # them until a later write records a position. Every session would
            # fail alike (a server that refuses the function), so say it once.
            self._cqrs._wal_read_failures.warning(
                e,
                "a session could not read the WAL position (the GTID on MariaDB) after a write; "
                "its reads go to the primary until its next write",
            )
            with self._lock:
                self._position = _UNKNOWN
            return
        with self._lock:
            current = self._position
            # A later write's position covers what an unknown one needed.
            if current is None or isinstance(current, _Unknown):
                self._position = position
            else:
                self._position = replication.merge(current, position)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True


async def _call_in(
    block: AsyncLeasedTransaction, fn: Callable[[AsyncConnection], Awaitable[T]]
) -> T | None:
    """``await fn(conn)`` inside a transaction block; None when it rolls back."""
    async with block as conn:
        return await fn(conn)
    return None


def _has_replayed(
    replicas: AsyncMultiPool, replication: Replication[Any], floor: object
) -> Callable[[int, AsyncConnection], Awaitable[bool]]:
    """``await fits(index, conn)``: whether that replica has replayed up to ``floor``."""

    async def fits(index: int, conn: AsyncConnection) -> bool:
        prober = replicas._probers[index]
        if prober.measured_at is not None:
            known = prober.result
            if known is not None and replication.covers(known, floor):
                return True
        applied = await conn.one(replication.replica_position)
        # None: promoted since the last probe; no longer a replica.
        return applied is not None and replication.covers(replication.parse(applied), floor)

    return fits


def _listener(cqrs: AsyncCqrs) -> Callable[[], None]:
    """A probe listener that does not keep the router alive."""
    ref = weakref.ref(cqrs)

    def measured() -> None:
        router = ref()
        if router is not None:
            router._measured()

    return measured


def _primary_position(replication: Replication[Any]) -> Callable[[AsyncConnection], Awaitable[int]]:
    """The primary's probe: its position, as a distance for the lag history."""

    async def position(conn: AsyncConnection) -> int:
        distance: int = replication.distance(
            replication.parse(await conn.one(replication.primary_position))
        )
        return distance

    return position


def _replica_position(
    replication: Replication[Any],
) -> Callable[[AsyncConnection], Awaitable[object]]:
    """A replica's probe: its applied position; ConnectError once it is no replica (promoted)."""

    async def position(conn: AsyncConnection) -> object:
        applied = await conn.one(replication.replica_position)
        if applied is None:
            raise _not_a_replica(conn, replication)
        parsed: object = replication.parse(applied)
        return parsed

    return position


def _writable(replication: Replication[Any]) -> Callable[[AsyncConnection], Awaitable[None]]:
    """Each new primary connection: a replica (a demoted old primary, say) is refused."""

    async def check(conn: AsyncConnection) -> None:
        if await conn.one(replication.is_replica):
            raise ConnectError(
                f"{conn.label}: the server is a replica (in recovery, or read_only), so it "
                "cannot be the primary; list the promoted server among the primary's hosts"
            )

    return check


def _replica(replication: Replication[Any]) -> Callable[[AsyncConnection], Awaitable[None]]:
    """Each new replica connection: a server out of the replica role reads no more as one."""

    async def check(conn: AsyncConnection) -> None:
        if not await conn.one(replication.is_replica):
            raise _not_a_replica(conn, replication)

    return check


def _not_a_replica(conn: AsyncConnection, replication: Replication[Any]) -> ConnectError:
    return ConnectError(
        f"{conn.label}: {replication.not_replica_hint}, so it gets no reads as a replica"
    )


async def _read_only(conn: AsyncConnection) -> None:
    await conn.exec(_QUERY_ONLY)


def _distance_limit(config: CqrsConfig, replication: Replication[Any] | None) -> int | None:
    """The lag limit in the database's unit; ValueError for a limit in another unit.

    PostgreSQL counts lag in WAL bytes, MariaDB in transactions (GTIDs): a
    limit in the other unit could not be checked, so it is refused rather
    than ignored.
    """
    if replication is None:
        return None  # SQLite: its replicas read the primary's file and never lag
    unit = replication.distance_unit
    for other in _DISTANCE_UNITS:
        if other != unit and getattr(config, f"max_replica_lag_{other}") is not None:
            raise ValueError(
                f"max_replica_lag_{other} does not apply to {replication.kind}, whose replicas' "
                f"lag is counted in {unit}: use max_replica_lag_{unit} or max_replica_lag_seconds"
            )
    limit: int | None = getattr(config, f"max_replica_lag_{unit}")
    return limit


def _distance(lag: Lag | None, unit: str | None, wanted: str) -> int | None:
    """A measured lag's distance for the ``lag_<wanted>`` statistic: None in another unit."""
    return lag.distance if lag is not None and unit == wanted else None


# The units of max_replica_lag_<unit> (CqrsConfig) and lag_<unit> (ReplicaStats).
_DISTANCE_UNITS = ("bytes", "transactions")
