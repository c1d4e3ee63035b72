"""The AsyncCqrs router on the test cluster: routing, sessions, marks, fallback, failures.

The async router is the source of the sync one (scripts/async_to_sync.py
generates ``repodb.cqrs`` from ``repodb.cqrs_async``); these tests run it
as such, in asyncio: reads on the replicas and writes on the primary, a
session reading its own writes while both replicas have replay paused,
lag-aware routing, stats and manual marks, the primary serving reads when
every replica is stopped, a replica SIGKILLed under 50 tasks reading through
an ``AsyncRepo`` (at most one error, reads flowing through the outage), and
a SIGSTOPped replica whose reads in flight are aborted by the probe's
watchdog (``asyncio.timeout``) and run again elsewhere, the slowest read
waiting at most about the probe timeout.

Each test is a plain function running its coroutine with ``asyncio.run``
under an ``asyncio.timeout``; the cluster commands run in a thread
(``asyncio.to_thread``) so that the readers go on meanwhile, and every node
is put back in a ``finally``. The load's readers go through an
``AsyncRepo``, which runs a read that failed with ``ConnectionLost`` once
more (the router has marked that replica down by then); ``read_port``
does the same by hand for the tests that use the router directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from repodb import AsyncConnection, AsyncRepo, ConnectionLost, Request
from repodb.cqrs_async import AsyncCqrs, CqrsConfig
from repodb.query import query
from repodb.types import tup
from tests.conftest import pg_url, replica_urls, with_search_path
from tests.cqrs import test_cqrs_failures
from tests.cqrs.rig import cluster
from tests.cqrs.test_cqrs_routing import PORT as PORT_OF_SERVER
from tests.cqrs.topology import RoutedItem

WAIT = 30.0
CHECK_INTERVAL = 0.2
PROBE_TIMEOUT = 1.0
TASKS = 50

SERVER = Request.one("SELECT inet_server_port(), pg_is_in_recovery()", row=tup(int, bool))
PORT = Request.one("SELECT inet_server_port() FROM items WHERE id = 1", row=int)
INSERT = Request.exec("INSERT INTO items (name) VALUES ('written')")
COUNT = Request.one("SELECT count(*) FROM items", row=int)


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def run(main: Callable[[], Awaitable[None]], limit: float = 120.0) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(limit):
            await main()

    asyncio.run(bounded())


async def node(*args: str) -> None:
    """A pg-cluster command, in a thread: the event loop (and the readers) go on."""
    await asyncio.to_thread(cluster, *args)


async def wait_for(check: Callable[[], bool], what: str, timeout: float = WAIT) -> float:
    """Poll ``check`` every 5 ms until it holds; the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT) -> None:
    """``wait_for`` for a check that awaits (a query, a request), polled every 50 ms."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def replay_paused() -> AsyncIterator[None]:
    """Both replicas keep serving what they have until the block ends (then replay resumes)."""
    await node("pause-replay", "1")
    try:
        await node("pause-replay", "2")
        try:
            yield
        finally:
            await node("resume-replay", "2")
    finally:
        await node("resume-replay", "1")


# A fresh schema with one item, replayed on both replicas (the sync failure tests' fixture).
schema = test_cqrs_failures.schema


def make_cqrs(schema: str, application_name: str = "", **options: Any) -> AsyncCqrs:
    """A router on ``schema``; its connections named ``application_name`` when given."""
    named = f"&application_name={application_name}" if application_name else ""
    return AsyncCqrs(
        CqrsConfig(
            primary_conninfo=with_search_path(pg_url(), schema) + named,
            replica_conninfos=[with_search_path(u, schema) + named for u in replica_urls()],
            check_interval=CHECK_INTERVAL,
            probe_timeout=PROBE_TIMEOUT,
            connect_timeout=2.0,
            **options,
        )
    )


async def read_port(cqrs: AsyncCqrs) -> int:
    """The port of the server that served a read; retried once on a lost connection."""
    try:
        async with cqrs.read() as conn:
            return await conn.one(PORT)
    except ConnectionLost:
        async with cqrs.read() as conn:
            return await conn.one(PORT)


async def served_by(repo: AsyncRepo) -> int:
    """The port of the server that ran an AsyncRepo read (retried once by the Repo itself)."""
    return await repo.one(query(RoutedItem).where(RoutedItem.id == 1).select(PORT_OF_SERVER))


class ReadLoad:
    """Tasks reading through an AsyncRepo until the block ends; when and where each read ran."""

    def __init__(self, cqrs: AsyncCqrs, tasks: int = TASKS) -> None:
        self._repo = AsyncRepo(cqrs)
        self._count = tasks
        self._stop = asyncio.Event()
        self.reads: list[tuple[float, int, float]] = []  # (finished at, port, latency)
        self.errors: list[BaseException] = []
        self.last_done: list[float] = [0.0] * tasks
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> ReadLoad:
        now = time.monotonic()
        self.last_done = [now] * self._count
        self._tasks = [asyncio.create_task(self._run(i)) for i in range(self._count)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        async with asyncio.timeout(WAIT):
            await asyncio.gather(*self._tasks)

    async def _run(self, i: int) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                port = await served_by(self._repo)
            except Exception as e:
                self.errors.append(e)
                await asyncio.sleep(0.01)
                continue
            done = time.monotonic()
            self.reads.append((done, port, done - started))
            self.last_done[i] = done

    def ports(self, start: float, end: float) -> set[int]:
        return {port for t, port, _ in self.reads if start <= t < end}

    def count(self, start: float, end: float) -> int:
        return sum(start <= t < end for t, _, _ in self.reads)


def test_reads_go_to_replicas_and_writes_to_the_primary(schema: str) -> None:
    primary = port_of(pg_url())
    replicas = {port_of(u) for u in replica_urls()}

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            seen = set()
            for _ in range(6):
                async with cqrs.read() as conn:
                    port, in_recovery = await conn.one(SERVER)
                    assert in_recovery
                    seen.add(port)
            assert seen == replicas
            async with cqrs.write() as conn:
                assert await conn.one(SERVER) == (primary, False)
                await conn.exec(INSERT)
            async with cqrs.transaction() as conn:
                assert await conn.one(SERVER) == (primary, False)
            async with cqrs.primary() as conn:
                assert await conn.one(COUNT) == 2

            async def where(conn: AsyncConnection) -> int:
                return await conn.one(PORT)

            assert await cqrs.with_read(where) in replicas
            assert await cqrs.with_write(where) == primary
            assert await cqrs.transaction(where) == primary
            async with cqrs.checkout("read") as conn:
                assert (await conn.one(SERVER))[0] in replicas
            async with cqrs.checkout("transaction") as conn:
                assert (await conn.one(SERVER))[0] == primary

    run(main)


def test_a_session_reads_its_writes_while_replay_is_paused(schema: str) -> None:
    primary = port_of(pg_url())

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            async with replay_paused():
                async with cqrs.session() as session:
                    for n in range(2, 12):
                        async with session.write() as conn:
                            await conn.exec(INSERT)
                        assert session.last_write_lsn is not None
                        async with session.read() as conn:
                            # Neither replica has it: the primary serves the read.
                            assert await conn.one(COUNT) == n
                            assert await conn.one(PORT) == primary
                # Outside the session, reads still go to the (stale) replicas.
                async with cqrs.read() as conn:
                    assert await conn.one(COUNT) == 1
            async with cqrs.session() as session:
                async with session.transaction() as conn:
                    await conn.exec(INSERT)
                async with session.read() as conn:
                    assert await conn.one(COUNT) == 12

    run(main)


def test_a_session_after_another_sessions_write_reads_it_while_replay_is_paused(
    schema: str,
) -> None:
    # How a write survives a redirect: its position goes to the next session.
    primary = port_of(pg_url())

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            async with replay_paused():
                async with cqrs.session() as first, first.write() as conn:
                    await conn.exec(INSERT)
                position = first.token()
                assert position is not None
                async with cqrs.session(after=position) as later:
                    assert later.last_write_lsn == first.last_write_lsn
                    assert later.token() == position
                    for _ in range(4):
                        async with later.read() as conn:
                            assert await conn.one(COUNT) == 2
                            assert await conn.one(PORT) == primary
                async with cqrs.session() as unaware, unaware.read() as conn:
                    assert await conn.one(COUNT) == 1  # a stale replica

            async def on_a_replica() -> bool:
                async with cqrs.session(after=position) as later, later.read() as conn:
                    return await conn.one(PORT) != primary

            # Once a replica has replayed the write, it serves such a session again.
            await until(on_a_replica, "a replica to replay the write")

    run(main)


def test_a_lagging_replica_gets_no_reads(schema: str) -> None:
    first, second = (port_of(u) for u in replica_urls())

    async def main() -> None:
        async with make_cqrs(schema, max_replica_lag_bytes=0) as cqrs:
            await wait_for(lambda: cqrs.stats().healthy_replica_count == 2, "both replicas")
            await node("pause-replay", "1")
            try:
                async with cqrs.write() as conn:
                    await conn.exec(INSERT)
                await wait_for(lambda: cqrs.stats().replicas[0].lagging, "replica 1 to lag")
                stats = cqrs.stats().replicas[0]
                assert not stats.healthy
                assert stats.lag_bytes is not None
                assert stats.lag_bytes > 0
                for _ in range(6):
                    assert await read_port(cqrs) == second
            finally:
                await node("resume-replay", "1")
            await wait_for(lambda: not cqrs.stats().replicas[0].lagging, "replica 1 to catch up")
            seen = {await read_port(cqrs) for _ in range(6)}
            assert first in seen

    run(main)


def test_stats_and_manual_marks(schema: str) -> None:
    first, second = (port_of(u) for u in replica_urls())
    primary = port_of(pg_url())

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            await wait_for(lambda: cqrs.stats().healthy_replica_count == 2, "both replicas")
            stats = cqrs.stats()
            assert [r.label for r in stats.replicas] == ["replica 1", "replica 2"]
            await wait_for(
                lambda: all(r.lag_bytes is not None for r in cqrs.stats().replicas), "lags"
            )
            assert not any(r.down or r.lagging for r in stats.replicas)
            cqrs.mark_replica_unhealthy(0)
            assert {await read_port(cqrs) for _ in range(6)} == {second}
            stats = cqrs.stats()
            assert stats.replicas[0].marked_unhealthy
            assert not stats.replicas[0].healthy
            assert stats.healthy_replica_count == 1
            cqrs.mark_replica_unhealthy(1)
            assert await read_port(cqrs) == primary
            cqrs.mark_replica_healthy(0)
            cqrs.mark_replica_healthy(1)
            assert {await read_port(cqrs) for _ in range(6)} == {first, second}
            assert cqrs.stats().primary.total >= 1

    run(main)


def test_with_every_replica_down_reads_go_to_the_primary(schema: str) -> None:
    primary = port_of(pg_url())

    async def main() -> None:
        async with make_cqrs(schema) as cqrs:
            assert await read_port(cqrs) != primary
            await node("stop-replica", "1", "fast")
            try:
                await node("stop-replica", "2", "fast")
                try:
                    started = time.monotonic()
                    for _ in range(10):
                        assert await read_port(cqrs) == primary
                    assert time.monotonic() - started < 5.0
                    await wait_for(
                        lambda: cqrs.stats().healthy_replica_count == 0, "both replicas down"
                    )
                finally:
                    await node("start-replica", "2")
            finally:
                await node("start-replica", "1")
            await wait_for(lambda: cqrs.stats().healthy_replica_count == 2, "replicas back")
            assert await read_port(cqrs) != primary

    run(main)


def test_a_replica_killed_under_50_reading_tasks(schema: str) -> None:
    first, second = (port_of(u) for u in replica_urls())

    async def main() -> None:
        async with make_cqrs(schema) as cqrs, ReadLoad(cqrs) as load:
            await asyncio.sleep(1.0)
            killed = time.monotonic()
            await node("kill-replica", "1")
            try:
                await wait_for(lambda: cqrs.stats().replicas[0].down, "replica 1 to be down")
                detected = time.monotonic()
                await asyncio.sleep(1.5)
                outage_end = time.monotonic()
            finally:
                await node("start-replica", "1")
            started = time.monotonic()
            await wait_for(
                lambda: first in load.ports(started, time.monotonic()), "reads on replica 1 again"
            )
        steady = load.count(killed - 1.0, killed)
        during = load.count(detected, outage_end) / (outage_end - detected)
        print(
            f"\nasync kill-replica, {TASKS} tasks: errors={len(load.errors)} "
            f"detected={detected - killed:.3f}s steady={steady}/s during={during:.0f}/s "
            f"({during / max(steady, 1):.0%}) reads during={load.count(detected, outage_end)}"
        )
        assert len(load.errors) <= 1, load.errors
        assert load.count(detected, outage_end) > 0
        assert load.ports(detected + 0.1, outage_end) == {second}
        assert load.count(killed - 1.0, killed) > 0

    run(main)


def test_a_stopped_replica_costs_at_most_the_probe_timeout(schema: str) -> None:
    first, _ = (port_of(u) for u in replica_urls())

    async def main() -> None:
        async with make_cqrs(schema) as cqrs, ReadLoad(cqrs) as load:
            await asyncio.sleep(1.0)
            paused = time.monotonic()
            await node("pause-replica", "1")
            try:
                detect = await wait_for(
                    lambda: cqrs.stats().replicas[0].down, "replica 1 to be down"
                )
                await asyncio.sleep(2.0)
                outage_end = time.monotonic()
                # No reader is still waiting on the hung replica.
                stuck = [outage_end - t for t in load.last_done if outage_end - t > PROBE_TIMEOUT]
                during = [
                    (port, lat) for t, port, lat in list(load.reads) if paused <= t < outage_end
                ]
            finally:
                await node("resume-replica", "1")
            resumed = time.monotonic()
            await wait_for(
                lambda: first in load.ports(resumed, time.monotonic()), "reads on replica 1 again"
            )
        slowest = max((lat for _, lat in during), default=0.0)
        print(
            f"\nasync pause-replica: errors={len(load.errors)} detected={detect:.3f}s "
            f"slowest read={slowest:.2f}s reads during={len(during)} stuck={len(stuck)}"
        )
        assert len(load.errors) <= 1, load.errors
        assert detect < CHECK_INTERVAL + PROBE_TIMEOUT + 1.0
        # A read caught on the hung replica waits for the watchdog (the probe
        # timeout at most), then runs elsewhere; checkouts queued for its
        # connections go elsewhere at the same moment.
        assert slowest < PROBE_TIMEOUT + 1.0
        assert stuck == []
        assert len(during) > 0

    run(main)
