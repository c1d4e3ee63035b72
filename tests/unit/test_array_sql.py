"""Golden SQL of array operations: membership, contains, overlaps, append and remove.

PostgreSQL has native arrays and operators; on SQLite arrays are JSON text,
read with ``json_each``. Every template binds its operands once each, in
one order on both dialects, which the last test checks.
"""

from __future__ import annotations

import string
from typing import Any

import pytest

from repodb.dialect import POSTGRESQL, SQLITE
from repodb.functions import array_append, array_contains, array_has, array_overlaps, array_remove
from repodb.query import query
from repodb.schema import Col, Schema, field
from repodb.types import Kind
from repodb.write import pull, push, update_all

from .test_query_helpers import assert_sql


class Sheet(Schema, table="sheets"):
    id: Col[int] = field(primary_key=True, default=None)
    labels: Col[list[str]]
    counts: Col[list[int] | None] = field(default=None)
    name: Col[str] = field(default="")


FROM = ' FROM "sheets" AS "s0"'
LABELS = '"s0"."labels"'
SQLITE_HAS = (
    '(SELECT CASE WHEN "_a" IS NULL THEN NULL ELSE "_x" IN (SELECT "value" FROM json_each("_a"))'
    ' END FROM (SELECT {x} AS "_x", {a} AS "_a"))'
)
SQLITE_CONTAINS = (
    '(SELECT CASE WHEN "_a" IS NULL OR "_x" IS NULL THEN NULL ELSE NOT EXISTS (SELECT 1'
    ' FROM json_each("_x") WHERE "value" NOT IN (SELECT "value" FROM json_each("_a"))) END'
    ' FROM (SELECT {x} AS "_x", {a} AS "_a"))'
)
SQLITE_OVERLAPS = (
    '(SELECT CASE WHEN "_a" IS NULL OR "_x" IS NULL THEN NULL ELSE EXISTS (SELECT 1'
    ' FROM json_each("_x") WHERE "value" IN (SELECT "value" FROM json_each("_a"))) END'
    ' FROM (SELECT {x} AS "_x", {a} AS "_a"))'
)


def where(cond: Any, sqlite: str, postgresql: str, params: list[Any]) -> None:
    stmt = query(Sheet).where(cond).select(Sheet.id)
    assert_sql(stmt, SQLITE, f'SELECT "s0"."id"{FROM} WHERE {sqlite}', params)
    assert_sql(stmt, POSTGRESQL, f'SELECT "s0"."id"{FROM} WHERE {postgresql}', params)


def test_membership() -> None:
    where(
        array_has(Sheet.labels, "x"),
        SQLITE_HAS.format(x="?", a=LABELS),
        f"($1 = ANY({LABELS}))",
        ["x"],
    )
    where(
        array_has(Sheet.labels, Sheet.name),
        SQLITE_HAS.format(x='"s0"."name"', a=LABELS),
        f'("s0"."name" = ANY({LABELS}))',
        [],
    )


def test_contains_and_overlaps_bind_the_list_as_an_array() -> None:
    where(
        array_contains(Sheet.labels, ["a", "b"]),
        SQLITE_CONTAINS.format(x="?", a=LABELS),
        f"($1 <@ {LABELS})",
        [["a", "b"]],
    )
    where(
        array_overlaps(Sheet.counts, [1, 2]),
        SQLITE_OVERLAPS.format(x="?", a='"s0"."counts"'),
        '($1 && "s0"."counts")',
        [[1, 2]],
    )
    compiled = assert_sql(
        query(Sheet).where(array_overlaps(Sheet.counts, [1])).select(Sheet.id),
        SQLITE,
        f'SELECT "s0"."id"{FROM} WHERE ' + SQLITE_OVERLAPS.format(x="?", a='"s0"."counts"'),
        [[1]],
    )
    bound = compiled.types[0]
    assert bound is not None
    assert bound.kind is Kind.ARRAY


def test_push_and_pull_in_update_all() -> None:
    stmt = update_all(
        query(Sheet).where(Sheet.id == 1), push(Sheet.labels, "new"), pull(Sheet.counts, 3)
    )
    assert_sql(
        stmt,
        SQLITE,
        'UPDATE "sheets" AS "s0" SET "labels" = json_insert(coalesce("s0"."labels", \'[]\'),'
        ' \'$[#]\', ?), "counts" = (SELECT CASE WHEN "_a" IS NULL THEN NULL ELSE'
        ' (SELECT json_group_array("value") FROM json_each("_a") WHERE "value" IS NOT "_x") END'
        ' FROM (SELECT "s0"."counts" AS "_a", ? AS "_x")) WHERE ("s0"."id" = ?)',
        ["new", 3, 1],
    )
    assert_sql(
        stmt,
        POSTGRESQL,
        'UPDATE "sheets" AS "s0" SET "labels" = array_append("s0"."labels", $1),'
        ' "counts" = array_remove("s0"."counts", $2) WHERE ("s0"."id" = $3)',
        ["new", 3, 1],
    )


def test_append_and_remove_keep_the_array_type() -> None:
    appended = array_append(Sheet.labels, "x").dbtype
    assert appended is not None
    assert appended.kind is Kind.ARRAY
    removed = array_remove(Sheet.counts, 1).dbtype
    assert removed is not None
    assert removed.kind is Kind.OPTIONAL


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: array_has(Sheet.name, "x"), TypeError, r"takes an array column .* not a str"),  # type: ignore[arg-type]
        (lambda: array_contains(Sheet.labels, "ab"), TypeError, "takes a list of values"),
        (lambda: array_overlaps(Sheet.labels, 3), TypeError, "takes a list of values"),  # type: ignore[arg-type]
        (lambda: push(Sheet.name, "x"), TypeError, r"array_append\(\) takes an array column"),  # type: ignore[arg-type]
        (lambda: pull("labels", "x"), TypeError, "pull takes an array column"),  # type: ignore[arg-type]
    ],
)
def test_misuse_fails_when_built(build: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build()


def test_every_template_binds_its_operands_once_in_the_shared_order() -> None:
    order = {"has": ["x", "a"], "contains": ["x", "a"], "overlaps": ["x", "a"]}
    order |= {"append": ["a", "x"], "remove": ["a", "x"]}
    for dialect in (SQLITE, POSTGRESQL):
        assert {form for form, _ in dialect.array_ops} == set(order)
        for form, names in order.items():
            found = [f for _, f, _, _ in string.Formatter().parse(dialect.array_op(form)) if f]
            assert found == names, (dialect.name, form)
