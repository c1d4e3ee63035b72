"""Golden SQL of SELECT queries: sources, where, order, limit/offset, joins, select lists.

Every query is checked on SQLite and PostgreSQL with its parameters; the
results' shapes (records, tuples, dicts, scalars) are checked by building
values from rows as the Repo will.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from repodb.dialect import POSTGRESQL, SQLITE
from repodb.functions import count, lower, upper
from repodb.query import alias, column, from_, query, ref, subquery, to_sql
from repodb.schema import Assoc, Col, Schema, field, many_to_many
from repodb.types import Kind, optional, tup

from .test_query_helpers import (
    Address,
    Card,
    Entry,
    Node,
    Note,
    Person,
    Topic,
    assert_both,
    assert_sql,
)


def cols(alias: str) -> str:
    """Person's stored columns (by source name; the virtual field is not stored)."""
    names = ["id", "name", "age", "email_address", "score", "balance", "data", "address", "born"]
    return ", ".join(f'"{alias}"."{n}"' for n in names)


ENTRY = '"e{0}"."id", "e{0}"."author_id", "e{0}"."title", "e{0}"."published"'

# -- sources -----------------------------------------------------------------------


def test_a_schema_selects_its_stored_columns_by_source_name() -> None:
    assert_both(query(Person), f'SELECT {cols("p0")} FROM "people" AS "p0"', [])


def test_from_is_query() -> None:
    assert from_ is query


def test_a_prefixed_table_is_schema_qualified() -> None:
    assert_both(
        query(Card),
        'SELECT "c0"."id", "c0"."person_id" FROM "billing"."cards" AS "c0"',
        [],
    )


def test_steps_return_new_queries_and_leave_the_original_alone() -> None:
    base = query(Person)
    filtered = base.where(Person.age > 1)
    assert base.wheres == ()
    assert filtered is not base
    assert len(filtered.wheres) == 1
    with pytest.raises(AttributeError):
        base.wheres = ()  # type: ignore[misc]


# -- where ---------------------------------------------------------------------------


def test_where_binds_values_with_the_column_type() -> None:
    compiled = assert_sql(
        query(Entry).where(Entry.title == "x'; DROP TABLE entries; --"),
        SQLITE,
        f'SELECT {ENTRY.format(0)} FROM "entries" AS "e0" WHERE ("e0"."title" = ?)',
        ["x'; DROP TABLE entries; --"],
    )
    assert [t.kind for t in compiled.types if t] == [Kind.STR]


def test_where_steps_are_anded_and_or_where_ors_everything_before() -> None:
    q = (
        query(Entry)
        .where(Entry.author_id > 1, Entry.published)
        .where(Entry.title != "a")
        .or_where(Entry.id == 7, Entry.id < 3)
    )
    assert_both(
        q,
        f'SELECT {ENTRY.format(0)} FROM "entries" AS "e0" WHERE '
        '(((("e0"."author_id" > ?) AND "e0"."published") AND ("e0"."title" <> ?)) '
        'OR (("e0"."id" = ?) AND ("e0"."id" < ?)))',
        [1, "a", 7, 3],
    )


def test_keyword_conditions_compare_root_fields_and_none_is_null() -> None:
    q = query(Person).where(name="Ada", age=None, email="a@b")
    assert_both(
        q,
        f'SELECT {cols("p0")} FROM "people" AS "p0" WHERE ((("p0"."name" = ?) '
        'AND ("p0"."age" IS NULL)) AND ("p0"."email_address" = ?))',
        ["Ada", "a@b"],
    )


def test_keyword_condition_of_an_unknown_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="no stored field 'nickname'"):
        query(Person).where(nickname="x")


def test_where_without_conditions_is_the_same_query() -> None:
    q = query(Person)
    assert q.where() is q
    assert q.or_where() is q


def test_a_column_of_a_schema_not_in_the_query_is_an_error() -> None:
    with pytest.raises(ValueError, match="Entry is not part of this query"):
        to_sql(query(Person).where(Entry.id == 1), SQLITE)


# -- order, limit, offset --------------------------------------------------------------


