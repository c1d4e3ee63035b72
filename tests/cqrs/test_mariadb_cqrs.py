"""The CQRS router over MariaDB GTID replication, and the failure checklist on it.

The same router as on PostgreSQL (see test_cqrs_routing.py and
test_cqrs_failures.py), on the primary and two ``read_only`` replicas of
``scripts/mariadb-cluster``. Covered: reads on replicas, writes, locking
queries, typed requests and transactions on the primary (E1); a write that
reaches a replica raises ``ReadOnlyError`` (E2); a read-only transaction
stays on one replica (E3); role checks (a read_only server is never the
primary, a writable one never a replica); lag from GTID positions: an idle
primary makes no lag (D4), a replica held with ``pause-replay`` (``STOP SLAVE
SQL_THREAD``) gets no reads over ``max_replica_lag_transactions`` and gets them
back once caught up (D1), also on a replica that follows the primary by
binlog file and position (``MASTER_USE_GTID = no``), all replicas behind
send reads to the primary (D2); read-your-writes by ``@@last_gtid`` in a
session and across sessions by token, with 0 stale reads (D3); a replica
SIGKILLed under 8 reader threads (C1, C2); a SIGSTOPped replica (C4); a
primary restart with stale pooled connections, first good write (B1); a
primary SIGKILLed under a writer, no acknowledged commit lost (B4).

Figures are printed (run with ``-s``); times are asserted only as generous
bounds that tell "handled" from "hung". Every node is put back in a
``finally``; every wait and join is bounded.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pytest

import repodb
from repodb import ConnectError, ConnectionLost, ReadOnlyError, Repo, Request
from repodb.changeset import cast, change
from repodb.cqrs import Cqrs, CqrsConfig
from repodb.functions import fragment
from repodb.query import query
from repodb.types import tup
from tests.conftest import mariadb_replica_urls, mariadb_url, open_conn, with_database
from tests.cqrs.rig import maria_cluster, wait_applied, wait_until
from tests.cqrs.test_cqrs_failures import ReadLoad, Watch
from tests.cqrs.test_cqrs_routing import RoutedItem

pytestmark = pytest.mark.mariadb_server

CHECK_INTERVAL = 0.2
PROBE_TIMEOUT = 1.0
CONNECT_TIMEOUT = 2.0
JOIN = 30.0
THREADS = 8

PORT = fragment("@@port", type_=int)
SERVER = Request.one("SELECT @@port, @@read_only <> 0", row=tup(int, bool))


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def ports() -> tuple[int, list[int]]:
    return port_of(mariadb_url()), [port_of(u) for u in mariadb_replica_urls()]


def wait_applied_all(database: str, replicas: list[str] | None = None) -> None:
    """Wait (30 s at most) until the replicas have applied everything the primary logged."""
    with open_conn(mariadb_url()) as primary:
        for url in mariadb_replica_urls() if replicas is None else replicas:
            wait_applied(primary, with_database(url, database))


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database with ``items`` (one row), applied on both replicas; dropped after."""
    name = f"q_{uuid.uuid4().hex[:12]}"
    with open_conn(mariadb_url()) as primary:
        primary.exec(
            Request.exec(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        )
        primary.exec(
            Request.exec(
                f"CREATE TABLE {name}.items"
                " (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL)"
            )
        )
        primary.exec(Request.exec(f"INSERT INTO {name}.items (name) VALUES ('seed')"))
    wait_applied_all(name)
    yield name
    with open_conn(mariadb_url()) as primary:
        primary.exec(Request.exec(f"DROP DATABASE {name}"))


def config(database: str, **options: Any) -> CqrsConfig:
    return CqrsConfig(
        primary_conninfo=with_database(mariadb_url(), database),
        replica_conninfos=[with_database(u, database) for u in mariadb_replica_urls()],
        check_interval=CHECK_INTERVAL,
        probe_timeout=PROBE_TIMEOUT,
        connect_timeout=CONNECT_TIMEOUT,
        **options,
    )


def served_by(repo: Repo, item_id: int = 1) -> int:
    return repo.one(query(RoutedItem).where(RoutedItem.id == item_id).select(PORT))


def found_on(repo: Repo, item_id: int) -> int | None:
    """The port of the server that found item ``item_id``; None where it is missing."""
    return repo.one_or_none(query(RoutedItem).where(RoutedItem.id == item_id).select(PORT))


def read_ports(repo: Repo, n: int, item_id: int = 1) -> list[int]:
    return [served_by(repo, item_id) for _ in range(n)]


INSERT_NAME = Request.exec("INSERT INTO items (name) VALUES (?)", params=str)


def insert_name(name: str, conn: repodb.Connection) -> int:
    return conn.exec(INSERT_NAME, name)


def write_transactions(cqrs: Cqrs, n: int) -> None:
    """Commit ``n`` transactions on the primary (one GTID each)."""
    for i in range(n):
        cqrs.with_write(partial(insert_name, f"filler {i}"))


# Routing (E1-E3) and roles ----------------------------------------------------------------


def test_reads_run_on_replicas_and_writes_and_transactions_on_the_primary(database: str) -> None:
    """E1: the port and read_only of the server that answered each statement."""
    primary_port, replica_ports = ports()
    with Cqrs(config(database)) as cqrs:
        repo = Repo(cqrs)
        assert sorted(read_ports(repo, 4)) == sorted(replica_ports * 2)
        assert repo.get(RoutedItem, 1).name == "seed"
        assert {cqrs.with_read(lambda conn: conn.one(SERVER)) for _ in range(4)} == {
            (p, True) for p in replica_ports
        }
        item = repo.insert(cast(RoutedItem, {"name": "new"}, ["name"]))
        repo.update(change(item, name="newer"))
        repo.delete(item)
        assert repo.all(query(RoutedItem).select(PORT).lock()) == [primary_port]
        assert repo.one(SERVER) == (primary_port, False)
        assert cqrs.with_write(lambda conn: conn.one(SERVER)) == (primary_port, False)
        with repo.transaction() as tx:
            assert served_by(tx) == primary_port
            tx.insert(cast(RoutedItem, {"name": "in tx"}, ["name"]))
            assert tx.one(SERVER) == (primary_port, False)


def test_a_write_that_reaches_a_replica_raises_read_only_error(database: str) -> None:
    """E2 (error 1290 from read_only=1, never swallowed) and E3 (one replica per transaction)."""
    _, replica_ports = ports()
    with Cqrs(config(database)) as cqrs:
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
    database: str,
) -> None:
    """Role checks on every new connection (``@@read_only``), by the probes too."""
    primary = with_database(mariadb_url(), database)
    replica = with_database(mariadb_replica_urls()[0], database)
    wrong = CqrsConfig(
        primary_conninfo=replica,
        replica_conninfos=[primary, replica],
        check_interval=CHECK_INTERVAL,
        probe_timeout=PROBE_TIMEOUT,
        connect_timeout=CONNECT_TIMEOUT,
    )
    with Cqrs(wrong) as cqrs:
        with pytest.raises(ConnectError, match="is a replica"):
            Repo(cqrs).insert(cast(RoutedItem, {"name": "nowhere"}, ["name"]))
        wait_until(lambda: cqrs.stats().replicas[0].down, "the primary out as a replica")
        last_error = cqrs.stats().replicas[0].last_error
        assert last_error is not None
        assert "not read_only" in last_error
        assert set(read_ports(Repo(cqrs), 4)) == {port_of(replica)}


