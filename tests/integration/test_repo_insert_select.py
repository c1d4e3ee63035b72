"""``repo.insert_all`` from a query and with query values in rows, on SQLite and PostgreSQL.

Covered: rows selected by a query inserted by the database (count, and
records with ``returning``), with ``on_conflict="nothing"`` (which reports
the rows written as inserted) and an update on conflict (no
inserted/updated split); a row whose foreign key is a query, beside rows of
plain values, with timestamps still filled; a query matching no row
inserting NULL where the column allows it and failing where it does not.
Table contents are read back with separate SQL.
"""

from __future__ import annotations

import pytest

import repodb
from repodb import Request
from repodb.errors import NotNullViolation
from repodb.query import query, subquery
from repodb.repo import Repo
from repodb.types import optional, tup
from repodb.write import excluded, set_

from .repo_models import Member, Post, Tag, create_tables

pytestmark = pytest.mark.mariadb

POSTS = Request.many("SELECT member_id, title FROM posts ORDER BY id", row=tup(optional(int), str))
TAGS = Request.many("SELECT name FROM tags ORDER BY name", row=str)
UNSTAMPED = Request.one("SELECT count(*) FROM posts WHERE inserted_at IS NULL", row=int)


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    create_tables(conn)
    return Repo(conn)


@pytest.fixture
def members(repo: Repo) -> list[Member]:
    rows = [
        {"email": "ada@example.com", "name": "Ada", "age": 36},
        {"email": "bob@example.com", "name": "Bob", "age": 12},
        {"email": "cy@example.com", "name": "Cy", "age": 40},
    ]
    return repo.insert_all(Member, rows, returning=True).rows


def test_insert_the_rows_a_query_selects(
    repo: Repo, conn: repodb.Connection, members: list[Member]
) -> None:
    welcome = (
        query(Member)
        .where(Member.age >= 18)
        .order_by(Member.id)
        .select({"member_id": Member.id, "title": Member.name})
    )
    result = repo.insert_all(Post, welcome)
    assert (result.count, result.rows, result.inserted) == (2, [], None)
    ada, _, cy = members
    assert conn.all(POSTS) == [(ada.id, "Ada"), (cy.id, "Cy")]
    returned = repo.insert_all(Post, welcome.where(Member.name == "Cy"), returning=True)
    assert [(p.member_id, p.title) for p in returned.rows] == [(cy.id, "Cy")]
    assert returned.rows[0].id is not None


def test_upserts_of_selected_rows(
    repo: Repo, conn: repodb.Connection, members: list[Member]
) -> None:
    repo.insert(Tag(name="Ada"))
    names = query(Member).select({"name": Member.name})
    skipped = repo.insert_all(Tag, names, on_conflict="nothing", conflict_target=["name"])
    assert (skipped.count, skipped.inserted, skipped.updated) == (2, 2, 0)
    assert conn.all(TAGS) == ["Ada", "Bob", "Cy"]
    renamed = repo.insert_all(
        Tag,
        names,
        on_conflict=[set_(Tag.name, excluded(Tag.name))],
        conflict_target=[Tag.name],
        returning=True,
    )
    assert renamed.count == 3
    assert (renamed.inserted, renamed.updated) == (None, None)
    assert sorted(t.name for t in renamed.rows) == ["Ada", "Bob", "Cy"]


def test_a_query_as_a_rows_value(
    repo: Repo, conn: repodb.Connection, members: list[Member]
) -> None:
    ada, bob, _ = members
    oldest = subquery(query(Member).order_by(Member.age.desc()).limit(1).select(Member.id))
    result = repo.insert_all(
        Post,
        [
            {
                "title": "By Bob",
                "member_id": query(Member).where(Member.name == "Bob").select(Member.id),
            },
            {"title": "By the oldest", "member_id": oldest},
            {"title": "Plain", "member_id": ada.id},
        ],
        returning=True,
    )
    assert [(p.member_id, p.title) for p in result.rows] == [
        (bob.id, "By Bob"),
        (members[2].id, "By the oldest"),
        (ada.id, "Plain"),
    ]
    assert conn.one(UNSTAMPED) == 0  # timestamps are filled as for plain rows


def test_a_query_matching_nothing_is_null(repo: Repo, conn: repodb.Connection) -> None:
    nobody = query(Member).where(Member.name == "Nobody").select(Member.id)
    repo.insert_all(Post, [{"title": "Orphan", "member_id": nobody}])
    assert conn.all(POSTS) == [(None, "Orphan")]
    with pytest.raises(NotNullViolation):
        repo.insert_all(Tag, [{"name": query(Member).where(Member.id == -1).select(Member.name)}])
    assert conn.all(TAGS) == []
