"""The CQRS router against a real primary and two streaming replicas: where things run.

Covered (checklist E1-E3, D1-D4, and the manual marks): ``Repo(cqrs)``
sends each read to a replica and each write, locking query, typed request
and transaction to the primary, asserted by the port of the server that
answered (``inet_server_port()``) and whether it is in recovery; a write
that reaches a replica anyway raises ``ReadOnlyError`` (25006); a read-only
transaction stays on one replica; a replica held behind with
``pause-replay`` gets no reads once over the lag limit and gets them again
after it catches up; with every replica behind, reads go to the primary; an
idle primary does not make replicas look behind; in a session, a read after
a write sees it, served by a replica that has replayed it or by the primary;
replicas marked unhealthy by hand stay out whatever the probes see. The lag
and read-your-writes tests run on MariaDB's GTID replicas too (the
``topology`` fixture); tests/cqrs/test_mariadb_cqrs.py has the rest there.

The cluster is the one ``scripts/test`` started; ``pause-replay`` is always
undone in a ``finally``. Every wait is bounded.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from repodb import ConnectionLost, IsolationLevel, ReadOnlyError, Repo, Request
from repodb.changeset import cast, change
from repodb.cqrs import Cqrs, CqrsConfig, ReplicaSelection
from repodb.functions import fragment
from repodb.query import query
from repodb.telemetry import QueryEvent
from repodb.types import tup
from tests.conftest import open_conn, pg_url, replica_urls, with_search_path
from tests.cqrs.rig import wait_until
from tests.cqrs.test_replicas import wait_replayed
from tests.cqrs.topology import RoutedItem, RoutedTag, Topology

CHECK_INTERVAL = 0.2

PORT = fragment("inet_server_port()", type_=int)
SERVER = Request.one("SELECT inet_server_port(), pg_is_in_recovery()", row=tup(int, bool))


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def ports() -> tuple[int, list[int]]:
    return port_of(pg_url()), [port_of(u) for u in replica_urls()]


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema with ``items`` and ``tags``, replayed on both replicas; dropped after."""
    name = f"c_{uuid.uuid4().hex[:12]}"
    with open_conn(pg_url()) as primary:
        primary.exec(Request.exec(f"CREATE SCHEMA {name}"))
        primary.exec(
            Request.exec(
                f"CREATE TABLE {name}.items (id bigserial PRIMARY KEY, name text NOT NULL)"
            )
        )
        primary.exec(
            Request.exec(
                f"CREATE TABLE {name}.tags (id bigserial PRIMARY KEY,"
                f" item_id bigint NOT NULL REFERENCES {name}.items (id), label text NOT NULL)"
            )
        )
        primary.exec(Request.exec(f"INSERT INTO {name}.items (name) VALUES ('seed')"))
        primary.exec(Request.exec(f"INSERT INTO {name}.tags (item_id, label) VALUES (1, 'x')"))
        for url in replica_urls():
            wait_replayed(primary, url)
    yield name
    with open_conn(pg_url()) as primary:
        primary.exec(Request.exec(f"DROP SCHEMA {name} CASCADE"))


def config(schema: str, **options: Any) -> CqrsConfig:
    return CqrsConfig(
        primary_conninfo=with_search_path(pg_url(), schema),
        replica_conninfos=[with_search_path(u, schema) for u in replica_urls()],
        check_interval=CHECK_INTERVAL,
        probe_timeout=1.0,
        connect_timeout=2.0,
        **options,
    )


@pytest.fixture
def cqrs(schema: str) -> Iterator[Cqrs]:
    with Cqrs(config(schema)) as router:
        yield router


def served_by(repo: Repo, item_id: int = 1) -> int:
    """The port of the server that ran a Repo read of item ``item_id``."""
    return repo.one(query(RoutedItem).where(RoutedItem.id == item_id).select(PORT))


def read_ports(repo: Repo, n: int) -> list[int]:
    return [served_by(repo) for _ in range(n)]


