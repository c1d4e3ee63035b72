"""The AsyncCqrs router and the AsyncMultiPool on a SQLite file: the routing basics.

Replicas are read-only connections to the primary's file (see
test_cqrs_sqlite.py for the sync router). Checked: reads on replicas and
writes on the primary (each connection's label names its pool), transaction
blocks and the function forms, a session, stats, manual marks, the
checkout intents, and that the shared classes (config, stats) are the sync
router's. Each test is a plain function running its coroutine with
``asyncio.run`` under a bounded ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from repodb import AsyncConnection, ReadOnlyError, Request, Rollback, connect_async
from repodb import cqrs as sync_cqrs
from repodb.cqrs_async import AsyncCqrs, CqrsConfig, CqrsStats, ReplicaSelection
from repodb.multipool_async import AsyncMultiPool

COUNT = Request.one("SELECT count(*) FROM notes", row=int)
INSERT = Request.exec("INSERT INTO notes (body) VALUES ('x')")
WAIT = 20.0


def run(main: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(WAIT):
            await main()

    asyncio.run(bounded())


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'app.db'}"

    async def create() -> None:
        async with await connect_async(url) as conn:
            await conn.exec(
                Request.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            )

    run(create)
    return url


def config(url: str, replicas: int = 2) -> CqrsConfig:
    return CqrsConfig(
        primary_conninfo=url,
        replica_conninfos=[url] * replicas,
        replica_max_size_each=2,
        check_interval=0.05,
        probe_timeout=2.0,
    )


def test_reads_go_to_replicas_and_writes_to_the_primary(url: str) -> None:
    async def main() -> None:
        async with AsyncCqrs(config(url)) as cqrs:
            labels = set()
            for _ in range(4):
                async with cqrs.read() as conn:
                    labels.add(conn.label)
                    assert await conn.one(COUNT) == 0
            assert labels == {"replica 1", "replica 2"}
            async with cqrs.write() as conn:
                assert conn.label == "primary"
                await conn.exec(INSERT)
            async with cqrs.primary() as conn:
                assert conn.label == "primary"
            async with cqrs.read() as conn:
                assert await conn.one(COUNT) == 1
                with pytest.raises(ReadOnlyError):
                    await conn.exec(INSERT)

    run(main)


def test_transactions_and_the_function_forms(url: str) -> None:
    async def main() -> None:
        async with AsyncCqrs.create(config(url)) as cqrs:
            async with cqrs.transaction() as conn:
                assert conn.label == "primary"
                await conn.exec(INSERT)
            async with cqrs.transaction() as conn:
                await conn.exec(INSERT)
                raise Rollback()

            async def insert(conn: AsyncConnection) -> str:
                await conn.exec(INSERT)
                return conn.label

            assert await cqrs.transaction(insert) == "primary"

            async def undone(conn: AsyncConnection) -> str:
                await conn.exec(INSERT)
                raise Rollback()

            assert await cqrs.transaction(undone) is None

            async def failing() -> None:
                async with cqrs.transaction() as conn:
                    await conn.exec(INSERT)
                    raise ZeroDivisionError

            with pytest.raises(ZeroDivisionError):
                await failing()

            async def count(conn: AsyncConnection) -> tuple[str, int]:
                return conn.label, await conn.one(COUNT)

            label, rows = await cqrs.with_read(count)
            assert label.startswith("replica")
            assert rows == 2
            assert await cqrs.with_write(count) == ("primary", 2)
            assert await cqrs.with_primary(count) == ("primary", 2)

    run(main)


def test_checkout_intents(url: str) -> None:
    async def main() -> None:
        async with AsyncCqrs(config(url)) as cqrs:
            async with cqrs.checkout("read") as conn:
                assert conn.label.startswith("replica")
            for intent in ("write", "transaction"):
                async with cqrs.checkout(intent) as conn:
                    assert conn.label == "primary"
            with pytest.raises(ValueError, match="unknown intent"):
                cqrs.checkout("delete")

    run(main)


def test_a_session_reads_and_writes(url: str) -> None:
    async def main() -> None:
        async with AsyncCqrs(config(url)) as cqrs:
            async with cqrs.session() as session:
                assert session.last_write_lsn is None
                async with session.write() as conn:
                    await conn.exec(INSERT)
                async with session.read() as conn:
                    assert await conn.one(COUNT) == 1
            with pytest.raises(RuntimeError, match="session has ended"):
                session.read()

    run(main)


def test_a_session_after_a_token_checks_it_and_reads_replicas(url: str) -> None:
    # SQLite has no lag: a write carried from elsewhere changes nothing.
    async def main() -> None:
        async with AsyncCqrs(config(url)) as cqrs:
            async with cqrs.session() as first:
                assert first.token() is None
                async with first.write() as conn:
                    await conn.exec(INSERT)
                token = first.token()
            assert token == "rw1.sqlite.0"
            async with cqrs.session(after=token) as session:
                assert session.token() == token  # carried on to the next request
                assert session.last_write_lsn is None
                async with session.read() as conn:
                    assert conn.label.startswith("replica")
                    assert await conn.one(COUNT) == 1
            with pytest.warns(DeprecationWarning, match="bare WAL position"):
                cqrs.session(after="16/B374D848")
            for bad in ["", "16", "16/", "/B374D848", "G/0", "123456789/0", "0/0\n", "0/0;--"]:
                with pytest.raises(ValueError, match="not a read-your-writes token"):
                    cqrs.session(after=bad)
            for bad in ["rw1.sqlite.", "rw1.sqlite.0/1", "rw2.sqlite.0", "rw1.sqlite.0\n"]:
                with pytest.raises(ValueError, match="not a read-your-writes token"):
                    cqrs.session(after=bad)
            with pytest.raises(ValueError, match="from a postgresql database"):
                cqrs.session(after="rw1.postgresql.16B374D848")

    run(main)


def test_marks_and_stats(url: str) -> None:
    async def main() -> None:
        async with AsyncCqrs(config(url, replicas=2)) as cqrs:
            cqrs.mark_replica_unhealthy(0)
            for _ in range(3):
                async with cqrs.read() as conn:
                    assert conn.label == "replica 2"
            stats = cqrs.stats()
            # The very classes of the sync router: config and stats are shared.
            assert type(stats) is CqrsStats is sync_cqrs.CqrsStats
            assert CqrsConfig is sync_cqrs.CqrsConfig
            assert [r.marked_unhealthy for r in stats.replicas] == [True, False]
            assert stats.healthy_replica_count == 1
            assert stats.primary.max_size == 10
            cqrs.mark_replica_unhealthy(1)
            async with cqrs.read() as conn:
                assert conn.label == "primary"
            cqrs.mark_replica_healthy(0)
            cqrs.mark_replica_healthy(1)
            labels = set()
            for _ in range(4):
                async with cqrs.read() as conn:
                    labels.add(conn.label)
            assert labels == {"replica 1", "replica 2"}
            assert cqrs.stats().healthy_replica_count == 2
            with pytest.raises(IndexError):
                cqrs.mark_replica_unhealthy(2)

    run(main)


def test_without_replicas_everything_goes_to_the_primary(url: str) -> None:
    async def main() -> None:
        async with AsyncCqrs(CqrsConfig(primary_conninfo=url)) as cqrs:
            async with cqrs.read() as conn:
                assert conn.label == "primary"
            assert cqrs.stats().replicas == ()
            with pytest.raises(IndexError):
                cqrs.mark_replica_unhealthy(0)

    run(main)


def test_a_multipool_spreads_and_marks(url: str) -> None:
    async def main() -> None:
        async with AsyncMultiPool(
            [url, url], selection=ReplicaSelection.ROUND_ROBIN, check_interval=0.05
        ) as pools:
            labels = set()
            for _ in range(4):
                async with pools.connection() as conn:
                    labels.add(conn.label)
            assert labels == {"server 1", "server 2"}

            async def label(conn: AsyncConnection) -> str:
                return conn.label

            pools.mark_down(0)
            assert await pools.with_connection(label) == "server 2"
            assert pools.stats().healthy_count == 1
            pools.mark_up(0)
            assert pools.is_healthy(0)

    run(main)
