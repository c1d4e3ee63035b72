"""Every field type survives a write and a read on every database.

Covered: property tests (hypothesis) writing values through a typed request
into a column of the natural type for each database (the DDL map below) and
reading them back through a typed request, for bool, int (64-bit), float
(with infinities), Decimal, str (unicode), bytes, date, aware datetime (any
fixed offset or IANA zone; read back as the same instant in UTC), time,
timedelta, UUID, JSON documents, Enum, ``optional`` of each (None), and
arrays of int, str, UUID, Decimal, Enum and date (native arrays on
PostgreSQL, JSON text on SQLite). Also: a value of the wrong Python type is
refused with ``EncodeError`` before anything is written. Embedded records
holding every type (nested records and lists of them too) are written by
every write path and read back into their declared types, also when their
column is selected alone or compared with a record. Array columns of the
types migrations create (``bigint[]`` for ``list[int]``) are written,
updated and compared (``==``, ``!=``, ``IN``) with lists of every kind.
Text holding a lone surrogate (not Unicode) and JSON nested too deeply or
containing itself are an ``EncodeError`` on every path, nothing written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import repodb
from repodb import EncodeError, Request
from repodb.changeset import change
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Embedded, Schema, field
from repodb.types import DbType, array, optional, to_dbtype, tup
from repodb.write import insert_all, set_, update_all

pytestmark = pytest.mark.mariadb

INT64 = 2**63 - 1
# SQLite keeps a timedelta as int64 microseconds (about 106,751 days).
MAX_DAYS = 100_000


class Mood(enum.Enum):
    HAPPY = "h"
    SAD = 2
    CAFÉ_AU_LAIT = 3.5  # a non-ASCII member name is stored as its name


def text(**kwargs: Any) -> st.SearchStrategy[str]:
    """Unicode text without NUL (PostgreSQL refuses it) or lone surrogates."""
    return st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
        **kwargs,
    )


def decimals() -> st.SearchStrategy[Decimal]:
    """Finite decimals of up to 31 digits with exponents PostgreSQL's numeric accepts."""
    return st.builds(
        lambda m, e: Decimal(f"{m}E{e}"),
        st.integers(-(10**31), 10**31),
        st.integers(-30, 30),
    )


def fixed_offsets() -> st.SearchStrategy[dt.tzinfo]:
    limit = dt.timedelta(hours=23, minutes=59, seconds=59)
    return st.builds(dt.timezone, st.timedeltas(min_value=-limit, max_value=limit))


def aware_datetimes() -> st.SearchStrategy[dt.datetime]:
    # Years 2..9998 so that converting to UTC cannot leave datetime's range.
    return st.datetimes(
        min_value=dt.datetime(2, 1, 1),
        max_value=dt.datetime(9998, 12, 31),
        timezones=st.one_of(fixed_offsets(), st.timezones()),
    )


def json_documents() -> st.SearchStrategy[Any]:
    # jsonb keeps numbers as numeric and prints them without an exponent, so
    # a float is only read back as the same float while its repr is exact.
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False),
        text(max_size=10),
    )
    values = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )
    return st.one_of(
        st.lists(values, max_size=5), st.dictionaries(text(max_size=8), values, max_size=5)
    )


@dataclasses.dataclass(frozen=True)
class Case:
    """One type: its spec, a strategy for its values, and its column type per database."""

    name: str
    spec: Any
    values: st.SearchStrategy[Any]
    sqlite: str
    postgresql: str
    examples: tuple[Any, ...] = ()

    def column(self, conn: repodb.Connection) -> str:
        if conn.dialect.name == "mariadb":
            return MARIADB_COLUMNS.get(self.name, "JSON")  # arrays are JSON there
        return self.postgresql if conn.dialect.name == "postgresql" else self.sqlite

    def strategy(self, conn: repodb.Connection) -> st.SearchStrategy[Any]:
        """The values this database can hold: MariaDB has no infinities and no unbounded numeric."""
        if conn.dialect.name == "mariadb":
            return self.values.filter(lambda v: fits_mariadb(v))
        return self.values

    def examples_for(self, conn: repodb.Connection) -> tuple[Any, ...]:
        if conn.dialect.name == "mariadb":
            return tuple(v for v in self.examples if fits_mariadb(v))
        return self.examples


