"""``has_many``/``has_one`` through associations, run on SQLite, PostgreSQL and MariaDB.

The seeded blog of ``test_repo_preload``, seen through schemas that add
through associations: a member's comments (through posts), a member's tags
(through posts, then the ``post_tags`` join table, so a tag on two posts is
reached twice and kept once), and a comment's author (``has_one`` through
its post). Preloads (one query per hop), joins and ``assoc`` give the same
rows.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

import repodb
from repodb import MultipleResults
from repodb.query import assoc, query
from repodb.repo import Repo
from repodb.schema import Assoc, Col, Schema, belongs_to, field, has_many, has_one
from repodb.telemetry import QueryEvent

from .blog_seed import seeded_repo
from .repo_models import Comment, Member, Post, Tag

pytestmark = pytest.mark.mariadb


class Blogger(Schema, table="members"):
    id: Col[int | None] = field(primary_key=True, default=None)
    name: Col[str]
    posts: ClassVar[Assoc[list[Post]]] = has_many(Post, foreign_key="member_id")
    comments: ClassVar[Assoc[list[Comment]]] = has_many(through=["posts", "comments"])
    tags: ClassVar[Assoc[list[Tag]]] = has_many(through=["posts", "tags"])
    # A has_one through a has_many: one post at most, or MultipleResults.
    tag: ClassVar[Assoc[Tag | None]] = has_one(through=["posts", "tags"])


class Remark(Schema, table="comments"):
    id: Col[int | None] = field(primary_key=True, default=None)
    post_id: Col[int | None] = field(default=None)
    body: Col[str]
    post: ClassVar[Assoc[Post | None]] = belongs_to(Post, foreign_key="post_id")
    author: ClassVar[Assoc[Member | None]] = has_one(through=["post", "member"])


@pytest.fixture
def events() -> list[QueryEvent]:
    return []


@pytest.fixture
def repo(conn: repodb.Connection, events: list[QueryEvent]) -> Repo:
    return seeded_repo(conn, events.append)


@pytest.fixture
def bloggers(repo: Repo, events: list[QueryEvent]) -> list[Blogger]:
    found = repo.all(query(Blogger).order_by(Blogger.id))
    events.clear()
    return found


def test_preload_has_many_through_runs_a_query_per_hop(
    repo: Repo, bloggers: list[Blogger], events: list[QueryEvent]
) -> None:
    loaded = repo.preload(bloggers, "comments", "tags")
    # posts, comments; posts, post_tags + tags.
    assert len(events) == 4
    assert [sorted(c.body for c in b.comments) for b in loaded] == [["c1", "c2"], ["c3"], []]
    # Ada's posts 10 and 11 both have "py": it comes once.
    assert [sorted(t.name for t in b.tags) for b in loaded] == [["py", "sql"], ["sql"], []]
    assert repr(bloggers[0].comments) == "<not loaded>"  # the records passed in are unchanged


def test_preload_through_with_a_query_and_nested_preloads(
    repo: Repo, bloggers: list[Blogger]
) -> None:
    newest_first = query(Comment).where(Comment.body != "c3").order_by(Comment.id.desc())
    loaded = repo.preload(bloggers, comments=(newest_first, ["post"]))
    assert [[c.body for c in b.comments] for b in loaded] == [["c2", "c1"], [], []]
    assert {c.post and c.post.title for c in loaded[0].comments} == {"a1"}


def test_preload_has_one_through(repo: Repo, events: list[QueryEvent]) -> None:
    remarks = repo.all(query(Remark).order_by(Remark.id).preload("author"))
    assert [(r.body, r.author and r.author.name) for r in remarks] == [
        ("c1", "ada"),
        ("c2", "ada"),
        ("c3", "bob"),
    ]
    bob = repo.get(Blogger, 2)
    tag = repo.preload(bob, "tag").tag
    assert tag is not None
    assert tag.name == "sql"
    with pytest.raises(MultipleResults, match="found 2 Tag records"):
        repo.preload(repo.get(Blogger, 1), "tag")


def test_preload_through_refuses_a_limit(repo: Repo, bloggers: list[Blogger]) -> None:
    with pytest.raises(ValueError, match="cannot limit or offset"):
        repo.preload(bloggers, comments=query(Comment).limit(1))


def test_join_through_and_assoc_through(repo: Repo, bloggers: list[Blogger]) -> None:
    joined = repo.all(
        query(Blogger).join("tags").where(Tag.name == "py").select(Blogger.name).distinct()
    )
    assert joined == ["ada"]
    ada = bloggers[0]
    assert sorted(t.name for t in repo.all(assoc(ada, "tags"))) == ["py", "sql"]
    assert sorted(c.body for c in repo.all(assoc(bloggers, Blogger.comments))) == [
        "c1",
        "c2",
        "c3",
    ]
    remark = repo.get(Remark, 102)
    assert [m.name for m in repo.all(assoc(remark, "author"))] == ["bob"]
