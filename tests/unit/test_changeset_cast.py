"""Changesets: casting external input to every field type.

Covers ``cast`` converting form strings and JSON values to bool, int, float,
Decimal, str, bytes, date, datetime (naive means UTC, results are UTC),
time, timedelta (seconds, clock text, ISO 8601 durations), UUID, Enum (by
value, name or value text), JSON objects and arrays (of optional items too);
rejecting what does not convert with "is invalid" (``validation="cast"`` and
the type) instead of raising, shown by hypothesis over arbitrary text and
JSON-like values for every field; ``None`` and empty values; permitted
filtering (mass-assignment protection) and the programming errors cast
does raise for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repodb.changeset import Changeset, cast
from repodb.schema import Assoc, Col, Embedded, Schema, field, has_many

UTC = dt.UTC


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Spot(Embedded):
    x: int


class Note(Schema, table="notes"):
    id: Col[int] = field(primary_key=True, default=None)
    holder_id: Col[int]


class Holder(Schema, table="holders"):
    id: Col[int] = field(primary_key=True, default=None)
    flag: Col[bool] = field(default=False)
    count: Col[int] = field(default=0)
    ratio: Col[float] = field(default=0.0)
    price: Col[Decimal] = field(default=Decimal(0))
    name: Col[str] = field(default="")
    blob: Col[bytes] = field(default=b"")
    day: Col[dt.date | None] = field(default=None)
    at: Col[dt.datetime | None] = field(default=None)
    clock: Col[dt.time | None] = field(default=None)
    span: Col[dt.timedelta | None] = field(default=None)
    uid: Col[uuid.UUID | None] = field(default=None)
    color: Col[Color | None] = field(default=None)
    level: Col[Level | None] = field(default=None)
    meta: Col[dict[str, Any] | None] = field(default=None)
    scores: Col[list[int]] = field(default_factory=list)
    maybe: Col[list[int | None]] = field(default_factory=list)
    labels: Col[list[str] | None] = field(default=None)
    spot: Col[Spot | None] = field(default=None)
    notes: ClassVar[Assoc[list[Note]]] = has_many(Note, foreign_key="holder_id")


def nested(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for _ in range(depth):
        document = {"a": document}
    return document


CYCLIC: dict[str, Any] = {"name": "loop"}
CYCLIC["self"] = CYCLIC


def cast_one(name: str, value: object) -> Changeset[Holder]:
    return cast(Holder, {name: value}, [name])


U = uuid.UUID("12345678-1234-5678-1234-567812345678")

GOOD: list[tuple[str, object, object]] = [
    ("flag", "true", True),
    ("flag", "TRUE", True),
    ("flag", "on", True),
    ("flag", "yes", True),
    ("flag", "1", True),
    ("flag", True, True),
    ("flag", 1, True),
    ("count", "42", 42),
    ("count", " -7 ", -7),
    ("count", "+3", 3),
    ("count", 42, 42),
    ("count", 3.0, 3),
    ("count", Decimal("5"), 5),
    ("count", "9223372036854775807", 2**63 - 1),
    ("count", "0000000000000000000000042", 42),
    ("count", -(2**63), -(2**63)),
    ("ratio", "1.5", 1.5),
    ("ratio", "-2", -2.0),
    ("ratio", ".5", 0.5),
    ("ratio", "1e3", 1000.0),
    ("ratio", 2, 2.0),
    ("ratio", 1.5, 1.5),
    ("ratio", Decimal("0.25"), 0.25),
    ("price", "12.50", Decimal("12.50")),
    ("price", "-1e2", Decimal("-1E+2")),
    ("price", 3, Decimal(3)),
    ("price", 0.1, Decimal("0.1")),
    ("price", Decimal("9.99"), Decimal("9.99")),
    ("name", "Ada", "Ada"),
    ("name", "  kept as typed  ", "  kept as typed  "),
    ("blob", "hé", "hé".encode()),
    ("blob", b"\x00\xff", b"\x00\xff"),
    ("day", "2024-05-01", dt.date(2024, 5, 1)),
    ("day", dt.date(2024, 5, 1), dt.date(2024, 5, 1)),
    ("at", "2024-05-01T12:00:00Z", dt.datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("at", "2024-05-01T14:00:00+02:00", dt.datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("at", "2024-05-01 12:00:00", dt.datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("at", "2024-05-01", dt.datetime(2024, 5, 1, tzinfo=UTC)),
    ("at", dt.datetime(2024, 5, 1, 12), dt.datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("clock", "12:30", dt.time(12, 30)),
    ("clock", "12:30:15.5", dt.time(12, 30, 15, 500000)),
    ("clock", dt.time(8), dt.time(8)),
    ("span", 90, dt.timedelta(seconds=90)),
    ("span", 1.5, dt.timedelta(seconds=1.5)),
    ("span", "90", dt.timedelta(seconds=90)),
    ("span", "-0.25", dt.timedelta(seconds=-0.25)),
    ("span", "01:30:00", dt.timedelta(hours=1, minutes=30)),
    ("span", "1:30", dt.timedelta(hours=1, minutes=30)),
    ("span", "-0:30:00", dt.timedelta(minutes=-30)),
    ("span", "12:00:05.25", dt.timedelta(hours=12, seconds=5.25)),
    ("span", "1 day, 2:00:00", dt.timedelta(days=1, hours=2)),
    ("span", str(dt.timedelta(hours=-1)), dt.timedelta(hours=-1)),
    ("span", "PT1H30M", dt.timedelta(hours=1, minutes=30)),
    ("span", "P1DT2H", dt.timedelta(days=1, hours=2)),
    ("span", "P2W", dt.timedelta(weeks=2)),
    ("span", "-PT0.5S", dt.timedelta(seconds=-0.5)),
    ("span", dt.timedelta(days=3), dt.timedelta(days=3)),
    ("uid", str(U), U),
    ("uid", str(U).upper(), U),
    ("uid", U.hex, U),
    ("uid", U, U),
    ("color", "red", Color.RED),
    ("color", "RED", Color.RED),
    ("color", Color.GREEN, Color.GREEN),
    ("level", 1, Level.LOW),
    ("level", "2", Level.HIGH),
    ("level", "HIGH", Level.HIGH),
    ("meta", {"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}),
    ("meta", '{"a": [1, 2]}', {"a": [1, 2]}),
    ("scores", ["1", 2, " 3 "], [1, 2, 3]),
    ("scores", (4, 5), [4, 5]),
    ("scores", [1], [1]),
    ("maybe", [1, None, "2"], [1, None, 2]),
    ("labels", ["a", "b"], ["a", "b"]),
]


@pytest.mark.parametrize(("name", "raw", "expected"), GOOD)
def test_cast_converts_strings_and_json_values(name: str, raw: object, expected: object) -> None:
    changeset = cast_one(name, raw)
    assert changeset.errors == ()
    assert changeset.valid
    value = changeset.changes[name]
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(value, dt.datetime):
        assert value.tzinfo is UTC


def test_false_values_cast_to_false() -> None:
    holder = Holder(flag=True)
    for raw in ("false", "False", "off", "no", "0", 0, False):
        assert cast(holder, {"flag": raw}, ["flag"]).changes == {"flag": False}, raw


BAD: list[tuple[str, object, str]] = [
    ("flag", "maybe", "bool"),
    ("flag", 2, "bool"),
    ("flag", 1.0, "bool"),
    ("flag", [], "bool"),
    ("count", "4.2", "int"),
    ("count", "abc", "int"),
    ("count", 3.5, "int"),
    ("count", True, "int"),
    ("count", "1e3", "int"),
    ("count", "1_000", "int"),
    ("count", "١٢", "int"),
    ("count", "9223372036854775808", "int"),
    ("count", 2**63, "int"),
    ("count", "9" * 5000, "int"),
    ("count", math.nan, "int"),
    ("count", math.inf, "int"),
    ("count", Decimal("NaN"), "int"),
    ("count", Decimal("sNaN"), "int"),
    ("count", Decimal("1e999999999"), "int"),
    ("count", {"n": 1}, "int"),
    ("ratio", "nan", "float"),
    ("ratio", "inf", "float"),
    ("ratio", "1e999", "float"),
    ("ratio", math.inf, "float"),
    ("ratio", 10**400, "float"),
    ("ratio", "0x10", "float"),
    ("ratio", False, "float"),
    ("price", "NaN", "decimal"),
    ("price", "Infinity", "decimal"),
    ("price", "1,5", "decimal"),
    ("price", math.nan, "decimal"),
    ("price", True, "decimal"),
    ("name", 5, "str"),
    ("name", ["a"], "str"),
    ("name", b"x", "str"),
    # A lone surrogate is no Unicode text: no database can store it.
    ("name", "\ud800", "str"),
    ("name", "ok \udfff", "str"),
    ("labels", ["a", "\ud800"], "array(str)"),
    # NUL: PostgreSQL text cannot hold it, so no database takes it from a form.
    ("name", "a\x00b", "str"),
    ("labels", ["\x00"], "array(str)"),
    ("at", "0001-01-01T00:00:00+05:00", "datetime"),
    ("meta", {"a": "\ud800"}, "json"),
    ("meta", {"\udc00": 1}, "json"),
    ("meta", '{"a": "\\ud800"}', "json"),
    ("blob", 5, "bytes"),
    ("blob", "\ud800", "bytes"),
    ("day", "2024-13-01", "date"),
    ("day", dt.datetime(2024, 5, 1, tzinfo=UTC), "date"),
    ("day", 20240501, "date"),
    ("at", "yesterday", "datetime"),
    ("at", 1714564800, "datetime"),
    ("at", dt.date(2024, 5, 1), "datetime"),
    ("at", "0001-01-01T00:00:00+01:00", "datetime"),
    ("clock", "25:00", "time"),
    ("clock", "12:00:00+01:00", "time"),
    ("clock", dt.time(12, tzinfo=UTC), "time"),
    ("span", "P", "timedelta"),
    ("span", "PT", "timedelta"),
    ("span", "P1DT", "timedelta"),
    ("span", "1:60", "timedelta"),
    ("span", "abc", "timedelta"),
    ("span", True, "timedelta"),
    ("span", math.inf, "timedelta"),
    ("span", 1e20, "timedelta"),
    ("span", "P99999999999D", "timedelta"),
    ("uid", "not-a-uuid", "uuid"),
    ("uid", 12, "uuid"),
    ("color", "blue", "Color"),
    ("color", 1, "Color"),
    ("level", True, "Level"),
    ("level", 3, "Level"),
    ("level", "3", "Level"),
    ("level", [1], "Level"),
    ("meta", "[1, 2]", "json"),
    ("meta", "{bad", "json"),
    ("meta", '{"a": NaN}', "json"),
    ("meta", "[" * 100_000, "json"),
    ("meta", [1], "json"),
    ("meta", {1: 2}, "json"),
    # What sending would refuse: too deep, containing itself, no JSON form.
    ("meta", nested(100_000), "json"),
    ("meta", CYCLIC, "json"),
    ("meta", {"a": {1, 2}}, "json"),
    ("meta", {"a": math.nan}, "json"),
    ("scores", "1,2", "array(int)"),
    ("scores", ["x"], "array(int)"),
    ("scores", [None], "array(int)"),
    ("scores", [True], "array(int)"),
    ("scores", {"0": 1}, "array(int)"),
    ("labels", [1], "array(str)"),
]


@pytest.mark.parametrize(("name", "raw", "type_name"), BAD)
def test_what_does_not_convert_is_invalid_not_an_exception(
    name: str, raw: object, type_name: str
) -> None:
    changeset = cast_one(name, raw)
    assert not changeset.valid
    assert name not in changeset.changes
    (error,) = changeset.errors
    assert (error.field, error.message, error.validation) == (name, "is invalid", "cast")
    assert dict(error.options) == {"validation": "cast", "type": type_name}
    assert changeset.traverse_errors() == {name: ["is invalid"]}


def test_none_casts_to_none_for_every_type() -> None:
    holder = Holder(count=1, name="x", scores=[1])
    names = ["count", "name", "scores", "at", "meta"]
    changeset = cast(holder, dict.fromkeys(names), names)
    assert changeset.errors == ()
    assert changeset.changes == {"count": None, "name": None, "scores": None}


def test_empty_values_become_none() -> None:
    holder = Holder(name="Ada", count=3, day=dt.date(2024, 1, 1))
    changeset = cast(
        holder,
        {"name": "", "count": "", "day": "", "ratio": " "},
        ["name", "count", "day", "ratio"],
    )
    assert changeset.changes == {"name": None, "count": None, "day": None}
    # Only the listed empty values: a blank string is a value (and not a float).
    assert [e.field for e in changeset.errors] == ["ratio"]


def test_empty_values_can_be_chosen() -> None:
    changeset = cast(Holder, {"name": "n/a", "count": ""}, ["name", "count"], empty_values=["n/a"])
    assert changeset.changes == {"name": None}
    assert changeset.empty_values == ("n/a",)
    assert [e.field for e in changeset.errors] == ["count"]
    # Casting onto the changeset again keeps its empty values.
    again = changeset.cast({"ratio": "n/a"}, ["ratio"])
    assert again.changes == {"name": None, "ratio": None}


def test_only_permitted_fields_are_cast() -> None:
    params = {"name": "Ada", "count": "7", "id": "1", "flag": "true", "is_admin": "true"}
    changeset = cast(Holder, params, ["name", "count"])
    assert changeset.changes == {"name": "Ada", "count": 7}
    # All params are kept (validate_confirmation reads them), cast or not.
    assert changeset.params == params


def test_changes_hold_only_values_that_differ_from_the_data() -> None:
    holder = Holder(name="Ada", count=7, at=dt.datetime(2024, 5, 1, 12, tzinfo=UTC))
    params = {"name": "Ada", "count": "7", "at": "2024-05-01T14:00:00+02:00", "ratio": "0"}
    assert cast(holder, params, ["name", "count", "at", "ratio"]).changes == {}
    changed = cast(holder, {"count": "8"}, ["count"])
    assert changed.changes == {"count": 8}
    # Casting the data's value again removes the change.
    assert changed.cast({"count": "7"}, ["count"]).changes == {}


def test_casting_onto_a_changeset_merges_changes_errors_and_params() -> None:
    first = cast(Holder, {"name": "Ada", "count": "x"}, ["name", "count"])
    second = first.cast({"ratio": "2.5", "extra": 1}, ["ratio"])
    assert second.changes == {"name": "Ada", "ratio": 2.5}
    assert [e.field for e in second.errors] == ["count"]
    assert second.params == {"name": "Ada", "count": "x", "ratio": "2.5", "extra": 1}


def test_cast_onto_a_class_starts_from_defaults_or_none() -> None:
    changeset = cast(Holder, {}, ["name"])
    assert changeset.data.name == ""
    assert changeset.data.id is None
    assert changeset.data.scores == []
    assert changeset.apply_changes() == Holder()


def test_programming_errors_raise() -> None:
    with pytest.raises(ValueError, match="Holder has no field 'nope'"):
        cast(Holder, {}, ["name", "nope"])
    with pytest.raises(TypeError, match="list of field names"):
        cast(Holder, {"name": "x"}, "name")
    with pytest.raises(TypeError, match="mapping"):
        cast(Holder, [("name", "x")], ["name"])  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="use cast_embed"):
        cast(Holder, {}, ["spot"])
    with pytest.raises(ValueError, match="use cast_assoc"):
        cast(Holder, {}, ["notes"])
    with pytest.raises(TypeError, match="expected a schema"):
        cast(42, {}, [])  # type: ignore[call-overload]


# -- hypothesis: nothing raises, and what comes out has the field's type --------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.decimals() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)
inputs = st.text() | json_values


def _is_list_of(check: Callable[[object], bool], optional_items: bool = False) -> Any:
    def test(value: object) -> bool:
        return isinstance(value, list) and all(
            check(v) or (optional_items and v is None) for v in value
        )

    return test


TYPE_CHECKS: dict[str, Callable[[object], bool]] = {
    "flag": lambda v: isinstance(v, bool),
    "count": lambda v: type(v) is int and -(2**63) <= v < 2**63,
    "ratio": lambda v: type(v) is float and math.isfinite(v),
    "price": lambda v: isinstance(v, Decimal) and v.is_finite(),
    "name": lambda v: isinstance(v, str),
    "blob": lambda v: isinstance(v, bytes),
    "day": lambda v: type(v) is dt.date,
    "at": lambda v: isinstance(v, dt.datetime) and v.tzinfo is UTC,
    "clock": lambda v: isinstance(v, dt.time) and v.tzinfo is None,
    "span": lambda v: isinstance(v, dt.timedelta),
    "uid": lambda v: isinstance(v, uuid.UUID),
    "color": lambda v: isinstance(v, Color),
    "level": lambda v: isinstance(v, Level),
    "meta": lambda v: isinstance(v, dict),
    "scores": _is_list_of(lambda v: type(v) is int),
    "maybe": _is_list_of(lambda v: type(v) is int, optional_items=True),
    "labels": _is_list_of(lambda v: isinstance(v, str)),
}


@given(name=st.sampled_from(sorted(TYPE_CHECKS)), raw=inputs)
def test_cast_never_raises_and_yields_the_type_or_an_error(name: str, raw: object) -> None:
    changeset = cast(Holder, {name: raw}, [name])
    if changeset.errors:
        (error,) = changeset.errors
        assert (error.field, error.message, error.validation) == (name, "is invalid", "cast")
        assert name not in changeset.changes
    else:
        value = changeset.get_field(name)
        assert value is None or TYPE_CHECKS[name](value), (name, raw, value)


@given(name=st.sampled_from(sorted(TYPE_CHECKS)), raw=st.text())
def test_form_strings_never_raise(name: str, raw: str) -> None:
    changeset = cast(Holder, {name: raw}, [name])
    assert changeset.valid == (not changeset.errors)
    assert all(e.validation == "cast" for e in changeset.errors)


def test_every_field_type_is_covered_by_the_property() -> None:
    others = {"id", "spot"}  # the key (an int, like count) and the embed (cast_embed)
    assert set(TYPE_CHECKS) | others == {f.name for f in dataclasses.fields(Holder)}
