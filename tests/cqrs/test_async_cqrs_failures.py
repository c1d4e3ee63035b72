"""The async pool, router and Repo under failure (checklist A2, B1, B6, C5, C6, E1-E3).

``test_cqrs_failures``, ``test_pool_failures`` and ``test_cqrs_routing``
check these rows on the sync ``Cqrs`` and ``Repo``, generated from the
async ones; here the async source runs as such, in asyncio, with tasks:

- A2: with the primary down, an ``AsyncPool`` checkout fails at once with
  the connect error (not ``PoolTimeout``), and a checkout waiting in line
  fails as soon as room frees;
- B1: the primary restarts while 4 tasks write through an ``AsyncRepo``
  and the primary's pool holds 6 stale connections; the first good write
  comes within about a second of the server accepting connections again,
  and callers see only connection errors meanwhile;
- B6: with the primary down, reads keep working on the replicas and writes
  fail fast with "primary is down"; no committed write is lost;
- C5: refused, reset, timeout and admin shutdown (57P01) all end with the
  replica marked down, silently for the Repo's readers;
- C6: a read cancelled by a recovery conflict (40001) runs again elsewhere;
- E1-E3: writes, DDL, ``nextval``, locking reads and transactions run on
  the primary; a write that reaches a replica raises ``ReadOnlyError``; a
  read-only transaction stays on one replica;
- cancellation: 1,000 tasks reading, writing, streaming and in transactions
  through the router, cancelled at random, leave every node's pool idle and
  no backend busy.

The figures are printed (run with ``-s``). As in the sync tests, times are
asserted only as generous bounds that tell "handled" from "hung"; every node
is put back in a ``finally`` and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from typing import Any

import pytest

import repodb
from repodb import (
    AsyncRepo,
    ConnectError,
    ConnectionLost,
    IsolationLevel,
    ReadOnlyError,
    Request,
    connect_async,
)
from repodb.changeset import cast
from repodb.functions import fragment
from repodb.pool_async import AsyncPool, PoolTimeout
from repodb.query import query
from repodb.telemetry import QueryEvent
from tests.conftest import open_conn, pg_url, replica_urls
from tests.cqrs.rig import cluster
from tests.cqrs.test_async_cqrs import (
    SERVER,
    make_cqrs,
    node,
    port_of,
    run,
    schema,
    served_by,
    until,
    wait_for,
)
from tests.cqrs.test_cqrs_failures import (
    FAILURE_MODES,
    assert_failed_fast,
    quick_recovery_conflicts,
    slow_on_replica_1,
)
from tests.cqrs.test_cqrs_routing import PORT as SERVER_PORT
from tests.cqrs.test_replicas import wait_replayed
from tests.cqrs.topology import RoutedItem
from tests.integration.test_async_cancellation import cancel_at_each, cancel_at_random

__all__ = ["schema"]  # the fixture, shared with test_async_cqrs

COUNT = Request.one("SELECT count(*) FROM items", row=int)
SELECT_ONE = Request.one("SELECT 1", row=int)
STALE = 6
WRITERS = 4


def item(name: str) -> Any:
    return cast(RoutedItem, {"name": name}, ["name"])


async def writes(repo: AsyncRepo) -> bool:
    try:
        await repo.insert(item("after"))
    except (ConnectError, ConnectionLost):
        return False
    return True


def test_first_good_write_after_a_primary_restart(schema: str) -> None:
    """B1: 6 stale primary connections, 4 writing tasks, stop-primary fast, start-primary."""
    outcomes: list[tuple[float, str]] = []
    back: list[float] = []

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            repo = AsyncRepo(cqrs)
            stop = asyncio.Event()

            async def hold() -> None:
                async with cqrs.write() as conn:
                    await conn.one(SERVER)
                    await asyncio.sleep(0.05)

            await asyncio.gather(*(hold() for _ in range(STALE)))
            assert cqrs.stats().primary.available >= STALE

            async def write() -> None:
                while not stop.is_set():
                    try:
                        await repo.insert(item("load"))
                        result = "ok"
                    except repodb.Error as e:
                        result = type(e).__name__
                    outcomes.append((time.monotonic(), result))
                    await asyncio.sleep(0.005)

            async def watch_server() -> None:
                # When the server accepts connections again, seen by a plain connect.
                while not back:
                    try:
                        conn = await connect_async(pg_url(), connect_timeout=2)
                    except ConnectError:
                        await asyncio.sleep(0.01)
                        continue
                    back.append(time.monotonic())
                    await conn.close()

            await node("stop-primary", "fast")
            writers = [asyncio.create_task(write()) for _ in range(WRITERS)]
            watcher = asyncio.create_task(watch_server())
            try:
                await asyncio.sleep(1.5)  # long enough for the backoff to reach its cap
                await node("start-primary")
                await wait_for(lambda: bool(back), "the primary to accept connections")
                await wait_for(
                    lambda: any(r == "ok" and t > back[0] for t, r in outcomes), "a good write"
                )
                await asyncio.sleep(0.2)
            finally:
                stop.set()
                watcher.cancel()
                async with asyncio.timeout(30):
                    await asyncio.wait({watcher})
                    await asyncio.gather(*writers)

    try:
        run(main)
    finally:
        if not back:
            cluster("start-primary")
    first_ok = min(t for t, r in outcomes if r == "ok")
    errors = [r for _, r in outcomes if r != "ok"]
    lost = errors.count("ConnectionLost")
    print(
        f"\nasync B1: first good write {(first_ok - back[0]) * 1000:.0f} ms after the server "
        f"accepted connections; caller errors: {lost} ConnectionLost, "
        f"{errors.count('ConnectError')} ConnectError (fail fast while down) "
        f"of {len(outcomes)} writes"
    )
    assert set(errors) <= {"ConnectionLost", "ConnectError"}, errors
    # Target: within about 1 s (backoff_max); the bound is generous for a busy machine.
    assert first_ok - back[0] < 3.0
    assert lost <= STALE
    assert all(r == "ok" for t, r in outcomes if t > first_ok + 0.1)


def test_a_down_server_fails_async_checkouts_fast_with_the_connect_error() -> None:
    """A2 on the AsyncPool: refused at once, not PoolTimeout; a waiter failed when room frees."""
    url = pg_url()
    seen: dict[str, float] = {}

    async def main() -> None:
        full = AsyncPool(url, max_size=1, timeout=10, connect_timeout=5)
        fresh = AsyncPool(
            url, max_size=2, timeout=10, connect_timeout=5, backoff_min=2.0, backoff_max=4.0
        )
        try:
            held = await full.acquire()
            await node("stop-primary", "fast")
            seen["stopped"] = 1
            started = time.monotonic()
            with pytest.raises(ConnectError) as refused:
                await fresh.acquire()
            seen["refused"] = time.monotonic() - started
            assert not isinstance(refused.value, PoolTimeout)
            started = time.monotonic()
            with pytest.raises(ConnectError) as fast:
                await fresh.acquire()
            seen["fail fast"] = time.monotonic() - started
            assert fast.value.__cause__ is refused.value
            assert "is down" in str(fast.value)
            # A checkout waiting on the full pool fails as soon as room frees
            # (the held connection turns out broken), not after its 10 s timeout.
            waiter = asyncio.create_task(full.acquire(timeout=10))
            await wait_for(lambda: full.stats().waiting == 1, "a waiting checkout")
            started = time.monotonic()
            with pytest.raises(ConnectionLost):
                await held.one(SELECT_ONE)
            await full.release(held)
            with pytest.raises(ConnectError):
                await waiter
            seen["waiter"] = time.monotonic() - started
            assert full.stats().discarded == 1
        finally:
            await full.shutdown(timeout=5)
            await fresh.shutdown(timeout=5)
            if seen:
                await node("start-primary")

    run(main)
    print(
        f"\nasync A2: refused in {seen['refused'] * 1000:.1f} ms, fail-fast in "
        f"{seen['fail fast'] * 1000:.2f} ms, waiter failed {seen['waiter'] * 1000:.0f} ms "
        f"after room freed (timeout 10 s)"
    )
    assert seen["refused"] < 3, "refused at once, not after the 10 s checkout timeout"
    assert seen["fail fast"] < 1, "no new attempt before the backoff deadline"
    assert seen["waiter"] < 8


def test_with_the_primary_down_reads_work_and_writes_fail_fast(schema: str) -> None:
    """B6, and no committed write lost across the restart."""
    replica_ports = {port_of(u) for u in replica_urls()}
    failures: list[tuple[float, BaseException]] = []

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            repo = AsyncRepo(cqrs)
            kept = await repo.insert(item("committed"))
            assert kept.id is not None
            await node("stop-primary", "fast")
            try:
                assert {await served_by(repo) for _ in range(6)} <= replica_ports
                for _ in range(3):
                    started = time.monotonic()
                    with pytest.raises((ConnectError, ConnectionLost)) as caught:
                        await repo.insert(item("lost"))
                    failures.append((time.monotonic() - started, caught.value))
            finally:
                await node("start-primary")
            await until(lambda: writes(repo), "writes to work again")
            assert (await repo.get(RoutedItem, kept.id)).name == "committed"
            lost = Request.one("SELECT count(*) FROM items WHERE name = 'lost'", row=int)
            assert await cqrs.with_primary(lambda conn: conn.one(lost)) == 0

    run(main)
    assert_failed_fast("async B6", failures)


@FAILURE_MODES
def test_every_failure_mode_ends_in_the_same_down_state(
    schema: str, mode: str, break_it: tuple[str, ...], mend_it: tuple[str, ...]
) -> None:
    """C5: refused, reset, timeout and 57P01 all mark the replica down, silently for readers."""
    first, second = (port_of(u) for u in replica_urls())
    took: list[float] = []

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            repo = AsyncRepo(cqrs)
            if mode in ("reset", "admin shutdown"):
                # Idle pooled connections to replica 1, which the failure breaks.
                assert first in [await served_by(repo) for _ in range(4)]
            broken = time.monotonic()
            await node(*break_it)
            try:
                seen = [await served_by(repo) for _ in range(6)]
                took.append(time.monotonic() - broken)
                await wait_for(lambda: cqrs.stats().replicas[0].down, f"{mode}: replica 1 down")
                replica = cqrs.stats().replicas[0]
                assert (replica.healthy, replica.down) == (False, True)
                assert replica.last_error
                assert set(seen) == {second}
            finally:
                await node(*mend_it)
            await wait_for(lambda: cqrs.stats().replicas[0].healthy, f"{mode}: replica 1 back")
            assert first in [await served_by(repo) for _ in range(4)]

    run(main)
    print(f"\nasync C5 {mode}: 6 reads took {took[0]:.2f}s")
    # A connect timeout costs one read up to connect_timeout (2 s); the rest fail over at once.
    assert took[0] < 2.0 + 3.0


def test_a_recovery_conflict_is_retried_on_another_server(schema: str) -> None:
    """C6: a replica cancels a read (40001) to replay a lock; the AsyncRepo reads elsewhere."""
    events: list[QueryEvent] = []
    answered: list[int] = []

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            repo = AsyncRepo(cqrs, on_event=events.append)
            # The read starts on replica 1; with replica 2 out, the retry goes to the primary.
            cqrs.mark_replica_unhealthy(1)

            async def lock_on_primary() -> None:
                await asyncio.sleep(0.5)
                async with cqrs.transaction() as conn:
                    await conn.exec(Request.exec("LOCK TABLE items IN ACCESS EXCLUSIVE MODE"))

            locker = asyncio.create_task(lock_on_primary())
            answered.append(
                await repo.one(query(RoutedItem).where(slow_on_replica_1()).select(SERVER_PORT))
            )
            await locker
            cqrs.mark_replica_healthy(1)
            await wait_for(lambda: cqrs.stats().replicas[0].healthy, "replica 1 back")

    with quick_recovery_conflicts():
        run(main)
    assert [(e.source, type(e.error).__name__) for e in events] == [
        ("replica 1", "SerializationFailure"),
        ("primary", "NoneType"),
    ]
    assert answered == [port_of(pg_url())]


def test_statements_that_must_run_on_the_primary_do(schema: str) -> None:
    """E1: writes, DDL, nextval, locking reads, SERIALIZABLE and mixed transactions."""
    primary = port_of(pg_url())

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            repo = AsyncRepo(cqrs)
            await repo.exec(Request.exec("CREATE SEQUENCE ticket"))
            assert await repo.one(Request.one("SELECT nextval('ticket')", row=int)) == 1
            await repo.exec(Request.exec("CREATE TABLE audit (n int)"))
            assert await repo.exec(Request.exec("INSERT INTO audit SELECT nextval('ticket')")) == 1
            locked = query(RoutedItem).where(RoutedItem.id == 1).select(SERVER_PORT)
            assert await repo.one(locked.lock()) == primary
            async with repo.transaction(isolation=IsolationLevel.SERIALIZABLE) as tx:
                assert await served_by(tx) == primary
                await tx.exec(Request.exec("INSERT INTO audit VALUES (0)"))
            async with repo.transaction() as tx:
                # A read first, then a write: the whole transaction is on the primary.
                assert await served_by(tx) == primary
                await tx.insert(item("after a read"))
            audit = Request.one("SELECT count(*) FROM audit", row=int)
            assert await cqrs.with_primary(lambda conn: conn.one(audit)) == 2

    run(main)


def test_a_write_that_reaches_a_replica_raises_read_only_error(schema: str) -> None:
    """E2: never swallowed, whether sent by hand or hidden in a query."""

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            async with cqrs.read() as conn:
                with pytest.raises(ReadOnlyError) as caught:
                    await conn.exec(Request.exec("INSERT INTO items (name) VALUES ('sneaky')"))
            assert caught.value.sqlstate == "25006"
            await cqrs.with_write(lambda conn: conn.exec(Request.exec("CREATE SEQUENCE hidden")))
            with open_conn(pg_url()) as primary:
                for url in replica_urls():
                    await asyncio.to_thread(wait_replayed, primary, url)
            # A volatile function in a read query is still a read to the Repo.
            volatile = query(RoutedItem).select(fragment("nextval('hidden')", type_=int))
            with pytest.raises(ReadOnlyError) as caught:
                await AsyncRepo(cqrs).all(volatile)
            assert caught.value.sqlstate == "25006"
            assert await cqrs.with_primary(lambda conn: conn.one(COUNT)) == 1

    run(main)


def test_a_read_only_transaction_stays_on_one_replica(schema: str) -> None:
    """E3."""
    replicas = {port_of(u) for u in replica_urls()}

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            async with cqrs.read() as conn, conn.transaction(read_only=True):
                repo = AsyncRepo(conn)
                seen = {await repo.one(SERVER) for _ in range(3)}
                seen.add((await served_by(repo), True))
                assert await repo.aggregate(query(RoutedItem), "count") == 1
            assert len(seen) == 1
            port, in_recovery = seen.pop()
            assert port in replicas
            assert in_recovery

    run(main)


def test_a_thousand_cancelled_tasks_leave_every_node_idle(schema: str) -> None:
    """Cancellation through the router: replica reads, session reads, writes, transactions.

    The same random cancellations as ``test_async_cancellation`` (1,000
    tasks in waves of 40), through an ``AsyncRepo`` over the router: every
    pool (the primary's and each replica's) ends idle with nothing rolled
    back for it, no replica is taken out of rotation by a cancelled read,
    and no backend of the router is left running a statement or inside a
    transaction on any node 2 s later.
    """
    app = f"cancel_{uuid.uuid4().hex[:8]}"
    nodes = [pg_url(), *replica_urls()]
    slow = fragment("pg_sleep(0.01) IS NOT NULL", type_=bool)
    landed: Counter[str] = Counter()
    took: list[float] = []

    async def main() -> None:
        sizes = {"primary_max_size": 4, "replica_max_size_each": 3}
        async with make_cqrs(schema, application_name=app, timeout=20.0, **sizes) as cqrs:
            repo = AsyncRepo(cqrs)
            # At most 5 rows (about 50 ms): when a task is cancelled again while
            # psycopg sends its cancel request, psycopg closes the connection
            # and the server runs the statement on to its end; a scan of every
            # row the tasks inserted (hundreds, 10 ms each) outlived the 2 s
            # idle check without anything of repodb's being left behind.
            read = query(RoutedItem).where(slow).select(SERVER_PORT).limit(5)

            async def replica_read(at: list[str]) -> None:
                at[0] = "read"
                await repo.all(read)

            async def session(at: list[str]) -> None:
                async with cqrs.session() as s:
                    at[0] = "session write"
                    await AsyncRepo(s).insert(item("session"))
                    at[0] = "session read"
                    await AsyncRepo(s).all(read)

            async def write(at: list[str]) -> None:
                at[0] = "write"
                await repo.insert(item("write"))

            async def transaction(at: list[str]) -> None:
                at[0] = "transaction"
                async with repo.transaction() as tx:
                    await tx.insert(item("tx"))
                    await tx.all(read)

            async def stream(at: list[str]) -> None:
                at[0] = "stream"
                async with repo.stream(query(RoutedItem), batch_size=2) as rows:
                    async for _ in rows:
                        await asyncio.sleep(0.001)

            async def timed_read(at: list[str]) -> None:
                at[0] = "timed read"
                async with asyncio.timeout(random.uniform(0, 0.05)):
                    await repo.all(read)

            works = [replica_read, session, write, transaction, stream, timed_read]
            started = time.monotonic()
            landed.update(await cancel_at_random(works, random.Random(12)))
            points = {"read", "session read", "write", "transaction", "stream", "finished"}
            landed.update(await cancel_at_each(works, points - set(landed)))
            took.append(time.monotonic() - started)
            stats = cqrs.stats()
            for pool in [stats.primary, *(r.pool for r in stats.replicas)]:
                assert (pool.in_use, pool.waiting, pool.returns_bad) == (0, 0, 0), pool
                assert pool.available == pool.total, pool
            assert stats.healthy_replica_count == 2, stats
            busy = [await busy_backends(url, app) for url in nodes]
            print(
                f"\nasync router, {sum(landed.values())} cancelled-at-random tasks "
                f"in {took[0]:.2f}s: "
                f"{dict(sorted(landed.items()))}; discarded: primary {stats.primary.discarded}, "
                f"replicas {[r.pool.discarded for r in stats.replicas]}; "
                f"busy backends 2 s later: {busy}"
            )
            assert busy == [[], [], []]

    run(main)
    assert {"read", "session read", "write", "transaction", "stream"} <= set(landed), landed
    assert landed["finished"] > 0


BUSY = Request.many(
    "SELECT pid FROM pg_stat_activity WHERE application_name = ?"
    " AND (state = 'active' OR state LIKE 'idle in transaction%')",
    params=str,
    row=int,
)


async def busy_backends(url: str, app: str) -> list[int]:
    """The backends named ``app`` on ``url`` still running or in a transaction, after 2 s."""
    async with await connect_async(url, connect_timeout=5) as observer:
        deadline = time.monotonic() + 2.0
        while (busy := await observer.all(BUSY, app)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return busy
