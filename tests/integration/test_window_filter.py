"""Aggregate filters, window frames and named windows on SQLite, PostgreSQL and MariaDB.

Each result is compared with the same computation in Python, so both
databases agree with it and with each other.
"""

from __future__ import annotations

from typing import LiteralString

import pytest

import repodb
from repodb import Request
from repodb.functions import avg, count, max_, range_between, rank, rows_between, sum_
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Schema, field

pytestmark = pytest.mark.mariadb


class Reading(Schema, table="readings"):
    id: Col[int | None] = field(primary_key=True, default=None)
    station: Col[str]
    day: Col[int]
    amount: Col[int]
    checked: Col[bool] = field(default=False)


DDL: dict[str, LiteralString] = {
    "sqlite": "CREATE TABLE readings (id INTEGER PRIMARY KEY, station TEXT NOT NULL,"
    " day INTEGER NOT NULL, amount INTEGER NOT NULL, checked INTEGER NOT NULL)",
    "postgresql": "CREATE TABLE readings (id BIGSERIAL PRIMARY KEY, station TEXT NOT NULL,"
    " day BIGINT NOT NULL, amount BIGINT NOT NULL, checked BOOLEAN NOT NULL)",
    "mariadb": "CREATE TABLE readings (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
    " station TEXT NOT NULL, day BIGINT NOT NULL, amount BIGINT NOT NULL,"
    " checked BOOLEAN NOT NULL)",
}
# (station, day, amount, checked); days have gaps, so RANGE and ROWS frames differ.
DATA = [
    ("a", 1, 10, True),
    ("a", 2, 20, False),
    ("a", 4, 5, True),
    ("a", 7, 30, True),
    ("b", 1, 7, False),
    ("b", 3, 7, True),
    ("b", 4, 1, False),
]


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    conn.exec(Request.exec(DDL[conn.dialect.name]))
    repo = Repo(conn)
    rows = [{"station": s, "day": d, "amount": a, "checked": c} for s, d, a, c in DATA]
    repo.insert_all(Reading, rows)
    return repo


def test_filtered_aggregates_per_group(repo: Repo) -> None:
    q = (
        query(Reading)
        .group_by(Reading.station)
        .order_by(Reading.station)
        .select(
            Reading.station,
            count(),
            count().filter(Reading.checked),
            sum_(Reading.amount).filter(Reading.checked, Reading.day > 1),
            max_(Reading.amount).filter(Reading.amount < 0),
        )
    )
    want = []
    for station in ("a", "b"):
        rows = [r for r in DATA if r[0] == station]
        checked_late = [r[2] for r in rows if r[3] and r[1] > 1]
        want.append((station, len(rows), sum(r[3] for r in rows), sum(checked_late) or None, None))
    assert repo.all(q) == want


def test_frames_count_rows_or_reach_over_values(repo: Repo) -> None:
    by_day = query(Reading).where(Reading.station == "a").order_by(Reading.day)
    q = by_day.select(
        Reading.day,
        sum_(Reading.amount).over(order_by=Reading.day, frame=rows_between(-1, 0)),
        sum_(Reading.amount).over(order_by=Reading.day, frame=range_between(-2, 0)),
        sum_(Reading.amount).over(order_by=Reading.day, frame=rows_between(0, None)),
    )
    rows = [r for r in DATA if r[0] == "a"]
    want = []
    for i, (_, day, _, _) in enumerate(rows):
        last_two = sum(r[2] for r in rows[max(0, i - 1) : i + 1])
        within_two_days = sum(r[2] for r in rows if day - 2 <= r[1] <= day)
        rest = sum(r[2] for r in rows[i:])
        want.append((day, last_two, within_two_days, rest))
    assert repo.all(q) == want


def test_named_windows_are_shared_and_refined(repo: Repo) -> None:
    q = (
        query(Reading)
        .window("w", partition_by=Reading.station, order_by=Reading.amount.desc())
        .order_by(Reading.station, Reading.day)
        .select(
            Reading.station,
            Reading.day,
            rank().over("w"),
            count().over("w", frame=rows_between(None, None)),
            avg(Reading.amount).filter(Reading.checked).over("w", frame=rows_between(None, None)),
        )
    )
    want = []
    for station, day, amount, _ in sorted(DATA, key=lambda r: (r[0], r[1])):
        peers = [r for r in DATA if r[0] == station]
        position = 1 + sum(1 for r in peers if r[2] > amount)
        checked = [r[2] for r in peers if r[3]]
        want.append((station, day, position, len(peers), sum(checked) / len(checked)))
    assert repo.all(q) == want
