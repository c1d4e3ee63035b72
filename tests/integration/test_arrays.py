"""Array membership, contains, overlaps, push and pull on PostgreSQL arrays and SQLite JSON arrays.

The same queries give the same rows on both databases, NULL arrays
included; the element types tried are text (with quotes and spaces) and
integers. On MariaDB arrays are JSON columns: they round-trip whole (empty,
NULL, quotes, 4-byte characters, Decimals and dates inside), and every array
operation is refused when compiled, with what to use instead.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import LiteralString

import pytest

import repodb
from repodb import Request
from repodb.expr import Expr
from repodb.functions import array_append, array_contains, array_has, array_overlaps, array_remove
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Schema, field
from repodb.write import pull, push
from tests.conftest import open_conn


class Doc(Schema, table="docs"):
    id: Col[int | None] = field(primary_key=True, default=None)
    tags: Col[list[str]]
    nums: Col[list[int] | None] = field(default=None)
    label: Col[str] = field(default="")


DDL: dict[str, LiteralString] = {
    "sqlite": "CREATE TABLE docs (id INTEGER PRIMARY KEY, tags TEXT NOT NULL, nums TEXT,"
    " label TEXT NOT NULL)",
    "postgresql": "CREATE TABLE docs (id BIGSERIAL PRIMARY KEY, tags TEXT[] NOT NULL,"
    " nums BIGINT[], label TEXT NOT NULL)",
    "mariadb": "CREATE TABLE docs (id BIGINT AUTO_INCREMENT PRIMARY KEY, tags JSON NOT NULL,"
    " nums JSON, label TEXT NOT NULL)",
}

pytestmark = pytest.mark.mariadb
NO_ARRAY_OPS = "MariaDB keeps arrays as JSON and has no array operations (refused when compiled)"


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    conn.exec(Request.exec(DDL[conn.dialect.name]))
    repo = Repo(conn)
    repo.insert(Doc(tags=["a", "b"], nums=[1, 2, 2], label="b"))
    repo.insert(Doc(tags=[], nums=None, label="a"))
    repo.insert(Doc(tags=["c", "a b", 'q"'], nums=[3], label="c"))
    return repo


def ids(repo: Repo, condition: Expr[bool]) -> list[int | None]:
    return repo.all(query(Doc).where(condition).order_by(Doc.id).select(Doc.id))


@pytest.mark.mariadb(absent=NO_ARRAY_OPS)
def test_membership(repo: Repo) -> None:
    assert ids(repo, array_has(Doc.tags, "a")) == [1]
    assert ids(repo, array_has(Doc.tags, 'q"')) == [3]
    assert ids(repo, array_has(Doc.nums, 2)) == [1]
    assert ids(repo, ~array_has(Doc.nums, 2)) == [3]  # NULL arrays are neither
    assert ids(repo, array_has(Doc.tags, Doc.label)) == [1, 3]


@pytest.mark.mariadb(absent=NO_ARRAY_OPS)
def test_contains_and_overlaps(repo: Repo) -> None:
    assert ids(repo, array_contains(Doc.tags, ["b", "a"])) == [1]
    assert ids(repo, array_contains(Doc.tags, [])) == [1, 2, 3]
    assert ids(repo, array_contains(Doc.nums, [2, 2, 1])) == [1]
    assert ids(repo, array_overlaps(Doc.nums, [3, 1])) == [1, 3]
    assert ids(repo, array_overlaps(Doc.tags, [])) == []
    assert ids(repo, array_overlaps(Doc.tags, ["zz", "a b"])) == [3]


@pytest.mark.mariadb(absent=NO_ARRAY_OPS)
def test_append_and_remove_in_a_select(repo: Repo) -> None:
    rows = repo.all(
        query(Doc)
        .order_by(Doc.id)
        .select(array_append(Doc.tags, "z"), array_remove(Doc.nums, 2), array_append(Doc.nums, 9))
    )
    assert rows == [
        (["a", "b", "z"], [1], [1, 2, 2, 9]),
        (["z"], None, [9]),
        (["c", "a b", 'q"', "z"], [3], [3, 9]),
    ]


@pytest.mark.mariadb(absent=NO_ARRAY_OPS)
def test_push_and_pull_in_update_all(repo: Repo) -> None:
    assert repo.update_all(query(Doc), push(Doc.tags, "new")).count == 3
    repo.update_all(query(Doc).where(Doc.id != 3), pull(Doc.nums, 2), pull(Doc.tags, "a"))
    rows = repo.all(query(Doc).order_by(Doc.id).select(Doc.tags, Doc.nums))
    assert rows == [(["b", "new"], [1]), (["new"], None), (["c", "a b", 'q"', "new"], [3])]


class Measure(Schema, table="measures"):
    id: Col[int | None] = field(primary_key=True, default=None)
    amounts: Col[list[Decimal]]
    days: Col[list[dt.date] | None] = field(default=None)


def test_arrays_round_trip_as_json_on_mariadb(mariadb_db_url: str) -> None:
    with open_conn(mariadb_db_url) as conn:
        conn.exec(Request.exec(DDL["mariadb"]))
        conn.exec(
            Request.exec(
                "CREATE TABLE measures (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
                " amounts JSON NOT NULL, days JSON)"
            )
        )
        repo = Repo(conn)
        docs = [
            Doc(tags=["a", "b"], nums=[1, 2, 2**62], label="x"),
            Doc(tags=[], nums=None),
            Doc(tags=['q"', "a b", "\\", "\U0001f986", ""], nums=[]),
        ]
        stored = [repo.insert(d) for d in docs]
        assert [d.replace(id=None) for d in stored] == docs
        assert repo.all(query(Doc).order_by(Doc.id)) == stored
        measure = Measure(amounts=[Decimal("0.1"), Decimal("1E+3")], days=[dt.date(2024, 2, 29)])
        (kept,) = repo.insert_all(Measure, [measure], returning=True).rows
        assert kept.replace(id=None) == measure
        assert repo.one(query(Measure)) == kept
        for refused in (
            array_has(Doc.tags, "a"),
            array_contains(Doc.tags, ["a"]),
            array_overlaps(Doc.nums, [1]),
        ):
            with pytest.raises(ValueError, match="arrays are JSON text on mariadb"):
                repo.all(query(Doc).where(refused))
        with pytest.raises(ValueError, match="has no array operation 'append'"):
            repo.update_all(query(Doc), push(Doc.tags, "z"))
