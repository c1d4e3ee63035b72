"""The CQRS router over MariaDB GTID replication: what only MariaDB needs.

The lag (D1, D2, D4), read-your-writes (D3, tokens), killed (C1, C2) and
hung (C4) replica tests run on both databases (``topology`` in
test_cqrs_routing.py and test_cqrs_failures.py). Here, on the primary and
two ``read_only`` replicas of ``scripts/mariadb-cluster``: reads on
replicas, writes, locking queries, typed requests and transactions on the
primary (E1); a write that reaches a replica raises ``ReadOnlyError``, 1290
(E2); a read-only transaction stays on one replica (E3); role checks by
``@@read_only`` (a read_only server is never the primary, a writable one
never a replica); lag counted by
GTIDs on a replica that follows the primary by binlog file and position
(``MASTER_USE_GTID = no``); read-your-writes after a transaction block;
a primary SIGKILLed under a writer, no
acknowledged commit lost, on the primary and on both replicas (B4). B1, the
first good checkout after a primary restart, is test_pool_failures.py's.

Figures are printed (run with ``-s``); times are asserted only as generous
bounds that tell "handled" from "hung". Every node is put back in a
``finally``; every wait and join is bounded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator
from functools import partial

import pytest

import repodb
from repodb import ConnectError, ConnectionLost, ReadOnlyError, Repo, Request
from repodb.changeset import cast, change
from repodb.cqrs import Cqrs
from repodb.query import query
from repodb.types import tup
from tests.conftest import open_conn
from tests.cqrs.rig import wait_until
from tests.cqrs.topology import RoutedItem, Topology, insert_name, make_topology, port_of

pytestmark = pytest.mark.mariadb_server

JOIN = 30.0

SERVER = Request.one("SELECT @@port, @@read_only <> 0", row=tup(int, bool))


@pytest.fixture
def maria() -> Iterator[Topology]:
    """The MariaDB primary and replicas, on a fresh database (see tests/cqrs/topology.py)."""
    with make_topology("mariadb") as topology:
        yield topology


# Routing (E1-E3) and roles ----------------------------------------------------------------


def test_reads_run_on_replicas_and_writes_and_transactions_on_the_primary(maria: Topology) -> None:
    """E1: the port and read_only of the server that answered each statement."""
    primary_port, replica_ports = maria.primary_port, maria.replica_ports
    with maria.cqrs() as cqrs:
        repo = Repo(cqrs)
        assert sorted(maria.read_ports(repo, 4)) == sorted(replica_ports * 2)
        assert repo.get(RoutedItem, 1).name == "seed"
        assert {cqrs.with_read(lambda conn: conn.one(SERVER)) for _ in range(4)} == {
            (p, True) for p in replica_ports
        }
        item = repo.insert(cast(RoutedItem, {"name": "new"}, ["name"]))
        repo.update(change(item, name="newer"))
        repo.delete(item)
        assert repo.all(query(RoutedItem).select(maria.port).lock()) == [primary_port]
        assert repo.one(SERVER) == (primary_port, False)
        assert cqrs.with_write(lambda conn: conn.one(SERVER)) == (primary_port, False)
        with repo.transaction() as tx:
            assert maria.served_by(tx) == primary_port
            tx.insert(cast(RoutedItem, {"name": "in tx"}, ["name"]))
            assert tx.one(SERVER) == (primary_port, False)


def test_a_write_that_reaches_a_replica_raises_read_only_error(maria: Topology) -> None:
    """E2 (error 1290 from read_only=1, never swallowed) and E3 (one replica per transaction)."""
    replica_ports = maria.replica_ports
    with maria.cqrs() as cqrs:
        with cqrs.read() as conn, pytest.raises(ReadOnlyError) as caught:
            conn.exec(Request.exec("INSERT INTO items (name) VALUES ('sneaky')"))
        assert caught.value.sql is not None
        with cqrs.read() as conn, conn.transaction(read_only=True):
            seen = {conn.one(SERVER) for _ in range(3)}
        assert len(seen) == 1
        port, read_only = seen.pop()
        assert port in replica_ports
        assert read_only
        count = Request.one("SELECT count(*) FROM items", row=int)
        assert cqrs.with_primary(lambda conn: conn.one(count)) == 1


def test_a_read_only_server_is_never_the_primary_and_a_writable_one_never_a_replica(
    maria: Topology,
) -> None:
    """Role checks on every new connection (``@@read_only``), by the probes too."""
    primary = maria.primary_url
    replica = maria.replica_urls[0]
    wrong = dataclasses.replace(
        maria.config(), primary_conninfo=replica, replica_conninfos=[primary, replica]
    )
    with Cqrs(wrong) as cqrs:
        with pytest.raises(ConnectError, match="is a replica"):
            Repo(cqrs).insert(cast(RoutedItem, {"name": "nowhere"}, ["name"]))
        wait_until(lambda: cqrs.stats().replicas[0].down, "the primary out as a replica")
        last_error = cqrs.stats().replicas[0].last_error
        assert last_error is not None
        assert "not read_only" in last_error
        assert set(maria.read_ports(Repo(cqrs), 4)) == {port_of(replica)}


# Lag and read-your-writes (D1, D3) --------------------------------------------------------


@contextlib.contextmanager
def replicating_by_file_and_position(url: str) -> Iterator[None]:
    """The replica at ``url`` follows the primary by binlog file and position, for the block."""

    def use_gtid(mode: str) -> None:
        with open_conn(url) as replica:
            replica.exec(Request.exec("STOP SLAVE"))
            replica.exec(Request.exec(f"CHANGE MASTER TO MASTER_USE_GTID = {mode}"))
            replica.exec(Request.exec("START SLAVE"))

    use_gtid("no")
    try:
        yield
    finally:
        use_gtid("slave_pos")


def test_lag_is_counted_by_gtids_on_a_replica_that_does_not_replicate_by_gtid(
    maria: Topology,
) -> None:
    """D1 where GTIDs are "off" (``MASTER_USE_GTID = no``): ``@@gtid_slave_pos`` still moves.

    Why no ``Seconds_Behind_Master`` fall-back: a MariaDB primary logs a GTID
    for every transaction whatever its replicas use to follow it, and the
    replica's SQL thread records each one it applies.
    """
    first, second = maria.replica_ports
    with (
        replicating_by_file_and_position(maria.replica_urls[1]),
        maria.cqrs(max_replica_lag_transactions=2) as cqrs,
    ):
        wait_until(
            lambda: all(r.lag_transactions == 0 for r in cqrs.stats().replicas),
            "both replicas measured, caught up",
        )
        maria.cluster("pause-replay", "2")
        try:
            maria.write_behind(cqrs, 5)
            wait_until(lambda: cqrs.stats().replicas[1].lagging, "replica 2 to lag")
            lag = cqrs.stats().replicas[1].lag_transactions
            assert lag is not None
            assert lag >= 6
            assert set(maria.read_ports(Repo(cqrs), 4)) == {first}
        finally:
            maria.cluster("resume-replay", "2")
        wait_until(lambda: not cqrs.stats().replicas[1].lagging, "replica 2 to catch up")
        assert second in maria.read_ports(Repo(cqrs), 4)


def test_a_session_transaction_is_read_where_its_gtid_has_been_applied(maria: Topology) -> None:
    """D3 for a transaction block: the session keeps ``@@last_gtid`` read after its COMMIT."""
    first, second = maria.replica_ports
    position = Request.one("SELECT @@gtid_binlog_pos", row=str)
    with maria.cqrs() as cqrs:
        maria.cluster("pause-replay", "1")
        try:
            with cqrs.session() as session:
                with session.transaction() as conn:
                    repo = Repo(conn)
                    item = repo.insert(cast(RoutedItem, {"name": "in a tx"}, ["name"]))
                    repo.insert(cast(RoutedItem, {"name": "and another"}, ["name"]))
                assert item.id is not None
                logged = cqrs.with_primary(lambda conn: conn.one(position))
                # One transaction, one GTID: the token names the primary's last.
                assert session.token() == f"rw1.mariadb.{logged}"
                ports = [maria.found_on(Repo(session), item.id) for _ in range(6)]
                assert first not in ports
                assert None not in ports
                maria.wait_replicas([1])
                assert set(maria.read_ports(Repo(session), 4, item.id)) == {second}
        finally:
            maria.cluster("resume-replay", "1")


# The primary killed (B4) ------------------------------------------------------------------


def test_no_acknowledged_commit_is_lost_when_the_primary_is_killed(maria: Topology) -> None:
    """B4/B5: SIGKILL the primary under a writer; every commit that returned is there after."""
    acknowledged: list[str] = []
    failed: list[BaseException] = []
    stop = threading.Event()

    with maria.cqrs() as cqrs:

        def writer() -> None:
            n = 0
            while not stop.is_set():
                name = f"w{n}"
                n += 1
                try:
                    cqrs.with_write(partial(insert_name, name))
                except repodb.Error as e:
                    failed.append(e)
                    time.sleep(0.01)
                else:
                    acknowledged.append(name)

        names = query(RoutedItem).where(RoutedItem.name.like("w%")).select(RoutedItem.name)
        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        try:
            time.sleep(1.0)
            maria.cluster("stop-primary", "kill")
            time.sleep(0.5)
        finally:
            maria.cluster("start-primary")
        restarted = len(acknowledged)
        wait_until(lambda: len(acknowledged) > restarted, "a write after the restart")
        stop.set()
        thread.join(JOIN)
        assert not thread.is_alive()
        present = set(cqrs.with_primary(lambda conn: Repo(conn).all(names)))
    maria.wait_replicas()
    replica_sets = []
    for url in maria.replica_urls:
        with open_conn(url) as replica:
            replica_sets.append(set(Repo(replica).all(names)))
    lost = [n for n in acknowledged if n not in present]
    print(
        f"\nB4 MariaDB kill primary: {len(acknowledged)} commits acknowledged, "
        f"{len(failed)} writes failed ({sorted({type(e).__name__ for e in failed})}), "
        f"lost={len(lost)}; on the replicas after catch-up: "
        f"{[len(set(acknowledged) - s) for s in replica_sets]} missing"
    )
    assert failed, "the kill failed no write: it came too late"
    assert all(isinstance(e, ConnectError | ConnectionLost) for e in failed)
    assert lost == []
    assert all(set(acknowledged) <= s for s in replica_sets)
