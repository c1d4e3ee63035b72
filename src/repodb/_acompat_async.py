"""The asyncio side of ``_acompat``: what async sources import under their async names."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = [
    "AsyncEvent",
    "AsyncRLock",
    "AsyncWorker",
    "asleep",
    "join_async",
    "resolve_async",
    "spawn_async",
    "wait_event_async",
]

T = TypeVar("T")

asleep = asyncio.sleep
AsyncEvent = asyncio.Event
# What spawn_async returns.
AsyncWorker = asyncio.Task[object]


async def wait_event_async(event: asyncio.Event, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``event``; whether it was set."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


class AsyncRLock:
    """A lock a task may take again while it holds it, as ``threading.RLock`` for threads.

    Why: the test sandbox lends one connection to one ``async with`` block at
    a time, and code inside such a block (a Repo operation inside
    ``repo.transaction()``) takes it again from the same task. ``acquire``
    gives up after ``timeout`` seconds (False); a task cancelled while it
    waits does not get the lock.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    async def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds; whether it was taken."""
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            self._depth += 1
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._lock.acquire()
        except TimeoutError:
            return False
        self._owner, self._depth = task, 1
        return True

    def release(self) -> None:
        """Give the lock up once; the last release lets the next task have it."""
        if self._owner is not asyncio.current_task() or not self._depth:
            raise RuntimeError("cannot release a lock this task does not hold")
        self._depth -= 1
        if not self._depth:
            self._owner = None
            self._lock.release()


async def resolve_async(value: T | Awaitable[T]) -> T:
    """A callback's result: awaited when the callback is an async one."""
    if inspect.isawaitable(value):
        return await value
    return value


def spawn_async(
    fn: Callable[..., Coroutine[Any, Any, object]], args: tuple[Any, ...], name: str
) -> asyncio.Task[object]:
    """Run ``fn(*args)`` in the background: a task of the running loop."""
    return asyncio.create_task(fn(*args), name=name)


async def join_async(worker: asyncio.Task[object], timeout: float) -> None:
    """Wait up to ``timeout`` seconds for ``worker`` to end, unless it is the caller."""
    if worker is not asyncio.current_task():
        await asyncio.wait({worker}, timeout=max(0.0, timeout))
