"""Schemas, tables and sample rows for the query DSL's integration tests.

Authors write stories, stories carry keywords (many-to-many), and folders
form a tree (for recursive CTEs). An author's ``email`` is stored in a
column of another name (``email_address``), and ``nick`` is virtual.

The class names are unique in the test suite: the schema registry is keyed
by class name. Related schemas are referenced by class or lambda, never by
name.

The sample rows (``AUTHORS``, ``STORIES``, ...) are what ``test_query_runs``
expects back, with the ids the databases assign them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar, LiteralString

from repodb.schema import (
    Assoc,
    Col,
    Embedded,
    Schema,
    belongs_to,
    field,
    has_many,
    index,
    many_to_many,
)

__all__ = [
    "AUTHORS",
    "DDL",
    "FOLDERS",
    "KEYWORDS",
    "STORIES",
    "STORY_KEYWORDS",
    "Author",
    "Folder",
    "Hometown",
    "Keyword",
    "Story",
]


class Hometown(Embedded):
    city: str


# The unique name is declared: MariaDB upserts take a conflict target only
# when it is the one declared unique key the insert can collide on.
class Author(Schema, table="authors", indexes=(index("name", unique=True),)):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    email: Col[str | None] = field(default=None, source="email_address")
    active: Col[bool] = field(default=True)
    age: Col[int | None] = field(default=None)
    score: Col[float | None] = field(default=None)
    balance: Col[Decimal | None] = field(default=None)
    data: Col[dict[str, Any] | None] = field(default=None)
    hometown: Col[Hometown | None] = field(default=None)
    joined_at: Col[dt.datetime | None] = field(default=None)
    nick: Col[str | None] = field(default=None, virtual=True)
    stories: ClassVar[Assoc[list[Story]]] = has_many(lambda: Story, foreign_key="author_id")


class Story(Schema, table="stories"):
    id: Col[int] = field(primary_key=True, default=None)
    author_id: Col[int]
    title: Col[str]
    author: ClassVar[Assoc[Author | None]] = belongs_to(Author, foreign_key="author_id")
    keywords: ClassVar[Assoc[list[Keyword]]] = many_to_many(
        lambda: Keyword,
        join_through="story_keywords",
        join_keys=(("story_id", "id"), ("keyword_id", "id")),
    )


class Keyword(Schema, table="keywords"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]


class Folder(Schema, table="folders"):
    id: Col[int] = field(primary_key=True, default=None)
    parent_id: Col[int | None] = field(default=None)
    name: Col[str]


# Text-stored types are TEXT on SQLite (see docs/types.md); native types on PostgreSQL.
DDL: dict[str, tuple[LiteralString, ...]] = {
    "sqlite": (
        "CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        " email_address TEXT, active INTEGER NOT NULL DEFAULT 1, age INTEGER, score REAL,"
        " balance TEXT, data TEXT, hometown TEXT, joined_at TEXT)",
        "CREATE TABLE stories (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL,"
        " title TEXT NOT NULL)",
        "CREATE TABLE keywords (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        "CREATE TABLE story_keywords (story_id INTEGER NOT NULL, keyword_id INTEGER NOT NULL)",
        "CREATE TABLE folders (id INTEGER PRIMARY KEY, parent_id INTEGER, name TEXT NOT NULL)",
    ),
    "postgresql": (
        "CREATE TABLE authors (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE,"
        " email_address text, active boolean NOT NULL DEFAULT true, age bigint,"
        " score double precision, balance numeric, data jsonb, hometown jsonb,"
        " joined_at timestamptz)",
        "CREATE TABLE stories (id bigserial PRIMARY KEY, author_id bigint NOT NULL,"
        " title text NOT NULL)",
        "CREATE TABLE keywords (id bigserial PRIMARY KEY, name text NOT NULL)",
        "CREATE TABLE story_keywords (story_id bigint NOT NULL, keyword_id bigint NOT NULL)",
        "CREATE TABLE folders (id bigserial PRIMARY KEY, parent_id bigint, name text NOT NULL)",
    ),
    "mariadb": (
        "CREATE TABLE authors (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
        " name VARCHAR(255) NOT NULL UNIQUE, email_address TEXT,"
        " active BOOLEAN NOT NULL DEFAULT TRUE, age BIGINT, score DOUBLE,"
        " balance DECIMAL(65,30), data JSON, hometown JSON, joined_at DATETIME(6))",
        "CREATE TABLE stories (id BIGINT AUTO_INCREMENT PRIMARY KEY, author_id BIGINT NOT NULL,"
        " title TEXT NOT NULL)",
        "CREATE TABLE keywords (id BIGINT AUTO_INCREMENT PRIMARY KEY, name TEXT NOT NULL)",
        "CREATE TABLE story_keywords (story_id BIGINT NOT NULL, keyword_id BIGINT NOT NULL)",
        "CREATE TABLE folders (id BIGINT AUTO_INCREMENT PRIMARY KEY, parent_id BIGINT,"
        " name TEXT NOT NULL)",
    ),
}

ADA_DATA: dict[str, Any] = {"a": {"b": [1, 2]}, "k.x": "dot"}

# The rows are inserted without ids, in list order, into fresh tables: both
# databases then number them 1, 2, 3, ... (ada is author 1, dan author 4).
AUTHORS = [
    Author(
        name="ada",
        email="ada@example.com",
        age=38,
        score=1.5,
        balance=Decimal("2.5"),
        data=ADA_DATA,
        hometown=Hometown(city="Paris"),
        joined_at=dt.datetime(2024, 1, 1, 15, 30, tzinfo=dt.UTC),
    ),
    Author(name="bob", active=False),
    Author(
        name="cy",
        age=20,
        score=0.5,
        balance=Decimal("7.25"),
        joined_at=dt.datetime(2024, 3, 10, 8, 0, tzinfo=dt.UTC),
    ),
    Author(name="dan", age=20),
]

# Stories 1 and 2 are ada's, story 3 is cy's; bob and dan have none.
STORIES = [
    Story(author_id=1, title="hello"),
    Story(author_id=1, title="world"),
    Story(author_id=3, title="xyz"),
]

KEYWORDS = [Keyword(name="python"), Keyword(name="sql")]

# (story_id, keyword_id): "hello" is python and sql, "world" is sql, "xyz" has none.
STORY_KEYWORDS = [(1, 1), (1, 2), (2, 2)]

# Folders 1..5: root -> docs -> drafts, root -> music; trash stands alone.
FOLDERS = [
    Folder(parent_id=None, name="root"),
    Folder(parent_id=1, name="docs"),
    Folder(parent_id=2, name="drafts"),
    Folder(parent_id=1, name="music"),
    Folder(parent_id=None, name="trash"),
]
