"""``repo.insert`` of a record through its prebuilt statement, on SQLite, PostgreSQL, MariaDB.

The Repo compiles the INSERT of a schema once per set of columns (a
database-assigned key left None is not a column) and binds each record's
values to it. Checked here: records with and without their key, with an
embedded record, a timestamp and a virtual field, and a record of no column
at all, are stored as given (read back with separate SQL); after the first
insert of a set of columns the compiled-SQL cache is not consulted again;
events carry the SQL and the values; a duplicate key still becomes a field
error or the noted integrity error, leaving the table as it was.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, LiteralString

import pytest

import repodb
from repodb import Request
from repodb._compile import cache
from repodb._repo import write
from repodb.changeset import InvalidChangesetError, cast
from repodb.errors import EncodeError, UniqueViolation
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Embedded, Schema, field
from repodb.telemetry import QueryEvent
from repodb.types import json, optional, tup

pytestmark = pytest.mark.mariadb


class Destination(Embedded):
    city: str
    postcode: str


class Parcel(Schema, table="parcels"):
    id: Col[int | None] = field(primary_key=True, default=None)
    code: Col[str]
    destination: Col[Destination | None] = field(default=None)
    weight: Col[int] = field(default=0)
    sent_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")
    note: Col[str | None] = field(default=None, virtual=True)


class Tick(Schema, table="ticks"):
    id: Col[int | None] = field(primary_key=True, default=None)


DDL: dict[str, list[LiteralString]] = {
    "sqlite": [
        "CREATE TABLE parcels (id INTEGER PRIMARY KEY, code TEXT NOT NULL"
        " CONSTRAINT parcels_code_key UNIQUE, destination TEXT, weight INTEGER NOT NULL,"
        " sent_at TEXT)",
        "CREATE TABLE ticks (id INTEGER PRIMARY KEY)",
    ],
    "postgresql": [
        "CREATE TABLE parcels (id BIGSERIAL PRIMARY KEY, code TEXT NOT NULL"
        " CONSTRAINT parcels_code_key UNIQUE, destination JSONB, weight BIGINT NOT NULL,"
        " sent_at TIMESTAMPTZ)",
        "CREATE TABLE ticks (id BIGSERIAL PRIMARY KEY)",
    ],
    "mariadb": [
        "CREATE TABLE parcels (id BIGINT AUTO_INCREMENT PRIMARY KEY, code VARCHAR(100) NOT NULL,"
        " destination JSON, weight BIGINT NOT NULL, sent_at DATETIME(6),"
        " CONSTRAINT parcels_code_key UNIQUE (code))",
        "CREATE TABLE ticks (id BIGINT AUTO_INCREMENT PRIMARY KEY)",
    ],
}

PARCELS = Request.many(
    "SELECT id, code, destination, weight FROM parcels ORDER BY code",
    row=tup(int, str, optional(json()), int),
)
TICKS = Request.many("SELECT id FROM ticks ORDER BY id", row=int)
PARIS = Destination(city="Paris", postcode="75001")


@pytest.fixture
def events() -> list[QueryEvent]:
    return []


@pytest.fixture
def repo(conn: repodb.Connection, events: list[QueryEvent]) -> Repo:
    for ddl in DDL[conn.dialect.name]:
        conn.exec(Request.exec(ddl))
    return Repo(conn, on_event=events.append, log_params=True)


def test_records_with_and_without_a_key_are_stored_as_given(
    repo: Repo, conn: repodb.Connection
) -> None:
    before = dt.datetime.now(dt.UTC)
    first = repo.insert(Parcel(code="a", destination=PARIS, weight=3, note="fragile"))
    assert first.id is not None
    assert first.sent_at is not None
    assert before <= first.sent_at <= dt.datetime.now(dt.UTC)
    assert (first.destination, first.weight, first.note) == (PARIS, 3, "fragile")
    given = repo.insert(Parcel(id=100, code="b"))
    assert (given.id, given.destination, given.weight) == (100, None, 0)
    third = repo.insert(Parcel(code="c", weight=7))
    assert third.id not in (None, first.id, 100)
    paris: dict[str, Any] = {"city": "Paris", "postcode": "75001"}
    assert conn.all(PARCELS) == [
        (first.id, "a", paris, 3),
        (100, "b", None, 0),
        (third.id, "c", None, 7),
    ]
    assert repo.get(Parcel, 100) == given
    assert repo.get(Parcel, first.id) == first.replace(note=None)


def test_a_record_of_no_column_gets_its_key(repo: Repo, conn: repodb.Connection) -> None:
    ticks = [repo.insert(Tick()), repo.insert(Tick())]
    assert [t.id for t in ticks] == conn.all(TICKS)
    assert len(set(conn.all(TICKS))) == 2


def test_the_statement_is_compiled_once_per_set_of_columns(repo: Repo) -> None:
    # Without the key, and with it (one more column): a statement each.
    repo.insert(Parcel(code="a"))
    repo.insert(Parcel(id=50, code="b"))
    before = cache.cache_info()
    for n in range(3):
        repo.insert(Parcel(code=f"c{n}", weight=n))
        repo.insert(Parcel(id=40 - n, code=f"d{n}"))
    # Neither compiled nor looked up in the compiled-SQL cache again.
    assert cache.cache_info() == before
    assert len(repo.all(query(Parcel))) == 8


def test_the_plans_are_bounded(
    repo: Repo, conn: repodb.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(write, "_MAX_INSERT_PLANS", 2)
    monkeypatch.setattr(write, "_INSERT_PLANS", {})
    repo.insert(Parcel(code="a"))
    repo.insert(Parcel(id=50, code="b"))
    repo.insert(Tick())
    assert len(write._INSERT_PLANS) == 1
    repo.insert(Parcel(code="c"))
    assert len(write._INSERT_PLANS) == 2
    assert [p.code for p in repo.all(query(Parcel))] == ["a", "b", "c"]
    assert len(conn.all(TICKS)) == 1


def test_events_carry_the_sql_and_the_values(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    stored = repo.insert(Parcel(code="a", destination=PARIS))
    (event,) = events
    expected = 'INSERT INTO "parcels" ("code", "destination", "weight", "sent_at") VALUES'
    if conn.dialect.name == "mariadb":
        expected = expected.replace('"', "`")
    assert event.sql.startswith(expected)
    assert event.rows == 1
    assert event.error is None
    assert event.params == ("a", PARIS, 0, stored.sent_at)


def test_a_duplicate_is_a_field_error_or_a_noted_integrity_error(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    repo.insert(Parcel(code="a", weight=1))
    form = cast(Parcel, {"code": "a", "weight": "2"}, ["code", "weight"]).unique_constraint("code")
    with pytest.raises(InvalidChangesetError) as raised:
        repo.insert(form)
    assert raised.value.changeset.traverse_errors() == {"code": ["has already been taken"]}
    assert raised.value.changeset.action == "insert"
    with pytest.raises(UniqueViolation) as undeclared:
        repo.insert(Parcel(code="a", weight=3))
    assert 'add .unique_constraint("code")' in "\n".join(undeclared.value.__notes__)
    assert [e.error is not None for e in events] == [False, True, True]
    assert [row[1:] for row in conn.all(PARCELS)] == [("a", None, 1)]


def test_a_value_that_does_not_fit_names_its_field_and_sends_nothing(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    with pytest.raises(EncodeError) as none:
        repo.insert(Parcel(code=None))  # type: ignore[arg-type]
    assert str(none.value) == (
        "Parcel.code: expected str, got None; None is only allowed for optional(...) types"
    )
    with pytest.raises(EncodeError, match=r"^Parcel\.weight: expected int, got str$"):
        repo.insert(Parcel(code="a", weight="3"))  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match=r"^Parcel\.sent_at: datetime: a naive datetime"):
        repo.insert(Parcel(code="a", sent_at=dt.datetime(2024, 1, 1)))
    with pytest.raises(EncodeError, match=r"^Parcel\.destination: expected Destination, got"):
        repo.insert(Parcel(code="a", destination={"city": "Paris"}))  # type: ignore[arg-type]
    assert events == []
    assert conn.all(PARCELS) == []
