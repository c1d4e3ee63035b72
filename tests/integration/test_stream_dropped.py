"""A ``repo.stream`` read in part and then dropped gives its connection back.

Covered, on SQLite, PostgreSQL and MariaDB, sync and async, for a query's
stream and a prepared query's: with a one-connection pool, a stream
abandoned after its first row (never closed, never exhausted) is collected,
its cursor closed (no cursor left on the PostgreSQL session; MariaDB's
unbuffered result read off, the protocol in step for the next statement)
and its connection given back, with one WARNING on the
``repodb.pool`` logger; the next read gets the connection instead of waiting
out the pool's timeout. A stream closed properly warns nothing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

from repodb import Request, param, prepare
from repodb.pool import Pool
from repodb.pool_async import AsyncPool
from repodb.query import query
from repodb.repo import Repo, RepoStream
from repodb.repo_async import AsyncRepo, AsyncRepoStream
from repodb.schema import Col, Schema, field
from repodb.url import parse_url
from tests.conftest import CONNECT_TIMEOUT, STATEMENT_TIMEOUT, open_conn

pytestmark = pytest.mark.mariadb

BOUND = 10.0
# Each database's database-assigned key.
KEY = {
    "sqlite": "INTEGER PRIMARY KEY",
    "postgresql": "bigserial PRIMARY KEY",
    "mariadb": "BIGINT AUTO_INCREMENT PRIMARY KEY",
}
CURSORS = Request.one("SELECT count(*) FROM pg_cursors WHERE name LIKE 'repodb%'", row=int)


class Reading(Schema, table="readings"):
    id: Col[int | None] = field(primary_key=True, default=None)
    value: Col[int]


# Every reading from a first id on: the prepared query each test streams too.
FROM_ID = prepare(query(Reading).where(Reading.id >= param("first")).order_by(Reading.id))
KINDS = ["query", "prepared"]


def open_stream(repo: Repo, kind: str, batch_size: int = 500) -> RepoStream[Reading]:
    if kind == "prepared":
        return repo.stream(FROM_ID, {"first": 1}, batch_size=batch_size)
    return repo.stream(query(Reading).order_by(Reading.id), batch_size=batch_size)


def open_async_stream(repo: AsyncRepo, kind: str, batch_size: int) -> AsyncRepoStream[Reading]:
    if kind == "prepared":
        return repo.stream(FROM_ID, {"first": 1}, batch_size=batch_size)
    return repo.stream(query(Reading).order_by(Reading.id), batch_size=batch_size)


def seed(url: str) -> None:
    with open_conn(url) as conn:
        key = KEY[conn.dialect.name]
        conn.exec(Request.exec(f"CREATE TABLE readings (id {key}, value INTEGER NOT NULL)"))
        conn.exec(Request.exec("INSERT INTO readings (value) VALUES (1), (2), (3), (4), (5)"))


def dropped(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "stream was dropped" in r.getMessage()]


@pytest.mark.parametrize("kind", KINDS)
def test_a_dropped_stream_gives_its_connection_back(
    db_url: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    seed(db_url)
    pool = Pool(
        db_url,
        max_size=1,
        timeout=BOUND,
        connect_timeout=CONNECT_TIMEOUT,
        statement_timeout=STATEMENT_TIMEOUT,
    )
    try:
        repo = Repo(pool)
        with open_stream(repo, kind) as rows:
            assert len(list(rows)) == 5
        assert dropped(caplog) == []

        stream = open_stream(repo, kind, batch_size=2)
        assert next(stream).value == 1
        assert pool.stats().in_use == 1
        del stream
        gc.collect()
        deadline = time.monotonic() + BOUND
        while pool.stats().in_use:
            assert time.monotonic() < deadline, "the connection never came back"
            time.sleep(0.01)
        started = time.monotonic()
        assert repo.aggregate(query(Reading), "count") == 5
        assert time.monotonic() - started < BOUND / 2  # not a wait for the pool's timeout
        if parse_url(db_url).driver == "postgresql":
            with pool.connection() as conn:
                assert conn.one(CURSORS) == 0
        assert [r.levelno for r in dropped(caplog)] == [logging.WARNING]
        assert "SELECT" in dropped(caplog)[0].getMessage()
    finally:
        pool.shutdown(timeout=5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_dropped_async_stream_gives_its_connection_back(
    db_url: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    seed(db_url)

    async def main() -> None:
        async with AsyncPool(
            db_url, max_size=1, timeout=BOUND, connect_timeout=CONNECT_TIMEOUT
        ) as pool:
            repo = AsyncRepo(pool)
            stream = open_async_stream(repo, kind, batch_size=2)
            assert (await anext(stream)).value == 1
            assert pool.stats().in_use == 1
            del stream
            gc.collect()
            async with asyncio.timeout(BOUND):
                while pool.stats().in_use:
                    await asyncio.sleep(0.01)
            assert await repo.aggregate(query(Reading), "count") == 5
            if parse_url(db_url).driver == "postgresql":
                async with pool.connection() as conn:
                    assert await conn.one(CURSORS) == 0

    asyncio.run(main())
    assert [r.levelno for r in dropped(caplog)] == [logging.WARNING]
