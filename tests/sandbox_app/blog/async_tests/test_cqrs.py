"""AsyncCqrs in the sandbox: reads routed to replicas see the test's writes."""

from __future__ import annotations

from repodb import AsyncConnection, AsyncRepo, Request, Rollback
from repodb.cqrs_async import AsyncCqrs
from repodb.query import query
from repodb.types import tup

from ..async_service import AsyncBlog
from ..schema import Post

_INSERT = Request.exec("INSERT INTO posts (slug, title) VALUES (?, ?)", params=tup(str, str))
_SLUGS = Request.many("SELECT slug FROM posts ORDER BY id", row=str)


async def _slugs(conn: AsyncConnection) -> list[str]:
    return await conn.all(_SLUGS)


async def test_replica_reads_see_the_tests_writes(repodb_async_cqrs: AsyncCqrs) -> None:
    async with repodb_async_cqrs.write() as conn:
        await conn.exec(_INSERT, ("written", "Written"))
    async with repodb_async_cqrs.read() as conn:
        assert await conn.all(_SLUGS) == ["written"]
    assert await repodb_async_cqrs.with_read(_slugs) == ["written"]
    assert [p.slug for p in await AsyncRepo(repodb_async_cqrs).all(query(Post))] == ["written"]


async def test_a_session_reads_its_writes(blog: AsyncBlog) -> None:
    post = await blog.publish_and_show({"slug": "s", "title": "Session"})
    assert post.slug == "s"


async def test_a_cqrs_transaction_rolled_back(repodb_async_cqrs: AsyncCqrs) -> None:
    async def write_then_undo(conn: AsyncConnection) -> int:
        await conn.exec(_INSERT, ("undone", "Undone"))
        raise Rollback()

    assert await repodb_async_cqrs.transaction(write_then_undo) is None
    assert await repodb_async_cqrs.with_read(_slugs) == []


async def test_the_router_is_an_async_cqrs_without_replicas(repodb_async_cqrs: AsyncCqrs) -> None:
    assert isinstance(repodb_async_cqrs, AsyncCqrs)
    assert repodb_async_cqrs.stats().healthy_replica_count == 0
