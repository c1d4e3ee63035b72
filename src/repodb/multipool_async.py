"""A pool over several equivalent servers: one ``AsyncPool`` each, a healthy one per checkout.

Why: reads spread over replicas need more than a pool per server. The
``AsyncMultiPool`` picks a server for each checkout (round robin, random, or the
one with the fewest connections in use), stops sending work to a server
from its first failure (a refused or timed-out connect, a connection lost in
use), and sends work to it again once a background probe gets an answer.
A hung server, one that accepts connections but never answers, is caught by
the same probe within ``check_interval + probe_timeout``; at that moment the
statements running on its lent connections are aborted (``AsyncConnection.abort``)
and fail with ``ConnectionLost``, as if the server had died, so no caller
waits for it to wake up (the Repo runs such a read once more, elsewhere).
Behind a transaction pooler (``pooler=transaction``) the same happens as
soon as a connection to the server is lost: the pooler stays up, and the
statements sent to it since wait in its queue for a server that is gone
(PgBouncer: until its ``query_wait_timeout``, 120 s by default).
Callers never wait on a server known to be down: a checkout that finds its
server refusing moves on to the next one at once.

It is a Repo source (every intent gets a server of the pool), and the CQRS
router (``repodb.cqrs_async``) keeps its replicas in one.

Example::

    urls = ["postgresql://app@r1/shop", "postgresql://app@r2/shop"]
    async with AsyncMultiPool(urls) as replicas:
        async with replicas.connection() as conn:
            await conn.one(Request.one("SELECT 1", row=int))
        print(replicas.stats().healthy_count)
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self, TypeVar

from ._cqrs.config import MultiPoolStats, Selection, ServerStats
from ._cqrs.probe_async import AsyncProber
from ._pool.stats import SessionReset
from .connection_async import AsyncConnection
from .errors import ConnectError, ConnectionLost
from .pool_async import AsyncPool
from .url import parse_url

__all__ = ["AsyncMultiPool", "MultiPoolStats", "Selection", "ServerStats"]

T = TypeVar("T")

_logger = logging.getLogger("repodb.cqrs")

_now = time.monotonic
_INTENTS = frozenset(("read", "write", "transaction"))

# AsyncMultiPool._cached: (version, accept filter, the orders of the usable servers).
_Usable = tuple[int, Callable[[int], bool] | None, tuple[tuple[int, ...], ...]]


class AsyncMultiPool:
    """A pool of connections to several equivalent servers, safe to share between threads/tasks.

    Options:
        urls: the servers (at least one), as for ``repodb.connect``.
        max_size_per_server: each server's pool size.
        selection: a ``Selection``.
        labels: the servers' names in telemetry and logs (default
            ``"server 1"``, ``"server 2"``, ...).
        timeout, validate, configure, session_reset, reset, connect_timeout,
        statement_timeout, max_lifetime, max_idle, backoff_min, backoff_max:
            passed to each server's ``AsyncPool``.
        check_interval: seconds between probes of a server that is up.
        probe_timeout: seconds after which an unanswered probe marks its
            server down and aborts the statements running on its lent
            connections (they raise ``ConnectionLost``; a write's outcome is
            then unknown, as with any lost connection).
        probe: ``await probe(conn)`` checks a server on a connection of its own
            (default: a ping); an exception marks the server down. Its last
            result is kept for ``on_probe`` listeners (the CQRS router reads
            replay positions this way).
        on_probe: ``on_probe(index)`` is called after each probe, from the
            probing worker (a task; a thread in the sync pool).

    Example::

        replicas = AsyncMultiPool(urls, max_size_per_server=5)
        async with replicas.connection() as conn:
            ...
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        max_size_per_server: int = 5,
        selection: Selection = Selection.ROUND_ROBIN,
        labels: Sequence[str] | None = None,
        timeout: float = 30.0,
        validate: Callable[[AsyncConnection], bool | Awaitable[bool]] | None = None,
        configure: Callable[[AsyncConnection], object] | None = None,
        session_reset: SessionReset | None = None,
        reset: Callable[[AsyncConnection], object] | None = None,
        connect_timeout: float = 5.0,
        statement_timeout: float | None = None,
        max_lifetime: float | None = 3600.0,
        max_idle: float | None = 600.0,
        backoff_min: float = 0.05,
        backoff_max: float = 1.0,
        check_interval: float = 0.5,
        probe_timeout: float = 1.5,
        probe: Callable[[AsyncConnection], Awaitable[object]] | None = None,
        on_probe: Callable[[int], object] | None = None,
    ) -> None:
        if isinstance(urls, str | bytes) or not isinstance(urls, Sequence):
            raise TypeError(f"urls must be a list of URLs (strings), not {type(urls).__name__}")
        if not urls:
            raise ValueError("an AsyncMultiPool needs at least one server URL; the list is empty")
        names = [f"server {i + 1}" for i in range(len(urls))] if labels is None else list(labels)
        if len(names) != len(urls):
            raise ValueError(f"{len(urls)} URLs but {len(names)} labels")
        if not isinstance(selection, Selection):
            raise TypeError(f"selection must be a Selection, not {selection!r}")
        self._labels = tuple(names)
        self._redacted = tuple(parse_url(u).redacted for u in urls)
        self._selection = selection
        self._size = max_size_per_server
        # When a server came back from an outage: its pool then checks the
        # connections idle since before that (see _borrow).
        self._back_seen = [-math.inf] * len(urls)
        self._pools = tuple(
            AsyncPool(
                url,
                max_size=max_size_per_server,
                timeout=timeout,
                validate=validate,
                configure=configure,
                session_reset=session_reset,
                reset=reset,
                connect_timeout=connect_timeout,
                statement_timeout=statement_timeout,
                max_lifetime=max_lifetime,
                max_idle=max_idle,
                backoff_min=backoff_min,
                backoff_max=backoff_max,
                label=label,
            )
            for url, label in zip(urls, names, strict=True)
        )
        self._marked = [False] * len(urls)
        # The servers behind a transaction pooler: a lost one's are aborted too.
        self._pooled = tuple("pooler" in parse_url(url).options for url in urls)
        self._turn = itertools.count()
        # Which servers a checkout may use, kept between checkouts: (the
        # version it was computed at, the accept filter, its orders). Every
        # change that can alter it (a probe's result, a hang, a failure, a
        # mark, a router's lag verdict) takes a new version from _versions
        # (_changed), and the next checkout computes it again (_usable).
        self._versions = itertools.count(1)
        self._version = 0
        self._cached: _Usable = (-1, None, ())
        check = probe if probe is not None else AsyncConnection.ping
        self._probers = tuple(
            AsyncProber(
                url,
                label,
                check,
                interval=check_interval,
                timeout=probe_timeout,
                connect_timeout=connect_timeout,
                backoff_min=backoff_min,
                backoff_max=backoff_max,
                on_result=_probed(weakref.ref(self), on_probe, i),
                on_hung=_abort_lent(weakref.ref(self), i),
            )
            for i, (url, label) in enumerate(zip(urls, names, strict=True))
        )

    def __repr__(self) -> str:
        return f"<repodb.AsyncMultiPool {', '.join(self._redacted)}>"

    def __len__(self) -> int:
        return len(self._pools)

    @property
    def labels(self) -> tuple[str, ...]:
        """The servers' names, in URL order."""
        return self._labels

    # Borrowing ---------------------------------------------------------------

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """An ``async with`` block holding a connection to a healthy server.

        Raises ``ConnectError`` at once when no server is available.
        """
        return _AsyncLease(self)

    def checkout(self, intent: str = "read") -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for a Repo: every intent gets a healthy server."""
        if intent not in _INTENTS:
            raise ValueError(f"unknown intent {intent!r}: use read, write or transaction")
        return _AsyncLease(self)

    async def with_connection(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``await fn(conn)`` on a connection to a healthy server; its result."""
        async with _AsyncLease(self) as conn:
            return await fn(conn)

    # Health ------------------------------------------------------------------

    def mark_down(self, index: int) -> None:
        """Take server ``index`` out of rotation until ``mark_up``, whatever probes see."""
        self._check_index(index)
        self._marked[index] = True
        self._changed()

    def mark_up(self, index: int) -> None:
        """Undo ``mark_down``; the server gets work again if it answers."""
        self._check_index(index)
        self._marked[index] = False
        self._changed()

    def is_healthy(self, index: int) -> bool:
        """Whether server ``index`` gets checkouts now."""
        self._check_index(index)
        return not self._marked[index] and self._probers[index].up(_now())

    def stats(self) -> MultiPoolStats:
        """Each server's health and pool statistics, and totals."""
        now = _now()
        servers = []
        for i, pool in enumerate(self._pools):
            prober = self._probers[i]
            up = prober.up(now)
            error = prober.last_error
            hung = prober.hung_for(now)
            if hung is not None:
                error = TimeoutError(f"a health check has gone unanswered for {hung:.1f} s")
            servers.append(
                ServerStats(
                    index=i,
                    label=self._labels[i],
                    healthy=up and not self._marked[i],
                    down=not up,
                    marked_down=self._marked[i],
                    last_error=None if up or error is None else str(error),
                    pool=pool.stats(),
                )
            )
        return MultiPoolStats(
            servers=tuple(servers),
            total=sum(s.pool.total for s in servers),
            in_use=sum(s.pool.in_use for s in servers),
            available=sum(s.pool.available for s in servers),
            waiting=sum(s.pool.waiting for s in servers),
            healthy_count=sum(s.healthy for s in servers),
        )

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop probing, then shut every pool down (see ``AsyncPool.shutdown``)."""
        deadline = _now() + timeout
        for prober in self._probers:
            await prober.stop(0.0)
        for pool in self._pools:
            await pool.shutdown(max(0.0, deadline - _now()))
        for prober in self._probers:
            await prober.stop(max(0.0, min(1.0, deadline - _now())))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    # For the Lease and the CQRS router ----------------------------------------

    async def _acquire(
        self,
        accept: Callable[[int], bool] | None = None,
        accept_conn: Callable[[int, AsyncConnection], Awaitable[bool]] | None = None,
        down_on: tuple[type[BaseException], ...] = (ConnectionLost,),
    ) -> tuple[int, AsyncConnection] | None:
        """A connection from the first fitting healthy server, or None.

        ``accept(i)`` filters servers before borrowing, ``await accept_conn(i,
        conn)`` after. A server that refuses to connect is marked down and
        the next one tried, without delay. Servers whose pools are all lent
        out are tried last, so that a checkout does not queue behind a busy
        (or hung) server while another has room.

        After a server came back, or after another one failed, its pool
        pings each connection that has been idle since then before handing
        it out: it may have been broken by the same outage (replicas
        restarted together). A broken one is closed and another taken,
        without holding the server responsible. Connections used since cost
        nothing more: pinging every checkout for a while instead halved the
        surviving replicas' throughput while a failed one was declared down.
        """
        cached = self._cached
        if cached[0] != self._version or cached[1] is not accept:
            cached = self._usable(accept)
        orders = cached[2]
        # One usable server, the common case, has one order: no more work.
        order = orders[0] if len(orders) == 1 else self._order(orders)
        pools, probers = self._pools, self._probers
        for i in order:
            # The borrowing is inlined here, not a method: it runs on every
            # checkout, and each coroutine layer costs about as much as the
            # rest of this loop.
            pool = pools[i]
            try:
                conn = await pool.acquire()
            except ConnectError as e:
                self._failed(i, e)
                continue
            prober = probers[i]
            # started is None but while a probe is in flight: skip the clock then.
            if prober.started is not None and prober.hung_for(_now()) is not None:
                # It hung while this checkout chose it, maybe after its lent
                # connections were aborted (_abort): not this one; go elsewhere.
                await self._release(i, conn, None)
                continue
            if accept_conn is None:
                return i, conn
            try:
                fits = await accept_conn(i, conn)
            except down_on as e:
                await self._release(i, conn, e, down_on)
                continue
            except BaseException as e:  # even interrupted, the connection goes back
                await self._release(i, conn, e, down_on)
                raise
            if fits:
                return i, conn
            await self._release(i, conn, None, down_on)
        return None

    async def _release(
        self,
        index: int,
        conn: AsyncConnection,
        error: BaseException | None,
        down_on: tuple[type[BaseException], ...] = (ConnectionLost,),
    ) -> None:
        """Give a connection back; a failure of the server marks it down first."""
        if error is not None or conn._broken:
            try:
                if isinstance(error, down_on):
                    self._failed(index, error)
                elif conn._broken:
                    self._failed(index, ConnectionLost("the connection was lost"))
            finally:
                await self._pools[index].release(conn)
            return
        await self._pools[index].release(conn)

    def _abort(self, index: int, why: str = "hangs") -> None:
        """Server ``index`` hangs: fail the statements on its lent connections, and its waiters."""
        self._changed()
        lent = self._pools[index]._lent()
        if lent:
            _logger.warning(
                "%s %s: aborting the %d connection(s) lent out on it",
                self._labels[index],
                why,
                len(lent),
            )
        for conn in lent:
            conn.abort()
        # Checkouts queued for its connections go to another server (_borrow).
        self._pools[index]._fail_waiters(ConnectError(f"{self._labels[index]} {why}"))

    def _failed(self, index: int, error: BaseException) -> None:
        now = _now()
        for pool in self._pools:
            pool._suspect(now)
        self._probers[index].report(error)
        self._changed()
        if self._pooled[index] and isinstance(error, ConnectionLost):
            self._abort(index, "was lost behind its pooler")

    def _changed(self) -> None:
        """What decides which servers are usable changed: the next checkout looks again."""
        self._version = next(self._versions)

    def _usable(self, accept: Callable[[int], bool] | None) -> _Usable:
        """The healthy servers that ``accept`` allows, as the orders to try them in; kept.

        With two servers or more, one order per round-robin turn (each a
        rotation of the first), so that a checkout only picks one. It is
        also where a server's return from an outage is seen (a probe's
        result changed the version): its pool will check the connections
        idle since then before lending them.
        """
        # The version first: a change made while this runs gets a newer one,
        # so what is computed here is never kept past it.
        version = self._version
        now = _now()
        marked, back_seen = self._marked, self._back_seen
        usable = []
        for i, prober in enumerate(self._probers):
            back = prober.back_at
            if back > back_seen[i]:
                back_seen[i] = back
                self._pools[i]._suspect(back)
            if not marked[i] and prober.up(now) and (accept is None or accept(i)):
                usable.append(i)
        orders = tuple(tuple(usable[turn:] + usable[:turn]) for turn in range(len(usable)))
        cached = self._cached = (version, accept, orders)
        return cached

    def _order(self, orders: tuple[tuple[int, ...], ...]) -> Sequence[int]:
        """With two usable servers or more (or none), the order to try them in for a checkout.

        Round robin takes the next turn's order; least connections sorts
        that order by connections lent (so that ties rotate); random
        shuffles. Then servers whose pools are all lent out go last, so that
        a checkout does not queue behind a busy (or hung) server while
        another has room.
        """
        if not orders:
            return ()
        pools, size = self._pools, self._size
        order: Sequence[int]
        if self._selection is Selection.RANDOM:
            order = random.sample(orders[0], len(orders[0]))
        else:
            order = orders[next(self._turn) % len(orders)]
            if self._selection is Selection.LEAST_CONNECTIONS:
                order = sorted(order, key=lambda i: pools[i]._in_use())
        for i in order:
            if pools[i]._in_use() >= size:
                return sorted(order, key=lambda i: pools[i]._in_use() >= size)
        return order

    def _unavailable(self) -> ConnectError:
        """The error of a checkout that found no server to use."""
        now = _now()
        reasons = []
        cause: BaseException | None = None
        for i, prober in enumerate(self._probers):
            if self._marked[i]:
                reasons.append(f"{self._labels[i]} is marked down")
                continue
            hung = prober.hung_for(now)
            since = prober.down_since
            if hung is not None:
                reasons.append(
                    f"{self._labels[i]} has not answered a health check for {hung:.1f} s"
                )
            elif since is not None:
                cause = cause or prober.last_error
                reasons.append(
                    f"{self._labels[i]} is down since {now - since:.2f} s: {prober.last_error}"
                )
            else:
                reasons.append(f"{self._labels[i]} refused just now")
        error = ConnectError("no server is available: " + "; ".join(reasons))
        error.__cause__ = cause
        return error

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self._pools):
            raise IndexError(f"no server {index}: indexes go from 0 to {len(self._pools) - 1}")


def _probed(
    ref: weakref.ref[AsyncMultiPool], on_probe: Callable[[int], object] | None, index: int
) -> Callable[[], None]:
    """The probers' ``on_result``: the owner's listener, then a new version of the usable servers.

    After the listener: a router's listener decides the replica's lag, which
    the next checkout must see.
    """

    def probed() -> None:
        try:
            if on_probe is not None:
                on_probe(index)
        finally:
            pools = ref()
            if pools is not None:
                pools._changed()

    return probed


def _abort_lent(ref: weakref.ref[AsyncMultiPool], index: int) -> Callable[[], None]:
    """The probers' ``on_hung``; a weak reference, as probers must not keep their pool alive."""

    def abort() -> None:
        pools = ref()
        if pools is not None:
            pools._abort(index)

    return abort


class _AsyncLease:
    """``async with multipool.connection() as conn``: a healthy server's connection."""

    __slots__ = ("_conn", "_index", "_pools")

    def __init__(self, pools: AsyncMultiPool) -> None:
        self._pools = pools
        self._conn: AsyncConnection | None = None
        self._index = 0

    async def __aenter__(self) -> AsyncConnection:
        if self._conn is not None:
            raise RuntimeError("this connection block is already in use")
        found = await self._pools._acquire()
        if found is None:
            raise self._pools._unavailable()
        self._index, self._conn = found
        return self._conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._pools._release(self._index, conn, exc)
