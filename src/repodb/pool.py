"""Connection pools: many threads sharing a few connections to one server.

Why: opening a connection costs round trips (and, on PostgreSQL, a server
process), so a ``Pool`` keeps connections open and lends them out. It follows
``psycopg_pool`` (size limits, lifetime with jitter, idle timeout, validation,
reset on return, a bounded queue, statistics) for every repodb driver, with
two changes learned from outages: while the server is down, checkouts fail
fast with the last ``ConnectError`` instead of waiting out their timeout; and
once it is back, the first good connection is handed out at the next attempt
(at most ``backoff_max`` later) however many stale connections the pool held,
because stale connections are dropped without waiting between them.

A pool is a Repo source: ``Repo(pool)`` borrows a connection per operation
and keeps one for a whole ``repo.transaction()``.

Example::

    with Pool("sqlite:///app.db", max_size=4) as pool:
        with pool.connection() as conn:
            conn.exec(create_users)
        users = Repo(pool).all(query(User))
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Self, TypeVar

from ._cause_log import CauseLog
from ._pool import maintenance
from ._pool.health import Health
from ._pool.slots import Slot, Waiter, borrower_stack, close_quietly
from .connection import Connection, connect
from .errors import ConnectError, ConnectionLost, Error
from .url import parse_url

__all__ = ["Pool", "PoolClosed", "PoolError", "PoolStats", "PoolTimeout", "PoolTooManyWaiters"]

T = TypeVar("T")

_logger = logging.getLogger("repodb.pool")
_now = time.monotonic
_INTENTS = frozenset(("read", "write", "transaction"))


@dataclasses.dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of a pool; ``str(stats)`` lists every field.

    Attributes:
        total: connections open or being opened.
        in_use: connections lent out.
        available: idle connections ready to lend.
        waiting: checkouts queued for a connection.
        max_size: the limit on ``total``.
        server_down: the last connect attempt failed.
        created: connections opened so far.
        failed_connects: connect attempts that failed.
        timeouts: checkouts that gave up waiting (``PoolTimeout``).
        discarded: connections closed because they were broken, failed
            validation or could not be reset.
        returns_bad: connections given back inside a transaction.
        expired: connections closed for age (``max_lifetime``) or idleness (``max_idle``).
    """

    total: int
    in_use: int
    available: int
    waiting: int
    max_size: int
    server_down: bool
    created: int
    failed_connects: int
    timeouts: int
    discarded: int
    returns_bad: int
    expired: int

    def __str__(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))


class PoolError(Error):
    """An error of the pool itself; ``stats`` is the pool's state when it happened."""

    def __init__(self, message: str, stats: PoolStats) -> None:
        super().__init__(f"{message} ({stats})")
        self.stats = stats


class PoolTimeout(PoolError):
    """No connection became free within the checkout timeout.

    When the server was down meanwhile, the last connect error is the cause.
    """


class PoolTooManyWaiters(PoolError):
    """``max_waiting`` checkouts were already queued, so this one failed at once."""


class PoolClosed(PoolError):
    """The pool was shut down."""


