"""The single-row record decoder a get runs: the same records and errors as the checking path.

A get decodes one row straight into its record, in a function generated
for the row's columns and the record's fields (``_codec.one_record_decoder``);
a list of rows is decoded column by column, or row by row through the
checking wrapper. These tests build SQLite's driver values for a record of
every field type, and check that one row gives the record two rows give,
that every value the fast path does not take raises the very DecodeError
of the list path, and that the generated code holds only generated names.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from repodb import param, prepare
from repodb._codec import encoder
from repodb.dialect import SQLITE
from repodb.driver.sqlite import CODECS
from repodb.errors import DecodeError
from repodb.query import query
from repodb.schema import Col, Embedded, Schema, field, schema_info


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Spot(Embedded):
    x: int
    label: str | None = None


class Everything(Schema, table="everything"):
    id: Col[int] = field(primary_key=True)
    name: Col[str]
    n: Col[int]
    flag: Col[bool]
    maybe: Col[int | None]
    price: Col[Decimal]
    ratio: Col[float]
    maybe_price: Col[Decimal | None]
    blob: Col[bytes]
    day: Col[dt.date]
    at: Col[dt.datetime]
    maybe_at: Col[dt.datetime | None]
    clock: Col[dt.time]
    span: Col[dt.timedelta]
    token: Col[uuid.UUID]
    maybe_token: Col[uuid.UUID | None]
    doc: Col[dict[str, Any]]
    mood: Col[Mood]
    tags: Col[list[str]]
    spot: Col[Spot]
    note: Col[str | None] = field(default="virtual", virtual=True)


RECORD = Everything(
    id=7,
    flag=True,
    n=-3,
    maybe=None,
    ratio=0.25,
    price=Decimal("12.50"),
    maybe_price=Decimal("1"),
    name="naïve ☃",
    blob=b"\x00\xff",
    day=dt.date(2026, 5, 1),
    at=dt.datetime(2026, 5, 1, 10, 30, 15, 123, tzinfo=dt.UTC),
    maybe_at=None,
    clock=dt.time(23, 59, 58, 1),
    span=dt.timedelta(days=2, microseconds=5),
    token=uuid.UUID(int=12345, version=4),
    maybe_token=uuid.UUID(int=9, version=4),
    doc={"a": [1, 2], "b": None},
    mood=Mood.SAD,
    tags=["x", "y"],
    spot=Spot(x=1, label="here"),
)

PLAN = prepare(query(Everything).where(Everything.id == param("id"))).plan(SQLITE, CODECS)
FIELDS = list(schema_info(Everything).fields)


def stored(record: Everything) -> tuple[Any, ...]:
    """The row SQLite gives for ``record``: each value in its stored form."""
    return tuple(encoder(f.dbtype, CODECS)(getattr(record, f.name)) for f in FIELDS)


def test_one_row_gives_the_record_two_rows_give() -> None:
    row = stored(RECORD)
    [one] = PLAN.decode([row])
    assert one == RECORD
    assert PLAN.decode([row, row]) == [RECORD, RECORD]
    assert repr(one) == repr(RECORD)
    # Built without the constructor, yet frozen, with the class's field order and defaults.
    assert list(vars(one)) == list(vars(RECORD))
    assert one.note == "virtual"
    with pytest.raises(AttributeError):
        one.n = 1
    assert one.replace(n=4).n == 4
    # Optional columns holding values, and the text SQLite gives for UTC without an offset.
    other = RECORD.replace(maybe=5, maybe_at=RECORD.at, maybe_price=None, maybe_token=None)
    assert PLAN.decode([stored(other)]) == [other]
    # Text without an offset is UTC; with another offset, the same instant in UTC.
    for text in ("2026-05-01 10:30:15", "2026-05-01 15:30:15+05:00"):
        at = PLAN.decode([_with("at", text)])[0].at
        assert at == dt.datetime(2026, 5, 1, 10, 30, 15, tzinfo=dt.UTC)
        assert at.tzinfo is dt.UTC
    assert PLAN.decode([]) == []


def test_a_good_row_never_reaches_the_checking_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def checking(rows: list[tuple[Any, ...]]) -> list[Any]:
        raise AssertionError("the row went to the checking path")

    monkeypatch.setitem(PLAN.decode.__globals__, "decode", checking)
    assert PLAN.decode([stored(RECORD)]) == [RECORD]
    other = RECORD.replace(maybe=5, maybe_at=RECORD.at, maybe_price=None, maybe_token=None)
    assert PLAN.decode([stored(other)]) == [other]
    with pytest.raises(AssertionError, match="checking path"):
        PLAN.decode([_with("n", "3")])


def _with(name: str, value: object) -> tuple[Any, ...]:
    row = list(stored(RECORD))
    row[[f.name for f in FIELDS].index(name)] = value
    return tuple(row)


BAD = [
    (_with("n", "3"), "declared int"),
    (_with("n", None), "NULL"),
    (_with("maybe", 2.5), "declared optional"),
    (_with("flag", 2), "cannot decode"),
    (_with("price", "x"), "cannot decode"),
    (_with("price", None), "NULL"),
    (_with("token", "not a uuid"), "cannot decode"),
    (_with("at", "yesterday"), "cannot decode"),
    (_with("doc", "{"), "cannot decode"),
    (_with("mood", "ANGRY"), "not a member"),
    (_with("tags", "[1"), "cannot decode"),
    (_with("spot", '{"x": "no"}'), "Spot.x"),
    (stored(RECORD)[:-1], "expected .* columns"),
]


@pytest.mark.parametrize(("row", "message"), BAD, ids=[m for _, m in BAD])
def test_a_value_the_fast_path_refuses_fails_as_a_list_does(
    row: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(DecodeError, match=message) as one:
        PLAN.decode([row])
    with pytest.raises(DecodeError) as many:
        PLAN.decode([row, stored(RECORD)])
    assert str(one.value) == str(many.value)


GENERATED = re.compile(r"[ckftex][0-9]+")


def test_the_generated_code_holds_only_generated_names() -> None:
    code = PLAN.decode.__code__
    assert code.co_filename == "<repodb record decoder>"
    fixed = {"len", "type", "new", "cls", "__dict__", "Exception", "decode", "rows", "r", "d"}
    for name in (*code.co_names, *code.co_varnames):
        assert name in fixed or GENERATED.fullmatch(name), name
    # The only text: the record's field names, as the keys of its __dict__.
    texts = {c for c in code.co_consts if isinstance(c, str)}
    assert texts <= {f.name for f in FIELDS} | {"note"}
    assert all(text.isidentifier() for text in texts)


class Stamped(Schema, table="stamped"):
    id: Col[int] = field(primary_key=True)
    at: Col[dt.datetime]
    maybe_at: Col[dt.datetime | None]


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_postgresql_datetimes_in_utc_are_kept_and_others_converted(
    driver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # psycopg and asyncpg give a timestamptz as an aware datetime: one in
    # UTC is kept as it is; a naive one (timestamp) is UTC; another zone is
    # converted; each as the list path does it.
    if driver == "psycopg":
        from repodb.driver._postgresql import CODECS as PG
    else:
        pytest.importorskip("asyncpg")
        from repodb.driver.asyncpg_async import CODECS as PG
    from repodb.dialect import POSTGRESQL

    plan = prepare(query(Stamped).where(Stamped.id == param("id"))).plan(POSTGRESQL, PG)
    utc = dt.datetime(2026, 5, 1, 10, 30, tzinfo=dt.UTC)
    for given in (
        utc,
        utc.replace(tzinfo=None),
        utc.astimezone(dt.timezone(dt.timedelta(hours=5))),
        utc.astimezone(ZoneInfo("UTC")),
    ):
        row = (1, given, given)
        [one] = plan.decode([row])
        assert one == Stamped(id=1, at=utc, maybe_at=utc)
        assert one.at.tzinfo is dt.UTC
        assert one.maybe_at is not None
        assert one.maybe_at.tzinfo is dt.UTC
        assert plan.decode([row, row]) == [one, one]
    assert plan.decode([(1, utc, None)]) == [Stamped(id=1, at=utc, maybe_at=None)]
    with monkeypatch.context() as patched:
        patched.setitem(plan.decode.__globals__, "decode", None)  # the checking path: unused
        assert plan.decode([(1, utc, utc)]) == [Stamped(id=1, at=utc, maybe_at=utc)]
    # A value of another class fails as the list path fails.
    for bad in ((1, "2026-05-01", None), (1, None, None), (1, utc, 5)):
        with pytest.raises(DecodeError) as one_error:
            plan.decode([bad])
        with pytest.raises(DecodeError) as many_error:
            plan.decode([bad, bad])
        assert str(one_error.value) == str(many_error.value)
