"""The asyncio pool, end to end, on every database.

``AsyncPool`` is the source the sync ``Pool`` is generated from, so
``test_pool`` covers its policy (sizes, lifetimes, validation, backoff,
leaks) through the generated twin; these tests cover what only the async
side has. Each test is a plain function running ``asyncio.run(body())`` (no
pytest plugin), every wait bounded by ``asyncio.timeout``.

Covered on SQLite and PostgreSQL: a checkout lends, gives back and reuses a
connection (``connection()``, ``checkout(intent)``, ``with_connection``);
50 tasks share 5 connections, never more than 5 at once, and the pool ends
idle; an exhausted pool times out with PoolTimeout (the same class as the
sync pool's) and ``max_waiting`` refuses at once; a cancelled waiter, before
or after it was served, leaks nothing; a task cancelled while its statement
runs inside a transaction gives its connection back clean or has it
discarded (no open transaction, no statement left running on PostgreSQL),
and one cancelled twice (which makes psycopg close its connection) never
has that connection lent again;
async ``configure`` and ``validate`` callbacks run (a failed check discards
and replaces the connection); ``shutdown`` fails waiters with PoolClosed and
ends the background task that kept ``min_size`` connections open. On
PostgreSQL, a pooled backend killed with ``pg_terminate_backend`` is never
seen by the caller with an async validator, and fails one checkout without
one, then is replaced (checklist A4). Without a server: the event loop
keeps running (its lag stays under 50 ms) while the pool connects to a
server that accepts TCP connections and never answers.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import pytest

import repodb
import repodb.pool
from repodb import AsyncConnection, ConnectError, ConnectionLost, Request
from repodb.pool_async import AsyncPool, PoolClosed, PoolTimeout, PoolTooManyWaiters
from tests.conftest import CONNECT_TIMEOUT, STATEMENT_TIMEOUT, assert_loop_ran, ticker
from tests.integration.test_pool import terminate_backend

# Every test body is bounded by this, well under pytest-timeout's 120 s.
BOUND = 30.0

SELECT_ONE = Request.one("SELECT 1", row=int)
SLOW = {
    "postgresql": "SELECT pg_sleep(5)",
    "mariadb": "SELECT SLEEP(5)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000)"
    " SELECT count(*) FROM c",
}
backend_pid = Request.one("SELECT pg_backend_pid()", row=int)
active_statements = Request.one(
    # Not this connection's own backend: if it is the one that was cancelled, its
    # state is this very statement (and in_transaction shows it is clean).
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE pid = ? AND pid <> pg_backend_pid() AND state <> 'idle'",
    params=int,
    row=int,
)


# Every test here runs on PostgreSQL through both async drivers, psycopg and asyncpg.
# MariaDB too (asyncmy), as the sync suites marked so.
pytestmark = pytest.mark.mariadb


@pytest.fixture
def db_url(async_db_url: str) -> str:
    return async_db_url


@pytest.fixture
def pg_schema_url(async_pg_schema_url: str) -> str:
    return async_pg_schema_url


def new_pool(url: str, **options: Any) -> AsyncPool:
    options.setdefault("connect_timeout", CONNECT_TIMEOUT)
    options.setdefault("statement_timeout", STATEMENT_TIMEOUT)
    return AsyncPool(url, **options)


def run(body: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(BOUND):
            await body

    asyncio.run(bounded())


async def wait_until(check: Any, what: str, timeout: float = 10.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


def assert_idle(pool: AsyncPool) -> None:
    stats = pool.stats()
    assert (stats.in_use, stats.waiting) == (0, 0), stats
    assert stats.available == stats.total, stats


def test_errors_and_stats_are_shared_with_the_sync_pool() -> None:
    assert repodb.pool.PoolTimeout is PoolTimeout
    assert repodb.pool.PoolClosed is PoolClosed
    assert repodb.pool.PoolStats is repodb.pool_async.PoolStats


def test_lends_returns_and_reuses_a_connection(db_url: str) -> None:
    async def body() -> None:
        async with new_pool(db_url, max_size=3, label="main db") as pool:
            async with pool.connection() as conn:
                assert isinstance(conn, AsyncConnection)
                assert await conn.one(SELECT_ONE) == 1
                assert conn.label == "main db"
                assert pool.stats().in_use == 1
            assert_idle(pool)
            async with pool.checkout("read") as again:
                assert again is conn
            assert await pool.with_connection(lambda c: c.one(SELECT_ONE)) == 1
            with pytest.raises(ValueError, match="unknown intent"):
                pool.checkout("bogus")
            stats = pool.stats()
            assert (stats.total, stats.created, stats.available) == (1, 1, 1)

    run(body())


def test_fifty_tasks_share_five_connections_and_leak_nothing(db_url: str) -> None:
    async def body() -> None:
        async with new_pool(db_url, max_size=5, timeout=20) as pool:
            busy = 0
            most = 0
            seen: set[int] = set()

            async def work() -> None:
                nonlocal busy, most
                async with pool.connection() as conn:
                    busy += 1
                    most = max(most, busy)
                    seen.add(id(conn))
                    assert await conn.one(SELECT_ONE) == 1
                    await asyncio.sleep(0.005)
                    busy -= 1

            await asyncio.gather(*(work() for _ in range(50)))
            assert most == 5
            assert len(seen) <= 5
            assert_idle(pool)
            assert pool.stats().total <= 5

    run(body())


def test_an_exhausted_pool_times_out_and_max_waiting_refuses(db_url: str) -> None:
    async def body() -> None:
        async with new_pool(db_url, max_size=1, max_waiting=1) as pool:
            held = await pool.acquire()
            started = time.monotonic()
            with pytest.raises(PoolTimeout) as info:
                await pool.acquire(timeout=0.2)
            assert 0.15 < time.monotonic() - started < 3
            assert info.value.stats.in_use == 1
            waiter = asyncio.create_task(pool.acquire(timeout=10))
            await wait_until(lambda: pool.stats().waiting == 1, "a waiting checkout")
            with pytest.raises(PoolTooManyWaiters):
                await pool.acquire()
            await pool.release(held)
            assert await waiter is held
            await pool.release(held)
            stats = pool.stats()
            assert stats.timeouts == 1
            assert_idle(pool)

    run(body())


def test_a_cancelled_waiter_leaks_nothing(db_url: str) -> None:
    async def body() -> None:
        async with new_pool(db_url, max_size=1) as pool:
            held = await pool.acquire()
            # Cancelled while still in line.
            waiter = asyncio.create_task(pool.acquire(timeout=10))
            await wait_until(lambda: pool.stats().waiting == 1, "a waiting checkout")
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert pool.stats().waiting == 0
            # Cancelled after it was handed the connection, before it ran again.
            waiter = asyncio.create_task(pool.acquire(timeout=10))
            await wait_until(lambda: pool.stats().waiting == 1, "a waiting checkout")
            await pool.release(held)
            assert pool.stats().in_use == 1  # handed over to the waiter
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert_idle(pool)
            async with pool.connection(timeout=1) as conn:
                assert conn is held

    run(body())


def test_a_task_cancelled_mid_statement_returns_its_connection_clean(db_url: str) -> None:
    async def body() -> None:
        async with new_pool(db_url, max_size=2) as pool:
            started = asyncio.Event()
            pids: list[int] = []

            async def slow() -> None:
                async with pool.connection() as conn, conn.transaction():
                    if conn.dialect.name == "postgresql":
                        pids.append(await conn.one(backend_pid))
                    started.set()
                    await conn.exec(Request.exec(SLOW[conn.dialect.name]))

            task = asyncio.create_task(slow())
            await asyncio.wait_for(started.wait(), 10)
            await asyncio.sleep(0.3)
            cancelled_at = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - cancelled_at < 3
            assert_idle(pool)
            async with pool.connection() as conn:
                assert not conn.in_transaction
                assert await conn.one(SELECT_ONE) == 1
                if pids:
                    for _ in range(200):
                        if await conn.one(active_statements, pids[0]) == 0:
                            break
                        await asyncio.sleep(0.01)
                    assert await conn.one(active_statements, pids[0]) == 0
            assert_idle(pool)

    run(body())


def test_a_task_cancelled_twice_mid_statement_never_lends_a_dropped_connection(
    db_url: str,
) -> None:
    # Regression: the second cancellation interrupts psycopg's own cancelling
    # of the query, so psycopg closes the connection; the pool took it back
    # as idle and the next borrower got ConnectionLost.
    async def body() -> None:
        async with new_pool(db_url, max_size=1) as pool:
            started = asyncio.Event()

            async def slow() -> None:
                async with pool.connection() as conn:
                    started.set()
                    await conn.exec(Request.exec(SLOW[conn.dialect.name]))

            task = asyncio.create_task(slow())
            await asyncio.wait_for(started.wait(), 10)
            await asyncio.sleep(0.3)
            task.cancel()
            await asyncio.sleep(0)  # the task starts handling the first cancellation
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert_idle(pool)
            async with pool.connection(timeout=5) as conn:
                assert not conn.in_transaction
                assert await conn.one(SELECT_ONE) == 1
            assert_idle(pool)

    run(body())


def test_async_configure_and_validate_callbacks(db_url: str) -> None:
    async def body() -> None:
        configured: list[int] = []
        checks: list[bool] = []

        async def configure(conn: AsyncConnection) -> None:
            configured.append(await conn.one(SELECT_ONE))

        async def validate(conn: AsyncConnection) -> bool:
            await asyncio.sleep(0)
            ok = len(checks) > 0
            checks.append(ok)
            return ok

        async with new_pool(db_url, max_size=2, configure=configure, validate=validate) as pool:
            async with pool.connection() as first:
                pass
            assert configured == [1]
            # The first check fails: that connection is discarded and a new one opened.
            async with pool.connection() as second:
                assert second is not first
                assert first.closed
            assert checks == [False]
            assert configured == [1, 1]
            async with pool.connection() as third:
                assert third is second
            assert checks == [False, True]
            stats = pool.stats()
            assert (stats.discarded, stats.created) == (1, 2)
            assert_idle(pool)

    run(body())


def test_shutdown_fails_waiters_and_ends_the_background_task(db_url: str) -> None:
    async def body() -> None:
        label = f"task-{uuid.uuid4().hex[:8]}"
        pool = new_pool(db_url, max_size=2, min_size=2, label=label)
        await wait_until(lambda: pool.stats().available == 2, "min_size connections")
        (task,) = [t for t in asyncio.all_tasks() if t.get_name() == f"repodb-pool-{label}"]
        a = await pool.acquire()
        b = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire(timeout=10))
        await wait_until(lambda: pool.stats().waiting == 1, "a waiting checkout")

        async def give_back() -> None:
            await asyncio.sleep(0.1)
            await pool.release(a)
            await pool.release(b)

        returner = asyncio.create_task(give_back())
        await pool.shutdown(timeout=10)
        await returner
        with pytest.raises(PoolClosed):
            await waiter
        assert task.done()
        assert a.closed
        assert b.closed
        with pytest.raises(PoolClosed):
            await pool.acquire()
        stats = pool.stats()
        assert (stats.total, stats.in_use, stats.available) == (0, 0, 0)
        await pool.shutdown()  # a second call does nothing

    run(body())


def test_the_event_loop_runs_while_connecting_to_a_server_that_never_answers() -> None:
    async def body() -> None:
        with socket.socket() as hung:
            # The kernel completes the handshake; nobody ever reads or answers.
            hung.bind(("127.0.0.1", 0))
            hung.listen(8)
            port = hung.getsockname()[1]
            url = f"postgresql://nobody@127.0.0.1:{port}/nothing"
            async with AsyncPool(url, connect_timeout=1.0, timeout=5) as pool:
                stop = asyncio.Event()
                lags: list[float] = []
                ticking = asyncio.create_task(ticker(stop, lags))
                started = time.monotonic()
                try:
                    with pytest.raises(ConnectError):
                        await pool.acquire()
                finally:
                    elapsed = time.monotonic() - started
                    stop.set()
                    await ticking
                assert 0.8 < elapsed < 4, elapsed
                assert pool.stats().server_down
                # Down: the next checkout fails fast, it does not wait again.
                with pytest.raises(ConnectError):
                    await pool.acquire()
        assert len(lags) >= 20
        assert_loop_ran(lags, elapsed, "a connect to a hung server")

    run(body())


@pytest.mark.parametrize("checked", [False, True], ids=["no validator", "async validator"])
def test_a_killed_backend_is_replaced(pg_schema_url: str, checked: bool) -> None:
    """A4: with an async validator the caller never sees it; without, once, then replaced."""

    async def validate(conn: AsyncConnection) -> bool:
        await conn.ping()
        return True

    async def body() -> None:
        options: dict[str, Any] = {"validate": validate} if checked else {}
        async with new_pool(pg_schema_url, max_size=2, **options) as pool:
            async with pool.connection() as conn:
                pid = await conn.one(backend_pid)
            await asyncio.to_thread(terminate_backend, pid)
            if not checked:
                with pytest.raises(ConnectionLost):
                    async with pool.connection() as stale:
                        await stale.one(SELECT_ONE)
                assert stale.broken
                assert stale.closed
            async with pool.connection() as conn:
                assert await conn.one(backend_pid) != pid
            stats = pool.stats()
            assert (stats.discarded, stats.created, stats.total) == (1, 2, 1)

    run(body())
