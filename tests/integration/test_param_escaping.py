"""Values that are hard to write into SQL arrive intact, on every database and both APIs.

Why: MariaDB's clients bind parameters by writing them into the statement's
text, so quoting is repodb's and the client's job there. repodb's sessions
run with ``NO_BACKSLASH_ESCAPES``; asyncmy 0.2 ignored that mode for
``bytes``, so a quote or backslash in a bytes value ended its literal early:
the value was stored wrong, failed as a syntax error, or ran as SQL of its
own. PostgreSQL and SQLite bind out of band; they run the same checks.

Covered: every byte value 0-255 and quote/backslash/NUL mixes in ``bytes``
and ``str`` parameters (NUL only in bytes: PostgreSQL text refuses it)
through ``exec`` (insert), a ``WHERE`` comparison, ``stream``, and
``execute_many``; values built to break out of a literal (``\\' OR 1=1 --``)
match only their own rows and leave the table as it was.
"""

from __future__ import annotations

import asyncio

import pytest

import repodb
from repodb import Request, connect_async
from repodb.types import tup
from tests.conftest import open_conn

pytestmark = pytest.mark.mariadb

TEXTS = [
    "plain",
    "it's",
    "back\\slash",
    "\\'",
    "\\",
    "'",
    "''",
    '"double"',
    "\n\r\t\x1a\x08",
    "%s %% %(x)s ?",
    "\\' OR 1=1 -- ",
    "x'); DROP TABLE escaping; --",
    "emoji \U0001f600 and ü",
]
BLOBS = [
    bytes(range(256)),
    b"\x00",
    b"\\",
    b"'",
    b"\\'",
    b"\\' OR 1=1 -- ",
    b"x'); DROP TABLE escaping; --",
    b"",
    b"\xff\xfe\x00'\\\"",
]
ROWS = [
    (i, TEXTS[i % len(TEXTS)], BLOBS[i % len(BLOBS)]) for i in range(max(len(TEXTS), len(BLOBS)))
]

TYPES = {
    "sqlite": ("TEXT", "BLOB"),
    "postgresql": ("TEXT", "BYTEA"),
    "mariadb": ("LONGTEXT", "LONGBLOB"),
}
INSERT = Request.exec(
    "INSERT INTO escaping (id, t, b) VALUES (?, ?, ?)", params=tup(int, str, bytes)
)
ALL = Request.many("SELECT id, t, b FROM escaping ORDER BY id", row=tup(int, str, bytes))
BY_TEXT = Request.many("SELECT id FROM escaping WHERE t = ? ORDER BY id", params=str, row=int)
BY_BLOB = Request.many("SELECT id FROM escaping WHERE b = ? ORDER BY id", params=bytes, row=int)
COUNT = Request.one("SELECT count(*) FROM escaping", row=int)


def expected_ids(column: int, value: object) -> list[int]:
    return [row[0] for row in ROWS if row[column] == value]


@pytest.fixture
def url(db_url: str) -> str:
    with open_conn(db_url) as conn:
        text, blob = TYPES[conn.dialect.name]
        conn.exec(
            Request.exec(
                f"CREATE TABLE escaping (id INTEGER PRIMARY KEY, t {text} NOT NULL,"
                f" b {blob} NOT NULL)"
            )
        )
    return db_url


def test_sync_values_arrive_intact(url: str) -> None:
    with repodb.connect(url) as conn:
        for row in ROWS[: len(ROWS) // 2]:
            conn.exec(INSERT, row)
        conn.execute_many(INSERT, ROWS[len(ROWS) // 2 :])
        assert list(conn.all(ALL)) == ROWS
        with conn.stream(ALL) as rows:
            assert list(rows) == ROWS
        for text in TEXTS:
            assert conn.all(BY_TEXT, text) == expected_ids(1, text), text
        for blob in BLOBS:
            assert conn.all(BY_BLOB, blob) == expected_ids(2, blob), blob
        assert conn.one(COUNT) == len(ROWS)


def test_async_values_arrive_intact(url: str) -> None:
    async def main() -> None:
        async with await connect_async(url) as conn:
            for row in ROWS[: len(ROWS) // 2]:
                await conn.exec(INSERT, row)
            await conn.execute_many(INSERT, ROWS[len(ROWS) // 2 :])
            assert list(await conn.all(ALL)) == ROWS
            async with conn.stream(ALL) as rows:
                assert [row async for row in rows] == ROWS
            for text in TEXTS:
                assert await conn.all(BY_TEXT, text) == expected_ids(1, text), text
            for blob in BLOBS:
                assert await conn.all(BY_BLOB, blob) == expected_ids(2, blob), blob
            assert await conn.one(COUNT) == len(ROWS)

    asyncio.run(asyncio.wait_for(main(), 120))
