"""``preload_order`` on associations: declarations and the preload statements' golden SQL."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from repodb.preload import _plan
from repodb.query import query
from repodb.schema import Assoc, Col, Schema, field, has_many, many_to_many

from .test_query_helpers import Entry, Topic, assert_both

ENTRY = 'SELECT "e0"."id", "e0"."author_id", "e0"."title", "e0"."published" FROM "entries" AS "e0"'


class Chronicler(Schema, table="people"):
    id: Col[int] = field(primary_key=True, default=None)
    entries: ClassVar[Assoc[list[Entry]]] = has_many(
        Entry, foreign_key="author_id", preload_order=["-published", "title"]
    )


class Digest(Schema, table="entries"):
    id: Col[int] = field(primary_key=True, default=None)
    topics: ClassVar[Assoc[list[Topic]]] = many_to_many(
        Topic,
        join_through="entry_topics",
        join_keys=(("entry_id", "id"), ("topic_id", "id")),
        preload_order=["-name"],
    )


def test_preload_order_orders_the_preload_statement_after_the_key() -> None:
    assert Chronicler.entries.preload_order == ("-published", "title")
    assert_both(
        _plan(Chronicler.entries, None).statement([1, 2]),
        f'{ENTRY} WHERE ("e0"."author_id" IN (?, ?)) ORDER BY "e0"."author_id" ASC, '
        '"e0"."published" DESC, "e0"."title" ASC, "e0"."id" ASC',
        [1, 2],
    )
    assert_both(
        _plan(Digest.topics, None).statement([7]),
        'SELECT "j1"."entry_id", "t0"."id", "t0"."name" FROM "topics" AS "t0" '
        'INNER JOIN "entry_topics" AS "j1" ON ("j1"."topic_id" = "t0"."id") '
        'WHERE ("j1"."entry_id" IN (?)) ORDER BY "j1"."entry_id" ASC, "t0"."name" DESC, '
        '"t0"."id" ASC',
        [7],
    )


def test_a_preload_query_orders_instead_when_it_has_an_order() -> None:
    filtered = query(Entry).where(Entry.id > 3)
    assert_both(
        _plan(Chronicler.entries, filtered).statement([1]),
        f'{ENTRY} WHERE (("e0"."id" > ?) AND ("e0"."author_id" IN (?))) ORDER BY '
        '"e0"."author_id" ASC, "e0"."published" DESC, "e0"."title" ASC, "e0"."id" ASC',
        [3, 1],
    )
    ordered = query(Entry).order_by(Entry.title.desc())
    assert_both(
        _plan(Chronicler.entries, ordered).statement([1]),
        f'{ENTRY} WHERE ("e0"."author_id" IN (?)) ORDER BY "e0"."author_id" ASC, '
        '"e0"."title" DESC, "e0"."id" ASC',
        [1],
    )


def test_preload_order_declarations_are_checked() -> None:
    loose: Any = has_many
    with pytest.raises(TypeError, match="a list of field names"):
        loose(Entry, foreign_key="author_id", preload_order="title")
    with pytest.raises(TypeError, match="a list of field names"):
        loose(Entry, foreign_key="author_id", preload_order=["-"])
    with pytest.raises(TypeError, match=r"has_many\(through=...\) takes no preload_order"):
        loose(through=["a", "b"], preload_order=["id"])
