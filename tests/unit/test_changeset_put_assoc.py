"""Changesets: ``put_assoc``, ``assoc_constraint`` and the query of ``unsafe_validate_unique``.

Covers the child changesets ``put_assoc`` builds from records (stored ones
linked as updates, new ones inserted), dicts and changesets; matching loaded
children by key (only differing fields change), ``on_replace``, the join
table's unique key declared for a many_to_many and matched in both error
styles (PostgreSQL's name, SQLite's table and columns); wrong values as
TypeErrors; ``assoc_constraint``'s default name and the field error it
gives; and the golden SQL of the query ``unsafe_validate_unique`` runs, on
both dialects, with the cases where it runs none.
"""

from __future__ import annotations

from typing import Any

import pytest

from repodb._repo.reads import unique_probe
from repodb.changeset import Changeset, cast, change
from repodb.errors import ForeignKeyViolation, UniqueViolation
from repodb.schema import NOT_LOADED

from .test_query_helpers import Entry, Note, Person, Topic, assert_both


def loaded(entry: Entry, **associations: object) -> Entry:
    copy = entry.replace()
    for name, value in associations.items():
        object.__setattr__(copy, name, value)
    return copy


def actions(
    changeset: Changeset[Any], name: str
) -> list[tuple[str | None, object, dict[str, object]]]:
    value = changeset.changes[name]
    children = value if isinstance(value, tuple) else (value,)
    return [(c.action, getattr(c.data, "id", None), dict(c.changes)) for c in children]


def test_records_dicts_and_changesets_become_children() -> None:
    elixir = Topic(id=1, name="elixir")
    new = Topic(name="python")
    given = change(Topic, name="rust")
    changeset = change(Entry(author_id=1, title="Hi")).put_assoc(
        "topics", [elixir, new, {"name": "go"}, given]
    )
    assert actions(changeset, "topics") == [
        ("update", 1, {}),
        ("insert", None, {}),
        ("insert", None, {"name": "go"}),
        ("insert", None, {"name": "rust"}),
    ]
    assert changeset.valid


def test_a_loaded_child_changes_only_where_the_record_differs() -> None:
    one, two = Topic(id=1, name="one"), Topic(id=2, name="two")
    entry = loaded(Entry(id=5, author_id=1, title="Hi"), topics=[one, two])
    same = change(entry).put_assoc("topics", [one, Topic(id=2, name="deux")])
    assert actions(same, "topics") == [("update", 1, {}), ("update", 2, {"name": "deux"})]
    assert same.changes["topics"][0].data is one
    unchanged = change(entry).put_assoc("topics", [two, one])
    assert "topics" not in unchanged.changes


def test_on_replace_for_left_out_loaded_children() -> None:
    one, two = Topic(id=1, name="one"), Topic(id=2, name="two")
    entry = loaded(Entry(id=5, author_id=1, title="Hi"), topics=[one, two])
    with pytest.raises(ValueError, match=r"put_assoc\('topics'\): the records leave out"):
        change(entry).put_assoc("topics", [one])
    invalid = change(entry).put_assoc("topics", [one], on_replace="mark_as_invalid")
    assert invalid.traverse_errors() == {"topics": ["is invalid"]}
    dropped = change(entry).put_assoc("topics", [one], on_replace="delete")
    assert actions(dropped, "topics") == [("update", 1, {}), ("replace", 2, {})]


def test_single_associations_take_one_record_or_none() -> None:
    ada = Person(id=3, name="Ada")
    note = Note(entry_id=0, body="x")
    linked = change(note).put_assoc("entry", Entry(id=9, author_id=3, title="T"))
    assert actions(linked, "entry") == [("update", 9, {})]
    parent = change(Entry(author_id=0, title="T")).put_assoc("author", ada)
    assert actions(parent, "author") == [("update", 3, {})]
    assert parent.apply_changes().author == ada
    cleared = change(Entry(author_id=0, title="T")).put_assoc("author", None)
    assert cleared.changes["author"] is None


def test_the_association_must_be_loaded_on_a_stored_record() -> None:
    stored = Entry(id=5, author_id=1, title="Hi")
    assert stored.topics is NOT_LOADED
    with pytest.raises(ValueError, match="not loaded: preload it before put_assoc"):
        change(stored).put_assoc("topics", [])


