"""JSON key tests and containment, and full-text search, run on the databases.

Key existence and path access give the same rows on SQLite (json1),
PostgreSQL (jsonb) and MariaDB (its JSON functions); containment runs on
PostgreSQL and MariaDB (``JSON_CONTAINS``), and SQLite refuses it. Full-text
search is PostgreSQL's, and its GIN indexes, made by a migration, are the ones
the planner picks for the queries the DSL writes; MariaDB refuses the search
functions when the query is compiled (docs/mariadb.md).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import repodb
from repodb import Request
from repodb.expr import Expr
from repodb.functions import (
    json_contains,
    json_get,
    json_has_key,
    json_text,
    to_tsquery,
    to_tsvector,
    ts_match,
    ts_rank,
)
from repodb.migration import Migrator
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Schema, field
from tests.conftest import open_conn

pytestmark = pytest.mark.mariadb


class Doc(Schema, table="docs"):
    id: Col[int | None] = field(primary_key=True, default=None)
    title: Col[str]
    body: Col[str | None] = field(default=None)
    meta: Col[dict[str, Any] | None] = field(default=None)


CREATE = """
    from repodb.migration import Ops, column
    from repodb.types import json, optional

    def change(ops: Ops) -> None:
        ops.create_table("docs", [
            column("id", int, primary_key=True, autogenerate=True),
            column("title", str),
            column("body", optional(str)),
            column("meta", optional(json())),
        ])
        ops.create_index("docs", ["meta"], using="gin")
"""
SEARCH_INDEX = """
    from repodb.migration import Ops

    def change(ops: Ops) -> None:
        ops.create_index("docs", ["title", "body"], name="docs_search", using="gin",
                         search="english")
