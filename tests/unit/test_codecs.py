"""Value conversion: checks before sending, storage forms, and decoding rows.

Covers ``repodb._codec.encoder``/``decoder``/``row_decoder`` with the SQLite
and PostgreSQL codec tables, without a database: every wrong Python value
raises ``EncodeError``; valid values take the documented SQLite storage form
(UTC text, microseconds, names, 0/1, JSON text) and decode back; PostgreSQL
keeps native values; rows with NULLs, wrong widths or unknown enum names raise
``DecodeError``; records (dataclass, NamedTuple) are built. ``written``
gives a value's read form without a database (a value already in it is
returned as it is), or None for the kinds a write reads back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

import pytest

from repodb import DecodeError, EncodeError
from repodb._codec import SLICE, Codecs, decoder, encoder, row_decoder, run_encoder, written
from repodb.driver import _mariadb as mariadb
from repodb.driver import postgresql, sqlite
from repodb.types import DbType, array, json, optional, to_dbtype, tup

SQLITE = sqlite.CODECS
POSTGRESQL = postgresql.CODECS
BOTH = pytest.mark.parametrize("codecs", [SQLITE, POSTGRESQL], ids=["sqlite", "postgresql"])
EVERY = pytest.mark.parametrize(
    "codecs", [SQLITE, POSTGRESQL, mariadb.CODECS], ids=["sqlite", "postgresql", "mariadb"]
)

PLUS_TWO = dt.timezone(dt.timedelta(hours=2))


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Size(enum.Enum):
    SMALL = 1


@dataclasses.dataclass
class User:
    id: int
    name: str
    email: str | None


@dataclasses.dataclass(kw_only=True)
class Tagged:
    id: int
    color: Color


class Point(NamedTuple):
    x: float
    y: float


def encode(spec: Any, value: object, codecs: Codecs = SQLITE) -> Any:
    return encoder(to_dbtype(spec), codecs)(value)


def decode(spec: Any, value: object, codecs: Codecs = SQLITE) -> Any:
    convert = decoder(to_dbtype(spec), codecs)
    return value if convert is None else convert(value)


def decode_row(spec: Any, row: tuple[Any, ...], codecs: Codecs = SQLITE) -> Any:
    """The row decoded one at a time and as part of a list; both must agree."""
    one, many = row_decoder(to_dbtype(spec), codecs)
    single = one(row)
    assert many([row, row]) == [single, single]
    return single


def assert_row_rejected(spec: Any, row: tuple[Any, ...], match: str) -> None:
    one, many = row_decoder(to_dbtype(spec), SQLITE)
    with pytest.raises(DecodeError, match=match):
        one(row)
    with pytest.raises(DecodeError, match=match):
        many([row])


# Wrong Python values ----------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("spec", "value", "match"),
    [
        (int, True, "expected int, got bool"),
        (int, 2**63, "out of the 64-bit range"),
        (int, -(2**63) - 1, "out of the 64-bit range"),
        (int, 1.0, "expected int, got float"),
        (int, "1", "expected int, got str"),
        (float, False, "expected float, got bool"),
        (float, "1.5", "expected float, got str"),
        (Decimal, 1.5, "expected decimal, got float"),
        (Decimal, True, "expected decimal, got bool"),
        (bool, 1, "expected bool, got int"),
        (str, b"x", "expected str, got bytes"),
        (str, 1, "expected str, got int"),
        (bytes, "abc", "expected bytes, got str"),
        (dt.datetime, dt.datetime(2024, 1, 1), "naive datetime"),
        (dt.datetime, dt.date(2024, 1, 1), "expected datetime, got date"),
        (dt.time, dt.time(12, 0, tzinfo=dt.UTC), "time with a timezone"),
        (dt.time, dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "expected time, got datetime"),
        (dt.date, dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "expected date, got datetime"),
        (dt.timedelta, 5, "expected timedelta, got int"),
        (uuid.UUID, "0b6f7f1e-0000-4000-8000-000000000000", "expected uuid, got str"),
        (dict, "{}", "expected json, got str"),
        (dict, {"a": object()}, "not valid JSON"),
        (dict, {"a": {1, 2}}, "not valid JSON"),
        (dict, [math.nan], "not valid JSON"),
        (Color, Size.SMALL, "expected Color, got Size"),
        (Color, "RED", "expected Color, got str"),
        (Color, 1, "expected Color, got int"),
    ],
)
def test_wrong_values_are_rejected(codecs: Codecs, spec: Any, value: object, match: str) -> None:
    with pytest.raises(EncodeError, match=match):
        encode(spec, value, codecs)


@BOTH
@pytest.mark.parametrize("spec", [int, str, bool, dt.datetime, Color, dict, array(int)])
def test_none_needs_an_optional_type(codecs: Codecs, spec: Any) -> None:
    with pytest.raises(EncodeError, match="None"):
        encode(spec, None, codecs)
    assert encode(optional(spec), None, codecs) is None


@BOTH
def test_optional_still_checks_present_values(codecs: Codecs) -> None:
    with pytest.raises(EncodeError, match="expected int, got str"):
        encode(optional(int), "1", codecs)


@BOTH
def test_arrays_check_their_container_and_items(codecs: Codecs) -> None:
    with pytest.raises(EncodeError, match=r"expected array\(int\), got str"):
        encode(array(int), "1,2", codecs)
    with pytest.raises(EncodeError, match="expected int, got bool"):
        encode(array(int), [1, True], codecs)
    with pytest.raises(EncodeError, match="None is only allowed"):
        encode(array(int), [1, None], codecs)
    assert encode(array(optional(int)), [1, None], codecs) is not None


def test_int_range_edges_are_accepted() -> None:
    assert encode(int, 2**63 - 1) == 2**63 - 1
    assert encode(int, -(2**63)) == -(2**63)


def test_nan_is_rejected_on_sqlite_only() -> None:
    with pytest.raises(EncodeError, match="NaN"):
        encode(float, math.nan, SQLITE)
    with pytest.raises(EncodeError, match="NaN"):
        encode(array(float), [1.0, math.nan], SQLITE)
    assert math.isnan(encode(float, math.nan, POSTGRESQL))
    assert encode(float, math.inf, SQLITE) == math.inf


def test_nul_is_rejected_in_postgresql_text_only() -> None:
    with pytest.raises(EncodeError, match="NUL"):
        encode(str, "a\x00b", POSTGRESQL)
    with pytest.raises(EncodeError, match="NUL"):
        encode(array(str), ["ok", "a\x00b"], POSTGRESQL)
    with pytest.raises(EncodeError, match="NUL"):
        encode(dict, {"a": "b\x00"}, POSTGRESQL)
    assert encode(str, "a\x00b", SQLITE) == "a\x00b"


def test_timedelta_beyond_int64_microseconds_is_rejected_on_sqlite() -> None:
    with pytest.raises(EncodeError, match="timedelta too large"):
        encode(dt.timedelta, dt.timedelta.max, SQLITE)


def test_encode_error_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        encode(int, "x")


def test_row_types_are_not_single_columns() -> None:
    with pytest.raises(TypeError, match="not a single-column type"):
        encoder(tup(int, str), SQLITE)


# SQLite storage forms ---------------------------------------------------------

A_UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("spec", "value", "stored"),
    [
        (bool, True, 1),
        (bool, False, 0),
        (int, 7, 7),
        (float, 2, 2.0),
        (str, "héllo", "héllo"),
        (bytes, bytearray(b"\x00\x01"), b"\x00\x01"),
        (Decimal, Decimal("1.10"), "1.10"),
        (Decimal, 5, "5"),
        (dt.date, dt.date(2024, 2, 29), "2024-02-29"),
        (
            dt.datetime,
            dt.datetime(2024, 5, 1, 12, 30, 15, 123, tzinfo=PLUS_TWO),
            "2024-05-01 10:30:15.000123+00:00",
        ),
        (
            dt.datetime,
            dt.datetime(2024, 1, 1, 1, 0, tzinfo=PLUS_TWO),
            "2023-12-31 23:00:00.000000+00:00",
        ),
        (dt.time, dt.time(8, 5, 3), "08:05:03.000000"),
        (dt.timedelta, dt.timedelta(days=1, seconds=2, microseconds=3), 86_402_000_003),
        (dt.timedelta, dt.timedelta(microseconds=-1), -1),
        (uuid.UUID, A_UUID, "12345678-1234-5678-1234-567812345678"),
        (Color, Color.GREEN, "GREEN"),
        (dict, {"a": [1, "x", None]}, '{"a":[1,"x",null]}'),
        (json(), [1, 2], "[1,2]"),
        (array(int), [1, 2], "[1,2]"),
        (array(Color), [Color.RED], '["RED"]'),
        (array(optional(bool)), [True, None], "[1,null]"),
        (array(Decimal), [Decimal("0.1")], '["0.1"]'),
        (
            array(dt.datetime),
            [dt.datetime(2024, 1, 1, 2, tzinfo=PLUS_TWO)],
            '["2024-01-01 00:00:00.000000+00:00"]',
        ),
    ],
)
def test_sqlite_storage_form_and_round_trip(spec: Any, value: object, stored: object) -> None:
    encoded = encode(spec, value)
    assert encoded == stored
    assert type(encoded) is type(stored)
    assert decode(spec, encoded) == value


def test_sqlite_datetimes_come_back_in_utc() -> None:
    value = dt.datetime(2024, 5, 1, 12, 30, tzinfo=PLUS_TWO)
    back = decode(dt.datetime, encode(dt.datetime, value))
    assert back == value
    assert back.utcoffset() == dt.timedelta(0)
    assert back.hour == 10
    # Text written by someone else with an offset is converted to UTC as well.
    other = decode(dt.datetime, "2024-05-01 12:30:00+02:00")
    assert (other.hour, other.utcoffset()) == (10, dt.timedelta(0))


def test_sqlite_utc_text_sorts_like_the_instants() -> None:
    early = dt.datetime(2024, 1, 1, 9, tzinfo=PLUS_TWO)  # 07:00 UTC
    late = dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC)
    assert encode(dt.datetime, early) < encode(dt.datetime, late)


@pytest.mark.parametrize(
    ("spec", "stored", "match"),
    [
        (bool, 2, "not 0 or 1"),
        (dict, "{not json", "cannot decode str as json"),
        (uuid.UUID, "not-a-uuid", "cannot decode str as uuid"),
        (Color, "BLUE", "'BLUE' is not a member name of Color"),
        (dt.date, "yesterday", "cannot decode str as date"),
        (Decimal, "abc", "cannot decode str as decimal"),
        (array(int), '{"a": 1}', "not a JSON array"),
        (dt.datetime, None, "got NULL for non-optional datetime"),
    ],
)
def test_sqlite_bad_stored_values(spec: Any, stored: object, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode(spec, stored)


def test_sqlite_decodes_optional_values() -> None:
    assert decode(optional(dt.date), None) is None
    assert decode(optional(dt.date), "2024-01-02") == dt.date(2024, 1, 2)
    assert decode(optional(int), None) is None


# PostgreSQL storage forms -----------------------------------------------------


def test_postgresql_keeps_native_values() -> None:
    when = dt.datetime(2024, 5, 1, 12, tzinfo=PLUS_TWO)
    assert encode(dt.datetime, when, POSTGRESQL) is when
    assert encode(uuid.UUID, A_UUID, POSTGRESQL) is A_UUID
    assert encode(dt.timedelta, dt.timedelta(days=3), POSTGRESQL) == dt.timedelta(days=3)
    assert encode(Decimal, 5, POSTGRESQL) == Decimal(5)
    assert encode(bool, True, POSTGRESQL) is True
    assert encode(Color, Color.RED, POSTGRESQL) == "RED"
    assert encode(array(Color), [Color.RED, Color.GREEN], POSTGRESQL) == ["RED", "GREEN"]
    # The checked JSON text itself is bound (as jsonb), not dumped a second time.
    document = encode(dict, {"a": 1}, POSTGRESQL)
    assert isinstance(document, str)
    assert document == '{"a":1}'


def test_postgresql_decoding() -> None:
    naive = dt.datetime(2024, 1, 1, 12)
    assert decode(dt.datetime, naive, POSTGRESQL) == naive.replace(tzinfo=dt.UTC)
    # psycopg parses json/jsonb itself; a JSON string scalar (what json_get
    # can return) must stay the string, not be parsed a second time.
    assert decode(dict, {"a": 1}, POSTGRESQL) == {"a": 1}
    assert decode(dict, '{"a": 1}', POSTGRESQL) == '{"a": 1}'
    assert decode(Color, "GREEN", POSTGRESQL) is Color.GREEN
    assert decode(array(Color), ["RED"], POSTGRESQL) == [Color.RED]
    with pytest.raises(DecodeError, match="not a member name"):
        decode(Color, "BLUE", POSTGRESQL)


# Rows -----------------------------------------------------------------------


def test_single_column_rows_give_the_bare_value() -> None:
    assert decode_row(int, (5,)) == 5
    assert decode_row(dt.date, ("2024-01-02",)) == dt.date(2024, 1, 2)


def test_tuple_rows() -> None:
    row = decode_row(tup(int, optional(str), bool, Color), (1, None, 1, "RED"))
    assert row == (1, None, True, Color.RED)


def test_null_in_a_non_optional_column_is_rejected() -> None:
    # A column the driver gives as it is (int) and one that is converted (bool).
    assert_row_rejected(tup(int, str), (1, None), "column 1 is NULL but str is not optional")
    assert_row_rejected(tup(int, bool), (1, None), "NULL for non-optional bool")
    assert_row_rejected(int, (None,), "column 0 is NULL")


@pytest.mark.parametrize("row", [(1,), (1, "a", "b"), ()])
def test_wrong_column_count_is_rejected(row: tuple[Any, ...]) -> None:
    assert_row_rejected(
        tup(int, str), row, rf"expected 2 columns for tup\(int, str\), .* {len(row)}"
    )


def test_unknown_enum_name_in_a_row_is_rejected() -> None:
    assert_row_rejected(tup(int, Color), (1, "PURPLE"), "'PURPLE' is not a member name of Color")


def test_dataclass_row_is_built() -> None:
    user = decode_row(User, (1, "Ada", None))
    assert user == User(1, "Ada", None)
    assert_row_rejected(User, (1, None, None), "column 1 is NULL")


def test_keyword_only_dataclass_row_is_built() -> None:
    assert decode_row(Tagged, (3, "GREEN")) == Tagged(id=3, color=Color.GREEN)
    assert decode_row(Tagged, (4, "RED"), POSTGRESQL) == Tagged(id=4, color=Color.RED)


def test_namedtuple_row_is_built() -> None:
    point = decode_row(Point, (1, 2.5))
    assert isinstance(point, Point)
    assert point == Point(1.0, 2.5)
    assert isinstance(point.x, float)


def test_plain_rows_without_conversions() -> None:
    # Nothing to convert: rows pass through, NULLs are still caught.
    assert decode_row(tup(int, str), (1, "a")) == (1, "a")
    assert decode_row(User, (1, "a", "e")) == User(1, "a", "e")
    _, many = row_decoder(tup(int, str), SQLITE)
    with pytest.raises(DecodeError, match="column 1 is NULL"):
        many([(1, "a"), (2, None)])


def test_dbtype_of_a_row_is_what_row_decoder_reads() -> None:
    t: DbType[Any] = to_dbtype(User)
    assert t.width == 3


@BOTH
def test_a_null_anywhere_in_a_list_is_found(codecs: Codecs) -> None:
    # Bulk checks (NULL tests per row, classes per column) find the one NULL
    # in a non-optional column in the middle of a list, on both drivers.
    _, many = row_decoder(tup(optional(int), str, int), codecs)
    good = [(i, f"n{i}", i) for i in range(10)]
    assert many(good) == good
    assert many([(None, "a", 1), *good]) == [(None, "a", 1), *good]
    for bad, match in [((5, None, 5), "column 1 is NULL"), ((5, "n5", None), "column 2 is NULL")]:
        with pytest.raises(DecodeError, match=match):
            many([*good[:5], bad, *good[6:]])
        with pytest.raises(DecodeError, match=match):
            many([(None, "a", 1), *good[:5], bad])


def test_a_sqlite_list_is_checked_by_class_in_every_row() -> None:
    # SQLite stores a type per value, so a wrong class can hide anywhere,
    # after NULLs in optional columns too.
    _, many = row_decoder(tup(int, optional(str), optional(int)), SQLITE)
    rows = [(1, None, None), (2, "b", None), (3, None, 3), (4, "d", 4)]
    assert many(rows) == rows
    with pytest.raises(DecodeError, match="column 2 is declared"):
        many([*rows, (5, "e", 5.5)])
    with pytest.raises(DecodeError, match="column 1 is declared"):
        many([(0, "a", 0), (5, b"e", 5), *rows])


def test_sqlite_reads_datetimes_stored_without_an_offset() -> None:
    # The form repodb wrote before it stored the offset, and CURRENT_TIMESTAMP's,
    # read as UTC, alone and in a list beside the current form.
    old, current = "2024-05-01 10:30:15.000123", "2024-05-01 10:30:15.000123+00:00"
    want = dt.datetime(2024, 5, 1, 10, 30, 15, 123, tzinfo=dt.UTC)
    assert decode(dt.datetime, old) == want
    assert decode(dt.datetime, "2024-05-01 10:30:15") == want.replace(microsecond=0)
    _, many = row_decoder(tup(int, dt.datetime), SQLITE)
    back = many([(1, current), (2, old), (3, "2024-05-01 12:30:15.000123+02:00")])
    assert back == [(1, want), (2, want), (3, want)]
    assert all(when.tzinfo is dt.UTC for _, when in back)


@pytest.mark.parametrize(
    ("spec", "column", "bad", "match"),
    [
        (bool, [0, 1], 2, "not 0 or 1"),
        (dict, ['{"a":1}', "[]"], "{not json", "cannot decode str as json"),
        (uuid.UUID, [str(A_UUID)] * 2, "not-a-uuid", "cannot decode str as uuid"),
        (Decimal, ["1.5", "2"], "abc", "cannot decode str as decimal"),
        (dt.datetime, ["2024-05-01 10:30:15.000123+00:00"] * 2, "soon", "as datetime"),
        (dt.datetime, ["2024-05-01 10:30:15.000123+00:00"] * 2, None, "got NULL"),
    ],
)
def test_a_column_converted_at_once_fails_as_its_value_would(
    spec: Any, column: list[Any], bad: object, match: str
) -> None:
    # A list converts each such column in one pass; a value it cannot take
    # gives the error the row-by-row path gives, and the other rows are right.
    one, many = row_decoder(tup(int, spec, optional(spec)), SQLITE)
    rows = [(i, v, None if i % 2 else v) for i, v in enumerate(column)]
    assert many(rows) == [one(row) for row in rows]
    with pytest.raises(DecodeError, match=match):
        many([*rows, (9, bad, None), *rows])


@EVERY
def test_a_long_list_is_decoded_in_slices_as_a_short_one_would_be(codecs: Codecs) -> None:
    # Past SLICE rows the columns are converted a slice at a time; a bad value
    # in any slice but the first still gives the row-by-row path's error.
    when = dt.datetime(2024, 5, 1, 10, 30, 15, 123, tzinfo=dt.UTC)
    stored: object = {
        "sqlite": "2024-05-01 10:30:15.000123+00:00",
        "postgresql": when,
        "mariadb": when.replace(tzinfo=None),  # DATETIME(6) holds UTC, naive
    }[codecs.name]
    one, many = row_decoder(tup(int, dt.datetime, optional(int)), codecs)
    rows = [(i, stored, None if i % 3 else i) for i in range(2 * SLICE + 7)]
    back = many(rows)
    assert back == [(i, when, None if i % 3 else i) for i in range(len(rows))]
    assert back == [one(row) for row in rows]
    bad = [*rows[: SLICE + 5], (-1, None, 1), *rows[SLICE + 5 :]]
    with pytest.raises(DecodeError, match=r"got NULL|column 1 is NULL"):
        many(bad)


@EVERY
def test_build_gets_the_decoded_rows_of_every_path(codecs: Codecs) -> None:
    # A statement's records are built from the rows as they are decoded:
    # converted column by column (sliced or not), kept as the driver gave
    # them, or decoded row by row; each way ``build`` sees the same rows.
    stored = "1.5" if codecs is SQLITE else Decimal("1.5")
    seen: list[list[tuple[Any, ...]]] = []

    def build(rows: Iterable[tuple[Any, ...]]) -> list[Any]:
        got = [tuple(row) for row in rows]
        seen.append(got)
        return [row[0] for row in got]

    _, many = row_decoder(tup(int, Decimal), codecs, build)
    for count in (1, 3, SLICE + 2):
        assert many([(i, stored) for i in range(count)]) == list(range(count))
        assert [row for rows in seen for row in rows] == [(i, Decimal("1.5")) for i in range(count)]
        seen.clear()
    _, plain = row_decoder(tup(int, str), codecs, build)
    assert plain([(1, "a"), (2, "b")]) == [1, 2]
    assert seen == [[(1, "a"), (2, "b")]]


def test_a_sqlite_decimal_stored_as_a_number_is_read_in_a_list() -> None:
    # A NUMERIC-affinity column gives ints and floats; they take the value decoder.
    _, many = row_decoder(tup(Decimal, optional(Decimal)), SQLITE)
    assert many([("1.5", 2), (3, None)]) == [(Decimal("1.5"), Decimal(2)), (Decimal(3), None)]


def test_postgresql_utc_datetime_columns_keep_their_rows() -> None:
    when = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    _, many = row_decoder(tup(int, dt.datetime), POSTGRESQL)
    rows = [(1, when), (2, when)]
    assert many(rows) is rows
    # A naive value (timestamp) is UTC; another zone (a session's TimeZone) is moved to UTC.
    naive = dt.datetime(2024, 5, 1, 12)
    elsewhere = dt.datetime(2024, 5, 1, 14, tzinfo=PLUS_TWO)
    back = many([(1, when), (2, naive), (3, elsewhere)])
    assert back == [(1, when), (2, when), (3, when)]
    assert all(value.tzinfo is dt.UTC for _, value in back)


# -- runs of one type, encoded at once ----------------------------------------------


@BOTH
def test_a_run_of_exact_values_passes_whole(codecs: Codecs) -> None:
    ints = list(range(-3, 60))
    assert run_encoder(to_dbtype(int), codecs)(ints) == ints
    assert run_encoder(to_dbtype(bytes), codecs)([b"a", b""]) == [b"a", b""]
    edges = [-(2**63), 2**63 - 1]
    assert run_encoder(to_dbtype(int), codecs)(edges) == edges
    assert run_encoder(optional(int), codecs)([None, 1, None]) == [None, 1, None]
    assert run_encoder(optional(int), codecs)([None, None]) == [None, None]
    assert run_encoder(optional(str), codecs)(["a", None]) == ["a", None]


@BOTH
@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([1, 2, True], "got bool"),
        ([1, None, 3], "got None"),
        ([1, 2.0], "got float"),
        ([1, 2**63], "64-bit"),
        ([-(2**63) - 1, 5], "64-bit"),
    ],
)
def test_a_run_with_one_misfit_fails_as_that_value_would(
    codecs: Codecs, values: list[Any], match: str
) -> None:
    with pytest.raises(EncodeError, match=match):
        run_encoder(to_dbtype(int), codecs)(values)
    if None not in values:
        with pytest.raises(EncodeError, match=match):
            run_encoder(optional(int), codecs)([None, *values])


def test_a_run_the_driver_converts_goes_value_by_value() -> None:
    text = to_dbtype(str)
    assert run_encoder(text, POSTGRESQL)(["a", "b"]) == ["a", "b"]
    with pytest.raises(EncodeError, match="NUL"):
        run_encoder(text, POSTGRESQL)(["a", "b\x00"])
    assert run_encoder(text, SQLITE)(["a", "b\x00"]) == ["a", "b\x00"]
    stamps = [dt.datetime(2024, 1, 1, tzinfo=PLUS_TWO)] * 40
    each = encoder(to_dbtype(dt.datetime), SQLITE)
    assert run_encoder(to_dbtype(dt.datetime), SQLITE)(stamps) == [each(v) for v in stamps]


# -- written: the value a read gives after a write -----------------------------------------


def as_read(t: DbType[Any], codecs: Codecs) -> Any:
    """The read form ``written`` gives for values of ``t``, as a function."""
    how = written(t, codecs)
    assert how is not None
    cls, convert = how
    return lambda v: v if v is None or type(v) is cls else convert(v)


@BOTH
def test_written_gives_the_read_form_of_a_value(codecs: Codecs) -> None:
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=PLUS_TWO)
    by_datetime = as_read(to_dbtype(dt.datetime), codecs)
    utc = by_datetime(at)
    assert (utc, utc.tzinfo) == (at, dt.UTC)
    assert by_datetime(utc) is utc  # already its read form: kept as it is
    assert type(as_read(to_dbtype(bytes), codecs)(bytearray(b"x"))) is bytes
    token = uuid.uuid4()
    by_uuid = as_read(optional(uuid.UUID), codecs)
    assert (by_uuid(token), by_uuid(None)) == (token, None)
    assert as_read(to_dbtype(Color), codecs)(Color.RED) is Color.RED
    how = written(to_dbtype(Color), codecs)
    assert how is not None
    assert how[0] is Color


def test_written_reads_back_what_a_database_may_store_otherwise() -> None:
    # A column's scale, jsonb's forms, and -0.0 stored as 0 where REAL keeps whole floats.
    for t in (to_dbtype(Decimal), optional(Decimal), array(Decimal)):
        assert written(t, SQLITE) is None
        assert written(t, POSTGRESQL) is None
    assert written(to_dbtype(float), SQLITE) is None
    assert written(json(), POSTGRESQL) is None
    by_json = as_read(json(), SQLITE)
    flat = {"b": 1, "a": None}
    assert by_json(flat) == flat
    assert by_json(flat) is not flat  # a copy, as a read gives
    assert by_json({"b": (1, 2), 3: "x"}) == {"b": [1, 2], "3": "x"}
    assert type(as_read(to_dbtype(float), POSTGRESQL)(3)) is float