def test_repo_reads_run_on_replicas_and_writes_on_the_primary(cqrs: Cqrs) -> None:
    primary_port, replica_ports = ports()
    events: list[QueryEvent] = []
    repo = Repo(cqrs, on_event=events.append)

    assert sorted(read_ports(repo, 4)) == sorted(replica_ports * 2)
    seed = repo.get(RoutedItem, 1)
    assert repo.exists(query(RoutedItem))
    assert repo.aggregate(query(RoutedTag), "count") == 1
    with repo.stream(query(RoutedItem)) as rows:
        assert [r.name for r in rows] == ["seed"]
    assert [t.label for t in repo.preload(seed, "tags").tags] == ["x"]
    assert repo.all(query(RoutedItem).preload("tags"))[0].tags[0].label == "x"
    assert {e.source for e in events} == {"replica 1", "replica 2"}
    events.clear()

    item = repo.insert(cast(RoutedItem, {"name": "new"}, ["name"]))
    repo.update(change(item, name="newer"))
    repo.insert_all(RoutedTag, [{"item_id": item.id, "label": "y"}])
    repo.update_all(query(RoutedTag).where(RoutedTag.label == "y"), set={"label": "z"})
    repo.delete_all(query(RoutedTag).where(RoutedTag.label == "z"))
    repo.delete(item)
    # A locking query and a typed request run on the primary.
    assert repo.all(query(RoutedItem).select(PORT).lock()) == [primary_port]
    assert repo.one(SERVER) == (primary_port, False)
    assert {e.source for e in events} == {"primary"}

    with repo.transaction() as tx:
        assert tx.one(SERVER) == (primary_port, False)
        assert served_by(tx) == primary_port
        tx.insert(cast(RoutedItem, {"name": "in tx"}, ["name"]))
        assert served_by(tx) == primary_port


def test_connection_blocks_run_where_they_say(cqrs: Cqrs) -> None:
    primary_port, replica_ports = ports()
    assert cqrs.with_read(lambda conn: conn.one(SERVER))[1] is True
    assert {cqrs.with_read(lambda conn: conn.one(SERVER))[0] for _ in range(4)} == set(
        replica_ports
    )
    assert cqrs.with_write(lambda conn: conn.one(SERVER)) == (primary_port, False)
    assert cqrs.with_primary(lambda conn: conn.one(SERVER)) == (primary_port, False)
    assert cqrs.transaction(lambda conn: conn.one(SERVER)) == (primary_port, False)
    with cqrs.transaction() as conn:
        assert conn.in_transaction
        assert conn.one(SERVER) == (primary_port, False)


def test_least_connections_sends_reads_to_the_idle_replica(schema: str) -> None:
    _, replica_ports = ports()
    with (
        Cqrs(config(schema, replica_selection=ReplicaSelection.LEAST_CONNECTIONS)) as cqrs,
        cqrs.read() as held,
    ):
        busy = held.one(SERVER)[0]
        others = {cqrs.with_read(lambda conn: conn.one(SERVER))[0] for _ in range(5)}
        assert others == set(replica_ports) - {busy}


def test_statements_that_must_run_on_the_primary_do(cqrs: Cqrs) -> None:
    """E1: writes, DDL, nextval, locking reads, SERIALIZABLE and mixed transactions."""
    primary_port, _ = ports()
    repo = Repo(cqrs)
    repo.exec(Request.exec("CREATE SEQUENCE ticket"))
    assert repo.one(Request.one("SELECT nextval('ticket')", row=int)) == 1
    repo.exec(Request.exec("CREATE TABLE audit (n int)"))
    assert repo.exec(Request.exec("INSERT INTO audit SELECT nextval('ticket')")) == 1
    with repo.transaction(isolation=IsolationLevel.SERIALIZABLE) as tx:
        assert served_by(tx) == primary_port
        tx.exec(Request.exec("INSERT INTO audit VALUES (0)"))
    with repo.transaction() as tx:
        # A read first, then a write: the whole transaction is on the primary.
        assert tx.aggregate(query(RoutedItem), "count") == 1
        tx.insert(cast(RoutedItem, {"name": "after a read"}, ["name"]))
    assert (
        cqrs.with_primary(lambda conn: conn.one(Request.one("SELECT count(*) FROM audit", row=int)))
        == 2
    )


def test_a_write_that_reaches_a_replica_raises_read_only_error(cqrs: Cqrs) -> None:
    """E2: never swallowed, whether sent by hand or hidden in a query."""
    with cqrs.read() as conn, pytest.raises(ReadOnlyError) as caught:
        conn.exec(Request.exec("INSERT INTO items (name) VALUES ('sneaky')"))
    assert caught.value.sqlstate == "25006"
    cqrs.with_write(lambda conn: conn.exec(Request.exec("CREATE SEQUENCE hidden")))
    with open_conn(pg_url()) as primary:
        for url in replica_urls():
            wait_replayed(primary, url)
    # A volatile function in a read query is still a read to the Repo.
    with pytest.raises(ReadOnlyError) as caught:
        Repo(cqrs).all(query(RoutedItem).select(fragment("nextval('hidden')", type_=int)))
    assert caught.value.sqlstate == "25006"
    assert (
        cqrs.with_primary(lambda conn: conn.one(Request.one("SELECT count(*) FROM items", row=int)))
        == 1
    )


