"""A connection lost during COMMIT: ``CommitOutcomeUnknown``, never retried.

A deferred constraint trigger runs inside COMMIT; this one ends its own
server process, so the connection breaks while COMMIT runs, as when a
server is killed or the network cut at that moment.
"""

from __future__ import annotations

import pytest

from repodb import CommitOutcomeUnknown, Connection, ConnectionLost, Request
from tests.conftest import open_conn

SETUP = [
    "CREATE TABLE payments (key text PRIMARY KEY)",
    """CREATE FUNCTION end_own_backend() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_terminate_backend(pg_backend_pid());
        PERFORM pg_sleep(5);  -- interrupted by the termination
        RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER dies_at_commit AFTER INSERT ON payments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION end_own_backend()""",
]
PAY = Request.exec("INSERT INTO payments (key) VALUES (?)", params=str)


def set_up(url: str) -> None:
    with open_conn(url) as admin:
        for sql in SETUP:
            admin.exec(Request.exec(sql))


def test_a_connection_lost_during_commit_says_the_outcome_is_unknown(pg_schema_url: str) -> None:
    set_up(pg_schema_url)
    with open_conn(pg_schema_url) as conn:
        unknown = pytest.raises(CommitOutcomeUnknown, match="whether the transaction committed")
        with unknown as e, conn.transaction():
            conn.exec(PAY, "order-17")
        assert isinstance(e.value, ConnectionLost)
        assert e.value.sql == "COMMIT"
        assert conn.broken


def test_a_connection_lost_before_commit_is_plain_connection_lost(pg_schema_url: str) -> None:
    set_up(pg_schema_url)
    with open_conn(pg_schema_url) as conn:
        with pytest.raises(ConnectionLost) as e, conn.transaction():
            conn.exec(Request.exec("SELECT pg_terminate_backend(pg_backend_pid())"))
        assert not isinstance(e.value, CommitOutcomeUnknown)


def test_run_transaction_does_not_retry_an_unknown_commit(pg_schema_url: str) -> None:
    set_up(pg_schema_url)
    calls: list[int] = []

    def pay(c: Connection) -> None:
        calls.append(1)
        c.exec(PAY, "order-18")

    with open_conn(pg_schema_url) as conn, pytest.raises(CommitOutcomeUnknown):
        conn.run_transaction(pay, attempts=5)
    assert calls == [1]
