"""The connection pool on a SQLite file and on PostgreSQL.

Covered: lending, reuse and the Repo on a pool (telemetry names the pool's
label); exhaustion (``PoolTimeout`` with stats, nothing leaked, checklist
A1); first-come-first-served waiters; ``max_waiting`` (A7); connections
returned inside a transaction are rolled back or discarded (A5); broken,
closed and invalid connections are discarded; ``configure``; lifetime with
jitter under load without errors (A6); ``max_idle``; ``min_size`` kept warm;
leak warnings with the borrower's stack (A3); ``shutdown``; a pool dropped
without shutdown; no lock held while connecting; many threads never share
a connection, and waiters that time out in a race leak nothing; connect
errors never show the password (A8); a backend killed under the pool, with
and without a validator (A4, PostgreSQL).

Every thread is joined with a time limit; time is asserted only as generous
upper bounds (and the timeout's own lower bound).
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import repodb
from repodb import ConnectError, ConnectionLost, Request
from repodb.pool import Pool, PoolClosed, PoolTimeout, PoolTooManyWaiters
from repodb.query import query
from repodb.repo import Repo
from repodb.schema import Col, Schema, field
from repodb.telemetry import QueryEvent
from tests.conftest import CONNECT_TIMEOUT, STATEMENT_TIMEOUT, open_conn, pg_url

pytestmark = pytest.mark.mariadb

SELECT_ONE = Request.one("SELECT 1", row=int)
INSERT_NOTE = Request.exec("INSERT INTO pool_notes (body) VALUES (?)", params=str)
COUNT_NOTES = Request.one("SELECT count(*) FROM pool_notes", row=int)
BACKEND_PID = Request.one("SELECT pg_backend_pid()", row=int)
JOIN_TIMEOUT = 30.0
POLL_TIMEOUT = 10.0


class PoolNote(Schema, table="pool_notes"):
    id: Col[int | None] = field(primary_key=True, default=None)
    body: Col[str]


PoolFactory = Callable[..., Pool]


@pytest.fixture
def pools() -> Iterator[PoolFactory]:
    """Make pools with the suite's connect and statement timeouts; all shut down afterwards."""
    made: list[Pool] = []

    def make(url: str, **options: Any) -> Pool:
        options.setdefault("connect_timeout", CONNECT_TIMEOUT)
        options.setdefault("statement_timeout", STATEMENT_TIMEOUT)
        pool = Pool(url, **options)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.shutdown(timeout=5)


def create_notes(url: str) -> None:
    with open_conn(url) as conn:
        key = {
            "sqlite": "INTEGER PRIMARY KEY",
            "postgresql": "bigserial PRIMARY KEY",
            "mariadb": "BIGINT AUTO_INCREMENT PRIMARY KEY",
        }[conn.dialect.name]
        conn.exec(Request.exec(f"CREATE TABLE pool_notes (id {key}, body TEXT NOT NULL)"))


def count_notes(url: str) -> int:
    """The committed rows, read on a connection of its own."""
    with open_conn(url) as conn:
        return conn.one(COUNT_NOTES)


