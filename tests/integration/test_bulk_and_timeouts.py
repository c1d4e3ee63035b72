"""Bulk loads and statement timeouts on every database.

Covered: ``copy_in`` (COPY on PostgreSQL, batched inserts on SQLite) of 1500
rows of many types (JSON, Enum, aware datetimes, Decimal, bytes, NULLs, text
with tabs, newlines, backslashes and a literal ``\\N``), read back equal;
a table in a schema given by ``prefix=``; atomicity of ``copy_in`` and ``execute_many``
when a row mid-way violates a constraint or does not encode (no rows
written), and inside an outer transaction (only the load is undone). A
statement timeout set at connect time or later cancels a slow statement with
StatementTimeout quickly, leaves the connection usable, and can be lifted; on
PostgreSQL the server itself cancelled it (``pg_stat_activity`` from a second
connection shows the backend idle).
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from decimal import Decimal
from typing import Any, NamedTuple

import pytest

import repodb
from repodb import Request
from repodb.types import optional, tup
from tests.conftest import CONNECT_TIMEOUT, open_conn

pytestmark = pytest.mark.mariadb


class Kind(enum.Enum):
    CLICK = 1
    VIEW = 2
    PURCHASE = 3


class Event(NamedTuple):
    id: int
    name: str
    payload: dict[str, object]
    kind: Kind
    at: dt.datetime
    amount: Decimal | None
    data: bytes | None


COLUMNS = ["id", "name", "payload", "kind", "at", "amount", "data"]
NAMES = ["plain", "tab\there", "new\nline", "back\\slash", "\\N", "", "naïve ☃", "comma,quote'\""]
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-7)))


def make_events(count: int, first_id: int = 1) -> list[Event]:
    return [
        Event(
            id=i,
            name=NAMES[i % len(NAMES)],
            payload={"n": i, "tags": ["a", "b"][: i % 3], "nested": {"ok": i % 2 == 0}},
            kind=list(Kind)[i % 3],
            at=START + dt.timedelta(minutes=i, microseconds=i),
            amount=None if i % 5 == 0 else Decimal(i) / 100,
            data=None if i % 7 == 0 else bytes([i % 256, 0, 255]),
        )
        for i in range(first_id, first_id + count)
    ]


read_events = Request.many(
    "SELECT id, name, payload, kind, at, amount, data FROM events ORDER BY id", row=Event
)
count_events = Request.one("SELECT count(*) FROM events", row=int)
insert_event = Request.exec(
    "INSERT INTO events (id, name, payload, kind, at, amount, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
    params=Event,
)


@pytest.fixture
def db(conn: repodb.Connection) -> repodb.Connection:
    if conn.dialect.name == "postgresql":
        types = "text NOT NULL, jsonb NOT NULL, text NOT NULL, timestamptz NOT NULL, numeric, bytea"
    elif conn.dialect.name == "mariadb":
        types = "TEXT NOT NULL, JSON NOT NULL, TEXT NOT NULL, DATETIME(6) NOT NULL,"
        types += " DECIMAL(20,6), BLOB"
    else:
        types = "TEXT NOT NULL, TEXT NOT NULL, TEXT NOT NULL, TEXT NOT NULL, TEXT, BLOB"
    columns = ", ".join(
        f"{name} {kind}" for name, kind in zip(COLUMNS[1:], types.split(", "), strict=True)
    )
    conn.exec(Request.exec(f"CREATE TABLE events (id INTEGER PRIMARY KEY, {columns})"))
    return conn


def current_schema(conn: repodb.Connection) -> str:
    if conn.dialect.name == "postgresql":
        return conn.one(Request.one("SELECT current_schema()", row=str))
    if conn.dialect.name == "mariadb":
        return conn.one(Request.one("SELECT DATABASE()", row=str))
    return "main"


def test_copy_in_loads_every_type(db: repodb.Connection) -> None:
    events = make_events(1500)
    assert db.copy_in("events", COLUMNS, Event, events) == 1500
    assert not db.in_transaction
    assert db.all(read_events) == events


def test_copy_in_with_tuples_and_a_qualified_table(db: repodb.Connection) -> None:
    events = make_events(10)
    row_type = tup(int, str, dict, Kind, dt.datetime, optional(Decimal), optional(bytes))
    rows: list[Any] = [tuple(e) for e in events]
    assert db.copy_in("events", COLUMNS, row_type, rows, prefix=current_schema(db)) == 10
    assert db.all(read_events) == events


def test_copy_in_is_atomic_on_a_constraint_violation(db: repodb.Connection) -> None:
    events = make_events(1000)
    events[600] = events[600]._replace(id=5)  # a duplicate key mid-way
    with pytest.raises(repodb.UniqueViolation) as info:
        db.copy_in("events", COLUMNS, Event, events)
    assert info.value.sql is not None
    assert "events" in info.value.sql
    assert not db.in_transaction
    assert db.one(count_events) == 0


def test_copy_in_is_atomic_on_a_bad_value(db: repodb.Connection) -> None:
    events = make_events(1000)
    bad = events[600]._replace(at=dt.datetime(2024, 1, 1))  # naive: refused
    with pytest.raises(repodb.EncodeError):
        db.copy_in("events", COLUMNS, Event, [*events[:600], bad, *events[601:]])
    assert not db.in_transaction
    assert db.one(count_events) == 0


def test_failed_copy_in_inside_a_transaction_keeps_the_outer_work(db: repodb.Connection) -> None:
    events = make_events(100)
    with db.transaction():
        db.exec(insert_event, make_events(1, first_id=5000)[0])
        with pytest.raises(repodb.UniqueViolation):
            db.copy_in("events", COLUMNS, Event, [*events, events[0]])
        assert db.in_transaction
    assert db.all(Request.many("SELECT id FROM events", row=int)) == [5000]


def test_execute_many(db: repodb.Connection) -> None:
    events = make_events(1200)
    assert db.execute_many(insert_event, events) == 1200
    assert db.all(read_events) == events


def test_execute_many_is_atomic_on_a_constraint_violation(db: repodb.Connection) -> None:
    events = make_events(1000)
    events[700] = events[700]._replace(id=3)
    with pytest.raises(repodb.UniqueViolation):
        db.execute_many(insert_event, events)
    assert not db.in_transaction
    assert db.one(count_events) == 0


def test_execute_many_is_atomic_on_a_bad_value(db: repodb.Connection) -> None:
    events = make_events(1000)
    events[700] = events[700]._replace(kind="CLICK")  # type: ignore[arg-type]
    with pytest.raises(repodb.EncodeError):
        db.execute_many(insert_event, events)
    assert not db.in_transaction
    assert db.one(count_events) == 0


# Statement timeouts ------------------------------------------------------------

SLOW = {
    "postgresql": "SELECT pg_sleep(5)",
    "mariadb": "SELECT SLEEP(5)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000)"
    " SELECT count(*) FROM c",
}
# Generous: the limit is 0.2 s and the slow statement takes 5 s or more.
QUICKLY = 4.0


def run_slow(conn: repodb.Connection) -> float:
    """Run the slow statement, expecting a timeout; return how long it took."""
    started = time.monotonic()
    with pytest.raises(repodb.StatementTimeout) as info:
        conn.exec(Request.exec(SLOW[conn.dialect.name]))
    elapsed = time.monotonic() - started
    assert isinstance(info.value, repodb.QueryError)
    assert info.value.sql == SLOW[conn.dialect.name]
    if conn.dialect.name == "postgresql":
        assert info.value.sqlstate == "57014"
    elif conn.dialect.name == "mariadb":
        assert info.value.code == "1969"  # max_statement_time exceeded
    else:
        assert info.value.code == "SQLITE_INTERRUPT"
    return elapsed


def test_statement_timeout_from_connect(db_url: str) -> None:
    with repodb.connect(db_url, statement_timeout=0.2, connect_timeout=CONNECT_TIMEOUT) as conn:
        assert run_slow(conn) < QUICKLY
        assert not conn.in_transaction
        conn.ping()
        assert conn.one(Request.one("SELECT 6 * 7", row=int)) == 42
        # Again, to show the limit applies to every statement, not the first.
        assert run_slow(conn) < QUICKLY


def test_statement_timeout_set_later_and_lifted(db_url: str) -> None:
    with open_conn(db_url) as conn:
        conn.exec(Request.exec("CREATE TABLE marks (n INTEGER)"))
        conn.set_statement_timeout(0.2)

        def mark_then_run_slow() -> None:
            with conn.transaction():
                conn.exec(Request.exec("INSERT INTO marks VALUES (1)"))
                run_slow(conn)
                conn.exec(Request.exec("INSERT INTO marks VALUES (2)"))

        marks = Request.many("SELECT n FROM marks ORDER BY n", row=int)
        # The cancelled statement aborted the transaction, on both databases:
        # the next statement is refused and nothing is committed.
        with pytest.raises(repodb.InFailedTransaction) as info:
            mark_then_run_slow()
        assert info.value.sqlstate == "25P02"
        assert conn.all(marks) == []
        assert not conn.in_transaction
        conn.set_statement_timeout(None)
        # Without a limit a statement longer than the old one completes.
        slowish = {
            "postgresql": "SELECT pg_sleep(0.5)",
            "mariadb": "SELECT SLEEP(0.5)",
            "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c"
            " WHERE x < 2000000) SELECT count(*) FROM c",
        }
        conn.exec(Request.exec(slowish[conn.dialect.name]))
        conn.ping()


def test_postgresql_server_cancels_the_statement(pg_schema_url: str) -> None:
    with repodb.connect(
        pg_schema_url, statement_timeout=0.2, connect_timeout=CONNECT_TIMEOUT
    ) as conn:
        pid = conn.one(Request.one("SELECT pg_backend_pid()", row=int))
        assert run_slow(conn) < QUICKLY
        with open_conn(pg_schema_url) as observer:
            activity = Request.one(
                "SELECT state, query FROM pg_stat_activity WHERE pid = ?",
                params=int,
                row=tup(str, str),
            )
            state, query = observer.one(activity, pid)
            assert state == "idle"
            assert "pg_sleep" in query  # its last statement, no longer running
            active_sleeps = Request.one(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE pid = ? AND state = 'active' AND query LIKE '%pg_sleep%'",
                params=int,
                row=int,
            )
            assert observer.one(active_sleeps, pid) == 0
        conn.ping()
