"""Golden SQL of ``update_all``/``delete_all`` with joins: UPDATE ... FROM, DELETE ... USING.

SQLite has ``UPDATE ... FROM`` but no ``DELETE ... USING``: a delete's
joins become ``WHERE EXISTS (SELECT 1 FROM the joins ...)``, with the
values bound in the same order as PostgreSQL's text.
"""

from __future__ import annotations

import pytest

from repodb.dialect import POSTGRESQL, SQLITE
from repodb.functions import count
from repodb.query import alias, query, ref, subquery
from repodb.write import delete_all, set_, update_all

from .test_query_helpers import Card, Entry, Node, Person, Topic, assert_both, assert_sql


def test_update_all_through_an_association_join_sets_joined_values() -> None:
    stmt = update_all(
        query(Entry).join("author").where(Person.name == "Ada"),
        set_(Entry.title, Person.name),
        set={"published": True},
    )
    assert_both(
        stmt,
        'UPDATE "entries" AS "e0" SET "title" = "p1"."name", "published" = ? '
        'FROM "people" AS "p1" WHERE (("p1"."id" = "e0"."author_id") AND ("p1"."name" = ?))',
        [True, "Ada"],
    )


def test_update_all_with_a_join_and_no_where_filters_by_the_join_alone() -> None:
    stmt = update_all(query(Entry).join("author"), set={"published": True})
    assert_both(
        stmt,
        'UPDATE "entries" AS "e0" SET "published" = ? FROM "people" AS "p1" '
        'WHERE ("p1"."id" = "e0"."author_id")',
        [True],
    )


def test_update_all_with_two_joins_moves_every_join_condition_to_where() -> None:
    # PostgreSQL refuses an ON naming the written table ("e0") in a FROM
    # list, so sources are listed and their conditions ANDed in join order.
    parent = alias(Node, "parent")
    stmt = update_all(
        query(Entry)
        .join(Node, on=Node.label == Entry.title)
        .join(parent, on=parent.id == Node.parent_id)
        .where(parent.label == "root"),
        set_(Entry.title, Node.label),
        set={"published": False},
    )
    assert_both(
        stmt,
        'UPDATE "entries" AS "e0" SET "title" = "n1"."label", "published" = ? '
        'FROM "nodes" AS "n1", "nodes" AS "n2" WHERE ((("n1"."label" = "e0"."title") '
        'AND ("n2"."id" = "n1"."parent_id")) AND ("n2"."label" = ?))',
        [False, "root"],
    )


def test_update_all_returning_qualifies_columns_where_the_dialect_allows_it() -> None:
    # "id" is a column of both tables: PostgreSQL needs the alias, SQLite
    # takes bare names only (and only the updated table's).
    stmt = update_all(query(Entry).join("author"), set={"published": True}, returning=[Entry.id])
    tail = 'FROM "people" AS "p1" WHERE ("p1"."id" = "e0"."author_id") RETURNING '
    head = 'UPDATE "entries" AS "e0" SET "published" = '
    assert_sql(stmt, SQLITE, head + "? " + tail + '"id"', [True])
    assert_sql(stmt, POSTGRESQL, head + "$1 " + tail + '"e0"."id"', [True])


def test_update_all_joining_a_subquery() -> None:
    counts = (
        query(Entry)
        .group_by(Entry.author_id)
        .select({"author_id": Entry.author_id, "n": count(Entry.id)})
    )
    stmt = update_all(
        query(Person).join(subquery(counts), as_="c", on=Person.id == ref("c").author_id),
        set={"age": ref("c").n},
    )
    compiled = assert_sql(
        stmt,
        SQLITE,
        'UPDATE "people" AS "p0" SET "age" = "s1"."n" FROM (SELECT "e2"."author_id", '
        'count("e2"."id") AS "n" FROM "entries" AS "e2" GROUP BY "e2"."author_id") AS "s1" '
        'WHERE ("p0"."id" = "s1"."author_id")',
        [],
    )
    assert compiled.result is None


