"""The foundation against real streaming replicas: what the CQRS router will stand on.

Covered: a write sent to a hot standby raises ``ReadOnlyError`` (SQLSTATE
25006); rows committed on the primary reach both replicas; a replica whose
replay is paused serves stale data while the other is current; a stopped
replica refuses connections fast with ``ConnectError``; a hung (SIGSTOPped)
replica costs a client no more than its connect timeout; a replica catches up
after it is killed and restarted; a row committed just before the primary is
SIGKILLed survives its restart and reaches the replicas, which keep serving
reads meanwhile.

The cluster is the one ``scripts/test`` started; these tests drive it with
``scripts/pg-cluster`` (its settings come from the environment) and always
put a node back as they found it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

import repodb
from repodb import Request
from repodb.types import tup
from tests.conftest import open_conn, pg_url, replica_urls, with_search_path
from tests.cqrs.rig import cluster

SYNC_TIMEOUT = 30.0

count_rows = Request.one("SELECT count(*) FROM items", row=int)
insert_item = Request.exec("INSERT INTO items (name) VALUES (?)", params=str)
insert_lsn = Request.one("SELECT pg_current_wal_insert_lsn()::text", row=str)
replayed = Request.one("SELECT pg_last_wal_replay_lsn() >= ?::pg_lsn", params=str, row=bool)
in_recovery = Request.one("SELECT pg_is_in_recovery()", row=bool)


def wait_replayed(primary: repodb.Connection, replica_url: str) -> None:
    """Wait (bounded) until the replica has replayed everything written so far."""
    lsn = primary.one(insert_lsn)
    deadline = time.monotonic() + SYNC_TIMEOUT
    with open_conn(replica_url) as replica:
        while not replica.one(replayed, lsn):
            if time.monotonic() > deadline:
                pytest.fail(f"replica did not replay {lsn} within {SYNC_TIMEOUT} s")
            time.sleep(0.05)


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema with an ``items`` table on the primary, dropped afterwards."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    with open_conn(pg_url()) as primary:
        primary.exec(Request.exec(f"CREATE SCHEMA {name}"))
        primary.exec(
            Request.exec(f"CREATE TABLE {name}.items (id bigserial PRIMARY KEY, name text)")
        )
    yield name
    with open_conn(pg_url()) as primary:
        primary.exec(Request.exec(f"DROP SCHEMA {name} CASCADE"))


def urls(schema: str) -> tuple[str, list[str]]:
    return with_search_path(pg_url(), schema), [with_search_path(u, schema) for u in replica_urls()]


def test_every_replica_is_a_hot_standby() -> None:
    replicas = replica_urls()
    assert len(replicas) >= 2
    with open_conn(pg_url()) as primary:
        assert primary.one(in_recovery) is False
    for url in replicas:
        with open_conn(url) as replica:
            assert replica.one(in_recovery) is True


def test_write_to_a_replica_raises_read_only_error(schema: str) -> None:
    primary_url, replica_list = urls(schema)
    with open_conn(primary_url) as primary:
        for url in replica_list:
            wait_replayed(primary, url)
    for url in replica_list:
        with open_conn(url) as replica:
            with pytest.raises(repodb.ReadOnlyError) as caught:
                replica.exec(insert_item, "x")
            assert caught.value.sqlstate == "25006"
            assert caught.value.sql is not None
            assert "INSERT INTO items" in caught.value.sql
            with pytest.raises(repodb.ReadOnlyError):
                replica.exec(Request.exec("CREATE TABLE nope (id int)"))
            # The connection stays usable for reads after the refusal.
            assert replica.one(count_rows) == 0


def test_rows_committed_on_the_primary_reach_both_replicas(schema: str) -> None:
    primary_url, replica_list = urls(schema)
    with open_conn(primary_url) as primary:
        primary.copy_in("items", ["name"], tup(str), [(f"item {i}",) for i in range(1000)])
        for url in replica_list:
            wait_replayed(primary, url)
    for url in replica_list:
        with open_conn(url) as replica:
            assert replica.one(count_rows) == 1000


def test_paused_replay_serves_stale_reads_on_one_replica_only(schema: str) -> None:
    primary_url, (first, second) = urls(schema)[0], urls(schema)[1][:2]
    with open_conn(primary_url) as primary:
        primary.exec(insert_item, "before")
        wait_replayed(primary, first)
        wait_replayed(primary, second)
        cluster("pause-replay", "1")
        try:
            primary.exec(insert_item, "after")
            wait_replayed(primary, second)
            with open_conn(first) as stale, open_conn(second) as fresh:
                assert fresh.one(count_rows) == 2
                assert stale.one(count_rows) == 1
        finally:
            cluster("resume-replay", "1")
        wait_replayed(primary, first)
    with open_conn(first) as caught_up:
        assert caught_up.one(count_rows) == 2


def test_stopped_replica_refuses_fast_and_catches_up_after_restart(schema: str) -> None:
    primary_url, replica_list = urls(schema)
    second = replica_list[1]
    cluster("stop-replica", "2", "fast")
    try:
        started = time.monotonic()
        with pytest.raises(repodb.ConnectError):
            repodb.connect(second, connect_timeout=5)
        # Connection refused, not a timeout: well under the connect timeout.
        assert time.monotonic() - started < 4.5
        with open_conn(primary_url) as primary:
            primary.exec(insert_item, "while replica 2 was down")
    finally:
        cluster("start-replica", "2")
    with open_conn(primary_url) as primary:
        wait_replayed(primary, second)
    with open_conn(second) as replica:
        assert replica.one(count_rows) == 1


def test_killed_replica_catches_up_after_restart(schema: str) -> None:
    primary_url, replica_list = urls(schema)
    first = replica_list[0]
    cluster("kill-replica", "1")
    try:
        with open_conn(primary_url) as primary:
            primary.copy_in("items", ["name"], tup(str), [(f"n{i}",) for i in range(500)])
    finally:
        cluster("start-replica", "1")
    with open_conn(primary_url) as primary:
        wait_replayed(primary, first)
    with open_conn(first) as replica:
        assert replica.one(count_rows) == 500


def test_hung_replica_costs_no_more_than_the_connect_timeout() -> None:
    first = replica_urls()[0]
    cluster("pause-replica", "1")
    try:
        started = time.monotonic()
        with pytest.raises(repodb.ConnectError) as caught:
            repodb.connect(first, connect_timeout=2)
        elapsed = time.monotonic() - started
        # libpq's connect_timeout is whole seconds per address; allow slack for a busy machine.
        assert 1.5 <= elapsed < 15
        assert "timeout" in str(caught.value).lower()
    finally:
        cluster("resume-replica", "1")
    with open_conn(first) as replica:
        assert replica.one(in_recovery) is True


def test_committed_row_survives_a_primary_crash(schema: str) -> None:
    primary_url, replica_list = urls(schema)
    with open_conn(primary_url) as primary:
        primary.exec(insert_item, "durable")
    cluster("stop-primary", "kill")
    try:
        started = time.monotonic()
        with pytest.raises(repodb.ConnectError):
            repodb.connect(primary_url, connect_timeout=5)
        # Refused, not timed out: the primary's port is closed.
        assert time.monotonic() - started < 4.5
        # The replicas keep serving reads while the primary is down.
        for url in replica_list:
            with open_conn(url) as replica:
                assert replica.one(in_recovery) is True
    finally:
        cluster("start-primary")
    with open_conn(primary_url) as primary:
        assert primary.one(count_rows) == 1
        for url in replica_list:
            wait_replayed(primary, url)
    for url in replica_list:
        with open_conn(url) as replica:
            assert replica.one(count_rows) == 1
