"""Multi-tenant prefixes: two tenants' rows never mix, on SQLite, PostgreSQL and MariaDB.

Each tenant's tables are made by ``Migrator(prefix=...)`` (on PostgreSQL a
schema per tenant; on MariaDB a database per tenant; on SQLite a database
file per tenant, attached under the prefix's name), and read and written
through ``Repo(source, prefix=...)`` or a call's ``prefix=``: queries,
preloads, inserts, updates, deletes, ``insert_all`` (COPY on PostgreSQL),
``update_all`` and ``delete_all``. A schema with a ``prefix`` of its own
stays where it says.
"""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

import repodb
from repodb import AsyncRepo, Request
from repodb.changeset import cast
from repodb.cli import main
from repodb.connection_async import AsyncConnection
from repodb.migration import MigrationError, Migrator
from repodb.pool_async import AsyncPool
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Assoc, Col, Schema, belongs_to, field, has_many
from repodb.types import tup
from tests.conftest import CONNECT_TIMEOUT, open_conn

pytestmark = pytest.mark.mariadb

MIGRATION = """
    from repodb.migration import Ops, column, references

    def change(ops: Ops) -> None:
        ops.create_table("shops", [
            column("id", int, primary_key=True, autogenerate=True),
            column("name", str),
        ])
        ops.create_table("items", [
            column("id", int, primary_key=True, autogenerate=True),
            column("shop_id", int, references=references("shops")),
            column("title", str),
        ])
"""


class Shop(Schema, table="shops"):
    id: Col[int | None] = field(primary_key=True, default=None)
    name: Col[str]
    items: ClassVar[Assoc[list[Item]]] = has_many(lambda: Item, foreign_key="shop_id")


class Item(Schema, table="items"):
    id: Col[int | None] = field(primary_key=True, default=None)
    shop_id: Col[int]
    title: Col[str]
    shop: ClassVar[Assoc[Shop | None]] = belongs_to(lambda: Shop, foreign_key="shop_id")


TENANTS = ("tenant_a", "tenant_b")


