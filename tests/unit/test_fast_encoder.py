"""The generated values encoder of a single insert against the checking path it stands for.

Covers ``repodb._codec.fast_encoder`` (the function ``repo.insert`` encodes
a record's values with) and ``named_encoder`` (the checking path it falls
back to), with the SQLite, PostgreSQL and MariaDB codec tables and no
database: for every kind, with the usual class of value, other classes
(subclasses included), out-of-range and refused values and None, both give
the same driver values, of the same classes, or the same ``EncodeError``,
whose message names the value (``"User.age: expected int, got str"``); a
datetime sent twice as one object (``inserted_at`` and ``updated_at``) is
encoded once and still as the checking path does; the generated source holds
no field name.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest

from repodb import EncodeError
from repodb._codec import Codecs, fast_encoder, named_encoder
from repodb.driver import _mariadb as mariadb
from repodb.driver import postgresql, sqlite
from repodb.schema import Col, Embedded, Schema, schema_info
from repodb.types import DbType, array, optional, to_dbtype

EVERY = pytest.mark.parametrize(
    "codecs",
    [sqlite.CODECS, postgresql.CODECS, mariadb.CODECS],
    ids=["sqlite", "postgresql", "mariadb"],
)

PLUS_TWO = dt.timezone(dt.timedelta(hours=2))


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    LOW = 1


class MyStr(str):
    pass


class MyInt(int):
    pass


class MyDatetime(dt.datetime):
    pass


class Address(Embedded):
    city: str


class Holder(Schema, table="holders"):
    id: Col[int]
    address: Col[Address]


ADDRESS = schema_info(Holder).field("address").dbtype


NOW = dt.datetime(2024, 5, 1, 10, 30, 15, 123, tzinfo=dt.UTC)

# Per spec, values of the usual class, of other classes, and refused ones.
CASES: list[tuple[Any, list[object]]] = [
    (int, [0, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, True, MyInt(3), Level.LOW, 1.0, "1"]),
    (str, ["", "é", "a\x00b", MyStr("x"), b"x", 1]),
    (bool, [True, False, 1, 0]),
    (float, [1.5, -0.0, math.nan, math.inf, 3, True, "1.5", Decimal("1.5")]),
    (Decimal, [Decimal("1.50"), Decimal("NaN"), Decimal("-0"), 5, True, 1.5]),
    (bytes, [b"\x00x", bytearray(b"x"), memoryview(b"x"), "x"]),
    (dt.date, [dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "2024-01-01"]),
    (
        dt.datetime,
        [
            NOW,
            NOW.replace(fold=1),
            NOW.astimezone(PLUS_TWO),
            dt.datetime(1, 1, 1, tzinfo=PLUS_TWO),
            dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            dt.datetime(2024, 1, 1),
            MyDatetime(2024, 1, 1, tzinfo=dt.UTC),
            dt.date(2024, 1, 1),
        ],
    ),
    (dt.time, [dt.time(12, 0, 1, 5), dt.time(12, 0, tzinfo=dt.UTC), "12:00"]),
    (dt.timedelta, [dt.timedelta(seconds=1.5), dt.timedelta.max, 5]),
    (uuid.UUID, [uuid.UUID(int=7, version=4), str(uuid.UUID(int=7, version=4))]),
    (
        dict,
        [
            {"a": 1, "b": [1.5, None, "x"]},
            [1, 2],
            {"a": math.nan},
            {"a": {1}},
            {"a": "b\x00"},
            {1: "x"},
            "{}",
            (1, 2),
        ],
    ),
    (ADDRESS, [Address(city="Paris"), {"city": "Paris"}, Address(city=1)]),  # type: ignore[arg-type]
    (Color, [Color.RED, "RED", 1]),
    (Level, [Level.LOW, 1]),
    (array(int), [[1, 2], (1, 2), [1, True], [1, None], "1,2"]),
    (array(optional(str)), [["a", None], []]),
]


def outcome(encode: Callable[[Sequence[Any]], list[Any]], values: Sequence[Any]) -> object:
    """What ``encode`` gives: the values with their classes, or the error's class and message."""
    try:
        encoded = encode(values)
    except EncodeError as e:
        return ("error", str(e))
    return [(type(v), v if v == v else "nan") for v in encoded]