def test_order_by_directions_and_nulls() -> None:
    q = query(Person).order_by(
        Person.name, Person.age.desc().nulls_last(), Person.id.asc().nulls_first()
    )
    assert_both(
        q,
        f'SELECT {cols("p0")} FROM "people" AS "p0" ORDER BY "p0"."name" ASC, '
        '"p0"."age" DESC NULLS LAST, "p0"."id" ASC NULLS FIRST',
        [],
    )


def test_order_by_appends_and_accepts_expressions() -> None:
    q = query(Node).order_by(Node.label).order_by(lower(Node.label).desc())
    assert_both(
        q,
        'SELECT "n0"."id", "n0"."parent_id", "n0"."label" FROM "nodes" AS "n0" '
        'ORDER BY "n0"."label" ASC, lower("n0"."label") DESC',
        [],
    )


def test_limit_and_offset_are_bound() -> None:
    assert_both(
        query(Node).limit(10).offset(20),
        'SELECT "n0"."id", "n0"."parent_id", "n0"."label" FROM "nodes" AS "n0" LIMIT ? OFFSET ?',
        [10, 20],
    )


def test_offset_without_limit_needs_a_limit_on_sqlite() -> None:
    q = query(Node).offset(5)
    columns = '"n0"."id", "n0"."parent_id", "n0"."label"'
    assert_sql(q, SQLITE, f'SELECT {columns} FROM "nodes" AS "n0" LIMIT -1 OFFSET ?', [5])
    assert_sql(q, POSTGRESQL, f'SELECT {columns} FROM "nodes" AS "n0" OFFSET $1', [5])


def test_limit_takes_a_non_negative_int() -> None:
    with pytest.raises(ValueError, match="non-negative int"):
        query(Node).limit(-1)


@pytest.mark.parametrize("bad", [True, 1.5, "5"])
def test_limit_of_another_type_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="limit\\(\\) takes an int or an expression, not"):
        query(Node).limit(bad)  # type: ignore[arg-type]


def test_the_last_limit_wins() -> None:
    q = query(Node).limit(1).limit(2)
    assert to_sql(q, SQLITE)[1] == [2]


# -- joins ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "keyword"),
    [
        ("join", "INNER JOIN"),
        ("left_join", "LEFT JOIN"),
        ("right_join", "RIGHT JOIN"),
        ("full_join", "FULL JOIN"),
    ],
)
def test_joins_with_explicit_conditions(method: str, keyword: str) -> None:
    q = getattr(query(Person), method)(Entry, Entry.author_id == Person.id)
    q = q.select(Person.name, Entry.title)
    assert_both(
        q,
        f'SELECT "p0"."name", "e1"."title" FROM "people" AS "p0" {keyword} "entries" AS "e1" '
        'ON ("e1"."author_id" = "p0"."id")',
        [],
    )


def test_cross_join() -> None:
    q = query(Person).cross_join(Topic).select(Person.id, Topic.id)
    assert_both(
        q,
        'SELECT "p0"."id", "t1"."id" FROM "people" AS "p0" CROSS JOIN "topics" AS "t1"',
        [],
    )


def test_join_conditions_bind_values() -> None:
    q = query(Person).join(Entry, (Entry.author_id == Person.id) & (Entry.title == "x"))
    assert_both(
        q.select(Entry.id),
        'SELECT "e1"."id" FROM "people" AS "p0" INNER JOIN "entries" AS "e1" '
        'ON (("e1"."author_id" = "p0"."id") AND ("e1"."title" = ?))',
        ["x"],
    )


def test_has_many_by_name_and_by_attribute() -> None:
    sql = (
        'SELECT "p0"."name", "e1"."title" FROM "people" AS "p0" INNER JOIN "entries" AS "e1" '
        'ON ("e1"."author_id" = "p0"."id")'
    )
    assert_both(query(Person).join("entries").select(Person.name, Entry.title), sql, [])
    assert_both(query(Person).join(Person.entries).select(Person.name, Entry.title), sql, [])


def test_belongs_to_and_an_extra_condition() -> None:
    q = query(Entry).left_join(Entry.author, Person.age > 30).select(Entry.title, Person.name)
    assert_both(
        q,
        'SELECT "e0"."title", "p1"."name" FROM "entries" AS "e0" LEFT JOIN "people" AS "p1" '
        'ON (("p1"."id" = "e0"."author_id") AND ("p1"."age" > ?))',
        [30],
    )


