"""CQRS: reads to replicas, writes to the primary, without changing application code.

Why: read traffic usually dwarfs writes, and streaming replicas can serve
it. ``Cqrs`` holds a pool for the primary and a ``MultiPool`` for the
replicas, and hands out connections by what they are for. ``Repo(cqrs)``
routes by itself: reads (``all``, ``one``, ``get``, ``exists``,
``aggregate``, ``stream``, ``preload``) go to a replica; writes, queries
with ``lock`` and typed requests go to the primary; a ``repo.transaction()``
holds one primary connection.

What it adds to a plain split (see docs/cqrs.md for the details):

- Health: a replica that refuses, resets, hangs or shuts down is out of
  rotation from its first failure, and back when a background probe gets an
  answer. A read that failed on it is retried once elsewhere by the Repo.
- Lag: with ``max_replica_lag_bytes``/``max_replica_lag_seconds``, a replica
  further behind the primary gets no reads until it catches up.
- Fallback: when no replica can serve, reads go to the primary, never to
  an error; when the primary is down too, to a lagging replica.
- Read-your-writes: inside ``with cqrs.session() as s``, a read after a
  write goes to a replica only once that replica has replayed the write.

SQLite works too: replicas are read-only connections to the primary's file,
so an application can be written for CQRS and run without a server.

Example::

    cqrs = Cqrs.create(CqrsConfig(
        primary_conninfo="postgresql://app@primary/shop",
        replica_conninfos=["postgresql://app@replica1/shop", "postgresql://app@replica2/shop"],
    ))
    repo = Repo(cqrs)
    users = repo.all(query(User))          # a replica
    repo.insert(cast(User, params, ["name"]))  # the primary
    cqrs.shutdown()
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Literal, Self, TypeVar, overload

from ._cause_log import CauseLog
from ._cqrs.lag import Lag, WalHistory, parse_lsn
from ._cqrs.leases import REPLICA_DOWN_ON, ReadLease, WriteLease
from ._cqrs.probe import Prober
from .connection import Connection, LeasedTransaction
from .errors import ConnectError, Error
from .multipool import MultiPool, Selection
from .pool import Pool, PoolStats
from .request import Request
from .types import optional
from .url import parse_url

__all__ = [
    "Cqrs",
    "CqrsConfig",
    "CqrsSession",
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

_WAL_POSITION = Request.one("SELECT pg_current_wal_lsn()::text", row=str)
_REPLAY_POSITION = Request.one("SELECT pg_last_wal_replay_lsn()::text", row=optional(str))
# The insert position, not the write position: a commit record can sit
# unwritten in WAL buffers for a moment after COMMIT returns.
_INSERT_POSITION = Request.one("SELECT pg_current_wal_insert_lsn()::text", row=str)
_QUERY_ONLY = Request.exec("PRAGMA query_only = ON")


@dataclasses.dataclass(frozen=True)
class CqrsConfig:
    """Where the primary and the replicas are, and how to use them.

    Attributes:
        primary_conninfo: the primary, as for ``repodb.connect``.
        primary_max_size: the primary pool's size.
        replica_conninfos: the replicas; empty sends everything to the
            primary. With SQLite, the primary's file again (once per
            read-only connection pool you want).
        replica_max_size_each: each replica pool's size.
        replica_selection: a ``ReplicaSelection``.
        validate: ``validate(conn) -> bool`` before a pooled connection is reused.
        max_replica_lag_bytes: a replica more WAL bytes behind gets no reads.
        max_replica_lag_seconds: a replica missing writes older than this gets no reads.
        check_interval: seconds between health and lag probes of each server.
        probe_timeout: seconds after which an unanswered probe marks a replica down.
        timeout: seconds a checkout waits for a busy pool (``PoolTimeout``).
        connect_timeout, statement_timeout: as for ``repodb.connect``.
    """

    primary_conninfo: str
    primary_max_size: int = 10
    replica_conninfos: Sequence[str] = ()
    replica_max_size_each: int = 5
    replica_selection: Selection = Selection.ROUND_ROBIN
    validate: Callable[[Connection], bool] | None = None
    max_replica_lag_bytes: int | None = None
    max_replica_lag_seconds: float | None = None
    check_interval: float = 0.5
    probe_timeout: float = 1.5
    timeout: float = 30.0
    connect_timeout: float = 5.0
    statement_timeout: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.replica_conninfos, str):
            raise TypeError("replica_conninfos must be a list of URLs, not one string")
        object.__setattr__(self, "replica_conninfos", tuple(self.replica_conninfos))
        if self.replica_conninfos and self.replica_max_size_each < 1:
            raise ValueError("replica_max_size_each must be at least 1 when there are replicas")
        for name in ("max_replica_lag_bytes", "max_replica_lag_seconds"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} cannot be negative, got {value}")


@dataclasses.dataclass(frozen=True, slots=True)
class ReplicaStats:
    """One replica as the router sees it.

    Attributes:
        index: its position in ``replica_conninfos``.
        label: its name in telemetry (``"replica 1"`` for index 0).
        healthy: it gets reads now: it answers, is not marked unhealthy and
            is within the lag limits.
        down: it failed and has not answered a probe since (or a probe hangs).
        marked_unhealthy: taken out by ``mark_replica_unhealthy``.
        lagging: over ``max_replica_lag_bytes`` or ``max_replica_lag_seconds``.
        lag_bytes, lag_seconds: the last measured lag (None: not measured,
            or not PostgreSQL).
        last_error: why it is down, if it is.
        pool: its pool's statistics.
    """

    index: int
    label: str
    healthy: bool
    down: bool
    marked_unhealthy: bool
    lagging: bool
    lag_bytes: int | None
    lag_seconds: float | None
    last_error: str | None
    pool: PoolStats


@dataclasses.dataclass(frozen=True, slots=True)
class CqrsStats:
    """``cqrs.stats()``: the primary's pool, each replica, and how many serve reads."""

    primary: PoolStats
    replicas: tuple[ReplicaStats, ...]
    healthy_replica_count: int


