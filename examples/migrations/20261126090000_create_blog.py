"""Create the blog's tables: users, posts, tags and the posts' tags."""

from __future__ import annotations

import datetime as dt

from repodb.migration import Ops, column, references
from repodb.types import optional


def change(ops: Ops) -> None:
    ops.create_table(
        "users",
        [
            column("id", int, primary_key=True, autogenerate=True),
            column("email", str, unique=True),
            column("name", str),
            column("version", int, default=1),
            column("inserted_at", optional(dt.datetime)),
            column("updated_at", optional(dt.datetime)),
        ],
    )
    ops.create_table(
        "posts",
        [
            column("id", int, primary_key=True, autogenerate=True),
            column("user_id", optional(int), references=references("users", on_delete="cascade")),
            column("title", str),
        ],
    )
    ops.create_table(
        "tags",
        [
            column("id", int, primary_key=True, autogenerate=True),
            column("name", str, unique=True),
        ],
    )
    ops.create_table(
        "post_tags",
        [
            column("post_id", int, references=references("posts", on_delete="cascade")),
            column("tag_id", int, references=references("tags", on_delete="cascade")),
        ],
        primary_key=("post_id", "tag_id"),
    )