def test_has_one_into_a_prefixed_table() -> None:
    q = query(Person).join("profile").select(Card.id)
    assert_both(
        q,
        'SELECT "c1"."id" FROM "people" AS "p0" INNER JOIN "billing"."cards" AS "c1" '
        'ON ("c1"."person_id" = "p0"."id")',
        [],
    )


def test_many_to_many_joins_through_the_join_table() -> None:
    q = query(Entry).join("topics").where(Topic.name == "db").select(Entry.title, Topic.name)
    assert_both(
        q,
        'SELECT "e0"."title", "t2"."name" FROM "entries" AS "e0" '
        'INNER JOIN "entry_topics" AS "e1" ON ("e1"."entry_id" = "e0"."id") '
        'INNER JOIN "topics" AS "t2" ON ("t2"."id" = "e1"."topic_id") '
        'WHERE ("t2"."name" = ?)',
        ["db"],
    )


class Shelf(Schema, table="shelf.items", prefix="store"):
    """Dotted names are one identifier; the join table is in the owner's prefix."""

    id: Col[int] = field(primary_key=True, default=None)
    topics: ClassVar[Assoc[list[Topic]]] = many_to_many(
        Topic, join_through="shelf.topics", join_keys=(("item_id", "id"), ("topic_id", "id"))
    )


def test_dotted_names_are_one_identifier_and_the_join_table_is_in_the_owners_prefix() -> None:
    assert_both(
        query(Shelf).join("topics").select(Shelf.id, Topic.name),
        'SELECT "s0"."id", "t2"."name" FROM "store"."shelf.items" AS "s0" '
        'INNER JOIN "store"."shelf.topics" AS "s1" ON ("s1"."item_id" = "s0"."id") '
        'INNER JOIN "topics" AS "t2" ON ("t2"."id" = "s1"."topic_id")',
        [],
    )


def test_nested_associations_join_from_the_joined_schema() -> None:
    q = query(Person).join(Person.entries).left_join(Entry.notes).select(Person.id, Note.body)
    assert_both(
        q,
        'SELECT "p0"."id", "n2"."body" FROM "people" AS "p0" '
        'INNER JOIN "entries" AS "e1" ON ("e1"."author_id" = "p0"."id") '
        'LEFT JOIN "notes" AS "n2" ON ("n2"."entry_id" = "e1"."id")',
        [],
    )


def test_an_association_of_a_schema_not_in_the_query_is_an_error() -> None:
    with pytest.raises(ValueError, match="Entry is not in the query"):
        query(Person).join(Entry.notes)


def test_unknown_association_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="Person has no association 'posts'"):
        query(Person).join("posts")


def test_a_join_needs_a_condition_unless_it_is_a_cross_join() -> None:
    with pytest.raises(ValueError, match="needs on="):
        query(Person).join(Entry)
    with pytest.raises(ValueError, match="no condition"):
        query(Person).join(Entry, Entry.id == Person.id, kind="cross")
    with pytest.raises(ValueError, match="cannot be a cross join"):
        query(Person).join("entries", kind="cross")


def test_named_bindings_and_ref() -> None:
    q = (
        query(Entry)
        .join(Entry.author, as_="writer")
        .where(ref("writer").name == "Ada")
        .select(Entry.title, ref("writer")["name"])
    )
    compiled = assert_sql(
        q,
        SQLITE,
        'SELECT "e0"."title", "p1"."name" FROM "entries" AS "e0" INNER JOIN "people" AS "p1" '
        'ON ("p1"."id" = "e0"."author_id") WHERE ("p1"."name" = ?)',
        ["Ada"],
    )
    # The named column's type comes from the joined schema.
    assert compiled.result is not None
    assert compiled.result.row_type == tup(str, str)


def test_a_binding_name_cannot_be_used_twice() -> None:
    q = query(Person, as_="p").join(Entry, Entry.author_id == Person.id, as_="e")
    with pytest.raises(ValueError, match="binding 'e' is already used"):
        q.join(Note, Note.entry_id == Entry.id, as_="e")


