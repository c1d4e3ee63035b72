"""The pool's background task: lifetimes, idle timeouts, ``min_size``, leaks, outage alerts.

Why a task: a leak must be reported while the connection is still held, a
``min_size`` pool must refill without waiting for a checkout, and idle
connections must close on time in a quiet program. One task per pool (a daemon
thread in the sync pool) does this work in rounds (``maintain``), under the
pool's lock only to decide and outside it to close, connect and log. Between
rounds it sleeps until the next thing is due, at most ``TICK`` seconds (a
quarter of ``leak_threshold`` when that is shorter), and the pool wakes it
early when something cannot wait (shutdown, room below ``min_size``, the first
failure of an outage).

The task holds only a weak reference to its pool, so a pool dropped without
``shutdown()`` is garbage-collected; its finalizer (``abandon``) then wakes
the task, which closes the idle connections and ends.
"""

from __future__ import annotations

import logging
import time
import traceback
import weakref
from collections import deque
from typing import TYPE_CHECKING

from .._acompat_async import AsyncEvent, resolve_async, wait_event_async
from .slots_async import Slot, close_quietly

if TYPE_CHECKING:
    import threading

    from ..pool_async import AsyncPool

__all__ = ["TICK", "abandon", "maintain", "run"]

TICK = 1.0

_logger = logging.getLogger("repodb.pool")
_now = time.monotonic

Leak = tuple[traceback.StackSummary | None, float]


async def run(
    pool_ref: weakref.ref[AsyncPool],
    wakeup: AsyncEvent,
    idle: deque[Slot],
    lock: threading.Lock,
) -> None:
    """The task's body: rounds until the pool is shut down or dropped."""
    while True:
        wakeup.clear()
        pool = pool_ref()
        if pool is None:
            with lock:
                slots = list(idle)
                idle.clear()
            for slot in slots:
                await close_quietly(slot.conn)
            return
        try:
            pause = await maintain(pool)
        except Exception:  # a bug must not end the task that refills and expires
            _logger.exception("%s: pool maintenance failed", pool.label)
            pause = TICK
        del pool
        if pause is None:
            return
        if pause > 0:
            await wait_event_async(wakeup, pause)


async def maintain(pool: AsyncPool) -> float | None:
    """One round of work; seconds until the next round, or None once the pool is closed."""
    now = _now()
    refill: bool | None = None
    with pool._lock:
        if pool._closed:
            return None
        stale = _expire_idle(pool, now)
        leaks = _leaks(pool, now)
        health = pool._health
        if pool._min_size > pool._total_locked() and not health.blocks(now):
            pool._opening += 1
            refill = health.attempt()
        alert = health.alert_due(now)
        pause = _next_due(pool, now)
    for slot in stale:
        await close_quietly(slot.conn)
    for stack, held in leaks:
        shown = "".join(stack.format()).rstrip("\n") if stack is not None else "(unknown)"
        _logger.warning(
            "%s: a connection has been borrowed for %.1f s (leak_threshold %g s); "
            "it may have leaked. Borrowed at:\n%s",
            pool.label,
            held,
            pool._leak_threshold,
            shown,
        )
    if alert:
        await _alert(pool)
    if refill is not None:
        await pool._open_in_background(refill)
        return 0.0
    return pause


async def _alert(pool: AsyncPool) -> None:
    _logger.error(
        "%s: no connection to %s for %g s (reconnect_timeout)",
        pool.label,
        pool._redacted,
        pool._health.reconnect_timeout,
    )
    if pool._reconnect_failed is not None:
        try:
            await resolve_async(pool._reconnect_failed(pool))
        except Exception:  # the application's callback may raise anything
            _logger.exception("%s: the reconnect_failed callback raised", pool.label)


def _expire_idle(pool: AsyncPool, now: float) -> list[Slot]:
    """Take out idle connections past their lifetime, or idle too long beyond min_size."""
    idle = pool._idle
    total = pool._total_locked()
    keep: list[Slot] = []
    stale: list[Slot] = []
    max_idle = pool._max_idle
    # Oldest first: the left end of the idle stack has waited longest.
    for slot in idle:
        too_idle = max_idle is not None and now - slot.idle_since >= max_idle
        if slot.expires <= now or (too_idle and total > pool._min_size):
            stale.append(slot)
            total -= 1
        else:
            keep.append(slot)
    if stale:
        idle.clear()
        idle.extend(keep)
        pool._expired += len(stale)
    return stale


def _leaks(pool: AsyncPool, now: float) -> list[Leak]:
    """Borrowed connections newly past ``leak_threshold``: (borrower's stack, time held)."""
    threshold = pool._leak_threshold
    if threshold is None:
        return []
    found: list[Leak] = []
    for slot in pool._borrowed.values():
        held = now - slot.borrowed_at
        if not slot.reported and held >= threshold:
            slot.reported = True
            found.append((slot.stack, held))
    return found


def _next_due(pool: AsyncPool, now: float) -> float:
    """Seconds until the next thing to do; only deadlines that lead to work count."""
    threshold = pool._leak_threshold
    due = now + (TICK if threshold is None else min(TICK, threshold / 4))
    idle = pool._idle
    for slot in idle:
        due = min(due, slot.expires)
    if idle and pool._max_idle is not None and pool._total_locked() > pool._min_size:
        due = min(due, idle[0].idle_since + pool._max_idle)
    if threshold is not None:
        for slot in pool._borrowed.values():
            if not slot.reported:
                due = min(due, slot.borrowed_at + threshold)
    health = pool._health
    if pool._min_size > pool._total_locked() and health.retry_at > now:
        due = min(due, health.retry_at)
    alert_at = health.alert_at()
    if alert_at is not None:
        due = min(due, alert_at)
    return max(0.0, due - now)


def abandon(wakeup: AsyncEvent) -> None:
    """A pool dropped without shutdown: wake its task, which closes idle connections and ends."""
    wakeup.set()
