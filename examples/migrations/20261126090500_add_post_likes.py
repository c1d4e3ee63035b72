"""Count likes on posts, and index the posts by author and by likes."""

from __future__ import annotations

from repodb.migration import Ops, column


def change(ops: Ops) -> None:
    ops.add_column("posts", column("likes", int, default=0, check="likes >= 0"))
    ops.create_index("posts", ["user_id", "likes"])