def test_self_join_through_an_alias() -> None:
    boss = alias(Node, "boss")
    q = query(Node).left_join(boss, boss.id == Node.parent_id).select(Node.label, boss.label)
    compiled = assert_sql(
        q,
        SQLITE,
        'SELECT "n0"."label", "n1"."label" FROM "nodes" AS "n0" LEFT JOIN "nodes" AS "n1" '
        'ON ("n1"."id" = "n0"."parent_id")',
        [],
    )
    assert compiled.result is not None
    # The left-joined side may be missing: its column decodes as optional.
    assert compiled.result.row_type == tup(str, optional(str))


def test_an_alias_reaches_associations_of_its_schema() -> None:
    other = alias(Entry, "other")
    q = query(Entry).join(other, other.id == Entry.id).join(other.notes).select(Note.body)
    assert_both(
        q,
        'SELECT "n2"."body" FROM "entries" AS "e0" INNER JOIN "entries" AS "e1" '
        'ON ("e1"."id" = "e0"."id") INNER JOIN "notes" AS "n2" ON ("n2"."entry_id" = "e1"."id")',
        [],
    )


def test_alias_attributes_never_hide_fields() -> None:
    # Node has a field called "label"; Person has "name", as the alias's own name would be.
    who = alias(Person, "who")
    assert who.name.binding == "who"
    assert who.name.name == "name"
    with pytest.raises(AttributeError, match="no field 'nope'"):
        _ = who.nope  # type: ignore[attr-defined]
    assert repr(who) == "alias(Person, 'who')"


def test_a_query_can_start_from_an_alias() -> None:
    me = alias(Person, "me")
    q = query(me).where(me.id == 1).select(me.name, Person.age)
    assert_both(
        q,
        'SELECT "p0"."name", "p0"."age" FROM "people" AS "p0" WHERE ("p0"."id" = ?)',
        [1],
    )


# -- select lists --------------------------------------------------------------------------


def test_select_one_column_gives_scalar_rows() -> None:
    compiled = assert_sql(
        query(Person).select(Person.name), SQLITE, 'SELECT "p0"."name" FROM "people" AS "p0"', []
    )
    assert compiled.result is not None
    assert compiled.result.kind == "scalar"
    assert compiled.result.make(("Ada",)) == "Ada"


def test_select_columns_gives_tuples() -> None:
    compiled = assert_sql(
        query(Person).select(Person.id, Person.name, Person.age),
        POSTGRESQL,
        'SELECT "p0"."id", "p0"."name", "p0"."age" FROM "people" AS "p0"',
        [],
    )
    assert compiled.result is not None
    assert compiled.result.make((1, "Ada", None)) == (1, "Ada", None)


def test_select_a_joined_schema_gives_its_records() -> None:
    q = query(Person).join("entries").select(Entry)
    compiled = assert_sql(
        q,
        SQLITE,
        f'SELECT {ENTRY.format(1)} FROM "people" AS "p0" INNER JOIN "entries" AS "e1" '
        'ON ("e1"."author_id" = "p0"."id")',
        [],
    )
    assert compiled.result is not None
    assert compiled.result.make((1, 2, "t", True)) == Entry(
        id=1, author_id=2, title="t", published=True
    )


def test_select_records_and_columns_together() -> None:
    q = query(Entry).left_join("author").select(Entry.title, Person)
    compiled = assert_sql(
        q,
        SQLITE,
        f'SELECT "e0"."title", {cols("p1")} FROM "entries" AS "e0" LEFT JOIN "people" AS "p1" '
        'ON ("p1"."id" = "e0"."author_id")',
        [],
    )
    result = compiled.result
    assert result is not None
    # The row is decoded (an embedded record by its column's codec); a missing
    # outer-joined record is None.
    row = ("t", 1, "Ada", None, "", None, None, None, Address(city="Paris"), None)
    assert result.make(row) == (
        "t",
        Person(id=1, name="Ada", email="", address=Address(city="Paris")),
    )
    assert result.make(("t", *[None] * 9)) == ("t", None)


def test_select_a_schema_not_in_the_query_is_an_error() -> None:
    with pytest.raises(ValueError, match="Entry is not in the query"):
        query(Person).select(Entry)


