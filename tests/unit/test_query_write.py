"""Golden SQL of INSERT (with ON CONFLICT and RETURNING), UPDATE and DELETE on both dialects."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

import repodb.write
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.driver import sqlite
from repodb.query import query, to_sql
from repodb.types import Kind
from repodb.write import constraint, delete_all, excluded, insert_all, set_, update_all

from .test_query_helpers import Address, Card, Entry, Node, Person, assert_both, assert_sql

# -- insert -------------------------------------------------------------------------------


def test_insert_dict_rows() -> None:
    stmt = insert_all(Node, [{"label": "a", "parent_id": None}, {"parent_id": 1, "label": "b"}])
    compiled = assert_sql(
        stmt,
        SQLITE,
        'INSERT INTO "nodes" ("parent_id", "label") VALUES (?, ?), (?, ?)',
        [None, "a", 1, "b"],
    )
    assert compiled.result is None
    assert [t.kind for t in compiled.types if t] == [Kind.OPTIONAL, Kind.STR] * 2


def test_insert_dict_rows_need_the_same_known_keys() -> None:
    with pytest.raises(ValueError, match="same keys"):
        insert_all(Node, [{"label": "a"}, {"label": "b", "parent_id": 1}])
    with pytest.raises(ValueError, match="no stored field"):
        insert_all(Node, [{"title": "a"}])
    with pytest.raises(ValueError, match="at least one row"):
        insert_all(Node, [])
    with pytest.raises(TypeError, match="dicts or Node instances"):
        insert_all(Node, [Entry(author_id=1, title="x")])


def test_insert_records_leaves_out_database_assigned_keys() -> None:
    rows = [
        Person(name="Ada", address=Address(city="Paris")),
        Person(name="Bob", email="b@x"),
    ]
    stmt = insert_all(Person, rows)
    columns = '"name", "age", "email_address", "score", "balance", "data", "address", "born"'
    values = "(?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?)"
    # Embedded records are bound as they are (their column's codec writes
    # their JSON); the virtual field is not stored.
    assert_both(
        stmt,
        f'INSERT INTO "people" ({columns}) VALUES {values}',
        [
            *("Ada", None, "", None, None, None, Address(city="Paris"), None),
            *("Bob", None, "b@x", None, None, None, None, None),
        ],
    )


def test_insert_records_with_given_keys_and_a_prefixed_table() -> None:
    key = uuid.UUID(int=1)
    assert_both(
        insert_all(Card, [Card(id=key, person_id=3)]),
        'INSERT INTO "billing"."cards" ("id", "person_id") VALUES (?, ?)',
        [key, 3],
    )
    with pytest.raises(ValueError, match="id is None in some rows"):
        insert_all(Node, [Node(id=1, label="a"), Node(label="b")])


def test_insert_only_default_values() -> None:
    assert_both(insert_all(Node, [{}]), 'INSERT INTO "nodes" DEFAULT VALUES', [])


def test_insert_returning() -> None:
    stmt = insert_all(Node, [{"label": "a"}], returning=True)
    compiled = assert_sql(
        stmt,
        POSTGRESQL,
        'INSERT INTO "nodes" ("label") VALUES ($1) RETURNING "id", "parent_id", "label"',
        ["a"],
    )
    assert compiled.result is not None
    assert compiled.result.make((7, None, "a")) == Node(id=7, label="a")
    assert_both(
        insert_all(Person, [{"name": "a"}], returning=[Person.id, "email"]),
        'INSERT INTO "people" ("name") VALUES (?) RETURNING "id", "email_address"',
        ["a"],
    )
    with pytest.raises(ValueError, match="at least one field"):
        insert_all(Node, [{"label": "a"}], returning=[])


def test_on_conflict_do_nothing() -> None:
    assert_both(
        insert_all(Node, [{"label": "a"}], on_conflict="nothing"),
        'INSERT INTO "nodes" ("label") VALUES (?) ON CONFLICT DO NOTHING',
        ["a"],
    )
    assert_both(
        insert_all(Node, [{"label": "a"}], on_conflict="nothing", conflict_target=[Node.label]),
        'INSERT INTO "nodes" ("label") VALUES (?) ON CONFLICT ("label") DO NOTHING',
        ["a"],
    )


def test_on_conflict_replace_all_keeps_the_target() -> None:
    stmt = insert_all(
        Person,
        [{"email": "a@x", "name": "Ada", "age": 3}],
        on_conflict="replace_all",
        conflict_target=["email"],
    )
    assert_both(
        stmt,
        'INSERT INTO "people" AS "p0" ("name", "age", "email_address") VALUES (?, ?, ?) '
        'ON CONFLICT ("email_address") DO UPDATE SET "name" = "excluded"."name", '
        '"age" = "excluded"."age"',
        ["Ada", 3, "a@x"],
    )


def test_on_conflict_replace_some_fields() -> None:
    stmt = insert_all(
        Person,
        [{"name": "Ada", "age": 3}],
        on_conflict=["age", Person.email],
        conflict_target=Person.name,
        returning=["id"],
    )
    assert_both(
        stmt,
        'INSERT INTO "people" AS "p0" ("name", "age") VALUES (?, ?) ON CONFLICT ("name") '
        'DO UPDATE SET "age" = "excluded"."age", "email_address" = "excluded"."email_address" '
        'RETURNING "id"',
        ["Ada", 3],
    )


def test_on_conflict_set_expressions_of_both_rows() -> None:
    stmt = insert_all(
        Person,
        [{"name": "Ada", "age": 3}],
        on_conflict=[set_(Person.age, Person.age + excluded(Person.age)), set_(Person.score, 1.5)],
        conflict_target=["name"],
    )
    assert_both(
        stmt,
        'INSERT INTO "people" AS "p0" ("name", "age") VALUES (?, ?) ON CONFLICT ("name") '
        'DO UPDATE SET "age" = ("p0"."age" + "excluded"."age"), "score" = ?',
        ["Ada", 3, 1.5],
    )
    as_dict = insert_all(
        Person,
        [{"name": "Ada"}],
        on_conflict={"age": 1, Person.score: None},
        conflict_target=["name"],
    )
    assert_both(
        as_dict,
        'INSERT INTO "people" AS "p0" ("name") VALUES (?) ON CONFLICT ("name") '
        'DO UPDATE SET "age" = ?, "score" = ?',
        ["Ada", 1, None],
    )


def test_on_conflict_on_a_named_constraint_is_postgresql_only() -> None:
    stmt = insert_all(
        Node,
        [{"label": "a"}],
        on_conflict=["label"],
        conflict_target=constraint("nodes_label_key"),
    )
    assert_sql(
        stmt,
        POSTGRESQL,
        'INSERT INTO "nodes" AS "n0" ("label") VALUES ($1) ON CONFLICT ON CONSTRAINT '
        '"nodes_label_key" DO UPDATE SET "label" = "excluded"."label"',
        ["a"],
    )
    with pytest.raises(ValueError, match="sqlite cannot name a constraint"):
        to_sql(stmt, SQLITE)


def test_on_conflict_options_are_checked() -> None:
    row = [{"label": "a"}]
    # PostgreSQL's DO UPDATE needs a target; SQLite infers one (test_query_upsert.py).
    with pytest.raises(ValueError, match="postgresql cannot update on conflict without"):
        to_sql(insert_all(Node, row, on_conflict="replace_all"), POSTGRESQL)
    with pytest.raises(ValueError, match="needs an on_conflict action"):
        insert_all(Node, row, conflict_target=["label"])
    with pytest.raises(ValueError, match="unknown on_conflict"):
        insert_all(Node, row, on_conflict="update")
    with pytest.raises(ValueError, match="nothing to update"):
        insert_all(Node, row, on_conflict=[], conflict_target=["label"])


def test_too_many_parameters_ask_for_batches() -> None:
    rows = [{"label": "x", "parent_id": 1}] * 16384
    stmt = insert_all(Node, rows)
    with pytest.raises(ValueError, match="insert at most 16383 rows at a time"):
        to_sql(stmt, SQLITE)
    assert len(to_sql(stmt, POSTGRESQL)[1]) == 32768


# -- update ----------------------------------------------------------------------------------


def test_update_all_with_assignments_and_set() -> None:
    stmt = update_all(
        query(Person).where(Person.id == 3),
        set_(Person.name, "Ada"),
        set={"age": Person.age + 1, Person.email: "a@x"},
    )
    assert_both(
        stmt,
        'UPDATE "people" AS "p0" SET "name" = ?, "age" = ("p0"."age" + ?), '
        '"email_address" = ? WHERE ("p0"."id" = ?)',
        ["Ada", 1, "a@x", 3],
    )


def test_assignments_bind_embedded_records_as_their_json() -> None:
    # As insert_all does: the column's codec writes the record's JSON object.
    paris, oslo = Address(city="Paris"), Address(city="Oslo")
    by_name = update_all(query(Person).where(Person.id == 3), set={"address": paris})
    sql = 'UPDATE "people" AS "p0" SET "address" = ? WHERE ("p0"."id" = ?)'
    assert_both(by_name, sql, [paris, 3])
    encoded = assert_sql(by_name, SQLITE, sql, [paris, 3]).encode(sqlite.CODECS)
    assert encoded == ['{"city":"Paris"}', 3]
    for stmt in (
        update_all(query(Person), set={Person.address: oslo}),
        update_all(query(Person), set_(Person.address, oslo)),
    ):
        assert_both(stmt, 'UPDATE "people" AS "p0" SET "address" = ?', [oslo])
    assert_both(
        update_all(query(Person), set={"address": None}),
        'UPDATE "people" AS "p0" SET "address" = ?',
        [None],
    )
    upsert = insert_all(
        Person,
        [{"name": "Ada"}],
        on_conflict=[set_(Person.address, oslo)],
        conflict_target=[Person.name],
    )
    assert_both(
        upsert,
        'INSERT INTO "people" AS "p0" ("name") VALUES (?) ON CONFLICT ("name") '
        'DO UPDATE SET "address" = ?',
        ["Ada", oslo],
    )


def test_update_all_returning_records() -> None:
    stmt = update_all(query(Node), set={"label": "x"}, returning=True)
    compiled = assert_sql(
        stmt,
        SQLITE,
        'UPDATE "nodes" AS "n0" SET "label" = ? RETURNING "id", "parent_id", "label"',
        ["x"],
    )
    assert compiled.result is not None
    assert compiled.result.kind == "record"


def test_update_all_with_a_subquery_and_a_cte() -> None:
    authors = query(Entry).where(Entry.published).select(Entry.author_id)
    stmt = update_all(
        query(Person).with_cte("n", query(Node)).where(Person.id.in_(authors)),
        set_(Person.score, 1.0),
    )
    assert_both(
        stmt,
        'WITH "n" AS (SELECT "n0"."id", "n0"."parent_id", "n0"."label" FROM "nodes" AS "n0") '
        'UPDATE "people" AS "p1" SET "score" = ? WHERE ("p1"."id" IN (SELECT "e2"."author_id" '
        'FROM "entries" AS "e2" WHERE "e2"."published"))',
        [1.0],
    )


def test_update_all_checks_its_query_and_fields() -> None:
    with pytest.raises(ValueError, match="remove order_by, limit"):
        update_all(query(Person).join("entries").order_by(Person.id).limit(1), set={"age": 1})
    with pytest.raises(ValueError, match="something to set"):
        update_all(query(Person))
    with pytest.raises(ValueError, match="no stored field 'nickname'"):
        update_all(query(Person), set={"nickname": "x"})
    with pytest.raises(ValueError, match="Person has no stored field 'title'"):
        update_all(query(Person), set={Entry.title: "x"})


# -- delete ------------------------------------------------------------------------------


def test_delete_all() -> None:
    assert_both(
        delete_all(query(Entry).where(Entry.title.like("tmp%"))),
        'DELETE FROM "entries" AS "e0" WHERE ("e0"."title" LIKE ?)',
        ["tmp%"],
    )
    assert_both(delete_all(query(Node)), 'DELETE FROM "nodes" AS "n0"', [])


def test_delete_all_returning_fields() -> None:
    compiled = assert_sql(
        delete_all(query(Node).where(Node.id > 1), returning=[Node.id, Node.label]),
        POSTGRESQL,
        'DELETE FROM "nodes" AS "n0" WHERE ("n0"."id" > $1) RETURNING "id", "label"',
        [1],
    )
    assert compiled.result is not None
    assert compiled.result.make((1, "a")) == (1, "a")


def test_delete_all_of_a_subquery_is_an_error() -> None:
    from repodb.query import subquery

    with pytest.raises(ValueError, match="needs a schema's table"):
        delete_all(query(subquery(query(Node)), as_="s"))


# -- wrong argument types ---------------------------------------------------------------

# Their types refuse each call too, so the calls go through an Any-typed handle.
W: Any = repodb.write
WRONG_WRITE_ARGUMENTS: dict[str, tuple[Callable[[], object], str]] = {
    "update_all assignment": (
        lambda: W.update_all(query(Node), "label"),
        "update_all takes set_(column, value) assignments, not the str 'label'",
    ),
    "update_all query": (
        lambda: W.update_all("nodes", set={"label": "x"}),
        "update_all takes a query, not the str 'nodes'",
    ),
    "delete_all query": (lambda: W.delete_all("nodes"), "delete_all takes a query"),
    "set key": (
        lambda: W.update_all(query(Node), set={3: "x"}),
        "set takes field names or columns as keys, not int",
    ),
    "returning": (
        lambda: W.delete_all(query(Node), returning=[3]),
        "returning takes field names or columns (Node.f), not int",
    ),
    "on_conflict": (
        lambda: W.insert_all(Node, [{"label": "a"}], on_conflict=[3], conflict_target=["id"]),
        "on_conflict takes field names or columns (Node.f), not int",
    ),
    "conflict_target": (
        lambda: W.insert_all(Node, [{"label": "a"}], on_conflict="nothing", conflict_target=3),
        "conflict_target takes field names or columns (Node.f), not int",
    ),
    "excluded": (lambda: W.excluded("label"), "excluded() takes a column, not the str 'label'"),
    "insert_all schema": (
        lambda: W.insert_all("nodes", [{"label": "a"}]),
        "insert_all takes a schema class or a table(), not the str 'nodes' (a table without"
        " a schema: table('name', column=type, ...) from repodb.table)",
    ),
}


@pytest.mark.parametrize("name", WRONG_WRITE_ARGUMENTS)
def test_a_wrong_argument_type_is_a_type_error_when_the_statement_is_built(name: str) -> None:
    build, message = WRONG_WRITE_ARGUMENTS[name]
    with pytest.raises(TypeError) as info:
        build()
    assert str(info.value).startswith(message)


def test_one_field_name_is_one_returning_or_conflict_column() -> None:
    # A str is a Sequence[str] to mypy: it names one field, not one per letter.
    stmt = insert_all(
        Node, [{"label": "a"}], on_conflict="nothing", conflict_target="id", returning="label"
    )
    assert to_sql(stmt, SQLITE)[0] == (
        'INSERT INTO "nodes" ("label") VALUES (?) ON CONFLICT ("id") DO NOTHING RETURNING "label"'
    )
