"""``preload_order`` on associations, and preloads with a custom select, on every database.

The seeded blog of ``test_repo_preload`` (Ada's posts 10-13 with scores 5,
9, 9, 1; Bob's 14; tags on posts 10, 11 and 14), seen through schemas whose
associations declare a ``preload_order``.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

import repodb
from repodb.functions import count
from repodb.query import query, ref
from repodb.repo import Repo
from repodb.schema import Assoc, Col, Schema, field, has_many, many_to_many

from .blog_seed import seeded_repo
from .repo_models import Member, Post, Tag

pytestmark = pytest.mark.mariadb


class Ranked(Schema, table="members"):
    id: Col[int | None] = field(primary_key=True, default=None)
    name: Col[str]
    # Best first; ties (posts 11 and 12 score 9) by id, descending.
    posts: ClassVar[Assoc[list[Post]]] = has_many(
        Post, foreign_key="member_id", preload_order=["-score", "-id"]
    )


class TaggedPost(Schema, table="posts"):
    id: Col[int | None] = field(primary_key=True, default=None)
    title: Col[str]
    tags: ClassVar[Assoc[list[Tag]]] = many_to_many(
        Tag,
        join_through="post_tags",
        join_keys=(("post_id", "id"), ("tag_id", "id")),
        preload_order=["name"],
    )


class Misordered(Schema, table="members"):
    id: Col[int | None] = field(primary_key=True, default=None)
    posts: ClassVar[Assoc[list[Post]]] = has_many(
        Post, foreign_key="member_id", preload_order=["rating"]
    )


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    return seeded_repo(conn)


def test_preload_order_orders_each_list(repo: Repo) -> None:
    ranked = repo.all(query(Ranked).order_by(Ranked.id).preload("posts"))
    assert [[p.id for p in r.posts] for r in ranked] == [[12, 11, 10, 13], [14], []]
    posts = repo.all(query(TaggedPost).where(TaggedPost.id == 10).preload("tags"))
    assert [t.name for t in posts[0].tags] == ["py", "sql"]


def test_a_preload_query_with_its_own_order_wins(repo: Repo) -> None:
    by_title = query(Post).order_by(Post.title)
    ada = repo.preload(repo.get(Ranked, 1), posts=by_title)
    assert [p.title for p in ada.posts] == ["a1", "a2", "a3", "a4"]
    # Without an order_by, the query only filters: preload_order still orders.
    ada = repo.preload(ada, posts=query(Post).where(Post.score > 4))
    assert [p.id for p in ada.posts] == [12, 11, 10]


def test_a_preload_order_naming_no_field_raises(repo: Repo) -> None:
    with pytest.raises(ValueError, match="names 'rating', which is not a stored field of Post"):
        repo.all(query(Misordered).preload("posts"))


def test_query_preloads_with_a_custom_select(repo: Repo) -> None:
    rows = repo.all(query(Member).order_by(Member.id).select(Member.name, Member).preload("posts"))
    assert [(name, [p.id for p in m.posts]) for name, m in rows] == [
        ("ada", [10, 11, 12, 13]),
        ("bob", [14]),
        ("cy", []),
    ]


def test_join_preloads_with_a_custom_select_fold_rows_by_root(repo: Repo) -> None:
    # One row per member, with the values of its first row; the posts come
    # from the joined rows.
    q = (
        query(Member)
        .join("posts", as_="p")
        .where(ref("p").score > 2)
        .order_by(Member.id, ref("p").id)
        .select(Member, ref("p").title)
        .preload(posts=(ref("p"), ["comments"]))
    )
    rows = repo.all(q)
    assert [(m.name, title, [p.id for p in m.posts]) for m, title in rows] == [
        ("ada", "a1", [10, 11, 12]),
        ("bob", "b1", [14]),
    ]
    assert [c.body for c in rows[0][0].posts[0].comments] == ["c1", "c2"]
    one = repo.one(q.where(Member.id == 2))
    assert one[0].posts[0].comments[0].body == "c3"


def test_preloads_need_the_root_records_selected(repo: Repo) -> None:
    with pytest.raises(TypeError, match="select them too"):
        repo.all(
            query(Member)
            .select(Member.name, count(Member.id))
            .group_by(Member.name)
            .preload("posts")
        )
    with pytest.raises(TypeError):
        repo.all(query(Member).join("posts").select(Post).preload("posts"))
