"""What the blog does, for an asyncio application: the same, against an ``AsyncCqrs``.

It lives beside the sync ``Blog`` and shares its tables and changesets; its
own suite (``async_tests``) runs under repodb's async fixtures, started by
``tests/integration/test_sandbox_async.py`` under each async test runner.
Production hands in the ``AsyncCqrs`` it built at start-up; tests hand in the
async sandbox's router, whose reads see the test's uncommitted writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from repodb import AsyncRepo, InvalidChangesetError, Request
from repodb.cqrs_async import AsyncCqrs
from repodb.query import query

from .schema import Post
from .service import comment_changeset, post_changeset

__all__ = ["AsyncBlog"]

_COMMENT_COUNT = Request.one("SELECT count(*) FROM comments WHERE post_id = ?", params=int, row=int)


class AsyncBlog:
    """The blog's operations over an async router: writes to the primary, reads to replicas."""

    def __init__(self, cqrs: AsyncCqrs) -> None:
        self._cqrs = cqrs
        self._repo = AsyncRepo(cqrs)

    async def publish(self, params: Mapping[str, object]) -> Post:
        """A new post; ``InvalidChangesetError`` for a blank field or a taken slug."""
        return await self._repo.insert(post_changeset(params))

    async def publish_with_comments(
        self, params: Mapping[str, object], comments: Sequence[str]
    ) -> Post:
        """A post and its first comments, all or nothing."""
        async with self._repo.transaction() as tx:
            post = await tx.insert(post_changeset(params))
            assert post.id is not None
            for body in comments:
                await tx.insert(comment_changeset(post.id, body))
        return post

    async def import_posts(self, rows: Sequence[Mapping[str, object]]) -> list[str]:
        """Publish each row that is valid, in one transaction; the slugs of those skipped."""
        skipped = []
        async with self._repo.transaction() as tx:
            for params in rows:
                try:
                    # A savepoint: a taken slug undoes this row only.
                    async with tx.transaction() as row:
                        await row.insert(post_changeset(params))
                except InvalidChangesetError:
                    skipped.append(str(params.get("slug")))
        return skipped

    async def posts(self) -> list[Post]:
        """Every post, oldest first (from a replica)."""
        return await self._repo.all(query(Post).order_by(Post.id))

    async def comment_count(self, post_id: int) -> int:
        """How many comments a post has (from a replica)."""
        async with self._cqrs.read() as conn:
            return await conn.one(_COMMENT_COUNT, post_id)

    async def publish_and_show(self, params: Mapping[str, object]) -> Post:
        """Publish, then read the post back in a read-your-writes session."""
        async with self._cqrs.session() as session:
            repo = AsyncRepo(session)
            post = await repo.insert(post_changeset(params))
            return await repo.get(Post, post.id)