class _Routes:
    """The connection blocks of a router and of its sessions."""

    def _lease(self, use: _Use) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def checkout(self, intent: str = "write") -> AbstractContextManager[Connection]:
        """A connection for a Repo: ``read`` from a replica, other intents from the primary."""
        if intent == "read":
            return self._lease("read")
        if intent == "write":
            return self._lease("write")
        if intent == "transaction":
            return self._lease("transaction")
        raise ValueError(f"unknown intent {intent!r}: use read, write or transaction")

    def read(self) -> AbstractContextManager[Connection]:
        """A ``with`` block on a replica (the primary when none can serve)."""
        return self._lease("read")

    def write(self) -> AbstractContextManager[Connection]:
        """A ``with`` block on the primary, for writes."""
        return self._lease("write")

    def primary(self) -> AbstractContextManager[Connection]:
        """A ``with`` block on the primary, for reads that must see the latest writes."""
        return self._lease("primary")

    @overload
    def transaction(self, fn: None = None) -> AbstractContextManager[Connection]: ...
    @overload
    def transaction(self, fn: Callable[[Connection], T]) -> T | None: ...
    def transaction(
        self, fn: Callable[[Connection], T] | None = None
    ) -> AbstractContextManager[Connection] | T | None:
        """A transaction on one primary connection: a ``with`` block, or ``fn(conn)`` in one.

        The block commits at its end and rolls back on an exception, which
        propagates, or on ``raise Rollback()``, which does not (the function
        form then returns None).
        """
        block = LeasedTransaction(self._lease("transaction"))
        if fn is None:
            return block
        with block as conn:
            return fn(conn)
        return None

    def with_read(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` on a replica connection; its result."""
        with self._lease("read") as conn:
            return fn(conn)

    def with_write(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` on a primary connection; its result."""
        with self._lease("write") as conn:
            return fn(conn)

    def with_primary(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` on a primary connection, for a read that must be current."""
        with self._lease("primary") as conn:
            return fn(conn)


class Cqrs(_Routes):
    """A router over a primary and its replicas; a Repo source.

    Options: a ``CqrsConfig``. Creating it connects to nothing: pools open
    connections when first used, and the health probes start in background
    threads (daemons, stopped by ``shutdown``).

    Example::

        with Cqrs(CqrsConfig("sqlite:///app.db", replica_conninfos=["sqlite:///app.db"])) as cqrs:
            repo = Repo(cqrs)
    """

    def __init__(self, config: CqrsConfig) -> None:
        primary_url = parse_url(config.primary_conninfo)
        for url in config.replica_conninfos:
            if parse_url(url).driver != primary_url.driver:
                raise ValueError("the primary and the replicas must be the same kind of database")
        if config.replica_conninfos and primary_url.target == ":memory:":
            raise ValueError("an in-memory SQLite database cannot have replicas; use a file")
        tracks_wal = primary_url.driver == "postgresql"
        self._config = config
        self._tracks_wal = tracks_wal
        self._lag_lock = threading.Lock()
        self._wal_read_failures = CauseLog(_logger)
        count = len(config.replica_conninfos)
        self._lags: list[Lag | None] = [None] * count
        self._lagging = [False] * count
        self._limits = (config.max_replica_lag_bytes, config.max_replica_lag_seconds)
        limited = self._limits != (None, None)
        self._accept = self._fresh_enough if limited else None
        # Enough history to tell any lag over the limit, and a minute for stats.
        keep = max(60.0, 2 * (config.max_replica_lag_seconds or 0.0))
        self._history = WalHistory(keep)
        self._primary = Pool(
            config.primary_conninfo,
            max_size=config.primary_max_size,
            timeout=config.timeout,
            validate=config.validate,
            connect_timeout=config.connect_timeout,
            statement_timeout=config.statement_timeout,
            label="primary",
        )
        self._replicas: MultiPool | None = None
        self._wal_probe: Prober | None = None
        if not count:
            return
        listener = _listener(self) if tracks_wal else None
        if listener is not None:
            # Probed first: a replica's lag needs a primary sample taken before it.
            self._wal_probe = Prober(
                config.primary_conninfo,
                "primary",
                _wal_position,
                interval=config.check_interval,
                timeout=config.probe_timeout,
                connect_timeout=config.connect_timeout,
                backoff_min=0.05,
                backoff_max=1.0,
                on_result=listener,
            )
        self._replicas = MultiPool(
            config.replica_conninfos,
            max_size_per_server=config.replica_max_size_each,
            selection=config.replica_selection,
            labels=[f"replica {i + 1}" for i in range(count)],
            timeout=config.timeout,
            validate=config.validate,
            configure=None if tracks_wal else _read_only,
            connect_timeout=config.connect_timeout,
            statement_timeout=config.statement_timeout,
            check_interval=config.check_interval,
            probe_timeout=config.probe_timeout,
            probe=_replay_position if tracks_wal else None,
            on_probe=None if listener is None else lambda i: listener(),
        )

    @classmethod
    def create(cls, config: CqrsConfig) -> Self:
        """``Cqrs(config)``, under the seed's name."""
        return cls(config)

    @property
    def config(self) -> CqrsConfig:
        """The configuration it was made with."""
        return self._config

    def __repr__(self) -> str:
        replicas = len(self._config.replica_conninfos)
        shown = parse_url(self._config.primary_conninfo).redacted
        return f"<repodb.Cqrs primary={shown} replicas={replicas}>"

    def session(self) -> CqrsSession:
        """A read-your-writes scope: ``with cqrs.session() as s: repo = Repo(s)``.

        After a write through the session, its reads go to a replica only
        once that replica has replayed the write; until then, to the primary.
        """
        return CqrsSession(self)

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
                    lag_bytes=None if lag is None else lag.bytes,
                    lag_seconds=None if lag is None else lag.seconds,
                    last_error=server.last_error,
                    pool=server.pool,
                )
            )
        return CqrsStats(primary, tuple(replicas), sum(r.healthy for r in replicas))

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the probes and shut the pools down (see ``Pool.shutdown``)."""
        deadline = _now() + timeout
        probe = self._wal_probe
        if probe is not None:
            probe.stop(0.0)
        if self._replicas is not None:
            self._replicas.shutdown(max(0.0, deadline - _now()))
        self._primary.shutdown(max(0.0, deadline - _now()))
        if probe is not None:
            probe.stop(max(0.0, min(1.0, deadline - _now())))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def checkout(self, intent: str = "write") -> AbstractContextManager[Connection]:
        """A connection for a Repo: ``read`` from a replica, other intents from the primary."""
        # The Repo calls this for every operation: reads take the short way.
        if intent == "read":
            return ReadLease(self, None)
        return super().checkout(intent)

    # Routing -----------------------------------------------------------------

    def _lease(
        self, use: _Use, session: CqrsSession | None = None
    ) -> AbstractContextManager[Connection]:
        if use == "read":
            return ReadLease(self, session)
        if session is not None and use != "primary" and self._tracks_wal:
            return WriteLease(self._primary, session)
        return self._primary.connection()

    def _acquire_read(self, session: CqrsSession | None) -> tuple[int | None, Connection]:
        """A fitting replica's connection, else the primary's: (replica index or None, conn)."""
        replicas = self._replicas
        fits = None
        if session is not None:
            floor = session._position
            if isinstance(floor, _Unknown):
                return None, self._primary.acquire()
            if floor is not None and replicas is not None:
                fits = _has_replayed(replicas, floor)
        if replicas is not None:
            found = replicas._acquire(self._accept, fits, REPLICA_DOWN_ON)
            if found is not None:
                return found
        try:
            return None, self._primary.acquire()
        except ConnectError:
            # The primary is down too: a lagging replica beats no answer.
            found = None if replicas is None else replicas._acquire(None, fits, REPLICA_DOWN_ON)
            if found is None:
                raise
            return found

    def _fresh_enough(self, index: int) -> bool:
        return not self._lagging[index]

    def _replica_pool(self, index: int) -> MultiPool:
        if self._replicas is None:
            raise IndexError(f"no replica {index}: this router has no replicas")
        return self._replicas

    def _measured(self) -> None:
        """A probe finished: recompute every replica's lag (called from probe threads)."""
        wal_probe = self._wal_probe
        if wal_probe is None:
            return
        changes = []
        with self._lag_lock:
            at = wal_probe.measured_at
            if at is not None and isinstance(wal_probe.result, int):
                self._history.add(at, wal_probe.result)
            replicas = self._replicas
            for i, prober in enumerate(() if replicas is None else replicas._probers):
                measured = prober.measured_at
                result = prober.result
                if measured is None or not (result is None or isinstance(result, int)):
                    continue
                lag = self._history.lag(result, measured)
                if lag is None:
                    continue
                self._lags[i] = lag
                lagging = self._over_limit(lag)
                if lagging != self._lagging[i]:
                    self._lagging[i] = lagging
                    changes.append((prober.label, lag, lagging))
        for label, lag, lagging in changes:
            _logger.info(
                "%s is %d bytes / %.1f s behind the primary: %s",
                label,
                lag.bytes,
                lag.seconds,
                "no reads until it catches up" if lagging else "back in rotation",
            )

    def _over_limit(self, lag: Lag) -> bool:
        max_bytes, max_seconds = self._limits
        return (max_bytes is not None and lag.bytes > max_bytes) or (
            max_seconds is not None and lag.seconds > max_seconds
        )


