"""``repo.insert`` returns what ``repo.get`` of the row gives, reading back only what it must.

An insert reads back (``RETURNING``) only what the database decides: the
assigned key, ``read_after_writes`` fields (left out of the INSERT while
None, so the column's default applies) and the kinds the database may store
otherwise (``Codecs.readback``: Decimal everywhere, JSON on PostgreSQL,
floats on SQLite and MariaDB, which store -0.0 as 0); the
rest of the record is built from the values sent. Checked on SQLite,
PostgreSQL and MariaDB, field by field, by class and ``repr`` (so 1.5 vs
1.50, a datetime's zone, a dict's key order or a bytearray would show), for
every kind, with values a database stores in another form: an int in a float
field, a Decimal in a scaled column (and, on SQLite, in a column of NUMERIC
affinity), an aware datetime in another zone, a bytearray, JSON with tuples,
unsorted keys and numbers jsonb prints otherwise, enums, arrays, embedded
records, None; through the async drivers too (asyncpg and asyncmy hand over
values of their own). Also: the SQL names only those columns after RETURNING; an update
(which reads its whole row back) returns what ``get`` gives too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, LiteralString

import pytest

import repodb
from repodb import AsyncRepo, Request
from repodb.changeset import cast, change
from repodb.repo import Repo
from repodb.schema import Col, Embedded, Schema, field
from repodb.telemetry import QueryEvent
from tests.conftest import dialect_of

pytestmark = pytest.mark.mariadb


class Mood(enum.Enum):
    HAPPY = "h"
    SAD = 2


class Shade(enum.StrEnum):
    DARK = "dark"

    def __str__(self) -> str:
        return "Shade.DARK"  # not what is stored


class Level(enum.IntEnum):
    HIGH = 7


class Ratio(float):
    def __repr__(self) -> str:
        return f"Ratio({float(self)})"


class Address(Embedded):
    city: str
    lines: list[str]


class Thing(Schema, table="things"):
    id: Col[int | None] = field(primary_key=True, default=None)
    flag: Col[bool]
    count: Col[int]
    ratio: Col[float]
    price: Col[Decimal]
    loose: Col[Decimal | None] = field(default=None)
    name: Col[str]
    payload: Col[bytes]
    day: Col[dt.date]
    at: Col[dt.datetime]
    clock: Col[dt.time]
    span: Col[dt.timedelta]
    token: Col[uuid.UUID]
    doc: Col[dict[str, Any]]
    mood: Col[Mood]
    tags: Col[list[int]]
    address: Col[Address | None] = field(default=None)
    maybe: Col[str | None] = field(default=None)
    status: Col[str | None] = field(default=None, read_after_writes=True)
    note: Col[str | None] = field(default=None, virtual=True)
    inserted_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")
    updated_at: Col[dt.datetime | None] = field(default=None, timestamp="updated")


COLUMNS: dict[str, LiteralString] = {
    "sqlite": "id INTEGER PRIMARY KEY, flag INTEGER NOT NULL, count INTEGER NOT NULL,"
    " ratio REAL NOT NULL, price TEXT NOT NULL, loose NUMERIC(10, 2), name TEXT NOT NULL,"
    " payload BLOB NOT NULL, day TEXT NOT NULL, at DATETIME NOT NULL, clock TIME NOT NULL,"
    " span INTEGER NOT NULL, token TEXT NOT NULL, doc TEXT NOT NULL, mood TEXT NOT NULL,"
    " tags TEXT NOT NULL, address TEXT, maybe TEXT, status TEXT DEFAULT 'new',"
    " inserted_at TEXT, updated_at TEXT",
    "postgresql": "id BIGSERIAL PRIMARY KEY, flag boolean NOT NULL, count bigint NOT NULL,"
    " ratio double precision NOT NULL, price numeric(14, 2) NOT NULL, loose numeric(10, 2),"
    " name text NOT NULL, payload bytea NOT NULL, day date NOT NULL, at timestamptz NOT NULL,"
    " clock time NOT NULL, span interval NOT NULL, token uuid NOT NULL, doc jsonb NOT NULL,"
    " mood text NOT NULL, tags bigint[] NOT NULL, address jsonb, maybe text,"
    " status text DEFAULT 'new', inserted_at timestamptz, updated_at timestamptz",
    "mariadb": "id BIGINT AUTO_INCREMENT PRIMARY KEY, flag BOOLEAN NOT NULL,"
    " count BIGINT NOT NULL, ratio DOUBLE NOT NULL, price DECIMAL(14, 2) NOT NULL,"
    " loose DECIMAL(10, 2), name LONGTEXT NOT NULL, payload LONGBLOB NOT NULL, day DATE NOT NULL,"
    " at DATETIME(6) NOT NULL, clock TIME(6) NOT NULL, span BIGINT NOT NULL,"
    " token CHAR(36) NOT NULL, doc JSON NOT NULL, mood VARCHAR(16) NOT NULL,"
    " tags JSON NOT NULL, address JSON, maybe LONGTEXT, status VARCHAR(16) DEFAULT 'new',"
    " inserted_at DATETIME(6), updated_at DATETIME(6)",
}

KOLKATA = dt.timezone(dt.timedelta(hours=5, minutes=30))


def a_thing(**changes: Any) -> Thing:
    """A record whose values a database stores in other forms than the ones given."""
    values: dict[str, Any] = {
        "flag": True,
        "count": 2**62,
        "ratio": 3,  # an int in a float field: read as 3.0
        "price": Decimal("1.5"),  # numeric(14, 2): 1.50
        "loose": Decimal("2.25"),
        "name": "naïve ☃ 𝄞 trailing  ",
        "payload": bytearray(b"\x00\xff"),  # read as bytes
        "day": dt.date(2026, 12, 7),
        "at": dt.datetime(2026, 12, 7, 15, 30, 0, 123456, tzinfo=KOLKATA),  # read in UTC
        "clock": dt.time(23, 59, 58, 999999),
        "span": dt.timedelta(days=3, seconds=5, microseconds=7),
        "token": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        # jsonb sorts the keys, prints 1e16 as an integer; a tuple reads as a list.
        "doc": {"zeta": 1, "a": [1, 2.5, (3, "x")], "mid": {"b": None, "a": True}, "big": 1e16},
        "mood": Mood.SAD,
        "tags": [3, 1, 2],
        "address": Address(city="Paris", lines=["1 rue", "bis"]),
        "note": "virtual",
    }
    values.update(changes)
    return Thing(**values)


@pytest.fixture
def events() -> list[QueryEvent]:
    return []


@pytest.fixture
def repo(conn: repodb.Connection, events: list[QueryEvent]) -> Repo:
    conn.exec(Request.exec("CREATE TABLE things (" + COLUMNS[conn.dialect.name] + ")"))
    return Repo(conn, on_event=events.append)


def shown(record: Thing) -> dict[str, tuple[type[Any], str]]:
    """Each field's class and repr: equal values stored otherwise (1.5, 1.50) differ here."""
    return {name: (type(v), repr(v)) for name, v in vars(record).items()}


