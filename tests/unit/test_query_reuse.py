"""What queries share to build and compile cheaply, and why sharing never leaks.

Builder steps copy the query they start from (``replace_query``), which
stays as it was; every query of a schema starts from one shared root, which
is safe because queries never change; a select list walks its shape once
and keeps it; the compiled-SQL cache finds entries by the shape's hash and
checks the shape itself, so two shapes of one hash never share SQL. A
compiled statement takes new values of the same types (``with_params``),
and its parameters are encoded per type, long runs at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from repodb import EncodeError
from repodb._compile import cache
from repodb._compile.cache import compile_uncached, params_encoder
from repodb.dialect import SQLITE
from repodb.driver import sqlite
from repodb.functions import upper
from repodb.query import Query, compile_statement, query, replace_query, to_sql
from repodb.types import optional, to_dbtype

from .test_query_helpers import Entry, Person, assert_sql


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.clear_cache()
    yield
    cache.clear_cache()


def test_builder_steps_leave_the_query_they_start_from() -> None:
    base = query(Person).where(Person.age > 30)
    steps: list[Query[Any]] = [
        base.where(Person.name == "a"),
        base.order_by(Person.name),
        base.limit(3),
        base.select(Person.id),
        base.preload("entries"),
    ]
    assert len(base.wheres) == 1
    assert (base.orders, base.limit_by, base.selected, base.preloads) == ((), None, None, ())
    assert [len(s.wheres) for s in steps] == [2, 1, 1, 1, 1]
    assert to_sql(base, SQLITE) == (
        'SELECT "p0"."id", "p0"."name", "p0"."age", "p0"."email_address", "p0"."score",'
        ' "p0"."balance", "p0"."data", "p0"."address", "p0"."born" FROM "people" AS "p0"'
        ' WHERE ("p0"."age" > ?)',
        [30],
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.limit_by = None  # type: ignore[misc]


def test_replace_query_copies_and_checks_field_names() -> None:
    q = query(Person).where(Person.age > 1)
    limited = replace_query(q, limit_by=q.wheres[0][1], orders=())
    assert limited.limit_by is q.wheres[0][1]
    assert limited.wheres == q.wheres
    assert q.limit_by is None
    with pytest.raises(TypeError, match="no field 'limit'"):
        replace_query(q, limit=3)


def test_every_query_of_a_schema_starts_from_one_root() -> None:
    assert query(Person) is query(Person)
    assert query(Person, as_="p") is query(Person, as_="p")
    assert query(Person, as_="p") is not query(Person)
    assert query(Person).where(Person.age > 1) is not query(Person)
    assert query(Person).wheres == ()


def test_a_select_list_walks_its_values_every_time() -> None:
    # select_merge builds a new record item holding a bound value each time.
    for name in ("ada", "bob"):
        q = query(Person).select_merge(nickname=name, name=upper(Person.name))
        compiled = compile_statement(q, SQLITE)
        assert compiled.params == (name,)
        assert_sql(q, SQLITE, compiled.sql, [name])
    assert cache.cache_info() == cache.CacheInfo(hits=3, misses=1, size=1)
    # The same query compiled again collects the same values.
    q = query(Person).select_merge(nickname="cy")
    assert compile_statement(q, SQLITE).params == compile_statement(q, SQLITE).params == ("cy",)


def test_shapes_of_one_hash_never_share_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every shape collides: each one must still get its own SQL.
    monkeypatch.setattr(cache, "hash", lambda shape: 7, raising=False)
    one = query(Person).where(Person.age > 1)
    other = query(Entry).where(Entry.title == "x")
    for q in (one, other, one, other):
        fresh = compile_uncached(q, SQLITE)
        compiled = compile_statement(q, SQLITE)
        assert (compiled.sql, compiled.params) == (fresh.sql, fresh.params)
    assert cache.cache_info() == cache.CacheInfo(hits=0, misses=4, size=1)


def test_with_params_keeps_the_statement_and_its_types() -> None:
    compiled = compile_statement(query(Entry).where(Entry.title == "a", Entry.id == 1), SQLITE)
    again = compiled.with_params(("b", 2))
    assert (again.sql, again.types, again.hidden) == (compiled.sql, compiled.types, compiled.hidden)
    assert again.params == ("b", 2)
    assert again.encode(sqlite.CODECS) == ["b", 2]
    with pytest.raises(ValueError, match="2 parameters, not 1"):
        compiled.with_params(("b",))
    with pytest.raises(EncodeError, match="got int"):
        compiled.with_params((3, 2)).encode(sqlite.CODECS)


def test_parameters_encode_per_type_with_long_runs_at_once() -> None:
    text, key = to_dbtype(str), optional(int)
    types = (text, *[key] * 40, None, text, *[text] * 3)
    encode = params_encoder(types, sqlite.CODECS)
    params = ("a", *range(40), object, "b", "c", "d", "e")
    assert encode(params) == list(params)
    with pytest.raises(EncodeError, match="got str"):
        encode(("a", *range(39), "x", object, "b", "c", "d", "e"))
    short = params_encoder((text, key), sqlite.CODECS)
    assert short(("a", None)) == ["a", None]
    with pytest.raises(EncodeError, match="got int"):
        short((1, None))