def test_lag_limits_are_in_the_database_s_own_unit(database: str) -> None:
    """MariaDB counts lag in transactions: a limit in WAL bytes is refused, not ignored."""
    with pytest.raises(ValueError, match="max_replica_lag_bytes does not apply to mariadb"):
        Cqrs(config(database, max_replica_lag_bytes=1024))


# Lag (D1, D2, D4) -----------------------------------------------------------------------


def test_an_idle_primary_does_not_make_replicas_look_behind(database: str) -> None:
    """D4: lag is counted in GTIDs, so idleness adds nothing (Seconds_Behind_Master is unused)."""
    _, replica_ports = ports()
    with Cqrs(
        config(database, max_replica_lag_seconds=0.5, max_replica_lag_transactions=0)
    ) as cqrs:
        wait_until(
            lambda: all(r.lag_seconds is not None for r in cqrs.stats().replicas),
            "a first lag measurement",
        )
        time.sleep(max(1.5, 6 * CHECK_INTERVAL))
        stats = cqrs.stats()
        assert [
            (r.lag_transactions, r.lag_bytes, r.lag_seconds, r.lagging) for r in stats.replicas
        ] == [(0, None, 0.0, False), (0, None, 0.0, False)]
        assert sorted(read_ports(Repo(cqrs), 4)) == sorted(replica_ports * 2)


