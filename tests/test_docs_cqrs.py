"""docs/cqrs.md's examples against a real PostgreSQL primary and two streaming replicas.

``tests/test_docs.py`` runs the page on SQLite files. Here the page's first
python block, which only names the servers (``primary_url`` and
``replica_urls``), is replaced by the cluster's URLs with a fresh schema on
their search path, and the other blocks run unchanged, in order, in one
namespace. After each block the test waits (bounded) until both replicas
have replayed everything the primary wrote, as replicas do between a user's
requests; within a block the page reads its own writes only through the
primary or a session, so no example depends on replication being fast.
"""

from __future__ import annotations

import ast
import sys
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from repodb import Request
from repodb.cqrs import Cqrs
from repodb.multipool import MultiPool
from tests.conftest import open_conn, pg_url, replica_urls, with_search_path
from tests.cqrs.test_replicas import wait_replayed
from tests.test_docs import Block, python_blocks

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cqrs.md"
SERVER_NAMES = {"primary_url", "replica_urls"}


def page_blocks() -> list[Block]:
    return python_blocks(PAGE.read_text(encoding="utf-8"))


def test_the_first_block_only_names_the_servers() -> None:
    first = page_blocks()[0]
    body = ast.parse(first.code).body
    assigned = set()
    for statement in body:
        assert isinstance(statement, ast.Assign), f"line {first.line}: only assignments"
        for target in statement.targets:
            assert isinstance(target, ast.Name)
            assigned.add(target.id)
    assert assigned == SERVER_NAMES


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"d_{uuid.uuid4().hex[:12]}"
    with open_conn(pg_url()) as admin:
        admin.exec(Request.exec(f"CREATE SCHEMA {name}"))
    yield name
    with open_conn(pg_url()) as admin:
        admin.exec(Request.exec(f"DROP SCHEMA {name} CASCADE"))


def test_the_page_runs_against_the_primary_and_replicas(
    schema: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("repodb_docs_cqrs_pg")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    namespace["primary_url"] = with_search_path(pg_url(), schema)
    namespace["replica_urls"] = [with_search_path(u, schema) for u in replica_urls()]
    count = Request.one("SELECT count(*) FROM products", row=int)
    try:
        with open_conn(namespace["primary_url"]) as primary:
            for block in page_blocks()[1:]:
                code = compile("\n" * (block.line - 1) + block.code, str(PAGE), "exec")
                exec(code, namespace)
                for url in replica_urls():
                    wait_replayed(primary, url)
            assert primary.one(count) == 4
        for url in namespace["replica_urls"]:
            with open_conn(url) as replica:
                assert replica.one(count) == 4
    finally:
        for value in list(namespace.values()):
            if isinstance(value, Cqrs | MultiPool):
                value.shutdown()
