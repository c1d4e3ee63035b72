"""Failover: the primary dies, replica 1 is promoted, and the router follows it (issue 15, part 2).

The router's primary address lists the primary and replica 1
(``postgresql://...@primary,replica1/...``), so that it can find the
writable one. Under a load of readers and writers the primary is SIGKILLed
and replica 1 promoted (``scripts/pg-cluster promote-replica 1``); then:

- the first write succeeds within 2 s of the promotion completing (seen by
  a connection of its own polling ``pg_is_in_recovery()``), with no restart;
- every write that repodb reported as committed and that replica 1 had
  received before the promotion (its session's WAL position at or below
  replica 1's ``pg_last_wal_receive_lsn()``) is on the new primary; with
  asynchronous replication the commits lost are only those replica 1 had
  not received; with ``synchronous_standby_names = 'replica1'`` none is;
- no read goes to replica 1 as a replica once the probe has seen it
  promoted (``check_interval`` later); the new primary serves reads as the
  primary;
- the old primary, back as a read-only standby (``demote-primary 1``), is
  never written to, and a router made afterwards writes on replica 1.

The sync router runs the first scenario, the async router (its source) the
second. Each test gives the cluster its original layout back
(``restore-layout``) in a ``finally``: later tests use it. Figures are
printed (run with ``-s``); times are asserted only as the issue's bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

import repodb
from repodb import AsyncRepo, ConnectError, ConnectionLost, Repo, Request
from repodb._cqrs.lag import parse_lsn
from repodb.cqrs import Cqrs, CqrsConfig
from repodb.cqrs_async import AsyncCqrs
from repodb.telemetry import QueryEvent
from repodb.types import tup
from tests.conftest import open_conn, pg_url, replica_urls, with_search_path
from tests.cqrs.rig import cluster
from tests.cqrs.test_cqrs_failures import Watch, port_of, schema

__all__ = ["schema"]

CHECK_INTERVAL = 0.2
PROBE_TIMEOUT = 1.0
READERS = 4
FIRST_ID = 1000

INSERT = Request.one(
    "INSERT INTO items (id, name) VALUES (?, 'w') RETURNING inet_server_port()", params=int, row=int
)
SERVER = Request.one(
    "SELECT inet_server_port(), pg_is_in_recovery()", row=tup(int, bool), read_only=True
)
IN_RECOVERY = Request.one("SELECT pg_is_in_recovery()", row=bool)
RECEIVING = Request.one("SELECT count(*) > 0 FROM pg_stat_wal_receiver", row=bool)
UPSTREAM = Request.one("SELECT current_setting('primary_conninfo')", row=str)
RECEIVED = Request.one("SELECT pg_last_wal_receive_lsn()::text", row=str)
WRITTEN_IDS = Request.many("SELECT id FROM items WHERE id > ?", params=int, row=int)


def primary_candidates(schema: str) -> str:
    """The primary's address listing the primary, then replica 1."""
    primary, first = urlsplit(pg_url()), urlsplit(replica_urls()[0])
    hosts = f"{primary.netloc},{first.hostname}:{first.port}"
    return with_search_path(primary._replace(netloc=hosts).geturl(), schema)


def config(schema: str) -> CqrsConfig:
    return CqrsConfig(
        primary_conninfo=primary_candidates(schema),
        replica_conninfos=[with_search_path(u, schema) for u in replica_urls()],
        check_interval=CHECK_INTERVAL,
        probe_timeout=PROBE_TIMEOUT,
        connect_timeout=2.0,
    )


@dataclasses.dataclass(frozen=True)
class Write:
    """A write repodb reported as committed."""

    id: int
    started: float
    done: float
    port: int
    lsn: int | None  # the session's WAL position after it (None: unknown)


class Record:
    """What the load saw: committed writes, failed ones, and every statement's server."""

    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.failed: list[tuple[float, int, BaseException]] = []
        self.events: list[tuple[float, str, BaseException | None]] = []
        self.read_errors: list[BaseException] = []

    def on_event(self, event: QueryEvent) -> None:
        self.events.append((time.monotonic(), event.source, event.error))

    def wrote(self, id: int, started: float, port: int, lsn: str | None) -> None:
        position = None if lsn is None else parse_lsn(lsn)
        self.writes.append(Write(id, started, time.monotonic(), port, position))

    def first_write_after(self, moment: float) -> float:
        return min((w.done for w in self.writes if w.done > moment), default=float("inf"))


@dataclasses.dataclass
class Failover:
    """When things happened, and what replica 1 had received when the primary died."""

    cut: float = 0.0
    killed: float = 0.0
    received: int = 0
    promoted: float = 0.0


@contextmanager
def leaves_the_original_layout() -> Iterator[None]:
    """Whatever happens in the block, the primary is the primary again at its end."""
    try:
        yield
    finally:
        reconnect_replica_1()
        cluster("restore-layout")


def cut_off_replica_1() -> None:
    """Replica 1 stops receiving WAL, as in a network partition; it still serves reads."""
    with open_conn(replica_urls()[0]) as replica:
        set_upstream(replica, "")
        deadline = time.monotonic() + 10
        while replica.one(RECEIVING):
            if time.monotonic() > deadline:
                pytest.fail("replica 1 still receives WAL 10 s after its upstream was removed")
            time.sleep(0.02)


