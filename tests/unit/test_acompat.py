"""AsyncRLock, the task re-entrant lock of the async test sandbox (no database needed)."""

from __future__ import annotations

import asyncio

import pytest

from repodb._acompat_async import AsyncRLock


def test_a_task_takes_it_again_and_others_wait_or_give_up() -> None:
    async def body() -> None:
        lock = AsyncRLock()
        assert await lock.acquire(timeout=1.0)
        assert await lock.acquire(timeout=1.0)  # the same task, again

        async def other() -> bool:
            with pytest.raises(RuntimeError, match="does not hold"):
                lock.release()
            return await lock.acquire(timeout=0.01)

        assert await asyncio.create_task(other()) is False
        lock.release()
        assert await asyncio.create_task(other()) is False  # held once still
        lock.release()

        async def take_and_give_back() -> bool:
            taken = await lock.acquire(timeout=1.0)
            lock.release()
            return taken

        assert await asyncio.create_task(take_and_give_back())

    asyncio.run(asyncio.wait_for(body(), 30))


def test_a_task_cancelled_while_it_waits_does_not_get_it() -> None:
    async def body() -> None:
        lock = AsyncRLock()
        assert await lock.acquire(timeout=1.0)
        waiter = asyncio.create_task(lock.acquire(timeout=30.0))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        lock.release()
        # Free for the next task: the cancelled waiter did not take it.
        assert await asyncio.create_task(lock.acquire(timeout=0.5))

    asyncio.run(asyncio.wait_for(body(), 30))
