"""What MariaDB writes differently gives the same rows as SQLite and PostgreSQL.

The golden SQL is in ``tests/unit/test_query_mariadb.py``; here the same
queries run on every database against the same rows. Covered: an aggregate's
``filter()`` whose argument and condition both bind values (MariaDB's scalar
subquery keeps their order), ``count`` of distinct values and ``min``
filtered, and over a window; ``json_get``/``json_text`` of keys, nested keys
and array indices (JSON null is SQL NULL, the string ``"null"`` stays a
string); ``json_has_key`` (a key holding null exists, a NULL document gives
NULL); ``json_contains`` on PostgreSQL and MariaDB (SQLite refuses it);
``ilike`` whatever the collation; and on the two servers a share lock
(MariaDB's ``LOCK IN SHARE MODE``) that a second connection's ``SKIP LOCKED``
update lock skips and its share lock does not.
"""

from __future__ import annotations

import json
from typing import Any, LiteralString

import pytest

import repodb
from repodb import Request
from repodb.functions import (
    count,
    json_contains,
    json_get,
    json_has_key,
    json_text,
    min_,
    sum_,
)
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Schema, field
from tests.conftest import open_conn

pytestmark = pytest.mark.mariadb


class Gadget(Schema, table="gadgets"):
    id: Col[int | None] = field(primary_key=True, default=None)
    tag: Col[str]
    n: Col[int | None] = field(default=None)
    data: Col[dict[str, Any] | None] = field(default=None)


DDL: dict[str, LiteralString] = {
    "sqlite": "CREATE TABLE gadgets (id INTEGER PRIMARY KEY, tag TEXT NOT NULL, n INTEGER,"
    " data TEXT)",
    "postgresql": "CREATE TABLE gadgets (id BIGSERIAL PRIMARY KEY, tag TEXT NOT NULL, n BIGINT,"
    " data JSONB)",
    "mariadb": "CREATE TABLE gadgets (id BIGINT AUTO_INCREMENT PRIMARY KEY, tag TEXT NOT NULL,"
    " n BIGINT, data JSON)",
}
ROWS: list[dict[str, Any]] = [
    {"tag": "Alpha", "n": 1, "data": {"a": 1, "z": None, "s": "null", "deep": {"k": [10, "x"]}}},
    {"tag": "beta", "n": 2, "data": {"b": True, "tags": ["red", "blue"]}},
    {"tag": "Gamma", "n": 3, "data": None},
    {"tag": "beta", "n": None, "data": {"a": {"b": 2}}},
    {"tag": "delta", "n": 5, "data": {"a": "1.50", "tags": ["blue"]}},
]


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    conn.exec(Request.exec(DDL[conn.dialect.name]))
    repo = Repo(conn)
    repo.insert_all(Gadget, ROWS)
    return repo


def values(repo: Repo, expr: Any) -> list[Any]:
    return repo.all(query(Gadget).order_by(Gadget.id).select(expr))


def test_filtered_aggregates_bind_the_argument_before_the_condition(repo: Repo) -> None:
    q = query(Gadget).select(
        sum_(Gadget.n * 10).filter(Gadget.n > 1),
        count(Gadget.tag, distinct=True).filter(Gadget.n.is_null() | (Gadget.n < 3)),
        min_(Gadget.n + 100).filter(Gadget.tag != "Alpha"),
        count().filter(Gadget.data.is_null()),
    )
    ns = [r["n"] for r in ROWS]
    want = (
        sum(n * 10 for n in ns if n is not None and n > 1),
        len({r["tag"] for r in ROWS if r["n"] is None or r["n"] < 3}),
        min(r["n"] + 100 for r in ROWS if r["tag"] != "Alpha" and r["n"] is not None),
        sum(1 for r in ROWS if r["data"] is None),
    )
    assert repo.all(q) == [want]
    running = (
        query(Gadget)
        .order_by(Gadget.id)
        .select(sum_(Gadget.n + 1).filter(Gadget.tag != "beta").over(order_by=Gadget.id))
    )
    assert repo.all(running) == [2, 2, 6, 6, 12]


def test_json_access(repo: Repo) -> None:
    assert values(repo, json_get(Gadget.data, "a")) == [1, None, None, {"b": 2}, "1.50"]
    assert values(repo, json_get(Gadget.data, "deep", "k", 1)) == ["x", None, None, None, None]
    assert values(repo, json_text(Gadget.data, "s")) == ["null", None, None, None, None]
    # JSON null is SQL NULL, as PostgreSQL's ->> has it.
    assert values(repo, json_text(Gadget.data, "z")) == [None] * 5
    texts = values(repo, json_text(Gadget.data, "a"))
    assert texts[:3] + texts[4:] == ["1", None, None, "1.50"]
    # An object's text: SQLite's is compact, the servers' has spaces.
    assert json.loads(texts[3]) == {"b": 2}
    assert values(repo, json_text(Gadget.data, "deep", "k", 0)) == ["10", None, None, None, None]


def test_json_has_key(repo: Repo) -> None:
    assert values(repo, json_has_key(Gadget.data, "z")) == [True, False, None, False, False]
    assert values(repo, json_has_key(Gadget.data, "a")) == [True, False, None, True, True]
    nested = json_has_key(json_get(Gadget.data, "a"), "b")
    assert values(repo, nested) == [False, None, None, True, False]


def test_json_contains(repo: Repo, conn: repodb.Connection) -> None:
    blue = json_contains(Gadget.data, {"tags": ["blue"]})
    if conn.dialect.name == "sqlite":
        with pytest.raises(ValueError, match="sqlite has no JSON operation 'contains'"):
            values(repo, blue)
        return
    assert values(repo, blue) == [False, True, None, False, True]
    assert values(repo, json_contains(Gadget.data, {"a": {}})) == [False, False, None, True, False]
    deep = json_contains(Gadget.data, {"deep": {"k": [10]}, "a": 1.0})
    assert values(repo, deep) == [True, False, None, False, False]


def test_ilike_ignores_case(repo: Repo) -> None:
    q = query(Gadget).where(Gadget.tag.ilike("%A")).order_by(Gadget.id).select(Gadget.tag)
    assert repo.all(q) == ["Alpha", "beta", "Gamma", "beta", "delta"]
    q = query(Gadget).where(Gadget.tag.ilike("al%")).select(Gadget.tag)
    assert repo.all(q) == ["Alpha"]


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_a_share_lock_keeps_writers_out_and_lets_sharers_in(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(
        "pg_schema_url" if kind == "postgresql" else "mariadb_db_url"
    )
    with open_conn(url) as holder, open_conn(url) as other:
        holder.exec(Request.exec(DDL[kind]))
        Repo(holder).insert_all(Gadget, ROWS[:2])
        alpha = query(Gadget).where(Gadget.tag == "Alpha").select(Gadget.tag)
        with holder.transaction():
            assert Repo(holder).all(alpha.lock("share")) == ["Alpha"]
            with other.transaction():
                assert Repo(other).all(alpha.lock(skip_locked=True)) == []
                assert Repo(other).all(alpha.lock("share", skip_locked=True)) == ["Alpha"]
        with other.transaction():
            assert Repo(other).all(alpha.lock(skip_locked=True)) == ["Alpha"]
