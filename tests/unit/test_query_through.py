"""``has_many``/``has_one`` through other associations: declarations, joins and ``assoc``.

Golden SQL on both dialects; the preloads run in
``tests/integration/test_repo_through.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from repodb.changeset import cast, change
from repodb.query import assoc, query, ref
from repodb.schema import Assoc, Col, Schema, belongs_to, field, has_many, has_one, through_chain

from .test_query_helpers import Card, Entry, Note, Person, Topic, assert_both


class Columnist(Schema, table="people"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    entries: ClassVar[Assoc[list[Entry]]] = has_many(Entry, foreign_key="author_id")
    notes: ClassVar[Assoc[list[Note]]] = has_many(through=["entries", "notes"])
    topics: ClassVar[Assoc[list[Topic]]] = has_many(through=["entries", "topics"])


class Aside(Schema, table="notes"):
    id: Col[int] = field(primary_key=True, default=None)
    entry_id: Col[int]
    body: Col[str]
    entry: ClassVar[Assoc[Entry | None]] = belongs_to(Entry, foreign_key="entry_id")
    author: ClassVar[Assoc[Person | None]] = has_one(through=["entry", "author"])
    # Through another through association: entry, author, then profile.
    card: ClassVar[Assoc[Card | None]] = has_one(through=["author", "profile"])


PEOPLE = 'SELECT "p0"."id", "p0"."name" FROM "people" AS "p0"'


def test_a_through_association_describes_its_hops() -> None:
    assert Columnist.notes.kind == "has_many"
    assert Columnist.notes.through == ("entries", "notes")
    assert Columnist.notes.related is Note
    assert Columnist.notes.cardinality == "many"
    assert Aside.card.cardinality == "one"
    assert Aside.card.related is Card
    hops = [(hop.owner, hop.name) for hop in through_chain(Aside.card)]
    assert hops == [(Aside, "entry"), (Entry, "author"), (Person, "profile")]
    assert through_chain(Columnist.entries) == (Columnist.entries,)


def test_declarations_take_a_path_or_a_schema_and_key() -> None:
    loose: Any = has_many
    with pytest.raises(TypeError, match="only the path: two or more association names"):
        loose(Entry, through=["entries", "notes"])
    with pytest.raises(TypeError, match="only the path"):
        loose(through=["entries"])
    with pytest.raises(TypeError, match="needs the related schema and foreign_key=, or through="):
        loose(Entry)


def test_a_path_naming_no_association_raises_when_used() -> None:
    class Lost(Schema, table="people"):
        id: Col[int] = field(primary_key=True, default=None)
        entries: ClassVar[Assoc[list[Entry]]] = has_many(Entry, foreign_key="author_id")
        stray: ClassVar[Assoc[list[Any]]] = has_many(through=["entries", "comments"])

    with pytest.raises(ValueError, match=r"Lost\.stray goes through Entry\.comments, which is not"):
        query(Lost).join("stray")


def test_joining_a_through_association_joins_each_hop() -> None:
    q = query(Columnist).join("notes", as_="n").where(ref("n").body == "x", Note.id > 2)
    assert_both(
        q,
        f'{PEOPLE} INNER JOIN "entries" AS "e1" ON ("e1"."author_id" = "p0"."id") '
        'INNER JOIN "notes" AS "n2" ON ("n2"."entry_id" = "e1"."id") '
        'WHERE (("n2"."body" = ?) AND ("n2"."id" > ?))',
        ["x", 2],
    )


def test_the_hops_keep_their_schemas_free_for_other_joins() -> None:
    # Entry names the explicit join, not the hop the through join made.
    q = (
        query(Columnist)
        .join(Columnist.topics)
        .join(Entry, on=Entry.author_id == Columnist.id)
        .where(Entry.published, Topic.name == "sql")
        .select(Columnist.name)
    )
    assert_both(
        q,
        'SELECT "p0"."name" FROM "people" AS "p0" '
        'INNER JOIN "entries" AS "e1" ON ("e1"."author_id" = "p0"."id") '
        'INNER JOIN "entry_topics" AS "e2" ON ("e2"."entry_id" = "e1"."id") '
        'INNER JOIN "topics" AS "t3" ON ("t3"."id" = "e2"."topic_id") '
        'INNER JOIN "entries" AS "e4" ON ("e4"."author_id" = "p0"."id") '
        'WHERE ("e4"."published" AND ("t3"."name" = ?))',
        ["sql"],
    )


def test_a_left_join_through_a_nested_through_association() -> None:
    assert_both(
        query(Aside).left_join("card", on=Card.person_id > 0).select(Aside.id, Card.id),
        'SELECT "n0"."id", "c3"."id" FROM "notes" AS "n0" '
        'LEFT JOIN "entries" AS "e1" ON ("e1"."id" = "n0"."entry_id") '
        'LEFT JOIN "people" AS "p2" ON ("p2"."id" = "e1"."author_id") '
        'LEFT JOIN "billing"."cards" AS "c3" ON (("c3"."person_id" = "p2"."id") '
        'AND ("c3"."person_id" > ?))',
        [0],
    )


def test_assoc_nests_a_subquery_per_hop() -> None:
    assert_both(
        assoc(Columnist(id=1, name="Ada"), "topics"),
        'SELECT "t0"."id", "t0"."name" FROM "topics" AS "t0" WHERE ("t0"."id" IN '
        '(SELECT "e1"."topic_id" FROM "entry_topics" AS "e1" WHERE ("e1"."entry_id" IN '
        '(SELECT "e2"."id" FROM "entries" AS "e2" WHERE ("e2"."author_id" = ?)))))',
        [1],
    )
    assert_both(
        assoc([Aside(id=1, entry_id=7, body="b"), Aside(id=2, entry_id=8, body="c")], "author"),
        'SELECT "p0"."id", "p0"."name", "p0"."age", "p0"."email_address", "p0"."score", '
        '"p0"."balance", "p0"."data", "p0"."address", "p0"."born" FROM "people" AS "p0" '
        'WHERE ("p0"."id" IN (SELECT "e1"."author_id" FROM "entries" AS "e1" '
        'WHERE ("e1"."id" IN (?, ?))))',
        [7, 8],
    )


def test_a_through_association_is_read_only_and_not_join_preloaded() -> None:
    with pytest.raises(ValueError, match=r"Columnist\.notes goes through entries, notes"):
        cast(Columnist, {"notes": [{"body": "x"}]}, []).cast_assoc("notes")
    with pytest.raises(ValueError, match="no has_one/has_many/many_to_many 'notes'"):
        change(Columnist(id=1, name="a")).no_assoc_constraint("notes")
    with pytest.raises(ValueError, match="preload it without ref"):
        query(Columnist).join("notes", as_="n").preload(notes=ref("n"))
    q = query(Columnist).preload("notes", topics=query(Topic).order_by(Topic.name))
    assert [p.name for p in q.preloads] == ["notes", "topics"]
