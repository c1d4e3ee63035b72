"""Golden SQL of the Ecto conveniences: first/last, reverse_order, keyset pages, EXPLAIN.

Each is pure query building, so both dialects are checked without a
database; ``tests/integration/test_repo_conveniences.py`` runs them.
"""

from __future__ import annotations

from typing import Any

import pytest

from repodb._repo.explain import Explain, plan_text
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.functions import lower
from repodb.query import query, subquery, to_sql

from .test_query_helpers import Entry, Person, assert_both, assert_sql

COLUMNS = (
    '"p0"."id", "p0"."name", "p0"."age", "p0"."email_address", "p0"."score", "p0"."balance",'
    ' "p0"."data", "p0"."address", "p0"."born"'
)
SELECT = f'SELECT {COLUMNS} FROM "people" AS "p0"'


def test_first_orders_by_the_primary_key_when_the_query_has_no_order() -> None:
    assert_both(query(Person).first(), f'{SELECT} ORDER BY "p0"."id" ASC LIMIT ?', [1])


def test_first_keeps_the_query_order_and_appends_its_terms() -> None:
    q = query(Person).order_by(Person.age.desc()).first(Person.name)
    assert_both(q, f'{SELECT} ORDER BY "p0"."age" DESC, "p0"."name" ASC LIMIT ?', [1])


def test_last_reverses_every_ordering_nulls_included() -> None:
    assert_both(query(Person).last(), f'{SELECT} ORDER BY "p0"."id" DESC LIMIT ?', [1])
    q = query(Person).order_by(Person.age.asc().nulls_first(), Person.name.desc()).last()
    assert_both(q, f'{SELECT} ORDER BY "p0"."age" DESC NULLS LAST, "p0"."name" ASC LIMIT ?', [1])


def test_reverse_order_without_a_primary_key_needs_an_order() -> None:
    names = query(subquery(query(Person).select({"n": Person.name})), as_="s")
    with pytest.raises(ValueError, match=r"last\(\) needs an order_by"):
        names.last()
    with pytest.raises(ValueError, match=r"first\(\) needs an order_by"):
        names.first()
    with pytest.raises(ValueError, match=r"reverse_order\(\) needs an order_by"):
        names.reverse_order()


def test_keyset_in_one_direction_is_one_row_comparison() -> None:
    q = query(Person).order_by(Person.name, Person.id).keyset(after=("ada", 7)).limit(20)
    assert_both(
        q,
        f'{SELECT} WHERE (("p0"."name", "p0"."id") > (?, ?))'
        ' ORDER BY "p0"."name" ASC, "p0"."id" ASC LIMIT ?',
        ["ada", 7, 20],
    )
    down = query(Person).order_by(Person.id.desc()).keyset(after=7)
    assert_both(down, f'{SELECT} WHERE ("p0"."id" < ?) ORDER BY "p0"."id" DESC', [7])
    back = query(Person).order_by(Person.id.desc()).keyset(before=7)
    assert_both(back, f'{SELECT} WHERE ("p0"."id" > ?) ORDER BY "p0"."id" DESC', [7])


def test_keyset_in_mixed_directions_expands_term_by_term() -> None:
    q = query(Person).order_by(Person.age.desc(), Person.id).keyset(after=(40, 3), before=(30, 9))
    assert_both(
        q,
        f'{SELECT} WHERE ((("p0"."age" < ?) OR (("p0"."age" = ?) AND ("p0"."id" > ?)))'
        ' AND (("p0"."age" > ?) OR (("p0"."age" = ?) AND ("p0"."id" < ?))))'
        ' ORDER BY "p0"."age" DESC, "p0"."id" ASC',
        [40, 40, 3, 30, 30, 9],
    )


def test_keyset_reads_a_cursor_record_and_binds_with_the_columns_types() -> None:
    last = Person(id=5, name="bo", balance=None)
    q = query(Person).order_by(Person.name, Person.id).keyset(after=last)
    _sql, params = to_sql(q, SQLITE)
    assert params == ["bo", 5]
    # An expression that is not a field of the root schema needs a tuple of values.
    by_lower = query(Person).order_by(lower(Person.name), Person.id)
    with pytest.raises(ValueError, match="give a tuple of values"):
        by_lower.keyset(after=last)
    assert to_sql(by_lower.keyset(after=("bo", 5)), SQLITE)[1] == ["bo", 5]


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: query(Person).keyset(after=1), ValueError, "needs an ordered query"),
        (
            lambda: query(Person).order_by(Person.id).union(query(Person)).keyset(after=1),
            ValueError,
            "cannot filter a union",
        ),
        (
            lambda: query(Person).order_by(Person.name, Person.id).keyset(after=("a",)),
            ValueError,
            r"1 value\(s\) for 2 order_by term\(s\)",
        ),
        (
            lambda: query(Person).order_by(Person.name, Person.id).keyset(after="a"),
            TypeError,
            "takes a tuple of 2 values",
        ),
        (
            lambda: query(Person).order_by(Person.age, Person.id).keyset(after=(None, 1)),
            ValueError,
            "NULL sort value",
        ),
        (
            lambda: (
                query(Person)
                .select(Person.name.label("n"))
                .order_by(Person.name.label("n"))
                .keyset(after="x")
            ),
            ValueError,
            "not by select labels",
        ),
    ],
)
def test_keyset_refuses_what_it_cannot_seek(
    build: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()


def test_keyset_without_a_cursor_is_the_query_itself() -> None:
    q = query(Person).order_by(Person.id)
    assert q.keyset() is q


def test_explain_prefixes_the_query_per_dialect() -> None:
    q = query(Entry).where(Entry.author_id == 3).select(Entry.title)
    inner = 'SELECT "e0"."title" FROM "entries" AS "e0" WHERE ("e0"."author_id" = ?)'
    compiled = assert_sql(Explain(q), SQLITE, f"EXPLAIN QUERY PLAN {inner}", [3])
    assert compiled.result is not None
    assert len(compiled.result.columns) == 4
    pg = assert_sql(
        Explain(q, analyze=True),
        POSTGRESQL,
        'EXPLAIN ANALYZE SELECT "e0"."title" FROM "entries" AS "e0" WHERE ("e0"."author_id" = $1)',
        [3],
    )
    assert pg.result is not None
    assert len(pg.result.columns) == 1


def test_explain_analyze_is_refused_on_sqlite_when_compiled() -> None:
    with pytest.raises(ValueError, match="sqlite cannot run a query to explain it"):
        to_sql(Explain(query(Entry), analyze=True), SQLITE)


def test_plan_text_indents_sqlite_trees_and_keeps_postgresql_lines() -> None:
    rows = [(2, 0, 0, "SCAN e0"), (5, 2, 0, "SEARCH n USING INDEX i"), (9, 0, 0, "USE TEMP")]
    assert plan_text(rows, SQLITE) == "SCAN e0\n  SEARCH n USING INDEX i\nUSE TEMP"
    assert plan_text([("Seq Scan on entries",), ("  Filter: x",)], POSTGRESQL) == (
        "Seq Scan on entries\n  Filter: x"
    )
