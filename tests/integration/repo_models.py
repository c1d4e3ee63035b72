"""A small blog schema for the Repo's integration tests, with DDL for both databases.

Members have one profile, many posts (each with comments) and posts carry
tags (many-to-many through ``post_tags``). Members have a unique email, a
check constraint on their age, timestamps and a ``version`` for optimistic
locking; ``password`` is redacted; posts point at members with a foreign key
that restricts deletes. ``Badge`` has a composite primary key.

Class names are unique in the test suite (the schema registry is keyed by
class name); related schemas are referenced by lambda.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, LiteralString

import repodb
from repodb import Request
from repodb.schema import (
    Assoc,
    Col,
    Schema,
    belongs_to,
    field,
    has_many,
    has_one,
    index,
    many_to_many,
)

__all__ = [
    "DDL",
    "Badge",
    "Comment",
    "Member",
    "Post",
    "PostTag",
    "Profile",
    "Tag",
    "create_tables",
]


# The unique keys are declared: MariaDB upserts take a conflict target only
# when it is the one declared unique key the insert can collide on.
class Member(Schema, table="members", indexes=(index("email", unique=True),)):
    id: Col[int | None] = field(primary_key=True, default=None)
    email: Col[str]
    name: Col[str]
    age: Col[int | None] = field(default=None)
    password: Col[str | None] = field(default=None, redact=True)
    version: Col[int] = field(default=1)
    inserted_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")
    updated_at: Col[dt.datetime | None] = field(default=None, timestamp="updated")
    posts: ClassVar[Assoc[list[Post]]] = has_many(lambda: Post, foreign_key="member_id")
    profile: ClassVar[Assoc[Profile | None]] = has_one(lambda: Profile, foreign_key="member_id")


class Profile(Schema, table="profiles"):
    id: Col[int | None] = field(primary_key=True, default=None)
    member_id: Col[int | None] = field(default=None)
    bio: Col[str]


class Post(Schema, table="posts"):
    id: Col[int | None] = field(primary_key=True, default=None)
    member_id: Col[int | None] = field(default=None)
    title: Col[str]
    score: Col[int] = field(default=0)
    inserted_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")
    member: ClassVar[Assoc[Member | None]] = belongs_to(lambda: Member, foreign_key="member_id")
    comments: ClassVar[Assoc[list[Comment]]] = has_many(lambda: Comment, foreign_key="post_id")
    tags: ClassVar[Assoc[list[Tag]]] = many_to_many(
        lambda: Tag, join_through="post_tags", join_keys=(("post_id", "id"), ("tag_id", "id"))
    )


class Comment(Schema, table="comments"):
    id: Col[int | None] = field(primary_key=True, default=None)
    post_id: Col[int | None] = field(default=None)
    body: Col[str]
    post: ClassVar[Assoc[Post | None]] = belongs_to(lambda: Post, foreign_key="post_id")


class Tag(Schema, table="tags", indexes=(index("name", unique=True),)):
    id: Col[int | None] = field(primary_key=True, default=None)
    name: Col[str]


class PostTag(Schema, table="post_tags"):
    post_id: Col[int] = field(primary_key=True)
    tag_id: Col[int] = field(primary_key=True)


class Badge(Schema, table="badges"):
    member_id: Col[int] = field(primary_key=True)
    kind: Col[str] = field(primary_key=True)
    level: Col[int] = field(default=1)


_COMMON: list[LiteralString] = [
    "CREATE TABLE profiles (id {pk}, member_id INTEGER UNIQUE"
    " REFERENCES members (id) ON DELETE CASCADE, bio TEXT NOT NULL)",
    "CREATE TABLE posts (id {pk}, member_id INTEGER"
    " CONSTRAINT posts_member_id_fkey REFERENCES members (id),"
    " title TEXT NOT NULL, score INTEGER NOT NULL DEFAULT 0, inserted_at {ts})",
    "CREATE TABLE comments (id {pk}, post_id INTEGER"
    " REFERENCES posts (id) ON DELETE CASCADE, body TEXT NOT NULL)",
    "CREATE TABLE tags (id {pk}, name TEXT NOT NULL CONSTRAINT tags_name_key UNIQUE)",
    "CREATE TABLE post_tags (post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,"
    " tag_id INTEGER NOT NULL REFERENCES tags (id), PRIMARY KEY (post_id, tag_id))",
    "CREATE TABLE badges (member_id INTEGER NOT NULL REFERENCES members (id),"
    " kind TEXT NOT NULL, level INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (member_id, kind))",
]

_MEMBERS: LiteralString = (
    "CREATE TABLE members (id {pk}, email TEXT NOT NULL CONSTRAINT members_email_key UNIQUE,"
    " name TEXT NOT NULL, age INTEGER CONSTRAINT members_age_check CHECK (age >= 0),"
    " password TEXT, version INTEGER NOT NULL DEFAULT 1, inserted_at {ts}, updated_at {ts})"
)

_TYPES = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY", "ts": "TEXT"},
    "postgresql": {"pk": "BIGSERIAL PRIMARY KEY", "ts": "TIMESTAMPTZ"},
}

# MariaDB names constraints only at the table level (a column's CONSTRAINT
# name REFERENCES is a syntax error), and keys on text need a bounded type.
_MARIADB: list[str] = [
    "CREATE TABLE members (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL,"
    " name TEXT NOT NULL, age INTEGER, password TEXT, version INTEGER NOT NULL DEFAULT 1,"
    " inserted_at DATETIME(6), updated_at DATETIME(6),"
    " CONSTRAINT members_email_key UNIQUE (email), CONSTRAINT members_age_check CHECK (age >= 0))",
    "CREATE TABLE profiles (id BIGINT AUTO_INCREMENT PRIMARY KEY, member_id BIGINT UNIQUE,"
    " bio TEXT NOT NULL, FOREIGN KEY (member_id) REFERENCES members (id) ON DELETE CASCADE)",
    "CREATE TABLE posts (id BIGINT AUTO_INCREMENT PRIMARY KEY, member_id BIGINT,"
    " title TEXT NOT NULL, score INTEGER NOT NULL DEFAULT 0, inserted_at DATETIME(6),"
    " CONSTRAINT posts_member_id_fkey FOREIGN KEY (member_id) REFERENCES members (id))",
    "CREATE TABLE comments (id BIGINT AUTO_INCREMENT PRIMARY KEY, post_id BIGINT,"
    " body TEXT NOT NULL, FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE)",
    "CREATE TABLE tags (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL,"
    " CONSTRAINT tags_name_key UNIQUE (name))",
    "CREATE TABLE post_tags (post_id BIGINT NOT NULL, tag_id BIGINT NOT NULL,"
    " PRIMARY KEY (post_id, tag_id),"
    " FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE,"
    " FOREIGN KEY (tag_id) REFERENCES tags (id))",
    "CREATE TABLE badges (member_id BIGINT NOT NULL, kind VARCHAR(255) NOT NULL,"
    " level INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (member_id, kind),"
    " FOREIGN KEY (member_id) REFERENCES members (id))",
]

DDL: dict[str, list[str]] = {
    **{
        name: [sql.format(**types) for sql in [_MEMBERS, *_COMMON]]
        for name, types in _TYPES.items()
    },
    "mariadb": _MARIADB,
}


def create_tables(conn: repodb.Connection) -> None:
    """Create the blog tables on ``conn`` (an empty database or schema)."""
    for ddl in DDL[conn.dialect.name]:
        # The DDL is this module's own text, never input.
        conn.exec(Request.exec(ddl))