def test_delete_all_with_a_join_uses_using_on_postgresql_and_exists_on_sqlite() -> None:
    stmt = delete_all(query(Entry).join("author").where(Person.name == "Ada"))
    assert_sql(
        stmt,
        POSTGRESQL,
        'DELETE FROM "entries" AS "e0" USING "people" AS "p1" '
        'WHERE (("p1"."id" = "e0"."author_id") AND ("p1"."name" = $1))',
        ["Ada"],
    )
    assert_sql(
        stmt,
        SQLITE,
        'DELETE FROM "entries" AS "e0" WHERE EXISTS (SELECT 1 FROM "people" AS "p1" '
        'WHERE (("p1"."id" = "e0"."author_id") AND ("p1"."name" = ?)))',
        ["Ada"],
    )


def test_delete_all_through_a_many_to_many_join_and_a_second_join() -> None:
    stmt = delete_all(
        query(Entry).join("topics").join("author").where(Topic.name == "x"),
        returning=["id"],
    )
    sources = '"entry_topics" AS "e1", "topics" AS "t2", "people" AS "p3" '
    where = (
        'WHERE (((("e1"."entry_id" = "e0"."id") AND ("t2"."id" = "e1"."topic_id")) '
        'AND ("p3"."id" = "e0"."author_id")) AND ("t2"."name" = {}))'
    )
    assert_sql(
        stmt,
        POSTGRESQL,
        f'DELETE FROM "entries" AS "e0" USING {sources}{where.format("$1")} RETURNING "e0"."id"',
        ["x"],
    )
    assert_sql(
        stmt,
        SQLITE,
        f'DELETE FROM "entries" AS "e0" WHERE EXISTS (SELECT 1 FROM {sources}'
        f'{where.format("?")}) RETURNING "id"',
        ["x"],
    )


def test_joined_writes_bind_subquery_values_before_the_conditions() -> None:
    # A joined subquery's values come first (it is a FROM item), then the
    # join conditions', then the query's WHERE: on both databases, in
    # UPDATE ... FROM and in DELETE's EXISTS alike.
    recent = subquery(query(Card).where(Card.person_id > 5))
    q = (
        query(Entry)
        .join("author")
        .join(recent, as_="c", on=(ref("c").person_id == Person.id) & (Person.age > 17))
        .where(Entry.title == "t")
    )
    sources = (
        '"people" AS "p1", (SELECT "c3"."id", "c3"."person_id" FROM "billing"."cards" AS "c3" '
        'WHERE ("c3"."person_id" > ?)) AS "s2" WHERE ((("p1"."id" = "e0"."author_id") AND '
        '(("s2"."person_id" = "p1"."id") AND ("p1"."age" > ?))) AND ("e0"."title" = ?))'
    )
    assert_both(
        update_all(q, set={"title": "u"}),
        f'UPDATE "entries" AS "e0" SET "title" = ? FROM {sources}',
        ["u", 5, 17, "t"],
    )
    assert_sql(
        delete_all(q),
        SQLITE,
        f'DELETE FROM "entries" AS "e0" WHERE EXISTS (SELECT 1 FROM {sources})',
        [5, 17, "t"],
    )


def test_joined_writes_refuse_outer_joins() -> None:
    with pytest.raises(ValueError, match="inner \\(and cross\\) joins only, not a left join"):
        update_all(query(Entry).left_join("author"), set={"published": True})
    with pytest.raises(ValueError, match="not a full join"):
        delete_all(query(Entry).join("author").full_join(Node, on=Node.id == Entry.id))
    with pytest.raises(ValueError, match="remove order_by"):
        delete_all(query(Entry).join("author").order_by(Entry.id))


def test_a_cross_join_adds_a_source_without_a_condition() -> None:
    stmt = delete_all(query(Entry).cross_join(Node).where(Node.label == Entry.title))
    where = 'WHERE ("n1"."label" = "e0"."title")'
    assert_sql(stmt, POSTGRESQL, f'DELETE FROM "entries" AS "e0" USING "nodes" AS "n1" {where}', [])
    assert_sql(
        stmt,
        SQLITE,
        f'DELETE FROM "entries" AS "e0" WHERE EXISTS (SELECT 1 FROM "nodes" AS "n1" {where})',
        [],
    )
