"""The pool while its PostgreSQL server stops and comes back (checklist A2, B1, B2, B3).

B1 runs on the MariaDB primary too (the ``topology`` fixture).

Covered: checkouts fail fast with the connect error while the server is
down, a waiter is failed as soon as room frees instead of waiting out its
timeout, and the error is not the pool-exhausted one (A2); the first good
checkout after a restart with 6 stale pooled connections, with and without
a validator, and the errors callers saw meanwhile (B1); a pool made while
the server is down starts working, and fills ``min_size``, once it is back
(B2); connect attempts are spaced by a doubling, capped, jittered backoff
that resets after a success, and ``reconnect_failed`` fires once (B3).

The cluster is the one ``scripts/test`` started (``PGREPL_*`` in the
environment); each test puts the primary back up in a ``finally``. Every
wait is bounded; times are asserted only as generous bounds that tell
"failed fast" from "waited the full timeout". The measured figures are
printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import repodb
from repodb import ConnectError, ConnectionLost, Request
from repodb.pool import Pool, PoolTimeout
from tests.conftest import pg_url
from tests.cqrs.rig import cluster, wait_until
from tests.cqrs.topology import Topology

SELECT_ONE = Request.one("SELECT 1", row=int)
JOIN_TIMEOUT = 30.0


@pytest.fixture
def primary_down() -> Iterator[Callable[[], None]]:
    """Stop the primary (fast) when called; it is started again after the test in any case."""
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        cluster("stop-primary", "fast")

    try:
        yield stop
    finally:
        if stopped:
            cluster("start-primary")


def checkout_works(pool: Pool) -> bool:
    try:
        with pool.connection(timeout=5) as conn:
            return conn.one(SELECT_ONE) == 1
    except (ConnectError, ConnectionLost):
        return False


def start(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_down_server_fails_checkouts_fast_with_the_connect_error(
    primary_down: Callable[[], None],
) -> None:
    url = pg_url()
    full = Pool(url, max_size=1, timeout=10, connect_timeout=5)
    fresh = Pool(url, max_size=2, timeout=10, connect_timeout=5, backoff_min=2.0, backoff_max=4.0)
    try:
        held = full.acquire()
        primary_down()

        started = time.monotonic()
        with pytest.raises(ConnectError) as refused:
            fresh.acquire()
        first = time.monotonic() - started
        assert first < 3, "refused at once, not after the 10 s checkout timeout"
        assert not isinstance(refused.value, PoolTimeout)
        # Refused; or, when the attempt raced the server's last moments, closed.
        shown = str(refused.value)
        assert "refused" in shown or "closed the connection" in shown, shown

        started = time.monotonic()
        with pytest.raises(ConnectError) as fast:
            fresh.acquire()
        second = time.monotonic() - started
        assert second < 1, "no new attempt before the backoff deadline"
        assert fast.value.__cause__ is refused.value
        assert "is down" in str(fast.value)
        stats = fresh.stats()
        assert (stats.server_down, stats.failed_connects, stats.total) == (True, 1, 0)

        # A checkout waiting on a full pool is failed as soon as room frees
        # (the held connection turns out broken), not after its timeout.
        outcome: list[tuple[BaseException, float]] = []

        def wait_in_line() -> None:
            began = time.monotonic()
            try:
                full.acquire(timeout=10)
            except BaseException as e:
                outcome.append((e, time.monotonic() - began))

        waiter = start(wait_in_line)
        wait_until(lambda: full.stats().waiting == 1, "a waiting checkout")
        with pytest.raises(ConnectionLost):
            held.one(SELECT_ONE)
        full.release(held)
        waiter.join(JOIN_TIMEOUT)
        assert not waiter.is_alive()
        assert len(outcome) == 1
        error, waited = outcome[0]
        assert isinstance(error, ConnectError)
        assert waited < 8, "failed when room freed, before its 10 s timeout"
        assert full.stats().discarded == 1
        print(
            f"\nA2: refused in {first * 1000:.1f} ms, fail-fast in {second * 1000:.2f} ms, "
            f"waiter failed after {waited * 1000:.0f} ms in line (timeout 10 s)"
        )
    finally:
        full.shutdown(timeout=5)
        fresh.shutdown(timeout=5)


@pytest.mark.parametrize("checked", [False, True], ids=["no validator", "validator"])
def test_first_good_checkout_after_a_primary_restart_with_stale_connections(
    checked: bool, topology: Topology
) -> None:
    """B1, on PostgreSQL and on MariaDB."""
    url = topology.primary_url

    def validate(conn: repodb.Connection) -> bool:
        conn.ping()
        return True

    pool = Pool(
        url, max_size=8, timeout=10, connect_timeout=5, validate=validate if checked else None
    )
    outcomes: list[tuple[float, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    back: list[float] = []

    def load() -> None:
        while not stop.is_set():
            try:
                with pool.connection() as conn:
                    conn.one(SELECT_ONE)
                result = "ok"
            except repodb.Error as e:
                result = type(e).__name__
            with lock:
                outcomes.append((time.monotonic(), result))
            time.sleep(0.005)

    def watch_server() -> None:
        # When the server accepts connections again, seen by a plain connect.
        while not stop.is_set() and not back:
            try:
                repodb.connect(url, connect_timeout=2).close()
            except ConnectError:
                time.sleep(0.01)
                continue
            back.append(time.monotonic())

    stopped = False
    try:
        stale = [pool.acquire() for _ in range(6)]
        for conn in stale:
            pool.release(conn)
        assert pool.stats().available == 6
        stopped = True
        topology.cluster("stop-primary", "fast")
        threads = [start(load) for _ in range(4)]
        time.sleep(1.5)  # an outage long enough for the backoff to reach its cap
        watcher = start(watch_server)
        topology.cluster("start-primary")
        stopped = False
        wait_until(lambda: bool(back), "the primary to accept connections")
        wait_until(
            lambda: any(r == "ok" and t > back[0] for t, r in list(outcomes)), "a good checkout"
        )
        time.sleep(0.2)
    finally:
        stop.set()
        if stopped:
            topology.cluster("start-primary")
    for thread in [*threads, watcher]:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive()
    pool.shutdown(timeout=5)

    first_ok = min(t for t, r in outcomes if r == "ok")
    errors = [r for _, r in outcomes if r != "ok"]
    lost = errors.count("ConnectionLost")
    assert set(errors) <= {"ConnectionLost", "ConnectError"}, errors
    # Target: within about 1 s (backoff_max); the bound is generous for a busy machine.
    assert first_ok - back[0] < 3.0
    if checked:
        assert lost == 0
    else:
        assert lost <= 6
    assert all(r == "ok" for t, r in outcomes if t > first_ok + 0.1)
    print(
        f"\nB1 {topology.kind} ({'validator' if checked else 'no validator'}): first good checkout "
        f"{(first_ok - back[0]) * 1000:.0f} ms after the server was back; "
        f"caller errors: {lost} ConnectionLost, {errors.count('ConnectError')} ConnectError "
        f"(fail fast while down) of {len(outcomes)} checkouts"
    )


def test_a_pool_made_while_the_primary_is_down_starts_when_it_returns(
    primary_down: Callable[[], None],
) -> None:
    url = pg_url()
    primary_down()
    started = time.monotonic()
    pool = Pool(url, min_size=2, max_size=4, timeout=10, connect_timeout=5)
    try:
        assert time.monotonic() - started < 1, "creating a pool never connects"
        started = time.monotonic()
        with pytest.raises(ConnectError):
            pool.acquire()
        assert time.monotonic() - started < 3
        # The background thread keeps trying for min_size, with backoff.
        wait_until(lambda: pool.stats().failed_connects >= 3, "background connect attempts")
        cluster("start-primary")
        wait_until(lambda: pool.stats().available == 2, "min_size connections")
        assert checkout_works(pool)
        stats = pool.stats()
        assert not stats.server_down
        print(f"\nB2: {stats.failed_connects} failed attempts while down, then min_size filled")
    finally:
        pool.shutdown(timeout=5)


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "retry_in" in r.__dict__]


def test_reconnect_backoff_doubles_with_jitter_resets_and_alerts_once(
    primary_down: Callable[[], None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="repodb.pool")
    url = pg_url()
    alerts: list[float] = []
    pool = Pool(
        url,
        max_size=2,
        timeout=10,
        connect_timeout=5,
        backoff_min=0.1,
        backoff_max=0.8,
        reconnect_timeout=2.0,
        reconnect_failed=lambda p: alerts.append(time.time()),
    )
    try:
        primary_down()
        until = time.monotonic() + 4.0
        while time.monotonic() < until:
            with pytest.raises(ConnectError):
                pool.acquire()
            time.sleep(0.005)
        records = retry_records(caplog)
        delays = [float(r.__dict__["retry_in"]) for r in records]
        assert len(delays) >= 6
        assert delays[0] == 0.1
        for attempt, delay in enumerate(delays):
            base = min(0.8, 0.1 * 2**attempt)
            assert max(0.1, base / 2) <= delay <= base, (attempt, delays)
        capped = delays[3:]
        assert len(set(capped)) == len(capped), "jittered at the cap"
        # Attempts happen no earlier than their delay (and not much later under load).
        for before, after, delay in zip(records, records[1:], delays, strict=False):
            gap = after.created - before.created
            assert delay - 0.01 <= gap < delay + 0.5, (gap, delay)
        assert pool.stats().failed_connects == len(delays)
        assert len(alerts) == 1
        assert 2.0 * 0.9 <= alerts[0] - records[0].created < 2.0 + 1.0
        assert [r.levelno for r in caplog.records if "reconnect_timeout" in r.getMessage()] == [
            logging.ERROR
        ]
        print(
            "\nB3: delays "
            + ", ".join(f"{d:.3f}" for d in delays)
            + f" s; alert after {alerts[0] - records[0].created:.3f} s"
        )

        cluster("start-primary")
        wait_until(lambda: checkout_works(pool), "a checkout after the restart")
        assert not pool.stats().server_down
        held = pool.acquire()
        caplog.clear()
        primary_down()
        with pytest.raises(ConnectionLost):
            held.one(SELECT_ONE)
        pool.release(held)
        with pytest.raises(ConnectError):
            pool.acquire()
        assert [float(r.__dict__["retry_in"]) for r in retry_records(caplog)] == [0.1]
        assert len(alerts) == 1
    finally:
        pool.shutdown(timeout=5)
