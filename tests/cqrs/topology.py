"""One primary and two replicas of either kind, for the tests that run on both.

Why: the router's promises (reads on replicas, lag limits, read-your-writes,
a killed or hung replica) are the same on PostgreSQL's streaming replicas
and MariaDB's GTID replicas; a test written against a ``Topology`` runs on
both, and what differs (the cluster script, how to ask a server its port,
the lag unit, how to wait for the replicas) is here, as data.

The ``topology`` fixture (tests/cqrs/conftest.py) gives one per kind, with a
fresh schema (PostgreSQL) or database (MariaDB) holding ``items`` (one row,
``seed``) and ``tags`` (one row), applied on both replicas.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlsplit

from repodb import Connection, Repo, Request
from repodb.cqrs import Cqrs, CqrsConfig, ReplicaStats
from repodb.expr import Expr
from repodb.functions import fragment
from repodb.query import query
from repodb.schema import Assoc, Col, Schema, field, has_many
from repodb.types import tup
from tests.conftest import (
    mariadb_replica_urls,
    mariadb_url,
    open_conn,
    pg_url,
    replica_urls,
    with_database,
    with_search_path,
)
from tests.cqrs.rig import cluster, maria_cluster, wait_applied
from tests.cqrs.test_replicas import wait_replayed

__all__ = [
    "CHECK_INTERVAL",
    "PROBE_TIMEOUT",
    "RoutedItem",
    "RoutedTag",
    "Topology",
    "insert_name",
    "make_topology",
    "port_of",
]

CHECK_INTERVAL = 0.2
PROBE_TIMEOUT = 1.0
CONNECT_TIMEOUT = 2.0


class RoutedItem(Schema, table="items"):
    id: Col[int | None] = field(primary_key=True, default=None)
    name: Col[str]
    tags: ClassVar[Assoc[list[RoutedTag]]] = has_many(lambda: RoutedTag, foreign_key="item_id")


class RoutedTag(Schema, table="tags"):
    id: Col[int | None] = field(primary_key=True, default=None)
    item_id: Col[int]
    label: Col[str]


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


@dataclasses.dataclass(frozen=True)
class Topology:
    """A primary and two replicas with a fresh schema, and how to drive them.

    Attributes:
        kind: ``postgresql`` or ``mariadb`` (the driver's name, as in tokens).
        primary_url, replica_urls: the servers, on the test's schema or database.
        cluster: runs a subcommand of the kind's cluster script (both
            scripts have the same fault commands).
        port: the port of the server that runs a query, as an expression.
        lag_unit: the unit of its ``max_replica_lag_<unit>`` and ``lag_<unit>``.
        lag_step: a lag limit, in that unit, that a few writes go past.
        wait_replica: waits (bounded) until a replica has everything the
            primary committed so far.
        write_behind: commits on the primary more than ``n`` lag units.
    """

    kind: str
    primary_url: str
    replica_urls: list[str]
    cluster: Callable[..., None]
    port: Expr[int]
    lag_unit: str
    lag_step: int
    wait_replica: Callable[[Connection, str], None]
    write_behind: Callable[[Cqrs, int], None]

    @property
    def primary_port(self) -> int:
        return port_of(self.primary_url)

    @property
    def replica_ports(self) -> list[int]:
        return [port_of(u) for u in self.replica_urls]

    def config(self, **options: Any) -> CqrsConfig:
        """The router's configuration, with the failure tests' short intervals."""
        return CqrsConfig(
            primary_conninfo=self.primary_url,
            replica_conninfos=self.replica_urls,
            check_interval=CHECK_INTERVAL,
            probe_timeout=PROBE_TIMEOUT,
            connect_timeout=CONNECT_TIMEOUT,
            **options,
        )

    def cqrs(self, **options: Any) -> Cqrs:
        return Cqrs(self.config(**options))

    def lag_limit(self, limit: int, **options: Any) -> Cqrs:
        """A router whose replicas get no reads past ``limit`` lag units."""
        return self.cqrs(**{f"max_replica_lag_{self.lag_unit}": limit}, **options)

    def served_by(self, repo: Repo, item_id: int = 1) -> int:
        """The port of the server that read item ``item_id``."""
        return repo.one(query(RoutedItem).where(RoutedItem.id == item_id).select(self.port))

    def found_on(self, repo: Repo, item_id: int) -> int | None:
        """The port of the server that found item ``item_id``; None where it is missing."""
        return repo.one_or_none(query(RoutedItem).where(RoutedItem.id == item_id).select(self.port))

    def read_ports(self, repo: Repo, n: int, item_id: int = 1) -> list[int]:
        return [self.served_by(repo, item_id) for _ in range(n)]

    def lag(self, replica: ReplicaStats) -> int | None:
        """A replica's measured lag in this kind's unit."""
        lag: int | None = getattr(replica, f"lag_{self.lag_unit}")
        return lag

    def wait_replicas(self, which: Sequence[int] = (0, 1)) -> None:
        """Wait until the replicas ``which`` (indexes) have what the primary committed."""
        with open_conn(self.primary_url) as primary:
            for i in which:
                self.wait_replica(primary, self.replica_urls[i])


def _write_wal(cqrs: Cqrs, size: int) -> None:
    """Commit at least ``size`` bytes of WAL on the primary."""
    rows = [(f"{i:08d}" + "x" * 100,) for i in range(size // 100 + 1)]
    cqrs.with_write(lambda conn: conn.copy_in("items", ["name"], tup(str), rows))


_INSERT_NAME = Request.exec("INSERT INTO items (name) VALUES (?)", params=str)


def insert_name(name: str, conn: Connection) -> int:
    """Insert an item named ``name`` (one transaction on its own)."""
    return conn.exec(_INSERT_NAME, name)


def _write_transactions(cqrs: Cqrs, n: int) -> None:
    """Commit ``n + 1`` transactions on the primary (one GTID each)."""
    for i in range(n + 1):
        cqrs.with_write(partial(insert_name, f"filler {i}"))


@dataclasses.dataclass(frozen=True)
class _Kind:
    url: Callable[[], str]
    replica_urls: Callable[[], list[str]]
    on: Callable[[str, str], str]  # a URL on a schema or database
    create: str
    drop: str
    tables: tuple[str, ...]
    topology: dict[str, Any]


_KINDS = {
    "postgresql": _Kind(
        url=pg_url,
        replica_urls=replica_urls,
        on=with_search_path,
        create="CREATE SCHEMA {name}",
        drop="DROP SCHEMA {name} CASCADE",
        tables=(
            "CREATE TABLE {name}.items (id bigserial PRIMARY KEY, name text NOT NULL)",
            "CREATE TABLE {name}.tags (id bigserial PRIMARY KEY,"
            " item_id bigint NOT NULL REFERENCES {name}.items (id), label text NOT NULL)",
        ),
        topology={
            "cluster": cluster,
            "port": fragment("inet_server_port()", type_=int),
            "lag_unit": "bytes",
            "lag_step": 64 * 1024,
            "wait_replica": wait_replayed,
            "write_behind": _write_wal,
        },
    ),
    "mariadb": _Kind(
        url=mariadb_url,
        replica_urls=mariadb_replica_urls,
        on=with_database,
        create="CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        drop="DROP DATABASE {name}",
        tables=(
            "CREATE TABLE {name}.items"
            " (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL)",
            "CREATE TABLE {name}.tags (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
            " item_id BIGINT NOT NULL REFERENCES {name}.items (id),"
            " label VARCHAR(200) NOT NULL)",
        ),
        topology={
            "cluster": maria_cluster,
            "port": fragment("@@port", type_=int),
            "lag_unit": "transactions",
            "lag_step": 5,
            "wait_replica": wait_applied,
            "write_behind": _write_transactions,
        },
    ),
}


@contextlib.contextmanager
def make_topology(kind: str) -> Iterator[Topology]:
    """A topology of ``kind`` on a fresh schema or database, on both replicas; dropped after."""
    spec = _KINDS[kind]
    name = f"t_{uuid.uuid4().hex[:12]}"
    with open_conn(spec.url()) as primary:
        primary.exec(Request.exec(spec.create.format(name=name)))
        for table in spec.tables:
            primary.exec(Request.exec(table.format(name=name)))
        primary.exec(Request.exec(f"INSERT INTO {name}.items (name) VALUES ('seed')"))
        primary.exec(Request.exec(f"INSERT INTO {name}.tags (item_id, label) VALUES (1, 'x')"))
    topology = Topology(
        kind=kind,
        primary_url=spec.on(spec.url(), name),
        replica_urls=[spec.on(u, name) for u in spec.replica_urls()],
        **spec.topology,
    )
    try:
        topology.wait_replicas()
        yield topology
    finally:
        with open_conn(spec.url()) as primary:
            primary.exec(Request.exec(spec.drop.format(name=name)))
