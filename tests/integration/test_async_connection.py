"""The asyncio connection, end to end, on every database.

Mirrors ``test_connect``, ``test_requests``, ``test_transactions`` and
``test_bulk_and_timeouts`` for ``AsyncConnection``. Each test is a plain
function running ``asyncio.run(body())`` (no pytest plugin), every wait on a
server bounded by ``asyncio.timeout``.

Covered on every database: ``connect_async`` opens the same addresses as
``connect`` (a SQLite file and ``:memory:``, a PostgreSQL URL and libpq
conninfo); an unknown scheme is a ValueError, an address that is not a str a
TypeError, a closed port or an unopenable file a quick ConnectError;
``exec``/``one``/``one_or_none``/``all`` with typed parameters and rows
(int, str, Decimal, UUID, aware datetime, JSON, optional) and their row-count
errors (NotFound, MultipleResults); a UniqueViolation naming its table and
column; ``async for`` over ``stream`` (also in ``async with``), ``fold``;
transactions (commit seen by another connection, rollback on an exception
that propagates, ``raise Rollback()`` quietly, nested savepoints keeping
the outer work, ``tx.rollback()`` from an inner block), ``run_transaction``
(commits and returns, a Rollback is quiet and not retried, other errors are
not retried, refused inside a transaction, ``attempts`` checked);
``execute_many`` and ``copy_in`` (typed, atomic); a statement timeout
cancels a slow statement with StatementTimeout and leaves the connection
usable; ``ping``; ``async with`` closes, closing twice is harmless and every
use of a closed connection raises a repodb Error; the event loop keeps
running while a slow statement runs (a task ticking every 10 ms is never
woken 50 ms late); a task cancelled anywhere from before BEGIN to after
COMMIT leaves no transaction open. On PostgreSQL: streams are server-side
cursors gone after their block, even when a cancellation lands anywhere
from DECLARE to CLOSE; the server itself cancelled a timed-out statement
(``pg_stat_activity``); ``run_transaction`` retries a real serialization
failure; cancelling a task running ``pg_sleep(10)`` returns promptly and
leaves no statement of ours running on the server, outside and inside a
transaction (rolled back), the connection usable; a statement cancelled
twice (the second time while the first cancel request is on its way) is
cancelled on the server all the same, on psycopg and asyncpg. On SQLite: a
connect cancelled while its thread opens the file has that thread close what
it opened, even once ``asyncio.run`` has closed the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

import repodb
from repodb import AsyncConnection, IsolationLevel, Request, connect_async
from repodb.driver.postgresql_async import AsyncPostgresConnection
from repodb.request import One
from repodb.types import optional, tup
from tests.conftest import (
    CONNECT_TIMEOUT,
    STATEMENT_TIMEOUT,
    assert_loop_ran,
    fresh_schema_url,
    held_open,
    pg_url,
    through_asyncpg,
    ticker,
    write_locked,
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


# Every test body is bounded by this, well under pytest-timeout's 120 s.
BOUND = 30.0


async def aopen(url: str) -> AsyncConnection:
    return await connect_async(
        url, connect_timeout=CONNECT_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT
    )


def is_pg(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def is_mariadb(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "mariadb"


async def create_items(conn: AsyncConnection) -> None:
    """A table of uniquely named items, numbered in insertion order."""
    if is_pg(conn):
        ddl = (
            "CREATE TABLE items (id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " name TEXT NOT NULL UNIQUE)"
        )
    elif is_mariadb(conn):
        ddl = (
            "CREATE TABLE items (id INTEGER AUTO_INCREMENT PRIMARY KEY,"
            " name VARCHAR(200) NOT NULL UNIQUE)"
        )
    else:
        ddl = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"
    await conn.exec(Request.exec(ddl))


insert_item = Request.exec("INSERT INTO items (name) VALUES (?)", params=str)
item_names = Request.many("SELECT name FROM items ORDER BY id", row=str)
select_one = Request.one("SELECT 1", row=int)


async def names(conn: AsyncConnection) -> list[str]:
    return await conn.all(item_names)


# Connecting ----------------------------------------------------------------------


async def works(conn: AsyncConnection) -> None:
    await conn.exec(Request.exec("CREATE TABLE probe (n INTEGER)"))
    await conn.exec(Request.exec("INSERT INTO probe (n) VALUES (?)", params=int), 7)
    assert await conn.one(Request.one("SELECT n FROM probe", row=int)) == 7
    await conn.ping()


def test_connect_async_opens_every_address_form(tmp_path: Path) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND):
            url = f"sqlite:///{tmp_path / 'file.db'}"
            async with await aopen(url) as conn:
                await works(conn)
                assert repr(conn) == f"<repodb.AsyncConnection {url} open>"
                assert conn.dialect.name == "sqlite"
            assert (tmp_path / "file.db").is_file()
            async with await aopen("sqlite::memory:") as memory:
                await works(memory)

    asyncio.run(body())


def test_connect_async_postgresql_url_and_conninfo(pg_schema_url: str) -> None:
    parts = urlsplit(pg_url())
    fields = {
        "host": parts.hostname,
        "port": parts.port,
        "user": parts.username,
        "password": parts.password,
        "dbname": parts.path.lstrip("/") or None,
    }
    conninfo = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)

    async def body() -> None:
        async with asyncio.timeout(BOUND):
            async with await aopen(pg_schema_url) as conn:
                await works(conn)
                assert conn.dialect.name == "postgresql"
            async with await aopen(conninfo) as info:
                who = Request.one("SELECT current_user, current_database()", row=tup(str, str))
                user, database = await info.one(who)
                assert user == (parts.username or user)
                assert database == (fields["dbname"] or database)
                assert await info.one(Request.one("SHOW TimeZone", row=str)) == "UTC"
                await info.ping()

    asyncio.run(body())


def test_connect_async_bad_addresses(tmp_path: Path) -> None:
    async def refused(address: str) -> repodb.ConnectError:
        started = time.monotonic()
        with pytest.raises(repodb.ConnectError) as info:
            await connect_async(address, connect_timeout=CONNECT_TIMEOUT)
        assert time.monotonic() - started < CONNECT_TIMEOUT
        assert (info.value.__cause__, info.value.__context__) == (None, None)
        return info.value

    async def body() -> None:
        async with asyncio.timeout(BOUND):
            with pytest.raises(ValueError, match="not a database URL"):
                await connect_async("nosuch://app:secret@localhost/app")
            not_a_str: Any = b"sqlite::memory:"
            with pytest.raises(TypeError, match=r"a database URL must be a str .* not "):
                await connect_async(not_a_str)
            error = await refused("postgresql://app:secret@127.0.0.1:1/app")
            assert "app:***@127.0.0.1:1" in str(error)
            assert "secret" not in str(error)
            error = await refused("mariadb://app:secret@127.0.0.1:1/app")
            assert "app:***@127.0.0.1:1" in str(error)
            assert "secret" not in str(error)
            await refused(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")

    asyncio.run(body())


# Typed requests -------------------------------------------------------------------


class Payment(NamedTuple):
    id: int
    payer: str
    amount: Decimal
    key: uuid.UUID
    at: dt.datetime
    doc: dict[str, object]
    note: str | None


PAYMENTS = [
    Payment(
        1,
        "Ada",
        Decimal("12.50"),
        uuid.UUID(int=1),
        dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        {"tags": ["a", "b"], "n": 1, "ok": True},
        "first",
    ),
    Payment(
        2,
        "Grace",
        Decimal("0.01"),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        dt.datetime(2024, 6, 30, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
        {"nested": {"list": [1, 2.5, None]}},
        None,
    ),
    Payment(
        3,
        "Edsger",
        Decimal("-1000000.123456"),
        uuid.UUID(int=2**128 - 1),
        dt.datetime(1999, 12, 31, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        {},
        "naïve ☃",
    ),
]

PAYMENT_COLUMNS = ["id", "payer", "amount", "key", "at", "doc", "note"]
insert_payment = Request.exec(
    'INSERT INTO payments (id, payer, amount, "key", at, doc, note) VALUES (?, ?, ?, ?, ?, ?, ?)',
    params=Payment,
)
all_payments = Request.many(
    'SELECT id, payer, amount, "key", at, doc, note FROM payments ORDER BY id', row=Payment
)
payer_by_id = Request.one("SELECT payer FROM payments WHERE id = ?", params=int, row=str)
maybe_note = Request.one_or_none(
    "SELECT note FROM payments WHERE id = ?", params=int, row=optional(str)
)
payers_from = Request.many(
    "SELECT payer FROM payments WHERE id >= ? ORDER BY id", params=int, row=str
)
payers_as_one = Request.one("SELECT payer FROM payments ORDER BY id", row=str)
by_key = Request.one(
    'SELECT id, at, amount FROM payments WHERE "key" = ?',
    params=uuid.UUID,
    row=tup(int, dt.datetime, Decimal),
)


async def create_payments(conn: AsyncConnection) -> None:
    if is_pg(conn):
        types = "text NOT NULL, numeric NOT NULL, uuid NOT NULL, timestamptz NOT NULL,"
        types += " jsonb NOT NULL, text"
    elif is_mariadb(conn):
        types = "TEXT NOT NULL, DECIMAL(20,6) NOT NULL, CHAR(36) NOT NULL, DATETIME(6) NOT NULL,"
        types += " JSON NOT NULL, TEXT"
    else:
        types = "TEXT NOT NULL, TEXT NOT NULL, TEXT NOT NULL, TEXT NOT NULL, TEXT NOT NULL, TEXT"
    columns = ", ".join(
        f'"{name}" {kind}'
        for name, kind in zip(PAYMENT_COLUMNS[1:], types.split(", "), strict=True)
    )
    await conn.exec(Request.exec(f"CREATE TABLE payments (id INTEGER PRIMARY KEY, {columns})"))


def test_typed_requests_and_row_counts(db_url: str) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND), await aopen(db_url) as conn:
            await create_payments(conn)
            for payment in PAYMENTS:
                assert await conn.exec(insert_payment, payment) == 1
            assert await conn.all(all_payments) == PAYMENTS
            assert await conn.one(payer_by_id, 2) == "Grace"
            key, at, amount = PAYMENTS[1].key, PAYMENTS[1].at, PAYMENTS[1].amount
            found = await conn.one(by_key, key)
            assert found == (2, at, amount)
            assert found[1].utcoffset() is not None  # aware, the same instant
            assert type(found[2]) is Decimal
            assert await conn.one_or_none(maybe_note, 1) == "first"
            assert await conn.one_or_none(maybe_note, 2) is None  # a NULL row
            assert await conn.one_or_none(maybe_note, 99) is None  # no row
            assert await conn.all(payers_from, 2) == ["Grace", "Edsger"]
            assert await conn.all(payers_from, 99) == []
            with pytest.raises(repodb.NotFound) as missing:
                await conn.one(payer_by_id, 99)
            assert missing.value.sql is not None
            assert missing.value.sql.startswith("SELECT payer FROM payments WHERE id = ")
            with pytest.raises(repodb.MultipleResults) as many:
                await conn.one(payers_as_one)
            assert "3" in str(many.value)
            with pytest.raises(repodb.MultipleResults):
                await conn.one_or_none(Request.one_or_none("SELECT payer FROM payments", row=str))
            with pytest.raises(TypeError):
                await conn.one(payers_from, 1)  # type: ignore[arg-type]
            # A NULL in a non-optional column is a DecodeError.
            with pytest.raises(repodb.DecodeError):
                await conn.all(Request.many("SELECT note FROM payments", row=str))
            bump = Request.exec("UPDATE payments SET note = ? WHERE id > ?", params=tup(str, int))
            assert await conn.exec(bump, ("later", 1)) == 2
            with pytest.raises(repodb.EncodeError):
                await conn.exec(insert_payment, PAYMENTS[0]._replace(key="not a uuid"))  # type: ignore[arg-type]

    asyncio.run(body())


def test_unique_violation_names_table_and_column(db_url: str) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND), await aopen(db_url) as conn:
            await create_items(conn)
            await conn.exec(insert_item, "a")
            with pytest.raises(repodb.UniqueViolation) as info:
                await conn.exec(insert_item, "a")
            error = info.value
            assert isinstance(error, repodb.IntegrityError)
            assert (error.table, error.columns, error.column) == ("items", ("name",), "name")
            assert error.sql is not None
            assert error.sql.startswith("INSERT INTO items")
            if is_pg(conn):
                assert error.sqlstate == "23505"
            assert not conn.in_transaction
            assert await names(conn) == ["a"]

    asyncio.run(body())


# Streams and folds ------------------------------------------------------------------


def test_stream_and_fold(db_url: str) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND), await aopen(db_url) as conn:
            await create_payments(conn)
            for payment in PAYMENTS:
                await conn.exec(insert_payment, payment)
            seen = [payer async for payer in conn.stream(payers_from, 1, batch_size=2)]
            assert seen == ["Ada", "Grace", "Edsger"]
            async with conn.stream(all_payments, batch_size=1) as rows:
                assert [p async for p in rows] == PAYMENTS
            # Other requests run while a stream is open.
            count = Request.one("SELECT count(*) FROM payments", row=int)
            pairs = []
            async with conn.stream(payers_from, 1, batch_size=1) as rows:
                async for payer in rows:
                    pairs.append((payer, await conn.one(count)))
            assert pairs == [("Ada", 3), ("Grace", 3), ("Edsger", 3)]
            ids = Request.many("SELECT id FROM payments", row=int)
            assert await conn.fold(ids, lambda acc, n: acc + n, 0) == 6
            start: list[str] = []
            assert await conn.fold(payers_from, lambda acc, p: [*acc, p], start, 3) == ["Edsger"]
            # A bad statement fails when iterated, and the connection carries on.
            bad = Request.many("SELECT nope FROM payments", row=int)
            with pytest.raises(repodb.ProgrammingError):
                async with conn.stream(bad) as rows:
                    await anext(rows)
            assert not conn.in_transaction
            # A NULL in a non-optional column is a DecodeError mid-stream.
            notes = Request.many("SELECT note FROM payments ORDER BY id", row=str)
            with pytest.raises(repodb.DecodeError):
                async with conn.stream(notes) as rows:
                    _ = [n async for n in rows]
            await conn.ping()

    asyncio.run(body())


series = Request.many("SELECT generate_series(1, ?)", params=int, row=int)
open_cursors = Request.many(
    "SELECT name, is_holdable FROM pg_cursors WHERE name <> ''", row=tup(str, bool)
)


def test_postgresql_stream_is_a_server_cursor_released_by_its_block(pg_schema_url: str) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND), await aopen(pg_schema_url) as conn:
            async with conn.stream(series, 200_000, batch_size=100) as rows:
                first = [await anext(rows) for _ in range(10)]
                cursors = await conn.all(open_cursors)
                assert len(cursors) == 1
                assert cursors[0][1] is True  # WITH HOLD outside a transaction
            assert first == list(range(1, 11))
            assert await conn.all(open_cursors) == []
            assert not conn.in_transaction
            async with conn.transaction():
                # A billion rows: reading them all would run into the timeout.
                async with conn.stream(series, 10**9, batch_size=50) as rows:
                    first = [await anext(rows) for _ in range(5)]
                    cursors = await conn.all(open_cursors)
                    assert [holdable for _, holdable in cursors] == [False]
                assert await conn.all(open_cursors) == []
                assert conn.in_transaction
            assert first == [1, 2, 3, 4, 5]
            assert await conn.fold(series, lambda acc, n: acc + n, 0, 1000) == 500_500
            assert await conn.all(open_cursors) == []

    asyncio.run(body())


def test_postgresql_a_stream_cancelled_anywhere_leaves_no_cursor(pg_schema_url: str) -> None:
    # Regression: a cancellation landing while the stream's cursor was being
    # closed (at its end, or on leaving its block) left psycopg's cursor
    # object open, to be reported at garbage collection, and whether the
    # server had closed the WITH HOLD cursor was unknown. Cancellations here
    # land from DECLARE to CLOSE; after each, the connection holds no cursor,
    # or was closed (a pool would discard it).
    async def read_all(conn: AsyncConnection) -> None:
        async with conn.stream(series, 3, batch_size=2) as rows:
            async for _ in rows:
                pass

    async def body() -> None:
        conn = await aopen(pg_schema_url)
        closed = 0
        try:
            async with asyncio.timeout(BOUND):
                for i in range(80):
                    task = asyncio.create_task(read_all(conn))
                    for _ in range(i % 20):
                        await asyncio.sleep(0)
                    if i >= 20:
                        await asyncio.sleep((i - 20) * 0.0001)
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    if conn.closed:
                        closed += 1
                        conn = await aopen(pg_schema_url)
                        continue
                    assert not conn.in_transaction
                    assert await conn.all(open_cursors) == [], f"round {i}"
                del task
                gc.collect()  # a cursor object left open would warn now, failing the test
        finally:
            await conn.close()
        print(f"\nstreams cancelled anywhere: {closed} of 80 connections closed")

    asyncio.run(body())


# Transactions -----------------------------------------------------------------------


def test_transaction_commit_rollback_and_savepoints(db_url: str) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND), await aopen(db_url) as conn:
            await create_items(conn)
            assert not conn.in_transaction
            async with conn.transaction() as tx:
                assert tx.connection is conn
                assert conn.in_transaction
                await conn.exec(insert_item, "a")
                await conn.exec(insert_item, "b")
            assert not conn.in_transaction
            async with await aopen(db_url) as other:
                assert await names(other) == ["a", "b"]

            # An exception rolls back and propagates.
            async def insert_then_fail() -> None:
                async with conn.transaction():
                    await conn.exec(insert_item, "c")
                    _ = 1 / 0

            with pytest.raises(ZeroDivisionError):
                await insert_then_fail()
            assert not conn.in_transaction
            assert await names(conn) == ["a", "b"]

            # raise Rollback() rolls back quietly.
            async with conn.transaction():
                await conn.exec(insert_item, "d")
                raise repodb.Rollback()
            assert not conn.in_transaction
            assert await names(conn) == ["a", "b"]

            # Nested blocks are savepoints.
            async def inner_fails() -> None:
                async with conn.transaction():
                    await conn.exec(insert_item, "4")
                    raise KeyError("inner")

            async def inner_duplicate() -> None:
                async with conn.transaction():
                    await conn.exec(insert_item, "5")
                    await conn.exec(insert_item, "1")

            async with conn.transaction():
                await conn.exec(insert_item, "1")
                async with conn.transaction():
                    await conn.exec(insert_item, "2")
                    async with conn.transaction():
                        await conn.exec(insert_item, "3")
                        raise repodb.Rollback()
                    with pytest.raises(KeyError):
                        await inner_fails()
                    # A database error in a savepoint keeps the outer work
                    # (PostgreSQL aborts the transaction unless rolled back to it).
                    with pytest.raises(repodb.UniqueViolation):
                        await inner_duplicate()
                    await conn.exec(insert_item, "6")
                await conn.exec(insert_item, "7")
            assert await names(conn) == ["a", "b", "1", "2", "6", "7"]

            # tx.rollback() from an inner block ends both.
            after_inner = False
            async with conn.transaction() as outer:
                await conn.exec(insert_item, "outer")
                async with conn.transaction():
                    await conn.exec(insert_item, "inner")
                    outer.rollback()
                after_inner = True  # pragma: no cover - the rollback leaves the outer block
            assert not after_inner
            assert not conn.in_transaction
            assert await names(conn) == ["a", "b", "1", "2", "6", "7"]

            # A caught error aborts the transaction; leaving it rolls back loudly.
            async def fail_then_carry_on() -> None:
                async with conn.transaction():
                    await conn.exec(insert_item, "x")
                    with pytest.raises(repodb.UniqueViolation):
                        await conn.exec(insert_item, "a")
                    with pytest.raises(repodb.InFailedTransaction):
                        await conn.exec(insert_item, "y")

            with pytest.raises(repodb.InFailedTransaction) as info:
                await fail_then_carry_on()
            assert (info.value.sqlstate, info.value.sql) == ("25P02", "COMMIT")
            assert not conn.in_transaction
            assert "x" not in await names(conn)
            async with conn.transaction(isolation=IsolationLevel.SERIALIZABLE):
                await conn.exec(insert_item, "serializable")
            assert (await names(conn))[-1] == "serializable"

    asyncio.run(body())


def test_run_transaction(db_url: str) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND), await aopen(db_url) as conn:
            await create_items(conn)
            calls = 0

            async def commits(c: AsyncConnection) -> int:
                assert c is conn
                assert c.in_transaction
                await c.exec(insert_item, "a")
                return len(await names(c))

            assert await conn.run_transaction(commits) == 1
            assert not conn.in_transaction
            async with await aopen(db_url) as other:
                assert await names(other) == ["a"]

            async def rolls_back(c: AsyncConnection) -> int:
                nonlocal calls
                calls += 1
                await c.exec(insert_item, "b")
                raise repodb.Rollback()

            assert await conn.run_transaction(rolls_back, attempts=3) is None
            assert calls == 1
            assert await names(conn) == ["a"]

            async def fails(c: AsyncConnection) -> None:
                nonlocal calls
                calls += 1
                await c.exec(insert_item, "c")
                await c.exec(insert_item, "c")

            calls = 0
            with pytest.raises(repodb.UniqueViolation):
                await conn.run_transaction(fails, attempts=3)
            assert calls == 1  # only serialization failures and deadlocks are retried
            assert await names(conn) == ["a"]
            with pytest.raises(ValueError, match="attempts"):
                await conn.run_transaction(commits, attempts=0)
            async with conn.transaction():
                with pytest.raises(RuntimeError):
                    await conn.run_transaction(commits)
            assert await names(conn) == ["a"]
            assert not conn.in_transaction

    asyncio.run(body())


def test_postgresql_run_transaction_retries_a_serialization_failure(pg_schema_url: str) -> None:
    get_counter = Request.one("SELECT n FROM counters WHERE id = 1", row=int)
    set_counter = Request.exec("UPDATE counters SET n = ? WHERE id = 1", params=int)
    bump_counter = Request.exec("UPDATE counters SET n = n + 1 WHERE id = 1")

    async def body() -> None:
        async with (
            asyncio.timeout(BOUND),
            await aopen(pg_schema_url) as a,
            await aopen(pg_schema_url) as b,
        ):
            await a.exec(
                Request.exec("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
            )
            await a.exec(Request.exec("INSERT INTO counters VALUES (1, 0)"))
            calls = 0

            async def work(conn: AsyncConnection) -> int:
                nonlocal calls
                calls += 1
                seen = await conn.one(get_counter)  # the snapshot is taken here
                if calls == 1:
                    await b.exec(bump_counter)  # another client commits a change to the row
                await conn.exec(set_counter, seen + 10)  # 40001 on the first attempt
                return seen

            seen = await a.run_transaction(
                work, isolation=IsolationLevel.REPEATABLE_READ, base_delay=0.001
            )
            assert calls == 2
            assert seen == 1
            assert await a.one(get_counter) == 11

            async def always_conflicts(conn: AsyncConnection) -> None:
                nonlocal calls
                calls += 1
                seen = await conn.one(get_counter)
                await b.exec(bump_counter)
                await conn.exec(set_counter, seen + 100)

            calls = 0
            with pytest.raises(repodb.SerializationFailure) as info:
                await a.run_transaction(
                    always_conflicts,
                    attempts=3,
                    isolation=IsolationLevel.SERIALIZABLE,
                    base_delay=0.001,
                )
            assert info.value.sqlstate == "40001"
            assert calls == 3
            assert not a.in_transaction
            assert await a.one(get_counter) == 14

    asyncio.run(body())


# Bulk ---------------------------------------------------------------------------------


def make_payments(count: int) -> list[Payment]:
    return [
        Payment(
            id=i,
            payer=["plain", "tab\there", "new\nline", "back\\slash", "\\N", ""][i % 6],
            amount=Decimal(i) / 100,
            key=uuid.UUID(int=i),
            at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i, microseconds=i),
            doc={"n": i, "even": i % 2 == 0},
            note=None if i % 5 == 0 else f"note {i}",
        )
        for i in range(1, count + 1)
    ]


count_payments = Request.one("SELECT count(*) FROM payments", row=int)


def test_execute_many_and_copy_in(db_url: str) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND), await aopen(db_url) as conn:
            await create_payments(conn)
            rows = make_payments(1200)
            assert await conn.copy_in("payments", PAYMENT_COLUMNS, Payment, rows[:700]) == 700
            assert not conn.in_transaction
            # asyncpg runs the batch as one pipeline and does not report its row count.
            count = -1 if db_url.startswith("postgresql+asyncpg:") else 500
            assert await conn.execute_many(insert_payment, rows[700:]) == count
            assert not conn.in_transaction
            assert await conn.all(all_payments) == rows

            # Atomic: a duplicate mid-way writes nothing.
            extra = make_payments(1300)[1200:]
            with pytest.raises(repodb.UniqueViolation):
                await conn.execute_many(insert_payment, [*extra[:50], rows[0], *extra[50:]])
            with pytest.raises(repodb.UniqueViolation):
                await conn.copy_in("payments", PAYMENT_COLUMNS, Payment, [*extra, rows[0]])
            assert not conn.in_transaction
            assert await conn.one(count_payments) == 1200

            # Inside a transaction only the load is undone.
            async with conn.transaction():
                await conn.exec(insert_payment, extra[0])
                with pytest.raises(repodb.UniqueViolation):
                    await conn.copy_in("payments", PAYMENT_COLUMNS, Payment, [extra[1], rows[1]])
            assert await conn.one(count_payments) == 1201

    asyncio.run(body())


# Timeouts, liveness and cancellation ---------------------------------------------------------

SLOW = {
    "postgresql": "SELECT pg_sleep(5)",
    "mariadb": "SELECT SLEEP(5)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000)"
    " SELECT count(*) FROM c",
}
# Generous: the limit is 0.2 s and the slow statement takes 5 s or more.
QUICKLY = 4.0
# Long enough for a loop stalled by it to show, short enough to finish.
SLOWISH = {
    "postgresql": "SELECT pg_sleep(0.8)",
    "mariadb": "SELECT SLEEP(0.8)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
    " SELECT count(*) FROM c",
}
SLEEP_10 = "SELECT pg_sleep(10)"

backend_pid = Request.one("SELECT pg_backend_pid()", row=int)
active_statements = Request.one(
    "SELECT count(*) FROM pg_stat_activity WHERE pid = ? AND state = 'active'",
    params=int,
    row=int,
)


async def run_slow(conn: AsyncConnection) -> float:
    """Run the slow statement, expecting a timeout; return how long it took."""
    started = time.monotonic()
    with pytest.raises(repodb.StatementTimeout) as info:
        await conn.exec(Request.exec(SLOW[conn.dialect.name]))
    elapsed = time.monotonic() - started
    assert info.value.sql == SLOW[conn.dialect.name]
    if is_pg(conn):
        assert info.value.sqlstate == "57014"
    elif is_mariadb(conn):
        assert info.value.code == "1969"  # max_statement_time
    else:
        assert info.value.code == "SQLITE_INTERRUPT"
    return elapsed


def test_statement_timeout_cancels_and_leaves_the_connection_usable(db_url: str) -> None:
    async def body() -> None:
        async with (
            asyncio.timeout(BOUND),
            await connect_async(
                db_url, statement_timeout=0.2, connect_timeout=CONNECT_TIMEOUT
            ) as conn,
        ):
            assert await run_slow(conn) < QUICKLY
            assert not conn.in_transaction
            await conn.ping()
            assert await conn.one(Request.one("SELECT 6 * 7", row=int)) == 42
            if is_pg(conn):
                pid = await conn.one(backend_pid)
                assert await run_slow(conn) < QUICKLY
                async with await aopen(db_url) as observer:
                    assert await observer.one(active_statements, pid) == 0
            await conn.set_statement_timeout(None)
            await conn.exec(Request.exec(SLOWISH[conn.dialect.name]))
            await conn.ping()

    asyncio.run(body())


def test_event_loop_keeps_running_during_a_slow_statement(db_url: str) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND), await aopen(db_url) as conn:
            stop = asyncio.Event()
            lags: list[float] = []
            ticking = asyncio.create_task(ticker(stop, lags))
            await asyncio.sleep(0.05)
            started = time.monotonic()
            try:
                await conn.exec(Request.exec(SLOWISH[conn.dialect.name]))
            finally:
                elapsed = time.monotonic() - started
                stop.set()
                await ticking
            assert elapsed > 0.3, "the statement was too quick to tell"
            assert_loop_ran(lags, elapsed, f"a {conn.dialect.name} statement")

    asyncio.run(body())


async def wait_until_active(observer: AsyncConnection, pid: int) -> None:
    while await observer.one(active_statements, pid) == 0:
        await asyncio.sleep(0.02)


async def active_after_a_while(observer: AsyncConnection, pid: int) -> int:
    """The count of active statements of ``pid``, once idle or after 2 s."""
    deadline = time.monotonic() + 2.0
    while (active := await observer.one(active_statements, pid)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return active


async def cancel_running(
    conn: AsyncConnection,
    observer: AsyncConnection,
    run: Callable[[], Coroutine[Any, Any, object]],
) -> None:
    """Start ``run``, cancel it once its statement runs on the server, expect a prompt end."""
    pid = await conn.one(backend_pid)
    task = asyncio.create_task(run())
    async with asyncio.timeout(5):
        await wait_until_active(observer, pid)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 3.0
    # Safe either way: the statement was cancelled on the server and the
    # connection works, or the connection was closed and refuses any use.
    if conn.closed or conn.broken:
        with pytest.raises(repodb.Error):
            await conn.ping()
    else:
        assert await active_after_a_while(observer, pid) == 0, "pg_sleep still runs"
        assert not conn.in_transaction
        assert await conn.one(select_one) == 1


def test_postgresql_cancelling_a_task_cancels_its_statement(pg_schema_url: str) -> None:
    async def body() -> None:
        async with (
            asyncio.timeout(BOUND),
            await aopen(pg_schema_url) as conn,
            await aopen(pg_schema_url) as observer,
        ):
            await cancel_running(conn, observer, lambda: conn.exec(Request.exec(SLEEP_10)))
            await create_items(conn)

            async def in_a_transaction() -> None:
                async with conn.transaction():
                    await conn.exec(insert_item, "rolled back")
                    await conn.exec(Request.exec(SLEEP_10))

            await cancel_running(conn, observer, in_a_transaction)
            if not conn.closed:
                assert await names(conn) == []
                await conn.exec(insert_item, "later")
                assert await names(conn) == ["later"]

    asyncio.run(body())


async def cancel_twice(url: str, cancelling: asyncio.Event, slow: Callable[[Any], None]) -> None:
    """Cancel a task's ``pg_sleep`` twice, the second time while the first's cancel request
    is held back (``slow`` holds the driver's client library); expect the statement stopped."""
    async with (
        asyncio.timeout(BOUND),
        await aopen(url) as conn,
        await aopen(url) as observer,
    ):
        slow(conn._driver)
        pid = await conn.one(backend_pid)
        task = asyncio.create_task(conn.exec(Request.exec(SLEEP_10)))
        async with asyncio.timeout(5):
            await wait_until_active(observer, pid)
        task.cancel()
        await cancelling.wait()  # the first cancel request is on its way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert conn.closed or conn.broken
        assert await active_after_a_while(observer, pid) == 0, "pg_sleep still runs"


@pytest.mark.postgresql  # it reaches the server through pg_url() itself
def test_postgresql_a_statement_cancelled_twice_is_cancelled_on_the_server() -> None:
    # psycopg, cancelled while its statement runs, sends a cancel request and
    # waits for the statement to end; cancelled again meanwhile, it closes the
    # connection, and a cancel request still on its way is dropped. Here that
    # request never leaves (a cancel_safe that sleeps), so only the driver's
    # own cancel request can stop pg_sleep.
    cancelling = asyncio.Event()

    async def never(*, timeout: float = 0.0) -> None:
        cancelling.set()
        await asyncio.sleep(BOUND)

    def slow(driver: Any) -> None:
        assert isinstance(driver, AsyncPostgresConnection)
        driver._raw.cancel_safe = never  # type: ignore[method-assign]

    with fresh_schema_url() as url:
        asyncio.run(cancel_twice(url, cancelling, slow))


@pytest.mark.postgresql  # it reaches the server through pg_url() itself
def test_asyncpg_a_statement_cancelled_twice_is_cancelled_on_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # asyncpg sends its cancel request from a task of its own, which
    # terminate() cancels; here the request waits 0.3 s before it leaves, and
    # the second cancellation comes meanwhile: the driver lets it leave
    # before it drops the connection.
    import asyncpg.connect_utils

    cancelling = asyncio.Event()
    send = asyncpg.connect_utils._cancel

    async def late(**kwargs: Any) -> None:
        cancelling.set()
        await asyncio.sleep(0.3)
        await send(**kwargs)

    monkeypatch.setattr(asyncpg.connect_utils, "_cancel", late)
    with fresh_schema_url() as url:
        asyncio.run(cancel_twice(through_asyncpg(url), cancelling, lambda driver: None))


connection_id = Request.one("SELECT CONNECTION_ID()", row=int)
# The statements that a MariaDB connection (by its id) is running.
running_statements = Request.one(
    "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND COMMAND = 'Query'",
    params=int,
    row=int,
)


def test_mariadb_cancelling_a_task_kills_its_statement(mariadb_db_url: str) -> None:
    # The mirror of the PostgreSQL test: MariaDB has no cancel request, so
    # the driver closes the connection and KILLs its server thread, which
    # ends the statement and rolls its transaction back at once.
    db_url = mariadb_db_url

    async def cancelled_on_the_server(
        run: Callable[[AsyncConnection], Coroutine[Any, Any, object]],
    ) -> None:
        async with await aopen(db_url) as conn, await aopen(db_url) as observer:
            thread = await conn.one(connection_id)
            task = asyncio.create_task(run(conn))
            async with asyncio.timeout(5):
                while await observer.one(running_statements, thread) == 0:
                    await asyncio.sleep(0.02)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - started < 3.0
            # Closed: any use is a repodb error, not a hang or a desync.
            assert conn.closed
            assert not conn.in_transaction
            with pytest.raises(repodb.ConnectionLost):
                await conn.ping()
            # Gone from the server at once, not when SLEEP(10) would end.
            assert await observer.one(running_statements, thread) == 0
            assert (
                await observer.one(
                    Request.one(
                        "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = ?",
                        params=int,
                        row=int,
                    ),
                    thread,
                )
                == 0
            )

    async def body() -> None:
        async with asyncio.timeout(BOUND), await aopen(db_url) as setup:
            await create_items(setup)
            await cancelled_on_the_server(lambda conn: conn.exec(Request.exec("SELECT SLEEP(10)")))

            async def in_a_transaction(conn: AsyncConnection) -> None:
                async with conn.transaction():
                    await conn.exec(insert_item, "rolled back")
                    await conn.exec(Request.exec("SELECT SLEEP(10)"))

            await cancelled_on_the_server(in_a_transaction)
            assert await names(setup) == []  # the transaction was rolled back

    asyncio.run(body())


def test_sqlite_cancelling_a_task_interrupts_its_statement(tmp_path: Path) -> None:
    # The statement runs on the connection's thread: cancelling the task
    # must stop it there too, or the next call waits behind a statement
    # nobody wants (without an end, here).
    endless = Request.one(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
        row=int,
    )

    async def body() -> None:
        async with asyncio.timeout(BOUND), await aopen(f"sqlite:///{tmp_path / 'c.db'}") as conn:
            await create_items(conn)
            try:
                for in_transaction in (False, True):
                    task = asyncio.create_task(_run_endless(conn, endless, in_transaction))
                    await asyncio.sleep(0.2)
                    task.cancel()
                    # The task ends now, not after the endless statement...
                    done, _ = await asyncio.wait({task}, timeout=5)
                    assert task in done
                    assert task.cancelled()
                    # ...and the connection answers at once, its transaction gone.
                    async with asyncio.timeout(5):
                        await conn.ping()
                        assert not conn.in_transaction
                        assert await names(conn) == []
            except BaseException:
                conn.abort()  # never leave an endless statement behind a failed test
                raise

    asyncio.run(body())


def test_sqlite_a_connect_cancelled_while_opening_closes_what_it_opens(tmp_path: Path) -> None:
    # Regression: the connection's thread still opened the file after the
    # cancellation, and the event loop was to close it; asyncio.run had
    # closed the loop by then (a pool shut down while it filled, at the end
    # of a program), so the connection stayed open until the garbage
    # collector found it (Python 3.13: "ResourceWarning: unclosed database").
    path = tmp_path / "busy.db"
    with write_locked(path):

        async def body() -> None:
            task = asyncio.create_task(aopen(f"sqlite:///{path}"))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(body())

    # Now the thread opens the file; then it must close it, not the garbage
    # collector (which would find the connection much later, if at all).
    deadline = time.monotonic() + 10
    while held_open(path):
        assert time.monotonic() < deadline, "the cancelled connect's connection stayed open"
        time.sleep(0.01)


async def _run_endless(
    conn: AsyncConnection, endless: Request[None, int, One], in_transaction: bool
) -> None:
    if not in_transaction:
        await conn.one(endless)
        return
    async with conn.transaction():
        await conn.exec(insert_item, "rolled back")
        await conn.one(endless)


def test_a_task_cancelled_anywhere_in_a_transaction_leaves_none_open(db_url: str) -> None:
    # Regression: a task cancelled while BEGIN ran left the connection inside
    # a transaction that no block owned (the server or SQLite's thread had
    # finished BEGIN): SQLite refused the next transaction, and PostgreSQL
    # would have kept every later statement uncommitted. Cancellations here
    # land from before BEGIN to after COMMIT; wherever one lands, nothing
    # stays open.
    async def one_transaction(conn: AsyncConnection, name: str) -> None:
        async with conn.transaction():
            await conn.exec(insert_item, name)

    async def body() -> None:
        async with asyncio.timeout(BOUND):
            conn = await aopen(db_url)
            await create_items(conn)
            closed = 0
            for i in range(60):
                task = asyncio.create_task(one_transaction(conn, f"item {i}"))
                if i < 20:
                    for _ in range(i % 5):
                        await asyncio.sleep(0)
                else:
                    await asyncio.sleep((i - 20) * 0.0003)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                assert not conn.in_transaction, f"left open by a cancellation (round {i})"
                if conn.closed:
                    # MariaDB: a statement interrupted mid-way closes its
                    # connection (the protocol is out of step); a pool
                    # would open another, as this does.
                    assert is_mariadb(conn), f"closed by a cancellation (round {i})"
                    closed += 1
                    conn = await aopen(db_url)
            if is_mariadb(conn):
                assert closed > 0, "no cancellation landed during a statement"
            await one_transaction(conn, "after")
            await conn.close()
            # Committed for everyone: not held back in a transaction of its own.
            async with await aopen(db_url) as observer:
                assert "after" in await names(observer)

    asyncio.run(body())


# Closing --------------------------------------------------------------------------------


USES: list[tuple[str, Callable[[AsyncConnection], Awaitable[object]]]] = [
    ("ping", lambda c: c.ping()),
    ("exec", lambda c: c.exec(Request.exec("CREATE TABLE t (n INTEGER)"))),
    ("one", lambda c: c.one(select_one)),
    ("one_or_none", lambda c: c.one_or_none(select_one)),
    ("all", lambda c: c.all(select_one)),
    ("stream", lambda c: anext(c.stream(select_one))),
    ("fold", lambda c: c.fold(select_one, lambda a, b: a + b, 0)),
    ("transaction", lambda c: c.transaction().__aenter__()),
    ("run_transaction", lambda c: c.run_transaction(lambda conn: conn.one(select_one))),
    ("execute_many", lambda c: c.execute_many(Request.exec("SELECT ?", params=int), [1])),
    ("copy_in", lambda c: c.copy_in("t", ["n"], tup(int), [(1,)])),
    ("set_statement_timeout", lambda c: c.set_statement_timeout(1.0)),
]


def test_ping_close_and_async_with(db_url: str) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND):
            async with await aopen(db_url) as conn:
                await conn.ping()
                assert not conn.closed
                assert repr(conn).endswith(" open>")
            assert conn.closed
            assert repr(conn).endswith(" closed>")
            await conn.close()
            await conn.close()
            assert conn.closed
            # The block closes on an exception too.
            with pytest.raises(KeyError):
                async with await aopen(db_url) as failing:
                    raise KeyError("x")
            assert failing.closed

    asyncio.run(body())


@pytest.mark.parametrize("use", [u for _, u in USES], ids=[name for name, _ in USES])
def test_closed_connection_raises_repodb_error(
    db_url: str, use: Callable[[AsyncConnection], Awaitable[object]]
) -> None:
    async def body() -> None:
        async with asyncio.timeout(BOUND):
            conn = await aopen(db_url)
            await conn.close()
            with pytest.raises(repodb.Error):
                await use(conn)
            assert not conn.in_transaction
            assert conn.closed

    asyncio.run(body())
