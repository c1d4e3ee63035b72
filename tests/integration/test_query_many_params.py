"""Compiled statements at SQLite's parameter limit, run on SQLite, PostgreSQL and MariaDB.

Why: SQLite prepares numbered ``?NNN`` markers in time quadratic in their
number (32,766 of them took about 1.5 s), bare ``?`` in linear time. The
compiler binds every parameter once, in order, so on SQLite it writes bare
``?``. These tests do not time anything: they check that the SQL carries
bare markers (PostgreSQL keeps ``$n``; MariaDB's are bare too, the
driver writing ``%s`` for each), and that the statements run and
touch exactly the rows they name.

Covered: a query with a 32,766-value ``IN`` list; ``update_all`` and
``delete_all`` whose filters bind as many values; the table read back with
separate SQL after each write.
"""

from __future__ import annotations

import re
from typing import LiteralString

import pytest

import repodb
from repodb import Request
from repodb._compile.cache import compile_statement
from repodb.expr import Statement
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Schema, field
from repodb.types import tup
from repodb.write import delete_all, update_all

pytestmark = pytest.mark.mariadb

# SQLite's limit. The keys are 1..LIMIT and the table holds LIMIT rows with
# the even ids up to twice that, so half the keys match and half do not.
LIMIT = 32_766

_DDL: dict[str, LiteralString] = {
    "sqlite": "CREATE TABLE wide_keys (id INTEGER PRIMARY KEY, label TEXT NOT NULL)",
    "postgresql": "CREATE TABLE wide_keys (id BIGINT PRIMARY KEY, label TEXT NOT NULL)",
    "mariadb": "CREATE TABLE wide_keys (id BIGINT PRIMARY KEY, label VARCHAR(10) NOT NULL)",
}
LABELS = Request.many("SELECT label, count(*) FROM wide_keys GROUP BY label", row=tup(str, int))
IDS = Request.many("SELECT id FROM wide_keys ORDER BY id", row=int)


class WideKey(Schema, table="wide_keys"):
    id: Col[int] = field(primary_key=True)
    label: Col[str]


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    conn.exec(Request.exec(_DDL[conn.dialect.name]))
    repo = Repo(conn)
    repo.insert_all(WideKey, [{"id": 2 * i, "label": "old"} for i in range(1, LIMIT + 1)])
    return repo


def markers(statement: Statement, conn: repodb.Connection) -> int:
    """How many parameters ``statement`` binds, after checking its markers' form."""
    compiled = compile_statement(statement, conn.dialect)
    count = len(compiled.params)
    if not conn.dialect.numbered_placeholders:
        # SQLite and MariaDB: bare markers, each binding the next value.
        assert compiled.sql.count("?") == count
        assert re.search(r"\?\d", compiled.sql) is None
    else:
        assert f"${count}" in compiled.sql
        assert f"${count + 1}" not in compiled.sql
    return count


def test_an_in_list_at_the_parameter_limit(repo: Repo, conn: repodb.Connection) -> None:
    keys = list(range(1, LIMIT + 1))
    q = query(WideKey).where(WideKey.id.in_(keys)).order_by(WideKey.id)
    assert markers(q, conn) == LIMIT
    found = repo.all(q)
    assert [r.id for r in found] == list(range(2, LIMIT + 1, 2))
    assert {r.label for r in found} == {"old"}


def test_update_all_and_delete_all_filtered_by_the_limit(
    repo: Repo, conn: repodb.Connection
) -> None:
    # One parameter for the new label, the rest for the keys.
    target = query(WideKey).where(WideKey.id.in_(range(1, LIMIT)))
    assert markers(update_all(target, set={"label": "new"}), conn) == LIMIT
    changed = (LIMIT - 1) // 2
    assert repo.update_all(target, set={"label": "new"}).count == changed
    assert sorted(conn.all(LABELS)) == [("new", changed), ("old", LIMIT - changed)]

    assert markers(delete_all(target), conn) == LIMIT - 1
    assert repo.delete_all(target).count == changed
    assert conn.all(LABELS) == [("old", LIMIT - changed)]
    assert conn.all(IDS) == list(range(2 * (changed + 1), 2 * LIMIT + 1, 2))


def test_more_parameters_than_postgresql_takes_is_a_programming_error(
    pg_schema_url: str,
) -> None:
    # psycopg refuses such a statement before sending it, with an error that
    # used to read as a lost connection: a Repo retried the read, and a CQRS
    # router took the replica out of rotation. It is the statement's fault.
    with repodb.connect(pg_schema_url) as conn:
        conn.exec(Request.exec(_DDL["postgresql"]))
        events: list[object] = []
        repo = Repo(conn, on_event=events.append)
        too_many = query(WideKey).where(WideKey.id.in_(range(70_000)))
        with pytest.raises(repodb.ProgrammingError, match="at most 65535"):
            repo.all(too_many)
        with pytest.raises(repodb.ProgrammingError, match="at most 65535"):
            repo.delete_all(too_many)
        with (
            pytest.raises(repodb.ProgrammingError, match="at most 65535"),
            repo.stream(too_many) as rows,
        ):
            list(rows)
        # Each ran once, and the connection still works.
        assert len(events) == 3
        assert repo.all(query(WideKey)) == []