MARIADB_COLUMNS = {
    "bool": "BOOLEAN",
    "int": "BIGINT",
    "float": "DOUBLE",
    "decimal": "DECIMAL(65,30)",
    "str": "LONGTEXT",
    "bytes": "LONGBLOB",
    "date": "DATE",
    "datetime": "DATETIME(6)",
    "time": "TIME(6)",
    "timedelta": "BIGINT",
    # MariaDB 10.11's UUID type refuses some valid UUIDs (with a variant nibble of 0-7).
    "uuid": "CHAR(36)",
    "json": "JSON",
    "enum": "VARCHAR(64)",
}


def fits_mariadb(value: object) -> bool:
    """Whether MariaDB stores ``value`` exactly: finite floats, DECIMAL(65,30) numbers."""
    if isinstance(value, list):
        return all(fits_mariadb(v) for v in value)
    if isinstance(value, float):
        return value not in (float("inf"), float("-inf"))
    if isinstance(value, Decimal) and not isinstance(value, bool):
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        return exponent >= -30 and value.adjusted() < 35
    return True


ARRAY_STRINGS = ["", "NULL", "null", 'a"b', "back\\slash", "{x,y}", " spaced ", "é,ü", "'"]

CASES = [
    Case("bool", bool, st.booleans(), "INTEGER", "boolean", (True, False)),
    Case(
        "int",
        int,
        st.integers(-INT64 - 1, INT64),
        "INTEGER",
        "bigint",
        (-INT64 - 1, INT64, 0),
    ),
    Case(
        "float",
        float,
        st.floats(allow_nan=False),
        "REAL",
        "double precision",
        (float("inf"), float("-inf"), -0.0, 5e-324, 1.7976931348623157e308),
    ),
    Case(
        "decimal",
        Decimal,
        decimals(),
        "TEXT",
        "numeric",
        (Decimal("0.1"), Decimal("-1E-30"), Decimal("12345678901234567890.123456789")),
    ),
    Case("str", str, text(), "TEXT", "text", ("", "naïve ☃ 𝄞 中文", "NULL", "line\nbreak\ttab")),
    Case("bytes", bytes, st.binary(), "BLOB", "bytea", (b"", b"\x00\xff\\", b"\x00")),
    Case(
        "date",
        dt.date,
        st.dates(),
        "TEXT",
        "date",
        (dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2000, 2, 29)),
    ),
    Case(
        "datetime",
        dt.datetime,
        aware_datetimes(),
        "TEXT",
        "timestamptz",
        (
            dt.datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC),
            dt.datetime(2, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=23, minutes=59))),
            dt.datetime(
                2024,
                6,
                1,
                tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30, seconds=15, microseconds=7)),
            ),
            dt.datetime(9998, 12, 31, 23, 59, tzinfo=dt.timezone(-dt.timedelta(hours=23))),
        ),
    ),
    Case(
        "time",
        dt.time,
        st.times(),
        "TEXT",
        "time",
        (dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 0, 0, 1)),
    ),
    Case(
        "timedelta",
        dt.timedelta,
        st.timedeltas(
            min_value=dt.timedelta(days=-MAX_DAYS), max_value=dt.timedelta(days=MAX_DAYS)
        ),
        "INTEGER",
        "interval",
        (
            dt.timedelta(0),
            dt.timedelta(microseconds=-1),
            dt.timedelta(days=MAX_DAYS, microseconds=999999),
            dt.timedelta(days=-MAX_DAYS),
            dt.timedelta(hours=25),
        ),
    ),
    Case("uuid", uuid.UUID, st.uuids(), "TEXT", "uuid", (uuid.UUID(int=0),)),
    Case(
        "json",
        dict,
        json_documents(),
        "TEXT",
        "jsonb",
        ({}, [], {"a": [1, 2.5, None, True, "x"], "é": {"nested": []}}, [{"": ""}]),
    ),
    Case("enum", Mood, st.sampled_from(Mood), "TEXT", "text", tuple(Mood)),
    Case(
        "array_int",
        array(int),
        st.lists(st.integers(-INT64 - 1, INT64), max_size=6),
        "TEXT",
        "bigint[]",
        ([], [1, 2**40, -(2**63)], [0]),
    ),
    Case(
        "array_str",
        array(str),
        st.lists(text(max_size=8), max_size=6),
        "TEXT",
        "text[]",
        ([], ARRAY_STRINGS),
    ),
    Case(
        "array_uuid",
        array(uuid.UUID),
        st.lists(st.uuids(), max_size=4),
        "TEXT",
        "uuid[]",
        ([],),
    ),
    Case(
        "array_decimal",
        array(Decimal),
        st.lists(decimals(), max_size=4),
        "TEXT",
        "numeric[]",
        ([Decimal("1.5"), Decimal("-2E+10")],),
    ),
    Case(
        "array_enum",
        array(Mood),
        st.lists(st.sampled_from(Mood), max_size=4),
        "TEXT",
        "text[]",
        (list(Mood),),
    ),
    Case(
        "array_date",
        array(dt.date),
        st.lists(st.dates(), max_size=4),
        "TEXT",
        "date[]",
        ([dt.date(1, 1, 1), dt.date(9999, 12, 31)],),
    ),
]