class _Unknown:
    """The WAL position of a session's last write could not be read."""


_UNKNOWN = _Unknown()


class CqrsSession(_Routes):
    """A read-your-writes scope over a ``Cqrs``; a Repo source.

    Use one per unit of work (a web request, a job), from one thread at a
    time. A write through the session (``write()``, ``transaction()``,
    ``Repo`` writes) records the primary's WAL position when its block ends.
    A later read goes to a replica only if that replica has replayed up to
    that position, checked on the replica that serves the read (its last
    health probe, else a query on the very connection); otherwise it goes to
    the primary. Reads before the first write go to replicas as usual. On
    SQLite there is no lag: replicas read the primary's file.

    Example::

        with cqrs.session() as s:
            repo = Repo(s)
            post = repo.insert(changeset)
            assert repo.get(Post, post.id) == post  # a replica that has it, or the primary
    """

    def __init__(self, cqrs: Cqrs) -> None:
        self._cqrs = cqrs
        self._lock = threading.Lock()
        self._position: int | _Unknown | None = None
        self._closed = False

    @property
    def last_write_lsn(self) -> str | None:
        """The WAL position (``"0/3000148"``) reads must see; None before any write."""
        position = self._position
        if not isinstance(position, int):
            return None
        return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"

    def _lease(self, use: _Use) -> AbstractContextManager[Connection]:
        if self._closed:
            raise RuntimeError("this CQRS session has ended")
        return self._cqrs._lease(use, self)

    def _wrote(self, conn: Connection) -> None:
        """A write block on ``conn`` ended: remember where the primary's WAL is now."""
        try:
            position = parse_lsn(conn.one(_INSERT_POSITION))
        except (Error, ValueError) as e:
            # Reads cannot tell which replica has the write: the primary serves
            # them until a later write records a position. Every session would
            # fail alike (a server that refuses the function), so say it once.
            self._cqrs._wal_read_failures.warning(
                e,
                "a session could not read the WAL position after a write; "
                "its reads go to the primary until its next write",
            )
            with self._lock:
                self._position = _UNKNOWN
            return
        with self._lock:
            current = self._position
            if not isinstance(current, int) or position > current:
                self._position = position

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True


def _has_replayed(replicas: MultiPool, floor: int) -> Callable[[int, Connection], bool]:
    """``fits(index, conn)``: whether that replica has replayed up to ``floor``."""

    def fits(index: int, conn: Connection) -> bool:
        prober = replicas._probers[index]
        if prober.measured_at is not None:
            known = prober.result
            if known is None or (isinstance(known, int) and known >= floor):
                return True
        replayed = conn.one(_REPLAY_POSITION)
        return replayed is None or parse_lsn(replayed) >= floor

    return fits


def _listener(cqrs: Cqrs) -> Callable[[], None]:
    """A probe listener that does not keep the router alive."""
    ref = weakref.ref(cqrs)

    def measured() -> None:
        router = ref()
        if router is not None:
            router._measured()

    return measured


def _wal_position(conn: Connection) -> int:
    return parse_lsn(conn.one(_WAL_POSITION))


def _replay_position(conn: Connection) -> int | None:
    """A replica's replay position; None on a server that is not in recovery."""
    replayed = conn.one(_REPLAY_POSITION)
    return None if replayed is None else parse_lsn(replayed)


def _read_only(conn: Connection) -> None:
    conn.exec(_QUERY_ONLY)
