"""Date and time arithmetic in queries gives identical results on SQLite and PostgreSQL.

Each case is computed by the database and compared with Python's own
arithmetic (months clamped to the month's last day, as both databases are
made to do), so the two databases agree with each other and with Python:
microseconds kept, UTC days, results decoded as the column's type and
comparable with stored values.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any, LiteralString

import pytest

import repodb
from repodb import Request
from repodb.expr import ShiftUnit
from repodb.functions import ago, date_add, datetime_add, from_now, now
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Schema, field
from repodb.write import set_

pytestmark = pytest.mark.mariadb


class Slot(Schema, table="slots"):
    id: Col[int | None] = field(primary_key=True, default=None)
    at: Col[dt.datetime]
    ends: Col[dt.datetime | None] = field(default=None)
    day: Col[dt.date]
    span: Col[dt.timedelta]
    steps: Col[int]


DDL: dict[str, LiteralString] = {
    "sqlite": "CREATE TABLE slots (id INTEGER PRIMARY KEY, at TEXT NOT NULL, ends TEXT,"
    " day TEXT NOT NULL, span INTEGER NOT NULL, steps INTEGER NOT NULL)",
    "postgresql": "CREATE TABLE slots (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL,"
    " ends TIMESTAMPTZ, day DATE NOT NULL, span INTERVAL NOT NULL, steps BIGINT NOT NULL)",
    "mariadb": "CREATE TABLE slots (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
    " at DATETIME(6) NOT NULL, ends DATETIME(6), day DATE NOT NULL, span BIGINT NOT NULL,"
    " steps BIGINT NOT NULL)",
}

UTC = dt.UTC
ROWS = [
    Slot(
        at=dt.datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
        day=dt.date(2024, 1, 31),
        span=dt.timedelta(microseconds=1),
        steps=1,
    ),
    Slot(
        at=dt.datetime(2023, 3, 31, 0, 0, 0, 1, tzinfo=UTC),
        ends=dt.datetime(2023, 4, 1, tzinfo=UTC),
        day=dt.date(2024, 2, 29),
        span=dt.timedelta(days=-1, microseconds=3),
        steps=-13,
    ),
    Slot(
        # Given in another zone: stored and moved as the same instant in UTC.
        at=dt.datetime(2024, 2, 29, 14, 30, 0, 500000, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        day=dt.date(2023, 12, 31),
        span=dt.timedelta(days=40, seconds=5),
        steps=25,
    ),
    Slot(
        at=dt.datetime(1999, 12, 31, 23, 59, 59, 999600, tzinfo=UTC),
        day=dt.date(2000, 3, 31),
        span=dt.timedelta(seconds=-0.5),
        steps=0,
    ),
]

MICROSECONDS = {
    "week": dt.timedelta(weeks=1),
    "day": dt.timedelta(days=1),
    "hour": dt.timedelta(hours=1),
    "minute": dt.timedelta(minutes=1),
    "second": dt.timedelta(seconds=1),
    "millisecond": dt.timedelta(milliseconds=1),
    "microsecond": dt.timedelta(microseconds=1),
}


def shift_months(value: Any, months: int) -> Any:
    """Python's answer for a month step: the same day, clamped to the target month's last."""
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def expected(value: Any, amount: int, unit: str) -> Any:
    if unit in ("year", "month"):
        return shift_months(value, amount * (12 if unit == "year" else 1))
    return value + amount * MICROSECONDS[unit]


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    conn.exec(Request.exec(DDL[conn.dialect.name]))
    repo = Repo(conn)
    for row in ROWS:
        repo.insert(row)
    return repo


UNITS: list[ShiftUnit] = [
    "year",
    "month",
    "week",
    "day",
    "hour",
    "minute",
    "second",
    "millisecond",
    "microsecond",
]


@pytest.mark.parametrize("unit", UNITS)
def test_datetime_add_matches_python(repo: Repo, unit: ShiftUnit) -> None:
    amounts = [1, -1, 13, -25] + ([] if unit in ("year", "month", "week", "day") else [1_000_001])
    ordered = query(Slot).order_by(Slot.id)
    for amount in amounts:
        got = repo.all(ordered.select(datetime_add(Slot.at, amount, unit)))
        assert got == [expected(r.at.astimezone(UTC), amount, unit) for r in ROWS], amount
        assert all(g.tzinfo == UTC for g in got)
    # An amount read from a column, and a nullable operand.
    by_steps = repo.all(ordered.select(datetime_add(Slot.at, Slot.steps, unit)))
    assert by_steps == [expected(r.at.astimezone(UTC), r.steps, unit) for r in ROWS]
    ends = repo.all(ordered.select(datetime_add(Slot.ends, 2, unit)))
    assert ends == [None if r.ends is None else expected(r.ends, 2, unit) for r in ROWS]


@pytest.mark.parametrize("unit", ["year", "month", "week", "day"])
def test_date_add_matches_python(repo: Repo, unit: Any) -> None:
    ordered = query(Slot).order_by(Slot.id)
    for amount in (1, -1, 13, -25):
        got = repo.all(ordered.select(date_add(Slot.day, amount, unit)))
        assert got == [expected(r.day, amount, unit) for r in ROWS], amount


def test_a_datetime_plus_or_minus_a_timedelta(repo: Repo) -> None:
    ordered = query(Slot).order_by(Slot.id)
    got = repo.all(
        ordered.select(
            Slot.at + Slot.span,
            Slot.at - Slot.span,
            Slot.at + dt.timedelta(days=1, microseconds=7),
            Slot.at - dt.timedelta(microseconds=999_999),
        )
    )
    want = [
        (
            r.at + r.span,
            r.at - r.span,
            r.at + dt.timedelta(days=1, microseconds=7),
            r.at - dt.timedelta(microseconds=999_999),
        )
        for r in ROWS
    ]
    assert got == want


def test_results_compare_with_stored_values_and_bound_datetimes(repo: Repo) -> None:
    # Rows whose "ends" is within a day of "at" (only the second row's).
    within = query(Slot).where(Slot.ends <= datetime_add(Slot.at, 1, "day")).select(Slot.steps)
    assert repo.all(within) == [-13]
    leap = dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    same = query(Slot).where(datetime_add(Slot.at, 1, "month") == leap).select(Slot.steps)
    assert repo.all(same) == [1]
    assert repo.all(query(Slot).where(Slot.at > ago(1, "day"))) == []
    assert repo.aggregate(query(Slot).where(Slot.at < from_now(1, "minute")), "count") == 4
    # now() is "now" on both: within a generous window of the client's clock.
    server_now = repo.one(query(Slot).select(ago(0, "second")).limit(1))
    client_now = dt.datetime.now(UTC)
    assert abs(server_now - client_now) < dt.timedelta(minutes=5)
    assert repo.one(query(Slot).select(now()).limit(1)).tzinfo == UTC


def test_update_all_moves_stored_datetimes(repo: Repo) -> None:
    result = repo.update_all(query(Slot), set_(Slot.at, datetime_add(Slot.at, 1, "month")))
    assert result.count == 4
    stored = repo.all(query(Slot).order_by(Slot.id).select(Slot.at))
    assert stored == [shift_months(r.at.astimezone(UTC), 1) for r in ROWS]
