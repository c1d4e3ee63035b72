"""``run_transaction`` on MariaDB retries a real deadlock (1213) and a lock wait timeout (1205).

Two real connections take row locks in opposite orders: InnoDB picks one as
the deadlock's victim and rolls its transaction back; ``run_transaction``
runs the victim's function again and both commit, each exactly once.

A lock wait timeout undoes only the statement that waited: the
transaction's earlier write would survive if the transaction went on. The
test makes the first attempt write a row before it waits; after the retry
that row is there once, not twice: the retry began from a ROLLBACK of the
whole first attempt. Every wait is bounded (``innodb_lock_wait_timeout``,
barrier and event timeouts, thread joins).
"""

from __future__ import annotations

import threading

import pytest

import repodb
from repodb import DeadlockDetected, LockTimeout, Request
from repodb.types import tup
from tests.conftest import open_conn

WAIT = 10.0  # seconds any step may wait for the other connection

setup = [
    "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)",
    "CREATE TABLE attempts (id BIGINT AUTO_INCREMENT PRIMARY KEY, who TEXT NOT NULL)",
    "INSERT INTO accounts (id, balance) VALUES (1, 100), (2, 100)",
]
add = Request.exec("UPDATE accounts SET balance = balance + ? WHERE id = ?", params=tup(int, int))
log = Request.exec("INSERT INTO attempts (who) VALUES (?)", params=str)
balances = Request.many("SELECT id, balance FROM accounts ORDER BY id", row=tup(int, int))
logged = Request.many("SELECT who FROM attempts ORDER BY id", row=str)


@pytest.fixture
def url(mariadb_db_url: str) -> str:
    with open_conn(mariadb_db_url) as conn:
        for sql in setup:
            conn.exec(Request.exec(sql))
    return mariadb_db_url


def bounded_waits(conn: repodb.Connection, seconds: int) -> None:
    conn.exec(Request.exec(f"SET SESSION innodb_lock_wait_timeout = {seconds}"))


def test_a_deadlock_victim_is_run_again_and_both_commit(url: str) -> None:
    both_hold_one = threading.Barrier(2, timeout=WAIT)
    tries = {"a": 0, "b": 0}
    failures: list[BaseException] = []

    def transfer(name: str, first: int, second: int) -> None:
        def work(conn: repodb.Connection) -> None:
            tries[name] += 1
            conn.exec(log, name)
            conn.exec(add, (-10, first))
            if tries[name] == 1:
                both_hold_one.wait()  # each holds one row: the second locks cross
            conn.exec(add, (10, second))

        try:
            with open_conn(url) as conn:
                bounded_waits(conn, int(WAIT))
                conn.run_transaction(work, attempts=3, base_delay=0.05)
        except BaseException as e:  # reported by the main thread
            failures.append(e)

    threads = [
        threading.Thread(target=transfer, args=("a", 1, 2)),
        threading.Thread(target=transfer, args=("b", 2, 1)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    # One victim ran twice; the other once.
    assert sorted(tries.values()) == [1, 2]
    with open_conn(url) as conn:
        assert conn.all(balances) == [(1, 100), (2, 100)]
        # The victim's first attempt was rolled back whole: its log row too.
        assert sorted(conn.all(logged)) == ["a", "b"]


def test_a_deadlock_without_retries_is_deadlock_detected(url: str) -> None:
    both_hold_one = threading.Barrier(2, timeout=WAIT)
    raised: list[BaseException] = []

    def transfer(first: int, second: int) -> None:
        def work(conn: repodb.Connection) -> None:
            conn.exec(add, (-10, first))
            both_hold_one.wait()
            conn.exec(add, (10, second))

        try:
            with open_conn(url) as conn:
                bounded_waits(conn, int(WAIT))
                conn.run_transaction(work, attempts=1)
        except BaseException as e:  # checked by the main thread
            raised.append(e)

    threads = [
        threading.Thread(target=transfer, args=(1, 2)),
        threading.Thread(target=transfer, args=(2, 1)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
    assert not any(t.is_alive() for t in threads)
    assert len(raised) == 1
    assert isinstance(raised[0], DeadlockDetected)
    assert raised[0].code == "1213"


def test_a_lock_wait_timeout_restarts_the_whole_transaction(url: str) -> None:
    retrying = threading.Event()
    tries = 0

    def work(conn: repodb.Connection) -> None:
        nonlocal tries
        tries += 1
        if tries > 1:
            retrying.set()  # the holder may let go now
        conn.exec(log, f"try {tries}")
        conn.exec(add, (5, 1))  # waits for the holder's lock

    with open_conn(url) as holder, open_conn(url) as waiter:
        bounded_waits(waiter, 1)
        result: list[BaseException] = []

        def run() -> None:
            try:
                waiter.run_transaction(work, attempts=2, base_delay=0.01)
            except BaseException as e:  # checked below
                result.append(e)

        runner = threading.Thread(target=run)
        with holder.transaction():
            holder.exec(add, (1, 1))
            runner.start()
            # The holder keeps its lock until the waiter's second attempt starts.
            assert retrying.wait(WAIT * 2)
        # The holder has committed: the waiter's second attempt gets the row.
        runner.join(WAIT * 2)
        assert not runner.is_alive()
        assert result == []
        assert tries == 2
        assert holder.all(balances) == [(1, 106), (2, 100)]
        # The first attempt's write before the timeout did not survive.
        assert holder.all(logged) == ["try 2"]


def test_a_lock_wait_timeout_without_retries_is_lock_timeout(url: str) -> None:
    with open_conn(url) as holder, open_conn(url) as waiter:
        bounded_waits(waiter, 1)
        with holder.transaction():
            holder.exec(add, (1, 1))

            def wait_for_the_row() -> None:
                with waiter.transaction():
                    waiter.exec(log, "before")
                    waiter.exec(add, (5, 1))

            with pytest.raises(LockTimeout) as info:
                wait_for_the_row()
            assert info.value.code == "1205"
            assert not waiter.in_transaction
        assert waiter.all(logged) == []
        assert waiter.all(balances) == [(1, 101), (2, 100)]
