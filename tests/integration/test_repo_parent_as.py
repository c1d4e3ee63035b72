"""``parent_as``: correlated subqueries naming an outer binding, on SQLite, PostgreSQL and MariaDB.

The seeded blog of ``test_repo_preload``: Ada's posts 10-13 (scores 5, 9,
9, 1), Bob's 14 (3), an orphan 15 (0); comments on posts 10 (two) and 14.
"""

from __future__ import annotations

import pytest

import repodb
from repodb.functions import count, max_
from repodb.query import exists, parent_as, query, subquery
from repodb.repo import Repo

from .blog_seed import seeded_repo
from .repo_models import Comment, Member, Post

pytestmark = pytest.mark.mariadb


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    return seeded_repo(conn)


def test_each_members_best_posts_in_where(repo: Repo) -> None:
    outer = parent_as("p", Post)
    best = query(Post).where(Post.member_id == outer.member_id).select(max_(Post.score))
    q = query(Post, as_="p").where(Post.score == subquery(best)).order_by(Post.id)
    assert [p.id for p in repo.all(q)] == [11, 12, 14]


def test_ordering_and_grouping_by_an_outer_column(repo: Repo, conn: repodb.Connection) -> None:
    m = parent_as("m", Member)
    posts = query(Post).where(Post.member_id == m.id).select(count())
    commented = (
        query(Comment).join("post").where(Post.member_id == m.id).group_by(m.id).select(count())
    )
    q = (
        query(Member, as_="m")
        .order_by(subquery(posts).desc(), Member.id)
        .select(Member.name, subquery(commented))
    )
    if conn.dialect.groups_by_outer_columns:
        assert repo.all(q) == [("ada", 2), ("bob", 1), ("cy", None)]
    else:
        with pytest.raises(ValueError, match="cannot group a subquery by a column of the query"):
            repo.all(q)
    ungrouped = commented.exclude("group_by")
    q = (
        query(Member, as_="m")
        .order_by(subquery(posts).desc(), Member.id)
        .select(Member.name, subquery(ungrouped))
    )
    assert repo.all(q) == [("ada", 2), ("bob", 1), ("cy", 0)]


def test_deleting_all_but_each_members_newest_post(repo: Repo) -> None:
    newer = query(Post).where(
        Post.member_id == parent_as("p").member_id, Post.id > parent_as("p").id
    )
    # Comments first: they point at the posts.
    repo.delete_all(query(Comment))
    done = repo.delete_all(query(Post, as_="p").where(exists(newer)), returning=["id"])
    assert sorted(done.rows) == [(10,), (11,), (12,)]
    assert repo.all(query(Post).select(Post.id).order_by(Post.id)) == [13, 14, 15]