def test_a_replica_over_the_lag_limit_gets_no_reads_until_it_catches_up(database: str) -> None:
    """D1 with STOP SLAVE SQL_THREAD on replica 1: deterministic lag."""
    _, (first, second) = ports()
    limit = 5
    with Cqrs(config(database, max_replica_lag_transactions=limit)) as cqrs:
        repo = Repo(cqrs)
        maria_cluster("pause-replay", "1")
        try:
            write_transactions(cqrs, 4 * limit)
            detect = wait_until(lambda: cqrs.stats().replicas[0].lagging, "replica 1 to lag")
            lagging = cqrs.stats().replicas[0]
            assert lagging.lag_transactions is not None
            assert lagging.lag_transactions > limit
            assert not lagging.healthy
            assert set(read_ports(repo, 6)) == {second}
        finally:
            maria_cluster("resume-replay", "1")
        back = wait_until(lambda: not cqrs.stats().replicas[0].lagging, "replica 1 to catch up")
        assert first in read_ports(repo, 4)
    print(
        f"\nD1 MariaDB: lag over {limit} transactions detected in {detect:.2f} s "
        f"(measured {lagging.lag_transactions}, {lagging.lag_seconds:.2f} s); "
        f"back {back:.2f} s after resume"
    )
    assert detect < 2 * CHECK_INTERVAL + 2.0


def test_when_every_replica_lags_reads_go_to_the_primary(database: str) -> None:
    """D2."""
    primary_port, _ = ports()
    with Cqrs(config(database, max_replica_lag_transactions=1)) as cqrs:
        repo = Repo(cqrs)
        maria_cluster("pause-replay", "1")
        try:
            maria_cluster("pause-replay", "2")
            try:
                write_transactions(cqrs, 5)
                wait_until(lambda: cqrs.stats().healthy_replica_count == 0, "both replicas to lag")
                assert set(read_ports(repo, 4)) == {primary_port}
            finally:
                maria_cluster("resume-replay", "2")
        finally:
            maria_cluster("resume-replay", "1")
        wait_until(lambda: cqrs.stats().healthy_replica_count == 2, "the replicas to catch up")


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
    database: str,
) -> None:
    """D1 where GTIDs are "off" (``MASTER_USE_GTID = no``): ``@@gtid_slave_pos`` still moves.

    Why no ``Seconds_Behind_Master`` fall-back: a MariaDB primary logs a GTID
    for every transaction whatever its replicas use to follow it, and the
    replica's SQL thread records each one it applies.
    """
    _, (first, second) = ports()
    with (
        replicating_by_file_and_position(mariadb_replica_urls()[1]),
        Cqrs(config(database, max_replica_lag_transactions=2)) as cqrs,
    ):
        wait_until(
            lambda: all(r.lag_transactions == 0 for r in cqrs.stats().replicas),
            "both replicas measured, caught up",
        )
        maria_cluster("pause-replay", "2")
        try:
            write_transactions(cqrs, 6)
            wait_until(lambda: cqrs.stats().replicas[1].lagging, "replica 2 to lag")
            lag = cqrs.stats().replicas[1].lag_transactions
            assert lag is not None
            assert lag >= 6
            assert set(read_ports(Repo(cqrs), 4)) == {first}
        finally:
            maria_cluster("resume-replay", "2")
        wait_until(lambda: not cqrs.stats().replicas[1].lagging, "replica 2 to catch up")
        assert second in read_ports(Repo(cqrs), 4)


# Read-your-writes (D3) --------------------------------------------------------------------


def test_a_session_reads_its_writes_by_gtid_even_from_a_stalled_replica(database: str) -> None:
    """D3: after a write, a session reads only where its ``@@last_gtid`` has been applied."""
    primary_port, (_, second) = ports()
    with Cqrs(config(database)) as cqrs:
        plain = Repo(cqrs)
        maria_cluster("pause-replay", "1")
        try:
            with cqrs.session() as session:
                repo = Repo(session)
                item = repo.insert(cast(RoutedItem, {"name": "mine"}, ["name"]))
                assert item.id is not None
                token = session.token()
                assert token is not None
                assert token.startswith("rw1.mariadb.0-1-")
                assert session.last_write_lsn is None  # PostgreSQL's only
                for _ in range(6):
                    assert found_on(repo, item.id) in (second, primary_port)
                wait_applied_all(database, mariadb_replica_urls()[1:])
                assert set(read_ports(repo, 4, item.id)) == {second}
                # Outside the session, replica 1 still serves reads, without the row.
                stale = [found_on(plain, item.id) for _ in range(4)]
                assert stale.count(None) == 2
                maria_cluster("pause-replay", "2")
                try:
                    newer = repo.insert(cast(RoutedItem, {"name": "mine too"}, ["name"]))
                    assert newer.id is not None
                    assert set(read_ports(repo, 4, newer.id)) == {primary_port}
                finally:
                    maria_cluster("resume-replay", "2")
        finally:
            maria_cluster("resume-replay", "1")