"""


def migrate(url: str, folder: Path, *files: tuple[str, str]) -> None:
    folder.mkdir(exist_ok=True)
    for name, source in files:
        (folder / name).write_text(textwrap.dedent(source), encoding="utf-8")
    with open_conn(url) as conn, Migrator(conn, folder) as m:
        m.migrate()


@pytest.fixture
def repo(db_url: str, tmp_path: Path) -> Any:
    migrate(db_url, tmp_path / "migrations", ("20260101000000_docs.py", CREATE))
    with open_conn(db_url) as conn:
        repo = Repo(conn)
        repo.insert(
            Doc(
                title="Cats",
                body="The fat cats sat on mats",
                meta={
                    "user": {"id": 7, "address": {"zip": "N1"}},
                    "tags": ["pets", "cats"],
                    "draft": None,
                },
            )
        )
        repo.insert(Doc(title="Dogs", body=None, meta={"user": {"id": 8}, "tags": ["pets"]}))
        repo.insert(Doc(title="Nothing", body="a cat is not here", meta=None))
        yield repo


def ids(repo: Repo, condition: Expr[Any]) -> list[int | None]:
    return repo.all(query(Doc).where(condition).order_by(Doc.id).select(Doc.id))


def test_key_existence_at_any_depth(repo: Repo) -> None:
    assert ids(repo, json_has_key(Doc.meta, "user")) == [1, 2]
    # A key holding JSON null exists; a NULL document has no keys.
    assert ids(repo, json_has_key(Doc.meta, "draft")) == [1]
    assert ids(repo, json_has_key(json_get(Doc.meta, "user", "address"), "zip")) == [1]
    assert ids(repo, ~json_has_key(Doc.meta, "draft")) == [2]


def test_path_access_at_any_depth(repo: Repo) -> None:
    assert ids(repo, json_text(Doc.meta, "user", "address", "zip") == "N1") == [1]
    assert ids(repo, json_text(Doc.meta, "tags", 1) == "cats") == [1]
    rows = repo.all(query(Doc).order_by(Doc.id).select(json_get(Doc.meta, "user", "address")))
    assert rows == [{"zip": "N1"}, None, None]


def test_contains_on_postgresql_and_mariadb(repo: Repo) -> None:
    conn = repo.source
    assert isinstance(conn, repodb.Connection)
    if conn.dialect.name == "sqlite":
        with pytest.raises(ValueError, match="sqlite has no JSON operation 'contains'"):
            ids(repo, json_contains(Doc.meta, {"tags": ["cats"]}))
        return
    assert ids(repo, json_contains(Doc.meta, {"tags": ["cats"]})) == [1]
    assert ids(repo, json_contains(Doc.meta, {"tags": ["pets"], "user": {}})) == [1, 2]
    assert ids(repo, json_contains(Doc.meta, {"user": {"address": {"zip": "N1"}}})) == [1]
    assert ids(repo, json_contains(json_get(Doc.meta, "tags"), ["cats", "pets"])) == [1]
    assert ids(repo, json_contains(Doc.meta, {"user": {"id": 9}})) == []


@pytest.fixture
def pg_repo(pg_schema_url: str, tmp_path: Path) -> Any:
    migrate(
        pg_schema_url,
        tmp_path / "migrations",
        ("20260101000000_docs.py", CREATE),
        ("20260101000001_search.py", SEARCH_INDEX),
    )
    with open_conn(pg_schema_url) as conn:
        repo = Repo(conn)
        repo.insert(Doc(title="Cats", body="The fat cats sat on mats"))
        repo.insert(Doc(title="Dogs", body=None))
        repo.insert(Doc(title="A cat", body="one cat, and another cat"))
        yield repo


def test_full_text_search_matches_and_ranks(pg_repo: Repo) -> None:
    vector = to_tsvector("english", Doc.title, Doc.body)
    search = to_tsquery("english", "cat")
    ranked = (
        query(Doc)
        .where(ts_match(vector, search))
        .order_by(ts_rank(vector, search).desc(), Doc.id)
        .select(Doc.id, ts_rank(vector, search))
    )
    rows = pg_repo.all(ranked)
    assert [row[0] for row in rows] == [3, 1]
    assert rows[0][1] > rows[1][1] > 0
    # A NULL column does not blank the others: "Dogs" is found by its title.
    assert ids(pg_repo, ts_match(vector, to_tsquery("english", "dog"))) == [2]
    web = to_tsquery("english", '"fat cats" -dogs', syntax="web")
    assert ids(pg_repo, ts_match(vector, web)) == [1]
    assert ids(pg_repo, ts_match(vector, to_tsquery("english", "cat & !mat", syntax="raw"))) == [3]


def test_the_gin_indexes_serve_the_queries(pg_repo: Repo) -> None:
    conn = pg_repo.source
    assert isinstance(conn, repodb.Connection)
    # Three rows would be read sequentially; forbid it so the plan shows whether
    # the index can answer at all.
    conn.exec(Request.exec("SET enable_seqscan = off"))
    vector = to_tsvector("english", Doc.title, Doc.body)
    plan = pg_repo.explain(query(Doc).where(ts_match(vector, to_tsquery("english", "cat"))))
    assert "docs_search" in plan
    plan = pg_repo.explain(query(Doc).where(json_contains(Doc.meta, {"tags": ["cats"]})))
    assert "docs_meta_index" in plan
    plan = pg_repo.explain(query(Doc).where(json_has_key(Doc.meta, "draft")))
    assert "docs_meta_index" in plan


def test_full_text_search_is_refused_on_mariadb(mariadb_db_url: str, tmp_path: Path) -> None:
    migrate(mariadb_db_url, tmp_path / "migrations", ("20260101000000_docs.py", CREATE))
    with open_conn(mariadb_db_url) as conn:
        repo = Repo(conn)
        repo.insert(Doc(title="Cats", body="The fat cats sat on mats"))
        vector = to_tsvector("english", Doc.title, Doc.body)
        with pytest.raises(ValueError, match=r"mariadb has no full-text search .* FULLTEXT"):
            ids(repo, ts_match(vector, to_tsquery("english", "cat")))
        # Nothing ran: the connection serves the next query.
        assert ids(repo, json_has_key(Doc.meta, "user")) == []
