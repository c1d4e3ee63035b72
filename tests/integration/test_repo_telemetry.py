"""Telemetry events and DEBUG logs of the Repo's statements, on SQLite, PostgreSQL, MariaDB.

Covered: one event per statement with its SQL (placeholders, no values), the
server (``primary``), non-negative checkout, query and decode times and the
row count (rows read, rows written, rows returned); several handlers; params
absent unless ``log_params=True``; the value of a ``redact=True`` field
(``Member.password``) absent from event params and from the ``repodb``
logger's output for a ``where`` on it, an insert (one record, ``insert_all``
and a compiled ``insert_all`` statement), an update (a changeset and
``update_all``) and a failed insert, while the database holds the value; a
failed statement's event carrying the error; statements in a transaction
reporting no checkout time; and nothing logged when DEBUG is off.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

import repodb
from repodb import Request, UniqueViolation
from repodb.changeset import change
from repodb.query import query
from repodb.repo import Repo
from repodb.telemetry import REDACTED, QueryEvent
from repodb.types import tup
from repodb.write import insert_all, update_all

from .repo_models import Member, create_tables

pytestmark = pytest.mark.mariadb

SECRET = "correct-horse-battery"
NEW_SECRET = "staple-0f-doom"
ADD_MEMBER = Request.one(
    "INSERT INTO members (email, name, age, password) VALUES (?, ?, ?, ?) RETURNING id",
    params=tup(str, str, int, str),
    row=int,
)
PASSWORDS = Request.many("SELECT password FROM members ORDER BY email", row=str)


@pytest.fixture
def events() -> list[QueryEvent]:
    return []


@pytest.fixture
def seeded(conn: repodb.Connection) -> repodb.Connection:
    """``conn`` with the blog tables and two members, ada (36) and bob (40), written directly."""
    create_tables(conn)
    conn.one(ADD_MEMBER, ("ada@example.com", "ada", 36, SECRET))
    conn.one(ADD_MEMBER, ("bob@example.com", "bob", 40, "bobs-password"))
    return conn


@pytest.fixture
def repo(seeded: repodb.Connection, events: list[QueryEvent]) -> Repo:
    """A repo that records its events, without parameters."""
    return Repo(seeded, on_event=events.append)


@pytest.fixture
def logged(seeded: repodb.Connection, events: list[QueryEvent]) -> Repo:
    """A repo that records its events with their parameters."""
    return Repo(seeded, on_event=events.append, log_params=True)


def assert_timed(event: QueryEvent) -> None:
    assert event.source == "primary"
    assert event.checkout_time >= 0
    assert event.query_time >= 0
    assert event.decode_time >= 0
    assert event.total_time == pytest.approx(
        event.checkout_time + event.query_time + event.decode_time
    )


def assert_secret_hidden(events: list[QueryEvent], log: str, *secrets: str) -> None:
    """No secret in any event's params or in the log, which shows at least one redaction."""
    assert events
    for event in events:
        assert event.params is not None
        for secret in secrets:
            assert secret not in repr(event.params)
    for secret in secrets:
        assert secret not in log
    assert "**redacted**" in log


def test_each_statement_emits_one_event(
    repo: Repo, seeded: repodb.Connection, events: list[QueryEvent]
) -> None:
    members = repo.all(query(Member).order_by(Member.name))
    assert [m.name for m in members] == ["ada", "bob"]
    (read,) = events
    assert read.sql.startswith("SELECT ")
    assert seeded.dialect.quote("members") in read.sql
    assert read.rows == 2
    assert read.params is None
    assert read.error is None
    assert_timed(read)
    assert repo.get(Member, members[0].id) == members[0]
    assert events[-1].rows == 1
    assert_timed(events[-1])
    updated = repo.update_all(query(Member).where(Member.age > 30), set={"age": 50})
    assert updated.count == 2
    assert events[-1].sql.startswith("UPDATE ")
    assert events[-1].rows == 2
    assert repo.exec(Request.exec("DELETE FROM members WHERE name = ?", params=str), "bob") == 1
    assert events[-1].rows == 1
    assert events[-1].sql == "DELETE FROM members WHERE name = ?"
    assert len(events) == 4