def test_a_read_only_transaction_stays_on_one_replica(cqrs: Cqrs) -> None:
    """E3."""
    _, replica_ports = ports()
    with cqrs.read() as conn, conn.transaction(read_only=True):
        repo = Repo(conn)
        seen = {repo.one(SERVER) for _ in range(3)} | {(served_by(repo), True)}
        assert repo.aggregate(query(RoutedItem), "count") == 1
    assert len(seen) == 1
    port, in_recovery = seen.pop()
    assert port in replica_ports
    assert in_recovery


def test_manual_marks_win_over_probes(cqrs: Cqrs) -> None:
    primary_port, (first, second) = ports()
    repo = Repo(cqrs)
    cqrs.mark_replica_unhealthy(0)
    # Several probe rounds succeed meanwhile; the mark still holds.
    time.sleep(3 * CHECK_INTERVAL)
    assert set(read_ports(repo, 4)) == {second}
    replica = cqrs.stats().replicas[0]
    assert (replica.marked_unhealthy, replica.down, replica.healthy) == (True, False, False)
    cqrs.mark_replica_unhealthy(1)
    assert set(read_ports(repo, 2)) == {primary_port}
    assert cqrs.stats().healthy_replica_count == 0
    cqrs.mark_replica_healthy(0)
    cqrs.mark_replica_healthy(1)
    assert sorted(read_ports(repo, 4)) == sorted([first, second] * 2)


def test_an_idle_primary_does_not_make_replicas_look_behind(topology: Topology) -> None:
    """D4: lag is measured in WAL positions (GTIDs on MariaDB), so idleness adds nothing."""
    with topology.lag_limit(0, max_replica_lag_seconds=0.5) as cqrs:
        wait_until(
            lambda: all(r.lag_seconds is not None for r in cqrs.stats().replicas),
            "a first lag measurement",
        )
        # Idle for many check intervals, longer than the 0.5 s limit.
        time.sleep(max(1.5, 6 * CHECK_INTERVAL))
        stats = cqrs.stats()
        assert [(topology.lag(r), r.lag_seconds, r.lagging) for r in stats.replicas] == [
            (0, 0.0, False),
            (0, 0.0, False),
        ]
        assert stats.healthy_replica_count == 2
        replica_ports = topology.replica_ports
        assert sorted(topology.read_ports(Repo(cqrs), 4)) == sorted(replica_ports * 2)


def test_a_replica_over_the_lag_limit_gets_no_reads_until_it_catches_up(
    topology: Topology,
) -> None:
    """D1 (and C2's "only once its lag is under the threshold")."""
    first, second = topology.replica_ports
    limit = topology.lag_step
    with topology.lag_limit(limit) as cqrs:
        repo = Repo(cqrs)
        topology.cluster("pause-replay", "1")
        try:
            topology.write_behind(cqrs, 4 * limit)
            detect = wait_until(lambda: cqrs.stats().replicas[0].lagging, "replica 1 to lag")
            lagging = cqrs.stats().replicas[0]
            lag = topology.lag(lagging)
            assert lag is not None
            assert lag > limit
            assert not lagging.healthy
            assert set(topology.read_ports(repo, 6)) == {second}
        finally:
            topology.cluster("resume-replay", "1")
        back = wait_until(lambda: not cqrs.stats().replicas[0].lagging, "replica 1 to catch up")
        assert first in topology.read_ports(repo, 4)
    print(
        f"\nD1 {topology.kind}: lag over {limit} {topology.lag_unit} detected in {detect:.2f} s; "
        f"back {back:.2f} s after resume"
    )
    # A measurement needs a probe of the primary, then one of the replica.
    assert detect < 2 * CHECK_INTERVAL + 2.0