@pytest.fixture
def conn(db_url: str, tmp_path: Path) -> Iterator[repodb.Connection]:
    """A connection that sees both tenants, each migrated by ``Migrator(prefix=...)``."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20260101000000_shop.py").write_text(textwrap.dedent(MIGRATION), encoding="utf-8")
    names = {t: f"{t}_{uuid.uuid4().hex[:8]}" for t in TENANTS}
    with open_conn(db_url) as c:
        for name in names.values():
            with Migrator(c, folder, prefix=name) as m:
                assert [ran.version for ran in m.migrate()] == [20260101000000]
        if c.dialect.name == "sqlite":
            # A tenant is the file Migrator(prefix=) made beside the main database.
            for name in names.values():
                path = str(tmp_path / f"{name}.db")
                c.exec(Request.exec("ATTACH DATABASE ? AS ?", params=tup(str, str)), (path, name))
        c.tenant_names = names  # type: ignore[attr-defined]
        try:
            yield c
        finally:
            for name in names.values():
                drop_tenant(c, name)


# How a tenant made by Migrator(prefix=...) on a server is dropped (SQLite's is a file).
_DROP_TENANT = {
    "postgresql": 'DROP SCHEMA "{name}" CASCADE',
    "mariadb": 'DROP DATABASE "{name}"',
}


def drop_tenant(conn: repodb.Connection, name: str) -> None:
    drop = _DROP_TENANT.get(conn.dialect.name)
    if drop is not None:
        conn._run(drop.format(name=name))


def tenants(conn: repodb.Connection) -> dict[str, str]:
    names: dict[str, str] = conn.tenant_names  # type: ignore[attr-defined]
    return names


def test_two_tenants_rows_never_mix(conn: repodb.Connection) -> None:
    a, b = (tenants(conn)[t] for t in TENANTS)
    repo_a, repo_b = Repo(conn, prefix=a), Repo(conn, prefix=b)
    assert repo_a.prefix == a
    shop_a = repo_a.insert(Shop(name="A's shop"))
    shop_b = repo_b.insert(Shop(name="B's shop"))
    # Each tenant's sequence starts afresh: the same key, two different rows.
    assert shop_a.id == shop_b.id == 1
    repo_a.insert_all(Item, [{"shop_id": 1, "title": f"a{i}"} for i in range(3)])
    repo_b.insert_all(Item, [{"shop_id": 1, "title": "b0"}])

    assert [s.name for s in repo_a.all(query(Shop))] == ["A's shop"]
    assert [s.name for s in repo_b.all(query(Shop))] == ["B's shop"]
    assert repo_a.get(Shop, 1).name == "A's shop"
    assert repo_b.get(Item, 1).title == "b0"
    loaded = repo_a.one(query(Shop).preload("items"))
    assert sorted(i.title for i in loaded.items) == ["a0", "a1", "a2"]
    assert [i.title for i in repo_b.preload(shop_b, "items").items] == ["b0"]
    item = repo_b.one(query(Item).preload("shop"))
    assert item.shop is not None
    assert item.shop.name == "B's shop"


def test_writes_touch_only_their_tenant(conn: repodb.Connection) -> None:
    a, b = (tenants(conn)[t] for t in TENANTS)
    repo = Repo(conn)
    for name in (a, b):
        repo.insert(Shop(name=f"{name} shop"), prefix=name)
        repo.insert_all(Item, [Item(shop_id=1, title="x"), Item(shop_id=1, title="y")], prefix=name)
    shop = repo.get(Shop, 1, prefix=a)
    repo.update(cast(shop, {"name": "renamed"}, ["name"]), prefix=a)
    assert (
        repo.update_all(query(Item).where(Item.title == "x"), set={"title": "z"}, prefix=a).count
        == 1
    )
    assert repo.delete_all(query(Item).where(Item.title == "y"), prefix=a).count == 1
    repo.delete(repo.get(Item, 1, prefix=a), prefix=a)

    assert repo.all(query(Shop).select(Shop.name), prefix=a) == ["renamed"]
    assert repo.all(query(Shop).select(Shop.name), prefix=b) == [f"{b} shop"]
    assert repo.all(query(Item).order_by(Item.id).select(Item.title), prefix=a) == []
    assert repo.all(query(Item).order_by(Item.id).select(Item.title), prefix=b) == ["x", "y"]
    # A transaction keeps the repo's tenant.
    with Repo(conn, prefix=b).transaction() as tx:
        tx.insert(Item(shop_id=1, title="in tx"))
        assert tx.one_or_none(query(Item).where(Item.title == "in tx")) is not None
    assert repo.one_or_none(query(Item).where(Item.title == "in tx"), prefix=a) is None
    assert repo.with_prefix(b).exists(query(Item).where(Item.title == "in tx"))


def test_a_schema_s_own_prefix_wins_and_unprefixed_tables_stay_apart(
    conn: repodb.Connection,
) -> None:
    a, b = (tenants(conn)[t] for t in TENANTS)
    repo = Repo(conn, prefix=a)
    repo.insert(Shop(name="only in b"), prefix=b)

    class PinnedShop(Schema, table="shops", prefix=b):
        id: Col[int | None] = field(primary_key=True, default=None)
        name: Col[str]

    assert [s.name for s in repo.all(query(PinnedShop))] == ["only in b"]
    assert repo.all(query(Shop)) == []
    if conn.dialect.name != "sqlite":
        # Without a prefix, the search_path's schema (MariaDB: the URL's database), which
        # has no shops table. (SQLite would look through the attached databases for a
        # table main lacks.)
        with pytest.raises(repodb.Error):
            Repo(conn).all(query(Shop))


def test_a_prefix_must_be_a_name(conn: repodb.Connection) -> None:
    with pytest.raises(ValueError, match="a prefix is a schema's name"):
        Repo(conn, prefix="")
    with pytest.raises(TypeError, match=r"all\(prefix=...\) takes a query"):
        Repo(conn).all(Request.many("SELECT 1", row=int), prefix="x")  # type: ignore[call-overload]


def test_repodb_migrate_prefix_migrates_one_tenant(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20260101000000_shop.py").write_text(textwrap.dedent(MIGRATION), encoding="utf-8")
    name = f"cli_{uuid.uuid4().hex[:8]}"
    argv = ["migrate", "--url", db_url, "--migrations", str(folder), "--prefix", name]
    assert main(argv) == 0
    assert "applied" in capsys.readouterr().out
    assert main(argv) == 0
    assert "already up to date" in capsys.readouterr().out
    with open_conn(db_url) as c:
        try:
            if c.dialect.name == "sqlite":
                # The tenant's own file, beside the main database.
                path = str(tmp_path / f"{name}.db")
                c.exec(Request.exec("ATTACH DATABASE ? AS ?", params=tup(str, str)), (path, name))
            assert Repo(c, prefix=name).all(query(Shop)) == []
            # The main database (the connection's schema) got nothing.
            tables = c.all(Request.many(_MAIN_TABLES[c.dialect.name], row=str))
            assert "shops" not in tables
        finally:
            drop_tenant(c, name)


_MAIN_TABLES = {
    "sqlite": "SELECT name FROM main.sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
    "mariadb": "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
}


def test_an_async_repo_on_a_pool_keeps_tenants_apart(
    conn: repodb.Connection, db_url: str, tmp_path: Path
) -> None:
    a, b = (tenants(conn)[t] for t in TENANTS)

    async def configure(c: AsyncConnection) -> None:
        # On SQLite, each of the pool's connections attaches the tenants' files.
        if c.dialect.name == "sqlite":
            for name in (a, b):
                await c.exec(_ATTACH, (str(tmp_path / f"{name}.db"), name))

    async def body() -> None:
        async with (
            asyncio.timeout(60),
            AsyncPool(
                db_url, max_size=2, configure=configure, connect_timeout=CONNECT_TIMEOUT
            ) as pool,
        ):
            repo = AsyncRepo(pool, prefix=a)
            await repo.insert(Shop(name="async a"))
            await repo.insert(Shop(name="async b"), prefix=b)
            await repo.insert_all(Item, [{"shop_id": 1, "title": "b item"}], prefix=b)
            async with repo.transaction() as tx:
                await tx.insert(Item(shop_id=1, title="a item"))
            shop = await repo.one(query(Shop).preload("items"))
            assert [i.title for i in shop.items] == ["a item"]
            other = await repo.with_prefix(b).one(query(Shop).preload("items"))
            assert [i.title for i in other.items] == ["b item"]
            assert await repo.get_or_none(Item, 2, prefix=b) is None

    asyncio.run(body())


_ATTACH = Request.exec("ATTACH DATABASE ? AS ?", params=tup(str, str))


def test_migrating_a_tenant_of_an_in_memory_sqlite_database_needs_it_attached(
    tmp_path: Path,
) -> None:
    with repodb.connect("sqlite::memory:") as c:
        with pytest.raises(MigrationError, match="attach the tenant's database file first"):
            Migrator(c, tmp_path, prefix="t1")
        path = str(tmp_path / "elsewhere.db")
        c.exec(_ATTACH, (path, "t1"))
        (tmp_path / "20260101000000_shop.py").write_text(
            textwrap.dedent(MIGRATION), encoding="utf-8"
        )
        # An attached tenant is migrated in its own file, wherever it is.
        with Migrator(c, tmp_path, prefix="t1") as m:
            assert len(m.migrate()) == 1
        assert Repo(c, prefix="t1").all(query(Shop)) == []