def test_every_handler_gets_every_event(seeded: repodb.Connection) -> None:
    first: list[QueryEvent] = []
    second: list[QueryEvent] = []
    repo = Repo(seeded, on_event=[first.append, second.append])
    repo.exists(query(Member))
    assert len(first) == 1
    assert first == second


def test_params_appear_only_with_log_params(
    repo: Repo,
    logged: Repo,
    seeded: repodb.Connection,
    events: list[QueryEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="repodb")
    repo.all(query(Member).where(name="ada", age=36))
    assert events[-1].params is None
    assert "'ada'" not in caplog.text
    assert seeded.dialect.quote("members") in caplog.text
    logged.all(query(Member).where(name="ada", age=36))
    assert events[-1].params == ("ada", 36)
    assert "('ada', 36)" in caplog.text


def test_a_where_on_a_redacted_field_never_shows_its_value(
    logged: Repo, events: list[QueryEvent], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="repodb")
    found = logged.one(query(Member).where(password=SECRET))
    assert found.name == "ada"
    assert logged.exists(query(Member).where((Member.password == SECRET) & (Member.age == 36)))
    assert logged.all(query(Member).where(Member.password.in_([SECRET, "x"]))) == [found]
    assert_secret_hidden(events, caplog.text, SECRET)
    for event in events:
        assert event.params is not None
        assert REDACTED in event.params
    # The other values are still shown.
    assert events[1].params is not None
    assert 36 in events[1].params


def test_an_insert_never_shows_a_redacted_value(
    logged: Repo,
    seeded: repodb.Connection,
    events: list[QueryEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="repodb")
    cy = logged.insert(Member(email="cy@example.com", name="cy", password="cy-" + SECRET))
    assert cy.password == "cy-" + SECRET
    logged.insert_all(
        Member, [{"email": "dan@example.com", "name": "dan", "password": "dan-" + SECRET}]
    )
    logged.execute(
        insert_all(
            Member, [{"email": "eve@example.com", "name": "eve", "password": "eve-" + SECRET}]
        )
    )
    # One statement each (a bulk load may send COPY or executemany, which log no params).
    assert len(events) == 3
    assert "'cy@example.com'" in caplog.text
    assert_secret_hidden(events, caplog.text, "cy-" + SECRET, "dan-" + SECRET, "eve-" + SECRET)
    for event in (events[0], events[2]):
        assert event.params is not None
        assert REDACTED in event.params
    # The database holds the values the logs left out.
    assert seeded.all(PASSWORDS) == [
        SECRET,
        "bobs-password",
        "cy-" + SECRET,
        "dan-" + SECRET,
        "eve-" + SECRET,
    ]


def test_an_update_never_shows_a_redacted_value(
    logged: Repo,
    seeded: repodb.Connection,
    events: list[QueryEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ada = logged.get_by(Member, name="ada")
    caplog.set_level(logging.DEBUG, logger="repodb")
    events.clear()
    logged.update(change(ada, password=NEW_SECRET, age=37))
    logged.update_all(query(Member).where(name="bob"), set={"password": "bob-" + NEW_SECRET})
    logged.execute(update_all(query(Member).where(name="bob"), set={"password": "2-" + NEW_SECRET}))
    # On PostgreSQL the record's update is inside WITH (it fails when it matched several rows);
    # MariaDB has no UPDATE ... RETURNING, so the record is read back by its key after it.
    if not seeded.dialect.supports_update_returning:
        (read_back,) = [e for e in events if e.sql.startswith("SELECT ")]
        assert read_back is events[1]
        assert read_back.params is not None
        assert NEW_SECRET not in repr(read_back.params)
        events.remove(read_back)
    assert len(events) == 3
    assert all("UPDATE " in e.sql for e in events)
    assert events[0].params is not None
    assert 37 in events[0].params
    assert_secret_hidden(events, caplog.text, NEW_SECRET)
    for event in events:
        assert event.params is not None
        assert REDACTED in event.params
    assert seeded.all(PASSWORDS) == [NEW_SECRET, "2-" + NEW_SECRET]


def test_a_failed_statement_emits_an_event_with_its_error(
    logged: Repo, events: list[QueryEvent], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="repodb")
    twin = insert_all(Member, [{"email": "ada@example.com", "name": "twin", "password": SECRET}])
    with pytest.raises(UniqueViolation) as raised:
        logged.execute(twin)
    (failed,) = events
    assert failed.error is raised.value
    assert failed.rows == 0
    assert failed.sql.startswith("INSERT INTO ")
    assert_timed(failed)
    assert_secret_hidden([failed], caplog.text, SECRET)
    assert failed.params is not None
    assert REDACTED in failed.params
    assert "error UniqueViolation" in caplog.text
    with pytest.raises(repodb.QueryError):
        logged.exec(Request.exec("DELETE FROM no_such_table"))
    assert isinstance(events[-1].error, repodb.QueryError)
    assert events[-1].sql == "DELETE FROM no_such_table"


def test_statements_in_a_transaction_report_no_checkout_time(
    repo: Repo, events: list[QueryEvent]
) -> None:
    with repo.transaction() as tx:
        tx.all(query(Member))
        tx.update_all(query(Member), set={"age": 1})
        tx.get_by(Member, name="ada")
        tx.exec(Request.exec("DELETE FROM members WHERE name = 'bob'"))
    assert len(events) == 4
    assert [e.checkout_time for e in events] == [0.0] * 4
    assert [e.rows for e in events] == [2, 2, 1, 1]
    for event in events:
        assert_timed(event)


def test_nothing_is_logged_below_debug(repo: Repo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="repodb")
    repo.all(query(Member))
    assert caplog.records == []


def test_a_stream_emits_one_event_when_it_closes(
    logged: Repo, events: list[QueryEvent], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="repodb")
    everyone = query(Member).where(Member.password.is_not_null()).order_by(Member.name)
    with logged.stream(everyone, batch_size=1) as members:
        assert [m.name for m in members] == ["ada", "bob"]
    (streamed,) = events
    assert streamed.sql.startswith("SELECT ")
    assert streamed.rows == 2
    assert streamed.error is None
    assert_timed(streamed)
    with logged.stream(query(Member).where(password=SECRET)) as found:
        assert [m.name for m in found] == ["ada"]
    assert events[-1].rows == 1
    assert_secret_hidden(events[1:], caplog.text, SECRET)
    assert events[-1].params == (REDACTED,)


def test_events_show_the_values_as_given_whether_the_statement_fails_or_not(
    logged: Repo, events: list[QueryEvent]
) -> None:
    # A datetime goes to SQLite as text: events show the datetime itself,
    # on success and on failure alike.
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    fine = {"email": "cy@example.com", "name": "cy", "inserted_at": stamp}
    logged.execute(insert_all(Member, [fine]))
    with pytest.raises(UniqueViolation):
        logged.execute(insert_all(Member, [fine]))
    ok, failed = events
    assert failed.error is not None
    assert ok.params == failed.params
    assert ok.params is not None
    assert stamp in ok.params


def test_a_get_shows_its_key_on_success_and_failure(
    logged: Repo, events: list[QueryEvent], conn: repodb.Connection
) -> None:
    ada = logged.get_by(Member, name="ada")
    assert ada.id is not None
    events.clear()
    assert logged.get(Member, ada.id) == ada
    assert events[-1].params == (ada.id,)
    conn.exec(Request.exec("DROP TABLE badges"))
    conn.exec(Request.exec("DROP TABLE profiles"))
    conn.exec(Request.exec("DROP TABLE post_tags"))
    conn.exec(Request.exec("DROP TABLE comments"))
    conn.exec(Request.exec("DROP TABLE posts"))
    conn.exec(Request.exec("DROP TABLE members"))
    with pytest.raises(repodb.QueryError):
        logged.get(Member, ada.id)
    assert events[-1].error is not None
    assert events[-1].params == (ada.id,)
