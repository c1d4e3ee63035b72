"""The Repo's bulk writes, on SQLite, PostgreSQL and MariaDB.

Covered: ``insert_all`` of dicts and of records fills timestamps (one ``now`` for every
row), client-side defaults and default factories, and leaves database-assigned keys to
the database; 50,000 rows by the fast path (``COPY`` on PostgreSQL, multi-row ``VALUES``
on SQLite) and 50,000 by multi-row ``VALUES`` batches that cross the parameter limit; a
failure in the last batch (or in a savepoint) leaves nothing behind; encoding and row-
shape errors name the field and row and write nothing; upserts report inserted and
updated counts, and per returned row with ``returning`` (records or tuples; MariaDB's by
the session variable its ``ON DUPLICATE KEY UPDATE`` sets, cleared by a statement of its
own first), for fields, ``replace_all`` on a composite key, ``set_`` with ``excluded``
and a dict, ``on_conflict="nothing"``; a key repeated in one call (updated on SQLite and
MariaDB, refused on PostgreSQL); ``update_all`` and ``delete_all`` with and without
``returning``; telemetry for every statement, with redacted values hidden; (not on
MariaDB: ``update_all``'s ``returning``, which it lacks, and migrations) a table name
containing a dot is one table on every path (created by a migration ``diff`` writes,
then written by ``insert``, ``insert_all`` by COPY, VALUES and an upsert,
``update_all``, ``delete_all``), with and without a ``prefix``. Table contents are read
back with separate SQL.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any, LiteralString

import pytest

import repodb
from repodb import Request
from repodb._migration import introspect
from repodb.errors import EncodeError, Error, UniqueViolation
from repodb.migration import Migrator, diff, new_migration
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Schema, field, index
from repodb.telemetry import REDACTED, QueryEvent
from repodb.types import optional, tup
from repodb.write import excluded, set_

from .repo_models import Badge, Member, Tag, create_tables

pytestmark = pytest.mark.mariadb

MEMBERS = Request.many(
    "SELECT email, name, age, version FROM members ORDER BY email",
    row=tup(str, str, optional(int), int),
)
MEMBER_COUNT = Request.one("SELECT count(*) FROM members", row=int)
MEMBER_STAMPS = Request.many(
    "SELECT inserted_at, updated_at FROM members",
    row=tup(optional(dt.datetime), optional(dt.datetime)),
)
MEMBER_IDS = Request.many("SELECT email, id FROM members ORDER BY id", row=tup(str, int))
BADGES = Request.many(
    "SELECT member_id, kind, level FROM badges ORDER BY member_id, kind", row=tup(int, str, int)
)
TAGS = Request.many("SELECT name FROM tags ORDER BY name", row=str)
NOTES = Request.many(
    "SELECT body, kind, token, secret FROM bulk_notes ORDER BY id",
    row=tup(str, str, str, optional(str)),
)

_NOTES_DDL: dict[str, LiteralString] = {
    "sqlite": "CREATE TABLE bulk_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL,"
    " kind TEXT NOT NULL, token TEXT NOT NULL, secret TEXT, inserted_at TEXT)",
    "postgresql": "CREATE TABLE bulk_notes (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL,"
    " kind TEXT NOT NULL, token TEXT NOT NULL, secret TEXT, inserted_at TIMESTAMPTZ)",
    "mariadb": "CREATE TABLE bulk_notes (id BIGINT AUTO_INCREMENT PRIMARY KEY, body TEXT NOT NULL,"
    " kind TEXT NOT NULL, token TEXT NOT NULL, secret TEXT, inserted_at DATETIME(6))",
}


class BulkNote(Schema, table="bulk_notes"):
    """Defaults only the client knows: the table has no DEFAULT for ``kind`` or ``token``."""

    id: Col[int | None] = field(primary_key=True, default=None)
    body: Col[str]
    kind: Col[str] = field(default="plain")
    token: Col[str] = field(default_factory=lambda: uuid.uuid4().hex)
    secret: Col[str | None] = field(default=None, redact=True)
    inserted_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")


@pytest.fixture
def events() -> list[QueryEvent]:
    return []


@pytest.fixture
def repo(conn: repodb.Connection, events: list[QueryEvent]) -> Repo:
    """A repo on ``conn`` with empty tables, recording every statement (and its parameters)."""
    create_tables(conn)
    conn.exec(Request.exec(_NOTES_DDL[conn.dialect.name]))
    return Repo(conn, on_event=events.append, log_params=True)


def members(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"email": f"m{i}@example.com", "name": f"Member {i}", "age": 20 + i % 50}
        for i in range(start, start + n)
    ]


# -- filling rows ------------------------------------------------------------------------


def test_dicts_get_timestamps_defaults_and_keys(repo: Repo, conn: repodb.Connection) -> None:
    before = dt.datetime.now(dt.UTC)
    result = repo.insert_all(
        Member,
        [
            {"email": "ada@example.com", "name": "Ada", "age": 36, "version": 5},
            {"email": "bob@example.com", "name": "Bob"},  # no age, no version: the defaults
        ],
        returning=True,
    )
    after = dt.datetime.now(dt.UTC)
    assert result.count == 2
    assert (result.inserted, result.updated, result.actions) == (None, None, None)
    ada, bob = result.rows
    assert isinstance(ada, Member)
    assert ada.id is not None
    assert bob.id is not None
    assert bob.id > ada.id
    assert ada.inserted_at is not None
    assert before <= ada.inserted_at <= after
    # One moment for every timestamp of every row.
    assert {ada.inserted_at, ada.updated_at, bob.inserted_at, bob.updated_at} == {ada.inserted_at}
    assert conn.all(MEMBERS) == [
        ("ada@example.com", "Ada", 36, 5),
        ("bob@example.com", "Bob", None, 1),
    ]
    assert conn.all(MEMBER_STAMPS) == [(ada.inserted_at, ada.inserted_at)] * 2


def test_client_side_defaults_and_factories_fill_every_row(
    repo: Repo, conn: repodb.Connection
) -> None:
    result = repo.insert_all(
        BulkNote,
        [{"body": "one"}, {"body": "two", "kind": "urgent"}, {"body": "three", "secret": "s"}],
    )
    assert result.count == 3
    rows = conn.all(NOTES)
    assert [(body, kind, secret) for body, kind, _, secret in rows] == [
        ("one", "plain", None),
        ("two", "urgent", None),
        ("three", "plain", "s"),
    ]
    tokens = [token for _, _, token, _ in rows]
    assert len(set(tokens)) == 3  # the factory ran once per row
    assert all(len(t) == 32 for t in tokens)


def test_records_get_keys_and_timestamps_and_keep_given_ones(
    repo: Repo, conn: repodb.Connection
) -> None:
    moment = dt.datetime(2021, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    result = repo.insert_all(
        Member,
        [
            Member(email="a@x", name="A", inserted_at=moment),
            Member(email="b@x", name="B", age=3),
        ],
        returning=["email", Member.inserted_at, "updated_at"],
    )
    assert result.count == 2
    (a, a_in, a_up), (b, b_in, b_up) = sorted(result.rows)
    assert (a, a_in, b) == ("a@x", moment, "b@x")
    assert a_up is not None
    assert a_up > moment
    assert b_in == b_up == a_up
    ids = conn.all(MEMBER_IDS)
    assert [email for email, _ in ids] == ["a@x", "b@x"]
    assert ids[0][1] < ids[1][1]


def test_given_keys_are_kept(repo: Repo, conn: repodb.Connection) -> None:
    repo.insert_all(Member, [Member(id=10, email="a@x", name="A")])
    repo.insert_all(Member, [{"id": 20, "email": "b@x", "name": "B"}])
    assert conn.all(MEMBER_IDS) == [("a@x", 10), ("b@x", 20)]


def test_rows_that_do_not_fit_write_nothing(repo: Repo, conn: repodb.Connection) -> None:
    with pytest.raises(EncodeError, match=r"insert_all age: row 2: expected"):
        repo.insert_all(Member, [*members(2), {"email": "x@x", "name": "X", "age": "old"}])
    with pytest.raises(EncodeError, match=r"insert_all age: row 1: .*64-bit range"):
        repo.insert_all(Member, [*members(1), {"email": "x@x", "name": "X", "age": 2**70}])
    if conn.dialect.name == "postgresql":
        with pytest.raises(EncodeError, match=r"insert_all name: row 1: .*NUL"):
            repo.insert_all(Member, [*members(1), {"email": "x@x", "name": "X\x00"}])
    with pytest.raises(ValueError, match="row 1 has no 'name'"):
        repo.insert_all(Member, [{"email": "a@x", "name": "A"}, {"email": "b@x"}])
    with pytest.raises(ValueError, match="no stored field"):
        repo.insert_all(Member, [{"email": "a@x", "name": "A", "nickname": "a"}])
    with pytest.raises(ValueError, match="id is set in some rows"):
        repo.insert_all(
            Member, [{"id": 1, "email": "a@x", "name": "A"}, {"email": "b@x", "name": "B"}]
        )
    with pytest.raises(TypeError, match="dicts or Member instances"):
        repo.insert_all(Member, [Tag(name="t")])
    assert conn.one(MEMBER_COUNT) == 0


def test_no_rows_is_nothing_to_do(repo: Repo, events: list[QueryEvent]) -> None:
    assert repo.insert_all(Member, []).count == 0
    result = repo.insert_all(Member, [], on_conflict="nothing", conflict_target=["email"])
    assert (result.count, result.inserted, result.updated) == (0, 0, 0)
    assert events == []


# -- many rows --------------------------------------------------------------------------


def test_fifty_thousand_rows_by_the_fast_path(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    result = repo.insert_all(Member, members(50_000))
    assert result.count == 50_000
    assert result.rows == []
    assert conn.one(MEMBER_COUNT) == 50_000
    if conn.dialect.name == "postgresql":
        (event,) = events
        assert event.sql == (
            'COPY "members" ("email", "name", "age", "password", "version", "inserted_at",'
            ' "updated_at") FROM STDIN'
        )
        assert event.rows == 50_000
        assert event.params == ()  # rows are data, not logged parameters
    else:
        # Multi-row VALUES beat executemany on SQLite: 300,000 values in batches.
        assert all(e.sql.startswith(f"INSERT INTO {conn.dialect.quote('members')}") for e in events)
        per_statement = conn.dialect.max_params // 7  # every column but the id
        assert len(events) == -(-50_000 // per_statement)
        assert sum(e.rows for e in events) == 50_000
    assert all(e.error is None and e.source == "primary" for e in events)
    stamps = set(conn.all(MEMBER_STAMPS))
    assert len(stamps) == 1
    (inserted_at, updated_at), *_ = stamps
    assert inserted_at is not None
    assert inserted_at == updated_at


def test_fifty_thousand_rows_in_batches_within_the_parameter_limit(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    # Returning ids needs INSERT ... VALUES (also on PostgreSQL): 50,000 rows
    # of 7 values are 350,000 parameters, several statements on either database.
    result = repo.insert_all(Member, members(50_000), returning=["id"])
    assert result.count == 50_000
    ids = [row[0] for row in result.rows]
    assert len(set(ids)) == 50_000
    assert conn.one(MEMBER_COUNT) == 50_000
    inserts = [e for e in events if e.sql.startswith("INSERT")]
    assert len(inserts) == -(-50_000 // (conn.dialect.max_params // 7))
    assert all(e.params is not None and len(e.params) <= conn.dialect.max_params for e in inserts)
    assert sum(e.rows for e in inserts) == 50_000


def test_a_failure_in_the_last_batch_leaves_nothing(repo: Repo, conn: repodb.Connection) -> None:
    rows = members(20_000)
    rows.append({"email": "m0@example.com", "name": "Again"})  # clashes with the first row
    with pytest.raises(UniqueViolation):
        repo.insert_all(Member, rows, returning=["id"])  # batches of INSERT ... VALUES
    assert conn.one(MEMBER_COUNT) == 0
    with pytest.raises(UniqueViolation):
        repo.insert_all(Member, rows)  # COPY on PostgreSQL
    assert conn.one(MEMBER_COUNT) == 0


def test_inside_a_transaction_a_failed_insert_all_is_a_savepoint(
    repo: Repo, conn: repodb.Connection
) -> None:
    with repo.transaction() as tx:
        tx.insert_all(Member, members(1))
        with pytest.raises(UniqueViolation):
            tx.insert_all(Member, [*members(5, start=1), *members(1)])
        tx.insert_all(Member, members(1, start=7))
    assert [email for email, *_ in conn.all(MEMBERS)] == ["m0@example.com", "m7@example.com"]
    with repo.transaction() as tx:
        tx.insert_all(Member, members(3, start=10))
        tx.rollback()
    assert conn.one(MEMBER_COUNT) == 2


# -- upserts -----------------------------------------------------------------------------


def seed(repo: Repo) -> dict[str, int]:
    """Members ada and bob; their ids by email."""
    stored = repo.insert_all(
        Member,
        [{"email": "ada@x", "name": "Ada"}, {"email": "bob@x", "name": "Bob", "age": 40}],
        returning=["email", "id"],
    )
    return dict(stored.rows)


NEWCOMERS = [
    {"email": "ada@x", "name": "Ada L."},
    {"email": "cy@x", "name": "Cy"},
    {"email": "bob@x", "name": "Bob B."},
    {"email": "dan@x", "name": "Dan"},
]


def test_upsert_counts_inserted_and_updated(repo: Repo, conn: repodb.Connection) -> None:
    ids = seed(repo)
    result = repo.insert_all(Member, NEWCOMERS, on_conflict=["name"], conflict_target=["email"])
    assert (result.count, result.inserted, result.updated) == (4, 2, 2)
    assert result.rows == []
    assert result.actions is None
    assert conn.all(MEMBERS) == [
        ("ada@x", "Ada L.", None, 1),
        ("bob@x", "Bob B.", 40, 1),  # only the name was replaced
        ("cy@x", "Cy", None, 1),
        ("dan@x", "Dan", None, 1),
    ]
    kept = dict(conn.all(MEMBER_IDS))
    assert (kept["ada@x"], kept["bob@x"]) == (ids["ada@x"], ids["bob@x"])


def test_upsert_with_returning_says_what_happened_to_each_row(
    repo: Repo, conn: repodb.Connection
) -> None:
    ids = seed(repo)
    result = repo.insert_all(
        Member, NEWCOMERS, on_conflict=["name"], conflict_target=[Member.email], returning=True
    )
    assert (result.count, result.inserted, result.updated) == (4, 2, 2)
    assert result.actions is not None
    happened = {
        m.email: (a, m.name, m.id) for m, a in zip(result.rows, result.actions, strict=True)
    }
    assert happened["ada@x"] == ("updated", "Ada L.", ids["ada@x"])
    assert happened["bob@x"] == ("updated", "Bob B.", ids["bob@x"])
    assert happened["cy@x"][:2] == ("inserted", "Cy")
    assert happened["dan@x"][:2] == ("inserted", "Dan")
    assert dict(conn.all(MEMBER_IDS))["cy@x"] == happened["cy@x"][2]

    fields = repo.insert_all(
        Member,
        [{"email": "cy@x", "name": "Cy C."}, {"email": "eve@x", "name": "Eve"}],
        on_conflict={"name": "renamed"},
        conflict_target=["email"],
        returning=["email", "name"],
    )
    assert fields.actions is not None
    assert sorted(zip(fields.rows, fields.actions, strict=True)) == [
        (("cy@x", "renamed"), "updated"),
        (("eve@x", "Eve"), "inserted"),
    ]


def test_upsert_in_batches_counts_every_row(repo: Repo, conn: repodb.Connection) -> None:
    repo.insert_all(Member, members(3_000))
    # 6,000 rows of 6 values cross SQLite's parameter limit: two statements.
    rows = [{**m, "name": "again"} for m in members(6_000)]
    result = repo.insert_all(
        Member, rows, on_conflict=["name"], conflict_target=["email"], returning=["email"]
    )
    assert (result.count, result.inserted, result.updated) == (6_000, 3_000, 3_000)
    assert result.actions is not None
    updated = {row[0] for row, a in zip(result.rows, result.actions, strict=True) if a == "updated"}
    assert updated == {m["email"] for m in members(3_000)}
    assert conn.one(MEMBER_COUNT) == 6_000


def test_on_conflict_nothing_counts_the_rows_written(repo: Repo, conn: repodb.Connection) -> None:
    seed(repo)
    result = repo.insert_all(Member, NEWCOMERS, on_conflict="nothing", conflict_target=["email"])
    assert (result.count, result.inserted, result.updated, result.actions) == (2, 2, 0, None)
    assert [name for _, name, *_ in conn.all(MEMBERS)] == ["Ada", "Bob", "Cy", "Dan"]
    again = repo.insert_all(
        Member,
        [*NEWCOMERS, {"email": "eve@x", "name": "Eve"}],
        on_conflict="nothing",
        conflict_target=["email"],
        returning=["email"],
    )
    assert (again.count, again.inserted, again.updated) == (1, 1, 0)
    assert (again.rows, again.actions) == ([("eve@x",)], ("inserted",))


def test_replace_all_on_a_composite_key(repo: Repo, conn: repodb.Connection) -> None:
    ids = seed(repo)
    ada, bob = ids["ada@x"], ids["bob@x"]
    repo.insert_all(Badge, [Badge(member_id=ada, kind="gold"), Badge(member_id=bob, kind="gold")])
    result = repo.insert_all(
        Badge,
        [
            Badge(member_id=ada, kind="gold", level=3),
            Badge(member_id=ada, kind="silver", level=2),
            Badge(member_id=bob, kind="bronze"),
        ],
        on_conflict="replace_all",
        conflict_target=["member_id", "kind"],
        returning=True,
    )
    assert (result.count, result.inserted, result.updated) == (3, 2, 1)
    assert result.actions is not None
    assert sorted(
        ((b.member_id, b.kind), a) for b, a in zip(result.rows, result.actions, strict=True)
    ) == sorted(
        [((ada, "gold"), "updated"), ((ada, "silver"), "inserted"), ((bob, "bronze"), "inserted")]
    )
    assert conn.all(BADGES) == sorted(
        [(ada, "gold", 3), (ada, "silver", 2), (bob, "bronze", 1), (bob, "gold", 1)]
    )


def test_upsert_sets_with_excluded_and_with_a_dict(repo: Repo, conn: repodb.Connection) -> None:
    ada = seed(repo)["ada@x"]
    repo.insert_all(Badge, [{"member_id": ada, "kind": "gold", "level": 2}])
    result = repo.insert_all(
        Badge,
        [
            {"member_id": ada, "kind": "gold", "level": 5},
            {"member_id": ada, "kind": "tin", "level": 1},
        ],
        on_conflict=[set_(Badge.level, Badge.level + excluded(Badge.level))],
        conflict_target=[Badge.member_id, Badge.kind],
    )
    assert (result.count, result.inserted, result.updated) == (2, 1, 1)
    assert conn.all(BADGES) == [(ada, "gold", 7), (ada, "tin", 1)]
    result = repo.insert_all(
        Badge,
        [{"member_id": ada, "kind": "tin", "level": 9}],
        on_conflict={Badge.level: 0},
        conflict_target=["member_id", "kind"],
    )
    assert (result.inserted, result.updated) == (0, 1)
    assert conn.all(BADGES) == [(ada, "gold", 7), (ada, "tin", 0)]


def test_a_key_twice_in_one_upsert(repo: Repo, conn: repodb.Connection) -> None:
    rows = [{"name": "t"}, {"name": "u"}, {"name": "t"}]
    if conn.dialect.name == "postgresql":
        # PostgreSQL refuses to update a row twice in one statement.
        with pytest.raises(Error, match="cannot affect row a second time"):
            repo.insert_all(Tag, rows, on_conflict=["name"], conflict_target=["name"])
        assert conn.all(TAGS) == []
        return
    result = repo.insert_all(
        Tag, rows, on_conflict=["name"], conflict_target=["name"], returning=["name"]
    )
    assert (result.count, result.inserted, result.updated) == (3, 2, 1)
    assert result.actions is not None
    assert sorted(zip(result.rows, result.actions, strict=True)) == [
        (("t",), "inserted"),
        (("t",), "updated"),
        (("u",), "inserted"),
    ]
    assert conn.all(TAGS) == ["t", "u"]


# -- update_all and delete_all -----------------------------------------------------------


@pytest.mark.mariadb(absent="no UPDATE ... RETURNING on MariaDB (refused when compiled)")
def test_update_all_with_set_and_returning(repo: Repo, conn: repodb.Connection) -> None:
    repo.insert_all(Member, members(5))
    older = query(Member).where(Member.age >= 22)
    result = repo.update_all(older, set={"name": "Elder"}, returning=True)
    assert result.count == 3
    assert sorted(m.email for m in result.rows) == [f"m{i}@example.com" for i in (2, 3, 4)]
    assert all(isinstance(m, Member) and m.name == "Elder" for m in result.rows)
    bumped = repo.update_all(older, set_(Member.version, Member.version + 1))
    assert (bumped.count, bumped.rows) == (3, [])
    fields = repo.update_all(
        query(Member).where(Member.email == "m0@example.com"), set={"age": 99}, returning=["age"]
    )
    assert (fields.count, fields.rows) == (1, [(99,)])
    assert conn.all(MEMBERS) == [
        ("m0@example.com", "Member 0", 99, 1),
        ("m1@example.com", "Member 1", 21, 1),
        ("m2@example.com", "Elder", 22, 2),
        ("m3@example.com", "Elder", 23, 2),
        ("m4@example.com", "Elder", 24, 2),
    ]
    assert repo.update_all(query(Member).where(Member.age > 100), set={"age": 1}).count == 0


def test_delete_all_with_and_without_returning(repo: Repo, conn: repodb.Connection) -> None:
    repo.insert_all(Member, members(5))
    result = repo.delete_all(query(Member).where(Member.age < 22), returning=["email"])
    assert result.count == 2
    assert sorted(result.rows) == [("m0@example.com",), ("m1@example.com",)]
    records = repo.delete_all(query(Member).where(Member.age == 22), returning=True)
    assert [(m.email, m.age) for m in records.rows] == [("m2@example.com", 22)]
    rest = repo.delete_all(query(Member))
    assert (rest.count, rest.rows) == (2, [])
    assert conn.one(MEMBER_COUNT) == 0


# -- telemetry ---------------------------------------------------------------------------


def test_every_statement_is_reported_and_redacted_values_hidden(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    repo.insert_all(
        Member,
        [{"email": "ada@x", "name": "Ada", "password": "hunter2"}],
        on_conflict="nothing",
        conflict_target=["email"],
    )
    # MariaDB first clears the session variable its inserted flag reads.
    reset = conn.dialect.inserted_flag_reset
    *cleared, insert = events
    assert [e.sql for e in cleared] == ([reset] if reset else [])
    assert insert.sql.startswith("INSERT")
    assert insert.rows == 1
    assert insert.params is not None
    assert REDACTED in insert.params
    assert "hunter2" not in insert.params
    events.clear()
    repo.insert_all(
        Member,
        [{"email": "ada@x", "name": "Ada"}],
        on_conflict={"password": "swordfish"},
        conflict_target=["email"],
    )
    statements = [e.sql.split()[0] for e in events]
    # SQLite first reads which keys exist: it has no inserted flag.
    expected = ["INSERT"] if conn.dialect.inserted_flag_sql else ["SELECT", "INSERT"]
    assert statements == (["SET", *expected] if reset else expected)
    assert events[-1].params is not None
    assert "swordfish" not in events[-1].params
    events.clear()
    repo.update_all(query(Member), set={"password": "letmein"})
    (update,) = events
    assert update.params is not None
    assert "letmein" not in update.params
    assert update.rows == 1


# -- names -------------------------------------------------------------------------------


class DottedNote(Schema, table="bulk.notes", indexes=(index("body", unique=True),)):
    """A table whose name contains a dot: one identifier, never ``bulk`` . ``notes``."""

    id: Col[int | None] = field(primary_key=True, default=None)
    body: Col[str]
    n: Col[int] = field(default=0)


def _current_schema(conn: repodb.Connection) -> str:
    if conn.dialect.name == "postgresql":
        return conn.one(Request.one("SELECT current_schema()", row=str))
    return "main"


def _write_dotted_notes(repo: Repo, schema: type[DottedNote]) -> list[tuple[str, int]]:
    """Every write path on ``schema``'s table; what it holds at the end."""
    repo.insert(schema(body="one"))
    assert repo.insert_all(schema, [{"body": "two"}, {"body": "three"}]).count == 2  # COPY
    written = repo.insert_all(schema, [{"body": "four", "n": 4}], returning=True)  # VALUES
    assert [r.body for r in written.rows] == ["four"]
    upsert = repo.insert_all(
        schema,
        [{"body": "one", "n": 1}, {"body": "five"}],
        on_conflict=["n"],
        conflict_target=["body"],
    )
    assert (upsert.inserted, upsert.updated) == (1, 1)
    assert repo.update_all(query(schema).where(schema.n == 0), set={"n": 9}).count == 3
    assert repo.delete_all(query(schema).where(schema.body == "two")).count == 1
    return sorted((r.body, r.n) for r in repo.all(query(schema)))


@pytest.mark.mariadb(absent="migrations do not support MariaDB yet")
def test_a_dotted_table_name_is_one_table_on_every_path(
    conn: repodb.Connection, tmp_path: Path
) -> None:
    new_migration(tmp_path, "create_dotted", operations=diff(conn, [DottedNote]))
    with Migrator(conn, tmp_path) as migrator:
        migrator.migrate()
        assert diff(conn, [DottedNote]) == []
        expected = [("five", 9), ("four", 4), ("one", 1), ("three", 9)]
        assert _write_dotted_notes(Repo(conn), DottedNote) == expected
        count = Request.one('SELECT count(*) FROM "bulk.notes"', row=int)
        assert conn.one(count) == 4

        # The same table named with its schema as prefix= (SQLite's is "main").
        class PrefixedNote(DottedNote, table="bulk.notes", prefix=_current_schema(conn)):
            pass

        repo = Repo(conn)
        repo.delete_all(query(PrefixedNote))
        assert _write_dotted_notes(repo, PrefixedNote) == expected
        migrator.rollback()
    assert "bulk.notes" not in introspect.tables(conn)
