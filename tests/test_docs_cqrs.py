"""docs/cqrs.md's examples against a real primary and two replicas: PostgreSQL, then MariaDB.

``tests/test_docs.py`` runs the page on SQLite files. Here the page's first
python block, which only names the servers (``primary_url`` and
``replica_urls``), is replaced by the cluster's URLs with a fresh schema on
their search path (a fresh database on MariaDB), and the other blocks run
unchanged, in order, in one namespace. On MariaDB the asyncio block is left
out while repodb has no asyncio MariaDB driver (``connect_async`` refuses
``mariadb://``, docs/mariadb.md); it runs as soon as one is registered.
After each block the test waits (bounded) until both replicas have replayed
everything the primary wrote, as replicas do between a user's
requests; within a block the page reads its own writes only through the
primary or a session, so no example depends on replication being fast.
"""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

import pytest

from repodb import Request
from repodb.cqrs import Cqrs
from repodb.driver._async import ASYNC_DRIVERS
from repodb.multipool import MultiPool
from tests.conftest import open_conn
from tests.cqrs.topology import Topology, make_topology
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


@pytest.mark.parametrize(
    "kind", ["postgresql", pytest.param("mariadb", marks=pytest.mark.mariadb_server)]
)
def test_the_page_runs_against_the_primary_and_replicas(
    kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every block after the first; on MariaDB the asyncio one only with an asyncio driver."""
    with make_topology(kind) as topology:
        ran = run_page(topology, monkeypatch, tmp_path)
    assert ran == len(page_blocks()) - 1 - (kind not in ASYNC_DRIVERS)


def run_page(topology: Topology, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> int:
    """Run the page's blocks after the first against these servers; how many ran."""
    monkeypatch.chdir(tmp_path)
    kind, primary_url, replica_list = topology.kind, topology.primary_url, topology.replica_urls
    module = types.ModuleType(f"repodb_docs_cqrs_{kind}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    namespace["primary_url"] = primary_url
    namespace["replica_urls"] = replica_list
    count = Request.one("SELECT count(*) FROM products", row=int)
    ran = 0
    try:
        with open_conn(primary_url) as primary:
            for block in page_blocks()[1:]:
                if "AsyncCqrs" in block.code and kind not in ASYNC_DRIVERS:
                    continue
                code = compile("\n" * (block.line - 1) + block.code, str(PAGE), "exec")
                exec(code, namespace)
                ran += 1
                for url in replica_list:
                    topology.wait_replica(primary, url)
            assert primary.one(count) == 4
        for url in replica_list:
            with open_conn(url) as replica:
                assert replica.one(count) == 4
    finally:
        for value in list(namespace.values()):
            if isinstance(value, Cqrs | MultiPool):
                value.shutdown()
    return ran