def reconnect_replica_1() -> None:
    """Undo ``cut_off_replica_1`` on a replica 1 that was not promoted."""
    with contextlib.suppress(repodb.Error), open_conn(replica_urls()[0]) as replica:
        if replica.one(IN_RECOVERY) and not replica.one(UPSTREAM):
            set_upstream(replica, f"host=127.0.0.1 port={port_of(pg_url())} user=postgres")


def set_upstream(replica: repodb.Connection, conninfo: str) -> None:
    replica.exec(Request.exec(f"ALTER SYSTEM SET primary_conninfo = '{conninfo}'"))
    replica.one(Request.one("SELECT pg_reload_conf()", row=bool))


def read_received() -> int:
    """Replica 1's last WAL position received and flushed (final once the primary is dead)."""
    with open_conn(replica_urls()[0]) as replica:
        return parse_lsn(replica.one(RECEIVED))


def promotion_watch() -> Watch:
    """The moment replica 1 leaves recovery, polled on a connection of its own."""
    conn = open_conn(replica_urls()[0])

    def promoted() -> bool:
        try:
            done = not conn.one(IN_RECOVERY)
        except repodb.Error:
            return False
        if done:
            conn.close()
        return done

    return Watch(promoted)


def fail_over(record: Record) -> Failover:
    """Cut replica 1 off, kill the primary, promote replica 1, re-point replica 2 at it, and
    start the old primary again as a read-only standby."""
    at = Failover()
    time.sleep(1.0)
    cut_off_replica_1()
    at.cut = time.monotonic()
    time.sleep(0.5)
    at.killed = time.monotonic()
    cluster("stop-primary", "kill")
    at.received = read_received()
    watch = promotion_watch()
    cluster("promote-replica", "1")
    at.promoted = watch.wait("replica 1 to leave recovery")
    deadline = at.promoted + 10.0
    while record.first_write_after(at.promoted) == float("inf") and time.monotonic() < deadline:
        time.sleep(0.01)
    cluster("repoint-replica", "2", "1")
    cluster("demote-primary", "1")
    time.sleep(0.5)
    return at


def check(record: Record, at: Failover, schema: str, label: str) -> int:
    """Assert what the issue asks of a failover; the number of commits lost."""
    old, new = port_of(pg_url()), port_of(replica_urls()[0])
    with open_conn(with_search_path(replica_urls()[0], schema)) as promoted:
        present = set(promoted.all(WRITTEN_IDS, FIRST_ID))
    committed = {w.id: w for w in record.writes}
    lost = sorted(set(committed) - present)
    reached = [w.id for w in record.writes if w.lsn is not None and w.lsn <= at.received]
    first_write = record.first_write_after(at.promoted) - at.promoted
    as_replica = [
        t
        for t, source, error in record.events
        if source == "replica 1" and error is None and t > at.promoted + CHECK_INTERVAL + 0.3
    ]
    print(
        f"\n{label}: {len(committed)} writes committed, {len(record.failed)} failed "
        f"({sorted({type(e).__name__ for _, _, e in record.failed})}); "
        f"{len(reached)} had reached replica 1 when the primary died, "
        f"{len(lost)} lost {lost[:1]}..{lost[-1:]}; "
        f"first write {first_write * 1000:.0f} ms after the promotion completed "
        f"({(at.promoted - at.killed) * 1000:.0f} ms after the kill); "
        f"{len(record.events)} statements, read errors {len(record.read_errors)}"
    )
    assert all(isinstance(e, ConnectError | ConnectionLost) for _, _, e in record.failed)
    assert record.read_errors == []
    assert first_write < 2.0
    assert [i for i in reached if i not in present] == []
    # Lost: only commits replica 1 had not received (their position is past what it had),
    # and at least every one made after it was cut off.
    assert all((committed[i].lsn or at.received + 1) > at.received for i in lost)
    assert {w.id for w in record.writes if at.cut < w.started and w.done < at.killed} <= set(lost)
    assert all(w.id in present for w in record.writes if w.done > at.promoted)
    assert {w.port for w in record.writes if w.done < at.killed} == {old}
    assert {w.port for w in record.writes if w.done > at.promoted} == {new}
    assert as_replica == []
    return len(lost)


class SyncLoad:
    """A writer thread (one session per write) and reader threads, through one Cqrs."""

    def __init__(self, cqrs: Cqrs, record: Record) -> None:
        self._cqrs = cqrs
        self._record = record
        self._repo = Repo(cqrs, on_event=record.on_event)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, daemon=True)]
        self._threads += [threading.Thread(target=self._read, daemon=True) for _ in range(READERS)]

    def __enter__(self) -> SyncLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        assert not any(t.is_alive() for t in self._threads), "a load thread never came back"

    def _write(self) -> None:
        next_id = FIRST_ID
        while not self._stop.is_set():
            next_id += 1
            started = time.monotonic()
            try:
                with self._cqrs.session() as session, session.write() as conn:
                    port = conn.one(INSERT, next_id)
            except repodb.Error as e:
                self._record.failed.append((time.monotonic(), next_id, e))
            else:
                self._record.wrote(next_id, started, port, session.last_write_lsn)
            time.sleep(0.005)

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self._repo.one(SERVER)
            except repodb.Error as e:
                self._record.read_errors.append(e)