def assert_as_read(returned: Thing, repo: Repo) -> None:
    assert returned.id is not None
    stored = repo.get(Thing, returned.id)
    assert stored is not None
    assert shown(returned) == shown(stored.replace(note=returned.note))


def returning(events: list[QueryEvent]) -> str:
    (event,) = [e for e in events if e.sql.startswith("INSERT")]
    return event.sql.partition(" RETURNING ")[2]


def test_an_insert_returns_what_get_gives(
    repo: Repo, conn: repodb.Connection, events: list[QueryEvent]
) -> None:
    inserted = repo.insert(a_thing())
    assert_as_read(inserted, repo)
    assert inserted.note == "virtual"  # never stored: the given record's
    assert inserted.price == Decimal("1.50")
    # The column's scale, read back (SQLite's TEXT keeps the digits given).
    assert str(inserted.price) == ("1.5" if conn.dialect.name == "sqlite" else "1.50")
    assert inserted.ratio == 3.0
    assert type(inserted.ratio) is float
    assert inserted.at == dt.datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert inserted.at.tzinfo is dt.UTC
    assert inserted.payload == b"\x00\xff"
    assert type(inserted.payload) is bytes
    assert inserted.doc["a"] == [1, 2.5, [3, "x"]]
    assert inserted.status == "new"  # the column's default, read back
    # Only what the database decides is read back.
    expected = {
        "sqlite": '"id", "ratio", "price", "loose", "status"',
        "postgresql": '"id", "price", "loose", "doc", "address", "status"',
        "mariadb": "`id`, `ratio`, `price`, `loose`, `status`",
    }[conn.dialect.name]
    assert returning(events) == expected


def test_none_values_and_a_given_key(repo: Repo) -> None:
    given = repo.insert(a_thing(id=77, loose=None, address=None, maybe=None, status="set"))
    assert given.id == 77
    assert (given.loose, given.address, given.maybe, given.status) == (None, None, None, "set")
    assert_as_read(given, repo)
    other = repo.insert(a_thing(maybe="", tags=[], doc={}, ratio=-0.0))
    assert_as_read(other, repo)