def test_a_token_carries_a_write_to_a_separate_session_with_no_stale_read(database: str) -> None:
    """POST in one session, GET in another after its token; replica 1 applies nothing."""
    primary_port, (_, second) = ports()
    with Cqrs(config(database)) as cqrs:
        maria_cluster("pause-replay", "1")
        try:
            reads, stale, last, token = 0, 0, 0, None
            for n in range(20):
                with cqrs.session() as post:
                    item = Repo(post).insert(cast(RoutedItem, {"name": f"post {n}"}, ["name"]))
                    token = post.token()
                assert item.id is not None
                assert token is not None
                last = item.id
                with cqrs.session(after=token) as get:
                    assert get.token() == token
                    repo = Repo(get)
                    for _ in range(3):
                        port = found_on(repo, last)
                        reads += 1
                        stale += port is None
                        assert port in (None, second, primary_port)
            assert (reads, stale) == (60, 0)
            plain = Repo(cqrs)
            assert [found_on(plain, last) for _ in range(4)].count(None) == 2
            wait_applied_all(database, mariadb_replica_urls()[1:])
            assert token is not None
            with cqrs.session(after=token) as get:
                assert set(read_ports(Repo(get), 4, last)) == {second}
        finally:
            maria_cluster("resume-replay", "1")
    print(f"\nD3 MariaDB tokens: {reads} reads after 20 POSTs, {stale} stale; last {token}")
    with Cqrs(config(database)) as cqrs:
        with pytest.raises(ValueError, match="from a postgresql database"):
            cqrs.session(after="rw1.postgresql.3000148")
        with pytest.raises(ValueError, match="not a mariadb position"):
            cqrs.session(after="rw1.mariadb.0-1")
        with pytest.raises(ValueError, match="not a read-your-writes token"):
            cqrs.session(after="0/3000148")


# Failures (C1, C2, C4, B1, B4) ------------------------------------------------------------


def test_a_replica_killed_under_read_load_costs_at_most_one_error(database: str) -> None:
    """C1, then C2: SIGKILL replica 1 under 8 reader threads through the Repo, then start it."""
    first, second = (port_of(u) for u in mariadb_replica_urls())
    with Cqrs(config(database)) as cqrs, ReadLoad(partial(served_by, Repo(cqrs))) as load:
        time.sleep(1.5)
        down = Watch(lambda: cqrs.stats().replicas[0].down)
        killed = time.monotonic()
        maria_cluster("kill-replica", "1")
        try:
            detected = down.wait("replica 1 to be down")
            time.sleep(2.0)
            outage_end = time.monotonic()
        finally:
            maria_cluster("start-replica", "1")
        started = time.monotonic()
        back = wait_until(
            lambda: first in load.ports(started, time.monotonic()), "reads on replica 1 again"
        )
    steady = load.rate(killed - 1.0, killed)
    during = load.rate(detected, outage_end)
    print(
        f"\nC1 MariaDB kill-replica: errors={len(load.errors)} "
        f"detected={detected - killed:.3f}s steady={steady:.0f}/s during={during:.0f}/s "
        f"p99 during={load.p99(detected, outage_end) * 1000:.1f}ms; "
        f"C2 back {back:.2f}s after start-replica returned"
    )
    assert len(load.errors) <= 1, [e for _, e in load.errors]
    assert all(isinstance(e, ConnectionLost) for _, e in load.errors)
    assert load.ports(detected + 0.1, outage_end) == {second}
    assert during > 0
    assert back < 5.0


def test_a_hung_replica_costs_at_most_the_probe_timeout(database: str) -> None:
    """C4: SIGSTOP replica 1 under 8 reader threads; reads caught on it are freed and retried."""
    first, second = (port_of(u) for u in mariadb_replica_urls())
    with Cqrs(config(database)) as cqrs, ReadLoad(partial(served_by, Repo(cqrs))) as load:
        time.sleep(1.5)
        down = Watch(lambda: cqrs.stats().replicas[0].down)
        paused = time.monotonic()
        maria_cluster("pause-replica", "1")
        try:
            detected = down.wait("replica 1 to be down")
            time.sleep(2.0)
            outage_end = time.monotonic()
            stuck = load.stuck(1.0)
            last_error = cqrs.stats().replicas[0].last_error
            freed = [
                lat for t, _, lat in list(load.reads) if paused <= t < outage_end and lat > 0.2
            ]
        finally:
            maria_cluster("resume-replica", "1")
        resumed = time.monotonic()
        back = wait_until(
            lambda: first in load.ports(resumed, time.monotonic()), "reads on replica 1 again"
        )
    bound = CHECK_INTERVAL + PROBE_TIMEOUT
    print(
        f"\nC4 MariaDB pause-replica: errors={len(load.errors)} "
        f"detected={detected - paused:.3f}s (check {CHECK_INTERVAL}s + probe timeout "
        f"{PROBE_TIMEOUT}s) reads freed={len(freed)} waited up to {max(freed, default=0.0):.2f}s "
        f"still waiting={stuck}/{THREADS}; back {back:.2f}s after resume"
    )
    assert [e for _, e in load.errors] == []
    assert detected - paused < bound + 2.0
    assert last_error is not None
    assert "unanswered" in last_error
    assert load.ports(detected + 0.1, outage_end) == {second}
    assert stuck == 0
    assert freed, "no read was caught on the paused replica"
    assert max(freed) < bound + 2.0


