"""Each test sees none of another test's writes; tasks share the test's transaction."""

from __future__ import annotations

import asyncio

from repodb.sandbox_async import AsyncSandbox

from ..async_service import AsyncBlog


async def test_first_sees_nothing_of_the_second(blog: AsyncBlog) -> None:
    assert await blog.posts() == []
    await blog.publish({"slug": "first", "title": "First"})


async def test_second_sees_nothing_of_the_first(blog: AsyncBlog) -> None:
    assert await blog.posts() == []
    await blog.publish({"slug": "second", "title": "Second"})


async def test_tasks_share_the_tests_transaction(blog: AsyncBlog) -> None:
    # Each task's transaction holds the one connection in turn.
    async with asyncio.timeout(30):
        await asyncio.gather(
            *(
                blog.publish_with_comments({"slug": f"task-{n}", "title": "T"}, ["c"])
                for n in range(4)
            )
        )
    assert sorted(p.slug for p in await blog.posts()) == [f"task-{n}" for n in range(4)]


async def test_the_sandbox_is_open_on_the_tests_loop(repodb_async_sandbox: AsyncSandbox) -> None:
    conn = repodb_async_sandbox.connection
    assert conn.in_transaction is False  # the sandbox's own transaction is not the app's
    async with repodb_async_sandbox.checkout("read") as held:
        assert held is conn
