"""Golden SQL of expressions and functions on both dialects, with params and result types.

Each expression is selected from ``people`` and its SQL is cut out of the
statement, so a case reads as the expression alone; ``assert_sql`` still
checks the whole statement, cached and fresh.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

import pytest

from repodb.dialect import POSTGRESQL, SQLITE, Dialect
from repodb.expr import Expr, Value, infer_dbtype, lift
from repodb.functions import (
    and_,
    avg,
    case,
    cast,
    coalesce,
    count,
    count_distinct,
    date_trunc,
    dense_rank,
    fragment,
    json_get,
    json_text,
    length,
    lower,
    max_,
    min_,
    not_,
    now,
    or_,
    rank,
    row_number,
    sum_,
    upper,
)
from repodb.query import query, to_sql
from repodb.types import DbType, Kind, json, optional, to_dbtype

from .test_query_helpers import DIALECTS, Entry, Person, assert_sql, pg_text

FROM = ' FROM "people" AS "p0"'


def selected(expr: Expr[Any], dialect: Dialect) -> tuple[str, list[Any]]:
    """The SQL of ``expr`` in a select list, and the parameters."""
    stmt = query(Person).select(expr)
    sql, params = to_sql(stmt, dialect)
    assert sql.startswith("SELECT ")
    assert sql.endswith(FROM)
    assert_sql(stmt, dialect, sql, params)
    return sql[len("SELECT ") : -len(FROM)], params


def both(expr: Expr[Any], sql: str, params: list[Any]) -> None:
    """``expr`` is ``sql`` on SQLite and the same with ``$n`` markers on PostgreSQL."""
    assert selected(expr, SQLITE) == (sql, params)
    assert selected(expr, POSTGRESQL) == (pg_text(sql), params)


def dbtype(expr: Expr[Any]) -> DbType[Any] | None:
    """The result type the compiler gives ``expr`` as a selected column."""
    from repodb._compile.cache import compile_statement

    result = compile_statement(query(Person).select(expr), SQLITE).result
    assert result is not None
    return result.columns[0]


BOOL = to_dbtype(bool)
INT = to_dbtype(int)

# -- operators ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "sql"),
    [
        (Person.name == "a", '("p0"."name" = ?)'),
        (Person.name != "a", '("p0"."name" <> ?)'),
        (Person.name < "a", '("p0"."name" < ?)'),
        (Person.name <= "a", '("p0"."name" <= ?)'),
        (Person.name > "a", '("p0"."name" > ?)'),
        (Person.name >= "a", '("p0"."name" >= ?)'),
        (Person.name.like("a"), '("p0"."name" LIKE ?)'),
    ],
)
def test_comparisons(expr: Expr[bool], sql: str) -> None:
    both(expr, sql, ["a"])
    assert dbtype(expr) == BOOL


def test_comparing_with_none_is_is_null() -> None:
    both(Person.age == None, '("p0"."age" IS NULL)', [])  # noqa: E711
    both(Person.age != None, '("p0"."age" IS NOT NULL)', [])  # noqa: E711
    both(Person.age.is_null(), '("p0"."age" IS NULL)', [])
    both(Person.age.is_not_null(), '("p0"."age" IS NOT NULL)', [])
    assert dbtype(Person.age.is_null()) == BOOL


def test_a_predicate_over_a_nullable_column_may_be_null() -> None:
    assert dbtype(Person.age > 1) == optional(bool)
    assert dbtype(Person.name.like("a%")) == BOOL


def test_logic_is_parenthesised() -> None:
    expr = ~((Person.name == "a") | (Person.name == "b")) & (Person.email == "c")
    both(
        expr,
        '((NOT (("p0"."name" = ?) OR ("p0"."name" = ?))) AND ("p0"."email_address" = ?))',
        ["a", "b", "c"],
    )


def test_and_or_not_for_conditions_built_at_run_time() -> None:
    conditions: list[Expr[bool]] = []
    for name in ["a", "b"]:
        conditions.append(Person.name != name)
    both(and_(*conditions), '(("p0"."name" <> ?) AND ("p0"."name" <> ?))', ["a", "b"])
    both(or_(*conditions), '(("p0"."name" <> ?) OR ("p0"."name" <> ?))', ["a", "b"])
    both(not_(conditions[0]), '(NOT ("p0"."name" <> ?))', ["a"])
    both(and_(), "(1 = 1)", [])
    both(or_(), "(1 = 0)", [])
    assert dbtype(and_()) == BOOL


def test_arithmetic_keeps_the_column_type() -> None:
    both(
        (Person.age + 1) * 2 - Person.age / 3 % 4,
        '((("p0"."age" + ?) * ?) - (("p0"."age" / ?) % ?))',
        [1, 2, 3, 4],
    )
    both(-Person.age, '(- "p0"."age")', [])
    assert dbtype(Person.age + 1) == optional(int)
    assert dbtype(Person.score * 2.5) == optional(float)


def test_in_and_not_in_values() -> None:
    both(Person.name.in_(["a", "b"]), '("p0"."name" IN (?, ?))', ["a", "b"])
    both(Person.name.not_in(("a",)), '("p0"."name" NOT IN (?))', ["a"])


def test_in_of_nothing_is_a_known_truth_value() -> None:
    both(Person.name.in_([]), "(1 = 0)", [])
    both(Person.name.not_in([]), "(1 = 1)", [])


def test_in_a_query() -> None:
    authors = query(Entry).where(Entry.published).select(Entry.author_id)
    both(
        Person.id.in_(authors),
        '("p0"."id" IN (SELECT "e1"."author_id" FROM "entries" AS "e1" WHERE "e1"."published"))',
        [],
    )
    both(
        Person.id.not_in(authors.where(Entry.title == "x")),
        '("p0"."id" NOT IN (SELECT "e1"."author_id" FROM "entries" AS "e1" '
        'WHERE ("e1"."published" AND ("e1"."title" = ?))))',
        ["x"],
    )


def test_between() -> None:
    both(Person.age.between(18, 65), '("p0"."age" BETWEEN ? AND ?)', [18, 65])


def test_ilike_is_like_on_sqlite() -> None:
    expr = Person.name.ilike("ad%")
    assert selected(expr, SQLITE) == ('("p0"."name" LIKE ?)', ["ad%"])
    assert selected(expr, POSTGRESQL) == ('("p0"."name" ILIKE $1)', ["ad%"])


def test_a_label_names_the_column() -> None:
    both(count().label("n"), 'count(*) AS "n"', [])
    both(Person.name.label("name"), '"p0"."name"', [])


# -- values -------------------------------------------------------------------------------


class Mood(enum.Enum):
    HAPPY = "h"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (1, Kind.INT),
        (True, Kind.BOOL),
        ("x", Kind.STR),
        (1.5, Kind.FLOAT),
        (Decimal("1"), Kind.DECIMAL),
        (b"x", Kind.BYTES),
        (dt.date(2024, 1, 1), Kind.DATE),
        (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), Kind.DATETIME),
        ({"a": 1}, Kind.JSON),
        ([1, 2], Kind.JSON),
        (Mood.HAPPY, Kind.ENUM),
        (None, Kind.OPTIONAL),
    ],
)
def test_a_value_without_a_column_takes_its_type_from_its_class(value: object, kind: Kind) -> None:
    assert infer_dbtype(value).kind is kind
    assert lift(value).dbtype == infer_dbtype(value)


def test_a_value_compared_with_a_column_takes_the_column_type() -> None:
    expr = Person.born > dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert expr.right.dbtype == optional(dt.datetime)  # type: ignore[attr-defined]


def test_values_of_unsupported_classes_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="not a repodb type"):
        Value(object())


# -- functions ----------------------------------------------------------------------------


def test_coalesce() -> None:
    both(coalesce(Person.age, 0), 'coalesce("p0"."age", ?)', [0])
    assert dbtype(coalesce(Person.age, 0)) == INT
    assert dbtype(coalesce(Person.age, Person.age)) == optional(int)


def test_case_with_and_without_else() -> None:
    expr = case((Person.age < 18, "minor"), (Person.age < 65, "adult"), else_="senior")
    both(
        expr,
        'CASE WHEN ("p0"."age" < ?) THEN ? WHEN ("p0"."age" < ?) THEN ? ELSE ? END',
        [18, "minor", 65, "adult", "senior"],
    )
    assert dbtype(expr) == to_dbtype(str)
    no_else = case((Person.age < 18, Person.name))
    both(no_else, 'CASE WHEN ("p0"."age" < ?) THEN "p0"."name" END', [18])
    assert dbtype(no_else) == optional(str)
    with pytest.raises(ValueError, match="at least one"):
        case()


@pytest.mark.parametrize(
    ("target", "sqlite", "postgresql"),
    [
        (int, "INTEGER", "bigint"),
        (str, "TEXT", "text"),
        (float, "REAL", "double precision"),
        (Decimal, "TEXT", "numeric"),
        (bool, "INTEGER", "boolean"),
        (dt.datetime, "TEXT", "timestamptz"),
        (dict, "TEXT", "jsonb"),
    ],
)
def test_cast_names_types_per_dialect(target: type[Any], sqlite: str, postgresql: str) -> None:
    expr = cast(Person.name, target)
    assert selected(expr, SQLITE) == (f'CAST("p0"."name" AS {sqlite})', [])
    assert selected(expr, POSTGRESQL) == (f'CAST("p0"."name" AS {postgresql})', [])
    assert dbtype(expr) == to_dbtype(target)


def test_cast_of_a_nullable_value_is_optional() -> None:
    assert dbtype(cast(Person.age, str)) == optional(str)


def test_aggregates() -> None:
    both(count(), "count(*)", [])
    both(count(Person.age), 'count("p0"."age")', [])
    both(count(Person.age, distinct=True), 'count(DISTINCT "p0"."age")', [])
    both(count_distinct(Person.name), 'count(DISTINCT "p0"."name")', [])
    both(min_(Person.name), 'min("p0"."name")', [])
    both(max_(Person.born), 'max("p0"."born")', [])
    assert dbtype(count()) == INT
    assert dbtype(min_(Person.name)) == optional(str)
    assert dbtype(max_(Person.age)) == optional(int)


def test_integer_sums_and_averages_are_cast_back_on_postgresql() -> None:
    assert selected(sum_(Person.age), SQLITE) == ('sum("p0"."age")', [])
    assert selected(sum_(Person.age), POSTGRESQL) == ('CAST(sum("p0"."age") AS bigint)', [])
    assert selected(avg(Person.age), SQLITE) == ('avg("p0"."age")', [])
    assert selected(avg(Person.age), POSTGRESQL) == (
        'CAST(avg("p0"."age") AS double precision)',
        [],
    )
    # Floats and Decimals already sum and average to their own types.
    both(sum_(Person.score), 'sum("p0"."score")', [])
    both(avg(Person.balance), 'avg("p0"."balance")', [])
    assert dbtype(sum_(Person.age)) == optional(int)
    assert dbtype(avg(Person.age)) == optional(float)
    assert dbtype(avg(Person.balance)) == optional(Decimal)


def test_text_functions() -> None:
    both(lower(Person.name), 'lower("p0"."name")', [])
    both(upper(Person.name), 'upper("p0"."name")', [])
    both(length(Person.name), 'length("p0"."name")', [])
    assert dbtype(length(Person.name)) == INT
    assert dbtype(upper(Person.name)) == to_dbtype(str)


def test_now_is_in_the_storage_form_of_each_dialect() -> None:
    assert selected(now(), SQLITE) == ("strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')", [])
    assert selected(now(), POSTGRESQL) == ("now()", [])
    assert dbtype(now()) == to_dbtype(dt.datetime)


def test_date_trunc_is_postgresql_only() -> None:
    expr = date_trunc("month", Person.born)
    assert selected(expr, POSTGRESQL) == ('date_trunc(\'month\', "p0"."born")', [])
    with pytest.raises(ValueError, match="date_trunc is not available on sqlite"):
        to_sql(query(Person).select(expr), SQLITE)
    with pytest.raises(ValueError, match="unknown date_trunc unit"):
        date_trunc("fortnight", Person.born)  # type: ignore[arg-type]


def test_json_access_binds_keys_and_indices() -> None:
    assert selected(json_get(Person.data, "a", 0), POSTGRESQL) == (
        '(("p0"."data" -> CAST($1 AS text)) -> CAST($2 AS integer))',
        ["a", 0],
    )
    assert selected(json_text(Person.data, "a.b"), POSTGRESQL) == (
        '("p0"."data" ->> CAST($1 AS text))',
        ["a.b"],
    )
    # SQLite reads a key as a quoted JSON path, so dots in keys stay keys.
    assert selected(json_get(Person.data, "a", 0), SQLITE) == (
        "((\"p0\".\"data\" -> ('$.\"' || ? || '\"')) -> ('$[' || ? || ']'))",
        ["a", 0],
    )
    assert selected(json_text(Person.data, "a.b"), SQLITE) == (
        'CAST(("p0"."data" ->> (\'$."\' || ? || \'"\')) AS TEXT)',
        ["a.b"],
    )
    assert dbtype(json_get(Person.data, "a")) == optional(json())
    assert dbtype(json_text(Person.data, "a")) == optional(str)


def test_json_paths_are_keys_or_indices() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        json_get(Person.data)
    with pytest.raises(TypeError, match="not bool"):
        json_get(Person.data, True)


def test_fragment_writes_expressions_and_binds_values() -> None:
    both(fragment("lower(?) = ?", Person.name, "ada"), 'lower("p0"."name") = ?', ["ada"])
    # Numbered markers may repeat; the argument is written at each.
    both(fragment("$1 || $1 || $2", "x", Person.name), '? || ? || "p0"."name"', ["x", "x"])
    # Markers inside literals are text.
    both(fragment("'?' || ?", Person.name), '\'?\' || "p0"."name"', [])
    assert dbtype(fragment("?", Person.name)) is None
    assert dbtype(fragment("?", Person.name, type_=int)) == INT


def test_fragment_markers_and_arguments_must_agree() -> None:
    with pytest.raises(ValueError, match="1 marker"):
        fragment("lower(?)", Person.name, "extra")


def test_a_selected_fragment_without_a_type_has_no_row_type() -> None:
    from repodb._compile.cache import compile_statement

    result = compile_statement(query(Person).select(fragment("1")), SQLITE).result
    assert result is not None
    with pytest.raises(TypeError, match="column 1 is unknown"):
        _ = result.row_type


# -- window functions --------------------------------------------------------------------


def test_window_functions() -> None:
    both(
        row_number().over(partition_by=Person.name, order_by=Person.id.desc()),
        'row_number() OVER (PARTITION BY "p0"."name" ORDER BY "p0"."id" DESC)',
        [],
    )
    both(
        rank().over(order_by=[Person.age, Person.id]),
        ('rank() OVER (ORDER BY "p0"."age" ASC, "p0"."id" ASC)'),
        [],
    )
    both(
        dense_rank().over(partition_by=[Person.name, Person.email]),
        'dense_rank() OVER (PARTITION BY "p0"."name", "p0"."email_address")',
        [],
    )
    both(count().over(), "count(*) OVER ()", [])
    assert dbtype(row_number().over()) == INT


def test_an_aggregate_window_is_cast_around_the_window() -> None:
    expr = sum_(Person.age).over(partition_by=Person.name)
    assert selected(expr, POSTGRESQL) == (
        'CAST(sum("p0"."age") OVER (PARTITION BY "p0"."name") AS bigint)',
        [],
    )


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_a_window_function_needs_over(dialect: Dialect) -> None:
    with pytest.raises(ValueError, match="window function"):
        to_sql(query(Person).select(row_number()), dialect)