def wait_until(check: Callable[[], bool], what: str, timeout: float = POLL_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def start(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a test thread did not finish"


def wait_for_waiters(pool: Pool, count: int) -> None:
    wait_until(lambda: pool.stats().waiting == count, f"{count} waiting checkouts")


def pool_threads(label: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"repodb-pool-{label}"]


# Lending and the Repo ----------------------------------------------------------------


def test_lends_and_reuses_one_connection(db_url: str, pools: PoolFactory) -> None:
    pool = pools(db_url, max_size=3, label="main db")
    with pool.connection() as conn:
        assert conn.one(SELECT_ONE) == 1
        assert conn.label == "main db"
        assert pool.stats().in_use == 1
    with pool.connection() as again:
        assert again is conn
    stats = pool.stats()
    assert (stats.total, stats.in_use, stats.available, stats.waiting) == (1, 0, 1, 0)
    assert stats.created == 1
    assert pool.with_connection(lambda c: c.one(SELECT_ONE)) == 1
    held = pool.acquire()
    assert held is conn
    pool.release(held)
    assert "main db" in repr(pool)
    assert "in_use=0" in repr(pool)


def test_repo_runs_on_a_pool(db_url: str, pools: PoolFactory) -> None:
    create_notes(db_url)
    events: list[QueryEvent] = []
    pool = pools(db_url, max_size=2, label="pooled")
    repo = Repo(pool, on_event=events.append)
    repo.insert(PoolNote(body="first"))
    with repo.transaction() as tx:
        tx.insert(PoolNote(body="second"))
        assert pool.stats().in_use == 1
    with repo.transaction() as tx:
        tx.insert(PoolNote(body="rolled back"))
        tx.rollback()
    assert sorted(n.body for n in repo.all(query(PoolNote))) == ["first", "second"]
    assert count_notes(db_url) == 2
    assert {e.source for e in events} == {"pooled"}
    stats = pool.stats()
    assert stats.in_use == 0
    assert stats.returns_bad == 0
    for intent in ("read", "write", "transaction"):
        with pool.checkout(intent) as conn:
            assert conn.one(COUNT_NOTES) == 2
    with pytest.raises(ValueError, match="unknown intent"):
        pool.checkout("replica")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_size": 0}, "max_size"),
        ({"max_size": 2, "min_size": 3}, "min_size"),
        ({"timeout": -1}, "negative"),
        ({"backoff_min": 2.0, "backoff_max": 1.0}, "backoff_min"),
        ({"leak_threshold": 0}, "leak_threshold"),
        ({"max_lifetime": 0}, "max_lifetime"),
        ({"max_idle": -5}, "max_idle"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, Any], message: str) -> None:
    before = threading.active_count()
    with pytest.raises(ValueError, match=message):
        Pool("sqlite::memory:", **options)
    assert threading.active_count() == before  # no thread left behind


def test_releasing_a_connection_the_pool_did_not_lend_is_an_error(
    db_url: str, pools: PoolFactory
) -> None:
    pool = pools(db_url)
    with open_conn(db_url) as stranger, pytest.raises(ValueError, match="not borrowed"):
        pool.release(stranger)
    conn = pool.acquire()
    pool.release(conn)
    with pytest.raises(ValueError, match="not borrowed"):
        pool.release(conn)
    assert pool.stats().available == 1


# Exhaustion, fairness, bounded queue ------------------------------------------------


def test_exhaustion_times_out_with_stats_and_leaks_nothing(db_url: str, pools: PoolFactory) -> None:
    pool = pools(db_url, max_size=2)
    held = [pool.acquire(), pool.acquire()]
    started = time.monotonic()
    with pytest.raises(PoolTimeout) as caught:
        pool.acquire(timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 2.5
    error = caught.value
    assert isinstance(error, repodb.Error)
    assert "in_use=2" in str(error)
    assert "max_size=2" in str(error)
    assert error.stats.in_use == 2
    assert error.stats.timeouts == 1
    stats = pool.stats()
    assert (stats.total, stats.in_use, stats.waiting, stats.timeouts) == (2, 2, 0, 1)
    for conn in held:
        pool.release(conn)
    again = [pool.acquire(timeout=1), pool.acquire(timeout=1)]
    assert {id(c) for c in again} == {id(c) for c in held}
    for conn in again:
        pool.release(conn)
    assert pool.stats().created == 2


def test_waiters_are_served_first_come_first_served(db_url: str, pools: PoolFactory) -> None:
    pool = pools(db_url, max_size=1)
    holder = pool.acquire()
    order: list[int] = []
    errors: list[BaseException] = []

    def waiter(index: int) -> Callable[[], None]:
        def run() -> None:
            try:
                with pool.connection(timeout=20) as conn:
                    order.append(index)
                    conn.one(SELECT_ONE)
            except BaseException as e:
                errors.append(e)

        return run

    threads = []
    for index in range(5):
        threads.append(start(waiter(index)))
        wait_for_waiters(pool, index + 1)
    pool.release(holder)
    join_all(threads)
    assert errors == []
    assert order == [0, 1, 2, 3, 4]
    assert pool.stats().created == 1


def test_too_many_waiters_fail_at_once(db_url: str, pools: PoolFactory) -> None:
    pool = pools(db_url, max_size=1, max_waiting=2, timeout=20)
    holder = pool.acquire()
    served: list[int] = []
    threads = [start(lambda: served.append(pool.with_connection(lambda c: 1))) for _ in range(2)]
    wait_for_waiters(pool, 2)
    started = time.monotonic()
    with pytest.raises(PoolTooManyWaiters) as caught:
        pool.acquire()
    assert time.monotonic() - started < 3
    assert caught.value.stats.waiting == 2
    assert "max_waiting=2" in str(caught.value)
    pool.release(holder)
    join_all(threads)
    assert served == [1, 1]
    assert pool.stats().waiting == 0


# Reset on return and discarding -----------------------------------------------------


def test_connection_returned_in_an_open_transaction_is_rolled_back(
    db_url: str, pools: PoolFactory
) -> None:
    create_notes(db_url)
    pool = pools(db_url, max_size=1)
    with pool.connection() as conn:
        conn.exec(Request.exec("BEGIN"))
        conn.exec(INSERT_NOTE, "never committed")
        assert conn.in_transaction
    assert pool.stats().returns_bad == 1
    assert count_notes(db_url) == 0
    with pool.connection() as again:
        assert again is conn
        assert not again.in_transaction
        again.exec(INSERT_NOTE, "autocommitted")
    assert count_notes(db_url) == 1
    assert pool.stats().discarded == 0


def test_connection_returned_in_a_failed_transaction_is_rolled_back(
    db_url: str, pools: PoolFactory
) -> None:
    create_notes(db_url)
    pool = pools(db_url, max_size=1)
    with pool.connection() as conn:
        conn.exec(Request.exec("BEGIN"))
        conn.exec(INSERT_NOTE, "lost with the transaction")
        with pytest.raises(repodb.QueryError):
            conn.exec(Request.exec("INSERT INTO no_such_table VALUES (1)"))
    with pool.connection() as again:
        assert again is conn
        assert not again.in_transaction
        assert again.one(COUNT_NOTES) == 0
    assert pool.stats().returns_bad == 1
    assert count_notes(db_url) == 0


def test_connection_returned_inside_a_transaction_block_is_discarded(
    db_url: str, pools: PoolFactory
) -> None:
    create_notes(db_url)
    pool = pools(db_url, max_size=1)
    conn = pool.acquire()
    block = conn.transaction()
    block.__enter__()
    conn.exec(INSERT_NOTE, "left open")
    pool.release(conn)
    assert conn.closed
    stats = pool.stats()
    assert (stats.returns_bad, stats.discarded, stats.total) == (1, 1, 0)
    assert count_notes(db_url) == 0
    with pool.connection() as fresh:
        assert fresh is not conn
        assert not fresh.in_transaction


def test_closed_connection_is_discarded(db_url: str, pools: PoolFactory) -> None:
    pool = pools(db_url, max_size=1)
    with pool.connection() as conn:
        conn.close()
    assert pool.stats().discarded == 1
    with pool.connection() as fresh:
        assert fresh is not conn
        assert fresh.one(SELECT_ONE) == 1
    assert pool.stats().created == 2


def test_validate_runs_before_reuse_and_failures_are_replaced_without_delay(
    db_url: str, pools: PoolFactory
) -> None:
    checked: list[repodb.Connection] = []
    verdicts = [False, True]

    def validate(conn: repodb.Connection) -> bool:
        checked.append(conn)
        return verdicts.pop(0) if verdicts else True

    pool = pools(db_url, max_size=2, validate=validate)
    first = pool.acquire()
    assert checked == []  # a new connection is not validated
    pool.release(first)
    started = time.monotonic()
    second = pool.acquire()
    assert time.monotonic() - started < 2
    assert checked == [first]
    assert second is not first
    assert first.closed
    pool.release(second)
    third = pool.acquire()
    assert third is second
    pool.release(third)
    stats = pool.stats()
    assert (stats.discarded, stats.created, stats.failed_connects) == (1, 2, 0)


def test_a_validator_that_raises_discards_the_connection_and_warns_once_per_cause(
    db_url: str, pools: PoolFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bugs = ["validator bug"] * 5 + ["another bug"] * 3

    def validate(conn: repodb.Connection) -> bool:
        raise RuntimeError(bugs.pop(0))

    caplog.set_level(logging.INFO, logger="repodb.pool")
    pool = pools(db_url, max_size=1, validate=validate)
    first = pool.acquire()
    pool.release(first)
    second = pool.acquire()
    assert second is not first
    pool.release(second)
    assert pool.stats().discarded == 1
    for _ in range(7):
        pool.release(pool.acquire())
    assert (bugs, pool.stats().discarded) == ([], 8)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [str(r.exc_info[1]) for r in warnings if r.exc_info] == ["validator bug", "another bug"]
    assert len(warnings) == 2
    assert all("checking a pooled connection raised" in r.getMessage() for r in warnings)


def test_configure_runs_once_on_each_new_connection(db_url: str, pools: PoolFactory) -> None:
    configured: list[repodb.Connection] = []

    def configure(conn: repodb.Connection) -> None:
        conn.set_statement_timeout(5)
        configured.append(conn)

    pool = pools(db_url, max_size=2, configure=configure)
    a, b = pool.acquire(), pool.acquire()
    pool.release(a)
    pool.release(b)
    with pool.connection() as c:
        assert c in (a, b)
    assert configured == [a, b]


# Lifetime, idleness, min_size -------------------------------------------------------


def test_max_lifetime_replaces_connections_under_load_without_errors(
    db_url: str, pools: PoolFactory
) -> None:
    pool = pools(db_url, max_size=3, max_lifetime=0.5)
    errors: list[BaseException] = []
    stop = time.monotonic() + 2.5

    def load() -> None:
        try:
            while time.monotonic() < stop:
                with pool.connection(timeout=10) as conn:
                    conn.one(SELECT_ONE)
                    time.sleep(0.02)
                    # Never closed while borrowed, even past its lifetime.
                    assert not conn.closed
                    assert conn.one(SELECT_ONE) == 1
        except BaseException as e:
            errors.append(e)

    join_all([start(load) for _ in range(4)])
    assert errors == []
    stats = pool.stats()
    assert stats.expired >= 3
    assert stats.created >= 6
    assert stats.total <= 3
    assert stats.discarded == 0


def test_lifetimes_are_jittered(db_url: str, pools: PoolFactory) -> None:
    born: dict[int, float] = {}
    conns: list[repodb.Connection] = []

    def configure(conn: repodb.Connection) -> None:
        if len(conns) < 8:
            born[id(conn)] = time.monotonic()
            conns.append(conn)

    pool = pools(db_url, max_size=8, min_size=8, max_lifetime=1.0, configure=configure)
    wait_until(lambda: len(conns) == 8, "8 warm connections")
    lived: dict[int, float] = {}
    deadline = time.monotonic() + POLL_TIMEOUT
    while len(lived) < 8 and time.monotonic() < deadline:
        for conn in conns:
            if conn.closed and id(conn) not in lived:
                lived[id(conn)] = time.monotonic() - born[id(conn)]
        time.sleep(0.002)
    assert len(lived) == 8, "every connection is replaced after its lifetime"
    # Each lived between 90 % and 100 % of max_lifetime (plus scheduling slack),
    # and not all the same: they do not reconnect in one burst.
    assert min(lived.values()) >= 0.9 - 0.01
    assert max(lived.values()) < 1.0 + 0.5
    assert max(lived.values()) - min(lived.values()) > 0.02
    wait_until(lambda: pool.stats().available == 8, "8 replacements")


def test_max_idle_closes_idle_connections_beyond_min_size(db_url: str, pools: PoolFactory) -> None:
    pool = pools(db_url, max_size=3, min_size=1, max_idle=0.3)
    held = [pool.acquire() for _ in range(3)]
    for conn in held:
        pool.release(conn)
    wait_until(lambda: pool.stats().total == 1, "idle connections to close")
    stats = pool.stats()
    assert (stats.available, stats.expired) == (1, 2)
    assert sum(c.closed for c in held) == 2


def test_min_size_is_kept_warm_and_refilled(db_url: str, pools: PoolFactory) -> None:
    pool = pools(db_url, max_size=4, min_size=3)
    wait_until(lambda: pool.stats().available == 3, "3 warm connections")
    with pool.connection() as conn:
        conn.close()
    wait_until(lambda: pool.stats().available == 3, "the discarded connection to be replaced")
    stats = pool.stats()
    assert (stats.created, stats.discarded, stats.total) == (4, 1, 3)


# Leaks ----------------------------------------------------------------------------


def test_a_leak_is_reported_once_with_the_borrowers_stack(
    db_url: str, pools: PoolFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="repodb.pool")
    pool = pools(db_url, leak_threshold=0.3, label="leaky")
    with pool.connection():
        time.sleep(0.05)
    time.sleep(0.6)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    def hold_too_long() -> None:
        with pool.connection():
            time.sleep(1.2)

    hold_too_long()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith("leaky: a connection has been borrowed for")
    assert "hold_too_long" in message
    assert "test_a_leak_is_reported_once_with_the_borrowers_stack" in message
    assert "pool.py" not in message.splitlines()[-1]
    assert any("came back after" in r.getMessage() for r in caplog.records)


# Shutdown and garbage ---------------------------------------------------------------


def test_shutdown_fails_waiters_waits_for_borrowed_and_closes(db_url: str) -> None:
    label = f"shutdown-{uuid.uuid4().hex[:8]}"
    pool = Pool(db_url, max_size=2, label=label, connect_timeout=CONNECT_TIMEOUT)
    a, b = pool.acquire(), pool.acquire()
    waiter_errors: list[BaseException] = []

    def wait_in_line() -> None:
        try:
            pool.acquire(timeout=20)
        except BaseException as e:
            waiter_errors.append(e)

    waiter = start(wait_in_line)
    wait_for_waiters(pool, 1)

    def give_back_later() -> None:
        time.sleep(0.3)
        pool.release(a)
        pool.release(b)

    returner = start(give_back_later)
    started = time.monotonic()
    pool.shutdown(timeout=10)
    assert time.monotonic() - started < 5
    join_all([waiter, returner])
    assert len(waiter_errors) == 1
    assert isinstance(waiter_errors[0], PoolClosed)
    assert a.closed
    assert b.closed
    with pytest.raises(PoolClosed):
        pool.acquire()
    stats = pool.stats()
    assert (stats.total, stats.in_use, stats.available) == (0, 0, 0)
    assert pool_threads(label) == []
    pool.shutdown()  # a second call does nothing


def test_shutdown_timeout_leaves_borrowed_connections_to_close_on_return(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="repodb.pool")
    with Pool(db_url, connect_timeout=CONNECT_TIMEOUT) as pool:
        conn = pool.acquire()
        started = time.monotonic()
        pool.shutdown(timeout=0.2)
        assert time.monotonic() - started < 3
        assert "1 connection(s) still borrowed" in caplog.text
        assert conn.one(SELECT_ONE) == 1
        pool.release(conn)
        assert conn.closed


def test_a_pool_dropped_without_shutdown_closes_and_stops(db_url: str) -> None:
    label = f"dropped-{uuid.uuid4().hex[:8]}"
    pool = Pool(db_url, label=label, connect_timeout=CONNECT_TIMEOUT)
    conn = pool.acquire()
    pool.release(conn)
    assert len(pool_threads(label)) == 1
    ref = weakref.ref(pool)
    del pool
    gc.collect()
    assert ref() is None
    wait_until(lambda: pool_threads(label) == [], "the maintenance thread to stop")
    assert conn.closed


# Concurrency ------------------------------------------------------------------------


def test_no_lock_is_held_while_connecting(db_url: str, pools: PoolFactory) -> None:
    gate = threading.Event()
    connecting = threading.Event()
    calls: list[int] = []

    def configure(conn: repodb.Connection) -> None:
        calls.append(1)
        if len(calls) == 2:
            connecting.set()
            gate.wait(JOIN_TIMEOUT)

    pool = pools(db_url, max_size=3, configure=configure)
    first = pool.acquire()
    pool.release(first)
    holder = pool.acquire()

    def open_second() -> None:
        pool.release(pool.acquire(timeout=20))

    opener = start(open_second)
    try:
        assert connecting.wait(JOIN_TIMEOUT)
        started = time.monotonic()
        pool.release(holder)
        again = pool.acquire(timeout=2)
        assert again is first
        pool.release(again)
        stats = pool.stats()
        assert time.monotonic() - started < 2
        assert (stats.total, stats.available) == (2, 1)
    finally:
        gate.set()
    join_all([opener])
    assert pool.stats().available == 2


def test_threads_never_share_a_connection(db_url: str, pools: PoolFactory) -> None:
    pool = pools(db_url, max_size=3)
    lock = threading.Lock()
    lent: set[int] = set()
    errors: list[BaseException] = []
    most = [0]

    def work() -> None:
        try:
            for _ in range(150):
                with pool.connection(timeout=20) as conn:
                    with lock:
                        assert id(conn) not in lent
                        lent.add(id(conn))
                        most[0] = max(most[0], len(lent))
                    assert conn.one(SELECT_ONE) == 1
                    with lock:
                        lent.remove(id(conn))
        except BaseException as e:
            errors.append(e)

    join_all([start(work) for _ in range(8)])
    assert errors == []
    assert most[0] <= 3
    stats = pool.stats()
    assert stats.created <= 3
    assert (stats.in_use, stats.waiting) == (0, 0)


def test_waiters_timing_out_in_a_race_leak_nothing(db_url: str, pools: PoolFactory) -> None:
    pool = pools(db_url, max_size=2)
    timeouts = [0]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(100):
                try:
                    conn = pool.acquire(timeout=0.002)
                except PoolTimeout:
                    with lock:
                        timeouts[0] += 1
                    continue
                time.sleep(0.001)
                pool.release(conn)
        except BaseException as e:
            errors.append(e)

    join_all([start(work) for _ in range(6)])
    assert errors == []
    stats = pool.stats()
    assert stats.timeouts == timeouts[0] > 0
    assert (stats.in_use, stats.waiting) == (0, 0)
    assert stats.total == stats.available <= 2
    both = [pool.acquire(timeout=2), pool.acquire(timeout=2)]
    for conn in both:
        pool.release(conn)


# Secrets (no server needed: the port is closed) --------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("form", ["url", "conninfo"])
def test_connect_errors_never_show_the_password(
    form: str, pools: PoolFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="repodb.pool")
    secret = f"pw-{uuid.uuid4().hex}"
    port = closed_port()
    if form == "url":
        url = f"postgresql://app:{secret}@127.0.0.1:{port}/app"
    else:
        url = f"host=127.0.0.1 port={port} dbname=app user=app password={secret}"
    pool = pools(url, max_size=1, connect_timeout=2)
    with pytest.raises(ConnectError) as refused:
        pool.acquire(timeout=5)
    with pytest.raises(ConnectError) as fast:
        pool.acquire(timeout=5)
    assert fast.value.__cause__ is refused.value
    shown = [
        repr(pool),
        str(pool.stats()),
        caplog.text,
        *("".join(traceback.format_exception(e.value)) for e in (refused, fast)),
        *(repr(e.value) for e in (refused, fast)),
    ]
    assert "***" in shown[0]
    for text in shown:
        assert secret not in text


# PostgreSQL: a backend killed under the pool (checklist A4) ---------------------------


def terminate_backend(pid: int) -> None:
    """pg_terminate_backend(pid), then wait until the backend is gone."""
    alive = Request.one("SELECT count(*) FROM pg_stat_activity WHERE pid = ?", params=int, row=int)
    with open_conn(pg_url()) as admin:
        terminate = Request.one("SELECT pg_terminate_backend(?)", params=int, row=bool)
        assert admin.one(terminate, pid)
        wait_until(lambda: admin.one(alive, pid) == 0, f"backend {pid} to exit")


def test_killed_backend_is_never_seen_with_a_validator(
    pg_schema_url: str, pools: PoolFactory
) -> None:
    def validate(conn: repodb.Connection) -> bool:
        conn.ping()
        return True

    pool = pools(pg_schema_url, max_size=2, validate=validate)
    with pool.connection() as conn:
        pid = conn.one(BACKEND_PID)
    terminate_backend(pid)
    with pool.connection() as conn:
        assert conn.one(BACKEND_PID) != pid
    stats = pool.stats()
    assert (stats.discarded, stats.created, stats.total) == (1, 2, 1)


def test_killed_backend_fails_once_then_is_replaced_without_a_validator(
    pg_schema_url: str, pools: PoolFactory
) -> None:
    pool = pools(pg_schema_url, max_size=2)
    with pool.connection() as conn:
        pid = conn.one(BACKEND_PID)
    terminate_backend(pid)
    with pytest.raises(ConnectionLost), pool.connection() as stale:
        stale.one(SELECT_ONE)
    assert stale.broken
    assert stale.closed
    with pool.connection() as conn:
        assert conn.one(BACKEND_PID) != pid
    stats = pool.stats()
    assert (stats.discarded, stats.created, stats.total) == (1, 2, 1)
