"""Golden SQL of ``insert_all`` from a query (INSERT ... SELECT) and of query values in rows.

On both dialects: the query's dict select names the columns, in its order;
its CTEs and parameters come along; an upsert of selected rows (SQLite's
SELECT wrapped so that ON CONFLICT is not read as a join's ON); a scalar
subquery (or the query itself) as a row's value beside bound values; the
errors when the select is not a dict, names no field, or has another type.
"""

from __future__ import annotations

import pytest

from repodb.dialect import POSTGRESQL, SQLITE
from repodb.functions import max_
from repodb.query import query, subquery, to_sql
from repodb.write import excluded, insert_all, set_

from .test_query_helpers import Entry, Node, Person, assert_both, assert_sql

ADULTS = (
    query(Person).where(Person.age >= 18).select({"title": Person.name, "author_id": Person.id})
)
SELECT_ADULTS = (
    'SELECT "p0"."name" AS "title", "p0"."id" AS "author_id" FROM "people" AS "p0"'
    ' WHERE ("p0"."age" >= ?)'
)


def test_insert_from_a_query() -> None:
    assert_both(
        insert_all(Entry, ADULTS),
        f'INSERT INTO "entries" ("title", "author_id") {SELECT_ADULTS}',
        [18],
    )


def test_insert_from_a_query_with_a_cte_and_returning() -> None:
    recent = query(Entry).where(Entry.published == True)  # noqa: E712 - SQL's =
    copied = (
        query(Entry)
        .with_cte("recent", recent)
        .where(Entry.id.in_(subquery(query(Entry).select(Entry.id))))
        .select({"title": Entry.title, "author_id": Entry.author_id})
    )
    sql, params = to_sql(insert_all(Entry, copied, returning=[Entry.id]), SQLITE)
    assert sql.startswith('INSERT INTO "entries" ("title", "author_id") WITH "recent" AS (')
    assert sql.endswith(' RETURNING "id"')
    assert params == [True]


def test_upsert_from_a_query_on_each_dialect() -> None:
    stmt = insert_all(Entry, ADULTS, on_conflict="nothing")
    assert_sql(
        stmt,
        SQLITE,
        f'INSERT INTO "entries" ("title", "author_id") SELECT * FROM ({SELECT_ADULTS})'
        " WHERE true ON CONFLICT DO NOTHING",
        [18],
    )
    assert_sql(
        stmt,
        POSTGRESQL,
        f'INSERT INTO "entries" ("title", "author_id") {SELECT_ADULTS.replace("?", "$1")}'
        " ON CONFLICT DO NOTHING",
        [18],
    )
    update = insert_all(
        Entry,
        ADULTS,
        on_conflict=[set_(Entry.title, excluded(Entry.title))],
        conflict_target=[Entry.id],
    )
    sql, _ = to_sql(update, SQLITE)
    assert sql.endswith(' WHERE true ON CONFLICT ("id") DO UPDATE SET "title" = "excluded"."title"')


def test_a_query_as_a_rows_value() -> None:
    ada = query(Person).where(Person.name == "Ada").select(Person.id)
    expected = (
        'INSERT INTO "entries" ("author_id", "title") VALUES'
        ' ((SELECT "p0"."id" FROM "people" AS "p0" WHERE ("p0"."name" = ?)), ?),'
        ' ((SELECT max("p1"."id") FROM "people" AS "p1"), ?)'
    )
    newest = subquery(query(Person).select(max_(Person.id)))
    rows = [{"title": "Hi", "author_id": ada}, {"title": "Yo", "author_id": newest}]
    assert_both(insert_all(Entry, rows), expected, ["Ada", "Hi", "Yo"])


def test_the_query_must_select_a_dict_of_fields_of_their_types() -> None:
    with pytest.raises(ValueError, match="select a dict of field names"):
        insert_all(Entry, query(Person).select(Person.name))
    with pytest.raises(ValueError, match="select a dict of field names"):
        insert_all(Entry, query(Entry))
    with pytest.raises(ValueError, match="Entry has no stored field 'name'"):
        insert_all(Entry, query(Person).select({"name": Person.name}))
    with pytest.raises(TypeError, match=r"selects .* for Entry.title"):
        insert_all(Entry, query(Person).select({"title": Person.id}))
    with pytest.raises(TypeError, match="for author_id is not"):
        insert_all(Entry, [{"title": "x", "author_id": query(Person).select(Person.name)}])
    # An untyped or nullable expression of the same kind fits.
    insert_all(Node, query(Node).select({"parent_id": Node.id, "label": Node.label}))
