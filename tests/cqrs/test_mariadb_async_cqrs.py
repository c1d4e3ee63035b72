"""The async router over MariaDB replication, through the asyncio MariaDB driver (asyncmy).

The routing and read-your-writes logic is the sync router's, generated from
the same source and tested on both databases in this folder; here, on the
primary and two ``read_only`` replicas of ``scripts/mariadb-cluster``, what
the asyncio driver adds: an ``AsyncCqrs`` reads on the replicas, writes and
transactions on the primary, a session reads its own write, and a write
sent to a replica raises ``ReadOnlyError``. Every wait is bounded.
"""

from __future__ import annotations

import asyncio

import pytest

import repodb
from repodb import AsyncRepo, ReadOnlyError, Request
from repodb.changeset import cast
from repodb.cqrs_async import AsyncCqrs
from tests.cqrs.test_mariadb_cqrs import SERVER
from tests.cqrs.topology import RoutedItem, Topology, make_topology

pytestmark = pytest.mark.mariadb_server

BOUND = 30.0


def test_async_reads_on_replicas_writes_on_the_primary_and_a_session_reads_its_write() -> None:
    with make_topology("mariadb") as maria:
        run_on(maria)


def run_on(maria: Topology) -> None:
    async def body() -> None:
        cqrs = AsyncCqrs(maria.config())
        try:
            repo = AsyncRepo(cqrs)
            answered = set()
            for _ in range(4):
                async with cqrs.read() as conn:
                    answered.add(await conn.one(SERVER))
            assert answered == {(port, True) for port in maria.replica_ports}
            assert (await repo.get(RoutedItem, 1)).name == "seed"
            async with cqrs.transaction() as conn:
                assert await conn.one(SERVER) == (maria.primary_port, False)
            async with cqrs.session() as session:
                item = await AsyncRepo(session).insert(cast(RoutedItem, {"name": "mine"}, ["name"]))
                seen = await AsyncRepo(session).get(RoutedItem, item.id)
                assert seen is not None
                assert seen.name == "mine"
            with pytest.raises(ReadOnlyError):
                async with await repodb.connect_async(maria.replica_urls[0]) as replica:
                    await replica.exec(Request.exec("INSERT INTO items (name) VALUES ('no')"))
        finally:
            await cqrs.shutdown()

    async def bounded() -> None:
        async with asyncio.timeout(BOUND):
            await body()

    asyncio.run(bounded())
