"""The thread side of the primitives that differ between asyncio and threads.

Why: async sources import the ``a``-prefixed (or ``_async``-suffixed, or
``Async``-prefixed) names from ``_acompat_async``; scripts/async_to_sync.py
renames both the module and the names, so a sync module imports from here and
never loads asyncio (psycopg's ``_acompat.py`` pairs names the same way).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Event", "RLock", "Worker", "join", "resolve", "sleep", "spawn", "wait_event"]

T = TypeVar("T")

sleep = time.sleep
Event = threading.Event
# What spawn returns.
Worker = threading.Thread
# A lock its thread may take again; ``acquire(timeout=...)`` gives up after that long.
RLock = threading.RLock


def wait_event(event: threading.Event, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``event``; whether it was set."""
    return event.wait(timeout)


def resolve(value: T) -> T:
    """A callback's result (the async side awaits one that is awaitable)."""
    return value


def spawn(fn: Callable[..., object], args: tuple[Any, ...], name: str) -> threading.Thread:
    """Run ``fn(*args)`` in the background: a daemon thread."""
    thread = threading.Thread(target=fn, args=args, name=name, daemon=True)
    thread.start()
    return thread


def join(worker: threading.Thread, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for ``worker`` to end, unless it is the caller."""
    if worker is not threading.current_thread():
        worker.join(timeout)
