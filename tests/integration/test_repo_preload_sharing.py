"""What preloaded records share, on SQLite, PostgreSQL, MariaDB: nothing the caller can see.

A query's preloads attach to the records the query just built (no copies);
``repo.preload`` of the caller's records attaches to new copies and leaves
the originals as they were; every parent gets a list of its own, even a
parent given twice; children come in the preload query's order per parent,
whatever order the keys have.
"""

from __future__ import annotations

from typing import LiteralString

import pytest

import repodb
from repodb import Request
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import NOT_LOADED

from .repo_models import Comment, Member, Post, create_tables

pytestmark = pytest.mark.mariadb

SEED: list[LiteralString] = [
    "INSERT INTO members (id, email, name) VALUES"
    " (1, 'ada@example.com', 'ada'), (2, 'bob@example.com', 'bob'), (3, 'cy@example.com', 'cy')",
    # Interleaved keys: the posts of a member are not stored together.
    "INSERT INTO posts (id, member_id, title, score) VALUES (10, 2, 'b1', 1), (11, 1, 'a1', 5),"
    " (12, 2, 'b2', 7), (13, 1, 'a2', 5), (14, 1, 'a3', 8)",
    "INSERT INTO comments (id, post_id, body) VALUES"
    " (100, 14, 'x'), (101, 11, 'y'), (102, 14, 'z')",
]


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    create_tables(conn)
    for sql in SEED:
        conn.exec(Request.exec(sql))
    return Repo(conn)


def post_ids(member: Member) -> list[int | None]:
    return [p.id for p in member.posts]


def test_query_preloads_come_on_the_records_it_returns(repo: Repo) -> None:
    found = repo.all(query(Member).order_by(Member.id).preload("posts__comments"))
    assert [post_ids(m) for m in found] == [[11, 13, 14], [10, 12], []]
    assert [c.id for c in found[0].posts[2].comments] == [100, 102]
    # Preloading them again gives new records; these keep what they hold.
    again = repo.preload(found, "posts")
    assert all(new is not old for new, old in zip(again, found, strict=True))
    assert [c.id for c in found[0].posts[2].comments] == [100, 102]
    assert again[0].posts[2].comments is NOT_LOADED


def test_the_callers_records_are_never_changed(repo: Repo) -> None:
    members = repo.all(query(Member).order_by(Member.id))
    loaded = repo.preload(members, "posts__comments")
    assert all(m.posts is NOT_LOADED for m in members)
    assert [post_ids(m) for m in loaded] == [[11, 13, 14], [10, 12], []]
    assert [c.body for c in loaded[0].posts[0].comments] == ["y"]


def test_a_parent_given_twice_gets_two_lists(repo: Repo) -> None:
    ada = repo.get(Member, 1)
    first, second = repo.preload([ada, ada], "posts")
    assert post_ids(first) == post_ids(second) == [11, 13, 14]
    assert first.posts is not second.posts
    first.posts.clear()
    assert post_ids(second) == [11, 13, 14]


def test_every_parent_gets_a_list_of_its_own(repo: Repo) -> None:
    found = repo.all(query(Member).order_by(Member.id).preload("posts"))
    lists = [m.posts for m in found]
    assert len({id(posts) for posts in lists}) == 3
    assert lists[2] == []


def test_children_follow_the_preload_query_order_per_parent(repo: Repo) -> None:
    by_score = query(Post).order_by(Post.score.desc())
    found = repo.all(query(Member).order_by(Member.id.desc()).preload(posts=by_score))
    # Ties (posts 11 and 13) break by primary key.
    assert [post_ids(m) for m in found] == [[], [12, 10], [14, 11, 13]]
    newest = query(Comment).order_by(Comment.id.desc())
    posts = repo.preload(repo.all(query(Post).order_by(Post.id)), comments=newest)
    assert [[c.id for c in p.comments] for p in posts] == [[], [101], [], [], [102, 100]]
