"""Connection pools: many tasks (or threads) sharing a few connections to one server.

Why: opening a connection costs round trips (and, on PostgreSQL, a server
process), so a pool keeps connections open and lends them out. It follows
``psycopg_pool`` (size limits, lifetime with jitter, idle timeout, validation,
reset on return, a bounded queue, statistics) for every repodb driver, with
two changes learned from outages: while the server is down, checkouts fail
fast with the last ``ConnectError`` instead of waiting out their timeout; and
once it is back, the first good connection is handed out at the next attempt
(at most ``backoff_max`` later) however many stale connections the pool held,
because stale connections are dropped without waiting between them.

The thread-safe ``repodb.pool.Pool`` is generated from this module's
``AsyncPool`` (its background task becomes a daemon thread); it is a Repo
source: ``Repo(pool)`` borrows a connection per operation and keeps one for
a whole ``repo.transaction()``.

Example::

    async with AsyncPool("sqlite:///app.db", max_size=4) as pool:
        async with pool.connection() as conn:
            await conn.exec(create_users)
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self, TypeVar

from . import _observe
from ._acompat_async import (
    AsyncEvent,
    AsyncWorker,
    join_async,
    resolve_async,
    spawn_async,
    wait_event_async,
)
from ._cause_log import CauseLog
from ._fork import track
from ._pool import maintenance_async
from ._pool.health import Health
from ._pool.slots_async import Slot, Waiter, borrower_stack, close_quietly
from ._pool.stats import (
    PoolClosed,
    PoolError,
    PoolStats,
    PoolTimeout,
    PoolTooManyWaiters,
    SessionReset,
)
from .connection_async import AsyncConnection, connect_async
from .errors import ConnectError, ConnectionLost, Error
from .request import Request
from .url import parse_url

__all__ = ["AsyncPool", "PoolClosed", "PoolError", "PoolStats", "PoolTimeout", "PoolTooManyWaiters"]

T = TypeVar("T")

_logger = logging.getLogger("repodb.pool")
_now = time.monotonic
_INTENTS = frozenset(("read", "write", "transaction"))
# What ``session_reset`` runs on PostgreSQL.
_SESSION_RESETS = {
    "discard": Request.exec("DISCARD ALL"),
    "reset": Request.exec("RESET ALL"),
}


class AsyncPool:
    """A pool of connections to one database server, shared by concurrent tasks (or threads).

    Connections are opened when needed, up to ``max_size``; a checkout that
    finds none idle and no room waits in line (first come, first served) for
    one to come back. No lock is held while connecting or talking to the
    server. A connection given back is rolled back if a transaction is still
    open on it, and closed instead of reused if it is broken (a statement
    failed with ``ConnectionLost``), cannot be reset, or is past its lifetime.
    A background task (a daemon thread for the sync pool; stopped by
    ``shutdown``) keeps ``min_size`` connections open, closes expired idle
    ones and reports leaks.

    While the server is down, checkouts that need a new connection fail at
    once with ``ConnectError`` (the last connect error is its cause) until the
    next attempt is due; attempts are spaced from ``backoff_min`` doubling to
    ``backoff_max``, with jitter. Creating a pool never connects, so a pool
    made while its server is down starts working when the server appears.

    Options:
        url: the database, as for ``repodb.connect``.
        max_size: the most connections open at once.
        min_size: connections kept open even when idle, opened in the background.
        timeout: seconds a checkout waits for a connection (``PoolTimeout``).
        max_waiting: the most checkouts waiting at once; one more fails with
            ``PoolTooManyWaiters`` (0: no limit).
        max_lifetime: seconds after which a connection is replaced, less up
            to 10 % at random so connections do not all reconnect together;
            a borrowed connection is replaced only once given back (None: never).
        max_idle: seconds an idle connection beyond ``min_size`` stays open (None: forever).
        validate: ``await validate(conn) -> bool`` (or a plain function) runs
            before a connection is reused; False or an exception discards it
            and the checkout goes on with another, without delay. An exception other than
            ``ConnectionLost`` is a bug in the check: it is logged as a
            WARNING with its traceback, once until the cause changes.
        configure: ``await configure(conn)`` (or a plain function) runs once on
            each new connection, and again after each ``session_reset``.
        session_reset: what a connection given back goes through, so that
            what one borrower set is not seen by the next (PostgreSQL only):
            ``"discard"`` runs ``DISCARD ALL`` (settings such as
            ``application_name`` and ``search_path``, temporary tables,
            prepared statements, advisory locks, ``LISTEN``), ``"reset"``
            runs ``RESET ALL`` (settings only). Settings return to the
            connection's start (the URL's, repodb's time zone and statement
            timeout). None (the default): nothing, which costs no round trip;
            use ``SET LOCAL`` inside transactions instead of ``SET``.
        reset: ``await reset(conn)`` (or a plain function) runs on each
            connection given back, after ``session_reset``; an exception
            discards the connection (one other than ``ConnectionLost`` is
            logged as a WARNING, once until the cause changes).
        connect_timeout, statement_timeout: as for ``repodb.connect``.
        leak_threshold: seconds after which a borrowed connection is reported
            once, with the borrower's stack, as a WARNING on the
            ``repodb.pool`` logger (None: off).
        backoff_min, backoff_max: the bounds, in seconds, of the wait between
            connect attempts while the server is down.
        reconnect_timeout, reconnect_failed: ``await reconnect_failed(pool)`` is
            called once when connecting has failed for ``reconnect_timeout``
            seconds without a success in between.
        label: the server's name in telemetry (``conn.label``) and logs.

    Example::

        pool = AsyncPool("postgresql://app@db/app", max_size=20, validate=lambda c: True)
        async with pool.connection() as conn:
            await conn.one(Request.one("SELECT 1", row=int))
        await pool.shutdown()
    """

    def __init__(
        self,
        url: str,
        *,
        max_size: int = 10,
        min_size: int = 0,
        timeout: float = 30.0,
        max_waiting: int = 0,
        max_lifetime: float | None = 3600.0,
        max_idle: float | None = 600.0,
        validate: Callable[[AsyncConnection], bool | Awaitable[bool]] | None = None,
        configure: Callable[[AsyncConnection], object] | None = None,
        session_reset: SessionReset | None = None,
        reset: Callable[[AsyncConnection], object] | None = None,
        connect_timeout: float = 10.0,
        statement_timeout: float | None = None,
        leak_threshold: float | None = None,
        backoff_min: float = 0.05,
        backoff_max: float = 1.0,
        reconnect_timeout: float = 300.0,
        reconnect_failed: Callable[[AsyncPool], object] | None = None,
        label: str = "primary",
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        if not 0 <= min_size <= max_size:
            raise ValueError(f"min_size must be between 0 and max_size, got {min_size}")
        if timeout < 0 or max_waiting < 0:
            raise ValueError("timeout and max_waiting cannot be negative")
        if not 0 < backoff_min <= backoff_max:
            raise ValueError("backoff_min must be positive and at most backoff_max")
        for name, seconds in (
            ("max_lifetime", max_lifetime),
            ("max_idle", max_idle),
            ("leak_threshold", leak_threshold),
        ):
            if seconds is not None and seconds <= 0:
                raise ValueError(f"{name} must be positive (or None for no limit), got {seconds}")
        parsed = parse_url(url)
        if session_reset is not None:
            if session_reset not in _SESSION_RESETS:
                raise ValueError(
                    f"session_reset must be 'discard', 'reset' or None, got {session_reset!r}"
                )
            if parsed.driver != "postgresql":
                raise ValueError(
                    f"session_reset runs PostgreSQL's DISCARD ALL or RESET ALL; "
                    f"for {parsed.driver}, clean up in a reset= callback"
                )
        self._url = url
        self._redacted = parsed.redacted
        self._max_size = max_size
        self._min_size = min_size
        self._timeout = timeout
        self._max_waiting = max_waiting
        self._max_lifetime = max_lifetime
        self._max_idle = max_idle
        self._validate = validate
        self._configure = configure
        self._session_reset = None if session_reset is None else _SESSION_RESETS[session_reset]
        self._reset = reset
        self._connect_timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._leak_threshold = leak_threshold
        self._reconnect_failed = reconnect_failed
        self._label = label

        # Held only for bookkeeping that never waits, so a thread lock serves
        # both sides (and stats() may be read from any thread).
        self._lock = threading.Lock()
        # Set once the pool is closed and a borrowed (or opening) connection
        # comes back; shutdown() waits on it.
        self._returned = AsyncEvent()
        # A stack: the most recently returned connection is lent first, so
        # connections beyond the load stay idle and age out (max_idle).
        self._idle: deque[Slot] = deque()
        self._borrowed: dict[int, Slot] = {}
        self._waiters: deque[Waiter] = deque()
        self._opening = 0
        self._closed = False
        self._health = Health(backoff_min, backoff_max, reconnect_timeout)
        # Idle connections last returned before this moment are checked
        # (pinged) before reuse: set when a broken connection or a failed
        # connect suggests the server dropped its connections.
        self._check_before = 0.0
        self._check_bugs = CauseLog(_logger)
        self._created = self._failed_connects = self._timeouts = 0
        self._discarded = self._returns_bad = self._expired = 0

        self._wakeup = AsyncEvent()
        self._worker = self._spawn_worker()
        # Set in a child process after os.fork(): the worker is started again
        # at the next checkout (the parent's did not come along).
        self._respawn = False
        # The parent's connections, in a child process: never used, never closed.
        self._forsaken: list[AsyncConnection] = []
        track(self)

    def _spawn_worker(self) -> AsyncWorker:
        worker = spawn_async(
            maintenance_async.run,
            (weakref.ref(self), self._wakeup, self._idle, self._lock),
            f"repodb-pool-{self._label}",
        )
        # A pool dropped without shutdown() closes its idle connections and
        # stops its task (which holds only a weak reference to it).
        self._finalizer = weakref.finalize(self, maintenance_async.abandon, self._wakeup)
        return worker

    def __repr__(self) -> str:
        return f"<repodb.AsyncPool {self._label} {self._redacted} ({self.stats()})>"

    @property
    def label(self) -> str:
        """The server's name in telemetry and logs."""
        return self._label

    # Borrowing ---------------------------------------------------------------

    def connection(
        self, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncConnection]:
        """A ``async with`` block holding a borrowed connection, given back at its end.

        Example::

            async with pool.connection() as conn:
                await conn.exec(insert_user, "Ada")
        """
        return _AsyncLease(self, timeout)

    def checkout(self, intent: str = "write") -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for a Repo: a pool serves every intent from its one server."""
        if intent not in _INTENTS:
            raise ValueError(f"unknown intent {intent!r}: use read, write or transaction")
        return _AsyncLease(self, None)

    async def with_connection(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``await fn(conn)`` on a borrowed connection; its result."""
        async with _AsyncLease(self, None) as conn:
            return await fn(conn)

    async def acquire(self, timeout: float | None = None) -> AsyncConnection:
        """Borrow a connection; give it back with ``release``. Prefer ``pool.connection()``.

        Raises:
            PoolTimeout: none came free within ``timeout`` (default: the pool's).
            PoolTooManyWaiters: ``max_waiting`` checkouts were already waiting.
            ConnectError: the server is down (the last connect error is the cause).
            PoolClosed: the pool was shut down.
        """
        wait = self._timeout if timeout is None else timeout
        deadline = _now() + wait
        stack = borrower_stack() if self._leak_threshold is not None else None
        while True:
            claim = await self._claim(stack)
            if isinstance(claim, Waiter):
                claim = await self._await(claim, deadline, wait)
            if isinstance(claim, Slot):
                if not claim.check or await self._usable(claim):
                    if _observe.active:
                        _observe.checked_out(claim.conn, self._label, _now() - deadline + wait)
                    return claim.conn
                continue
            conn = await self._open_for_caller(claim, stack)
            if _observe.active:
                _observe.checked_out(conn, self._label, _now() - deadline + wait)
            return conn

    async def release(self, conn: AsyncConnection) -> None:
        """Give back a connection from ``acquire``: reset and reused, or closed."""
        # Read without the lock: only the borrower releases its connection,
        # and a second release is caught below, under the lock.
        slot = self._borrowed.get(id(conn))
        if slot is None or slot.conn is not conn:
            if any(c is conn for c in self._forsaken):
                return  # borrowed before os.fork(): the parent's, left alone
            raise ValueError(f"{conn!r} is not borrowed from this pool")
        try:
            keep, dirty = await _reset(conn)
            if keep and (self._session_reset is not None or self._reset is not None):
                keep = await self._clean(conn)
        except BaseException:  # interrupted while cleaning up: the connection is discarded
            await self._drop(slot)
            raise
        if dirty:
            _logger.warning(
                "%s: a connection came back inside a transaction; %s",
                self._label,
                "rolled back" if keep else "discarded",
            )
        now = _now()
        refill = False
        with self._lock:
            if self._borrowed.pop(id(conn), None) is None:
                raise ValueError(f"{conn!r} was released twice")
            self._returns_bad += dirty
            late = now - slot.borrowed_at if slot.reported else None
            if self._closed:
                keep = False
            elif not keep:
                self._discarded += 1
                if conn.broken:
                    self._check_before = now
            elif now >= slot.expires:
                keep = False
                self._expired += 1
            if keep:
                if not self._hand_over_locked(slot, now, self._validate is not None):
                    slot.idle_since = now
                    self._idle.append(slot)
            else:
                self._freed_locked(now)
                refill = self._min_size > self._total_locked()
        if not keep:
            await close_quietly(conn)
        if refill:
            self._wakeup.set()
        if late is not None:
            _logger.info(
                "%s: a connection reported as leaked came back after %.1f s", self._label, late
            )

    async def _clean(self, conn: AsyncConnection) -> bool:
        """Run ``session_reset`` (then ``configure`` again) and ``reset``: is it reusable?"""
        try:
            if self._session_reset is not None:
                await conn.exec(self._session_reset)
                if self._configure is not None:
                    await resolve_async(self._configure(conn))
            if self._reset is not None:
                await resolve_async(self._reset(conn))
        except ConnectionLost as e:
            _logger.info("%s: a connection failed its reset: %s", self._label, e)
            return False
        except Exception as e:
            # Application code (or a server refusing the reset): every
            # connection would fail alike, so say it loudly, once.
            self._check_bugs.warning(
                e, "%s: resetting a returned connection raised; it is discarded", self._label
            )
            return False
        return not conn.in_transaction

    def _suspect(self, since: float) -> None:
        """Check (ping) the connections idle since before ``since`` before reusing them.

        Why: a sibling server failed, or this one came back from an outage
        (a multi-server pool saw it); connections idle across that may be
        broken too.
        """
        with self._lock:
            self._check_before = max(self._check_before, since)

    def _after_fork(self) -> None:
        """In a child process just forked: forget the parent's connections and start afresh.

        Why not close them: each shares its socket (and, on SQLite, its file
        locks) with the parent, and closing it would end the parent's session
        too (PostgreSQL's Terminate message). They are kept, never used, so
        no destructor closes them either; the child opens connections of its
        own. Called by the ``os.register_at_fork`` hook while the child has
        one thread, so the locks and events, which another thread of the
        parent may have held at the fork, are made anew.
        """
        if self._closed:
            return
        self._lock = threading.Lock()
        self._check_bugs = CauseLog(_logger)
        self._forsaken.extend(slot.conn for slot in (*self._idle, *self._borrowed.values()))
        self._idle.clear()
        self._borrowed.clear()
        self._waiters.clear()
        self._opening = 0
        health = self._health
        self._health = Health(health.backoff_min, health.backoff_max, health.reconnect_timeout)
        self._returned = AsyncEvent()
        self._wakeup = AsyncEvent()
        self._finalizer.detach()
        self._respawn = True

    def _lent(self) -> list[AsyncConnection]:
        """The connections lent out now (a multi-server pool aborts a hung server's)."""
        with self._lock:
            return [slot.conn for slot in self._borrowed.values()]

    def _in_use(self) -> int:
        """How many connections are lent out (a multi-server pool's balance reads it)."""
        return len(self._borrowed)

    def _fail_waiters(self, error: Exception) -> None:
        """Serve every checkout waiting in line with ``error``; never blocks.

        Why: the server hangs (a multi-server pool's probe saw it), so the
        connections its waiters wait for will not come free in time; the
        waiters go to another server instead.
        """
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                waiter.error = error
                waiter.served = True
                waiter.ready.set()

    # Watching and stopping ---------------------------------------------------

    def stats(self) -> PoolStats:
        """The pool's sizes and counters, read together."""
        with self._lock:
            return self._stats_locked()

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Refuse new checkouts (``PoolClosed``), wait for borrowed connections, close all.

        Waiting checkouts fail with ``PoolClosed``. Connections still borrowed
        after ``timeout`` seconds are closed when they come back. Calling it
        again does nothing more.
        """
        with self._lock:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            stats = self._stats_locked()
            while self._waiters:
                waiter = self._waiters.popleft()
                waiter.error = PoolClosed("the pool was shut down", stats)
                waiter.served = True
                waiter.ready.set()
        self._finalizer.detach()
        self._wakeup.set()
        for slot in idle:
            await close_quietly(slot.conn)
        deadline = _now() + timeout
        while True:
            with self._lock:
                left = len(self._borrowed)
                if not (left or self._opening):
                    break
                self._returned.clear()
            remaining = deadline - _now()
            if remaining <= 0 or not await wait_event_async(self._returned, remaining):
                break
        await join_async(self._worker, deadline - _now())
        if left:
            _logger.warning(
                "%s: shut down with %d connection(s) still borrowed; they close when given back",
                self._label,
                left,
            )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    # Checkout steps ----------------------------------------------------------

    async def _claim(self, stack: traceback.StackSummary | None) -> Slot | Waiter | bool:
        """An idle connection, a place in line, or room to connect (True: as a probe)."""
        now = _now()
        expired: list[Slot] = []
        try:
            with self._lock:
                if self._closed:
                    raise PoolClosed("the pool was shut down", self._stats_locked())
                if self._respawn:
                    self._respawn = False
                    self._worker = self._spawn_worker()
                idle = self._idle
                while idle:
                    slot = idle.pop()
                    if slot.expires > now:
                        slot.check = (
                            self._validate is not None or slot.idle_since < self._check_before
                        )
                        self._borrow_locked(slot, now, stack)
                        return slot
                    expired.append(slot)
                    self._expired += 1
                if self._health.blocks(now):
                    raise self._down_error_locked(now)
                if self._total_locked() < self._max_size:
                    self._opening += 1
                    return self._health.attempt()
                if self._max_waiting and len(self._waiters) >= self._max_waiting:
                    raise PoolTooManyWaiters(
                        f"{len(self._waiters)} checkouts already wait for a connection to "
                        f"{self._redacted} (max_waiting={self._max_waiting})",
                        self._stats_locked(),
                    )
                waiter = Waiter(stack)
                self._waiters.append(waiter)
                return waiter
        finally:
            if expired:
                for slot in expired:
                    await close_quietly(slot.conn)
                self._wakeup.set()

    async def _await(self, waiter: Waiter, deadline: float, wait: float) -> Slot | bool:
        """Wait in line until served; what the waiter was given."""
        try:
            remaining = deadline - _now()
            served = remaining > 0 and await wait_event_async(waiter.ready, remaining)
        except BaseException:  # even interrupted, whatever the waiter was given goes back
            await self._leave(waiter)
            raise
        if not served:
            with self._lock:
                if not waiter.served:
                    self._waiters.remove(waiter)
                    self._timeouts += 1
                    error = PoolTimeout(
                        f"no connection to {self._redacted} came free within {wait:g} s",
                        self._stats_locked(),
                    )
                    raise error from self._health.last_error
        if waiter.error is not None:
            raise waiter.error
        if waiter.slot is not None:
            return waiter.slot
        return waiter.probe

    async def _leave(self, waiter: Waiter) -> None:
        """Give back whatever an interrupted waiter was given."""
        with self._lock:
            if not waiter.served:
                self._waiters.remove(waiter)
                return
            if waiter.grant:
                self._opening -= 1
                self._freed_locked(_now())
        if waiter.slot is not None:
            await self.release(waiter.slot.conn)

    async def _usable(self, slot: Slot) -> bool:
        """Validate (or, without a validator, ping) a connection about to be reused."""
        conn = slot.conn
        try:
            if self._validate is not None:
                usable = bool(await resolve_async(self._validate(conn)))
            else:
                await conn.ping()
                usable = True
        except ConnectionLost as e:
            # What the check is for: a connection the server dropped.
            _logger.info("%s: a pooled connection failed its check: %s", self._label, e)
            usable = False
        except Exception as e:
            # ``validate`` is the application's code and may raise anything.
            # Every connection would fail the same way, so say it loudly (once).
            self._check_bugs.warning(
                e, "%s: checking a pooled connection raised; it is discarded", self._label
            )
            usable = False
        except BaseException:
            # Interrupted (a cancelled task, KeyboardInterrupt): the check is unfinished.
            await self._drop(slot)
            raise
        if not usable:
            await self._drop(slot)
        return usable

    async def _drop(self, slot: Slot) -> None:
        """Close a borrowed connection that failed its check."""
        with self._lock:
            del self._borrowed[id(slot.conn)]
            self._discarded += 1
            self._freed_locked(_now())
        await close_quietly(slot.conn)
        if self._min_size:
            self._wakeup.set()

    # Opening connections -----------------------------------------------------

    async def _connect(self) -> AsyncConnection:
        conn = await connect_async(
            self._url,
            statement_timeout=self._statement_timeout,
            connect_timeout=self._connect_timeout,
        )
        conn.label = self._label
        if self._configure is not None:
            try:
                await resolve_async(self._configure(conn))
            except BaseException:  # configure is the application's code; the connection is closed
                await close_quietly(conn)
                raise
        return conn

    async def _open_for_caller(
        self, probe: bool, stack: traceback.StackSummary | None
    ) -> AsyncConnection:
        """Open a connection in the room reserved for this checkout."""
        try:
            conn = await self._connect()
        except BaseException as e:  # even interrupted, the room reserved for it is freed
            self._open_failed(e, probe)
            raise
        now = _now()
        with self._lock:
            slot, downtime = self._opened_locked(conn, probe, now)
            if slot is not None:
                self._borrow_locked(slot, now, stack)
            stats = self._stats_locked()
        self._note_back(downtime)
        if slot is None:
            await close_quietly(conn)
            raise PoolClosed("the pool was shut down", stats)
        return conn

    async def _open_in_background(self, probe: bool) -> None:
        """Open a connection for ``min_size``: to the first waiter, or idle."""
        try:
            conn = await self._connect()
        except Exception as e:  # connect or configure: a failed connect, logged; the task goes on
            self._open_failed(e, probe)
            return
        now = _now()
        with self._lock:
            slot, downtime = self._opened_locked(conn, probe, now)
            if slot is not None and not self._hand_over_locked(slot, now, False):
                slot.idle_since = now
                self._idle.append(slot)
        self._note_back(downtime)
        if slot is None:
            await close_quietly(conn)

    def _opened_locked(
        self, conn: AsyncConnection, probe: bool, now: float
    ) -> tuple[Slot | None, float | None]:
        """Count a new connection; its slot (None once closed) and the outage it ended."""
        self._opening -= 1
        self._created += 1
        downtime = self._health.succeeded(now, probe)
        if self._closed:
            self._returned.set()
            return None, downtime
        life = self._max_lifetime
        expires = now + life * random.uniform(0.9, 1.0) if life is not None else math.inf
        return Slot(conn, expires), downtime

    def _open_failed(self, error: BaseException, probe: bool) -> None:
        now = _now()
        delay: float | None = None
        with self._lock:
            self._opening -= 1
            first = not self._health.down
            if isinstance(error, Exception):
                self._failed_connects += 1
                delay = self._health.failed(now, error, probe)
                # Connections idle now were probably dropped by the server too.
                self._check_before = now
            elif probe:
                self._health.probing = False
            attempts = self._health.failures
            self._freed_locked(now)
        if delay is None:
            return
        level = logging.WARNING if first else logging.DEBUG
        _logger.log(
            level,
            "%s: connecting to %s failed (attempt %d): %s; "
            "checkouts fail fast, next attempt in %.3f s",
            self._label,
            self._redacted,
            attempts,
            error,
            delay,
            extra={"retry_in": delay},
        )
        if first:
            self._wakeup.set()

    def _note_back(self, downtime: float | None) -> None:
        if downtime is None:
            return
        _logger.warning(
            "%s: connected to %s again after %.2f s", self._label, self._redacted, downtime
        )
        if self._min_size:
            self._wakeup.set()

    # Bookkeeping under the lock ----------------------------------------------

    def _total_locked(self) -> int:
        return len(self._idle) + len(self._borrowed) + self._opening

    def _borrow_locked(self, slot: Slot, now: float, stack: traceback.StackSummary | None) -> None:
        slot.borrowed_at = now
        slot.stack = stack
        slot.reported = False
        self._borrowed[id(slot.conn)] = slot

    def _hand_over_locked(self, slot: Slot, now: float, check: bool) -> bool:
        """Give a connection to the first waiter, if any."""
        if not self._waiters:
            return False
        waiter = self._waiters.popleft()
        slot.check = check
        self._borrow_locked(slot, now, waiter.stack)
        waiter.slot = slot
        waiter.served = True
        waiter.ready.set()
        return True

    def _freed_locked(self, now: float) -> None:
        """Room for a connection came free: let waiters connect (or fail fast when down)."""
        if self._closed:
            self._returned.set()
            return
        waiters = self._waiters
        while waiters and self._total_locked() < self._max_size:
            waiter = waiters.popleft()
            if self._health.blocks(now):
                waiter.error = self._down_error_locked(now)
            else:
                self._opening += 1
                waiter.grant = True
                waiter.probe = self._health.attempt()
            waiter.served = True
            waiter.ready.set()

    def _down_error_locked(self, now: float) -> ConnectError:
        health = self._health
        last = health.last_error
        since = now - health.down_since if health.down_since is not None else 0.0
        when = (
            "an attempt is under way"
            if health.probing
            else f"the next attempt is due in {max(0.0, health.retry_at - now):.2f} s"
        )
        error = ConnectError(
            f"{self._redacted} is down: {health.failures} connect attempt(s) failed over "
            f"{since:.2f} s and checkouts fail fast until one succeeds ({when}); "
            f"last error: {last}",
            sqlstate=last.sqlstate if isinstance(last, Error) else None,
        )
        error.__cause__ = last
        return error

    def _stats_locked(self) -> PoolStats:
        return PoolStats(
            total=self._total_locked(),
            in_use=len(self._borrowed),
            available=len(self._idle),
            waiting=len(self._waiters),
            max_size=self._max_size,
            server_down=self._health.down,
            created=self._created,
            failed_connects=self._failed_connects,
            timeouts=self._timeouts,
            discarded=self._discarded,
            returns_bad=self._returns_bad,
            expired=self._expired,
        )


class _AsyncLease:
    """``async with pool.connection() as conn``: borrow on entry, give back on exit."""

    __slots__ = ("_conn", "_pool", "_timeout")

    def __init__(self, pool: AsyncPool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> AsyncConnection:
        if self._conn is not None:
            raise RuntimeError("this connection block is already in use")
        conn = self._conn = await self._pool.acquire(self._timeout)
        return conn

    async def __aexit__(self, *exc_info: object) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._pool.release(conn)


async def _reset(conn: AsyncConnection) -> tuple[bool, bool]:
    """Bring a returned connection back to idle: (keep it, it came back inside a transaction)."""
    if conn.closed or conn.broken:
        return False, False
    if conn._depth:
        # A transaction block is still open on it: its Transaction object
        # would later commit or roll back on the next borrower's connection.
        return False, True
    if not conn.in_transaction:
        return True, False
    try:
        await conn._driver.rollback()
    except conn._native:
        return False, True
    return True, True
