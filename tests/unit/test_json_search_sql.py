"""Golden SQL of JSON tests (key existence, containment) and full-text search.

Key existence is jsonb's ``?`` on PostgreSQL and ``json_type`` on SQLite;
containment (``@>``) and full-text search are PostgreSQL's, refused on SQLite
by name when the query is compiled. A text-search configuration is written in
place, checked, so that a query's ``to_tsvector`` is the expression a
migration's ``create_index(..., search=config)`` indexes; the last tests
check that both write the same text.
"""

from __future__ import annotations

from typing import Any

import pytest

from repodb._migration.ddl import operation_sql
from repodb._migration.ops import CreateIndex
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.functions import (
    json_contains,
    json_get,
    json_has_key,
    to_tsquery,
    to_tsvector,
    ts_match,
    ts_rank,
)
from repodb.query import query, to_sql
from repodb.schema import Col, Schema, field
from repodb.types import Kind

from .test_query_helpers import assert_sql


class Doc(Schema, table="docs"):
    id: Col[int] = field(primary_key=True, default=None)
    title: Col[str]
    body: Col[str | None] = field(default=None)
    meta: Col[dict[str, Any] | None] = field(default=None)


WHERE = 'SELECT "d0"."id" FROM "docs" AS "d0" WHERE '
META = '"d0"."meta"'
SQLITE_HAS_KEY = (
    '(SELECT CASE WHEN "_j" IS NULL THEN NULL ELSE json_type("_j", \'$."\' || "_k" || \'"\')'
    ' IS NOT NULL END FROM (SELECT {j} AS "_j", ? AS "_k"))'
)


def where(condition: Any) -> Any:
    return query(Doc).where(condition).select(Doc.id)


def test_has_key_on_each_database() -> None:
    q = where(json_has_key(Doc.meta, "tags"))
    assert_sql(q, POSTGRESQL, WHERE + f"({META} ? CAST($1 AS text))", ["tags"])
    assert_sql(q, SQLITE, WHERE + SQLITE_HAS_KEY.format(j=META), ["tags"])


def test_has_key_deeper_down_binds_the_path_then_the_key() -> None:
    q = where(json_has_key(json_get(Doc.meta, "user", "address"), "zip"))
    pg_path = f"(({META} -> CAST($1 AS text)) -> CAST($2 AS text))"
    assert_sql(q, POSTGRESQL, WHERE + f"({pg_path} ? CAST($3 AS text))", ["user", "address", "zip"])
    lite_path = f"(({META} -> ('$.\"' || ? || '\"')) -> ('$.\"' || ? || '\"'))"
    assert_sql(q, SQLITE, WHERE + SQLITE_HAS_KEY.format(j=lite_path), ["user", "address", "zip"])


def test_contains_binds_json_and_is_postgresql_only() -> None:
    q = where(json_contains(Doc.meta, {"tags": ["a"], "user": {"id": 7}}))
    value = {"tags": ["a"], "user": {"id": 7}}
    compiled = assert_sql(q, POSTGRESQL, WHERE + f"({META} @> CAST($1 AS jsonb))", [value])
    bound = compiled.types[0]
    assert bound is not None
    assert bound.kind is Kind.JSON
    with pytest.raises(ValueError, match=r"sqlite has no JSON operation 'contains'.*json_get"):
        to_sql(q, SQLITE)


def test_json_tests_are_nullable_truth_values_and_check_their_arguments() -> None:
    found = json_has_key(Doc.meta, "k").dbtype
    assert found is not None
    assert found.kind is Kind.OPTIONAL
    with pytest.raises(TypeError, match="json_has_key"):
        json_has_key(Doc.meta, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="json_contains"):
        json_contains({"a": 1}, {"a": 1})  # type: ignore[arg-type]


VECTOR = (
    "to_tsvector('english', coalesce(\"d0\".\"title\", '') || ' ' || coalesce(\"d0\".\"body\", ''))"
)


def test_search_match_and_rank() -> None:
    vector = to_tsvector("english", Doc.title, Doc.body)
    search = to_tsquery("english", "fat cats")
    q = (
        query(Doc)
        .where(ts_match(vector, search))
        .order_by(ts_rank(vector, search).desc())
        .select(Doc.id)
    )
    assert_sql(
        q,
        POSTGRESQL,
        WHERE + f"({VECTOR} @@ plainto_tsquery('english', $1))"
        f" ORDER BY ts_rank({VECTOR}, plainto_tsquery('english', $2)) DESC",
        ["fat cats", "fat cats"],
    )


@pytest.mark.parametrize(
    ("syntax", "function"),
    [
        ("plain", "plainto_tsquery"),
        ("raw", "to_tsquery"),
        ("phrase", "phraseto_tsquery"),
        ("web", "websearch_to_tsquery"),
    ],
)
def test_query_syntaxes(syntax: Any, function: str) -> None:
    q = where(ts_match(to_tsvector("simple", Doc.title), to_tsquery("simple", "x", syntax=syntax)))
    sql = WHERE + f"(to_tsvector('simple', \"d0\".\"title\") @@ {function}('simple', $1))"
    assert_sql(q, POSTGRESQL, sql, ["x"])


def test_search_refuses_bad_configurations_syntaxes_and_sqlite() -> None:
    with pytest.raises(ValueError, match="configuration name"):
        to_tsvector("english'); DROP TABLE docs; --", Doc.title)
    with pytest.raises(ValueError, match="unknown to_tsquery syntax"):
        to_tsquery("english", "x", syntax="fuzzy")  # type: ignore[arg-type]
    q = where(ts_match(to_tsvector("english", Doc.title), to_tsquery("english", "x")))
    with pytest.raises(ValueError, match=r"sqlite has no full-text search.*FTS5"):
        to_sql(q, SQLITE)


def test_a_search_index_indexes_the_expression_queries_write() -> None:
    index = CreateIndex("docs", ("title", "body"), using="gin", search="english")
    (ddl,) = operation_sql(POSTGRESQL, index)
    unqualified = VECTOR.replace('"d0".', "")
    assert ddl == f'CREATE INDEX "docs_title_body_index" ON "docs" USING gin ({unqualified})'
    single = CreateIndex("docs", ("title",), using="gin", search="simple")
    assert operation_sql(POSTGRESQL, single) == [
        'CREATE INDEX "docs_title_index" ON "docs" USING gin (to_tsvector(\'simple\', "title"))'
    ]


def test_a_gin_index_is_a_plain_one_on_sqlite() -> None:
    index = CreateIndex("docs", ("meta",), using="gin")
    assert operation_sql(POSTGRESQL, index) == [
        'CREATE INDEX "docs_meta_index" ON "docs" USING gin ("meta")'
    ]
    assert operation_sql(SQLITE, index) == ['CREATE INDEX "docs_meta_index" ON "docs" ("meta")']
    with pytest.raises(ValueError, match="takes a name"):
        CreateIndex("docs", ("meta",), using="gin (meta); --")