def same(got: object, want: object) -> bool:
    """Equal, and of the same type all the way down (True is not 1, 1.0 is not 1)."""
    if type(got) is not type(want):
        return False
    if isinstance(got, dict):
        assert isinstance(want, dict)
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in got)
    if isinstance(got, list):
        assert isinstance(want, list)
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    return got == want


def expected(value: object) -> object:
    """What the database gives back: datetimes come back as the same instant in UTC."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


def assert_roundtrip(got: object, value: object) -> None:
    want = expected(value)
    assert same(got, want), f"wrote {value!r}, read {got!r}"
    if isinstance(got, dt.datetime):
        assert got.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_value_roundtrips(conn: repodb.Connection, case: Case) -> None:
    conn.exec(Request.exec(f"CREATE TABLE rt (id INTEGER PRIMARY KEY, v {case.column(conn)})"))
    spec: DbType[Any] = to_dbtype(case.spec)
    insert = Request.exec("INSERT INTO rt (id, v) VALUES (?, ?)", params=tup(int, spec))
    insert_null = Request.exec(
        "INSERT INTO rt (id, v) VALUES (?, ?)", params=tup(int, optional(spec))
    )
    read = Request.one("SELECT v FROM rt WHERE id = ?", params=int, row=spec)
    read_optional = Request.one("SELECT v FROM rt WHERE id = ?", params=int, row=optional(spec))
    keys = itertools.count()

    def check(value: object) -> None:
        key = next(keys)
        if value is None:
            conn.exec(insert_null, (key, None))
            assert conn.one(read_optional, key) is None
            with pytest.raises(repodb.DecodeError):
                conn.one(read, key)
            return
        conn.exec(insert, (key, value))
        assert_roundtrip(conn.one(read, key), value)
        assert_roundtrip(conn.one(read_optional, key), value)

    property_test = given(st.none() | case.strategy(conn))(check)
    for value in case.examples_for(conn):
        property_test = example(value)(property_test)
    settings(max_examples=40, deadline=None)(property_test)()
    assert conn.one(Request.one("SELECT count(*) FROM rt", row=int)) == next(keys)


def test_all_types_in_one_row(conn: repodb.Connection) -> None:
    columns = ", ".join(f"c{i} {case.column(conn)}" for i, case in enumerate(CASES))
    conn.exec(Request.exec(f"CREATE TABLE wide (id INTEGER PRIMARY KEY, {columns})"))
    names = ", ".join(f"c{i}" for i in range(len(CASES)))
    marks = ", ".join("?" for _ in CASES)
    specs = [to_dbtype(case.spec) for case in CASES]
    row_type = tup(*specs)
    insert = Request.exec(
        f"INSERT INTO wide (id, {names}) VALUES (?, {marks})", params=tup(int, *specs)
    )
    row = tuple(case.examples[-1] for case in CASES)
    conn.exec(insert, (1, *row))
    got = conn.one(Request.one(f"SELECT {names} FROM wide", row=row_type))
    assert len(got) == len(row)
    for case, value, back in zip(CASES, row, got, strict=True):
        assert same(back, expected(value)), f"{case.name}: wrote {value!r}, read {back!r}"


# Refused values ------------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {"s3cret": 1}
    for _ in range(depth):
        document = {"a": document}
    return document


CYCLIC: dict[str, Any] = {"s3cret": 1}
CYCLIC["self"] = CYCLIC


PLUS_5 = dt.timezone(dt.timedelta(hours=5))
MINUS_5 = dt.timezone(dt.timedelta(hours=-5))


@dataclasses.dataclass(frozen=True)
class Bad:
    name: str
    spec: Any
    value: object
    only: str | None = None  # the database that refuses it, when only one does


BAD_VALUES = [
    Bad("str_for_int", int, "s3cret-value"),
    Bad("bool_for_int", int, True),
    Bad("int_too_big", int, 2**63),
    Bad("int_too_small", int, -(2**63) - 1),
    Bad("float_for_decimal", Decimal, 1.5),
    Bad("str_for_bytes", bytes, "abc"),
    Bad("naive_datetime", dt.datetime, dt.datetime(2024, 1, 1)),
    # Valid values whose UTC form is before year 1 or after 9999.
    Bad("datetime_before_utc_year_1", dt.datetime, dt.datetime(1, 1, 1, tzinfo=PLUS_5)),
    Bad("datetime_after_utc_9999", dt.datetime, dt.datetime.max.replace(tzinfo=MINUS_5)),
    Bad("datetime_for_date", dt.date, dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
    Bad("aware_time", dt.time, dt.time(12, 0, tzinfo=dt.UTC)),
    Bad("str_for_uuid", uuid.UUID, "00000000-0000-0000-0000-000000000000"),
    Bad("name_for_enum", Mood, "HAPPY"),
    Bad("str_for_json", dict, "{}"),
    Bad("nan_in_json", dict, {"x": float("nan")}),
    Bad("none_for_int", int, None),
    Bad("str_in_int_array", array(int), [1, "2"]),
    Bad("nul_in_text", str, "a\x00b", only="postgresql"),
    Bad("nan_float", float, float("nan"), only="sqlite"),
    Bad("infinite_float", float, float("inf"), only="mariadb"),
    # Text that is not Unicode (a lone surrogate), and JSON no database stores.
    Bad("lone_surrogate", str, "s3cret\ud800"),
    Bad("lone_surrogate_in_array", array(str), ["ok", "s3cret\udfff"]),
    Bad("lone_surrogate_in_json", dict, {"k": "s3cret\ud800"}),
    Bad("lone_surrogate_json_key", dict, {"\udc00": "s3cret"}),
    Bad("deep_json", dict, nested(100_000)),
    Bad("cyclic_json", dict, CYCLIC),
]


@pytest.mark.parametrize("bad", BAD_VALUES, ids=[b.name for b in BAD_VALUES])
def test_wrong_value_raises_encode_error_and_writes_nothing(
    conn: repodb.Connection, bad: Bad
) -> None:
    conn.exec(Request.exec("CREATE TABLE refused (id INTEGER PRIMARY KEY, v TEXT)"))
    insert = Request.exec("INSERT INTO refused (id, v) VALUES (?, ?)", params=tup(int, bad.spec))
    if bad.only is not None and bad.only != conn.dialect.name:
        return  # accepted here (the test of the other database checks the refusal)
    with pytest.raises(EncodeError) as info:
        conn.exec(insert, (1, bad.value))
    assert isinstance(info.value, TypeError)
    assert "parameter 2" in str(info.value)
    assert "s3cret" not in str(info.value)
    assert conn.one(Request.one("SELECT count(*) FROM refused", row=int)) == 0


def test_values_made_by_the_database(conn: repodb.Connection) -> None:
    before = dt.datetime.now(dt.UTC)
    now, today, truth = conn.one(
        Request.one(
            "SELECT CURRENT_TIMESTAMP, CURRENT_DATE, 1 = 1", row=tup(dt.datetime, dt.date, bool)
        )
    )
    assert now.utcoffset() == dt.timedelta(0)
    # Generous bounds: only the time zone handling is under test.
    assert abs(now - before) < dt.timedelta(hours=1)
    assert type(today) is dt.date
    assert abs(today - before.date()) <= dt.timedelta(days=1)
    assert truth is True


# Embedded records ----------------------------------------------------------


class Shade(Embedded):
    name: str
    mood: Mood | None = None


class Everything(Embedded):
    flag: bool
    count: int
    ratio: float
    price: Decimal
    label: str
    blob: bytes
    day: dt.date
    at: dt.datetime
    clock: dt.time
    span: dt.timedelta
    key: uuid.UUID
    doc: dict[str, Any]
    mood: Mood
    maybe: int | None
    numbers: list[int]
    days: list[dt.date]
    primary: Shade
    shades: list[Shade]
    spare: Shade | None = None


class Item(Schema, table="items"):
    id: Col[int] = field(primary_key=True, default=None)
    one: Col[Everything]
    many: Col[list[Everything]] = field(default_factory=list)
    shade: Col[Shade | None] = field(default=None)


ITEMS_DDL = {
    "sqlite": "CREATE TABLE items (id INTEGER PRIMARY KEY, one TEXT NOT NULL, "
    "many TEXT NOT NULL, shade TEXT)",
    "postgresql": "CREATE TABLE items (id BIGSERIAL PRIMARY KEY, one JSONB NOT NULL, "
    "many JSONB NOT NULL, shade JSONB)",
    "mariadb": "CREATE TABLE items (id BIGINT AUTO_INCREMENT PRIMARY KEY, one JSON NOT NULL, "
    "many JSON NOT NULL, shade JSON)",
}


def everything(n: int) -> Everything:
    return Everything(
        flag=n % 2 == 0,
        count=-(2**63) + n,
        ratio=0.1 + n,
        price=Decimal("12345678901234567890.10") + n,
        label=f"naïve ☃ 𝄞 {n}",
        blob=bytes([0, 255, n]),
        day=dt.date(2000, 2, 29) + dt.timedelta(days=n),
        at=dt.datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5))),
        clock=dt.time(23, 59, 59, 999999),
        span=dt.timedelta(days=-MAX_DAYS, microseconds=n),
        key=uuid.UUID(int=n),
        doc={"a": [1, 2.5, None, True, "x"], "é": {"nested": []}},
        mood=Mood.CAFÉ_AU_LAIT,
        maybe=None if n else 7,
        numbers=[1, 2**40, n],
        days=[dt.date(1, 1, 1), dt.date(9999, 12, 31)],
        primary=Shade(name="red", mood=Mood.SAD),
        shades=[Shade(name="blue"), Shade(name="green", mood=Mood.HAPPY)],
        spare=Shade(name="spare") if n else None,
    )


def assert_declared_types(item: Item) -> None:
    """Every level of the embedded records is its declared class, not a dict or text."""
    for value in (item.one, *item.many):
        assert type(value) is Everything
        assert type(value.primary) is Shade
        assert all(type(s) is Shade for s in value.shades)
        assert value.spare is None or type(value.spare) is Shade
        assert type(value.day) is dt.date
        assert type(value.at) is dt.datetime
        assert value.at.utcoffset() == dt.timedelta(0)
        assert type(value.price) is Decimal
        assert type(value.key) is uuid.UUID
        assert type(value.blob) is bytes
        assert type(value.span) is dt.timedelta
        assert type(value.mood) is Mood
        assert type(value.ratio) is float
        assert all(type(d) is dt.date for d in value.days)
    assert item.shade is None or type(item.shade) is Shade


@pytest.fixture
def items(conn: repodb.Connection) -> Repo:
    conn.exec(Request.exec(ITEMS_DDL[conn.dialect.name]))
    return Repo(conn)


def test_embedded_records_of_every_type_roundtrip_through_every_write(items: Repo) -> None:
    given = Item(one=everything(0), many=[everything(1)], shade=Shade(name="s"))
    first = items.insert(given)
    assert first == given.replace(id=first.id)
    assert_declared_types(first)
    [second] = items.insert_all(Item, [Item(one=everything(2))], returning=True).rows
    row = {"one": everything(3), "many": []}
    [third] = items.execute(insert_all(Item, [row], returning=True))[0]
    items.insert_all(Item, [Item(id=100, one=everything(8), many=[everything(9)])])  # COPY
    changes = {"many": [everything(4), everything(5)], "shade": Shade(name="x")}
    changed = items.update(change(second, **changes))
    assert changed.many == [everything(4), everything(5)]
    items.execute(update_all(query(Item).where(Item.id == third.id), set_(Item.one, everything(6))))
    items.execute(update_all(query(Item).where(Item.id == third.id), set={"many": [everything(7)]}))
    stored = items.all(query(Item).order_by(Item.id))
    assert stored == [
        first,
        changed,
        Item(id=third.id, one=everything(6), many=[everything(7)]),
        Item(id=100, one=everything(8), many=[everything(9)]),
    ]
    for item in stored:
        assert_declared_types(item)


def test_an_embedded_column_is_selected_as_its_type(items: Repo) -> None:
    stored = items.insert(Item(one=everything(1), shade=Shade(name="red", mood=Mood.SAD)))
    items.insert(Item(one=everything(2)))
    assert items.all(query(Item).select(Item.shade).order_by(Item.id)) == [stored.shade, None]
    ones = items.all(query(Item).select(Item.one, Item.many).order_by(Item.id))
    assert ones == [(everything(1), []), (everything(2), [])]
    assert type(ones[0][0].primary) is Shade


def test_an_embedded_column_is_compared_with_a_record(items: Repo) -> None:
    red = Shade(name="red", mood=Mood.SAD)
    stored = items.insert(Item(one=everything(1), shade=red))
    other = items.insert(Item(one=everything(2), shade=Shade(name="blue")))
    assert items.all(query(Item).where(Item.shade == red)) == [stored]
    assert items.all(query(Item).where(Item.shade != red)) == [other]
    assert items.all(query(Item).where(Item.shade == Shade(name="red"))) == []
    assert items.all(query(Item).where(Item.one == everything(2))) == [other]
    assert items.all(query(Item).where(Item.shade.in_([red, Shade(name="x")]))) == [stored]
    assert len(items.all(query(Item).where(Item.many == []))) == 2


def test_an_embedded_field_of_the_wrong_type_is_an_encode_error(items: Repo) -> None:
    bad = everything(1).replace(day="2024-01-01")
    with pytest.raises(EncodeError, match=r"Everything\.day: expected date, got str"):
        items.insert(Item(one=bad))
    with pytest.raises(EncodeError, match="expected Shade, got dict"):
        items.all(query(Item).where(Item.shade == {"name": "red"}))  # type: ignore[arg-type]
    assert items.all(query(Item)) == []


# Arrays compared with lists -------------------------------------------------


class Lists(Schema, table="lists"):
    id: Col[int] = field(primary_key=True, default=None)
    ints: Col[list[int]]
    strs: Col[list[str]]
    floats: Col[list[float]]
    decimals: Col[list[Decimal]]
    uuids: Col[list[uuid.UUID]]
    days: Col[list[dt.date]]
    moods: Col[list[Mood]]
    flags: Col[list[bool]]
    maybe: Col[list[int | None] | None] = field(default=None)


LISTS_COLUMNS = {
    "ints": "bigint[]",
    "strs": "text[]",
    "floats": "double precision[]",
    "decimals": "numeric[]",
    "uuids": "uuid[]",
    "days": "date[]",
    "moods": "text[]",
    "flags": "boolean[]",
    "maybe": "bigint[]",
}


def lists(n: int, size: int) -> Lists:
    return Lists(
        ints=[n + i for i in range(size)],
        strs=[f"s{n}"] * size,
        floats=[n + 0.5] * size,
        decimals=[Decimal(n) / 4] * size,
        uuids=[uuid.UUID(int=n)] * size,
        days=[dt.date(2000, 1, 1 + n)] * size,
        moods=[Mood.SAD] * size,
        flags=[n % 2 == 0] * size,
        maybe=[None, n] if size else None,
    )


def test_array_columns_are_compared_and_written_with_lists_of_every_kind(
    conn: repodb.Connection,
) -> None:
    postgresql = conn.dialect.name == "postgresql"
    columns = ", ".join(
        f"{name} {kind if postgresql else 'TEXT'}" for name, kind in LISTS_COLUMNS.items()
    )
    conn.exec(Request.exec(f"CREATE TABLE lists (id INTEGER PRIMARY KEY, {columns})"))
    repo = Repo(conn)
    small = repo.insert(lists(1, 3).replace(id=1))
    empty = repo.insert(lists(2, 0).replace(id=2))
    repo.insert_all(Lists, [lists(3, 2).replace(id=3)])
    fields = [name for name in LISTS_COLUMNS if name != "maybe"]
    for name in fields:
        column = getattr(Lists, name)
        value = getattr(small, name)
        assert repo.all(query(Lists).where(column == value)) == [small], name
        assert repo.all(query(Lists).where(column == [])) == [empty], name
        others = repo.all(query(Lists).where(column != value).order_by(Lists.id))
        assert [r.id for r in others] == [2, 3], name
        found = repo.all(query(Lists).where(column.in_([value, []])).order_by(Lists.id))
        assert found == [small, empty], name
    assert repo.all(query(Lists).where(Lists.maybe == [None, 1])) == [small]
    # Small ints, ints past 32 bits, and none at all, bound where a bigint[] is declared.
    big = [1, 2**40, -(2**63)]
    repo.execute(update_all(query(Lists).where(Lists.ints == [3, 4]), set={"ints": big}))
    repo.execute(update_all(query(Lists).where(Lists.id == 2), set_(Lists.ints, [7])))
    assert repo.all(query(Lists).where(Lists.ints == big).select(Lists.id)) == [3]
    assert repo.get(Lists, 2).ints == [7]
    updated = repo.update(change(small, ints=[5], maybe=[None]))
    assert repo.all(query(Lists).where(Lists.ints == [5], Lists.maybe == [None])) == [updated]
    typed_request = Request.many("SELECT id FROM lists WHERE ints = ?", params=array(int), row=int)
    assert conn.all(typed_request, [5]) == [1]


# Text that is not Unicode ----------------------------------------------------


class Note(Schema, table="notes"):
    id: Col[int] = field(primary_key=True, default=None)
    title: Col[str]
    tags: Col[list[str]] = field(default_factory=list)
    doc: Col[dict[str, Any] | None] = field(default=None)
    shade: Col[Shade | None] = field(default=None)


NOTES_DDL = {
    "sqlite": "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, "
    "tags TEXT NOT NULL, doc TEXT, shade TEXT)",
    "postgresql": "CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL, "
    "tags TEXT[] NOT NULL, doc JSONB, shade JSONB)",
    "mariadb": "CREATE TABLE notes (id BIGINT AUTO_INCREMENT PRIMARY KEY, title TEXT NOT NULL, "
    "tags JSON NOT NULL, doc JSON, shade JSON)",
}

SURROGATE = "s3cret\ud800"


def test_a_lone_surrogate_is_an_encode_error_on_every_path(conn: repodb.Connection) -> None:
    conn.exec(Request.exec(NOTES_DDL[conn.dialect.name]))
    repo = Repo(conn)
    kept = repo.insert(Note(title="kept"))
    bad_notes = [
        Note(title=SURROGATE),
        Note(title="t", tags=["a", SURROGATE]),
        Note(title="t", doc={"k": SURROGATE}),
        Note(title="t", doc={SURROGATE: 1}),
        Note(title="t", shade=Shade(name=SURROGATE)),
    ]
    writes: list[Any] = []
    for note in bad_notes:
        writes += [
            lambda note=note: repo.insert(note),
            # Several rows: PostgreSQL loads them with COPY.
            lambda note=note: repo.insert_all(Note, [Note(title="a"), note, Note(title="b")]),
            lambda note=note: repo.insert_all(Note, [note], returning=True),
        ]
    writes += [
        lambda: repo.update(change(kept, title=SURROGATE)),
        lambda: repo.update(change(kept, tags=[SURROGATE])),
        lambda: repo.execute(update_all(query(Note), set={"title": SURROGATE})),
        lambda: repo.all(query(Note).where(Note.title == SURROGATE)),
        lambda: repo.all(query(Note).where(Note.title.in_(["a", SURROGATE]))),
        lambda: repo.all(query(Note).where(Note.tags == [SURROGATE])),
        lambda: list(repo.stream(query(Note).where(Note.title == SURROGATE))),
    ]
    for write in writes:
        with pytest.raises(EncodeError) as info:
            write()
        assert "s3cret" not in str(info.value)
    # The offending parameter is named where the statement has parameters of its own.
    with pytest.raises(EncodeError, match="parameter 1: text holding '\\\\ud800'"):
        repo.all(query(Note).where(Note.title == SURROGATE))
    # Nothing was written, and the connection goes on.
    assert repo.all(query(Note)) == [kept]
    with conn.transaction():
        with pytest.raises(EncodeError):
            repo.insert(Note(title=SURROGATE))
        repo.insert(Note(title="after"))
    assert [n.title for n in repo.all(query(Note).order_by(Note.id))] == ["kept", "after"]
