"""Dialect rules held as data: Decimal comparisons on SQLite, two-step casts on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from repodb.dialect import POSTGRESQL, SQLITE
from repodb.functions import cast, max_, min_
from repodb.query import query, to_sql
from tests.unit.test_query_helpers import Entry, Person


def test_sqlite_compares_and_sorts_decimals_as_numbers() -> None:
    q = (
        query(Person)
        .where(Person.balance > Decimal("5"))
        .order_by(Person.balance.desc())
        .select(min_(Person.balance), max_(Person.balance))
    )
    sql, params = to_sql(q, SQLITE)
    # The bound Decimal is text on SQLite too, so both sides are cast.
    assert 'WHERE (CAST("p0"."balance" AS REAL) > CAST(? AS REAL))' in sql
    assert 'min(CAST("p0"."balance" AS REAL))' in sql
    assert 'max(CAST("p0"."balance" AS REAL))' in sql
    assert 'ORDER BY CAST("p0"."balance" AS REAL) DESC' in sql
    assert params == [Decimal("5")]
    # PostgreSQL's numeric compares exactly: no cast.
    pg_sql, _ = to_sql(q, POSTGRESQL)
    assert "REAL" not in pg_sql
    assert 'WHERE ("p0"."balance" > $1)' in pg_sql


def test_other_types_are_compared_as_they_are() -> None:
    sql, _ = to_sql(query(Person).where(Person.age > 3).order_by(Person.name), SQLITE)
    assert "CAST" not in sql


def test_postgresql_casts_boolean_to_bigint_through_integer() -> None:
    q = query(Entry).select(cast(Entry.published, int))
    pg_sql, _ = to_sql(q, POSTGRESQL)
    assert 'CAST(CAST("e0"."published" AS integer) AS bigint)' in pg_sql
    lite_sql, _ = to_sql(q, SQLITE)
    assert 'CAST("e0"."published" AS INTEGER)' in lite_sql
