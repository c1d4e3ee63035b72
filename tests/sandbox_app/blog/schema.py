"""The blog's tables: posts and their comments."""

from __future__ import annotations

from repodb import Connection, Request
from repodb.schema import Col, Schema, field

__all__ = ["Comment", "Post", "create_tables"]


class Post(Schema, table="posts"):
    """A post; ``slug`` is unique."""

    id: Col[int | None] = field(primary_key=True, default=None)
    slug: Col[str]
    title: Col[str]


class Comment(Schema, table="comments"):
    """A comment on a post."""

    id: Col[int | None] = field(primary_key=True, default=None)
    post_id: Col[int]
    body: Col[str]


# The application's schema in each dialect; a real application would run its migrations.
_TABLES = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS posts"
        " (id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, title TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS comments (id INTEGER PRIMARY KEY,"
        " post_id INTEGER NOT NULL REFERENCES posts (id), body TEXT NOT NULL)",
    ),
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS posts"
        " (id bigserial PRIMARY KEY, slug text NOT NULL UNIQUE, title text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS comments (id bigserial PRIMARY KEY,"
        " post_id bigint NOT NULL REFERENCES posts (id), body text NOT NULL)",
    ),
    "mariadb": (
        "CREATE TABLE IF NOT EXISTS posts (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
        " slug VARCHAR(255) NOT NULL UNIQUE, title TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS comments (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
        " post_id BIGINT NOT NULL, body TEXT NOT NULL,"
        " FOREIGN KEY (post_id) REFERENCES posts (id))",
    ),
}


def create_tables(conn: Connection) -> None:
    """Create the blog's tables unless they exist."""
    with conn.transaction():
        for sql in _TABLES[conn.dialect.name]:
            conn.exec(Request.exec(sql))
