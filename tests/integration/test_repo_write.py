"""The Repo's single-record writes, on SQLite and PostgreSQL.

Covered: ``insert`` of records and changesets (assigned keys, timestamps,
virtual fields, ``on_conflict``), ``update`` (only changed columns,
``updated_at`` bumped, optimistic locking and ``StaleEntryError``),
``delete``, ``insert_or_update``, a composite key; invalid changesets never
reach the database; declared unique, check and foreign-key constraints
become field errors and undeclared ones raise the typed error with a note
naming the declaration; associations written with their record (belongs_to,
has_one, has_many, many_to_many; from loaded records and from
``cast_assoc``, including replacements), all rolled back together when any
part fails. Table contents are always read back with separate SQL.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import pytest

import repodb
from repodb import Request
from repodb.changeset import Changeset, InvalidChangesetError, cast, change
from repodb.errors import (
    CheckViolation,
    ForeignKeyViolation,
    InFailedTransaction,
    MultipleResults,
    NotNullViolation,
    StaleEntryError,
    UniqueViolation,
)
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Schema, field
from repodb.telemetry import QueryEvent
from repodb.types import optional, tup
from tests.conftest import open_conn

from .repo_models import Badge, Comment, Member, Post, Profile, Tag, create_tables

pytestmark = pytest.mark.mariadb

R = TypeVar("R", bound=Schema)

MEMBERS = Request.many(
    "SELECT email, name, age, version FROM members ORDER BY id",
    row=tup(str, str, optional(int), int),
)
POSTS = Request.many(
    "SELECT member_id, title, score FROM posts ORDER BY id", row=tup(optional(int), str, int)
)
COMMENTS = Request.many(
    "SELECT p.title, c.body FROM comments c JOIN posts p ON p.id = c.post_id ORDER BY c.id",
    row=tup(str, str),
)
PROFILES = Request.many(
    "SELECT member_id, bio FROM profiles ORDER BY id", row=tup(optional(int), str)
)
TAGS = Request.many("SELECT name FROM tags ORDER BY id", row=str)
POST_TAGS = Request.many(
    "SELECT p.title, t.name FROM post_tags pt JOIN posts p ON p.id = pt.post_id"
    " JOIN tags t ON t.id = pt.tag_id ORDER BY p.title, t.name",
    row=tup(str, str),
)
BADGES = Request.many(
    "SELECT member_id, kind, level FROM badges ORDER BY member_id, kind", row=tup(int, str, int)
)
SET_AGE = Request.exec("UPDATE members SET age = ? WHERE id = ?", params=tup(int, int))


class MemberSignup(Schema, table="members"):
    """The members table seen by a sign-up form: ``terms`` is virtual (never stored)."""

    id: Col[int | None] = field(primary_key=True, default=None)
    email: Col[str]
    name: Col[str]
    terms: Col[bool] = field(default=False, virtual=True)


class LooseMember(Schema, table="members"):
    """The members table with ``name`` wrongly optional: NULL reaches the NOT NULL column."""

    id: Col[int | None] = field(primary_key=True, default=None)
    email: Col[str]
    name: Col[str | None] = field(default=None)


@pytest.fixture
def events() -> list[QueryEvent]:
    return []


@pytest.fixture
def repo(conn: repodb.Connection, events: list[QueryEvent]) -> Repo:
    """A repo on ``conn`` with empty blog tables, recording every statement in ``events``."""
    create_tables(conn)
    return Repo(conn, on_event=events.append)


def loaded(record: R, **associations: object) -> R:
    """A copy of ``record`` holding ``associations`` as loaded (as preloading does)."""
    copy = record.replace()
    for name, value in associations.items():
        object.__setattr__(copy, name, value)
    return copy


def member_form(params: Mapping[str, Any]) -> Changeset[Member]:
    return (
        cast(Member, params, ["email", "name", "age"])
        .validate_required(["email", "name"])
        .unique_constraint("email")
    )


def notes(error: BaseException) -> str:
    return "\n".join(getattr(error, "__notes__", []))


# -- insert -------------------------------------------------------------------------------


def test_insert_record_reads_back_key_and_timestamps(repo: Repo, conn: repodb.Connection) -> None:
    before = dt.datetime.now(dt.UTC)
    ada = repo.insert(Member(email="ada@example.com", name="Ada", age=36))
    after = dt.datetime.now(dt.UTC)
    assert ada.id is not None
    assert ada.inserted_at is not None
    assert before <= ada.inserted_at <= after
    assert ada.updated_at == ada.inserted_at
    bob = repo.insert(Member(email="bob@example.com", name="Bob"))
    assert bob.id is not None
    assert bob.id > ada.id
    assert conn.all(MEMBERS) == [
        ("ada@example.com", "Ada", 36, 1),
        ("bob@example.com", "Bob", None, 1),
    ]
    assert repo.get(Member, ada.id) == ada


def test_insert_keeps_given_timestamps(repo: Repo) -> None:
    moment = dt.datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    stored = repo.insert(Member(email="e@x", name="E", inserted_at=moment))
    assert stored.inserted_at == moment
    assert stored.updated_at is not None
    assert stored.updated_at > moment
    assert stored.id is not None
    assert repo.get(Member, stored.id).inserted_at == moment


def test_insert_changeset_keeps_virtual_fields(repo: Repo, conn: repodb.Connection) -> None:
    form = cast(MemberSignup, {"email": "v@x", "name": "V", "terms": "true"}, ["email", "name"])
    stored = repo.insert(form.put_change("terms", True))
    assert stored.id is not None
    assert stored.terms is True
    assert conn.all(MEMBERS) == [("v@x", "V", None, 1)]  # the database's default version
    assert repo.get(MemberSignup, stored.id).terms is False  # never stored


def test_invalid_changeset_never_touches_the_database(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    bad = member_form({"email": "", "name": "Nobody", "age": "old"})
    with pytest.raises(InvalidChangesetError) as raised:
        repo.insert(bad)
    assert raised.value.changeset.action == "insert"
    assert raised.value.changeset.traverse_errors() == {
        "age": ["is invalid"],
        "email": ["can't be blank"],
    }
    assert events == []
    assert conn.all(MEMBERS) == []


def test_declared_unique_constraint_is_a_field_error(repo: Repo, conn: repodb.Connection) -> None:
    repo.insert(member_form({"email": "ada@example.com", "name": "Ada"}))
    with pytest.raises(InvalidChangesetError) as raised:
        repo.insert(member_form({"email": "ada@example.com", "name": "Eve"}))
    failed = raised.value.changeset
    assert failed.action == "insert"
    (error,) = failed.errors
    assert (error.field, error.validation) == ("email", "unique")
    assert error.options["constraint_name"] == "members_email_key"
    assert failed.traverse_errors() == {"email": ["has already been taken"]}
    assert isinstance(raised.value.__cause__, UniqueViolation)
    assert conn.all(MEMBERS) == [("ada@example.com", "Ada", None, 1)]


def test_undeclared_unique_violation_names_the_declaration(
    repo: Repo, conn: repodb.Connection
) -> None:
    repo.insert(Member(email="ada@example.com", name="Ada"))
    with pytest.raises(UniqueViolation) as raised:
        repo.insert(Member(email="ada@example.com", name="Eve"))
    hint = notes(raised.value)
    assert 'add .unique_constraint("email") to the changeset' in hint
    assert "insert of Member" in hint
    # PostgreSQL and MariaDB name the constraint; SQLite names its columns.
    reported = "members(email)" if conn.dialect.name == "sqlite" else "members_email_key"
    assert reported in hint
    # A changeset declaring other constraints still raises, and the note lists them.
    other = change(Member(email="ada@example.com", name="Eve")).check_constraint(
        "age", name="members_age_check"
    )
    with pytest.raises(UniqueViolation) as again:
        repo.insert(other)
    assert 'check "members_age_check"' in notes(again.value)
    assert conn.all(MEMBERS) == [("ada@example.com", "Ada", None, 1)]


def test_check_constraint_declared_and_undeclared(repo: Repo, conn: repodb.Connection) -> None:
    params = {"email": "young@x", "name": "Y", "age": "-1"}
    declared = member_form(params).check_constraint("age", name="members_age_check")
    with pytest.raises(InvalidChangesetError) as raised:
        repo.insert(declared)
    (error,) = raised.value.changeset.errors
    assert (error.field, error.validation, error.text) == ("age", "check", "is invalid")
    with pytest.raises(CheckViolation) as undeclared:
        repo.insert(member_form(params))
    assert 'check_constraint("age", name="members_age_check")' in notes(undeclared.value)
    assert conn.all(MEMBERS) == []


def test_foreign_key_on_insert(repo: Repo, conn: repodb.Connection) -> None:
    orphan = cast(Post, {"title": "t", "member_id": "999"}, ["title", "member_id"])
    with pytest.raises(InvalidChangesetError) as raised:
        repo.insert(orphan.foreign_key_constraint("member_id"))
    assert raised.value.changeset.traverse_errors() == {"member_id": ["does not exist"]}
    with pytest.raises(ForeignKeyViolation) as undeclared:
        repo.insert(Post(title="t", member_id=999))
    assert 'foreign_key_constraint("member_id")' in notes(undeclared.value)
    assert conn.all(POSTS) == []


@pytest.mark.mariadb(absent="upserts are not written for MariaDB yet")
def test_on_conflict_nothing_and_upsert(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    skipped = repo.insert(Member(email="ada@example.com", name="Other"), on_conflict="nothing")
    assert skipped.id is None  # nothing was inserted: no key, as in Ecto
    assert skipped.name == "Other"
    assert conn.all(MEMBERS) == [("ada@example.com", "Ada", None, 1)]
    fresh = repo.insert(Member(email="new@example.com", name="New"), on_conflict="nothing")
    assert fresh.id is not None
    upserted = repo.insert(
        Member(email="ada@example.com", name="Ada L."),
        on_conflict=["name"],
        conflict_target=["email"],
    )
    assert (upserted.id, upserted.name) == (ada.id, "Ada L.")
    assert conn.all(MEMBERS) == [
        ("ada@example.com", "Ada L.", None, 1),
        ("new@example.com", "New", None, 1),
    ]


# -- update -------------------------------------------------------------------------------


def test_update_writes_only_changed_fields_and_bumps_updated_at(
    repo: Repo, conn: repodb.Connection, db_url: str
) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada", age=36))
    assert ada.id is not None
    with open_conn(db_url) as other:
        other.exec(SET_AGE, (37, ada.id))  # a concurrent writer changes another column
    time.sleep(0.002)
    updated = repo.update(change(ada, name="Ada L."))
    assert conn.all(MEMBERS) == [("ada@example.com", "Ada L.", 37, 1)]
    assert updated.age == 37  # the row as the database has it
    assert updated.inserted_at == ada.inserted_at
    assert updated.updated_at is not None
    assert ada.updated_at is not None
    assert updated.updated_at > ada.updated_at
    assert repo.get(Member, ada.id) == updated


def test_update_without_changes_runs_nothing(repo: Repo, events: list[QueryEvent]) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    events.clear()
    assert repo.update(change(ada, name="Ada")) is ada
    assert events == []


def test_update_invalid_changeset(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    events.clear()
    with pytest.raises(InvalidChangesetError) as raised:
        repo.update(cast(ada, {"name": ""}, ["name"]).validate_required("name"))
    assert raised.value.changeset.action == "update"
    assert events == []
    assert conn.all(MEMBERS) == [("ada@example.com", "Ada", None, 1)]


def test_update_keeps_virtual_fields(repo: Repo) -> None:
    signup = repo.insert(MemberSignup(email="v@x", name="V", terms=True))
    renamed = repo.update(change(signup, name="W"))
    assert (renamed.name, renamed.terms) == ("W", True)


def test_update_unique_violation_is_a_field_error(repo: Repo, conn: repodb.Connection) -> None:
    repo.insert(Member(email="ada@example.com", name="Ada"))
    bob = repo.insert(Member(email="bob@example.com", name="Bob"))
    steal = cast(bob, {"email": "ada@example.com"}, ["email"]).unique_constraint("email")
    with pytest.raises(InvalidChangesetError) as raised:
        repo.update(steal)
    assert raised.value.changeset.action == "update"
    assert raised.value.changeset.traverse_errors() == {"email": ["has already been taken"]}
    assert [row[0] for row in conn.all(MEMBERS)] == ["ada@example.com", "bob@example.com"]


def test_optimistic_lock_rejects_a_stale_record(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    first = repo.update(change(ada, name="First").optimistic_lock("version"))
    assert first.version == 2
    with pytest.raises(StaleEntryError) as raised:
        repo.update(change(ada, name="Second").optimistic_lock("version"))
    assert (raised.value.schema, raised.value.action) == ("Member", "update")
    assert "version" in str(raised.value)
    assert conn.all(MEMBERS) == [("ada@example.com", "First", None, 2)]
    assert repo.update(change(first, name="Second").optimistic_lock("version")).version == 3


def test_update_of_a_vanished_row_is_stale(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    repo.delete(ada)
    with pytest.raises(StaleEntryError):
        repo.update(change(ada, name="Ghost"))
    assert conn.all(MEMBERS) == []


# -- delete -------------------------------------------------------------------------------


def test_delete_returns_the_deleted_record(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    repo.insert(Member(email="bob@example.com", name="Bob"))
    assert repo.delete(ada) == ada
    assert conn.all(MEMBERS) == [("bob@example.com", "Bob", None, 1)]
    with pytest.raises(StaleEntryError) as raised:
        repo.delete(ada)
    assert (raised.value.schema, raised.value.action) == ("Member", "delete")


def test_delete_with_a_stale_lock_deletes_nothing(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    repo.update(change(ada, name="Ada L.").optimistic_lock("version"))
    with pytest.raises(StaleEntryError):
        repo.delete(change(ada).optimistic_lock("version"))
    assert conn.all(MEMBERS) == [("ada@example.com", "Ada L.", None, 2)]


def test_delete_restricted_by_a_foreign_key(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    repo.insert(Post(title="p", member_id=ada.id))
    with pytest.raises(InvalidChangesetError) as raised:
        repo.delete(change(ada).no_assoc_constraint("posts"))
    failed = raised.value.changeset
    assert failed.action == "delete"
    (error,) = failed.errors
    assert (error.field, error.validation) == ("posts", "no_assoc")
    assert error.text == "are still associated with this entry"
    with pytest.raises(ForeignKeyViolation) as undeclared:
        repo.delete(ada)
    assert ".no_assoc_constraint(" in notes(undeclared.value)
    assert '"posts"' in notes(undeclared.value)
    assert conn.all(MEMBERS) == [("ada@example.com", "Ada", None, 1)]


# -- a key that is not unique in the table ---------------------------------------------------


class Ledger(Schema, table="ledger"):
    """A table whose declared primary key has no constraint: two rows may share it."""

    id: Col[int] = field(primary_key=True)
    note: Col[str]


LEDGER = Request.many("SELECT id, note FROM ledger ORDER BY id, note", row=tup(int, str))


@pytest.fixture
def ledger(repo: Repo, conn: repodb.Connection) -> list[Ledger]:
    """Rows (1, "a"), (1, "b"), (2, "c") in a table without a primary-key constraint."""
    conn.exec(Request.exec("CREATE TABLE ledger (id BIGINT NOT NULL, note TEXT NOT NULL)"))
    return [repo.insert(Ledger(id=i, note=n)) for i, n in ((1, "a"), (1, "b"), (2, "c"))]


LEDGER_ROWS = [(1, "a"), (1, "b"), (2, "c")]


def test_delete_matching_several_rows_raises_and_deletes_nothing(
    repo: Repo, conn: repodb.Connection, ledger: list[Ledger]
) -> None:
    with pytest.raises(MultipleResults) as raised:
        repo.delete(ledger[0])
    assert "Ledger" in str(raised.value)
    assert conn.all(LEDGER) == LEDGER_ROWS
    with pytest.raises(MultipleResults):
        repo.delete(change(ledger[0]))
    assert conn.all(LEDGER) == LEDGER_ROWS


def test_update_matching_several_rows_raises_and_changes_nothing(
    repo: Repo, conn: repodb.Connection, ledger: list[Ledger]
) -> None:
    with pytest.raises(MultipleResults) as raised:
        repo.update(change(ledger[0], note="z"))
    assert "Ledger" in str(raised.value)
    assert conn.all(LEDGER) == LEDGER_ROWS


@pytest.mark.mariadb(absent="counts statements: MariaDB's update is an UPDATE then a SELECT")
def test_single_row_writes_of_a_keyless_table_still_work(
    repo: Repo, conn: repodb.Connection, ledger: list[Ledger], events: list[QueryEvent]
) -> None:
    events.clear()
    assert repo.update(change(ledger[2], note="d")) == Ledger(id=2, note="d")
    assert repo.delete(ledger[2]) == Ledger(id=2, note="d")
    assert len(events) == 2  # one statement each
    with pytest.raises(StaleEntryError):
        repo.delete(ledger[2])
    with pytest.raises(StaleEntryError):
        repo.update(change(ledger[2], note="e"))
    assert conn.all(LEDGER) == LEDGER_ROWS[:2]


def test_several_rows_matched_in_a_transaction_roll_it_back(
    repo: Repo, conn: repodb.Connection, ledger: list[Ledger]
) -> None:
    with repo.transaction() as tx:
        tx.insert(Ledger(id=3, note="kept"))
        with pytest.raises(MultipleResults):
            tx.update(change(ledger[0], note="z"))
        # As after any failed statement, the transaction can only be rolled back.
        with pytest.raises(InFailedTransaction):
            tx.all(query(Ledger))
        tx.rollback()
    assert conn.all(LEDGER) == LEDGER_ROWS
    with repo.transaction() as tx:
        tx.insert(Ledger(id=3, note="kept"))
        with pytest.raises(MultipleResults), tx.transaction():
            tx.delete(ledger[0])
        # A savepoint around the write undoes it alone.
        assert tx.all(query(Ledger).where(Ledger.id == 1)) == ledger[:2]
    assert conn.all(LEDGER) == [*LEDGER_ROWS, (3, "kept")]


# -- composite keys and insert_or_update ------------------------------------------------------


def test_composite_key_update_and_delete(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    assert ada.id is not None
    gold = repo.insert(Badge(member_id=ada.id, kind="gold"))
    silver = repo.insert(Badge(member_id=ada.id, kind="silver", level=2))
    assert repo.update(change(gold, level=3)).level == 3
    assert conn.all(BADGES) == [(ada.id, "gold", 3), (ada.id, "silver", 2)]
    assert repo.delete(silver) == silver
    assert conn.all(BADGES) == [(ada.id, "gold", 3)]
    with pytest.raises(StaleEntryError):
        repo.update(change(silver, level=9))
    assert conn.all(BADGES) == [(ada.id, "gold", 3)]


def test_insert_or_update(repo: Repo, conn: repodb.Connection) -> None:
    inserted = repo.insert_or_update(member_form({"email": "ada@example.com", "name": "Ada"}))
    assert inserted.id is not None
    updated = repo.insert_or_update(cast(inserted, {"name": "Ada L."}, ["name"]))
    assert updated.id == inserted.id
    assert conn.all(MEMBERS) == [("ada@example.com", "Ada L.", None, 1)]


# -- associations -------------------------------------------------------------------------


def test_insert_record_with_children_and_grandchildren(repo: Repo, conn: repodb.Connection) -> None:
    post = loaded(Post(title="Notes"), comments=[Comment(body="first"), Comment(body="second")])
    ada = loaded(
        Member(email="ada@example.com", name="Ada"),
        posts=[post, Post(title="Drafts")],
        profile=Profile(bio="mathematician"),
    )
    stored = repo.insert(ada)
    assert stored.id is not None
    assert [p.title for p in stored.posts] == ["Notes", "Drafts"]
    assert all(p.id is not None and p.member_id == stored.id for p in stored.posts)
    assert [c.body for c in stored.posts[0].comments] == ["first", "second"]
    assert stored.profile is not None
    assert stored.profile.member_id == stored.id
    assert conn.all(POSTS) == [(stored.id, "Notes", 0), (stored.id, "Drafts", 0)]
    assert conn.all(COMMENTS) == [("Notes", "first"), ("Notes", "second")]
    assert conn.all(PROFILES) == [(stored.id, "mathematician")]


def test_insert_links_stored_children(repo: Repo, conn: repodb.Connection) -> None:
    lone = repo.insert(Post(title="Lone"))
    existing = repo.insert(Tag(name="math"))
    stored = repo.insert(
        loaded(Member(email="ada@example.com", name="Ada"), posts=[lone, Post(title="New")])
    )
    assert conn.all(POSTS) == [(stored.id, "Lone", 0), (stored.id, "New", 0)]
    tagged = repo.insert(loaded(Post(title="Tagged"), tags=[existing, Tag(name="fresh")]))
    assert [t.name for t in tagged.tags] == ["math", "fresh"]
    assert tagged.tags[0] == existing
    assert conn.all(TAGS) == ["math", "fresh"]
    assert conn.all(POST_TAGS) == [("Tagged", "fresh"), ("Tagged", "math")]


def test_insert_with_a_new_parent(repo: Repo, conn: repodb.Connection) -> None:
    stored = repo.insert(loaded(Post(title="p"), member=Member(email="m@x", name="M")))
    assert stored.member is not None
    assert stored.member.id is not None
    assert stored.member_id == stored.member.id
    assert conn.all(MEMBERS) == [("m@x", "M", None, 1)]
    assert conn.all(POSTS) == [(stored.member.id, "p", 0)]

    form = cast(Post, {"title": "q", "member": {"email": "n@x", "name": "N"}}, ["title"])
    via_cast = repo.insert(form.cast_assoc("member"))
    assert via_cast.member is not None
    assert via_cast.member_id == via_cast.member.id
    assert conn.all(POSTS)[-1] == (via_cast.member.id, "q", 0)


def test_cast_assoc_children_are_inserted(repo: Repo, conn: repodb.Connection) -> None:
    params = {"email": "ada@example.com", "name": "Ada", "posts": [{"title": "a"}, {"title": "b"}]}
    stored = repo.insert(member_form(params).cast_assoc("posts"))
    assert [(p.member_id, p.title) for p in stored.posts] == [(stored.id, "a"), (stored.id, "b")]
    assert conn.all(POSTS) == [(stored.id, "a", 0), (stored.id, "b", 0)]


def test_cast_assoc_without_children_loads_them_empty(repo: Repo, conn: repodb.Connection) -> None:
    form = cast(Post, {"title": "Empty", "comments": [], "tags": []}, ["title"])
    post = repo.insert(form.cast_assoc("comments").cast_assoc("tags"))
    assert (post.comments, post.tags) == ([], [])
    member_form = cast(
        Member, {"email": "a@example.com", "name": "A", "profile": None}, ["email", "name"]
    )
    member = repo.insert(member_form.cast_assoc("profile"))
    assert vars(member)["profile"] is None
    # Updated: the loaded (empty) children stay loaded.
    renamed = repo.update(
        cast(post, {"title": "Still empty", "comments": []}, ["title"]).cast_assoc("comments")
    )
    assert (renamed.title, renamed.comments) == ("Still empty", [])
    assert conn.all(POSTS) == [(None, "Still empty", 0)]
    assert conn.all(COMMENTS) == []


def tag_form(tag: Tag, params: Mapping[str, Any]) -> Changeset[Tag]:
    return cast(tag, params, ["name"]).validate_required("name").unique_constraint("name")


def test_child_constraint_error_lands_on_the_child_and_rolls_back(
    repo: Repo, conn: repodb.Connection
) -> None:
    repo.insert(Tag(name="math"))
    form = cast(Post, {"title": "t", "tags": [{"name": "fresh"}, {"name": "math"}]}, ["title"])
    with pytest.raises(InvalidChangesetError) as raised:
        repo.insert(form.cast_assoc("tags", with_=tag_form))
    failed = raised.value.changeset
    assert failed.action == "insert"
    assert failed.traverse_errors() == {"tags": [{}, {"name": ["has already been taken"]}]}
    assert failed.changes["tags"][1].action == "insert"
    assert conn.all(POSTS) == []
    assert conn.all(TAGS) == ["math"]  # "fresh" was rolled back with the post
    assert conn.all(POST_TAGS) == []


def test_parent_constraint_error_lands_on_the_parent_field(
    repo: Repo, conn: repodb.Connection
) -> None:
    repo.insert(Member(email="m@x", name="M"))

    def member(m: Member, params: Mapping[str, Any]) -> Changeset[Member]:
        return member_form(params) if m.id is None else cast(m, params, ["name"])

    form = cast(Post, {"title": "q", "member": {"email": "m@x", "name": "N"}}, ["title"])
    with pytest.raises(InvalidChangesetError) as raised:
        repo.insert(form.cast_assoc("member", with_=member))
    assert raised.value.changeset.traverse_errors() == {
        "member": {"email": ["has already been taken"]}
    }
    assert conn.all(POSTS) == []
    assert conn.all(MEMBERS) == [("m@x", "M", None, 1)]


def test_undeclared_grandchild_failure_rolls_back_everything(
    repo: Repo, conn: repodb.Connection
) -> None:
    def post_form(post: Post, params: Mapping[str, Any]) -> Changeset[Post]:
        # The tags' unique name is not declared: the violation raises.
        return cast(post, params, ["title"]).cast_assoc("tags")

    params = {
        "email": "ada@example.com",
        "name": "Ada",
        "posts": [
            {"title": "ok", "tags": [{"name": "x"}]},
            {"title": "dup", "tags": [{"name": "x"}]},
        ],
    }
    with pytest.raises(UniqueViolation) as raised:
        repo.insert(member_form(params).cast_assoc("posts", with_=post_form))
    assert 'unique_constraint("name")' in notes(raised.value)
    assert "insert of Tag" in notes(raised.value)
    assert conn.all(MEMBERS) == []
    assert conn.all(POSTS) == []
    assert conn.all(TAGS) == []


def test_not_null_violation_suggests_validate_required(repo: Repo, conn: repodb.Connection) -> None:
    with pytest.raises(NotNullViolation) as raised:
        repo.insert(LooseMember(email="x@x"))
    assert 'validate_required("name")' in notes(raised.value)
    assert conn.all(MEMBERS) == []


def test_struct_child_failure_rolls_back_everything(repo: Repo, conn: repodb.Connection) -> None:
    repo.insert(Tag(name="math"))
    post = loaded(Post(title="t"), tags=[Tag(name="fresh"), Tag(name="math")])
    with pytest.raises(UniqueViolation) as raised:
        repo.insert(loaded(Member(email="a@x", name="A"), posts=[post]))
    assert 'unique_constraint("name")' in notes(raised.value)
    assert conn.all(MEMBERS) == []
    assert conn.all(POSTS) == []
    assert conn.all(TAGS) == ["math"]


def test_writes_roll_back_with_an_enclosing_transaction(
    repo: Repo, conn: repodb.Connection
) -> None:
    def abandon() -> None:
        with repo.transaction() as tx:
            tx.insert(loaded(Member(email="a@x", name="A"), posts=[Post(title="p")]))
            assert conn.all(POSTS) != []
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError, match="abandon"):
        abandon()
    assert conn.all(MEMBERS) == []
    assert conn.all(POSTS) == []


def stored_member_with_posts(repo: Repo, *titles: str) -> Member:
    ada = repo.insert(
        loaded(Member(email="ada@example.com", name="Ada"), posts=[Post(title=t) for t in titles])
    )
    posts = repo.all(query(Post).where(member_id=ada.id).order_by(Post.id))
    return loaded(ada, posts=posts)


def test_update_with_cast_assoc_inserts_updates_and_deletes_children(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    ada = stored_member_with_posts(repo, "keep", "drop")
    keep = ada.posts[0]
    events.clear()
    form = cast(ada, {"posts": [{"id": str(keep.id), "title": "kept"}, {"title": "new"}]}, [])
    updated = repo.update(form.cast_assoc("posts", on_replace="delete"))
    assert [(p.id == keep.id, p.title) for p in updated.posts] == [(True, "kept"), (False, "new")]
    assert conn.all(POSTS) == [(ada.id, "kept", 0), (ada.id, "new", 0)]
    # Only the children changed: the member's own row was not written.
    assert not any(e.sql.startswith('UPDATE "members"') for e in events)
    assert repo.get(Member, ada.id).updated_at == ada.updated_at


def test_has_one_replacement_deletes_the_old_child(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(
        loaded(Member(email="ada@example.com", name="Ada"), profile=Profile(bio="old"))
    )
    form = cast(ada, {"name": "Ada L.", "profile": {"bio": "new"}}, ["name"])
    updated = repo.update(form.cast_assoc("profile", on_replace="delete"))
    assert updated.name == "Ada L."
    assert updated.profile is not None
    assert updated.profile.bio == "new"
    assert conn.all(PROFILES) == [(ada.id, "new")]


def test_many_to_many_replacement_unlinks_only(repo: Repo, conn: repodb.Connection) -> None:
    post = repo.insert(loaded(Post(title="p"), tags=[Tag(name="x"), Tag(name="y")]))
    x = post.tags[0]
    form = cast(post, {"tags": [{"id": str(x.id), "name": "x"}, {"name": "z"}]}, [])
    updated = repo.update(form.cast_assoc("tags", on_replace="delete"))
    assert [t.name for t in updated.tags] == ["x", "z"]
    assert conn.all(POST_TAGS) == [("p", "x"), ("p", "z")]
    assert conn.all(TAGS) == ["x", "y", "z"]  # y lost its link, not its row


def test_invalid_child_changeset_writes_nothing(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    form = cast(Post, {"title": "t", "tags": [{"name": ""}]}, ["title"])
    with pytest.raises(InvalidChangesetError) as raised:
        repo.insert(form.cast_assoc("tags", with_=tag_form))
    assert raised.value.changeset.traverse_errors() == {"tags": [{"name": ["can't be blank"]}]}
    assert events == []
    assert conn.all(POSTS) == []


def test_belongs_to_replacement_deletes_the_old_parent(repo: Repo, conn: repodb.Connection) -> None:
    post = repo.insert(loaded(Post(title="p"), member=Member(email="old@x", name="Old")))
    form = cast(post, {"member": {"email": "new@x", "name": "New"}}, [])
    updated = repo.update(form.cast_assoc("member", on_replace="delete"))
    assert updated.member is not None
    assert updated.member_id == updated.member.id
    assert conn.all(MEMBERS) == [("new@x", "New", None, 1)]
    assert conn.all(POSTS) == [(updated.member.id, "p", 0)]
