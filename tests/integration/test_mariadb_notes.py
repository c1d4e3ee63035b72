"""MariaDB's Notes are not warnings in repodb's sessions: no extra round trip, no stray log line.

Why: asyncmy answers every statement whose OK packet counts a warning with a
``SHOW WARNINGS`` round trip and logs each one on its own logger (which an
application without logging set up sees on stderr). Notes are routine: a
``DROP TABLE IF EXISTS`` of a missing table, a Decimal rounded to its
column's scale. The sessions run with ``sql_notes = 0``, so they are not
counted; a real warning still is.

Covered, through the sync (PyMySQL) and async (asyncmy) drivers: both Notes
leave ``@@warning_count`` at 0 and log nothing on the ``asyncmy`` logger. A
real warning (``SELECT 1/0``) is logged there by asyncmy, as docs/mariadb.md
says, and silenced as it says.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

import repodb
from repodb import Request, connect_async
from repodb.types import optional, tup

DROP_MISSING = Request.exec("DROP TABLE IF EXISTS no_such_table")
CREATE = Request.exec("CREATE TABLE prices (id INTEGER PRIMARY KEY, price DECIMAL(10, 2))")
INSERT = Request.exec("INSERT INTO prices VALUES (?, ?)", params=tup(int, Decimal))
WARNINGS = Request.one("SELECT @@warning_count", row=int)
PRICE = Request.one("SELECT price FROM prices WHERE id = 1", row=Decimal)


def test_sync_notes_are_not_counted(mariadb_db_url: str) -> None:
    with repodb.connect(mariadb_db_url) as conn:
        conn.exec(DROP_MISSING)
        assert conn.one(WARNINGS) == 0
        conn.exec(CREATE)
        conn.exec(INSERT, (1, Decimal("1.005")))
        assert conn.one(WARNINGS) == 0
        assert conn.one(PRICE) == Decimal("1.01")  # rounded, as the Note said


def test_async_notes_log_nothing(mariadb_db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with await connect_async(mariadb_db_url) as conn:
            await conn.exec(DROP_MISSING)
            assert await conn.one(WARNINGS) == 0
            await conn.exec(CREATE)
            await conn.exec(INSERT, (1, Decimal("1.005")))
            assert await conn.one(WARNINGS) == 0
            assert await conn.one(PRICE) == Decimal("1.01")

    with caplog.at_level(logging.DEBUG, logger="asyncmy"):
        asyncio.run(asyncio.wait_for(main(), 60))
    assert [r.getMessage() for r in caplog.records if r.name.startswith("asyncmy")] == []


def test_a_real_warning_is_asyncmys_log_line_as_documented(
    mariadb_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    divide = Request.one("SELECT 1/0", row=optional(int))

    async def main() -> None:
        async with await connect_async(mariadb_db_url) as conn:
            assert await conn.one(divide) is None

    with caplog.at_level(logging.DEBUG, logger="asyncmy"):
        asyncio.run(asyncio.wait_for(main(), 60))
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("asyncmy")]
    assert logged == [(logging.WARNING, "Division by 0")]
    caplog.clear()
    asyncmy = logging.getLogger("asyncmy")
    level = asyncmy.level
    asyncmy.setLevel(logging.ERROR)  # the docs' way to silence it
    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        asyncmy.setLevel(level)
    assert [r for r in caplog.records if r.name.startswith("asyncmy")] == []