def test_when_every_replica_lags_reads_go_to_the_primary(topology: Topology) -> None:
    """D2."""
    with topology.lag_limit(topology.lag_step // 64) as cqrs:
        repo = Repo(cqrs)
        topology.cluster("pause-replay", "1")
        try:
            topology.cluster("pause-replay", "2")
            try:
                topology.write_behind(cqrs, topology.lag_step)
                wait_until(lambda: cqrs.stats().healthy_replica_count == 0, "both replicas to lag")
                assert set(topology.read_ports(repo, 4)) == {topology.primary_port}
            finally:
                topology.cluster("resume-replay", "2")
        finally:
            topology.cluster("resume-replay", "1")
        wait_until(lambda: cqrs.stats().healthy_replica_count == 2, "the replicas to catch up")


def test_a_session_reads_its_writes_even_from_a_stalled_replica_pair(topology: Topology) -> None:
    """D3: after a write, a session's reads go only where the write has been replayed."""
    primary_port, (_, second) = topology.primary_port, topology.replica_ports
    with topology.cqrs() as cqrs:
        plain = Repo(cqrs)
        topology.cluster("pause-replay", "1")
        try:
            with cqrs.session() as session:
                repo = Repo(session)
                item = repo.insert(cast(RoutedItem, {"name": "mine"}, ["name"]))
                assert item.id is not None
                assert session.token() is not None
                for _ in range(6):
                    # Served by replica 2 once it has the row, else the primary;
                    # never by replica 1, which stopped replaying before the write.
                    assert topology.served_by(repo, item.id) in (second, primary_port)
                topology.wait_replicas([1])
                assert set(topology.read_ports(repo, 4, item.id)) == {second}
                # Outside the session, replica 1 still serves reads, without the row.
                stale = [topology.found_on(plain, item.id) for _ in range(4)]
                assert stale.count(None) == 2
                assert set(stale) == {None, second}
                topology.cluster("pause-replay", "2")
                try:
                    newer = repo.insert(cast(RoutedItem, {"name": "mine too"}, ["name"]))
                    assert newer.id is not None
                    assert set(topology.read_ports(repo, 4, newer.id)) == {primary_port}
                finally:
                    topology.cluster("resume-replay", "2")
        finally:
            topology.cluster("resume-replay", "1")


def test_a_token_carries_a_write_to_a_separate_session_with_no_stale_read(
    topology: Topology,
) -> None:
    """Part 3: POST in one session, GET in another after its token; replica 1 replays nothing."""
    primary_port, (_, second) = topology.primary_port, topology.replica_ports
    with topology.cqrs() as cqrs:
        topology.cluster("pause-replay", "1")
        try:
            reads, stale, last, token = 0, 0, 0, None
            for n in range(20):
                with cqrs.session() as post:
                    item = Repo(post).insert(cast(RoutedItem, {"name": f"post {n}"}, ["name"]))
                    token = post.token()
                assert item.id is not None
                last = item.id
                assert token is not None
                assert token.startswith(f"rw1.{topology.kind}.")
                with cqrs.session(after=token) as get:
                    assert get.token() == token
                    repo = Repo(get)
                    for _ in range(3):
                        port = topology.found_on(repo, last)
                        reads += 1
                        stale += port is None
                        assert port in (None, second, primary_port)
            assert (reads, stale) == (60, 0)
            # Without the token, replica 1 answers every other read, without the row.
            plain = Repo(cqrs)
            missing = [topology.found_on(plain, last) for _ in range(4)]
            assert missing.count(None) == 2
            # Once replica 2 has replayed it, a session after the token reads there.
            topology.wait_replicas([1])
            assert token is not None
            with cqrs.session(after=token) as get:
                assert set(topology.read_ports(Repo(get), 4, last)) == {second}
        finally:
            topology.cluster("resume-replay", "1")
    print(f"\nD3 {topology.kind} tokens: {reads} reads after 20 POSTs, {stale} stale; last {token}")


def test_a_session_that_cannot_read_the_wal_position_warns_once_and_reads_the_primary(
    cqrs: Cqrs, caplog: pytest.LogCaptureFixture
) -> None:
    """A write block whose connection died leaves no WAL position: said once, as a WARNING."""
    primary_port, _ = ports()
    caplog.set_level(logging.DEBUG, logger="repodb.cqrs")
    with cqrs.session() as session:
        repo = Repo(session)
        for _ in range(3):
            with pytest.raises(ConnectionLost), session.write() as conn:
                conn.exec(Request.exec("SELECT pg_terminate_backend(pg_backend_pid())"))
        assert session.last_write_lsn is None
        assert set(read_ports(repo, 4)) == {primary_port}
        token = session.token()
    # The next request is told to read on the primary too.
    assert token == "rw1.postgresql.primary"
    with cqrs.session(after=token) as later:
        assert set(read_ports(Repo(later), 4)) == {primary_port}
    failures = [r for r in caplog.records if "WAL position" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.WARNING]
    assert failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], ConnectionLost)


def test_stats_report_health_lag_and_pools(cqrs: Cqrs) -> None:
    wait_until(
        lambda: all(r.lag_bytes is not None for r in cqrs.stats().replicas), "lag measurements"
    )
    with cqrs.read(), cqrs.write():
        stats = cqrs.stats()
    assert stats.primary.in_use == 1
    assert sum(r.pool.in_use for r in stats.replicas) == 1
    assert stats.healthy_replica_count == 2
    assert [r.label for r in stats.replicas] == ["replica 1", "replica 2"]
    assert all(r.healthy and not r.down and r.last_error is None for r in stats.replicas)
