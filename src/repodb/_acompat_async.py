"""The asyncio side of ``_acompat``: what async sources import under their async names."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["AsyncEvent", "asleep", "join_async", "resolve_async", "spawn_async", "wait_event_async"]

T = TypeVar("T")

asleep = asyncio.sleep
AsyncEvent = asyncio.Event


async def wait_event_async(event: asyncio.Event, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``event``; whether it was set."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


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
