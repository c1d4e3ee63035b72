"""A pool made before ``os.fork()``: the child opens its own connections, the parent keeps its.

Covered, with a real fork on SQLite, PostgreSQL and MariaDB: the child never
gets a connection the parent opened (on a server, a different backend or
connection id);
a connection the parent had borrowed at the fork, given back in the child,
is left alone; the child's shutdown and garbage collection do not break
the parent's connections, idle or borrowed; the child's pool works
(its background thread started again at its first checkout: ``min_size``
refills). A CQRS router made before the fork probes its servers again in
the child (the parent's probe threads did not come along), and the
parent's keep probing.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import os
import select
import signal
import time
import warnings
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from repodb import Request
from repodb.cqrs import Cqrs, CqrsConfig
from repodb.pool import Pool
from repodb.repo import Repo
from repodb.url import parse_url
from tests.conftest import (
    CONNECT_TIMEOUT,
    STATEMENT_TIMEOUT,
    mariadb_replica_urls,
    replica_urls,
    with_database,
)

pytestmark = pytest.mark.mariadb

BOUND = 30.0
IDENTITY = {
    "postgresql": Request.one("SELECT pg_backend_pid()", row=int),
    "mariadb": Request.one("SELECT CONNECTION_ID()", row=int),
    # The connection's own temp table tells connections apart on SQLite.
    "sqlite": Request.one("SELECT count(*) FROM temp.sqlite_master WHERE name = 'mine'", row=int),
}
MARK = Request.exec("CREATE TEMPORARY TABLE IF NOT EXISTS mine (x INTEGER)")


def fork_and_run(child_work: Callable[[], dict[str, object]]) -> dict[str, object]:
    """Run ``child_work()`` in a forked child; the JSON it returns, within BOUND seconds."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a process with threads (the pool's) may deadlock.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            # A child that hangs shows where, and ends, before the parent gives up on it.
            faulthandler.dump_traceback_later(BOUND / 2, exit=True)
            os.close(read_end)
            os.write(write_end, json.dumps(child_work()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], BOUND)
        data = os.read(read_end, 65536) if ready else b""
        deadline = time.monotonic() + BOUND
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child did not finish")
            time.sleep(0.01)
    finally:
        os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0, data
    result = json.loads(data)
    assert isinstance(result, dict)
    return result


def test_a_child_opens_its_own_connections_and_the_parents_survive(db_url: str) -> None:
    driver = parse_url(db_url).driver
    identity = IDENTITY[driver]
    pool = Pool(
        db_url,
        max_size=3,
        min_size=2,
        connect_timeout=CONNECT_TIMEOUT,
        statement_timeout=STATEMENT_TIMEOUT,
    )
    try:
        with pool.connection() as idle:
            idle.exec(MARK)
            parent_idle = idle.one(identity)
        held = pool.acquire()
        if driver == "sqlite":
            held.exec(MARK)
        parent_held = held.one(identity)
        # Fork while no thread of the parent is inside a connect: a C library's
        # lock held at the fork (SQLite's, libpq's) would stay held in the child.
        deadline = time.monotonic() + BOUND
        while pool.stats().available + pool.stats().in_use < 2:
            assert time.monotonic() < deadline, "min_size never reached"
            time.sleep(0.01)
        created_before = pool.stats().created

        def child() -> dict[str, object]:
            pool.release(held)  # the parent's: left alone
            with pool.connection() as conn:
                mine = conn.one(identity)
                created = pool.stats().created
            deadline = time.monotonic() + BOUND
            while pool.stats().total < 2 and time.monotonic() < deadline:
                time.sleep(0.01)  # min_size, by the restarted background thread
            refilled = pool.stats().total
            pool.shutdown(timeout=5)
            gc.collect()
            return {"mine": mine, "created": created, "refilled": refilled}

        seen = fork_and_run(child)
        # Counters carry on from the parent's; the child's worker may have opened one too.
        assert isinstance(seen["created"], int)
        assert seen["created"] > created_before
        assert seen["refilled"] == 2
        if driver != "sqlite":
            assert seen["mine"] not in (parent_idle, parent_held)
        else:
            assert seen["mine"] == 0  # a fresh connection, without the parent's temp table
        # The parent's connections still work, and are the same ones.
        assert held.one(identity) == parent_held
        pool.release(held)
        with pool.connection() as conn:
            assert conn.one(identity) in (parent_idle, parent_held)
    finally:
        pool.shutdown(timeout=5)


def test_a_router_made_before_a_fork_probes_again_in_the_child(db_url: str) -> None:
    # SQLite's replicas read the primary's file; PostgreSQL's and MariaDB's must be replicas.
    replica = {
        "sqlite": lambda: db_url,
        "postgresql": lambda: replica_urls()[0],
        # The test's fresh database, replicated from the primary.
        "mariadb": lambda: with_database(mariadb_replica_urls()[0], urlsplit(db_url).path[1:]),
    }[parse_url(db_url).driver]()
    cqrs = Cqrs(
        CqrsConfig(
            db_url,
            replica_conninfos=[replica],
            check_interval=0.05,
            probe_timeout=2.0,
            connect_timeout=CONNECT_TIMEOUT,
        )
    )
    try:
        assert Repo(cqrs).one(IDENTITY[parse_url(db_url).driver]) >= 0
        replicas = cqrs._replicas
        assert replicas is not None
        prober = replicas._probers[0]
        deadline = time.monotonic() + BOUND
        while prober.measured_at is None:
            assert time.monotonic() < deadline, "no probe in the parent"
            time.sleep(0.01)

        def child() -> dict[str, object]:
            forked_at = time.monotonic()
            with cqrs.read() as conn:
                label = conn.label
            ends = time.monotonic() + BOUND
            while (prober.measured_at or 0.0) < forked_at and time.monotonic() < ends:
                time.sleep(0.01)
            probed = (prober.measured_at or 0.0) >= forked_at
            cqrs.shutdown(timeout=5)
            return {"label": label, "probed": probed}

        assert fork_and_run(child) == {"label": "replica 1", "probed": True}
        # The parent's probes and connections carry on.
        measured = prober.measured_at
        deadline = time.monotonic() + BOUND
        while prober.measured_at == measured:
            assert time.monotonic() < deadline, "the parent's prober stopped"
            time.sleep(0.01)
        with cqrs.read() as conn:
            assert conn.label == "replica 1"
    finally:
        cqrs.shutdown(timeout=5)
