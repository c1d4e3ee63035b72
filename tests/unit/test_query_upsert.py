"""Golden SQL of conditional upserts, ``replace_all_except`` and upserts without a target.

On both dialects: ``update_where`` as ``DO UPDATE SET ... WHERE`` over the
stored row and ``excluded``; ``replace_all_except`` keeping the named fields
and the conflict target; ``on_conflict`` without a conflict target (DO
NOTHING on both, DO UPDATE on SQLite, refused for PostgreSQL with the
reason when compiled); the options' checks.
"""

from __future__ import annotations

import pytest

from repodb.dialect import POSTGRESQL, SQLITE
from repodb.query import to_sql
from repodb.write import excluded, insert_all, replace_all_except, set_

from .test_query_helpers import Node, Person, assert_both

ROW = {"email": "a@x", "name": "Ada", "age": 3}


def test_update_where_is_the_do_update_condition() -> None:
    stmt = insert_all(
        Person,
        [ROW],
        on_conflict=["name", "age"],
        conflict_target=["email"],
        update_where=Person.age < excluded(Person.age),
    )
    assert_both(
        stmt,
        'INSERT INTO "people" AS "p0" ("name", "age", "email_address") VALUES (?, ?, ?)'
        ' ON CONFLICT ("email_address") DO UPDATE SET "name" = "excluded"."name",'
        ' "age" = "excluded"."age" WHERE ("p0"."age" < "excluded"."age")',
        ["Ada", 3, "a@x"],
    )
    bounded = insert_all(
        Person,
        [ROW],
        on_conflict=[set_(Person.age, excluded(Person.age))],
        conflict_target=[Person.email],
        update_where=(Person.name == "Ada") & (Person.age.is_null() | (Person.age < 18)),
    )
    sql, params = to_sql(bounded, POSTGRESQL)
    assert sql.endswith(
        ' DO UPDATE SET "age" = "excluded"."age" WHERE (("p0"."name" = $4)'
        ' AND (("p0"."age" IS NULL) OR ("p0"."age" < $5)))'
    )
    assert params == ["Ada", 3, "a@x", "Ada", 18]


def test_replace_all_except_keeps_fields_and_the_target() -> None:
    row = {**ROW, "score": 1.5}
    stmt = insert_all(
        Person,
        [row],
        on_conflict=replace_all_except("age", Person.score),
        conflict_target=["email"],
    )
    assert_both(
        stmt,
        'INSERT INTO "people" AS "p0" ("name", "age", "email_address", "score")'
        ' VALUES (?, ?, ?, ?) ON CONFLICT ("email_address")'
        ' DO UPDATE SET "name" = "excluded"."name"',
        ["Ada", 3, "a@x", 1.5],
    )
    with pytest.raises(ValueError, match="nothing to update"):
        insert_all(
            Person, [ROW], on_conflict=replace_all_except("name", "age"), conflict_target=["email"]
        )
    with pytest.raises(ValueError, match="no stored field 'nope'"):
        insert_all(Person, [ROW], on_conflict=replace_all_except("nope"), conflict_target=["email"])
    with pytest.raises(ValueError, match="needs the fields to keep"):
        replace_all_except()


def test_on_conflict_without_a_target() -> None:
    row = [{"label": "a"}]
    assert_both(
        insert_all(Node, row, on_conflict="nothing"),
        'INSERT INTO "nodes" ("label") VALUES (?) ON CONFLICT DO NOTHING',
        ["a"],
    )
    replace = insert_all(Node, row, on_conflict="replace_all")
    assert to_sql(replace, SQLITE) == (
        'INSERT INTO "nodes" AS "n0" ("label") VALUES (?) ON CONFLICT'
        ' DO UPDATE SET "label" = "excluded"."label"',
        ["a"],
    )
    with pytest.raises(ValueError, match="must name the unique columns or constraint"):
        to_sql(replace, POSTGRESQL)


def test_update_where_needs_an_update_and_a_condition() -> None:
    with pytest.raises(ValueError, match="update_where needs an on_conflict that updates"):
        insert_all(Node, [{"label": "a"}], on_conflict="nothing", update_where=Node.id > 1)
    with pytest.raises(TypeError, match="takes a condition"):
        insert_all(
            Person,
            [ROW],
            on_conflict="replace_all",
            conflict_target=["email"],
            update_where=True,  # type: ignore[arg-type]
        )
