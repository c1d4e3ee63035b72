"""Golden SQL of date arithmetic: datetime_add, date_add, ago, from_now, datetime + timedelta.

PostgreSQL adds intervals (its session runs in UTC); SQLite, whose
datetimes are UTC text, moves them with ``strftime``/``date`` and carries
the microseconds itself. Each operand is bound once, value then amount, on
both dialects, which the templates' own test below checks.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

import pytest

from repodb.dialect import POSTGRESQL, SQLITE
from repodb.expr import Expr
from repodb.functions import ago, cast, date_add, datetime_add, fragment, from_now
from repodb.query import query
from repodb.schema import Col, Schema, field
from repodb.types import Kind

from .test_query_helpers import assert_sql


class Shift(Schema, table="shifts"):
    id: Col[int] = field(primary_key=True, default=None)
    at: Col[dt.datetime]
    ends: Col[dt.datetime | None] = field(default=None)
    day: Col[dt.date]
    span: Col[dt.timedelta]
    steps: Col[int]


FROM = ' FROM "shifts" AS "s0"'
AT = '"s0"."at"'

SQLITE_MICROS = (
    "(SELECT strftime('%Y-%m-%d %H:%M:%S', substr(\"_v\", 1, 19),"
    ' (("_t" - "_f") / 1000000) || \' seconds\') || printf(\'.%06d+00:00\', "_f")'
    ' FROM (SELECT "_v", "_t", ("_t" % 1000000 + 1000000) % 1000000 AS "_f"'
    ' FROM (SELECT "_v", CAST(substr("_v", 21, 6) AS INTEGER) + "_n" * {factor} AS "_t"'
    ' FROM (SELECT {v} AS "_v", {n} AS "_n"))))'
)
SQLITE_MONTHS = (
    "(SELECT min(date(\"_v\", 'start of month', \"_n\" || ' months',"
    " (CAST(substr(\"_v\", 9, 2) AS INTEGER) - 1) || ' days'),"
    " date(\"_v\", 'start of month', (\"_n\" + 1) || ' months', '-1 day'))"
    ' || substr("_v", 11) FROM (SELECT {v} AS "_v", {n} * {factor} AS "_n"))'
)


def selected(expr: Expr[Any], sqlite: str, postgresql: str, params: list[Any]) -> None:
    stmt = query(Shift).select(expr)
    assert_sql(stmt, SQLITE, f"SELECT {sqlite}{FROM}", params)
    assert_sql(stmt, POSTGRESQL, f"SELECT {postgresql}{FROM}", params)


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("week", 604_800_000_000),
        ("day", 86_400_000_000),
        ("hour", 3_600_000_000),
        ("minute", 60_000_000),
        ("second", 1_000_000),
        ("millisecond", 1_000),
        ("microsecond", 1),
    ],
)
def test_datetime_add_up_to_a_week(unit: Any, factor: int) -> None:
    selected(
        datetime_add(Shift.at, 3, unit),
        SQLITE_MICROS.format(v=AT, n="?", factor=factor),
        f"({AT} + CAST($1 AS bigint) * INTERVAL '1 {unit}')",
        [3],
    )


@pytest.mark.parametrize(("unit", "factor"), [("month", 1), ("year", 12)])
def test_datetime_add_months_and_years_clamp_the_day(unit: Any, factor: int) -> None:
    selected(
        datetime_add(Shift.at, -2, unit),
        SQLITE_MONTHS.format(v=AT, n="?", factor=factor),
        f"({AT} + CAST($1 AS bigint) * INTERVAL '1 {unit}')",
        [-2],
    )


def test_date_add_by_days_weeks_months_years() -> None:
    day = '"s0"."day"'
    selected(
        date_add(Shift.day, 2, "week"),
        f"date({day}, (? * 7) || ' days')",
        f"CAST({day} + CAST($1 AS bigint) * INTERVAL '1 week' AS date)",
        [2],
    )
    selected(
        date_add(Shift.day, 1, "year"),
        SQLITE_MONTHS.format(v=day, n="?", factor=12),
        f"CAST({day} + CAST($1 AS bigint) * INTERVAL '1 year' AS date)",
        [1],
    )


def test_the_amount_may_be_an_expression() -> None:
    selected(
        datetime_add(Shift.at, Shift.steps, "day"),
        SQLITE_MICROS.format(v=AT, n='"s0"."steps"', factor=86_400_000_000),
        f'({AT} + CAST("s0"."steps" AS bigint) * INTERVAL \'1 day\')',
        [],
    )


def test_ago_and_from_now_move_the_current_time() -> None:
    now_sqlite = "strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')"
    selected(
        ago(7, "day"),
        SQLITE_MICROS.format(v=now_sqlite, n="?", factor=86_400_000_000),
        "(now() + CAST($1 AS bigint) * INTERVAL '1 day')",
        [-7],
    )
    selected(
        from_now(1, "month"),
        SQLITE_MONTHS.format(v=now_sqlite, n="?", factor=1),
        "(now() + CAST($1 AS bigint) * INTERVAL '1 month')",
        [1],
    )
    selected(
        ago(Shift.steps, "hour"),
        SQLITE_MICROS.format(v=now_sqlite, n='(- "s0"."steps")', factor=3_600_000_000),
        '(now() + CAST((- "s0"."steps") AS bigint) * INTERVAL \'1 hour\')',
        [],
    )


def test_a_datetime_plus_or_minus_a_timedelta() -> None:
    week = dt.timedelta(days=7)
    selected(Shift.at + week, SQLITE_MICROS.format(v=AT, n="?", factor=1), f"({AT} + $1)", [week])
    selected(Shift.at - week, SQLITE_MICROS.format(v=AT, n="?", factor=1), f"({AT} + $1)", [-week])
    span = '"s0"."span"'
    selected(
        Shift.at - Shift.span,
        SQLITE_MICROS.format(v=AT, n=f"(- {span})", factor=1),
        f"({AT} + (- {span}))",
        [],
    )
    # Other arithmetic stays plain SQL.
    assert_sql(
        query(Shift).select(Shift.steps + 1), SQLITE, f'SELECT ("s0"."steps" + ?){FROM}', [1]
    )


def test_the_result_has_the_operands_type_and_compares_as_stored() -> None:
    when = dt.datetime(2024, 1, 31, tzinfo=dt.UTC)
    moved = datetime_add(Shift.at, 1, "month")
    assert moved.dbtype is not None
    assert moved.dbtype.kind is Kind.DATETIME
    ends = datetime_add(Shift.ends, 1, "day").dbtype
    assert ends is not None
    assert ends.kind is Kind.OPTIONAL
    stmt = query(Shift).where(moved > when).select(Shift.id)
    compiled = assert_sql(
        stmt,
        SQLITE,
        f'SELECT "s0"."id"{FROM} WHERE ({SQLITE_MONTHS.format(v=AT, n="?", factor=1)} > ?)',
        [1, when],
    )
    # The datetime is bound as a datetime (the SQLite codec writes it in the storage form).
    assert compiled.types[1] is not None
    assert compiled.types[1].kind is Kind.DATETIME


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (
            lambda: datetime_add(Shift.day, 1, "day"),  # type: ignore[type-var]
            TypeError,
            r"moves a datetime; this expression is a date; use date_add",
        ),
        (
            lambda: date_add(Shift.at, 1, "day"),  # type: ignore[arg-type]
            TypeError,
            r"moves a date; this expression is a datetime; use datetime_add",
        ),
        (
            lambda: datetime_add(Shift.steps, 1, "day"),  # type: ignore[type-var]
            TypeError,
            r"moves a datetime; this expression is a int$",
        ),
        (lambda: datetime_add(Shift.at, 1, "fortnight"), ValueError, "unknown datetime_add unit"),  # type: ignore[arg-type]
        (lambda: date_add(Shift.day, 1, "hour"), ValueError, "unknown date_add unit"),  # type: ignore[arg-type]
        (lambda: datetime_add(Shift.at, True, "day"), TypeError, "takes an int amount"),
        (lambda: datetime_add(Shift.at, 1.5, "day"), TypeError, "takes an int amount"),  # type: ignore[arg-type]
        (
            lambda: datetime_add(Shift.at, Shift.span, "day"),  # type: ignore[arg-type]
            TypeError,
            "int amount, not an expression",
        ),
        (lambda: datetime_add(fragment("x"), 1, "day"), TypeError, "needs a typed expression"),
        (lambda: ago("1", "day"), TypeError, "takes an int amount"),  # type: ignore[arg-type]
    ],
)
def test_misuse_fails_when_the_expression_is_built(
    build: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()
    # A typed fragment is fine.
    datetime_add(cast(fragment("x"), dt.datetime), 1, "day")


def test_every_template_binds_the_value_then_the_amount_once() -> None:
    forms = {"datetime_micros", "datetime_months", "datetime_interval", "date_days", "date_months"}
    for dialect in (SQLITE, POSTGRESQL):
        assert {form for form, _ in dialect.time_shifts} == forms
        for form in forms:
            names = [f for _, f, _, _ in string.Formatter().parse(dialect.time_shift(form)) if f]
            assert [n for n in names if n in ("v", "n")] == ["v", "n"], (dialect.name, form)
            assert set(names) <= {"v", "n", "unit", "factor"}
