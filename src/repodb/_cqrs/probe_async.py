"""Whether a server answers, watched in the background on a connection of its own.

Why in the background and on its own connection: a router must notice a
dead or hung server without making a caller pay for it. Each
``AsyncProber`` runs a small check (a ping, or a query whose result the
router keeps, such as a replica's replay position) every ``interval``
seconds, in a background worker (an asyncio task on the async side, a
daemon thread on the sync side). The
server is *down* from the first failure, whether the probe saw it or a
caller reported it (``report``), and *up* again at the first probe that
succeeds after that; while it is down, probes are spaced by a capped,
jittered, doubling backoff. A probe that has not answered within
``timeout`` seconds makes the server count as down at once (a hung server:
SIGSTOPped, or a dead host whose packets vanish), while the probe keeps
waiting for the answer; at that moment a timer (of the event loop, or a
timer thread on the sync side) calls ``on_hung``, so that the owner can free
the callers waiting on the same server (``AsyncConnection.abort``).

The background worker holds only a weak reference to its prober: a prober
dropped without ``stop()`` is collected and its worker ends.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import weakref
from collections.abc import Awaitable, Callable

from .._acompat_async import AsyncEvent, AsyncWorker, join_async, spawn_async, wait_event_async
from .._fork import track
from ..connection_async import AsyncConnection, connect_async
from ..errors import Error
from .config import backoff

if True:  # ASYNC
    import asyncio  # the sync module loads no asyncio

__all__ = ["AsyncProber", "backoff"]

_logger = logging.getLogger("repodb.cqrs")
_now = time.monotonic


class AsyncProber:
    """Health and last probe result of one server.

    Options:
        url, label: the server, and its name in logs.
        check: ``await check(conn)`` runs on the prober's connection; its
            result is kept in ``result``; an exception means the server is down.
        interval: seconds between probes while the server is up.
        timeout: seconds after which an unanswered probe counts the server
            as down (also the probe connection's statement timeout).
        connect_timeout: for the probe connection.
        backoff_min, backoff_max: the spacing of probes while it is down.
        on_result: called (from the worker, without locks) after each probe.
        on_hung: called (without locks) once per probe that has gone
            unanswered for ``timeout`` seconds.

    Attributes, read without a lock (each is one atomic read):
        result: what ``check`` returned last time it succeeded.
        measured_at: when that successful probe started (None before one).
        down_since: when the current outage started, None while up.
        back_at: when the last outage ended (``-inf`` before one).
        last_error: the failure that started or last extended the outage.
    """

    def __init__(
        self,
        url: str,
        label: str,
        check: Callable[[AsyncConnection], Awaitable[object]],
        *,
        interval: float,
        timeout: float,
        connect_timeout: float,
        backoff_min: float,
        backoff_max: float,
        on_result: Callable[[], object] | None = None,
        on_hung: Callable[[], object] | None = None,
    ) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("the check interval and the probe timeout must be positive")
        self.url = url
        self.label = label
        self.interval = interval
        self.timeout = timeout
        self._check = check
        self._connect_timeout = connect_timeout
        self._backoff = (backoff_min, backoff_max)
        self._on_result = on_result
        self._on_hung = on_hung
        self._lock = threading.Lock()
        self._wake = AsyncEvent()
        self._stopped = False
        self._due = 0.0
        self._failures = 0
        self.result: object = None
        self.measured_at: float | None = None
        self.down_since: float | None = None
        self.last_error: BaseException | None = None
        # When the last outage ended (a probe answered after a failure).
        self.back_at = -math.inf
        # When the probe in flight started; None between probes.
        self.started: float | None = None
        self._worker = self._spawn()
        track(self)

    def _spawn(self) -> AsyncWorker:
        worker = spawn_async(_run, (weakref.ref(self), self._wake), f"repodb-probe-{self.label}")
        self._finalizer = weakref.finalize(self, self._wake.set)
        return worker

    def _after_fork(self) -> None:
        """In a child process just forked: probe again, from a worker of the child's own.

        Why: the parent's worker thread did not come along, so the child
        would never see a server come back (or a replica's lag change). The
        parent's probe connection is not closed (it shares the parent's
        socket); the new worker opens its own. Called by the
        ``os.register_at_fork`` hook while the child has one thread, so the
        lock and the event, which the parent's worker may have held at the
        fork, are made anew.
        """
        if self._stopped:
            return
        self._lock = threading.Lock()
        self._wake = AsyncEvent()
        self.started = None
        self._due = 0.0
        self._finalizer.detach()
        with contextlib.suppress(RuntimeError):  # an async prober forked outside its loop
            self._worker = self._spawn()

    def up(self, now: float) -> bool:
        """Whether the server counts as answering at ``now``."""
        started = self.started
        return self.down_since is None and (started is None or now - started < self.timeout)

    def hung_for(self, now: float) -> float | None:
        """Seconds the probe in flight has gone unanswered, once past ``timeout``."""
        started = self.started
        if started is None or now - started < self.timeout:
            return None
        return now - started

    def report(self, error: BaseException) -> None:
        """A caller saw the server fail: down now, probed again soon."""
        now = _now()
        with self._lock:
            if self.down_since is not None:
                return
            self.down_since = now
            self.last_error = error
            self._failures = 1
            self._due = now + backoff(1, *self._backoff)
        self._wake.set()
        _logger.warning("%s is down (%s); work goes elsewhere until it answers", self.label, error)

    async def stop(self, timeout: float) -> None:
        """End the worker; wait up to ``timeout`` seconds for it."""
        self._stopped = True
        self._wake.set()
        await join_async(self._worker, timeout)

    # The worker's side ---------------------------------------------------------

    async def _probe(self, conn: AsyncConnection | None) -> AsyncConnection | None:
        """One probe; the connection to keep for the next one."""
        started = self.started = _now()
        held = [conn]
        watch = None
        if self._on_hung is not None:
            if True:  # ASYNC
                # A timer of the loop, not asyncio.timeout: cancelling a
                # statement makes psycopg send a cancel request and wait for
                # the hung server to take it.
                loop = asyncio.get_running_loop()
                watch = loop.call_later(self.timeout, self._hung, started)
            else:
                watch = threading.Timer(self.timeout, self._hung, (started,))
                watch.daemon = True
                watch.name = f"repodb-probe-watch-{self.label}"
                watch.start()
        try:
            result = await self._attempt(held)
        except Exception as e:
            # Any failure counts the server down, and the worker goes on
            # probing; one that is no repodb error (a bug) is logged with its
            # traceback in _failed.
            if held[0] is not None:
                with contextlib.suppress(Error):
                    await held[0].close()
            self._failed(e)
            held[0] = None
        else:
            self._succeeded(started, result)
        finally:
            self.started = None
            if watch is not None:
                watch.cancel()
        if self._on_result is not None:
            try:
                self._on_result()
            except Exception:  # a bug in a listener must not end the probing
                _logger.exception("%s: a probe listener failed", self.label)
        return held[0]

    async def _attempt(self, held: list[AsyncConnection | None]) -> object:
        """The check, on ``held[0]`` (opened first when None, and kept there)."""
        conn = held[0]
        if conn is None:
            conn = await connect_async(
                self.url, connect_timeout=self._connect_timeout, statement_timeout=self.timeout
            )
            conn.label = self.label
            # Probes run every few seconds: their statements are not traced or logged.
            conn._quiet = True
            held[0] = conn
        return await self._check(conn)

    def _hung(self, started: float) -> None:
        """The watchdog's side: the probe that began at ``started`` is still unanswered."""
        if self.started != started or self._stopped or self._on_hung is None:
            return
        _logger.warning(
            "%s is down: a health check has gone unanswered for %.1f s",
            self.label,
            self.timeout,
        )
        try:
            self._on_hung()
        except Exception:  # a bug in a listener must not end the watchdog
            _logger.exception("%s: a hang listener failed", self.label)

    def _failed(self, error: Exception) -> None:
        now = _now()
        with self._lock:
            first = self.down_since is None
            if first:
                self.down_since = now
            self.last_error = error
            self._failures += 1
            self._due = now + backoff(self._failures, *self._backoff)
        if first:
            _logger.warning(
                "%s is down: a health check failed: %s",
                self.label,
                error,
                exc_info=None if isinstance(error, Error) else error,
            )

    def _succeeded(self, started: float, result: object) -> None:
        now = _now()
        downtime = None
        with self._lock:
            self.result = result
            self.measured_at = started
            since = self.down_since
            # A probe that started before the failure was reported proves nothing.
            if since is not None and started >= since:
                downtime = now - since
                self.back_at = now
                self.down_since = None
                self.last_error = None
                self._failures = 0
            if self.down_since is None:
                self._due = started + self.interval
            else:
                self._due = now + backoff(self._failures, *self._backoff)
        if downtime is not None:
            _logger.warning("%s answers again after %.2f s", self.label, downtime)
        elif now - started >= self.timeout:
            _logger.warning("%s answered a health check after %.2f s", self.label, now - started)


async def _run(ref: weakref.ref[AsyncProber], wake: AsyncEvent) -> None:
    """The worker's body: probe whenever due, until stopped or dropped."""
    conn: AsyncConnection | None = None
    try:
        while True:
            prober = ref()
            if prober is None or prober._stopped:
                return
            wait = prober._due - _now()
            if wait > 0:
                del prober
                await wait_event_async(wake, wait)
                wake.clear()
                continue
            conn = await prober._probe(conn)
            del prober
    finally:
        if conn is not None:
            with contextlib.suppress(Error):
                await conn.close()
