"""A read whose connection died is run once more on a fresh one; a write never is.

The connection under a pool is killed on the server (``pg_terminate_backend``),
as a server restart or a network cut would: the next read through the Repo
fails on it, the pool discards it, and the Repo runs the read again on a new
connection. A write on a killed connection raises: it may have committed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import repodb
from repodb import Repo, Request
from repodb.pool import Pool
from repodb.query import query
from tests.conftest import CONNECT_TIMEOUT, open_conn

from .repo_models import Member, create_tables

pytestmark = pytest.mark.mariadb

backend_pid = Request.one("SELECT pg_backend_pid()", row=int)
terminate = Request.one("SELECT pg_terminate_backend(?)", params=int, row=bool)


@pytest.fixture
def pool(pg_schema_url: str) -> Iterator[Pool]:
    with open_conn(pg_schema_url) as conn:
        create_tables(conn)
        conn.exec(Request.exec("INSERT INTO members (email, name) VALUES ('a@x', 'ada')"))
    pool = Pool(pg_schema_url, max_size=1, timeout=10, connect_timeout=CONNECT_TIMEOUT)
    try:
        yield pool
    finally:
        pool.shutdown(timeout=5)


def kill_pooled_connection(pool: Pool, url: str) -> None:
    """Terminate, from another session, the server process behind the pool's one connection."""
    with pool.connection() as conn:
        pid = conn.one(backend_pid)
    with open_conn(url) as admin:
        assert admin.one(terminate, pid)


@pytest.mark.parametrize("read", ["all", "get", "aggregate"])
def test_a_read_on_a_dead_connection_runs_again(pool: Pool, pg_schema_url: str, read: str) -> None:
    events: list[repodb.telemetry.QueryEvent] = []
    repo = Repo(pool, on_event=events.append)
    ada = repo.get_by(Member, name="ada")
    kill_pooled_connection(pool, pg_schema_url)
    events.clear()
    if read == "all":
        assert repo.all(query(Member)) == [ada]
    elif read == "get":
        assert repo.get(Member, ada.id) == ada
    else:
        assert repo.aggregate(query(Member), "count") == 1
    # The failed attempt and the one that worked, each reported.
    assert [type(e.error) for e in events] == [repodb.ConnectionLost, type(None)]
    assert pool.stats().discarded == 1


def test_a_write_on_a_dead_connection_is_not_repeated(pool: Pool, pg_schema_url: str) -> None:
    repo = Repo(pool)
    kill_pooled_connection(pool, pg_schema_url)
    with pytest.raises(repodb.ConnectionLost):
        repo.insert(Member(email="b@x", name="bob"))
    # The next write gets a new connection; bob was never written.
    repo.insert(Member(email="c@x", name="cy"))
    assert sorted(repo.all(query(Member).select(Member.name))) == ["ada", "cy"]


def test_a_read_inside_a_transaction_is_not_repeated(pool: Pool, pg_schema_url: str) -> None:
    repo = Repo(pool)

    def read_after_kill() -> None:
        with repo.transaction() as tx:
            with open_conn(pg_schema_url) as admin:
                admin.one(terminate, tx.connection.one(backend_pid))
            tx.all(query(Member))

    with pytest.raises(repodb.ConnectionLost):
        read_after_kill()
    assert repo.aggregate(query(Member), "count") == 1


def test_a_get_on_a_bare_connection_runs_again_and_not_in_a_transaction(
    pg_schema_url: str,
) -> None:
    # A Repo on a bare connection runs a get on it without a checkout; a
    # read it must repeat still goes through the checkout path, once: the
    # same connection, dead, fails again.
    events: list[repodb.telemetry.QueryEvent] = []
    with open_conn(pg_schema_url) as conn:
        create_tables(conn)
        repo = Repo(conn, on_event=events.append)
        ada = repo.insert(Member(email="a@x", name="ada"))
        with open_conn(pg_schema_url) as admin:
            assert admin.one(terminate, conn.one(backend_pid))
        events.clear()
        with pytest.raises(repodb.ConnectionLost):
            repo.get(Member, ada.id)
        assert [type(e.error) for e in events] == [repodb.ConnectionLost] * 2
    with open_conn(pg_schema_url) as conn:
        repo = Repo(conn, on_event=events.append)
        events.clear()

        def get_after_kill() -> None:
            with repo.transaction() as tx:
                with open_conn(pg_schema_url) as admin:
                    admin.one(terminate, tx.connection.one(backend_pid))
                tx.get(Member, ada.id)

        with pytest.raises(repodb.ConnectionLost):
            get_after_kill()
        assert [type(e.error) for e in events] == [repodb.ConnectionLost]
