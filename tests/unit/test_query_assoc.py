"""Golden SQL of ``assoc(records, association)``: the query of records' associated rows."""

from __future__ import annotations

from typing import Any

import pytest

from repodb.dialect import POSTGRESQL
from repodb.query import assoc, query
from repodb.write import delete_all

from .test_query_helpers import Entry, Node, Person, assert_both, assert_sql

ENTRY = 'SELECT "e0"."id", "e0"."author_id", "e0"."title", "e0"."published" FROM "entries" AS "e0"'
TOPIC = 'SELECT "t0"."id", "t0"."name" FROM "topics" AS "t0"'

ada = Person(id=1, name="Ada")
bob = Person(id=2, name="Bob")


def test_has_many_of_one_record_compares_with_its_key() -> None:
    assert_both(assoc(ada, "entries"), f'{ENTRY} WHERE ("e0"."author_id" = ?)', [1])


def test_has_many_of_records_reads_each_key_once_and_skips_missing_keys() -> None:
    unsaved = Person(name="New")
    assert_both(
        assoc([ada, bob, ada, unsaved], Person.entries),
        f'{ENTRY} WHERE ("e0"."author_id" IN (?, ?))',
        [1, 2],
    )
    assert_both(assoc(unsaved, "entries"), f"{ENTRY} WHERE (1 = 0)", [])


def test_has_one_and_belongs_to() -> None:
    assert_sql(
        assoc(ada, "profile"),
        POSTGRESQL,
        'SELECT "c0"."id", "c0"."person_id" FROM "billing"."cards" AS "c0" '
        'WHERE ("c0"."person_id" = $1)',
        [1],
    )
    entries = [Entry(id=5, author_id=2, title="t"), Entry(id=6, author_id=1, title="u")]
    q = assoc(entries, "author").select(Person.name)
    assert_both(q, 'SELECT "p0"."name" FROM "people" AS "p0" WHERE ("p0"."id" IN (?, ?))', [2, 1])


def test_many_to_many_reads_the_join_table_in_a_subquery() -> None:
    entries = [Entry(id=5, author_id=1, title="t"), Entry(id=6, author_id=1, title="u")]
    assert_both(
        assoc(entries, Entry.topics),
        f'{TOPIC} WHERE ("t0"."id" IN (SELECT "e1"."topic_id" FROM "entry_topics" AS "e1" '
        'WHERE ("e1"."entry_id" IN (?, ?))))',
        [5, 6],
    )


def test_the_query_composes_like_any_other() -> None:
    q = assoc(ada, "entries").where(Entry.published).order_by(Entry.id.desc()).limit(2)
    assert_both(
        q,
        f'{ENTRY} WHERE (("e0"."author_id" = ?) AND "e0"."published") '
        'ORDER BY "e0"."id" DESC LIMIT ?',
        [1, 2],
    )
    assert_both(
        delete_all(assoc(ada, "entries")),
        'DELETE FROM "entries" AS "e0" WHERE ("e0"."author_id" = ?)',
        [1],
    )


def test_no_records_need_the_association_itself() -> None:
    assert_both(assoc([], Person.entries), f"{ENTRY} WHERE (1 = 0)", [])
    with pytest.raises(ValueError, match="needs the association itself"):
        assoc([], "entries")


def test_wrong_records_or_names_raise() -> None:
    loose: Any = assoc
    with pytest.raises(ValueError, match="Person has no association 'posts'"):
        assoc(ada, "posts")
    with pytest.raises(ValueError, match=r"Entry\.topics is not an association of Person"):
        assoc(ada, Entry.topics)
    with pytest.raises(TypeError, match="records of one schema"):
        loose([ada, Node(label="x")], "entries")
    with pytest.raises(TypeError, match="a record or a list of records"):
        loose(query(Person), "entries")
