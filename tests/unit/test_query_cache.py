"""The compiled-SQL cache: same shape, other values -> no recompilation; bounded LRU.

A statement's shape is everything its SQL, parameter types and result
shape depend on, and nothing else; these tests pin both halves.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from repodb._compile import cache
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.expr import Expr, Statement
from repodb.functions import fragment
from repodb.query import compile_statement, query, to_sql
from repodb.write import insert_all, update_all

from .test_query_helpers import Entry, Node, Person


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.clear_cache()
    yield
    cache.clear_cache()


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Statement]:
    """The statements the cache had to compile, in order."""
    seen: list[Statement] = []
    real = cache._build

    def counting(statement: Statement, dialect: Any, expected: int) -> Any:
        seen.append(statement)
        return real(statement, dialect, expected)

    monkeypatch.setattr(cache, "_build", counting)
    return seen


def by_title(title: str, limit: int) -> Statement:
    return query(Entry).where(Entry.title == title, Entry.published).order_by(Entry.id).limit(limit)


def test_the_same_shape_with_other_values_is_not_compiled_again(builds: list[Statement]) -> None:
    first = compile_statement(by_title("a", 1), SQLITE)
    second = compile_statement(by_title("b", 50), SQLITE)
    assert len(builds) == 1
    assert second.sql == first.sql
    assert (first.params, second.params) == (("a", 1), ("b", 50))
    assert second.types == first.types
    assert cache.cache_info() == cache.CacheInfo(hits=1, misses=1, size=1)


def test_each_dialect_has_its_own_entry(builds: list[Statement]) -> None:
    compile_statement(by_title("a", 1), SQLITE)
    compile_statement(by_title("a", 1), POSTGRESQL)
    compile_statement(by_title("b", 2), POSTGRESQL)
    assert len(builds) == 2
    assert cache.cache_info().hits == 1


def test_writes_are_cached_too(builds: list[Statement]) -> None:
    one = update_all(query(Node).where(Node.id == 1), set={"label": "a"})
    other = update_all(query(Node).where(Node.id == 2), set={"label": "b"})
    assert to_sql(one, SQLITE)[0] == to_sql(other, SQLITE)[0]
    rows = insert_all(Node, [{"label": "a"}, {"label": "b"}])
    more_rows = insert_all(Node, [{"label": "c"}, {"label": "d"}])
    assert to_sql(more_rows, SQLITE)[1] == ["c", "d"]
    to_sql(rows, SQLITE)
    assert len(builds) == 2


def test_a_fresh_compilation_agrees_with_the_cached_one() -> None:
    q = by_title("a", 1)
    compile_statement(by_title("zzz", 9), SQLITE)
    cached = compile_statement(q, SQLITE)
    fresh = cache.compile_uncached(q, SQLITE)
    assert (cached.sql, cached.params, cached.types) == (fresh.sql, fresh.params, fresh.types)
    assert cached.result == fresh.result


@pytest.mark.parametrize(
    ("one", "other"),
    [
        # A None comparison is IS NULL, not a bound value.
        (Node.parent_id == 1, Node.parent_id == None),  # noqa: E711
        # The length of an IN list is structure.
        (Node.id.in_([1, 2]), Node.id.in_([1, 2, 3])),
        # The same text with another declared result type.
        (fragment("?", Node.id), fragment("?", Node.id, type_=str)),
        # Values of other types bind with other codecs.
        (fragment("? = 1", 1), fragment("? = 1", "1")),
        (Node.label == "a", Node.id == 1),
    ],
)
def test_other_shapes_are_other_entries(
    builds: list[Statement], one: Expr[Any], other: Expr[Any]
) -> None:
    compile_statement(query(Node).where(one), SQLITE)
    compile_statement(query(Node).where(other), SQLITE)
    assert len(builds) == 2


def test_the_cache_is_a_bounded_lru(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    shapes = [query(Node).where(Node.id.in_(range(n))) for n in range(1, 6)]
    for q in shapes[:3]:
        compile_statement(q, SQLITE)
    compile_statement(shapes[0], SQLITE)  # now the most recently used
    compile_statement(shapes[3], SQLITE)  # evicts shapes[1], the least recently used
    assert cache.cache_info().size == 3
    misses = cache.cache_info().misses
    compile_statement(shapes[0], SQLITE)
    assert cache.cache_info().misses == misses
    compile_statement(shapes[1], SQLITE)
    assert cache.cache_info().misses == misses + 1
    assert cache.cache_info().size == 3


def test_clear_cache_resets_the_counters() -> None:
    compile_statement(query(Node), SQLITE)
    cache.clear_cache()
    assert cache.cache_info() == cache.CacheInfo(0, 0, 0)


def test_compiled_encodes_parameters_with_a_drivers_codecs() -> None:
    from repodb.driver import sqlite

    q = query(Person).where(Person.balance > Decimal(1), Person.name == "a")
    compiled = compile_statement(q, SQLITE)
    # SQLite stores Decimals as text; the column's codec converts the int.
    assert compiled.encode(sqlite.CODECS) == ["1", "a"]
    untyped = compile_statement(query(Person).where(fragment("? = ?", Person.id, 1)), SQLITE)
    assert untyped.encode(sqlite.CODECS) == [1]
