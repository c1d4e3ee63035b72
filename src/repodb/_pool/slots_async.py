"""The pool's bookkeeping: a pooled connection (``Slot``) and a queued checkout (``Waiter``).

Why here: ``repodb.pool_async`` keeps the locking and the policy; these are the
plain records it moves between its idle stack, its borrowed map and its
queue of waiters. Fields are read and written under the pool's lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

from .._acompat_async import AsyncEvent
from ..connection_async import AsyncConnection
from ..errors import Error

__all__ = ["Slot", "Waiter", "borrower_stack", "close_quietly"]


class Slot:
    """One pooled connection and what the pool knows about it.

    Attributes:
        expires: monotonic time after which it is closed instead of reused
            (its ``max_lifetime``, with jitter); ``inf`` without a limit.
        idle_since: when it was last put back in the idle stack.
        check: validate (or ping) it before handing it out.
        borrowed_at, stack: when and where it was last borrowed (the stack
            only with leak detection on); ``reported`` once a leak warning
            named it.
    """

    __slots__ = ("borrowed_at", "check", "conn", "expires", "idle_since", "reported", "stack")

    def __init__(self, conn: AsyncConnection, expires: float) -> None:
        self.conn = conn
        self.expires = expires
        self.idle_since = 0.0
        self.check = False
        self.borrowed_at = 0.0
        self.stack: traceback.StackSummary | None = None
        self.reported = False


class Waiter:
    """A checkout queued until a connection, or room for a new one, is free.

    Whoever serves the waiter fills in exactly one of ``slot`` (a
    connection, already marked borrowed), ``grant`` (room reserved for the
    waiter to open a connection itself; ``probe`` when that attempt probes a
    down server) or ``error``, sets ``served`` and sets ``ready``.
    """

    __slots__ = ("error", "grant", "probe", "ready", "served", "slot", "stack")

    def __init__(self, stack: traceback.StackSummary | None) -> None:
        self.ready = AsyncEvent()
        self.stack = stack
        self.served = False
        self.slot: Slot | None = None
        self.grant = False
        self.probe = False
        self.error: Exception | None = None


def borrower_stack() -> traceback.StackSummary:
    """The caller's stack, without the pool's own frames; source lines are read only if shown."""
    stack = traceback.StackSummary.extract(
        traceback.walk_stack(sys._getframe(1)), lookup_lines=False
    )
    stack.reverse()
    pool_files = (
        os.path.join(os.path.dirname(os.path.dirname(__file__)), "pool_async.py"),
        __file__,
    )
    while stack and stack[-1].filename in pool_files:
        stack.pop()
    return stack


async def close_quietly(conn: AsyncConnection) -> None:
    """Close a connection the pool gave up on; a failure to close changes nothing."""
    with contextlib.suppress(Error):
        await conn.close()
