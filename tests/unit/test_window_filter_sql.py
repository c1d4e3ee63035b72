"""Golden SQL of aggregate ``filter``, window frames and named windows, on both dialects.

Both databases have ``FILTER (WHERE ...)`` on aggregates (SQLite since
3.30), ``ROWS``/``RANGE BETWEEN`` frames and the ``WINDOW`` clause (SQLite
since 3.28), so the SQL is the same but for the placeholders.
"""

from __future__ import annotations

from typing import Any

import pytest

from repodb.dialect import POSTGRESQL, SQLITE
from repodb.functions import (
    avg,
    count,
    lower,
    max_,
    range_between,
    rank,
    row_number,
    rows_between,
    sum_,
)
from repodb.query import query, to_sql

from .test_query_helpers import Entry, Person, assert_both, assert_sql

FROM = ' FROM "people" AS "p0"'


def test_filter_on_count_and_other_aggregates() -> None:
    q = query(Person).select(
        count(), count().filter(Person.age >= 18), max_(Person.score).filter(Person.name != "x")
    )
    assert_both(
        q,
        'SELECT count(*), count(*) FILTER (WHERE ("p0"."age" >= ?)),'
        ' max("p0"."score") FILTER (WHERE ("p0"."name" <> ?))' + FROM,
        [18, "x"],
    )


def test_filter_conditions_are_anded_and_keep_the_dialect_cast() -> None:
    q = query(Person).select(
        sum_(Person.age).filter(Person.age > 1, Person.score < 2.5).filter(Person.id != 3)
    )
    condition = '((("p0"."age" > ?) AND ("p0"."score" < ?)) AND ("p0"."id" <> ?))'
    assert_sql(q, SQLITE, f'SELECT sum("p0"."age") FILTER (WHERE {condition}){FROM}', [1, 2.5, 3])
    pg = condition.replace("?", "$1", 1).replace("?", "$2", 1).replace("?", "$3", 1)
    assert_sql(
        q,
        POSTGRESQL,
        f'SELECT CAST(sum("p0"."age") FILTER (WHERE {pg}) AS bigint){FROM}',
        [1, 2.5, 3],
    )


def test_a_filtered_aggregate_over_a_window() -> None:
    q = query(Person).select(count().filter(Person.age > 30).over(partition_by=Person.name))
    assert_both(
        q,
        'SELECT count(*) FILTER (WHERE ("p0"."age" > ?)) OVER (PARTITION BY "p0"."name")' + FROM,
        [30],
    )


@pytest.mark.parametrize(
    ("frame", "sql"),
    [
        (rows_between(None, 0), "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"),
        (rows_between(-2), "ROWS BETWEEN 2 PRECEDING AND CURRENT ROW"),
        (rows_between(1, None), "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING"),
        (rows_between(None, None), "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"),
        (range_between(-5, 5), "RANGE BETWEEN 5 PRECEDING AND 5 FOLLOWING"),
        (range_between(0, 0), "RANGE BETWEEN CURRENT ROW AND CURRENT ROW"),
    ],
)
def test_window_frames(frame: Any, sql: str) -> None:
    q = query(Person).select(avg(Person.score).over(order_by=Person.id, frame=frame))
    assert_both(q, f'SELECT avg("p0"."score") OVER (ORDER BY "p0"."id" ASC {sql}){FROM}', [])


def test_frames_are_part_of_the_shape() -> None:
    one = query(Person).select(sum_(Person.score).over(order_by=Person.id, frame=rows_between(-1)))
    two = query(Person).select(sum_(Person.score).over(order_by=Person.id, frame=rows_between(-2)))
    assert to_sql(one, SQLITE)[0] != to_sql(two, SQLITE)[0]


def test_named_windows() -> None:
    q = (
        query(Entry)
        .window("by_author", partition_by=Entry.author_id, order_by=Entry.id.desc())
        .window("all", frame=rows_between(None, None))
        .where(Entry.published)
        .select(
            Entry.title,
            rank().over("by_author"),
            count().over("by_author", frame=rows_between(-1, 1)),
            max_(Entry.id).over("all"),
            row_number().over(order_by=lower(Entry.title)),
        )
    )
    assert_both(
        q,
        'SELECT "e0"."title", rank() OVER "by_author",'
        ' count(*) OVER ("by_author" ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING),'
        ' max("e0"."id") OVER "all",'
        ' row_number() OVER (ORDER BY lower("e0"."title") ASC)'
        ' FROM "entries" AS "e0" WHERE "e0"."published"'
        ' WINDOW "by_author" AS (PARTITION BY "e0"."author_id" ORDER BY "e0"."id" DESC),'
        ' "all" AS (ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)',
        [],
    )


def test_the_window_clause_follows_having_and_precedes_order_by() -> None:
    q = (
        query(Person)
        .group_by(Person.name)
        .having(count() > 1)
        .window("w", order_by=Person.name)
        .order_by(Person.name)
        .select(Person.name, rank().over("w"))
        .limit(3)
    )
    assert_both(
        q,
        'SELECT "p0"."name", rank() OVER "w" FROM "people" AS "p0" GROUP BY "p0"."name"'
        ' HAVING (count(*) > ?) WINDOW "w" AS (ORDER BY "p0"."name" ASC)'
        ' ORDER BY "p0"."name" ASC LIMIT ?',
        [1, 3],
    )


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: count().filter(), ValueError, "at least one condition"),
        (lambda: row_number().filter(Person.age > 1), ValueError, r"not row_number\(\)"),
        (lambda: lower(Person.name).filter(Person.age > 1), ValueError, r"not lower\(\)"),
        (lambda: count().filter("age > 1"), TypeError, "filter\\(\\) takes conditions"),  # type: ignore[arg-type]
        (lambda: rows_between(2, 1), ValueError, r"starts after it ends \(2 > 1\)"),
        (lambda: rows_between(1.5), TypeError, "int offsets or None"),  # type: ignore[arg-type]
        (lambda: range_between(True), TypeError, "int offsets or None"),
        (lambda: rank().over(frame="ROWS 1"), TypeError, "takes rows_between"),  # type: ignore[arg-type]
        (lambda: rank().over("w", partition_by=Person.id), ValueError, "cannot add partition_by"),
        (lambda: rank().over(3), TypeError, "name of a window"),  # type: ignore[arg-type]
        (lambda: query(Person).window("w").window("w"), ValueError, "already has a window"),
        (
            lambda: query(Person).window("w", frame=(1, 2)),  # type: ignore[arg-type]
            TypeError,
            "takes rows_between",
        ),
    ],
)
def test_misuse_fails_when_built(build: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build()


def test_exclude_keeps_named_windows_unless_asked() -> None:
    q = query(Person).window("w", order_by=Person.id).select(rank().over("w"))
    assert 'WINDOW "w"' in to_sql(q.exclude("where"), SQLITE)[0]
