"""Golden SQL of ``parent_as``: subqueries naming a binding of a query around them."""

from __future__ import annotations

from typing import Any

import pytest

from repodb.dialect import POSTGRESQL, SQLITE
from repodb.functions import count, max_
from repodb.query import exists, parent_as, query, subquery, to_sql
from repodb.write import delete_all, update_all

from .test_query_helpers import Entry, Note, Person, assert_both, assert_sql

ENTRY = 'SELECT "e0"."id", "e0"."author_id", "e0"."title", "e0"."published" FROM "entries" AS "e0"'


def test_a_correlated_subquery_of_the_same_table_in_where() -> None:
    # Entry inside the subquery names the subquery's own entries; the outer
    # row is reached through its name.
    outer = parent_as("e", Entry)
    latest = query(Entry).where(Entry.author_id == outer.author_id).select(max_(Entry.id))
    assert_both(
        query(Entry, as_="e").where(Entry.id == subquery(latest)),
        f'{ENTRY} WHERE ("e0"."id" = (SELECT max("e1"."id") FROM "entries" AS "e1" '
        'WHERE ("e1"."author_id" = "e0"."author_id")))',
        [],
    )


def test_parent_as_in_order_by_and_group_by_of_subqueries() -> None:
    u = parent_as("u")
    entries = query(Entry).where(Entry.author_id == u.id, Entry.title != "x").select(count())
    # A subquery grouped by an outer column: one group per outer row, no
    # row (NULL) when it has none.
    grouped = query(Note).where(Note.entry_id > 0).group_by(u.id).select(count())
    q = (
        query(Person, as_="u")
        .order_by(subquery(entries).desc(), Person.id)
        .select(Person.id, subquery(grouped))
    )
    assert_sql(
        q,
        POSTGRESQL,
        'SELECT "p0"."id", (SELECT count(*) FROM "notes" AS "n1" WHERE ("n1"."entry_id" > $1) '
        'GROUP BY "p0"."id") FROM "people" AS "p0" ORDER BY (SELECT count(*) FROM "entries" AS '
        '"e2" WHERE (("e2"."author_id" = "p0"."id") AND ("e2"."title" <> $2))) DESC, '
        '"p0"."id" ASC',
        [0, "x"],
    )
    # SQLite looks GROUP BY names up in the subquery's own tables only.
    with pytest.raises(ValueError, match="sqlite cannot group a subquery by a column of the query"):
        to_sql(q, SQLITE)
    assert_both(
        query(Person, as_="u").order_by(subquery(entries)).select(Person.id),
        'SELECT "p0"."id" FROM "people" AS "p0" ORDER BY (SELECT count(*) FROM "entries" AS '
        '"e1" WHERE (("e1"."author_id" = "p0"."id") AND ("e1"."title" <> ?))) ASC',
        ["x"],
    )


def test_the_nearest_query_binding_the_name_wins() -> None:
    # Three levels: the innermost names "e", bound by the middle query
    # (which shadows the outermost "e").
    inner = query(Note).where(Note.entry_id == parent_as("e").id)
    middle = query(Entry, as_="e").where(Entry.author_id == parent_as("e").author_id, exists(inner))
    assert_both(
        query(Entry, as_="e").where(exists(middle)),
        f'{ENTRY} WHERE EXISTS (SELECT "e1"."id", "e1"."author_id", "e1"."title", '
        '"e1"."published" FROM "entries" AS "e1" WHERE (("e1"."author_id" = "e0"."author_id") '
        'AND EXISTS (SELECT "n2"."id", "n2"."entry_id", "n2"."body" FROM "notes" AS "n2" '
        'WHERE ("n2"."entry_id" = "e1"."id"))))',
        [],
    )


def test_parent_as_in_a_write_statement_subquery() -> None:
    newer = query(Entry).where(
        Entry.author_id == parent_as("e").author_id, Entry.id > parent_as("e").id
    )
    assert_both(
        delete_all(query(Entry, as_="e").where(exists(newer))),
        'DELETE FROM "entries" AS "e0" WHERE EXISTS (SELECT "e1"."id", "e1"."author_id", '
        '"e1"."title", "e1"."published" FROM "entries" AS "e1" WHERE '
        '(("e1"."author_id" = "e0"."author_id") AND ("e1"."id" > "e0"."id")))',
        [],
    )
    mean = query(Entry).where(Entry.author_id == parent_as("p").id).select(max_(Entry.id))
    assert_both(
        update_all(query(Person, as_="p"), set={"age": subquery(mean)}),
        'UPDATE "people" AS "p0" SET "age" = (SELECT max("e1"."id") FROM "entries" AS "e1" '
        'WHERE ("e1"."author_id" = "p0"."id"))',
        [],
    )


def test_typed_columns_and_errors() -> None:
    typed = parent_as("e", Entry)
    assert typed.title.dbtype == Entry.title.dbtype
    assert repr(parent_as("e")) == "parent_as('e')"
    assert parent_as("e")["title"].name == "title"
    with pytest.raises(AttributeError, match="has no stored field 'nickname'"):
        _ = parent_as("p", Person).nickname
    loose: Any = parent_as
    with pytest.raises(TypeError, match="takes a schema class"):
        loose("e", "Entry")
    # The outermost query has no query around it.
    with pytest.raises(ValueError, match="no query around this one has the binding 'e'"):
        to_sql(query(Entry, as_="e").where(parent_as("e").id == 1), SQLITE)
    with pytest.raises(ValueError, match="the binding 'x'"):
        to_sql(query(Entry).where(exists(query(Note).where(parent_as("x").id == 1))), SQLITE)
