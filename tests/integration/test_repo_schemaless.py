"""Schemaless queries and inserts through the Repo, on SQLite, PostgreSQL and MariaDB.

A ``table(...)`` read with typed selects (values decoded by their declared
types: an aware datetime, a nullable int), joined with a schema's table and
grouped; ``insert_all`` of dict rows (by COPY on PostgreSQL, VALUES on
SQLite and MariaDB), with ``returning=True`` as dicts, an upsert with its
inserted/updated counts, and rows copied from a query; a query without a
select refused before any statement. Table contents are read back with
separate SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import LiteralString

import pytest

import repodb
from repodb import Request
from repodb.functions import count
from repodb.query import query
from repodb.repo import Repo
from repodb.table import table
from repodb.telemetry import QueryEvent
from repodb.types import optional, tup

from .repo_models import Member, create_tables

pytestmark = pytest.mark.mariadb

EVENTS = Request.many(
    "SELECT kind, member_id, weight FROM events ORDER BY id",
    row=tup(str, optional(int), optional(int)),
)
_DDL: dict[str, LiteralString] = {
    "sqlite": "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL UNIQUE,"
    " member_id INTEGER, weight INTEGER, at TEXT NOT NULL DEFAULT '2026-01-01 00:00:00.000000')",
    "postgresql": "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL UNIQUE,"
    " member_id INTEGER, weight INTEGER, at TIMESTAMPTZ NOT NULL DEFAULT '2026-01-01 00:00:00Z')",
    "mariadb": "CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
    " kind VARCHAR(50) NOT NULL UNIQUE, member_id BIGINT, weight BIGINT,"
    " at DATETIME(6) NOT NULL DEFAULT '2026-01-01 00:00:00')",
}

events = table("events", id=int, kind=str, member_id=int | None, weight=int | None, at=dt.datetime)


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    create_tables(conn)
    conn.exec(Request.exec(_DDL[conn.dialect.name]))
    return Repo(conn)


def test_insert_rows_and_read_them_typed(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    rows = [{"kind": f"k{i}", "member_id": ada.id, "weight": i} for i in range(3)]
    plain = repo.insert_all(events, [*rows, {"kind": "loose", "member_id": None, "weight": None}])
    assert plain.count == 4
    returned = repo.insert_all(events, [{"kind": "last", "weight": 9}], returning=True)
    (last,) = returned.rows
    assert last == {
        "id": last["id"],
        "kind": "last",
        "member_id": None,
        "weight": 9,
        "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),  # the column's default, decoded
    }
    heavy = (
        query(events)
        .where(events.col("weight", int) >= 1)
        .order_by(events.id)
        .select(events.col("kind", str), events.col("weight", int))
    )
    assert repo.all(heavy) == [("k1", 1), ("k2", 2), ("last", 9)]
    per_member = (
        query(events)
        .join(Member, on=Member.id == events.member_id)
        .group_by(Member.name)
        .select({"name": Member.name, "events": count()})
    )
    assert repo.all(per_member) == [{"name": "Ada", "events": 3}]
    stamps = repo.all(query(events).select(events.col("at", dt.datetime)).limit(1))
    assert stamps[0].tzinfo is not None


def test_upsert_and_rows_from_a_query(repo: Repo, conn: repodb.Connection) -> None:
    repo.insert_all(events, [{"kind": "a", "weight": 1}])
    rows = [{"kind": "a", "weight": 5}, {"kind": "b", "weight": 2}]
    target: list[str] | None = ["kind"]
    if conn.dialect.update_on_duplicate:
        # MariaDB's ON DUPLICATE KEY UPDATE acts on any unique key; a table() declares
        # none, so a conflict target is refused before anything runs (docs/mariadb.md).
        with pytest.raises(ValueError, match="it is not a declared key"):
            repo.insert_all(events, rows, on_conflict=["weight"], conflict_target=target)
        target = None
    result = repo.insert_all(events, rows, on_conflict=["weight"], conflict_target=target)
    assert (result.count, result.inserted, result.updated) == (2, 1, 1)
    members = repo.insert_all(
        Member, [{"email": "x@example.com", "name": "X"}], returning=True
    ).rows
    copied = repo.insert_all(
        events, query(Member).select({"kind": Member.email, "member_id": Member.id})
    )
    assert copied.count == 1
    assert conn.all(EVENTS) == [
        ("a", None, 5),
        ("b", None, 2),
        ("x@example.com", members[0].id, None),
    ]


def test_a_query_without_a_select_runs_nothing(conn: repodb.Connection) -> None:
    seen: list[QueryEvent] = []
    repo = Repo(conn, on_event=seen.append)
    with pytest.raises(ValueError, match="has no schema, so no records"):
        repo.all(query(events))
    assert seen == []
