"""Tasks cancelled at random points leak nothing, on every database.

The asyncio contract (STYLE.md): a cancelled ``await`` leaves its connection
reusable or discards it, and cancels its statement on the server. These
tests check it where a leak would hide: 1,000 tasks, each running one of
seven kinds of work on an ``AsyncPool`` of 4 connections (or an
``AsyncRepo`` over it), in waves of 40, are cancelled after a random delay,
so that the cancellation lands while a task waits for a checkout, while its
statement runs, between the batches of a stream (of a query, or of a
prepared query), inside a transaction (and its savepoint), inside a Repo
transaction or a Multi; the last kind runs its queries under
``asyncio.timeout()`` as well, so that it is sometimes cancelled twice:
psycopg then closes the connection, which the pool must discard, not lend
again. Each task notes the point it had reached, and the
test checks that every point was hit.

Afterwards the pool is idle (no connection borrowed, none waiting, every
connection it holds is available and out of any transaction), every
connection it holds answers, and no backend the pool ever opened is still
``active`` or ``idle in transaction`` 2 s later (PostgreSQL's
``pg_stat_activity``; MariaDB's ``PROCESSLIST`` and ``INNODB_TRX``):
cancelled statements were cancelled on the server. On MariaDB an
interrupted statement closes its connection and the driver KILLs its
server thread, so the pool discards and replaces it.
Two smaller tests check one ``asyncio.timeout()`` around a query (the
statement is stopped on the server, the connection comes back clean) and
around a checkout that waits in line (nothing leaks).

The figures (where the cancellations landed, connections discarded) are
printed: run with ``-s`` to see them. Each test is a plain function running
``asyncio.run``, every wait bounded.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import pytest

from repodb import AsyncConnection, AsyncRepo, Request, connect_async, param, prepare
from repodb.changeset import cast
from repodb.multi import Results
from repodb.multi_async import AsyncMulti
from repodb.pool_async import AsyncPool
from repodb.query import query
from repodb.repo_async import AsyncTransactionRepo
from repodb.types import tup
from tests.conftest import CONNECT_TIMEOUT, STATEMENT_TIMEOUT, dialect_of, open_conn, sync_twin
from tests.integration.repo_models import Member, create_tables
from tests.integration.test_async_pool import SELECT_ONE, SLOW

# Every test here runs on PostgreSQL through both async drivers, psycopg and asyncpg.
# MariaDB too (asyncmy), as the sync suites marked so.
pytestmark = pytest.mark.mariadb


@pytest.fixture
def db_url(async_db_url: str) -> str:
    return async_db_url


# Every test body is bounded by this, well under pytest-timeout's 120 s.
BOUND = 60.0
TASKS = 1000
# Tasks started together: enough to keep the 4 connections busy and a queue waiting.
WAVE = 40
POOL_SIZE = 4
# Cancellations land from at once to about three statements' time later.
LATEST_CANCEL = 0.05
SEED_ROWS = 60

# A statement that runs long enough to be caught: about 10 ms on each database.
SHORT = {
    "postgresql": "SELECT pg_sleep(0.01)",
    "mariadb": "SELECT SLEEP(0.01)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)"
    " SELECT count(*) FROM c",
}
insert_member = Request.exec(
    "INSERT INTO members (email, name) VALUES (?, ?)", params=tup(str, str)
)
insert_tag = Request.exec("INSERT INTO tags (name) VALUES (?)", params=str)
backend_pid = Request.one("SELECT pg_backend_pid()", row=int)
# The pool's backends that are running a statement or sitting in a transaction.
busy_backends = Request.many(
    "SELECT pid FROM pg_stat_activity WHERE pid = ANY(?)"
    " AND (state = 'active' OR state LIKE 'idle in transaction%')",
    params=list[int],
    row=int,
)
# MariaDB: a connection's id, and every thread running a statement or holding a transaction.
connection_id = Request.one("SELECT CONNECTION_ID()", row=int)
# (Cast: the union of the two unsigned columns is a DECIMAL.)
busy_threads = Request.many(
    "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query'"
    " AND ID <> CONNECTION_ID()"
    " UNION SELECT CAST(trx_mysql_thread_id AS SIGNED) FROM information_schema.INNODB_TRX",
    row=int,
)

Work = Callable[[list[str]], Coroutine[Any, Any, None]]


def new_pool(url: str, **options: Any) -> AsyncPool:
    options.setdefault("connect_timeout", CONNECT_TIMEOUT)
    options.setdefault("statement_timeout", STATEMENT_TIMEOUT)
    return AsyncPool(url, **options)


def member(name: str) -> Any:
    params = {"email": f"{name}-{uuid.uuid4().hex}@example.com", "name": name}
    return cast(Member, params, ["email", "name"])


# The kinds of work. Each notes in ``at[0]`` the point it reached before
# every wait, so a cancellation can be attributed to where it landed.


async def statement(pool: AsyncPool, repo: AsyncRepo, short: str, at: list[str]) -> None:
    at[0] = "checkout"
    async with pool.connection() as conn:
        at[0] = "statement"
        await conn.exec(Request.exec(short))


async def stream(pool: AsyncPool, repo: AsyncRepo, short: str, at: list[str]) -> None:
    at[0] = "checkout"
    async with repo.stream(query(Member), batch_size=5) as rows:
        async for _ in rows:
            at[0] = "stream"
            await asyncio.sleep(0.001)


# A prepared query streams through the same held connection and cursor.
MEMBERS_FROM = prepare(query(Member).where(Member.id >= param("first")))


async def prepared_stream(pool: AsyncPool, repo: AsyncRepo, short: str, at: list[str]) -> None:
    at[0] = "checkout"
    async with repo.stream(MEMBERS_FROM, {"first": 0}, batch_size=5) as rows:
        async for _ in rows:
            at[0] = "prepared stream"
            await asyncio.sleep(0.001)


async def transaction(pool: AsyncPool, repo: AsyncRepo, short: str, at: list[str]) -> None:
    at[0] = "checkout"
    async with pool.connection() as conn:
        at[0] = "transaction"
        async with conn.transaction():
            await conn.exec(insert_tag, uuid.uuid4().hex)
            await conn.exec(Request.exec(short))
            async with conn.transaction():
                await conn.exec(Request.exec(short))


async def repo_transaction(pool: AsyncPool, repo: AsyncRepo, short: str, at: list[str]) -> None:
    at[0] = "checkout"

    async def work(tx: AsyncTransactionRepo) -> None:
        at[0] = "repo transaction"
        await tx.insert(member("tx"))
        await tx.exec(Request.exec(short))

    await repo.transaction(work)


async def multi(pool: AsyncPool, repo: AsyncRepo, short: str, at: list[str]) -> None:
    at[0] = "checkout"

    async def slow(tx: AsyncTransactionRepo, results: Results) -> None:
        at[0] = "multi"
        await tx.exec(Request.exec(short))

    await repo.transaction(AsyncMulti().insert("first", member("multi")).run("slow", slow))


async def timeout(pool: AsyncPool, repo: AsyncRepo, short: str, at: list[str]) -> None:
    at[0] = "checkout"
    async with asyncio.timeout(random.uniform(0, LATEST_CANCEL)):
        await repo.exec(Request.exec(short))
        at[0] = "timeout"
        await repo.exec(Request.exec(short))


KINDS = [statement, stream, prepared_stream, transaction, repo_transaction, multi, timeout]
# Where a cancellation must have landed at least once, when it is seen as such.
POINTS = {
    "checkout",
    "statement",
    "stream",
    "prepared stream",
    "transaction",
    "repo transaction",
    "multi",
}


async def cancel_at_random(works: Sequence[Work], rng: random.Random) -> Counter[str]:
    """Run TASKS tasks of the ``works`` in waves, cancelling each at a random moment.

    Returns where the tasks ended: at the point noted when cancelled,
    ``timeout (point)`` for those whose own ``asyncio.timeout`` fired first,
    or ``finished``. Any other ending fails the test.
    """
    landed: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    for _ in range(TASKS // WAVE):
        tasks: list[tuple[asyncio.Task[None], list[str]]] = []
        for _ in range(WAVE):
            at = ["start"]
            task = asyncio.create_task(rng.choice(works)(at))
            loop.call_later(rng.uniform(0, LATEST_CANCEL), task.cancel)
            tasks.append((task, at))
        async with asyncio.timeout(30):
            await asyncio.wait([t for t, _ in tasks])
        for task, at in tasks:
            if task.cancelled():
                landed[at[0]] += 1
                continue
            error = task.exception()
            if isinstance(error, TimeoutError):
                landed[f"timeout ({at[0]})"] += 1
            elif error is not None:
                raise AssertionError(f"a task failed at {at[0]!r}") from error
            else:
                landed["finished"] += 1
    return landed


async def cancel_at_each(works: Sequence[Work], points: set[str]) -> Counter[str]:
    """Cancel one task at each of ``points`` that random cancellation missed.

    Why: on a loaded machine the random moments can all fall before a late
    point (a session's read after its write), and whether every point is
    covered must not depend on the machine's speed. Each work is started in
    turn and cancelled as soon as it notes the point, until one is
    cancelled there; a point that no work reaches is left out, for the
    caller's check to report. ``finished`` among the points runs each work
    once, uncancelled, for when every random moment came too early.
    """
    landed: Counter[str] = Counter()
    if "finished" in points:
        # The same works left alone end normally (the pool's and the
        # router's state is then checked with theirs too).
        points = points - {"finished"}
        for work in works:
            at = ["start"]
            task = asyncio.create_task(work(at))
            done, _ = await asyncio.wait([task], timeout=30)
            assert done, f"a task left alone did not end in 30 s, at {at[0]!r}"
            error = task.exception()
            if isinstance(error, TimeoutError):  # its own asyncio.timeout
                landed[f"timeout ({at[0]})"] += 1
            elif error is not None:
                raise AssertionError(f"a task failed at {at[0]!r}") from error
            else:
                landed["finished"] += 1
    for point in sorted(points):
        for work in works:
            at = ["start"]
            task = asyncio.create_task(work(at))
            async with asyncio.timeout(30):
                while not task.done():
                    if at[0] == point:
                        task.cancel()
                        break
                    await asyncio.sleep(0)
                await asyncio.wait([task])
            if task.cancelled() and at[0] == point:
                landed[point] += 1
                break
            if not task.cancelled() and task.exception() is not None:
                raise AssertionError(f"a task failed at {at[0]!r}") from task.exception()
    return landed


def test_a_thousand_tasks_cancelled_at_random_points_leak_nothing(db_url: str) -> None:
    dialect = dialect_of(db_url)
    with open_conn(sync_twin(db_url)) as conn:
        create_tables(conn)
        for i in range(SEED_ROWS):
            conn.exec(insert_member, (f"seed{i}@example.com", f"seed {i}"))
    pids: list[int] = []

    async def remember_backend(conn: AsyncConnection) -> None:
        if conn.dialect.name == "postgresql":
            pids.append(await conn.one(backend_pid))
        elif conn.dialect.name == "mariadb":
            pids.append(await conn.one(connection_id))

    async def body() -> None:
        rng = random.Random(12)
        async with new_pool(
            db_url, max_size=POOL_SIZE, timeout=20, configure=remember_backend
        ) as pool:
            repo = AsyncRepo(pool)
            started = time.monotonic()
            works = [functools.partial(kind, pool, repo, SHORT[dialect]) for kind in KINDS]
            landed = await cancel_at_random(works, rng)
            landed.update(await cancel_at_each(works, (POINTS | {"finished"}) - set(landed)))
            took = time.monotonic() - started
            busy = await server_side_leftovers(db_url, pids) if pids else []
            stats = pool.stats()
            assert (stats.in_use, stats.waiting) == (0, 0), stats
            assert stats.available == stats.total <= POOL_SIZE, stats
            # Every transaction block ended its own transaction, even cancelled:
            # none came back for the pool to roll back.
            assert stats.returns_bad == 0, stats
            # Every connection the pool keeps is out of any transaction and answers.
            held = [await pool.acquire(timeout=5) for _ in range(stats.total)]
            try:
                assert [c.in_transaction for c in held] == [False] * len(held)
                assert [await c.one(SELECT_ONE) for c in held] == [1] * len(held)
            finally:
                for c in held:
                    await pool.release(c)
            print(
                f"\n{dialect}: {TASKS} tasks in {took:.2f}s; where they ended: "
                f"{dict(sorted(landed.items()))}; pool: created={stats.created} "
                f"discarded={stats.discarded} returns_bad={stats.returns_bad}; "
                f"backends busy 2 s later: {len(busy)} of {len(pids)}"
            )
            assert busy == [], "statements or transactions left on the server"
            missed = POINTS - set(landed)
            assert not missed, f"no cancellation landed at {missed}: {landed}"
            assert any(point.startswith("timeout") for point in landed)
            assert landed["finished"] > 0
            # The tasks' rolled-back inserts are gone; the seed rows remain.
            assert await repo.aggregate(query(Member).where(Member.name == "seed 0"), "count") == 1

    run(body())


async def server_side_leftovers(url: str, pids: list[int]) -> list[int]:
    """The pool's backends (threads) still running a statement or in a transaction after 2 s."""
    async with await connect_async(
        url, connect_timeout=CONNECT_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT
    ) as observer:

        async def busy_now() -> list[int]:
            if observer.dialect.name == "mariadb":
                return sorted(set(await observer.all(busy_threads)) & set(pids))
            return await observer.all(busy_backends, pids)

        deadline = time.monotonic() + 2.0
        while (busy := await busy_now()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return busy


def run(body: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(BOUND):
            await body

    asyncio.run(bounded())


def test_asyncio_timeout_around_a_query_stops_it_and_returns_the_connection_clean(
    db_url: str,
) -> None:
    dialect = dialect_of(db_url)
    pids: list[int] = []

    async def remember_backend(conn: AsyncConnection) -> None:
        if conn.dialect.name == "postgresql":
            pids.append(await conn.one(backend_pid))
        elif conn.dialect.name == "mariadb":
            pids.append(await conn.one(connection_id))

    async def body() -> None:
        async with new_pool(db_url, max_size=1, configure=remember_backend) as pool:
            repo = AsyncRepo(pool)

            async def slow(inside_a_transaction: bool) -> None:
                async with asyncio.timeout(0.3):
                    if inside_a_transaction:
                        async with pool.connection() as conn, conn.transaction():
                            await conn.exec(Request.exec(SLOW[dialect]))
                    else:
                        await repo.exec(Request.exec(SLOW[dialect]))

            for inside_a_transaction in (False, True):
                started = time.monotonic()
                with pytest.raises(TimeoutError):
                    await slow(inside_a_transaction)
                # Stopped at the timeout, not when the 5 s statement ends.
                assert time.monotonic() - started < 3.0
                stats = pool.stats()
                assert (stats.in_use, stats.available) == (0, stats.total), stats
                if pids:
                    assert await server_side_leftovers(db_url, pids) == []
                async with pool.connection(timeout=5) as conn:
                    assert not conn.in_transaction
                    assert await conn.one(SELECT_ONE) == 1

    run(body())


def test_asyncio_timeout_around_a_waiting_checkout_leaks_nothing(db_url: str) -> None:
    async def body() -> None:
        async with new_pool(db_url, max_size=1) as pool:
            held = await pool.acquire()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await pool.acquire(timeout=10)
            stats = pool.stats()
            assert (stats.waiting, stats.in_use, stats.timeouts) == (0, 1, 0), stats
            await pool.release(held)
            stats = pool.stats()
            assert (stats.waiting, stats.in_use, stats.available) == (0, 0, 1), stats
            async with pool.connection(timeout=1) as conn:
                assert await conn.one(SELECT_ONE) == 1

    run(body())
