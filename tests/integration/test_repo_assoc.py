"""``assoc(records, association)`` run through the Repo, on SQLite and PostgreSQL.

The seeded blog of ``test_repo_preload``: Ada's posts 10-13, Bob's 14, an
orphan post 15; tags through ``post_tags`` (post 10 has two, 10 and 11 share
"py"). Each association kind gives the rows that ``preload`` gives, as a
query to filter, count, and write through.
"""

from __future__ import annotations

import pytest

import repodb
from repodb.functions import count
from repodb.query import assoc, query
from repodb.repo import Repo

from .blog_seed import seeded_repo
from .repo_models import Member, Post, Tag

pytestmark = pytest.mark.mariadb


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    return seeded_repo(conn)


@pytest.fixture
def members(repo: Repo) -> list[Member]:
    return repo.all(query(Member).order_by(Member.id))


def test_has_many_of_one_and_of_several_records(repo: Repo, members: list[Member]) -> None:
    ada, bob, cy = members
    assert [p.id for p in repo.all(assoc(ada, "posts").order_by(Post.id))] == [10, 11, 12, 13]
    several = assoc([ada, bob, cy], Member.posts).where(Post.score > 4).order_by(Post.id)
    assert [p.id for p in repo.all(several)] == [10, 11, 12]
    assert repo.all(assoc(cy, "posts")) == []
    assert repo.one(assoc(members, "posts").select(count())) == 5


def test_has_one_and_belongs_to(repo: Repo, members: list[Member]) -> None:
    ada, _, cy = members
    assert [p.bio for p in repo.all(assoc([ada, cy], "profile"))] == ["ada bio"]
    posts = repo.all(query(Post).where(Post.id.in_([10, 14, 15])))
    owners = repo.all(assoc(posts, "member").order_by(Member.id))
    assert [m.name for m in owners] == ["ada", "bob"]


def test_many_to_many_gives_each_related_row_once(repo: Repo) -> None:
    posts = repo.all(query(Post).where(Post.id.in_([10, 11, 14])))
    tags = repo.all(assoc(posts, Post.tags).order_by(Tag.name))
    assert [t.name for t in tags] == ["py", "sql"]
    assert repo.all(assoc(posts[2], "tags").select(Tag.name)) == ["sql"]


def test_writing_through_assoc(repo: Repo, members: list[Member]) -> None:
    ada = members[0]
    assert repo.update_all(assoc(ada, "posts"), set={"score": 0}).count == 4
    assert repo.all(query(Post).where(Post.score == 0).select(Post.id).order_by(Post.id)) == [
        10,
        11,
        12,
        13,
        15,
    ]
