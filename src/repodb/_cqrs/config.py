"""What ``Cqrs``/``AsyncCqrs`` and ``MultiPool``/``AsyncMultiPool`` share: options and statistics.

Why a module of its own: the sync router and pool are generated from their
async sources (scripts/async_to_sync.py); the classes here are written once
and are the very same objects on both sides, so ``CqrsStats`` from an
``AsyncCqrs`` and from a ``Cqrs`` compare and pattern-match alike.
"""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from .._pool.stats import PoolStats, SessionReset
from ..url import parse_url

__all__ = [
    "CqrsConfig",
    "CqrsStats",
    "MultiPoolStats",
    "ReplicaStats",
    "Selection",
    "ServerStats",
    "backoff",
    "writable_target",
]

# The libpq target_session_attrs values that accept only a server taking writes.
_WRITABLE = ("read-write", "primary")


def writable_target(conninfo: str) -> str:
    """The primary's address as the router connects to it: the writable one of its hosts.

    Why: after a failover the primary is another server. A libpq address may
    list several hosts (``postgresql://app@db1,db2,db3/shop``, or
    ``host=db1,db2,db3``); with ``target_session_attrs=read-write`` libpq
    tries them in turn and keeps the first that takes writes, so one address
    follows the primary wherever it is. A list without the option would land
    on the first host that answers, standby or not, so the router adds it;
    one that asks for a standby is a ValueError. Other addresses are
    returned as they are.

    Example::

        >>> writable_target("postgresql://app@db1,db2/shop")
        'postgresql://app@db1,db2/shop?target_session_attrs=read-write'
    """
    url = parse_url(conninfo)
    if url.driver != "postgresql":
        return conninfo
    wanted = url.options.get("target_session_attrs")
    if wanted is not None:
        if wanted not in _WRITABLE:
            raise ValueError(
                f"the primary's target_session_attrs is {wanted!r}: the router writes there, "
                "so use read-write or primary (or leave it out)"
            )
        return conninfo
    if "://" in conninfo:
        hosts = urlsplit(conninfo).netloc.rpartition("@")[2]
    else:
        hosts = url.options.get("host", "") + url.options.get("hostaddr", "")
    if "," not in hosts:
        return conninfo
    if "://" not in conninfo:
        return f"{conninfo} target_session_attrs=read-write"
    separator = "&" if "?" in conninfo else "?"
    return f"{conninfo}{separator}target_session_attrs=read-write"


def backoff(failures: int, low: float, high: float) -> float:
    """The wait after ``failures`` failures in a row: doubling from ``low``, capped at ``high``.

    "Equal jitter": somewhere in the upper half of the doubled delay, so that
    several routers watching one server do not probe in step.
    """
    base = min(high, low * 2.0 ** max(0, failures - 1))
    return max(low, random.uniform(base / 2, base))


class Selection(enum.Enum):
    """How a server is chosen for each checkout, among those that answer."""

    #: In turn: the load spreads evenly.
    ROUND_ROBIN = "round_robin"
    #: At random.
    RANDOM = "random"
    #: The server with the fewest connections lent out (ties in turn).
    LEAST_CONNECTIONS = "least_connections"


@dataclasses.dataclass(frozen=True, slots=True)
class ServerStats:
    """One server of a ``MultiPool``.

    Attributes:
        index: its position in the URL list.
        label: its name in telemetry (``conn.label``) and logs.
        healthy: it gets checkouts now (neither down nor marked down).
        down: it failed (a connect, a connection in use, or a probe) and has
            not answered a probe since, or a probe has gone unanswered for
            longer than ``probe_timeout``.
        marked_down: taken out by hand (``mark_down``).
        last_error: why it is down, if it is.
        pool: its pool's statistics.
    """

    index: int
    label: str
    healthy: bool
    down: bool
    marked_down: bool
    last_error: str | None
    pool: PoolStats


@dataclasses.dataclass(frozen=True, slots=True)
class MultiPoolStats:
    """Every server's statistics, and totals over all of them."""

    servers: tuple[ServerStats, ...]
    total: int
    in_use: int
    available: int
    waiting: int
    healthy_count: int


@dataclasses.dataclass(frozen=True)
class CqrsConfig:
    """Where the primary and the replicas are, and how to use them.

    The same configuration serves ``Cqrs`` and ``AsyncCqrs``.

    Attributes:
        primary_conninfo: the primary, as for ``repodb.connect``. On
            PostgreSQL it may list several hosts, the primary and the
            replicas that may be promoted (``postgresql://app@db1,db2/shop``):
            the router connects to the one that takes writes (it adds
            ``target_session_attrs=read-write``), so it follows a failover.
        primary_max_size: the primary pool's size.
        replica_conninfos: the replicas; empty sends everything to the
            primary. With SQLite, the primary's file again (once per
            read-only connection pool you want).
        replica_max_size_each: each replica pool's size.
        replica_selection: a ``ReplicaSelection``.
        validate: ``validate(conn) -> bool`` before a pooled connection is
            reused (for an ``AsyncCqrs`` it may be an async function).
        max_replica_lag_bytes: a replica more WAL bytes behind gets no reads
            (PostgreSQL).
        max_replica_lag_seconds: a replica missing writes older than this gets no reads.
        max_replica_lag_transactions: a replica more transactions behind
            (by GTID sequence numbers) gets no reads (MariaDB, whose
            positions count transactions, not bytes). A limit in the other
            database's unit is a ValueError when the router is made.
        check_interval: seconds between health and lag probes of each server.
        probe_timeout: seconds after which an unanswered probe marks a replica down.
        timeout: seconds a checkout waits for a busy pool (``PoolTimeout``).
        connect_timeout, statement_timeout: as for ``repodb.connect``.
        session_reset, reset: what every pool does to a connection given
            back (see ``repodb.pool.Pool``): ``"discard"`` or ``"reset"``,
            and a callback (for an ``AsyncCqrs`` it may be an async function).
    """

    primary_conninfo: str
    primary_max_size: int = 10
    replica_conninfos: Sequence[str] = ()
    replica_max_size_each: int = 5
    replica_selection: Selection = Selection.ROUND_ROBIN
    validate: Callable[[Any], Any] | None = None
    max_replica_lag_bytes: int | None = None
    max_replica_lag_seconds: float | None = None
    max_replica_lag_transactions: int | None = None
    check_interval: float = 0.5
    probe_timeout: float = 1.5
    timeout: float = 30.0
    connect_timeout: float = 5.0
    statement_timeout: float | None = None
    session_reset: SessionReset | None = None
    reset: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.replica_conninfos, str):
            raise TypeError("replica_conninfos must be a list of URLs, not one string")
        object.__setattr__(self, "replica_conninfos", tuple(self.replica_conninfos))
        if self.replica_conninfos and self.replica_max_size_each < 1:
            raise ValueError("replica_max_size_each must be at least 1 when there are replicas")
        for name in (
            "max_replica_lag_bytes",
            "max_replica_lag_seconds",
            "max_replica_lag_transactions",
        ):
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
        lagging: over ``max_replica_lag_seconds``, ``max_replica_lag_bytes``
            or ``max_replica_lag_transactions``.
        lag_bytes, lag_seconds: the last measured lag (None: not measured;
            ``lag_bytes`` is PostgreSQL's, None elsewhere).
        lag_transactions: the last measured lag in transactions (MariaDB's,
            None elsewhere).
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
    lag_transactions: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CqrsStats:
    """``cqrs.stats()``: the primary's pool, each replica, and how many serve reads."""

    primary: PoolStats
    replicas: tuple[ReplicaStats, ...]
    healthy_replica_count: int