def test_wrong_values_are_type_errors() -> None:
    entry = change(Entry(author_id=1, title="Hi"))
    with pytest.raises(TypeError, match="takes a list of records"):
        entry.put_assoc("topics", Topic(id=1, name="x"))
    with pytest.raises(TypeError, match="takes Topic records, changesets or dicts"):
        entry.put_assoc("topics", [Person(id=1, name="x")])
    with pytest.raises(TypeError, match="takes Topic changesets"):
        entry.put_assoc("topics", [change(Person(id=1, name="x"))])
    with pytest.raises(ValueError, match="no association 'title'"):
        entry.put_assoc("title", [])


def test_many_to_many_declares_the_join_tables_key_once() -> None:
    topic = Topic(id=1, name="one")
    changeset = change(Entry(author_id=1, title="Hi")).put_assoc("topics", [topic])
    changeset = changeset.put_assoc("topics", [topic, topic])
    (join,) = changeset.constraints
    assert (join.kind, join.name, join.field, join.table, join.columns) == (
        "unique",
        "entry_topics_pkey",
        "topics",
        "entry_topics",
        ("entry_id", "topic_id"),
    )
    by_name = UniqueViolation("dup", constraint="entry_topics_entry_id_topic_id_index")
    by_columns = UniqueViolation("dup", table="entry_topics", columns=("entry_id", "topic_id"))
    # MariaDB names every primary key PRIMARY: the table and columns tell which it is.
    mariadb = UniqueViolation(
        "dup", constraint="PRIMARY", table="entry_topics", columns=("entry_id", "topic_id")
    )
    for error in (by_name, by_columns, mariadb):
        failed = changeset.constraint_error_for(error)
        assert failed is not None
        assert failed.traverse_errors() == {"topics": ["has already been taken"]}
    other = UniqueViolation("dup", table="topics", columns=("name",))
    assert changeset.constraint_error_for(other) is None
    another_primary = UniqueViolation("dup", constraint="PRIMARY", table="topics", columns=("id",))
    assert changeset.constraint_error_for(another_primary) is None


def test_assoc_constraint() -> None:
    form = cast(Note, {"entry_id": "42", "body": "x"}, ["entry_id", "body"])
    form = form.assoc_constraint("entry")
    (declared,) = form.constraints
    assert (declared.kind, declared.name, declared.field, declared.error_type) == (
        "foreign_key",
        "notes_entry_id_fkey",
        "entry",
        "assoc",
    )
    postgresql = ForeignKeyViolation("fk", constraint="notes_entry_id_fkey")
    sqlite = ForeignKeyViolation("fk")
    for error in (postgresql, sqlite):
        failed = form.constraint_error_for(error)
        assert failed is not None
        assert failed.traverse_errors() == {"entry": ["does not exist"]}
        assert failed.errors[0].options["validation"] == "assoc"
    with pytest.raises(ValueError, match="no belongs_to 'topics'"):
        change(Entry(author_id=1, title="x")).assoc_constraint("topics")
    named = form.assoc_constraint("entry", name="notes_entry_fk", message="is gone")
    assert (named.constraints[1].name, named.constraints[1].message) == (
        "notes_entry_fk",
        "is gone",
    )


def test_unsafe_validate_unique_query_on_both_dialects() -> None:
    new = cast(Person, {"name": "Ada", "email": "ada@example.com"}, ["name", "email"])
    probe = unique_probe(new, ("email",))
    assert probe is not None
    assert_both(
        probe.select(Person.id),
        'SELECT "p0"."id" FROM "people" AS "p0" WHERE ("p0"."email_address" = ?)',
        ["ada@example.com"],
    )
    stored = change(Person(id=7, name="Ada", email="a@x"), email="ada@example.com", age=3)
    probe = unique_probe(stored, ("email", "name"))
    assert probe is not None
    assert_both(
        probe.select(Person.id),
        'SELECT "p0"."id" FROM "people" AS "p0" WHERE ((("p0"."email_address" = ?)'
        ' AND ("p0"."name" = ?)) AND (NOT ("p0"."id" = ?)))',
        ["ada@example.com", "Ada", 7],
    )


def test_unsafe_validate_unique_skips_what_cannot_clash() -> None:
    stored = Person(id=7, name="Ada", email="a@x")
    assert unique_probe(change(stored, age=3), ("email",)) is None  # email unchanged
    assert unique_probe(change(stored, age=3, name="B"), ("name", "age")) is not None
    assert unique_probe(change(stored, score=1.5), ("score", "age")) is None  # age is None
    errored = change(stored, email="b@x").add_error("email", "is invalid")
    assert unique_probe(errored, ("email",)) is None
    with pytest.raises(ValueError, match="at least one field"):
        unique_probe(change(stored, email="b@x"), ())
    with pytest.raises(ValueError, match="no stored field 'nope'"):
        unique_probe(change(stored, email="b@x"), ("nope",))