def encoders(
    types: Sequence[DbType[Any]], codecs: Codecs, names: Sequence[str]
) -> tuple[Callable[[Sequence[Any]], list[Any]], Callable[[Sequence[Any]], list[Any]]]:
    checked = named_encoder(types, codecs, names)
    return fast_encoder(types, codecs, checked), checked


@EVERY
@pytest.mark.parametrize(("spec", "values"), CASES, ids=[repr(s) for s, _ in CASES])
def test_each_value_encodes_as_the_checking_path(
    codecs: Codecs, spec: Any, values: list[object]
) -> None:
    for t in (to_dbtype(spec), optional(spec)):
        fast, checked = encoders([t], codecs, ["User.field"])
        for value in [*values, None]:
            assert outcome(fast, [value]) == outcome(checked, [value]), (t, value)


@EVERY
def test_a_row_of_every_kind_encodes_as_the_checking_path(codecs: Codecs) -> None:
    types = [to_dbtype(spec) for spec, _ in CASES]
    names = [f"Row.c{i}" for i in range(len(types))]
    fast, checked = encoders(types, codecs, names)
    usual = [values[0] for _, values in CASES]
    assert outcome(fast, usual) == outcome(checked, usual)
    assert not isinstance(outcome(fast, usual), tuple)
    # The usual values take the generated path alone.
    calls: list[object] = []

    def spy(values: Sequence[Any]) -> list[Any]:
        calls.append(values)
        return checked(values)

    spied = fast_encoder(types, codecs, spy)
    assert spied(usual) == fast(usual)
    assert calls == []
    with pytest.raises(EncodeError):
        spied([None, *usual[1:]])
    assert len(calls) == 1
    # One value at a time goes wrong: the error names that value.
    for i, (_, values) in enumerate(CASES):
        for value in [*values[1:], None]:
            row = [*usual[:i], value, *usual[i + 1 :]]
            assert outcome(fast, row) == outcome(checked, row), (i, value)


def test_an_error_names_the_field_and_keeps_the_message() -> None:
    types = [to_dbtype(str), to_dbtype(int)]
    fast, _ = encoders(types, sqlite.CODECS, ["User.name", "User.age"])
    with pytest.raises(EncodeError) as e:
        fast(["ada", None])
    assert str(e.value) == (
        "User.age: expected int, got None; None is only allowed for optional(...) types"
    )
    with pytest.raises(EncodeError, match=r"^User\.name: expected str, got int$"):
        fast([1, 2])


@EVERY
@pytest.mark.parametrize(
    "at", [NOW, NOW.astimezone(PLUS_TWO), dt.datetime(2024, 1, 1)], ids=["utc", "plus2", "naive"]
)
def test_one_datetime_sent_twice_encodes_as_the_checking_path(
    codecs: Codecs, at: dt.datetime
) -> None:
    stamp = to_dbtype(dt.datetime)
    types = [stamp, to_dbtype(str), stamp, optional(dt.datetime)]
    fast, checked = encoders(types, codecs, ["a", "b", "c", "d"])
    for row in ([at, "x", at, at], [at, "x", NOW, None], [NOW, "x", at, at]):
        assert outcome(fast, row) == outcome(checked, row)


def test_a_wrong_count_of_values_is_the_checking_paths_error() -> None:
    fast, _ = encoders([to_dbtype(int)], sqlite.CODECS, ["a"])
    with pytest.raises(ValueError, match="zip"):
        fast([1, 2])


def test_the_generated_source_holds_no_field_name() -> None:
    """Names and values live in the namespace; the source is made of generated names only."""
    seen: list[str] = []
    real_compile = compile

    def spy(source: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(source)
        return real_compile(source, *args, **kwargs)

    import builtins

    builtins.compile = spy  # type: ignore[assignment]
    try:
        encoders([to_dbtype(str), to_dbtype(dt.datetime)], sqlite.CODECS, ["Evil.x'); #", "b"])
    finally:
        builtins.compile = real_compile
    assert seen
    assert all("Evil" not in s and "#" not in s for s in seen)
