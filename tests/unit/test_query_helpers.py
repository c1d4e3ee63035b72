"""Schemas and golden-SQL helpers shared by the query tests, and tests of the helpers.

``assert_sql`` checks a statement's SQL and parameters for one dialect, and
that the cached compilation agrees with a fresh one (so ``walk`` collects
values in the order ``emit`` binds them). ``assert_both`` checks SQLite's
text (bare ``?`` placeholders) and PostgreSQL's, which differs only in
its ``$n`` placeholders.

Related schemas are referenced by class or lambda, never by name: the
schema registry is keyed by class name, and the docs define their own
``User`` and ``Post``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from repodb._compile.cache import Compiled, compile_statement, compile_uncached
from repodb._placeholders import parse
from repodb.dialect import POSTGRESQL, SQLITE, Dialect
from repodb.expr import Statement
from repodb.query import query
from repodb.schema import (
    Assoc,
    Col,
    Embedded,
    Schema,
    belongs_to,
    field,
    has_many,
    has_one,
    many_to_many,
)


class Address(Embedded):
    city: str


class Person(Schema, table="people"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    age: Col[int | None] = field(default=None)
    email: Col[str] = field(default="", source="email_address")
    score: Col[float | None] = field(default=None)
    balance: Col[Decimal | None] = field(default=None)
    data: Col[dict[str, Any] | None] = field(default=None)
    address: Col[Address | None] = field(default=None)
    born: Col[dt.datetime | None] = field(default=None)
    nickname: Col[str | None] = field(default=None, virtual=True)
    entries: ClassVar[Assoc[list[Entry]]] = has_many(lambda: Entry, foreign_key="author_id")
    profile: ClassVar[Assoc[Card | None]] = has_one(lambda: Card, foreign_key="person_id")


class Entry(Schema, table="entries"):
    id: Col[int] = field(primary_key=True, default=None)
    author_id: Col[int]
    title: Col[str]
    published: Col[bool] = field(default=False)
    author: ClassVar[Assoc[Person | None]] = belongs_to(Person, foreign_key="author_id")
    notes: ClassVar[Assoc[list[Note]]] = has_many(lambda: Note, foreign_key="entry_id")
    topics: ClassVar[Assoc[list[Topic]]] = many_to_many(
        lambda: Topic,
        join_through="entry_topics",
        join_keys=(("entry_id", "id"), ("topic_id", "id")),
    )


class Note(Schema, table="notes"):
    id: Col[int] = field(primary_key=True, default=None)
    entry_id: Col[int]
    body: Col[str]
    entry: ClassVar[Assoc[Entry | None]] = belongs_to(Entry, foreign_key="entry_id")


class Topic(Schema, table="topics"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]


class Card(Schema, table="cards", prefix="billing"):
    id: Col[uuid.UUID] = field(primary_key=True, default_factory=uuid.uuid4)
    person_id: Col[int]


class Node(Schema, table="nodes"):
    id: Col[int] = field(primary_key=True, default=None)
    parent_id: Col[int | None] = field(default=None)
    label: Col[str]


DIALECTS = [SQLITE, POSTGRESQL]


def assert_sql(stmt: Statement, dialect: Dialect, sql: str, params: list[Any]) -> Compiled:
    """``stmt`` compiles to ``sql`` and ``params``, cached and fresh alike."""
    compiled = compile_statement(stmt, dialect)
    assert compiled.sql == sql
    assert list(compiled.params) == params
    fresh = compile_uncached(stmt, dialect)
    assert (fresh.sql, fresh.params, fresh.types) == (
        compiled.sql,
        compiled.params,
        compiled.types,
    )
    return compiled


def pg_text(sqlite_sql: str) -> str:
    """SQLite's SQL with PostgreSQL's placeholders: its ``?`` markers numbered in order."""
    return parse(sqlite_sql).render("$", numbered=True)


def assert_both(stmt: Statement, sql: str, params: list[Any]) -> None:
    """``stmt`` compiles to ``sql`` on SQLite and to the same with ``$n`` on PostgreSQL."""
    assert_sql(stmt, SQLITE, sql, params)
    assert_sql(stmt, POSTGRESQL, pg_text(sql), params)


# -- the helpers themselves ---------------------------------------------------------


def test_pg_text_numbers_only_placeholders() -> None:
    assert pg_text("SELECT ?, ? FROM \"t?\" WHERE x = '?' AND y = ?") == (
        "SELECT $1, $2 FROM \"t?\" WHERE x = '?' AND y = $3"
    )
    # A numbered SQLite marker in a golden text is a stale expectation.
    with pytest.raises(ValueError, match="numbered"):
        pg_text("SELECT ?1")


def test_assert_sql_fails_on_other_sql_or_params() -> None:
    q = query(Person).where(Person.id == 1)
    sql = (
        'SELECT "p0"."id", "p0"."name", "p0"."age", "p0"."email_address", "p0"."score", '
        '"p0"."balance", "p0"."data", "p0"."address", "p0"."born" FROM "people" AS "p0" '
        'WHERE ("p0"."id" = ?)'
    )
    assert_sql(q, SQLITE, sql, [1])
    with pytest.raises(AssertionError):
        assert_sql(q, SQLITE, sql, [2])
    with pytest.raises(AssertionError):
        assert_sql(q, SQLITE, sql.replace("= ?", "= ?1"), [1])


def test_assert_sql_catches_a_walk_that_disagrees_with_emit() -> None:
    @dataclasses.dataclass(frozen=True, eq=False)
    class Swapped(Statement):
        """Binds a then b, but walks b then a: the cache would bind them swapped."""

        a: int
        b: int

        def emit(self, w: Any) -> None:
            w.write("SELECT ")
            w.bind(self.a, None)
            w.write(", ")
            w.bind(self.b, None)

        def walk(self, shape: list[object], values: list[object]) -> None:
            shape.append(Swapped)
            values.extend([self.b, self.a])

    with pytest.raises(AssertionError):
        assert_sql(Swapped(1, 2), SQLITE, "SELECT ?, ?", [2, 1])
