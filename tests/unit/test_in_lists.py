"""``x.in_([...])`` of plain values: one node, one type and one redaction flag for the list.

A list of values compared with a typed expression binds every value with
that expression's type (and its ``redact`` flag); its shape is its length,
so lists of one length share a compiled statement whatever their values. A
list holding expressions, or compared with an untyped column, keeps a node
per item, each typed by itself. Long lists are encoded at once, and a value
that does not fit still fails as it would alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from repodb import EncodeError
from repodb._compile import cache
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.driver import postgresql, sqlite
from repodb.expr import InList, InValues
from repodb.query import compile_statement, query, ref, subquery, to_sql
from repodb.schema import Col, Schema, field
from repodb.types import optional, to_dbtype

from .test_query_helpers import Entry, Person, assert_both


class Vault(Schema, table="vaults"):
    id: Col[int] = field(primary_key=True, default=None)
    owner: Col[str]
    code: Col[str] = field(redact=True)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.clear_cache()
    yield
    cache.clear_cache()


def test_values_share_the_column_type() -> None:
    q = query(Person).where(Person.age.in_([30, 40, 50])).select(Person.id)
    assert_both(
        q,
        'SELECT "p0"."id" FROM "people" AS "p0" WHERE ("p0"."age" IN (?, ?, ?))',
        [30, 40, 50],
    )
    compiled = compile_statement(q, SQLITE)
    assert compiled.types == (optional(int),) * 3
    assert compiled.hidden == (False, False, False)
    condition = q.wheres[0][1]
    assert isinstance(condition, InValues)
    assert condition.values == (30, 40, 50)


def test_not_in_and_empty_lists() -> None:
    assert_both(
        query(Person).where(Person.name.not_in(("a", "b"))).select(Person.id),
        'SELECT "p0"."id" FROM "people" AS "p0" WHERE ("p0"."name" NOT IN (?, ?))',
        ["a", "b"],
    )
    assert to_sql(query(Person).where(Person.id.in_([])).select(Person.id), SQLITE) == (
        'SELECT "p0"."id" FROM "people" AS "p0" WHERE (1 = 0)',
        [],
    )
    assert to_sql(query(Person).where(Person.id.not_in([])).select(Person.id), SQLITE) == (
        'SELECT "p0"."id" FROM "people" AS "p0" WHERE (1 = 1)',
        [],
    )


def test_any_iterable_is_read_once() -> None:
    q = query(Person).where(Person.id.in_(i * 2 for i in range(3)))
    assert compile_statement(q, SQLITE).params == (0, 2, 4)
    assert compile_statement(q, POSTGRESQL).params == (0, 2, 4)


def test_one_length_is_one_statement_whatever_the_values() -> None:
    for keys in ([1, 2, 3], [7, 8, 9], [3, 2, 1]):
        compiled = compile_statement(query(Person).where(Person.id.in_(keys)), SQLITE)
        assert compiled.params == tuple(keys)
    assert cache.cache_info() == cache.CacheInfo(hits=2, misses=1, size=1)
    compile_statement(query(Person).where(Person.id.in_([1, 2])), SQLITE)
    compile_statement(query(Person).where(Person.id.not_in([1, 2])), SQLITE)
    assert cache.cache_info().misses == 3


def test_a_redacted_field_hides_every_value() -> None:
    q = query(Vault).where(Vault.code.in_(["s1", "s2"]), Vault.owner.in_(["ada"]))
    assert compile_statement(q, SQLITE).hidden == (True, True, False)
    # The same list against a visible field is another statement.
    visible = query(Vault).where(Vault.owner.in_(["s1", "s2"]), Vault.owner.in_(["ada"]))
    assert compile_statement(visible, SQLITE).hidden == (False, False, False)
    assert cache.cache_info().misses == 2


def test_a_list_holding_expressions_keeps_a_node_per_item() -> None:
    # Untyped code can mix them; the type checker allows values only.
    q = query(Person).where(Person.age.in_([1, Person.id])).select(Person.id)  # type: ignore[list-item]
    condition = q.wheres[0][1]
    assert isinstance(condition, InList)
    assert_both(
        q,
        'SELECT "p0"."id" FROM "people" AS "p0" WHERE ("p0"."age" IN (?, "p0"."id"))',
        [1],
    )


def test_an_untyped_column_types_each_value_by_itself() -> None:
    names = query(subquery(query(Person).select({"n": Person.name})), as_="s")
    q = names.where(ref("s").n.in_(["a", 1])).select(ref("s").n)
    condition = q.wheres[0][1]
    assert isinstance(condition, InList)
    assert compile_statement(q, SQLITE).types == (to_dbtype(str), to_dbtype(int))


def test_result_type_may_be_null_when_the_column_may() -> None:
    assert Entry.author_id.in_([1]).dbtype == to_dbtype(bool)
    assert Entry.author_id.in_([]).dbtype == to_dbtype(bool)
    assert Person.age.in_([1]).dbtype == optional(bool)


@pytest.mark.parametrize("codecs", [sqlite.CODECS, postgresql.CODECS], ids=["sqlite", "pg"])
def test_long_lists_encode_at_once_and_still_check_each_value(codecs: Any) -> None:
    keys = list(range(100))
    assert (
        compile_statement(query(Person).where(Person.id.in_(keys)), SQLITE).encode(codecs) == keys
    )
    for bad, match in [("7", "got str"), (True, "got bool"), (2**63, "64-bit")]:
        items: list[Any] = [*keys[:50], bad, *keys[50:]]
        q = query(Person).where(Person.id.in_(items))
        with pytest.raises(EncodeError, match=match):
            compile_statement(q, SQLITE).encode(codecs)
    # A NULL only where the column allows one.
    with_null: list[Any] = [*keys, None]
    not_null = query(Entry).where(Entry.author_id.in_(with_null))
    with pytest.raises(EncodeError, match="got None"):
        compile_statement(not_null, SQLITE).encode(codecs)
    nullable = query(Person).where(Person.age.in_([*keys, None]))
    assert compile_statement(nullable, SQLITE).encode(codecs) == [*keys, None]