class Pool:
    """A thread-safe pool of connections to one database server.

    Connections are opened when needed, up to ``max_size``; a checkout that
    finds none idle and no room waits in line (first come, first served) for
    one to come back. No lock is held while connecting or talking to the
    server. A connection given back is rolled back if a transaction is still
    open on it, and closed instead of reused if it is broken (a statement
    failed with ``ConnectionLost``), cannot be reset, or is past its lifetime.
    A background thread (a daemon, stopped by ``shutdown``) keeps ``min_size``
    connections open, closes expired idle ones and reports leaks.

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
        validate: ``validate(conn) -> bool`` runs before a connection is
            reused; False or an exception discards it and the checkout goes on
            with another, without delay. An exception other than
            ``ConnectionLost`` is a bug in the check: it is logged as a
            WARNING with its traceback, once until the cause changes.
        configure: ``configure(conn)`` runs once on each new connection.
        connect_timeout, statement_timeout: as for ``repodb.connect``.
        leak_threshold: seconds after which a borrowed connection is reported
            once, with the borrower's stack, as a WARNING on the
            ``repodb.pool`` logger (None: off).
        backoff_min, backoff_max: the bounds, in seconds, of the wait between
            connect attempts while the server is down.
        reconnect_timeout, reconnect_failed: ``reconnect_failed(pool)`` is
            called once when connecting has failed for ``reconnect_timeout``
            seconds without a success in between.
        label: the server's name in telemetry (``conn.label``) and logs.

    Example::

        pool = Pool("postgresql://app@db/app", max_size=20, validate=lambda c: True)
        with pool.connection() as conn:
            conn.one(Request.one("SELECT 1", row=int))
        pool.shutdown()
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
        validate: Callable[[Connection], bool] | None = None,
        configure: Callable[[Connection], object] | None = None,
        connect_timeout: float = 10.0,
        statement_timeout: float | None = None,
        leak_threshold: float | None = None,
        backoff_min: float = 0.05,
        backoff_max: float = 1.0,
        reconnect_timeout: float = 300.0,
        reconnect_failed: Callable[[Pool], object] | None = None,
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
        self._url = url
        self._redacted = parse_url(url).redacted
        self._max_size = max_size
        self._min_size = min_size
        self._timeout = timeout
        self._max_waiting = max_waiting
        self._max_lifetime = max_lifetime
        self._max_idle = max_idle
        self._validate = validate
        self._configure = configure
        self._connect_timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._leak_threshold = leak_threshold
        self._reconnect_failed = reconnect_failed
        self._label = label

        self._lock = threading.Lock()
        # shutdown() waits on it for borrowed connections to come back.
        self._returned = threading.Condition(self._lock)
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

        self._wakeup = threading.Event()
        self._thread = threading.Thread(
            target=maintenance.run,
            args=(weakref.ref(self), self._wakeup),
            name=f"repodb-pool-{label}",
            daemon=True,
        )
        # A pool dropped without shutdown() closes its idle connections and
        # stops its thread (which holds only a weak reference to it).
        self._finalizer = weakref.finalize(
            self, maintenance.abandon, self._wakeup, self._idle, self._lock
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"<repodb.Pool {self._label} {self._redacted} ({self.stats()})>"

    @property
    def label(self) -> str:
        """The server's name in telemetry and logs."""
        return self._label

    # Borrowing ---------------------------------------------------------------

    def connection(self, timeout: float | None = None) -> AbstractContextManager[Connection]:
        """A ``with`` block holding a borrowed connection, given back at its end.

        Example::

            with pool.connection() as conn:
                conn.exec(insert_user, "Ada")
        """
        return _Lease(self, timeout)

    def checkout(self, intent: str = "write") -> AbstractContextManager[Connection]:
        """A connection for a Repo: a pool serves every intent from its one server."""
        if intent not in _INTENTS:
            raise ValueError(f"unknown intent {intent!r}: use read, write or transaction")
        return _Lease(self, None)

    def with_connection(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` on a borrowed connection; its result."""
        with _Lease(self, None) as conn:
            return fn(conn)

    def acquire(self, timeout: float | None = None) -> Connection:
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
            claim = self._claim(stack)
            if isinstance(claim, Waiter):
                claim = self._await(claim, deadline, wait)
            if isinstance(claim, Slot):
                if not claim.check or self._usable(claim):
                    return claim.conn
                continue
            return self._open_for_caller(claim, stack)

    def release(self, conn: Connection) -> None:
        """Give back a connection from ``acquire``: reset and reused, or closed."""
        # Read without the lock: only the borrower releases its connection,
        # and a second release is caught below, under the lock.
        slot = self._borrowed.get(id(conn))
        if slot is None or slot.conn is not conn:
            raise ValueError(f"{conn!r} is not borrowed from this pool")
        keep, dirty = _reset(conn)
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
            close_quietly(conn)
        if refill:
            self._wakeup.set()
        if late is not None:
            _logger.info(
                "%s: a connection reported as leaked came back after %.1f s", self._label, late
            )

    # Watching and stopping ---------------------------------------------------

    def stats(self) -> PoolStats:
        """The pool's sizes and counters, read together."""
        with self._lock:
            return self._stats_locked()

    def shutdown(self, timeout: float = 10.0) -> None:
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
                waiter.lock.release()
        self._finalizer.detach()
        self._wakeup.set()
        for slot in idle:
            close_quietly(slot.conn)
        deadline = _now() + timeout
        with self._lock:
            while self._borrowed or self._opening:
                remaining = deadline - _now()
                if remaining <= 0 or not self._returned.wait(remaining):
                    break
            left = len(self._borrowed)
        if self._thread is not threading.current_thread():
            self._thread.join(max(0.0, deadline - _now()))
        if left:
            _logger.warning(
                "%s: shut down with %d connection(s) still borrowed; they close when given back",
                self._label,
                left,
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    # Checkout steps ----------------------------------------------------------

    def _claim(self, stack: traceback.StackSummary | None) -> Slot | Waiter | bool:
        """An idle connection, a place in line, or room to connect (True: as a probe)."""
        now = _now()
        expired: list[Slot] = []
        try:
            with self._lock:
                if self._closed:
                    raise PoolClosed("the pool was shut down", self._stats_locked())
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
                    close_quietly(slot.conn)
                self._wakeup.set()

    def _await(self, waiter: Waiter, deadline: float, wait: float) -> Slot | bool:
        """Wait in line until served; what the waiter was given."""
        try:
            remaining = deadline - _now()
            served = remaining > 0 and waiter.lock.acquire(timeout=remaining)
        except BaseException:  # even interrupted, whatever the waiter was given goes back
            self._leave(waiter)
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

    def _leave(self, waiter: Waiter) -> None:
        """Give back whatever an interrupted waiter was given."""
        with self._lock:
            if not waiter.served:
                self._waiters.remove(waiter)
                return
            if waiter.grant:
                self._opening -= 1
                self._freed_locked(_now())
        if waiter.slot is not None:
            self.release(waiter.slot.conn)

    def _usable(self, slot: Slot) -> bool:
        """Validate (or, without a validator, ping) a connection about to be reused."""
        conn = slot.conn
        try:
            if self._validate is not None:
                usable = bool(self._validate(conn))
            else:
                conn.ping()
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
            # Interrupted (KeyboardInterrupt, a cancelled thread): the check is unfinished.
            self._drop(slot)
            raise
        if not usable:
            self._drop(slot)
        return usable

    def _drop(self, slot: Slot) -> None:
        """Close a borrowed connection that failed its check."""
        with self._lock:
            del self._borrowed[id(slot.conn)]
            self._discarded += 1
            self._freed_locked(_now())
        close_quietly(slot.conn)
        if self._min_size:
            self._wakeup.set()

    # Opening connections -----------------------------------------------------

    def _connect(self) -> Connection:
        conn = connect(
            self._url,
            statement_timeout=self._statement_timeout,
            connect_timeout=self._connect_timeout,
        )
        conn.label = self._label
        if self._configure is not None:
            try:
                self._configure(conn)
            except BaseException:  # configure is the application's code; the connection is closed
                close_quietly(conn)
                raise
        return conn

    def _open_for_caller(self, probe: bool, stack: traceback.StackSummary | None) -> Connection:
        """Open a connection in the room reserved for this checkout."""
        try:
            conn = self._connect()
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
            close_quietly(conn)
            raise PoolClosed("the pool was shut down", stats)
        return conn

    def _open_in_background(self, probe: bool) -> None:
        """Open a connection for ``min_size``: to the first waiter, or idle."""
        try:
            conn = self._connect()
        except Exception as e:  # connect or configure: a failed connect, logged; the thread goes on
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
            close_quietly(conn)

    def _opened_locked(
        self, conn: Connection, probe: bool, now: float
    ) -> tuple[Slot | None, float | None]:
        """Count a new connection; its slot (None once closed) and the outage it ended."""
        self._opening -= 1
        self._created += 1
        downtime = self._health.succeeded(now, probe)
        if self._closed:
            self._returned.notify_all()
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
        waiter.lock.release()
        return True

    def _freed_locked(self, now: float) -> None:
        """Room for a connection came free: let waiters connect (or fail fast when down)."""
        if self._closed:
            self._returned.notify_all()
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
            waiter.lock.release()

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


class _Lease:
    """``with pool.connection() as conn``: borrow on entry, give back on exit."""

    __slots__ = ("_conn", "_pool", "_timeout")

    def __init__(self, pool: Pool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._conn: Connection | None = None

    def __enter__(self) -> Connection:
        if self._conn is not None:
            raise RuntimeError("this connection block is already in use")
        conn = self._conn = self._pool.acquire(self._timeout)
        return conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn)


def _reset(conn: Connection) -> tuple[bool, bool]:
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
        conn._driver.rollback()
    except conn._native:
        return False, True
    return True, True
