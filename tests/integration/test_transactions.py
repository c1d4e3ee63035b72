"""Transactions behave the same on every database.

Covered: commit (visible from a second connection); rollback on an exception,
which propagates; nested blocks as savepoints (an inner failure, including a
database error that aborts a PostgreSQL transaction, keeps the outer work);
``raise Rollback()`` rolls back quietly; ``outer.rollback()`` from an inner
block ends both; read-only transactions refuse writes with ReadOnlyError and
writes work again afterwards; every isolation level is accepted (and applied
on PostgreSQL); a COMMIT that fails (a deferred foreign key) leaves no partial
writes and a usable connection outside any transaction; ``run_transaction``
commits, refuses to run inside a transaction, retries real serialization
failures on PostgreSQL (a concurrent update and a write skew, driven
deterministically by two connections in one thread) and gives up after
``attempts``; on SQLite a second writer waits on the busy timeout for the
first to commit instead of failing at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import repodb
from repodb import IsolationLevel, Request
from repodb.types import tup
from tests.conftest import open_conn

pytestmark = pytest.mark.mariadb

insert_item = Request.exec("INSERT INTO items (name) VALUES (?)", params=str)
item_names = Request.many("SELECT name FROM items ORDER BY id", row=str)


def create_items(conn: repodb.Connection) -> None:
    """A table of uniquely named items, numbered in insertion order."""
    if conn.dialect.name == "postgresql":
        conn.exec(
            Request.exec(
                "CREATE TABLE items (id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                " name TEXT NOT NULL UNIQUE)"
            )
        )
    elif conn.dialect.name == "mariadb":
        conn.exec(
            Request.exec(
                "CREATE TABLE items (id INTEGER AUTO_INCREMENT PRIMARY KEY,"
                " name VARCHAR(200) NOT NULL UNIQUE)"
            )
        )
    else:
        conn.exec(
            Request.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        )


@pytest.fixture
def db(conn: repodb.Connection) -> repodb.Connection:
    create_items(conn)
    return conn


def names(conn: repodb.Connection) -> list[str]:
    return conn.all(item_names)


def is_pg(conn: repodb.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def test_commit_is_visible_to_another_connection(db: repodb.Connection, db_url: str) -> None:
    assert not db.in_transaction
    with db.transaction() as tx:
        assert tx.connection is db
        assert db.in_transaction
        db.exec(insert_item, "a")
        db.exec(insert_item, "b")
    assert not db.in_transaction
    with open_conn(db_url) as other:
        assert names(other) == ["a", "b"]


def test_exception_rolls_back_and_propagates(db: repodb.Connection) -> None:
    def insert_then_fail() -> None:
        with db.transaction():
            db.exec(insert_item, "a")
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        insert_then_fail()
    assert not db.in_transaction
    assert names(db) == []


def test_inner_failure_keeps_outer_work(db: repodb.Connection) -> None:
    def inner_block() -> None:
        with db.transaction():
            db.exec(insert_item, "inner")
            raise KeyError("inner")

    with db.transaction():
        db.exec(insert_item, "outer-1")
        with pytest.raises(KeyError):
            inner_block()
        assert names(db) == ["outer-1"]
        db.exec(insert_item, "outer-2")
    assert names(db) == ["outer-1", "outer-2"]


def test_database_error_in_savepoint_keeps_outer_work(db: repodb.Connection) -> None:
    # On PostgreSQL an error aborts the whole transaction unless a savepoint
    # is rolled back; the nested block must do that.
    def inner_block() -> None:
        with db.transaction():
            db.exec(insert_item, "b")
            db.exec(insert_item, "a")

    with db.transaction():
        db.exec(insert_item, "a")
        with pytest.raises(repodb.UniqueViolation):
            inner_block()
        db.exec(insert_item, "c")
    assert names(db) == ["a", "c"]


def test_savepoints_nest_deeply(db: repodb.Connection) -> None:
    with db.transaction():
        db.exec(insert_item, "1")
        with db.transaction():
            db.exec(insert_item, "2")
            with db.transaction():
                db.exec(insert_item, "3")
                raise repodb.Rollback()
            with db.transaction():
                db.exec(insert_item, "4")
        db.exec(insert_item, "5")
    assert names(db) == ["1", "2", "4", "5"]


def test_rollback_exception_is_swallowed(db: repodb.Connection) -> None:
    with db.transaction():
        db.exec(insert_item, "a")
        raise repodb.Rollback()
    assert not db.in_transaction
    assert names(db) == []


def test_tx_rollback_method(db: repodb.Connection) -> None:
    reached_end = False
    with db.transaction() as tx:
        db.exec(insert_item, "a")
        tx.rollback()
        reached_end = True  # pragma: no cover - rollback() leaves the block
    assert not reached_end
    assert names(db) == []


def test_outer_rollback_from_inner_block_ends_both(db: repodb.Connection) -> None:
    after_inner = False
    with db.transaction() as outer:
        db.exec(insert_item, "outer")
        with db.transaction():
            db.exec(insert_item, "inner")
            outer.rollback()
        after_inner = True  # pragma: no cover - the rollback leaves the outer block too
    assert not after_inner
    assert not db.in_transaction
    assert names(db) == []
    db.exec(insert_item, "later")
    assert names(db) == ["later"]


def test_nested_transaction_takes_no_options(db: repodb.Connection) -> None:
    with db.transaction():
        db.exec(insert_item, "a")
        with pytest.raises(ValueError, match="savepoint"):
            db.transaction(read_only=True).__enter__()
    assert names(db) == ["a"]


def test_read_only_transaction_rejects_writes(db: repodb.Connection) -> None:
    db.exec(insert_item, "existing")

    def read_then_write() -> None:
        with db.transaction(read_only=True):
            assert names(db) == ["existing"]
            db.exec(insert_item, "refused")

    with pytest.raises(repodb.ReadOnlyError) as info:
        read_then_write()
    assert info.value.sql is not None
    assert info.value.sql.startswith("INSERT INTO items")
    if is_pg(db):
        assert info.value.sqlstate == "25006"
    assert not db.in_transaction
    # Writes work again once the read-only transaction is over.
    db.exec(insert_item, "after")
    with db.transaction():
        db.exec(insert_item, "after-tx")
    assert names(db) == ["existing", "after", "after-tx"]


def test_read_only_transaction_commits_cleanly(db: repodb.Connection) -> None:
    db.exec(insert_item, "a")
    with db.transaction(read_only=True):
        assert names(db) == ["a"]
    db.exec(insert_item, "b")
    assert names(db) == ["a", "b"]


@pytest.mark.parametrize("level", list(IsolationLevel), ids=lambda level: level.name)
def test_isolation_levels_are_accepted(db: repodb.Connection, level: IsolationLevel) -> None:
    with db.transaction(isolation=level):
        db.exec(insert_item, "a")
        if is_pg(db):
            setting = Request.one("SELECT current_setting('transaction_isolation')", row=str)
            assert db.one(setting) == level.value.lower()
    assert names(db) == ["a"]


def test_deferrable_read_only_serializable(db: repodb.Connection) -> None:
    with db.transaction(isolation=IsolationLevel.SERIALIZABLE, read_only=True, deferrable=True):
        assert names(db) == []
        if is_pg(db):
            facts = Request.one(
                "SELECT current_setting('transaction_read_only'),"
                " current_setting('transaction_deferrable')",
                row=tup(str, str),
            )
            assert db.one(facts) == ("on", "on")


@pytest.mark.mariadb(absent="MariaDB has no deferred constraints: COMMIT checks nothing")
def test_failed_commit_leaves_no_partial_writes(db: repodb.Connection) -> None:
    db.exec(Request.exec("CREATE TABLE parents (id INTEGER PRIMARY KEY)"))
    db.exec(
        Request.exec(
            "CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER"
            " REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    )
    add_child = Request.exec(
        "INSERT INTO children (id, parent_id) VALUES (?, ?)", params=tup(int, int)
    )

    def write_an_orphan() -> None:
        with db.transaction():
            db.exec(insert_item, "written before the bad commit")
            db.exec(add_child, (1, 404))  # accepted until COMMIT checks the deferred key

    with pytest.raises(repodb.ForeignKeyViolation) as info:
        write_an_orphan()
    assert info.value.sql == "COMMIT"
    assert not db.in_transaction
    assert names(db) == []
    assert db.one(Request.one("SELECT count(*) FROM children", row=int)) == 0
    # The connection is usable and transactions work again.
    with db.transaction():
        db.exec(Request.exec("INSERT INTO parents (id) VALUES (404)"))
        db.exec(add_child, (1, 404))
    assert db.one(Request.one("SELECT parent_id FROM children", row=int)) == 404


def test_run_transaction_commits_and_returns(db: repodb.Connection, db_url: str) -> None:
    def work(conn: repodb.Connection) -> int:
        assert conn.in_transaction
        conn.exec(insert_item, "a")
        return len(names(conn))

    assert db.run_transaction(work) == 1
    assert not db.in_transaction
    with open_conn(db_url) as other:
        assert names(other) == ["a"]


def test_run_transaction_does_not_retry_other_errors(db: repodb.Connection) -> None:
    calls = 0

    def work(conn: repodb.Connection) -> None:
        nonlocal calls
        calls += 1
        conn.exec(insert_item, "a")
        conn.exec(insert_item, "a")

    with pytest.raises(repodb.UniqueViolation):
        db.run_transaction(work, attempts=3)
    assert calls == 1
    assert names(db) == []


def test_run_transaction_rollback_is_quiet_and_not_retried(db: repodb.Connection) -> None:
    calls = 0

    def work(conn: repodb.Connection) -> int:
        nonlocal calls
        calls += 1
        conn.exec(insert_item, "a")
        raise repodb.Rollback()

    assert db.run_transaction(work, attempts=3) is None
    assert calls == 1
    assert not db.in_transaction
    assert names(db) == []
    with pytest.raises(ValueError, match="attempts"):
        db.run_transaction(work, attempts=0)
    assert calls == 1


def test_caught_error_aborts_the_transaction_on_every_database(db: repodb.Connection) -> None:
    # PostgreSQL aborts a transaction at its first failed statement; repodb
    # makes SQLite do the same, so code behaves alike on both: later
    # statements are refused, and leaving the block rolls everything back
    # loudly instead of committing part of the work.
    def fail_then_carry_on() -> None:
        with db.transaction():
            db.exec(insert_item, "a")
            with pytest.raises(repodb.UniqueViolation):
                db.exec(insert_item, "a")
            with pytest.raises(repodb.InFailedTransaction) as refused:
                db.exec(insert_item, "b")
            assert refused.value.sql is not None
            assert "INSERT" in refused.value.sql
            with pytest.raises(repodb.InFailedTransaction), db.transaction():
                pass

    with pytest.raises(repodb.InFailedTransaction) as info:
        fail_then_carry_on()
    assert (info.value.sqlstate, info.value.sql) == ("25P02", "COMMIT")
    assert not db.in_transaction
    assert names(db) == []
    db.exec(insert_item, "later")
    assert names(db) == ["later"]


def test_a_savepoint_recovers_from_an_expected_error(db: repodb.Connection) -> None:
    with db.transaction():
        db.exec(insert_item, "a")
        with pytest.raises(repodb.UniqueViolation), db.transaction():
            db.exec(insert_item, "a")
        db.exec(insert_item, "b")
    assert names(db) == ["a", "b"]


def test_run_transaction_inside_transaction_is_refused(db: repodb.Connection) -> None:
    with db.transaction():
        db.exec(insert_item, "a")
        with pytest.raises(RuntimeError):
            db.run_transaction(lambda conn: conn.exec(insert_item, "b"))
    assert names(db) == ["a"]


# PostgreSQL: real serialization failures ----------------------------------------


@pytest.fixture
def pg_pair(pg_schema_url: str) -> Iterator[tuple[repodb.Connection, repodb.Connection]]:
    """Two connections to one PostgreSQL schema with a counter and two doctors on call."""
    with open_conn(pg_schema_url) as a, open_conn(pg_schema_url) as b:
        a.exec(Request.exec("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        a.exec(Request.exec("INSERT INTO counters VALUES (1, 0)"))
        a.exec(
            Request.exec("CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call BOOLEAN NOT NULL)")
        )
        a.exec(Request.exec("INSERT INTO doctors VALUES ('alice', true), ('bob', true)"))
        yield a, b


get_counter = Request.one("SELECT n FROM counters WHERE id = 1", row=int)
set_counter = Request.exec("UPDATE counters SET n = ? WHERE id = 1", params=int)
bump_counter = Request.exec("UPDATE counters SET n = n + 1 WHERE id = 1")


def test_run_transaction_retries_concurrent_update(
    pg_pair: tuple[repodb.Connection, repodb.Connection],
) -> None:
    a, b = pg_pair
    calls = 0

    def work(conn: repodb.Connection) -> int:
        nonlocal calls
        calls += 1
        seen = conn.one(get_counter)  # the snapshot is taken here
        if calls == 1:
            b.exec(bump_counter)  # another client commits a change to the same row
        conn.exec(set_counter, seen + 10)  # fails with 40001 on the first attempt
        return seen

    seen = a.run_transaction(work, isolation=IsolationLevel.REPEATABLE_READ, base_delay=0.001)
    assert calls == 2
    assert seen == 1
    assert a.one(get_counter) == 11
    assert not a.in_transaction


def test_run_transaction_retries_write_skew(
    pg_pair: tuple[repodb.Connection, repodb.Connection],
) -> None:
    a, b = pg_pair
    count_on_call = Request.one("SELECT count(*) FROM doctors WHERE on_call", row=int)
    go_off_call = Request.exec("UPDATE doctors SET on_call = false WHERE name = ?", params=str)
    calls = 0

    def work(conn: repodb.Connection) -> None:
        nonlocal calls
        calls += 1
        on_call = conn.one(count_on_call)
        if calls == 1:
            # Bob checks the same rule in his own serializable transaction and
            # goes off call first.
            with b.transaction(isolation=IsolationLevel.SERIALIZABLE):
                assert b.one(count_on_call) == 2
                b.exec(go_off_call, "bob")
        if on_call >= 2:
            conn.exec(go_off_call, "alice")

    a.run_transaction(work, isolation=IsolationLevel.SERIALIZABLE, base_delay=0.001)
    assert calls == 2
    on_call = Request.many("SELECT name FROM doctors WHERE on_call ORDER BY name", row=str)
    assert a.all(on_call) == ["alice"]


def test_run_transaction_gives_up_after_attempts(
    pg_pair: tuple[repodb.Connection, repodb.Connection],
) -> None:
    a, b = pg_pair
    calls = 0

    def work(conn: repodb.Connection) -> None:
        nonlocal calls
        calls += 1
        seen = conn.one(get_counter)
        b.exec(bump_counter)
        conn.exec(set_counter, seen + 100)

    with pytest.raises(repodb.SerializationFailure) as info:
        a.run_transaction(work, attempts=3, isolation=IsolationLevel.SERIALIZABLE, base_delay=0.001)
    assert info.value.sqlstate == "40001"
    assert isinstance(info.value, repodb.TransactionRollback)
    assert calls == 3
    assert not a.in_transaction
    assert a.one(get_counter) == 3  # only the other client's updates survived


# SQLite: writers queue on the busy timeout -----------------------------------------


def test_sqlite_writer_waits_for_the_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}?busy_timeout=2000"
    with open_conn(url) as setup:
        create_items(setup)
    locked = threading.Event()
    failures: list[BaseException] = []

    def hold_the_write_lock() -> None:
        try:
            with open_conn(url) as first, first.transaction():
                first.exec(insert_item, "first")
                locked.set()
                time.sleep(0.3)
        except BaseException as e:  # reported by the main thread
            failures.append(e)
        finally:
            locked.set()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with open_conn(url) as second:
            with second.transaction():  # BEGIN IMMEDIATE waits for the first to commit
                second.exec(insert_item, "second")
            assert names(second) == ["first", "second"]
    finally:
        holder.join(10)
    assert not holder.is_alive()
    assert failures == []


def test_sqlite_writer_without_busy_timeout_fails_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}?busy_timeout=0"
    with open_conn(url) as first, open_conn(url) as second:
        create_items(first)
        with first.transaction():
            first.exec(insert_item, "first")
            with pytest.raises(repodb.QueryError) as info, second.transaction():
                second.exec(insert_item, "second")  # pragma: no cover - BEGIN fails
            assert info.value.code == "SQLITE_BUSY"
            assert not second.in_transaction
        assert names(second) == ["first"]