def test_first_good_write_after_a_primary_restart_with_stale_connections(database: str) -> None:
    """B1: 6 stale pooled primary connections; writes resume soon after the server is back."""
    primary = with_database(mariadb_url(), database)
    insert = Request.exec("INSERT INTO items (name) VALUES ('b1')")
    outcomes: list[tuple[float, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    back: list[float] = []

    with Cqrs(config(database, primary_max_size=8)) as cqrs:

        def writer() -> None:
            while not stop.is_set():
                try:
                    cqrs.with_write(lambda conn: conn.exec(insert))
                    result = "ok"
                except repodb.Error as e:
                    result = type(e).__name__
                with lock:
                    outcomes.append((time.monotonic(), result))
                time.sleep(0.005)

        def watch_server() -> None:
            while not stop.is_set() and not back:
                try:
                    repodb.connect(primary, connect_timeout=2).close()
                except ConnectError:
                    time.sleep(0.01)
                    continue
                back.append(time.monotonic())

        held = [cqrs._primary.acquire() for _ in range(6)]
        for conn in held:
            cqrs._primary.release(conn)
        maria_cluster("stop-primary", "fast")
        threads = [threading.Thread(target=writer, daemon=True) for _ in range(4)]
        watcher = threading.Thread(target=watch_server, daemon=True)
        try:
            for t in threads:
                t.start()
            time.sleep(1.5)
            watcher.start()
            maria_cluster("start-primary")
            wait_until(lambda: bool(back), "the primary to accept connections")
            wait_until(
                lambda: any(r == "ok" and t > back[0] for t, r in list(outcomes)),
                "a good write",
            )
            time.sleep(0.2)
        finally:
            stop.set()
            for t in [*threads, watcher]:
                if t.is_alive() or t.ident is not None:
                    t.join(JOIN)
            maria_cluster("start-primary")
        assert not any(t.is_alive() for t in [*threads, watcher])
    # The writers started with the primary down: every success came after the restart
    # (possibly a moment before the watcher's own connect saw it).
    first_ok = min(t for t, r in outcomes if r == "ok")
    errors = [r for _, r in outcomes if r != "ok"]
    print(
        f"\nB1 MariaDB: first good write {(first_ok - back[0]) * 1000:.0f} ms after the server "
        f"was back; caller errors: {errors.count('ConnectionLost')} ConnectionLost, "
        f"{errors.count('ConnectError')} ConnectError (fail fast while down) "
        f"of {len(outcomes)} writes"
    )
    assert set(errors) <= {"ConnectionLost", "ConnectError"}, errors
    # Target: within 1 s (backoff_max); the bound is generous for a busy machine.
    assert first_ok - back[0] < 3.0
    assert errors.count("ConnectionLost") <= 6
    assert all(r == "ok" for t, r in outcomes if t > first_ok + 0.1)


def test_no_acknowledged_commit_is_lost_when_the_primary_is_killed(database: str) -> None:
    """B4/B5: SIGKILL the primary under a writer; every commit that returned is there after."""
    acknowledged: list[str] = []
    failed: list[BaseException] = []
    stop = threading.Event()

    with Cqrs(config(database)) as cqrs:

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
            maria_cluster("stop-primary", "kill")
            time.sleep(0.5)
        finally:
            maria_cluster("start-primary")
        restarted = len(acknowledged)
        wait_until(lambda: len(acknowledged) > restarted, "a write after the restart")
        stop.set()
        thread.join(JOIN)
        assert not thread.is_alive()
        present = set(cqrs.with_primary(lambda conn: Repo(conn).all(names)))
    wait_applied_all(database)
    replica_sets = []
    for url in mariadb_replica_urls():
        with open_conn(with_database(url, database)) as replica:
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