def test_the_sync_router_follows_a_promoted_replica(schema: str) -> None:
    """Asynchronous replication: only commits replica 1 had not received may be lost."""
    record = Record()
    with leaves_the_original_layout():
        with Cqrs(config(schema)) as cqrs:
            with SyncLoad(cqrs, record):
                at = fail_over(record)
            # A router made now meets the old primary first among the hosts: read-only, passed over.
            with Cqrs(config(schema)) as fresh:
                assert fresh.with_write(lambda conn: conn.one(SERVER)) == (
                    port_of(replica_urls()[0]),
                    False,
                )
        check(record, at, schema, "sync router, asynchronous replication")


@contextmanager
def synchronous_to_replica_1() -> Iterator[None]:
    """The primary waits for replica 1 to flush each commit (``synchronous_standby_names``)."""
    sync = Request.one(
        "SELECT count(*) FROM pg_stat_replication "
        "WHERE application_name = 'replica1' AND sync_state = 'sync'",
        row=int,
    )
    set_sync(True)
    try:
        with open_conn(pg_url()) as primary:
            deadline = time.monotonic() + 10
            while not primary.one(sync):
                if time.monotonic() > deadline:
                    pytest.fail("replica 1 did not become synchronous within 10 s")
                time.sleep(0.05)
        yield
    finally:
        # Only while the old primary is still the primary (no failover happened);
        # restore-layout replaces it otherwise.
        with contextlib.suppress(repodb.Error), open_conn(pg_url()) as primary:
            if not primary.one(IN_RECOVERY):
                set_sync(False, primary)


def set_sync(on: bool, primary: repodb.Connection | None = None) -> None:
    setting = (
        "SET synchronous_standby_names = 'replica1'" if on else "RESET synchronous_standby_names"
    )
    with contextlib.ExitStack() as stack:
        conn = primary or stack.enter_context(open_conn(pg_url()))
        conn.exec(Request.exec(f"ALTER SYSTEM {setting}"))
        conn.one(Request.one("SELECT pg_reload_conf()", row=bool))


def test_the_async_router_loses_no_commit_with_a_synchronous_replica(schema: str) -> None:
    """``synchronous_standby_names = 'replica1'``: every commit reported is on replica 1."""
    record = Record()

    async def write(cqrs: AsyncCqrs, stop: asyncio.Event, ids: Iterator[int]) -> None:
        while not stop.is_set():
            next_id = next(ids)
            started = time.monotonic()
            try:
                async with cqrs.session() as session, session.write() as conn:
                    port = await conn.one(INSERT, next_id)
            except repodb.Error as e:
                record.failed.append((time.monotonic(), next_id, e))
            else:
                record.wrote(next_id, started, port, session.last_write_lsn)
            await asyncio.sleep(0.005)

    async def read(repo: AsyncRepo, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await repo.one(SERVER)
            except repodb.Error as e:
                record.read_errors.append(e)
            await asyncio.sleep(0)

    async def main() -> Failover:
        async with AsyncCqrs(config(schema)) as cqrs:
            stop = asyncio.Event()
            ids = iter(range(FIRST_ID + 1, FIRST_ID + 1_000_000))
            repo = AsyncRepo(cqrs, on_event=record.on_event)
            tasks = [asyncio.create_task(write(cqrs, stop, ids)) for _ in range(2)]
            tasks += [asyncio.create_task(read(repo, stop)) for _ in range(READERS)]
            try:
                return await asyncio.to_thread(fail_over, record)
            finally:
                stop.set()
                async with asyncio.timeout(30):
                    await asyncio.gather(*tasks)

    async def bounded() -> Failover:
        async with asyncio.timeout(60):
            return await main()

    with leaves_the_original_layout(), synchronous_to_replica_1():
        at = asyncio.run(bounded())
    assert check(record, at, schema, "async router, synchronous replication") == 0


def test_a_standby_is_never_the_primary_and_a_primary_never_a_replica(schema: str) -> None:
    """Each new connection's role is checked, whatever the configuration says."""
    standby, primary = replica_urls()[0], pg_url()
    on_a_standby = CqrsConfig(with_search_path(standby, schema), connect_timeout=2.0)
    with Cqrs(on_a_standby) as cqrs, pytest.raises(ConnectError, match="in recovery"):
        cqrs.with_write(lambda conn: conn.one(SERVER))
    twice = with_search_path(primary, schema)
    with Cqrs(CqrsConfig(twice, replica_conninfos=[twice], connect_timeout=2.0)) as cqrs:
        # The primary listed as a replica gets no reads as one; it serves them as the primary.
        with cqrs.read() as conn:
            assert (conn.label, conn.one(SERVER)) == ("primary", (port_of(primary), False))
        replica = cqrs.stats().replicas[0]
        assert replica.down
        assert "not in recovery" in str(replica.last_error)
