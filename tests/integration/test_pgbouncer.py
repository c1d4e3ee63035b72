"""repodb through a real PgBouncer in ``pool_mode = transaction`` (``scripts/pgbouncer``).

The PgBouncer that ``scripts/test`` starts has PgBouncer's default settings
otherwise; it may give each transaction, and each statement outside one, a
different server connection. Covered, on the sync and the async driver:
a URL without ``pooler=transaction`` is refused with a message naming it,
and an unknown mode is a ValueError; the same request from 8 threads, past the
preparing threshold, never meets a prepared statement of another client (the
error that made this option necessary); ``timestamptz`` comes back in UTC
while the session's TimeZone is another; the statement timeout cancels a
statement outside and inside a transaction, follows ``set_statement_timeout``,
and never leaks into another client's session; a stream outside a
transaction reads every row while other clients take the server connections
in between (it runs in a transaction of its own), and inside one as usual;
``execute_many``, ``copy_in`` and ``insert_all`` write;
the Repo on a pool and the CQRS router (primary and replica both through
PgBouncer) read and write; migrations, which hold a session advisory lock,
refuse a pooler URL. The mixed load (16 threads and 16 tasks of gets,
inserts, transactions, streams and lists) is ``benchmarks/bench_pgbouncer.py``,
run by ``tests/test_benchmarks.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import repodb
from repodb import AsyncPool, AsyncRepo, Repo, Request, StatementTimeout
from repodb.cqrs import Cqrs, CqrsConfig
from repodb.migration import Migrator
from repodb.pool import Pool
from repodb.query import query
from repodb.schema import Col, Schema, field
from repodb.types import tup
from tests.conftest import (
    CONNECT_TIMEOUT,
    PGBOUNCER_URL,
    open_conn,
    pg_url,
    pgbouncer_replica_urls,
    pgbouncer_url,
    require,
)

BOUND = 30.0
STATEMENT = 30.0
ROWS = 1000
CHATHAM = dt.timezone(dt.timedelta(hours=12, minutes=45))


class PgbItem(Schema, table="pgbouncer_items"):
    id: Col[int | None] = field(primary_key=True, default=None)
    label: Col[str]
    at: Col[dt.datetime]


count_items = Request.one("SELECT count(*) FROM pgbouncer_items", row=int)
every_id = Request.many("SELECT id FROM pgbouncer_items ORDER BY id", row=int)
sleep = Request.exec("SELECT pg_sleep($1)", params=float)
session_timeout = Request.one("SELECT current_setting('statement_timeout')", row=str)
as_timestamptz = Request.one("SELECT $1::timestamptz", params=dt.datetime, row=dt.datetime)
as_text = Request.one("SELECT $1::timestamptz::text", params=dt.datetime, row=str)
chatham_zone = Request.exec("SET LOCAL TimeZone = 'Pacific/Chatham'")


@pytest.fixture
def items() -> Iterator[None]:
    """``pgbouncer_items`` with ``ROWS`` rows, made and dropped on the primary directly."""
    with open_conn(pg_url()) as admin:
        admin.exec(Request.exec("DROP TABLE IF EXISTS pgbouncer_items"))
        admin.exec(
            Request.exec(
                "CREATE TABLE pgbouncer_items (id bigserial PRIMARY KEY, label text NOT NULL,"
                " at timestamptz NOT NULL DEFAULT now())"
            )
        )
        admin.exec(
            Request.exec(
                "INSERT INTO pgbouncer_items (label) SELECT 'seed ' || g"
                f" FROM generate_series(1, {ROWS}) g"
            )
        )
    try:
        yield
    finally:
        with open_conn(pg_url()) as admin:
            admin.exec(Request.exec("DROP TABLE pgbouncer_items"))


def bouncer(statement_timeout: float | None = None) -> repodb.Connection:
    return repodb.connect(
        pgbouncer_url(), connect_timeout=CONNECT_TIMEOUT, statement_timeout=statement_timeout
    )


def test_a_url_without_the_option_is_refused_with_a_message_naming_it() -> None:
    require(PGBOUNCER_URL, "REPODB_TEST_PGBOUNCER_URL")
    with pytest.raises(repodb.ConnectError, match="unsupported startup parameter") as caught:
        repodb.connect(PGBOUNCER_URL, connect_timeout=CONNECT_TIMEOUT)
    assert "add pooler=transaction to the URL" in str(caught.value)


def test_an_unknown_pooler_mode_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="the one mode is pooler=transaction"):
        repodb.connect("postgresql://postgres@127.0.0.1:1/x?pooler=session")


def test_the_same_request_from_threads_never_meets_a_prepared_statement() -> None:
    # Before pooler=transaction: "prepared statement _pg3_0 does not exist"
    # (or "already exists") once a request had run five times.
    lookup = Request.one("SELECT $1::int + 1", params=int, row=int)

    def reader() -> None:
        with bouncer(STATEMENT) as conn:
            for n in range(40):
                assert conn.one(lookup, n) == n + 1

    with ThreadPoolExecutor(8) as threads:
        for done in [threads.submit(reader) for _ in range(8)]:
            done.result(BOUND)


def test_timestamptz_comes_back_in_utc_whatever_the_session_time_zone() -> None:
    when = dt.datetime(2026, 7, 1, 23, 30, 15, 123456, tzinfo=dt.UTC)
    with bouncer() as conn, conn.transaction():
        conn.exec(chatham_zone)
        got = conn.one(as_timestamptz, when.astimezone(CHATHAM))
        shown = conn.one(as_text, when)
    assert got == when
    assert got.tzinfo is dt.UTC
    assert shown.endswith("+12:45")  # the session really was in Chatham's time zone


def test_the_statement_timeout_cancels_in_and_out_of_transactions_and_never_leaks() -> None:
    with bouncer(0.2) as timed, bouncer() as other:
        with pytest.raises(StatementTimeout):
            timed.exec(sleep, 3.0)
        with pytest.raises(StatementTimeout), timed.transaction():
            timed.exec(sleep, 3.0)
        assert timed.one(session_timeout) == "200ms"
        with timed.transaction():
            assert timed.one(session_timeout) == "200ms"
        # PgBouncer hands the server connection just used to the next client:
        # a session-level SET would show here.
        for _ in range(20):
            assert other.one(session_timeout) == "0"
        timed.set_statement_timeout(None)
        timed.exec(sleep, 0.3)
        with timed.transaction() as tx:
            timed.set_statement_timeout(0.2)
            with pytest.raises(StatementTimeout):
                timed.exec(sleep, 3.0)
            tx.rollback()
        with pytest.raises(StatementTimeout):
            timed.exec(sleep, 3.0)


@pytest.mark.usefixtures("items")
def test_a_stream_outside_a_transaction_reads_every_row_while_others_take_turns() -> None:
    with bouncer(STATEMENT) as conn, bouncer(STATEMENT) as other:
        seen: list[int] = []
        with conn.stream(every_id, batch_size=50) as ids:
            for n, row_id in enumerate(ids):
                seen.append(row_id)
                assert conn.in_transaction  # the stream's own
                if n % 50 == 0:
                    # Another client between two FETCHes: a WITH HOLD cursor
                    # would be on a server connection this one may now hold.
                    with other.transaction():
                        assert other.one(count_items) == ROWS
        assert seen == list(range(1, ROWS + 1))
        assert not conn.in_transaction
        with conn.transaction(), conn.stream(every_id, batch_size=100) as ids:
            assert sum(1 for _ in ids) == ROWS


@pytest.mark.usefixtures("items")
def test_the_repo_on_a_pool_reads_writes_and_streams() -> None:
    with Pool(pgbouncer_url(), max_size=4, statement_timeout=STATEMENT) as pool:
        repo = Repo(pool)
        at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=CHATHAM)
        made = repo.insert(PgbItem(label="new", at=at))
        assert repo.get(PgbItem, made.id) == made
        assert made.at == at
        with repo.transaction() as tx:
            tx.insert(PgbItem(label="in tx", at=at))
        with repo.stream(query(PgbItem).order_by(PgbItem.id), batch_size=100) as rows:
            labels = [r.label for r in rows]
        assert labels[-2:] == ["new", "in tx"]
        assert len(labels) == ROWS + 2
        assert pool.stats().in_use == 0


@pytest.mark.usefixtures("items")
def test_bulk_writes_run_through_pgbouncer() -> None:
    add = Request.exec("INSERT INTO pgbouncer_items (label) VALUES ($1)", params=str)
    with bouncer(STATEMENT) as conn:
        assert conn.execute_many(add, [f"many {n}" for n in range(50)]) == 50
        conn.copy_in("pgbouncer_items", ["label"], tup(str), [(f"copy {n}",) for n in range(50)])
        Repo(conn).insert_all(PgbItem, [{"label": "all", "at": dt.datetime.now(dt.UTC)}] * 50)
        assert conn.one(count_items) == ROWS + 150


@pytest.mark.usefixtures("items")
def test_the_router_uses_a_replica_through_pgbouncer() -> None:
    config = CqrsConfig(
        primary_conninfo=pgbouncer_url(),
        replica_conninfos=pgbouncer_replica_urls()[:1],
        statement_timeout=STATEMENT,
    )
    with Cqrs.create(config) as cqrs:
        repo = Repo(cqrs)
        made = repo.insert(PgbItem(label="routed", at=dt.datetime.now(dt.UTC)))
        with cqrs.session() as session:
            assert Repo(session).get(PgbItem, made.id) == made
        deadline = time.monotonic() + BOUND
        while cqrs.with_read(lambda conn: conn.one(count_items)) != ROWS + 1:
            assert time.monotonic() < deadline, "the replica never replayed the insert"
            time.sleep(0.05)
        with cqrs.read() as conn:
            assert conn.label == "replica 1"


def test_migrations_refuse_a_pooler_url(tmp_path: Path) -> None:
    with (
        Migrator(pgbouncer_url(), tmp_path) as migrator,
        pytest.raises(repodb.migration.MigrationError, match="direct URL"),
    ):
        migrator.migrate()


# -- the async driver ------------------------------------------------------------------


@pytest.mark.usefixtures("items")
def test_async_timeouts_utc_and_streams_through_pgbouncer() -> None:
    async def body() -> None:
        url = pgbouncer_url()
        async with await repodb.connect_async(url, statement_timeout=0.2) as conn:
            with pytest.raises(StatementTimeout):
                await conn.exec(sleep, 3.0)
            with pytest.raises(StatementTimeout):
                async with conn.transaction():
                    await conn.exec(sleep, 3.0)
            when = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
            async with conn.transaction():
                await conn.exec(chatham_zone)
                got = await conn.one(as_timestamptz, when)
            assert got == when
            assert got.tzinfo is dt.UTC
            async with conn.stream(every_id, batch_size=64) as ids:
                seen = [i async for i in ids]
            assert seen == list(range(1, ROWS + 1))
            assert not conn.in_transaction

    asyncio.run(asyncio.wait_for(body(), BOUND))


@pytest.mark.usefixtures("items")
def test_async_tasks_on_a_pool_share_pgbouncer_without_errors() -> None:
    lookup = Request.one("SELECT label FROM pgbouncer_items WHERE id = $1", params=int, row=str)

    async def task(repo: AsyncRepo, n: int) -> None:
        for i in range(20):
            key = (n * 37 + i) % ROWS + 1
            assert await repo.one(lookup, key) == f"seed {key}"
            async with repo.transaction() as tx:
                await tx.insert(PgbItem(label=f"task {n}", at=dt.datetime.now(dt.UTC)))
            async with repo.stream(query(PgbItem).where(PgbItem.id <= 60), batch_size=25) as rows:
                assert len([r async for r in rows]) == 60

    async def body() -> None:
        async with AsyncPool(pgbouncer_url(), max_size=8, statement_timeout=STATEMENT) as pool:
            await asyncio.gather(*(task(AsyncRepo(pool), n) for n in range(16)))
            assert pool.stats().in_use == 0

    asyncio.run(asyncio.wait_for(body(), BOUND * 2))
    with open_conn(pg_url()) as admin:
        assert admin.one(count_items) == ROWS + 16 * 20
