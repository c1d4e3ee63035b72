"""Golden SQL of a tenant's prefix: ``Dialect.with_prefix`` qualifies unprefixed tables.

The prefix is part of the compiled-SQL cache key, so two tenants' statements
never share an entry; a schema's own ``prefix=`` wins over the tenant's.
"""

from __future__ import annotations

import pytest

from repodb._compile.cache import compile_statement
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.query import query
from repodb.schema import Col, Schema, field
from repodb.write import insert_all


class Ledger(Schema, table="ledgers"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]


class Shared(Schema, table="plans", prefix="public"):
    id: Col[int] = field(primary_key=True, default=None)


def test_unprefixed_tables_are_written_in_the_tenant() -> None:
    q = query(Ledger).where(Ledger.name == "x").select(Ledger.id)
    assert compile_statement(q, POSTGRESQL.with_prefix("t1")).sql == (
        'SELECT "l0"."id" FROM "t1"."ledgers" AS "l0" WHERE ("l0"."name" = $1)'
    )
    assert compile_statement(q, SQLITE.with_prefix("t2")).sql == (
        'SELECT "l0"."id" FROM "t2"."ledgers" AS "l0" WHERE ("l0"."name" = ?)'
    )
    # The same shape for another tenant (and for none) is another cache entry.
    assert '"t3"."ledgers"' in compile_statement(q, POSTGRESQL.with_prefix("t3")).sql
    assert 'FROM "ledgers"' in compile_statement(q, POSTGRESQL).sql
    ins = insert_all(Ledger, [{"name": "a"}])
    assert compile_statement(ins, POSTGRESQL.with_prefix("t1")).sql.startswith(
        'INSERT INTO "t1"."ledgers"'
    )


def test_a_schema_s_own_prefix_wins() -> None:
    sql = compile_statement(query(Shared).select(Shared.id), POSTGRESQL.with_prefix("t1")).sql
    assert sql == 'SELECT "p0"."id" FROM "public"."plans" AS "p0"'


def test_prefixed_dialects_are_kept_and_checked() -> None:
    assert POSTGRESQL.with_prefix("t1") is POSTGRESQL.with_prefix("t1")
    assert POSTGRESQL.with_prefix(None) is POSTGRESQL
    with pytest.raises(ValueError, match="63"):
        POSTGRESQL.with_prefix("t" * 64)
    with pytest.raises(ValueError, match="a prefix is a schema's name"):
        POSTGRESQL.with_prefix("")
