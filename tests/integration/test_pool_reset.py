"""What one borrower leaves on a pooled connection, and what the next one sees.

Covered: without ``session_reset`` (the default) settings and temporary
tables leak from one borrower to the next (documented, so shown);
``"discard"`` (``DISCARD ALL``) returns every setting to the connection's
start (the URL's ``search_path`` included), drops temporary tables and runs
``configure`` again; ``"reset"`` (``RESET ALL``) resets settings only; a
``reset`` callback runs on each return, sync or async, and one that raises
discards the connection with one WARNING; SQLite and MariaDB refuse
``session_reset`` (PostgreSQL's DISCARD ALL and RESET ALL) and clean up with
a callback.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import LiteralString

import pytest

from repodb import Connection, Request
from repodb.connection_async import AsyncConnection
from repodb.pool import Pool
from repodb.pool_async import AsyncPool
from tests.conftest import CONNECT_TIMEOUT, STATEMENT_TIMEOUT, empty_database_url

APP_NAME = Request.one("SELECT current_setting('application_name')", row=str)
SEARCH_PATH = Request.one("SELECT current_setting('search_path')", row=str)
TEMP_TABLES = Request.one(
    "SELECT count(*) FROM pg_tables WHERE tablename = 'scratch' AND schemaname LIKE 'pg_temp%'",
    row=int,
)
BOUND = 60.0


def make(url: str, **options: object) -> Pool:
    return Pool(
        url,
        max_size=1,
        connect_timeout=CONNECT_TIMEOUT,
        statement_timeout=STATEMENT_TIMEOUT,
        **options,  # type: ignore[arg-type]
    )


def dirty(conn: Connection) -> None:
    """What an untidy borrower does."""
    conn.exec(Request.exec("SET application_name = 'borrower one'"))
    conn.exec(Request.exec("SET search_path = pg_catalog"))
    conn.exec(Request.exec("CREATE TEMP TABLE scratch (x int)"))


def seen(pool: Pool) -> tuple[str, str, int]:
    with pool.connection() as conn:
        return conn.one(APP_NAME), conn.one(SEARCH_PATH), conn.one(TEMP_TABLES)


def test_without_a_reset_the_next_borrower_sees_what_the_last_one_set(pg_schema_url: str) -> None:
    pool = make(pg_schema_url)
    try:
        with pool.connection() as conn:
            dirty(conn)
        assert seen(pool) == ("borrower one", "pg_catalog", 1)
    finally:
        pool.shutdown(timeout=5)


def test_discard_returns_the_session_to_its_start_and_configures_it_again(
    pg_schema_url: str,
) -> None:
    configured: list[int] = []

    def configure(conn: Connection) -> None:
        configured.append(1)
        conn.exec(Request.exec("SET application_name = 'configured'"))

    pool = make(pg_schema_url, session_reset="discard", configure=configure)
    try:
        schema = seen(pool)[1]
        assert schema.startswith("t_")  # the URL's search_path
        with pool.connection() as conn:
            dirty(conn)
        assert seen(pool) == ("configured", schema, 0)
        assert pool.stats().created == 1
        assert len(configured) == 4  # on connect, then after each of three returns
    finally:
        pool.shutdown(timeout=5)


def test_reset_all_resets_settings_and_keeps_temporary_tables(pg_schema_url: str) -> None:
    pool = make(pg_schema_url, session_reset="reset")
    try:
        schema = seen(pool)[1]
        with pool.connection() as conn:
            dirty(conn)
        assert seen(pool) == ("", schema, 1)
    finally:
        pool.shutdown(timeout=5)


def test_a_reset_callback_runs_on_each_return_and_one_that_raises_discards(
    pg_schema_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    def reset(conn: Connection) -> None:
        conn.exec(Request.exec("DROP TABLE IF EXISTS pg_temp.scratch"))
        if conn.one(APP_NAME) == "poison":
            raise RuntimeError("a bug in the reset callback")

    pool = make(pg_schema_url, reset=reset)
    try:
        with pool.connection() as conn:
            dirty(conn)
        assert seen(pool) == ("borrower one", "pg_catalog", 0)
        for _ in range(2):
            with pool.connection() as conn:
                conn.exec(Request.exec("SET application_name = 'poison'"))
        assert seen(pool) == ("", seen(pool)[1], 0)
        stats = pool.stats()
        assert (stats.created, stats.discarded) == (3, 2)
    finally:
        pool.shutdown(timeout=5)
    warnings = [r for r in caplog.records if "resetting a returned connection" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING]


def test_an_async_pool_takes_an_async_reset_callback(pg_schema_url: str) -> None:
    returned: list[str] = []

    async def reset(conn: AsyncConnection) -> None:
        returned.append(await conn.one(APP_NAME))

    async def main() -> None:
        async with AsyncPool(
            pg_schema_url,
            max_size=1,
            connect_timeout=CONNECT_TIMEOUT,
            session_reset="discard",
            reset=reset,
        ) as pool:
            for name in ("a", "b"):
                async with pool.connection() as conn:
                    await conn.exec(Request.exec(f"SET application_name = '{name}'"))
                    await conn.exec(Request.exec("CREATE TEMP TABLE scratch (x int)"))

    asyncio.run(asyncio.wait_for(main(), BOUND))
    assert returned == ["", ""]  # after DISCARD ALL; a second CREATE TEMP TABLE worked


# Where session_reset is PostgreSQL's: the callback that drops a borrower's temporary table.
_DROP_SCRATCH: dict[str, LiteralString] = {
    "sqlite": "DROP TABLE IF EXISTS temp.scratch",
    "mariadb": "DROP TEMPORARY TABLE IF EXISTS scratch",
}


@pytest.mark.parametrize("kind", ["sqlite", "mariadb"])
def test_sqlite_and_mariadb_refuse_session_reset_and_clean_up_with_a_callback(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = empty_database_url(kind, request, tmp_path)
    with pytest.raises(ValueError, match="reset= callback"):
        make(url, session_reset="discard")

    def reset(conn: Connection) -> None:
        conn.exec(Request.exec(_DROP_SCRATCH[kind]))

    pool = make(url, reset=reset)
    try:
        for _ in range(2):
            with pool.connection() as conn:
                # The second CREATE fails if the first borrower's table is still there.
                conn.exec(Request.exec("CREATE TEMPORARY TABLE scratch (x int)"))
        assert pool.stats().created == 1  # one connection, borrowed twice
    finally:
        pool.shutdown(timeout=5)