@pytest.mark.parametrize(
    "changes",
    [
        {"at": dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)},
        {"at": dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC, fold=1)},
        {"at": dt.datetime(2026, 1, 2, tzinfo=dt.timezone(dt.timedelta(0)))},
        {"doc": {"a": 1, "b": "x", "c": None, "d": 1.5, "e": True}},
        {"doc": [1, "x", None, -2.5]},
        {"doc": {"1": [1]}},
        {"tags": [], "count": -(2**63), "ratio": 1.5, "flag": False},
        # Subclasses are stored as their base value and read as its class.
        {"name": Shade.DARK, "maybe": Shade.DARK, "count": Level.HIGH, "ratio": Level.HIGH},
        {"ratio": Ratio(0.5)},
    ],
    ids=[
        "utc",
        "utc-fold",
        "other-utc-zone",
        "flat-doc",
        "flat-list",
        "nested-doc",
        "edges",
        "enum-members",
        "float-subclass",
    ],
)
def test_values_of_the_usual_class_return_what_get_gives(
    repo: Repo, changes: dict[str, Any]
) -> None:
    """Values a read already gives as they are (kept without a conversion) and their neighbours."""
    stamp = dt.datetime(2025, 6, 1, 12, 0, 0, 1, tzinfo=dt.UTC)
    inserted = repo.insert(a_thing(**changes, inserted_at=stamp, updated_at=stamp))
    assert_as_read(inserted, repo)
    assert inserted.inserted_at == inserted.updated_at == stamp


def test_an_insert_from_a_changeset_returns_what_get_gives(
    repo: Repo, conn: repodb.Connection
) -> None:
    params = {"price": "12.3", "ratio": "2", "at": "2026-01-02T03:04:05+01:00", "count": "5"}
    form = cast(a_thing(), params, ["price", "ratio", "at", "count"])
    inserted = repo.insert(form)
    assert_as_read(inserted, repo)
    assert str(inserted.price) == ("12.3" if conn.dialect.name == "sqlite" else "12.30")


def test_an_update_returns_what_get_gives(repo: Repo, conn: repodb.Connection) -> None:
    inserted = repo.insert(a_thing())
    updated = repo.update(
        change(
            inserted,
            price=Decimal("7"),
            at=dt.datetime(2030, 1, 1, tzinfo=KOLKATA),
            doc={"b": 1, "a": (2,)},
            payload=bytearray(b"x"),
            status=None,
        )
    )
    assert_as_read(updated, repo)
    assert str(updated.price) == ("7" if conn.dialect.name == "sqlite" else "7.00")
    assert updated.status is None


@pytest.mark.mariadb(absent="SQLite's column affinity")
def test_sqlite_numeric_affinity_is_read_back(tmp_path: Path) -> None:
    with repodb.connect(f"sqlite:///{tmp_path / 'affinity.db'}") as conn:
        conn.exec(Request.exec("CREATE TABLE things (" + COLUMNS["sqlite"] + ")"))
        repo = Repo(conn)
        # A NUMERIC(10, 2) column of SQLite keeps 2.50 as the number 2.5.
        inserted = repo.insert(a_thing(loose=Decimal("2.50")))
        assert str(inserted.loose) == "2.5"
        assert_as_read(inserted, repo)


def test_the_async_drivers_return_what_get_gives(async_db_url: str) -> None:
    # asyncpg and asyncmy hand over values of their own (a UUID, JSON, TIME as a timedelta):
    # the record built from the values sent must match what their reads give.
    dialect = dialect_of(async_db_url)

    async def body() -> None:
        async with asyncio.timeout(30), await repodb.connect_async(async_db_url) as conn:
            await conn.exec(Request.exec("CREATE TABLE things (" + COLUMNS[dialect] + ")"))
            repo = AsyncRepo(conn)
            # NUL, quote and backslash: asyncmy gets bytes as hex (its own quoting
            # ignored NO_BACKSLASH_ESCAPES; test_param_escaping.py has the rest).
            inserted = await repo.insert(a_thing(payload=bytearray(b"\x00'\\\xff")))
            assert inserted.id is not None
            stored = await repo.get(Thing, inserted.id)
            assert stored is not None
            assert shown(inserted) == shown(stored.replace(note="virtual"))

    asyncio.run(body())


class Checked(Schema, table="checked"):
    id: Col[int | None] = field(primary_key=True, default=None)
    code: Col[str]

    def __post_init__(self) -> None:
        if not self.code.isupper():
            raise ValueError("code must be upper case")


def test_a_schemas_post_init_runs_on_the_record_returned(
    repo: Repo, conn: repodb.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn.exec(Request.exec("CREATE TABLE checked (id " + KEY[conn.dialect.name] + ", code TEXT)"))
    stored = repo.insert(Checked(code="AB"))
    assert repo.get(Checked, stored.id) == stored
    # As a read builds its records: through the constructor, its check included.
    calls: list[str] = []
    monkeypatch.setattr(Checked, "__post_init__", lambda self: calls.append(self.code))
    repo.insert(Checked(code="CD"))
    assert calls == ["CD", "CD"]  # the record given, and the record returned


KEY: dict[str, LiteralString] = {
    "sqlite": "INTEGER PRIMARY KEY",
    "postgresql": "BIGSERIAL PRIMARY KEY",
    "mariadb": "BIGINT AUTO_INCREMENT PRIMARY KEY",
}