def test_select_a_dict_labels_its_columns() -> None:
    q = query(Person).select({"who": Person.name, "n": count(), "name": Person.name})
    compiled = assert_sql(
        q,
        SQLITE,
        'SELECT "p0"."name" AS "who", count(*) AS "n", "p0"."name" FROM "people" AS "p0"',
        [],
    )
    assert compiled.result is not None
    assert compiled.result.make(("a", 2, "a")) == {"who": "a", "n": 2, "name": "a"}


def test_a_query_selects_once() -> None:
    q = query(Person).select(Person.id)
    with pytest.raises(ValueError, match="already has a select"):
        q.select(Person.name)
    assert to_sql(q.exclude("select").select(Person.name), SQLITE)[0] == (
        'SELECT "p0"."name" FROM "people" AS "p0"'
    )


def test_select_needs_something_selectable() -> None:
    with pytest.raises(ValueError, match="at least one"):
        query(Person).select()  # type: ignore[call-overload]
    with pytest.raises(
        TypeError, match="select\\(\\) takes expressions, schemas or aliases, not int"
    ):
        query(Person).select(42)  # type: ignore[call-overload]


def test_select_merge_into_the_record_keeps_records() -> None:
    q = query(Person).select_merge(name=upper(Person.name), nickname=lower(Person.name))
    compiled = assert_sql(
        q,
        SQLITE,
        'SELECT "p0"."id", upper("p0"."name") AS "name", "p0"."age", "p0"."email_address", '
        '"p0"."score", "p0"."balance", "p0"."data", "p0"."address", "p0"."born", '
        'lower("p0"."name") AS "nickname" FROM "people" AS "p0"',
        [],
    )
    assert compiled.result is not None
    row = (1, "ADA", None, "", None, None, None, None, None, "ada")
    assert compiled.result.make(row) == Person(id=1, name="ADA", nickname="ada")


def test_select_merge_of_an_unknown_field_into_a_record_is_an_error() -> None:
    with pytest.raises(ValueError, match="select a dict"):
        query(Person).select_merge(total=count())


def test_select_merge_into_a_dict_adds_and_replaces_keys() -> None:
    q = query(Person).select({"id": Person.id, "n": Person.name})
    q = q.select_merge({"n": upper(Person.name)}, extra=1)
    assert_both(
        q,
        'SELECT "p0"."id", upper("p0"."name") AS "n", ? AS "extra" FROM "people" AS "p0"',
        [1],
    )


def test_select_merge_into_tuples_is_an_error() -> None:
    with pytest.raises(ValueError, match="dict or a schema record"):
        query(Person).select(Person.id, Person.name).select_merge(x=Person.age)


def test_column_picks_a_field_at_run_time() -> None:
    sort = "email"
    q = query(Person).select(column(Person, "id")).order_by(column(Person, sort).desc())
    assert_both(
        q,
        'SELECT "p0"."id" FROM "people" AS "p0" ORDER BY "p0"."email_address" DESC',
        [],
    )
    with pytest.raises(ValueError, match="no stored field 'nickname'"):
        column(Person, "nickname")
    assert column(ref("s"), "total").binding == "s"


def test_repr_shows_the_sqlite_sql() -> None:
    q = query(Node).where(Node.id == 3).select(Node.label)
    assert repr(q) == '<Query SELECT "n0"."label" FROM "nodes" AS "n0" WHERE ("n0"."id" = ?) [3]>'
    broken = query(Node).where(Person.id == 1)
    assert repr(broken).startswith("<Query (does not compile: Person is not part")


def test_from_a_subquery_reads_its_records() -> None:
    inner = query(Person).where(Person.age > 18)
    q = query(subquery(inner), as_="adults").where(ref("adults").age < 65)
    compiled = assert_sql(
        q,
        SQLITE,
        f'SELECT {cols("s0")} FROM (SELECT {cols("p1")} FROM "people" AS "p1" '
        'WHERE ("p1"."age" > ?)) AS "s0" WHERE ("s0"."age" < ?)',
        [18, 65],
    )
    assert compiled.result is not None
    assert compiled.result.kind == "record"
