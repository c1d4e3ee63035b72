"""Field types: turning classes and annotations into ``DbType`` values.

Covers ``repodb.types.to_dbtype`` for each supported class and annotation
(``X | None``, ``Optional[X]``, ``list[X]``, ``dict[...]``, Enum, dataclass and
NamedTuple records), the builders ``optional``/``array``/``json``/``tup``,
``width``, ``repr`` and the errors for what cannot be a column type.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any, NamedTuple, Optional

import pytest

from repodb.types import DbType, Kind, array, json, optional, to_dbtype, tup


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class User:
    id: int
    name: str
    email: str | None
    tags: list[str]
    prefs: dict[str, Any]
    color: Color
    computed: int = dataclasses.field(default=0, init=False)


class Point(NamedTuple):
    x: float
    y: Optional[float]  # noqa: UP045 - the Optional spelling is what is tested


@dataclasses.dataclass
class Nested:
    user: User


class NotAType:
    pass


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (bool, Kind.BOOL),
        (int, Kind.INT),
        (float, Kind.FLOAT),
        (Decimal, Kind.DECIMAL),
        (str, Kind.STR),
        (bytes, Kind.BYTES),
        (dt.date, Kind.DATE),
        (dt.datetime, Kind.DATETIME),
        (dt.time, Kind.TIME),
        (dt.timedelta, Kind.TIMEDELTA),
        (uuid.UUID, Kind.UUID),
        (dict, Kind.JSON),
    ],
)
def test_scalar_classes(cls: type[Any], kind: Kind) -> None:
    t = to_dbtype(cls)
    assert t.kind is kind
    assert t.width == 1
    assert t.cls is None
    assert t == DbType(kind)


def test_a_dbtype_is_its_own_spec() -> None:
    t = optional(int)
    assert to_dbtype(t) is t


def test_optional_annotations() -> None:
    expected: DbType[int | None] = DbType(Kind.OPTIONAL, item=DbType(Kind.INT))
    assert to_dbtype(int | None) == expected
    assert to_dbtype(Optional[int]) == expected  # noqa: UP045
    assert to_dbtype(None | int) == expected
    assert optional(int) == expected


def test_optional_of_optional_collapses() -> None:
    assert optional(optional(str)) == optional(str)


def test_list_annotation_is_an_array() -> None:
    assert to_dbtype(list[int]) == DbType(Kind.ARRAY, item=DbType(Kind.INT))
    assert to_dbtype(list[int]) == array(int)
    assert to_dbtype(list[str | None]) == array(optional(str))
    assert to_dbtype(list[int] | None) == optional(array(int))


def test_dict_annotation_is_json() -> None:
    assert to_dbtype(dict[str, Any]).kind is Kind.JSON
    assert to_dbtype(dict[str, int]) == json()
    assert json().kind is Kind.JSON


def test_enum_classes() -> None:
    t = to_dbtype(Color)
    assert (t.kind, t.cls) == (Kind.ENUM, Color)
    # An IntEnum is an enum (stored by name), not an int.
    assert to_dbtype(Level) == DbType(Kind.ENUM, cls=Level)


def test_dataclass_record() -> None:
    t = to_dbtype(User)
    assert t.kind is Kind.RECORD
    assert t.cls is User
    # Fields left out of __init__ are not columns.
    assert t.names == ("id", "name", "email", "tags", "prefs", "color")
    assert t.fields == (
        DbType(Kind.INT),
        DbType(Kind.STR),
        optional(str),
        array(str),
        json(),
        DbType(Kind.ENUM, cls=Color),
    )
    assert t.width == 6


def test_namedtuple_record() -> None:
    t = to_dbtype(Point)
    assert (t.kind, t.cls, t.names) == (Kind.RECORD, Point, ("x", "y"))
    assert t.fields == (DbType(Kind.FLOAT), optional(float))
    assert t.width == 2


def test_tup() -> None:
    t = tup(int, optional(str), Color)
    assert t.kind is Kind.TUPLE
    assert t.fields == (DbType(Kind.INT), optional(str), DbType(Kind.ENUM, cls=Color))
    assert t.width == 3
    assert tup(int).width == 1
    assert tup().width == 0


def test_width_of_single_columns() -> None:
    assert optional(int).width == 1
    assert array(int).width == 1
    assert json().width == 1


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (to_dbtype(int), "int"),
        (to_dbtype(dt.datetime), "datetime"),
        (json(), "json"),
        (optional(int), "optional(int)"),
        (array(optional(str)), "array(optional(str))"),
        (tup(int, str, optional(bool)), "tup(int, str, optional(bool))"),
        (to_dbtype(Color), "Color"),
        (to_dbtype(User), "User"),
        (to_dbtype(list[int] | None), "optional(array(int))"),
    ],
)
def test_repr(t: DbType[Any], text: str) -> None:
    assert repr(t) == text


# Errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [int | str, int | str | None, Optional[int | str]],  # noqa: UP045
)
def test_unions_of_two_types_are_rejected(spec: object) -> None:
    with pytest.raises(TypeError, match=r"only X \| None"):
        to_dbtype(spec)


@pytest.mark.parametrize("spec", [NotAType, list, tuple, object, "int", 3, None])
def test_unsupported_specs_are_rejected(spec: object) -> None:
    with pytest.raises(TypeError, match="is not a repodb type"):
        to_dbtype(spec)


def test_nested_tuples_inside_tup_are_rejected() -> None:
    with pytest.raises(TypeError, match="tup member 1"):
        tup(int, tup(int, str))
    with pytest.raises(TypeError, match="single column"):
        tup(Point)


def test_record_members_must_be_single_columns() -> None:
    with pytest.raises(TypeError, match=r"Nested\.user"):
        to_dbtype(Nested)


def test_optional_of_a_tuple_is_rejected() -> None:
    with pytest.raises(TypeError, match="single column"):
        optional(tup(int, str))


@pytest.mark.parametrize("spec", [array(int), optional(array(int)), tup(int), Point])
def test_arrays_of_arrays_and_rows_are_rejected(spec: Any) -> None:
    with pytest.raises(TypeError, match="array items must be a base type"):
        array(spec)


def test_list_of_lists_annotation_is_rejected() -> None:
    with pytest.raises(TypeError, match="array items must be a base type"):
        to_dbtype(list[list[int]])


def test_dbtype_is_frozen() -> None:
    t = to_dbtype(int)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.kind = Kind.STR  # type: ignore[misc]
