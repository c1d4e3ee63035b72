"""Records built from rows by the compiler's result shapes: one row, or a whole list.

A record read from the database is built without its constructor (its
``__dict__`` filled by code generated per class); these tests pin that the
result equals what the constructor makes, defaults included, that a row of
another width is refused, and that a class with its own ``__post_init__``
still takes its constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from repodb._compile.result import RecordShape, Result
from repodb.schema import Col, Schema, field


class Gadget(Schema, table="gadgets"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    label: Col[str | None] = field(default="?", virtual=True)
    tags: Col[list[str] | None] = field(default_factory=list, virtual=True)
    price: Col[int] = field(default=0)


@dataclasses.dataclass(frozen=True)
class Checked:
    id: int
    name: str

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a name is required")


def rows_of(shape: RecordShape, rows: list[tuple[Any, ...]]) -> list[Any]:
    build = Result("record", (), (shape,)).rows_maker()
    assert build is not None
    given: list[Sequence[Any]] = list(rows)
    return build(given)


def test_records_from_rows_equal_constructed_ones() -> None:
    shape = RecordShape(Gadget, ("id", "name", "price"))
    rows = [(1, "a", 3), (2, "b", 0)]
    built = rows_of(shape, rows)
    assert built == [Gadget(id=1, name="a", price=3), Gadget(id=2, name="b")]
    assert [shape.build(row) for row in rows] == built
    # Fields the row does not hold get their defaults, a fresh list each.
    assert built[0].label == "?"
    assert built[0].tags == []
    assert built[0].tags is not built[1].tags
    # Field order as the constructor sets it (the class's shared dict keys).
    assert list(vars(built[0])) == list(vars(Gadget(id=1, name="a", price=3)))


def test_rows_of_another_width_are_refused() -> None:
    shape = RecordShape(Gadget, ("id", "name", "price"))
    with pytest.raises(ValueError, match="values to unpack"):
        rows_of(shape, [(1, "a")])
    with pytest.raises(ValueError, match="values to unpack"):
        shape.build((1, "a", 3, 4))


def test_a_class_with_post_init_takes_its_constructor() -> None:
    shape = RecordShape(Checked, ("id", "name"))
    assert rows_of(shape, [(1, "a")]) == [Checked(1, "a")]
    with pytest.raises(ValueError, match="a name is required"):
        rows_of(shape, [(2, "")])
