"""Issue 13's query features run once on the asyncio side (``AsyncRepo``, the source).

The sync Repo is generated from it and its tests cover the logic; these run
the async preload of a through association, a preload into a custom select
(query and join preloads), ``assoc`` and ``parent_as`` queries, and an
``update_all``/``delete_all`` with joins, over a connection and a pool.
"""

from __future__ import annotations

import pytest

from repodb import AsyncRepo
from repodb.functions import max_
from repodb.query import assoc, parent_as, query, ref, subquery
from repodb.telemetry import QueryEvent
from repodb.write import set_
from tests.conftest import dialect_record

from .repo_models import Comment, Member, Post
from .test_async_repo import SOURCES, run, seed
from .test_repo_through import Blogger

pytestmark = pytest.mark.mariadb


@SOURCES
def test_async_issue_13_queries(db_url: str, source: str) -> None:
    async def body(repo: AsyncRepo, events: list[QueryEvent]) -> None:
        ada, bob = await seed(repo)
        bloggers = await repo.all(query(Blogger).order_by(Blogger.id).preload("comments"))
        assert [[c.body for c in b.comments] for b in bloggers] == [["on ada"], ["on bob"]]

        rows = await repo.all(
            query(Member)
            .join("posts", as_="p")
            .order_by(Member.id, ref("p").id)
            .select(Member, ref("p").title)
            .preload(posts=ref("p"), profile=[])
        )
        assert [(m.name, title, len(m.posts)) for m, title in rows] == [
            ("ada", "ada first", 2),
            ("bob", "bob first", 2),
        ]

        assert len(await repo.all(assoc([ada, bob], Member.posts))) == 4
        newest = query(Post).where(Post.member_id == parent_as("p").member_id).select(max_(Post.id))
        latest = await repo.all(query(Post, as_="p").where(Post.id == subquery(newest)))
        assert sorted(p.title for p in latest) == ["ada second", "bob second"]

        joined = query(Comment).join("post").join(Post.member).where(Member.name == "bob")
        if dialect_record(db_url).supports_update_from:
            renamed = await repo.update_all(
                joined, set_(Comment.body, Post.title), returning=[Comment.body]
            )
            assert renamed.rows == [("bob first",)]
        else:
            # MariaDB: refused when compiled (docs/mariadb.md), before anything runs.
            with pytest.raises(ValueError, match=r"has no UPDATE \.\.\. FROM"):
                await repo.update_all(joined, set_(Comment.body, Post.title))
        removed = await repo.delete_all(query(Comment).join("post").where(Post.score == 0))
        assert removed.count == 1

    run(db_url, source, body)
