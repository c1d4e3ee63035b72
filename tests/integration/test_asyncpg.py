"""The asyncpg driver gives what the psycopg driver gives: values, errors, settings.

The async suites (connection, pool, Repo) run on both drivers through their
fixtures; this module checks the rest side by side on the primary. Covered:
every field type of ``test_types_roundtrip`` (its examples and a property
test), written through asyncpg, reads back through asyncpg and through
psycopg as the same value of the same class, also an aware datetime in a
``timestamp`` column (stored as its UTC time, as psycopg does); each kind of
violation and mistake (primary key, unique, composite unique, not null,
check, foreign key on insert and delete, exclusion, division by zero, out of
range, syntax, unknown table and column) raises the same repodb class with
the same SQLSTATE, table, columns, constraint and detail on both; a
parameter of another type than its column is cast by the server on psycopg
and a DataError on asyncpg (which encodes by the type the server inferred);
an infinite date or timestamp read is a DataError on both; an unreachable
server and an unknown database are a ConnectError;
``?statement_cache_size=0`` (PgBouncer) runs statements unnamed; ``abort``
from another thread fails a running statement with ConnectionLost at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import repodb
from repodb import AsyncConnection, Request, connect_async
from repodb.types import DbType, optional, to_dbtype, tup
from tests.conftest import (
    CONNECT_TIMEOUT,
    STATEMENT_TIMEOUT,
    open_conn,
    pg_url,
    through_asyncpg,
)
from tests.integration.test_types_roundtrip import CASES, Case, aware_datetimes, expected, same

pytestmark = pytest.mark.postgresql

# Every test body is bounded by this, well under pytest-timeout's 120 s.
BOUND = 30.0


@pytest.fixture
def both(pg_schema_url: str) -> Iterator[tuple[asyncio.AbstractEventLoop, AsyncConnection, Any]]:
    """A loop, an asyncpg connection on it and a psycopg one, in one fresh schema."""
    loop = asyncio.new_event_loop()
    try:
        apg = loop.run_until_complete(
            connect_async(
                through_asyncpg(pg_schema_url),
                connect_timeout=CONNECT_TIMEOUT,
                statement_timeout=STATEMENT_TIMEOUT,
            )
        )
        try:
            with open_conn(pg_schema_url) as psy:
                yield loop, apg, psy
        finally:
            loop.run_until_complete(apg.close())
    finally:
        loop.close()


def same_classes(got: object, want: object) -> bool:
    if isinstance(got, list) and isinstance(want, list):
        return all(same_classes(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(got, dict) and isinstance(want, dict):
        return all(same_classes(got[k], want[k]) for k in got)
    return type(got) is type(want)


TIMESTAMP = Case("timestamp", dt.datetime, aware_datetimes(), "TEXT", "timestamp")


@pytest.mark.parametrize("case", [*CASES, TIMESTAMP], ids=[c.name for c in [*CASES, TIMESTAMP]])
def test_every_type_reads_back_as_psycopg_reads_it(
    both: tuple[asyncio.AbstractEventLoop, AsyncConnection, Any], case: Case
) -> None:
    loop, apg, psy = both
    psy.exec(Request.exec(f"CREATE TABLE rt (id INTEGER PRIMARY KEY, v {case.postgresql})"))
    spec: DbType[Any] = optional(to_dbtype(case.spec))
    insert = Request.exec("INSERT INTO rt (id, v) VALUES (?, ?)", params=tup(int, spec))
    read = Request.one("SELECT v FROM rt WHERE id = ?", params=int, row=spec)
    keys = itertools.count()

    def check(value: object) -> None:
        key = next(keys)
        loop.run_until_complete(apg.exec(insert, (key, value)))
        through_asyncpg = loop.run_until_complete(apg.one(read, key))
        through_psycopg = psy.one(read, key)
        want = None if value is None else expected(value)
        assert same(through_psycopg, want), f"wrote {value!r}, psycopg read {through_psycopg!r}"
        assert same(through_asyncpg, through_psycopg), f"asyncpg read {through_asyncpg!r}"
        assert same_classes(through_asyncpg, through_psycopg)

    property_test = given(st.none() | case.values)(check)
    for value in case.examples:
        property_test = example(value)(property_test)
    settings(max_examples=15, deadline=None)(property_test)()


SCHEMA = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public",
    "CREATE TABLE parent (id bigint PRIMARY KEY, code text UNIQUE, a int, b int,"
    " n int NOT NULL DEFAULT 0, CONSTRAINT parent_ab UNIQUE (a, b),"
    " CONSTRAINT parent_n_positive CHECK (n >= 0))",
    "CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint REFERENCES parent (id))",
    "CREATE TABLE booking (room int, during tstzrange,"
    " CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&))",
    "INSERT INTO parent VALUES (1, 'a', 1, 1, 0)",
    "INSERT INTO child VALUES (1, 1)",
    "INSERT INTO booking VALUES (1, tstzrange('2024-01-01', '2024-01-02'))",
]

FAILING = {
    "primary_key": "INSERT INTO parent (id, code) VALUES (1, 'x')",
    "unique": "INSERT INTO parent (id, code) VALUES (2, 'a')",
    "composite_unique": "INSERT INTO parent (id, a, b) VALUES (3, 1, 1)",
    "not_null": "INSERT INTO parent (id, n) VALUES (4, NULL)",
    "check": "INSERT INTO parent (id, n) VALUES (5, -1)",
    "foreign_key_insert": "INSERT INTO child VALUES (2, 99)",
    "foreign_key_delete": "DELETE FROM parent WHERE id = 1",
    "exclusion": "INSERT INTO booking VALUES (1, tstzrange('2024-01-01 12:00', '2024-01-03'))",
    "division_by_zero": "SELECT 1 / 0",
    "out_of_range": "SELECT 2147483647::int + 1",
    "syntax": "SELEC 1",
    "unknown_table": "SELECT * FROM nowhere",
    "unknown_column": "SELECT nothing FROM parent",
}


@dataclasses.dataclass(frozen=True)
class Seen:
    cls: type[repodb.Error]
    sqlstate: str | None
    table: str | None
    columns: tuple[str, ...]
    constraint: str | None
    detail: str | None
    message: str


def seen(error: repodb.Error) -> Seen:
    return Seen(
        type(error),
        error.sqlstate,
        error.table,
        error.columns,
        error.constraint,
        error.detail,
        str(error).splitlines()[0],
    )


def test_each_failure_is_the_same_repodb_error_on_both_drivers(
    both: tuple[asyncio.AbstractEventLoop, AsyncConnection, Any],
) -> None:
    loop, apg, psy = both
    for ddl in SCHEMA:
        psy.exec(Request.exec(ddl))
    for name, sql in FAILING.items():
        request = Request.exec(sql)
        with pytest.raises(repodb.QueryError) as by_psycopg:
            psy.exec(request)
        with pytest.raises(repodb.QueryError) as by_asyncpg:
            loop.run_until_complete(apg.exec(request))
        assert seen(by_asyncpg.value) == seen(by_psycopg.value), name
        assert (by_asyncpg.value.__cause__, by_asyncpg.value.__context__) == (None, None)
        assert not apg.in_transaction
    assert loop.run_until_complete(apg.one(Request.one("SELECT count(*) FROM child", row=int))) == 1


def test_a_parameter_unlike_its_column_differs_by_driver(
    both: tuple[asyncio.AbstractEventLoop, AsyncConnection, Any],
) -> None:
    # psycopg sends an int as a bigint, which the server casts to the text
    # column; asyncpg asks the server the parameter's type (text) first, and
    # refuses to encode an int as text.
    loop, apg, psy = both
    psy.exec(Request.exec("CREATE TABLE notes (body text)"))
    insert = Request.exec("INSERT INTO notes (body) VALUES (?)", params=int)
    psy.exec(insert, 1)
    with pytest.raises(repodb.DataError) as info:
        loop.run_until_complete(apg.exec(insert, 2))
    assert info.value.sqlstate == "22000"
    assert "expected str, got int" in str(info.value)
    assert psy.all(Request.many("SELECT body FROM notes", row=str)) == ["1"]


@pytest.mark.parametrize("kind", ["date", "timestamp", "timestamptz"])
def test_an_infinite_date_or_time_is_a_data_error_as_on_psycopg(
    both: tuple[asyncio.AbstractEventLoop, AsyncConnection, Any], kind: str
) -> None:
    loop, apg, psy = both
    python = dt.date if kind == "date" else dt.datetime
    read = Request.one(f"SELECT 'infinity'::{kind}", row=python)
    with pytest.raises(repodb.DataError) as by_psycopg:
        psy.one(read)
    with pytest.raises(repodb.DataError) as by_asyncpg:
        loop.run_until_complete(apg.one(read))
    assert "too large (after year 10K)" in str(by_psycopg.value)
    assert "too large (after year 10K)" in str(by_asyncpg.value)
    ok = Request.one("SELECT 1", row=int)
    assert loop.run_until_complete(apg.one(ok)) == 1


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:9/nothing",
        "unknown database",
    ],
    ids=["closed_port", "unknown_database"],
)
def test_a_failed_connect_is_a_connect_error(url: str) -> None:
    if url == "unknown database":
        url = through_asyncpg(pg_url()).rsplit("/", 1)[0] + "/no_such_database"

    async def body() -> None:
        with pytest.raises(repodb.ConnectError, match="cannot connect to postgresql\\+asyncpg://"):
            await connect_async(url, connect_timeout=CONNECT_TIMEOUT)

    asyncio.run(asyncio.wait_for(body(), BOUND))


def test_statement_cache_size_zero_prepares_nothing_by_name() -> None:
    # What PgBouncer in transaction mode needs: no named statement outlives its transaction.
    url = through_asyncpg(pg_url()) + "?statement_cache_size=0"
    named = Request.one("SELECT count(*) FROM pg_prepared_statements", row=int)
    plus = Request.one("SELECT ?::bigint + 1", params=int, row=int)

    async def body() -> None:
        async with await connect_async(url, connect_timeout=CONNECT_TIMEOUT) as conn:
            for n in range(3):
                assert await conn.one(plus, n) == n + 1
            assert await conn.one(named) == 0

    asyncio.run(asyncio.wait_for(body(), BOUND))


def test_abort_from_another_thread_fails_the_running_statement_at_once() -> None:
    async def body() -> None:
        conn = await connect_async(through_asyncpg(pg_url()), connect_timeout=CONNECT_TIMEOUT)
        timer = threading.Timer(0.2, conn.abort)
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises(repodb.ConnectionLost):
                await conn.exec(Request.exec("SELECT pg_sleep(10)"))
            assert time.monotonic() - started < 5.0
            assert conn.broken
        finally:
            timer.cancel()
            await conn.close()
        assert conn.closed

    asyncio.run(asyncio.wait_for(body(), BOUND))


def test_a_transaction_pooler_is_refused_before_connecting() -> None:
    url = "postgresql+asyncpg://127.0.0.1:9/x?pooler=transaction"
    with pytest.raises(ValueError, match="supported on psycopg only"):
        asyncio.run(connect_async(url))
