"""Schemas declare their indexes with ``indexes=(index(...),)``.

Covered: ``index`` records columns, uniqueness, name and predicate;
``schema_info`` exposes a schema's declarations (none by default); a value
that is not an ``index(...)`` and an index without columns are refused.
"""

from __future__ import annotations

from typing import Any

import pytest

from repodb.schema import Col, IndexDef, Schema, field, index, schema_info


class IndexedUser(
    Schema,
    table="indexed_users",
    indexes=(
        index("email", unique=True),
        index("karma", "email", name="by_karma", where="karma > 0"),
    ),
):
    id: Col[int] = field(primary_key=True, default=None)
    email: Col[str]
    karma: Col[int]


class PlainUser(Schema, table="plain_users"):
    id: Col[int] = field(primary_key=True, default=None)


def test_index_records_its_options() -> None:
    assert index("a", "b") == IndexDef(("a", "b"))
    assert index("a", unique=True, name="n", where="a > 0") == IndexDef(("a",), True, "n", "a > 0")


def test_schema_info_lists_the_declared_indexes() -> None:
    assert schema_info(IndexedUser).indexes == (
        IndexDef(("email",), unique=True),
        IndexDef(("karma", "email"), name="by_karma", where="karma > 0"),
    )
    assert schema_info(PlainUser).indexes == ()


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(TypeError, match="at least one column"):
        index()
    bad: Any = ("email",)
    with pytest.raises(TypeError, match=r"indexes= takes index\(\.\.\.\) values"):

        class Bad(Schema, table="bad", indexes=bad):
            id: Col[int] = field(primary_key=True, default=None)
