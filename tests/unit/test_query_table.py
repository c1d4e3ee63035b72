"""Golden SQL of schemaless queries and inserts: ``table(...)`` with explicit typed selects.

On both dialects: a table's typed columns in where and select (a value, a
tuple, a dict), a join of two tables and of a table with a schema, a table in
a PostgreSQL schema (``prefix``), a subquery of a table; the static types the
checker sees (``col`` gives ``Column[T]``); a query without a select refused
when compiled, with the reason; ``insert_all`` of dict rows of declared
columns, ``returning=True`` as dicts, an upsert naming columns, rows from a
query; and the errors for undeclared or non-identifier columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, assert_type

import pytest

from repodb.dialect import POSTGRESQL, SQLITE
from repodb.expr import Column
from repodb.functions import count
from repodb.query import Query, query, subquery, to_sql
from repodb.table import table
from repodb.types import Kind
from repodb.write import excluded, insert_all, set_

from .test_query_helpers import Person, assert_both, assert_sql

users = table("users", id=int, name=str, age=int | None)
logs = table("logs", prefix="audit", level=str, at=dt.datetime)


def test_typed_columns_and_selects() -> None:
    age = users.col("age", int)
    assert_type(age, Column[int])
    adults = query(users).where(age >= 18).select(users.col("name", str))
    assert_type(adults, Query[str])
    assert_both(adults, 'SELECT "u0"."name" FROM "users" AS "u0" WHERE ("u0"."age" >= ?)', [18])
    pairs = query(users).order_by(users.id).select(users.col("id", int), users.col("name", str))
    assert_type(pairs, Query[tuple[int, str]])
    assert_both(
        pairs, 'SELECT "u0"."id", "u0"."name" FROM "users" AS "u0" ORDER BY "u0"."id" ASC', []
    )
    # Declared columns read as attributes carry their type at run time.
    assert users.age.type_ is not None
    assert users.age.type_.kind is Kind.OPTIONAL
    assert users["nickname"].type_ is None


def test_a_prefixed_table_and_a_dict_select() -> None:
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    recent = query(logs).where(logs.at > since).select({"level": logs.level, "n": count()})
    assert_sql(
        recent.group_by(logs.level),
        POSTGRESQL,
        'SELECT "l0"."level", count(*) AS "n" FROM "audit"."logs" AS "l0"'
        ' WHERE ("l0"."at" > $1) GROUP BY "l0"."level"',
        [since],
    )


def test_joins_with_tables_and_schemas() -> None:
    posts = table("posts", user_id=int, title=str)
    q = (
        query(users)
        .join(posts, on=posts.user_id == users.id)
        .join(Person, on=Person.name == users.name)
        .select(users.col("name", str), posts.col("title", str), Person.age)
    )
    assert_type(q, Query[tuple[str, str, int | None]])
    assert_both(
        q,
        'SELECT "u0"."name", "p1"."title", "p2"."age" FROM "users" AS "u0"'
        ' INNER JOIN "posts" AS "p1" ON ("p1"."user_id" = "u0"."id")'
        ' INNER JOIN "people" AS "p2" ON ("p2"."name" = "u0"."name")',
        [],
    )
    named = query(subquery(query(users).select({"name": users.name}))).select(
        {"name": users["name"]}
    )
    with pytest.raises(ValueError, match="is not part of this query"):
        to_sql(named, SQLITE)


def test_a_query_of_a_table_must_select() -> None:
    with pytest.raises(ValueError, match=r"table\('users'\) has no schema, so no records"):
        to_sql(query(users), SQLITE)
    with pytest.raises(ValueError, match="keyword conditions need a schema"):
        query(users).where(name="Ada")
    with pytest.raises(ValueError, match="preload needs a schema"):
        query(users).preload("posts")


def test_insert_rows_of_declared_columns() -> None:
    assert_both(
        insert_all(users, [{"name": "Ada", "age": 36}, {"name": "Bob", "age": None}]),
        'INSERT INTO "users" ("name", "age") VALUES (?, ?), (?, ?)',
        ["Ada", 36, "Bob", None],
    )
    returning = insert_all(users, [{"name": "Ada"}], returning=True)
    compiled = assert_sql(
        returning,
        SQLITE,
        'INSERT INTO "users" ("name") VALUES (?) RETURNING "id", "name", "age"',
        ["Ada"],
    )
    assert compiled.result is not None
    assert compiled.result.make((1, "Ada", None)) == {"id": 1, "name": "Ada", "age": None}
    upsert = insert_all(
        users,
        [{"id": 1, "name": "Ada"}],
        on_conflict=[set_(users.col("name", str), excluded(users.col("name", str)))],
        conflict_target=["id"],
    )
    assert_both(
        upsert,
        'INSERT INTO "users" AS "u0" ("id", "name") VALUES (?, ?)'
        ' ON CONFLICT ("id") DO UPDATE SET "name" = "excluded"."name"',
        [1, "Ada"],
    )
    copied = insert_all(users, query(Person).select({"name": Person.name}))
    assert_both(copied, 'INSERT INTO "users" ("name") SELECT "p0"."name" FROM "people" AS "p0"', [])


def test_insert_needs_declared_identifier_columns() -> None:
    with pytest.raises(ValueError, match=r"has no stored field\(s\) \['email'\]"):
        insert_all(users, [{"name": "Ada", "email": "a@x"}])
    spaced: dict[str, Any] = {"my column": str}
    odd = table("odd", **spaced)
    with pytest.raises(ValueError, match="'my column' is no Python identifier"):
        insert_all(odd, [{"my column": "x"}])
    assert to_sql(query(odd).select(odd.col("my column", str)), SQLITE)[0] == (
        'SELECT "o0"."my column" FROM "odd" AS "o0"'
    )
    bare = table("users")
    with pytest.raises(ValueError, match="has no stored field"):
        insert_all(bare, [{"name": "Ada"}])


def test_tables_compare_by_declaration() -> None:
    assert table("users", id=int, name=str, age=int | None) == users
    assert table("users") != users
    assert repr(users) == "table('users', id=int, name=str, age=optional(int))"
    anything: Any = users.col("data", dict)
    assert anything.type_.kind is Kind.JSON
