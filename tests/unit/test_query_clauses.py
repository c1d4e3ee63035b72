"""Golden SQL of grouping, distinct, locks, subqueries, CTEs, set operations,
``exclude`` and ``preload`` markers, on both dialects with their params; a
non-expression given to any builder is a TypeError when the query is built."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

import repodb.query
from repodb import functions
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.functions import count, max_
from repodb.query import Preload, alias, exists, query, ref, subquery, to_sql

from .test_query_helpers import Entry, Node, Note, Person, Topic, assert_both, assert_sql

NODE = '"{0}"."id", "{0}"."parent_id", "{0}"."label"'

# -- group by, having ------------------------------------------------------------------


def test_group_by_and_having() -> None:
    q = (
        query(Entry)
        .select(Entry.author_id, count())
        .group_by(Entry.author_id)
        .having(count() > 1, max_(Entry.id) < 100)
        .or_having(Entry.author_id == 7)
    )
    assert_both(
        q,
        'SELECT "e0"."author_id", count(*) FROM "entries" AS "e0" GROUP BY "e0"."author_id" '
        'HAVING (((count(*) > ?) AND (max("e0"."id") < ?)) OR ("e0"."author_id" = ?))',
        [1, 100, 7],
    )


def test_group_by_and_order_by_a_label() -> None:
    total = count().label("total")
    q = query(Entry).select(Entry.author_id, total).group_by(Entry.author_id).order_by(total.desc())
    assert_both(
        q,
        'SELECT "e0"."author_id", count(*) AS "total" FROM "entries" AS "e0" '
        'GROUP BY "e0"."author_id" ORDER BY "total" DESC',
        [],
    )


# -- distinct -------------------------------------------------------------------------


def test_distinct() -> None:
    assert_both(
        query(Entry).select(Entry.title).distinct(),
        'SELECT DISTINCT "e0"."title" FROM "entries" AS "e0"',
        [],
    )


def test_distinct_on_is_postgresql_only() -> None:
    q = query(Entry).distinct(on=Entry.author_id).order_by(Entry.author_id, Entry.id.desc())
    sql = (
        'SELECT DISTINCT ON ("e0"."author_id") "e0"."id", "e0"."author_id", "e0"."title", '
        '"e0"."published" FROM "entries" AS "e0" ORDER BY "e0"."author_id" ASC, "e0"."id" DESC'
    )
    assert_sql(q, POSTGRESQL, sql, [])
    with pytest.raises(ValueError, match="DISTINCT ON is not available on sqlite"):
        to_sql(q, SQLITE)
    with pytest.raises(ValueError, match="at least one"):
        query(Entry).distinct(on=[])


# -- locks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "clause"),
    [
        ({}, "FOR UPDATE"),
        ({"skip_locked": True}, "FOR UPDATE SKIP LOCKED"),
        ({"nowait": True}, "FOR UPDATE NOWAIT"),
        ({"strength": "share"}, "FOR SHARE"),
        ({"strength": "no_key_update"}, "FOR NO KEY UPDATE"),
        ({"strength": "key_share", "skip_locked": True}, "FOR KEY SHARE SKIP LOCKED"),
    ],
)
def test_locks_on_postgresql(options: dict[str, object], clause: str) -> None:
    q = query(Node).where(Node.id == 1).limit(1).lock(**options)  # type: ignore[arg-type]
    assert_sql(
        q,
        POSTGRESQL,
        f'SELECT {NODE.format("n0")} FROM "nodes" AS "n0" WHERE ("n0"."id" = $1) LIMIT $2 {clause}',
        [1, 1],
    )


def test_sqlite_has_no_row_locks() -> None:
    with pytest.raises(ValueError, match="sqlite has no row locks"):
        to_sql(query(Node).lock(), SQLITE)


def test_lock_options_are_checked() -> None:
    with pytest.raises(ValueError, match="not both"):
        query(Node).lock(nowait=True, skip_locked=True)
    with pytest.raises(ValueError, match="unknown lock strength"):
        query(Node).lock("exclusive")  # type: ignore[arg-type]


# -- subqueries ----------------------------------------------------------------------------


def test_exists_and_not_exists_are_correlated() -> None:
    has_entries = exists(query(Entry).where(Entry.author_id == Person.id, Entry.published))
    q = query(Person).where(has_entries, ~exists(query(Note))).select(Person.id)
    assert_both(
        q,
        'SELECT "p0"."id" FROM "people" AS "p0" WHERE (EXISTS (SELECT "e1"."id", '
        '"e1"."author_id", "e1"."title", "e1"."published" FROM "entries" AS "e1" '
        'WHERE (("e1"."author_id" = "p0"."id") AND "e1"."published")) AND (NOT EXISTS '
        '(SELECT "n2"."id", "n2"."entry_id", "n2"."body" FROM "notes" AS "n2")))',
        [],
    )


def test_a_scalar_subquery_is_an_expression() -> None:
    latest = subquery(query(Entry).where(Entry.author_id == Person.id).select(max_(Entry.id)))
    q = query(Person).select(Person.name, latest).where(latest > 10)
    compiled = assert_sql(
        q,
        SQLITE,
        'SELECT "p0"."name", (SELECT max("e1"."id") FROM "entries" AS "e1" '
        'WHERE ("e1"."author_id" = "p0"."id")) FROM "people" AS "p0" '
        'WHERE ((SELECT max("e2"."id") FROM "entries" AS "e2" '
        'WHERE ("e2"."author_id" = "p0"."id")) > ?)',
        [10],
    )
    assert compiled.result is not None
    assert compiled.result.columns[1] is not None


def test_a_subquery_in_from_selecting_a_dict() -> None:
    totals = (
        query(Entry).select({"author": Entry.author_id, "n": count()}).group_by(Entry.author_id)
    )
    q = (
        query(subquery(totals), as_="t")
        .join(Person, Person.id == ref("t").author)
        .where(ref("t").n > 2)
        .select(Person.name, ref("t").n)
    )
    assert_both(
        q,
        'SELECT "p1"."name", "s0"."n" FROM (SELECT "e2"."author_id" AS "author", '
        'count(*) AS "n" FROM "entries" AS "e2" GROUP BY "e2"."author_id") AS "s0" '
        'INNER JOIN "people" AS "p1" ON ("p1"."id" = "s0"."author") WHERE ("s0"."n" > ?)',
        [2],
    )


def test_a_subquery_in_from_keeps_its_dict_rows_by_default() -> None:
    q = query(subquery(query(Node).select({"label": Node.label})))
    compiled = assert_sql(
        q,
        SQLITE,
        'SELECT "s0"."label" FROM (SELECT "n1"."label" FROM "nodes" AS "n1") AS "s0"',
        [],
    )
    assert compiled.result is not None
    assert compiled.result.make(("x",)) == {"label": "x"}


def test_a_subquery_of_tuples_needs_a_select() -> None:
    q = query(subquery(query(Node).select(Node.id, Node.label)), as_="s")
    with pytest.raises(ValueError, match="selects a schema or a dict"):
        to_sql(q, SQLITE)
    assert to_sql(q.select(ref("s").id), SQLITE)[0] == (
        'SELECT "s0"."id" FROM (SELECT "n1"."id", "n1"."label" FROM "nodes" AS "n1") AS "s0"'
    )


def test_a_joined_subquery() -> None:
    recent = subquery(query(Entry).where(Entry.id > 5))
    q = query(Person).join(recent, ref("r").author_id == Person.id, as_="r").select(ref("r").title)
    assert_both(
        q,
        'SELECT "s1"."title" FROM "people" AS "p0" INNER JOIN (SELECT "e2"."id", '
        '"e2"."author_id", "e2"."title", "e2"."published" FROM "entries" AS "e2" '
        'WHERE ("e2"."id" > ?)) AS "s1" ON ("s1"."author_id" = "p0"."id")',
        [5],
    )


# -- CTEs ----------------------------------------------------------------------------------


def test_with_cte() -> None:
    roots = alias(Node, "roots", table="roots")
    q = query(roots).with_cte("roots", query(Node).where(Node.parent_id.is_null()))
    assert_both(
        q,
        f'WITH "roots" AS (SELECT {NODE.format("n0")} FROM "nodes" AS "n0" '
        f'WHERE ("n0"."parent_id" IS NULL)) SELECT {NODE.format("r1")} FROM "roots" AS "r1"',
        [],
    )


def test_recursive_cte() -> None:
    tree = alias(Node, "tree", table="tree")
    start = query(Node).where(Node.id == 1)
    step = query(Node).join(tree, Node.parent_id == tree.id)
    q = query(tree).with_cte("tree", start.union_all(step), recursive=True).order_by(tree.id)
    assert_both(
        q,
        f'WITH RECURSIVE "tree" AS (SELECT {NODE.format("n0")} FROM "nodes" AS "n0" '
        f'WHERE ("n0"."id" = ?) UNION ALL SELECT {NODE.format("n1")} FROM "nodes" AS "n1" '
        'INNER JOIN "tree" AS "t2" ON ("n1"."parent_id" = "t2"."id")) '
        f'SELECT {NODE.format("t3")} FROM "tree" AS "t3" ORDER BY "t3"."id" ASC',
        [1],
    )


def test_cte_names_are_unique() -> None:
    q = query(Node).with_cte("x", query(Node))
    with pytest.raises(ValueError, match="already has a CTE named 'x'"):
        q.with_cte("x", query(Node))


# -- set operations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "keyword"),
    [
        ("union", "UNION"),
        ("union_all", "UNION ALL"),
        ("intersect", "INTERSECT"),
        ("except_", "EXCEPT"),
    ],
)
def test_set_operations(method: str, keyword: str) -> None:
    left = query(Person).select(Person.name).where(Person.age > 1)
    right = query(Topic).select(Topic.name).where(Topic.id < 2)
    assert_both(
        getattr(left, method)(right),
        f'SELECT "p0"."name" FROM "people" AS "p0" WHERE ("p0"."age" > ?) {keyword} '
        'SELECT "t1"."name" FROM "topics" AS "t1" WHERE ("t1"."id" < ?)',
        [1, 2],
    )


def test_a_set_operation_orders_and_limits_the_whole_result_by_position() -> None:
    q = (
        query(Person)
        .select(Person.id, Person.name)
        .union(query(Topic).select(Topic.id, Topic.name))
        .order_by(Person.name.desc(), Person.id)
        .limit(5)
    )
    assert_both(
        q,
        'SELECT "p0"."id", "p0"."name" FROM "people" AS "p0" UNION '
        'SELECT "t1"."id", "t1"."name" FROM "topics" AS "t1" ORDER BY 2 DESC, 1 ASC LIMIT ?',
        [5],
    )


def test_a_set_operation_orders_by_labels() -> None:
    q = (
        query(Person)
        .select({"n": Person.name})
        .union(query(Topic).select({"n": Topic.name}))
        .order_by(Person.name.label("n"))
    )
    assert_both(
        q,
        'SELECT "p0"."name" AS "n" FROM "people" AS "p0" UNION '
        'SELECT "t1"."name" AS "n" FROM "topics" AS "t1" ORDER BY 1 ASC',
        [],
    )


def test_a_set_operation_cannot_order_by_an_unselected_expression() -> None:
    q = query(Person).select(Person.id).union(query(Topic).select(Topic.id))
    with pytest.raises(ValueError, match="must name selected columns"):
        to_sql(q.order_by(Person.name), SQLITE)


def test_a_member_with_its_own_order_and_limit_is_wrapped() -> None:
    top = query(Topic).select(Topic.name).order_by(Topic.id.desc()).limit(3)
    q = query(Person).select(Person.name).union_all(top)
    assert_both(
        q,
        'SELECT "p0"."name" FROM "people" AS "p0" UNION ALL SELECT * FROM ('
        'SELECT "t1"."name" FROM "topics" AS "t1" ORDER BY "t1"."id" DESC LIMIT ?) AS "s2"',
        [3],
    )


# -- exclude ---------------------------------------------------------------------------------


def test_exclude_removes_clauses() -> None:
    full = (
        query(Entry)
        .join("author")
        .where(Entry.id > 1)
        .select(Entry.title)
        .group_by(Entry.title)
        .having(count() > 1)
        .order_by(Entry.title)
        .limit(3)
        .offset(4)
        .distinct()
        .preload("notes")
    )
    bare = full.exclude(
        "join",
        "where",
        "select",
        "group_by",
        "having",
        "order_by",
        "limit",
        "offset",
        "distinct",
        "preload",
    )
    assert_both(
        bare,
        'SELECT "e0"."id", "e0"."author_id", "e0"."title", "e0"."published" FROM "entries" AS "e0"',
        [],
    )
    assert full.exclude("order_by", "limit").orders == ()
    assert full.exclude("where").wheres == ()
    assert full.preloads != ()
    assert bare.preloads == ()


def test_exclude_lock_ctes_and_combinations() -> None:
    q = (
        query(Node)
        .with_cte("x", query(Node))
        .union(query(Node))
        .lock()
        .exclude("with_cte", "combinations", "lock")
    )
    assert_both(q, f'SELECT {NODE.format("n0")} FROM "nodes" AS "n0"', [])


def test_exclude_unknown_clause_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown clause 'wheres'"):
        query(Node).exclude("wheres")  # type: ignore[call-overload]


# -- preload markers ---------------------------------------------------------------------------


def test_preload_paths_merge_into_a_tree() -> None:
    notes = query(Note).order_by(Note.id)
    q = (
        query(Person)
        .preload("entries", "entries__notes")
        .preload(Person.profile, {"entries": ["topics"]})
        .preload(entries=["notes__entry"])
    )
    (entries, profile) = q.preloads
    assert profile == Preload("profile")
    assert entries.name == "entries"
    assert [p.name for p in entries.nested] == ["notes", "topics"]
    assert [p.name for p in entries.nested[0].nested] == ["entry"]
    with_query = query(Entry).preload(notes=notes).preloads[0]
    assert with_query.query is notes


def test_preload_names_are_checked() -> None:
    with pytest.raises(ValueError, match="Person has no association 'posts'"):
        query(Person).preload("posts")
    with pytest.raises(ValueError, match="Entry has no association 'tags'"):
        query(Person).preload("entries__tags")


def test_preloads_do_not_change_the_sql() -> None:
    plain = to_sql(query(Person), SQLITE)
    assert to_sql(query(Person).preload("entries__notes"), SQLITE) == plain


# -- wrong argument types ---------------------------------------------------------------

# Each builder given a str or a Python value where an expression (or a query)
# belongs: (the call, what the TypeError starts with). Before, most of these
# reached the compiler and failed there with an AttributeError. Their types say
# so too (mypy refuses each call), so the calls go through Any-typed handles.
Q: Any = query(Person)
FN: Any = functions
QUERIES: Any = repodb.query
NAME: Any = Person.name
WRONG_ARGUMENTS: dict[str, tuple[Callable[[], object], str]] = {
    "where": (lambda: Q.where("x"), "where() takes conditions"),
    "where bool": (lambda: Q.where(True), "where() takes conditions"),
    "or_where": (lambda: Q.or_where("x"), "or_where() takes conditions"),
    "having": (lambda: Q.having("x"), "having() takes conditions"),
    "or_having": (lambda: Q.or_having("x"), "or_having() takes conditions"),
    "order_by": (lambda: Q.order_by("x"), "order_by() takes expressions or"),
    "order_by int": (lambda: Q.order_by(1), "order_by() takes expressions or"),
    "group_by": (lambda: Q.group_by("x"), "group_by() takes expressions"),
    "select": (lambda: Q.select("x"), "select() takes expressions"),
    "join on": (lambda: Q.join(Entry, on="x"), "join(on=...) takes a condition"),
    "join target": (lambda: Q.join(42, on=Person.id == 1), "join() takes a schema"),
    "distinct on": (lambda: Q.distinct(on="x"), "distinct(on=...) takes"),
    "distinct on list": (lambda: Q.distinct(on=["x"]), "distinct(on=...) takes"),
    "limit": (lambda: Q.limit("5"), "limit() takes an int"),
    "offset": (lambda: Q.offset(1.5), "offset() takes an int"),
    "with_cte": (lambda: Q.with_cte("c", "x"), "with_cte() takes a query"),
    "union": (lambda: Q.union("x"), "union() takes a query"),
    "union_all": (lambda: Q.union_all("x"), "union_all() takes a query"),
    "except_": (lambda: Q.except_("x"), "except() takes a query"),
    "exists": (lambda: QUERIES.exists("x"), "exists() takes a query"),
    "subquery": (lambda: QUERIES.subquery("x"), "subquery() takes a query"),
    "label": (lambda: NAME.label(3), "label() takes a str"),
    "and_": (lambda: FN.and_(Person.id == 1, "x"), "and_() takes conditions"),
    "or_": (lambda: FN.or_("x"), "or_() takes conditions"),
    "not_": (lambda: FN.not_("x"), "not_() takes a condition"),
    "case": (lambda: FN.case(("x", 1)), "case() takes conditions"),
    "coalesce": (lambda: FN.coalesce("x", 1), "coalesce() takes an expression"),
    "cast": (lambda: FN.cast("x", int), "cast() takes an expression"),
    "count": (lambda: FN.count("x"), "count() takes an expression"),
    "count_distinct": (lambda: FN.count_distinct("x"), "count_distinct() takes"),
    "sum_": (lambda: FN.sum_("x"), "sum_() takes an expression"),
    "avg": (lambda: FN.avg("x"), "avg() takes an expression"),
    "min_": (lambda: FN.min_("x"), "min_() takes an expression"),
    "max_": (lambda: FN.max_("x"), "max_() takes an expression"),
    "lower": (lambda: FN.lower("x"), "lower() takes an expression"),
    "upper": (lambda: FN.upper("x"), "upper() takes an expression"),
    "length": (lambda: FN.length("x"), "length() takes an expression"),
    "date_trunc": (lambda: FN.date_trunc("day", "x"), "date_trunc() takes"),
    "json_get": (lambda: FN.json_get("x", "k"), "json_get() takes an expression"),
    "json_text": (lambda: FN.json_text("x", "k"), "json_text() takes an expression"),
    "over partition_by": (
        lambda: FN.row_number().over(partition_by="x"),
        "over(partition_by=...) takes expressions",
    ),
    "over order_by": (
        lambda: FN.row_number().over(order_by=["x"]),
        "over(order_by=...) takes expressions or orderings",
    ),
}


@pytest.mark.parametrize("name", WRONG_ARGUMENTS)
def test_a_wrong_argument_type_is_a_type_error_when_the_query_is_built(name: str) -> None:
    build, message = WRONG_ARGUMENTS[name]
    with pytest.raises(TypeError) as info:
        build()
    assert str(info.value).startswith(message)
    assert re.search(r", not (the str '\w+'|int|float|bool)$", str(info.value))


def test_a_field_name_as_a_string_says_which_column_to_write() -> None:
    # The typed DSL takes the column, so result types stay exact: no str lookup.
    builds: list[Callable[[], object]] = [
        lambda: Q.order_by("name"),
        lambda: Q.where("name"),
        lambda: Q.group_by("name"),
        lambda: Q.select(Person.id, "name"),
        lambda: Q.distinct(on="name"),
    ]
    for build in builds:
        with pytest.raises(TypeError, match=r"not the field name 'name': write Person\.name$"):
            build()


def test_a_wrong_argument_never_reaches_the_compiler() -> None:
    # The root query is shared (query(Person) is cached): a failed step leaves it unchanged.
    q: Any = query(Person)
    with pytest.raises(TypeError):
        q.order_by("name")
    assert to_sql(q, SQLITE) == to_sql(query(Person), SQLITE)
