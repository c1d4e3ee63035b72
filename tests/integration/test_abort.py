"""``Connection.abort()``: another thread ends a statement in progress at once.

The statements here would run for 30 s (PostgreSQL's ``pg_sleep``) or
practically for ever (SQLite counting with a recursive CTE); abort() from a
timer thread must end them within a few seconds with ``ConnectionLost``, and
the pool must discard the connection rather than lend it again.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

import repodb
from repodb import ConnectionLost, Request
from repodb.pool import Pool
from repodb.url import parse_url
from tests.conftest import CONNECT_TIMEOUT, open_conn

pytestmark = pytest.mark.mariadb

ABORT_AFTER = 0.5
# Far longer than abort() should take, far shorter than the statement.
BOUND = 5.0

LONG = {
    "postgresql": Request.one("SELECT 1 FROM pg_sleep(30)", row=int),
    "sqlite": Request.one(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000)"
        " SELECT count(*) FROM c",
        row=int,
    ),
    "mariadb": Request.one("SELECT SLEEP(30)", row=int),
}
# MariaDB's server thread sleeps on after the client is gone: ended by KILL.
MARIADB_BACKEND = Request.one("SELECT CONNECTION_ID()", row=int)
MARIADB_KILL = Request.exec("KILL ?", params=int)
BACKEND = Request.one("SELECT pg_backend_pid()", row=int)
SLEEPING = Request.one(
    "SELECT count(*) FROM pg_stat_activity WHERE pid = ? AND query LIKE '%pg_sleep(30)%'",
    params=int,
    row=int,
)
TERMINATE = Request.one("SELECT pg_terminate_backend(?)", params=int, row=bool)


def test_abort_from_another_thread_ends_a_long_statement(db_url: str) -> None:
    driver = parse_url(db_url).driver
    pool = Pool(db_url, max_size=1, connect_timeout=CONNECT_TIMEOUT, label="abort-test")
    backend = mariadb_backend = None
    try:
        conn = pool.acquire()
        backend = conn.one(BACKEND) if driver == "postgresql" else None
        mariadb_backend = conn.one(MARIADB_BACKEND) if driver == "mariadb" else None
        timer = threading.Timer(ABORT_AFTER, conn.abort)
        timer.start()
        started = time.monotonic()
        with pytest.raises(ConnectionLost):
            conn.one(LONG[driver])
        took = time.monotonic() - started
        timer.join(BOUND)
        assert ABORT_AFTER * 0.9 <= took < BOUND
        assert conn.broken
        pool.release(conn)
        stats = pool.stats()
        assert stats.discarded == 1
        assert stats.total == 0
        assert conn.closed

        # The pool lends a new, working connection.
        with pool.connection() as fresh:
            assert fresh is not conn
            assert fresh.one(Request.one("SELECT 41 + 1", row=int)) == 42
            if backend is not None:
                assert fresh.one(BACKEND) != backend
        assert pool.stats().discarded == 1
    finally:
        pool.shutdown(BOUND)
    if backend is not None:
        # The server may not have noticed yet that its client is gone: the
        # sleeping backend is still there, or was; end it, not wait 30 s.
        with open_conn(db_url) as admin:
            if admin.one(SLEEPING, backend):
                assert admin.one(TERMINATE, backend)
    if mariadb_backend is not None:
        with open_conn(db_url) as admin, contextlib.suppress(repodb.QueryError):
            admin.exec(MARIADB_KILL, mariadb_backend)  # gone already: "unknown thread id"


def test_abort_between_statements_breaks_the_connection(db_url: str) -> None:
    driver = parse_url(db_url).driver
    with open_conn(db_url) as conn:
        assert conn.one(Request.one("SELECT 1", row=int)) == 1
        aborter = threading.Thread(target=conn.abort)
        aborter.start()
        aborter.join(BOUND)
        assert not aborter.is_alive()
        assert conn.broken
        if driver == "postgresql":
            # The socket is shut: the next statement fails at once too.
            with pytest.raises(ConnectionLost):
                conn.one(Request.one("SELECT 1", row=int))


def test_abort_of_a_closed_connection_does_nothing(db_url: str) -> None:
    conn = open_conn(db_url)
    conn.close()
    conn.abort()
    assert conn.closed
    assert conn.broken
