"""What the blog does, written against a CQRS router it is given.

Why a parameter: production builds one ``Cqrs`` (primary and replicas) at
start-up and hands it in; tests hand in the sandbox's router, whose reads
see the test's uncommitted writes. Nothing here knows which one it got.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from repodb import InvalidChangesetError, Repo, Request
from repodb.changeset import Changeset, cast
from repodb.cqrs import Cqrs
from repodb.query import query
from repodb.types import tup

from .schema import Comment, Post

__all__ = ["Blog", "comment_changeset", "post_changeset"]

_COMMENT_COUNT = Request.one("SELECT count(*) FROM comments WHERE post_id = ?", params=int, row=int)
_RETITLE = Request.exec("UPDATE posts SET title = ? WHERE slug = ?", params=tup(str, str))


def post_changeset(params: Mapping[str, object]) -> Changeset[Post]:
    """A new post: slug and title required, the slug unique."""
    return (
        cast(Post, params, ["slug", "title"])
        .validate_required(["slug", "title"])
        .unique_constraint("slug")
    )


def comment_changeset(post_id: int, body: str) -> Changeset[Comment]:
    """A new comment on a post; its body required."""
    return cast(Comment, {"post_id": post_id, "body": body}, ["post_id", "body"]).validate_required(
        "body"
    )


class Blog:
    """The blog's operations over a router: writes to the primary, reads to replicas."""

    def __init__(self, cqrs: Cqrs) -> None:
        self._cqrs = cqrs
        self._repo = Repo(cqrs)

    def publish(self, params: Mapping[str, object]) -> Post:
        """A new post; ``InvalidChangesetError`` for a blank field or a taken slug."""
        return self._repo.insert(post_changeset(params))

    def publish_with_comments(self, params: Mapping[str, object], comments: Sequence[str]) -> Post:
        """A post and its first comments, all or nothing."""
        with self._repo.transaction() as tx:
            post = tx.insert(post_changeset(params))
            assert post.id is not None
            for body in comments:
                tx.insert(comment_changeset(post.id, body))
        return post

    def import_posts(self, rows: Sequence[Mapping[str, object]]) -> list[str]:
        """Publish each row that is valid, in one transaction; the slugs of those skipped."""
        skipped = []
        with self._repo.transaction() as tx:
            for params in rows:
                try:
                    # A savepoint: a taken slug undoes this row only.
                    with tx.transaction() as row:
                        row.insert(post_changeset(params))
                except InvalidChangesetError:
                    skipped.append(str(params.get("slug")))
        return skipped

    def retitle(self, slug: str, title: str) -> int:
        """Change a post's title, retrying on serialization failures; the rows changed."""
        with self._cqrs.write() as conn:
            changed = conn.run_transaction(lambda c: c.exec(_RETITLE, (title, slug)))
        assert changed is not None  # None only after a Rollback, which this never raises
        return changed

    def posts(self) -> list[Post]:
        """Every post, oldest first (from a replica)."""
        return self._repo.all(query(Post).order_by(Post.id))

    def comment_count(self, post_id: int) -> int:
        """How many comments a post has (from a replica)."""
        with self._cqrs.read() as conn:
            return conn.one(_COMMENT_COUNT, post_id)

    def publish_and_show(self, params: Mapping[str, object]) -> Post:
        """Publish, then read the post back in a read-your-writes session."""
        with self._cqrs.session() as session:
            repo = Repo(session)
            post = repo.insert(post_changeset(params))
            return repo.get(Post, post.id)
