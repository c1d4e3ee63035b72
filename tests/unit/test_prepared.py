"""Prepared queries without a database: parameters' types, SQL, plans and their errors.

The runs against real databases are in ``tests/integration/test_prepared.py``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from repodb import EncodeError, param, prepare
from repodb._codec import row_decoder
from repodb._compile.cache import compile_statement
from repodb._repo.reads import aggregate_key, exists_query
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.driver.sqlite import CODECS as SQLITE_CODECS
from repodb.errors import DecodeError
from repodb.expr import Param
from repodb.query import query, to_sql
from repodb.types import optional, to_dbtype, tup

from .test_query_helpers import Person


def test_a_param_takes_the_type_of_what_it_is_compared_with() -> None:
    cond = Person.balance == param("b")
    right = cond.right  # type: ignore[attr-defined]
    assert isinstance(right, Param)
    assert (right.name, right.type_) == ("b", optional(to_dbtype(Decimal)))
    assert param("n", int).type_ == to_dbtype(int)
    # limit and offset take ints.
    limited = query(Person).limit(param("n"))
    assert isinstance(limited.limit_by, Param)
    assert limited.limit_by.type_ == to_dbtype(int)


def test_the_sql_is_the_query_s_with_placeholders_where_the_params_go() -> None:
    q = query(Person).where(Person.age > param("age"), name="Ada").limit(param("n"))
    prepared = prepare(q)
    plan = prepared.plan(SQLITE, SQLITE_CODECS)
    assert plan.sql == (
        'SELECT "p0"."id", "p0"."name", "p0"."age", "p0"."email_address", "p0"."score",'
        ' "p0"."balance", "p0"."data", "p0"."address", "p0"."born" FROM "people" AS "p0"'
        ' WHERE (("p0"."age" > ?) AND ("p0"."name" = ?)) LIMIT ?'
    )
    assert prepared.values({"age": 30, "n": 5}) == (30, "Ada", 5)
    assert plan.encode(prepared.values({"age": 30, "n": 5})) == [30, "Ada", 5]
    # One plan per dialect and codec table, built once.
    assert prepared.plan(SQLITE, SQLITE_CODECS) is plan
    assert prepared.plan(POSTGRESQL, SQLITE_CODECS).sql.endswith("LIMIT $3")
    # The query itself still holds its parameters, unbound: it runs only prepared.
    assert prepared.query is q


def test_to_sql_shows_where_the_parameters_go_or_the_values_a_run_sends() -> None:
    q = query(Person).where(Person.age > param("age"), name="Ada").limit(param("n"))
    prepared = prepare(q)
    sql, values = to_sql(prepared, SQLITE)
    assert sql == prepared.plan(SQLITE, SQLITE_CODECS).sql
    assert repr(values) == "[param('age'), 'Ada', param('n')]"
    # The query itself, unprepared, shows the same.
    assert repr(to_sql(q, SQLITE)) == repr((sql, values))
    assert to_sql(prepared, POSTGRESQL, {"age": 30, "n": 5}) == (
        sql.replace("?", "$1", 1).replace("?", "$2", 1).replace("?", "$3", 1),
        [30, "Ada", 5],
    )
    assert to_sql(q, SQLITE, {"age": 30, "n": 5}) == (sql, [30, "Ada", 5])
    with pytest.raises(EncodeError, match=r"missing 'n' \(it takes 'age', 'n'\)"):
        to_sql(prepared, SQLITE, {"age": 30})
    with pytest.raises(EncodeError, match=r"unknown 'x' \(it takes none\)"):
        to_sql(query(Person), SQLITE, {"x": 1})
    with pytest.raises(TypeError, match="with a query or a prepared query, not"):
        to_sql(Person.age == param("age"), SQLITE, {"age": 1})  # type: ignore[arg-type]
    # Running the unprepared query is what fails, and says how.
    with pytest.raises(EncodeError, match=r"has parameters \(age, n\): a query with param"):
        compile_statement(q, SQLITE)


def test_a_derived_query_is_prepared_once_and_takes_the_parameters_of_its_source() -> None:
    prepared = prepare(
        query(Person).where(Person.age > param("age")).select(Person.age + param("bonus", int))
    )
    probe = prepared.derived("exists", exists_query)
    assert prepared.derived("exists", exists_query) is probe
    assert probe.names == prepared.names == frozenset({"age", "bonus"})
    # The probe drops the select list, and the parameter in it, yet takes its value.
    assert probe.values({"age": 30, "bonus": 2}) == (30, 1)
    with pytest.raises(EncodeError, match="missing 'bonus'"):
        probe.values({"age": 30})
    # An aggregate of one column is one derivation, however the column is reached.
    key = aggregate_key("sum", Person.age)
    assert key == aggregate_key("sum", Person.age)
    assert key != aggregate_key("max", Person.age) != aggregate_key("sum", Person.score)
    assert aggregate_key("count", None) == ("aggregate", "count", None)


def test_parameter_errors_are_clear() -> None:
    prepared = prepare(query(Person).where(Person.age == param("age")))
    with pytest.raises(EncodeError, match=r"missing 'age' \(it takes 'age'\)"):
        prepared.values({})
    with pytest.raises(EncodeError, match=r"missing 'age'; unknown 'agee'"):
        prepared.values({"agee": 1})
    with pytest.raises(TypeError, match="as a mapping"):
        prepared.values((1,))
    plan = prepared.plan(SQLITE, SQLITE_CODECS)
    with pytest.raises(EncodeError, match=r"parameter 'age': expected optional\(int\)|'age'"):
        plan.encode(prepared.values({"age": "x"}))
    assert plan.encode(prepared.values({"age": None})) == [None]


def test_what_cannot_be_prepared_says_why() -> None:
    with pytest.raises(TypeError, match=r"param\('x'\) has no type"):
        prepare(query(Person).where(param("x") == Person.age))
    with pytest.raises(ValueError, match="without preloads"):
        prepare(query(Person).preload("entries"))
    with pytest.raises(TypeError, match="one param\\(\\) per item"):
        Person.id.in_(param("ids"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="identifier"):
        param("not a name")
    with pytest.raises(TypeError, match="takes a query"):
        prepare("SELECT 1")  # type: ignore[arg-type]


def test_a_redacted_field_hides_its_parameter() -> None:
    from tests.integration.repo_models import Member

    prepared = prepare(query(Member).where(Member.password == param("p")))
    assert prepared.plan(SQLITE, SQLITE_CODECS).hidden == (True,)


ROW = tup(int, optional(int), Decimal, dt.datetime, bool, dict[str, Any])
GOOD = (1, None, "2.50", "2026-05-01 10:30:15.000000+00:00", 1, '{"a": 1}')


def test_one_row_decodes_as_a_list_does_and_fails_the_same_way() -> None:
    one, many = row_decoder(ROW, SQLITE_CODECS)
    expected = (
        1,
        None,
        Decimal("2.50"),
        dt.datetime(2026, 5, 1, 10, 30, 15, tzinfo=dt.UTC),
        True,
        {"a": 1},
    )
    assert one(GOOD) == expected
    assert many([GOOD, GOOD]) == [expected, expected]
    # Text without an offset is UTC, through the checked path.
    assert one((*GOOD[:3], "2026-05-01 10:30:15", *GOOD[4:]))[3].tzinfo is dt.UTC
    bad = [
        ((1, None, None, *GOOD[3:]), "NULL for non-optional"),
        ((1, None, "x", *GOOD[3:]), "cannot decode"),
        (("1", *GOOD[1:]), "declared int"),
        ((1, 2.5, *GOOD[2:]), "declared optional"),
        ((*GOOD[:4], 7, GOOD[5]), "cannot decode"),
        (GOOD[:5], "expected 6 columns"),
    ]
    for row, message in bad:
        with pytest.raises(DecodeError, match=message):
            one(row)
        with pytest.raises(DecodeError, match=message):
            many([row])
