"""Conditional upserts, ``replace_all_except``, upserts without a target or with associations.

On SQLite and PostgreSQL (MariaDB refuses ``update_where``: its ON
DUPLICATE KEY UPDATE has no WHERE, and a test here shows the refusal; the
rest runs on it too): ``repo.insert`` with ``update_where`` updating a
newer version and refusing an older one (``StaleEntryError``, or the
``stale_error_field`` error, nothing written); ``stale_error_field`` on an
optimistic-locked ``update`` and ``delete``; ``insert_all`` with
``update_where`` counting inserted and updated rows right (PostgreSQL's
flag, SQLite's probe) with and without ``returning``; ``replace_all_except``
keeping ``inserted_at``; ``on_conflict="nothing"`` without a target on
every database, an update without one where the dialect allows it (MariaDB
telling inserted from updated rows by its flag) and the reason where it
does not; an upsert of a member with new posts, the posts
pointing at the stored member. Table contents are read back with SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import repodb
from repodb import Request
from repodb.changeset import Changeset, InvalidChangesetError, cast, change
from repodb.errors import StaleEntryError
from repodb.repo import Repo
from repodb.types import optional, tup
from repodb.write import excluded, replace_all_except
from tests.conftest import open_conn

from .repo_models import Member, create_tables

pytestmark = pytest.mark.mariadb

MEMBERS = Request.many(
    "SELECT email, name, version FROM members ORDER BY id", row=tup(str, str, int)
)
STAMPS = Request.one(
    "SELECT inserted_at FROM members WHERE email = ?", params=str, row=optional(dt.datetime)
)
POSTS = Request.many("SELECT member_id, title FROM posts ORDER BY id", row=tup(optional(int), str))
NEWER = Member.version < excluded(Member.version)


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    create_tables(conn)
    return Repo(conn)


def upsert(repo: Repo, value: Member | Changeset[Member], **options: Any) -> Member:
    """Insert, or update the member of that email when its version is older."""
    return repo.insert(
        value,
        on_conflict=["name", "version"],
        conflict_target=["email"],
        update_where=NEWER,
        **options,
    )


def versioned(name: str, version: int, email: str = "ada@example.com") -> Member:
    return Member(email=email, name=name, version=version)


def test_mariadb_refuses_a_conditional_upsert_and_writes_nothing(mariadb_db_url: str) -> None:
    with open_conn(mariadb_db_url) as conn:
        create_tables(conn)
        repo = Repo(conn)
        with pytest.raises(ValueError, match="cannot upsert with update_where: its ON DUPLICATE"):
            upsert(repo, versioned("Ada", 1))
        with pytest.raises(ValueError, match="cannot upsert with update_where"):
            repo.insert_all(Member, [versioned("Ada", 1)], on_conflict=["name"], update_where=NEWER)
        assert conn.all(MEMBERS) == []


@pytest.mark.mariadb(absent="no update_where on MariaDB: refused, see the test above")
def test_a_conditional_upsert_updates_newer_and_refuses_older(
    repo: Repo, conn: repodb.Connection
) -> None:
    ada = repo.insert(versioned("Ada", 1))
    newer = upsert(repo, versioned("Ada v2", 2))
    assert (newer.id, newer.name, newer.version) == (ada.id, "Ada v2", 2)
    with pytest.raises(StaleEntryError, match="update_where kept"):
        upsert(repo, versioned("Ada v1", 1))
    params = {"email": "ada@example.com", "name": "Old", "version": "2"}
    with pytest.raises(InvalidChangesetError) as raised:
        upsert(
            repo, cast(Member, params, ["email", "name", "version"]), stale_error_field="version"
        )
    assert raised.value.changeset.traverse_errors() == {"version": ["is stale"]}
    assert raised.value.changeset.errors[0].options["validation"] == "stale"
    assert conn.all(MEMBERS) == [("ada@example.com", "Ada v2", 2)]


def test_stale_error_field_on_update_and_delete(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(versioned("Ada", 1))
    repo.update(change(ada, name="Ada L.").optimistic_lock("version"))
    stale = change(ada, name="Mine").optimistic_lock("version")
    with pytest.raises(InvalidChangesetError) as raised:
        repo.update(stale, stale_error_field="version", stale_error_message="was changed")
    assert raised.value.changeset.traverse_errors() == {"version": ["was changed"]}
    with pytest.raises(InvalidChangesetError) as deleted:
        repo.delete(change(ada).optimistic_lock("version"), stale_error_field="version")
    assert deleted.value.changeset.traverse_errors() == {"version": ["is stale"]}
    assert conn.all(MEMBERS) == [("ada@example.com", "Ada L.", 2)]


@pytest.mark.mariadb(absent="no update_where on MariaDB: refused, see the test above")
def test_insert_all_with_update_where_counts_what_it_wrote(
    repo: Repo, conn: repodb.Connection
) -> None:
    repo.insert_all(Member, [versioned("A", 5, "a@x"), versioned("B", 1, "b@x")], returning=False)
    rows = [versioned("A old", 2, "a@x"), versioned("B new", 3, "b@x"), versioned("C", 1, "c@x")]
    result = repo.insert_all(
        Member,
        rows,
        on_conflict=["name", "version"],
        conflict_target=["email"],
        update_where=NEWER,
    )
    assert (result.count, result.inserted, result.updated) == (2, 1, 1)
    again = [versioned("B newer", 4, "b@x"), versioned("A older", 1, "a@x")]
    returned = repo.insert_all(
        Member,
        again,
        on_conflict=["name", "version"],
        conflict_target=["email"],
        update_where=NEWER,
        returning=True,
    )
    assert [m.name for m in returned.rows] == ["B newer"]
    assert (returned.inserted, returned.updated, returned.actions) == (0, 1, ("updated",))
    assert conn.all(MEMBERS) == [("a@x", "A", 5), ("b@x", "B newer", 4), ("c@x", "C", 1)]


def test_replace_all_except_keeps_inserted_at(repo: Repo, conn: repodb.Connection) -> None:
    first = repo.insert(Member(email="ada@example.com", name="Ada"))
    again = repo.insert(
        Member(email="ada@example.com", name="Ada L.", version=3),
        on_conflict=replace_all_except("inserted_at"),
        conflict_target=["email"],
    )
    assert (again.id, again.name, again.version) == (first.id, "Ada L.", 3)
    assert again.inserted_at == first.inserted_at == conn.one(STAMPS, "ada@example.com")
    assert again.updated_at is not None
    assert first.updated_at is not None
    assert again.updated_at >= first.updated_at


def test_on_conflict_without_a_target(repo: Repo, conn: repodb.Connection) -> None:
    repo.insert(versioned("Ada", 1))
    skipped = repo.insert(versioned("Twin", 1), on_conflict="nothing")
    assert skipped.id is None
    counted = repo.insert_all(Member, [versioned("Twin", 1)], on_conflict="nothing")
    assert (counted.count, counted.inserted, counted.updated) == (0, 0, 0)
    update = replace_all_except("email")
    if conn.dialect.upsert_update_needs_target:
        with pytest.raises(ValueError, match="cannot update on conflict without a conflict_target"):
            repo.insert(versioned("Ada L.", 2), on_conflict=update)
        assert conn.all(MEMBERS) == [("ada@example.com", "Ada", 1)]
    else:
        stored = repo.insert(versioned("Ada L.", 2), on_conflict=update)
        assert (stored.name, stored.version) == ("Ada L.", 2)
        result = repo.insert_all(Member, [versioned("Ada M.", 3)], on_conflict=update)
        # Without a target SQLite cannot tell which row it updated; MariaDB's flag can.
        known = (0, 1) if conn.dialect.inserted_flag_sql else (None, None)
        assert (result.count, result.inserted, result.updated) == (1, *known)
        assert conn.all(MEMBERS) == [("ada@example.com", "Ada M.", 3)]


def test_an_upsert_with_new_posts(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    params = {"email": "ada@example.com", "name": "Ada L.", "posts": [{"title": "Notes"}]}
    form = cast(Member, params, ["email", "name"]).cast_assoc("posts")
    stored = repo.insert(
        form, on_conflict=replace_all_except("inserted_at"), conflict_target=["email"]
    )
    assert (stored.id, stored.name) == (ada.id, "Ada L.")
    assert [(p.member_id, p.title) for p in stored.posts] == [(ada.id, "Notes")]
    assert conn.all(POSTS) == [(ada.id, "Notes")]
    with pytest.raises(ValueError, match="'nothing' cannot insert associated records"):
        repo.insert(form, on_conflict="nothing", conflict_target=["email"])
    assert conn.all(POSTS) == [(ada.id, "Notes")]


def test_mariadb_upserts_say_what_they_did_whatever_the_affected_rows(
    mariadb_db_url: str,
) -> None:
    """MariaDB counts a row ON DUPLICATE KEY UPDATE inserted as 1 and one it changed as 2.

    A found row set to the values it had counts 1 under the client's
    found-rows flag (which the driver sets, so an UPDATE counts the rows it
    matched), the same as an insert: the count cannot tell them apart. The
    Repo reads its inserted flag instead, and says per row what happened.
    """
    with open_conn(mariadb_db_url) as conn:
        create_tables(conn)
        repo = Repo(conn)
        repo.insert_all(Member, [versioned("Ada", 1), versioned("Bob", 1, "bob@example.com")])
        upsert = Request.exec(
            "INSERT INTO members (email, name, version) VALUES (?, ?, ?)"
            " ON DUPLICATE KEY UPDATE name = VALUES(name)",
            params=tup(str, str, int),
        )
        affected = [
            conn.exec(upsert, ("cy@example.com", "Cy", 1)),  # inserted
            conn.exec(upsert, ("ada@example.com", "Ada L.", 1)),  # found, changed
            conn.exec(upsert, ("bob@example.com", "Bob", 1)),  # found, unchanged
        ]
        assert affected == [1, 2, 1]
        rows = [
            versioned("Dan", 1, "dan@example.com"),
            versioned("Ada M.", 2),
            versioned("Bob", 1, "bob@example.com"),
        ]
        result = repo.insert_all(
            Member, rows, on_conflict=["name"], conflict_target=["email"], returning=["email"]
        )
        assert (result.count, result.inserted, result.updated) == (3, 1, 2)
        assert result.actions == ("inserted", "updated", "updated")
        assert result.rows == [("dan@example.com",), ("ada@example.com",), ("bob@example.com",)]
        skipped = repo.insert_all(
            Member,
            [versioned("Eve", 1, "eve@example.com"), versioned("Ada N.", 3)],
            on_conflict="nothing",
            returning=True,
        )
        assert (skipped.count, skipped.inserted, skipped.updated) == (1, 1, 0)
        assert [m.name for m in skipped.rows] == ["Eve"]
        # repo.insert with "nothing" gives back the record it was given when
        # the row was there (no id: nothing was stored), as on PostgreSQL.
        again = repo.insert(versioned("Ada O.", 4), on_conflict="nothing")
        assert (again.id, again.name) == (None, "Ada O.")
        assert conn.all(MEMBERS)[0] == ("ada@example.com", "Ada M.", 1)


def test_a_failed_mariadb_upsert_leaves_no_flag_behind(mariadb_db_url: str) -> None:
    """The found row's update fails (a CHECK) after it set the session's flag.

    The next upsert clears the flag before it reads it: its new row is
    reported inserted, not updated.
    """
    with open_conn(mariadb_db_url) as conn:
        create_tables(conn)
        repo = Repo(conn)
        repo.insert(versioned("Ada", 1))
        with pytest.raises(repodb.CheckViolation):
            repo.insert_all(
                Member, [versioned("Ada", 1)], on_conflict={"age": -1}, conflict_target=["email"]
            )
        # The failed statement's update of the found row did set the flag.
        assert conn.one(Request.one("SELECT @repodb_found", row=int)) == 1
        result = repo.insert_all(
            Member,
            [versioned("Bob", 1, "bob@example.com")],
            on_conflict=["name"],
            conflict_target=["email"],
            returning=["email"],
        )
        assert result.actions == ("inserted",)
        stored = repo.insert(versioned("Cy", 1, "cy@example.com"), on_conflict="nothing")
        assert stored.id is not None
