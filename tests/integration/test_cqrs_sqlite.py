"""The CQRS router and the MultiPool on a SQLite file: routing, marks, stats, failures.

Replicas are read-only connections to the primary's file, so everything a
router does that is not about servers dying or lagging is checked here,
without a server: which connection each Repo operation uses (telemetry
names it), transactions, the callable forms, manual health marks, stats,
sessions, configuration errors and shutdown. The MultiPool's health is
checked with a database file in a directory that does not exist yet: the
server "refuses" until the directory is made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import pytest

from repodb import ConnectError, Connection, ReadOnlyError, Repo, Request, Rollback
from repodb.changeset import cast, change
from repodb.cqrs import Cqrs, CqrsConfig, ReplicaSelection
from repodb.multipool import MultiPool, Selection
from repodb.pool import PoolClosed
from repodb.query import query
from repodb.repo import Intent, Source
from repodb.schema import Assoc, Col, Schema, field, has_many
from repodb.telemetry import QueryEvent
from repodb.write import insert_all

COUNT_BOOKS = Request.one("SELECT count(*) FROM cqrs_books", row=int)
WAIT = 10.0


class CqrsAuthor(Schema, table="cqrs_authors"):
    id: Col[int | None] = field(primary_key=True, default=None)
    name: Col[str]
    books: ClassVar[Assoc[list[CqrsBook]]] = has_many(lambda: CqrsBook, foreign_key="author_id")


class CqrsBook(Schema, table="cqrs_books"):
    id: Col[int | None] = field(primary_key=True, default=None)
    author_id: Col[int]
    title: Col[str]


DDL = [
    Request.exec("CREATE TABLE cqrs_authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"),
    Request.exec(
        "CREATE TABLE cqrs_books (id INTEGER PRIMARY KEY,"
        " author_id INTEGER NOT NULL REFERENCES cqrs_authors (id), title TEXT NOT NULL)"
    ),
]


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A SQLite file with the two tables and one author with two books."""
    db = f"sqlite:///{tmp_path / 'cqrs.db'}"
    with Cqrs(CqrsConfig(db)) as setup, setup.write() as conn:
        for ddl in DDL:
            conn.exec(ddl)
        conn.exec(Request.exec("INSERT INTO cqrs_authors (id, name) VALUES (1, 'Ada')"))
        conn.exec(
            Request.exec("INSERT INTO cqrs_books (author_id, title) VALUES (1, 'A'), (1, 'B')")
        )
    return db


@pytest.fixture
def cqrs(url: str) -> Iterator[Cqrs]:
    with Cqrs(CqrsConfig(url, replica_conninfos=[url, url], check_interval=0.05)) as router:
        yield router


def test_repo_reads_go_to_replicas_and_writes_to_the_primary(cqrs: Cqrs) -> None:
    events: list[QueryEvent] = []
    repo = Repo(cqrs, on_event=events.append)

    def sources() -> set[str]:
        seen = {e.source for e in events}
        events.clear()
        return seen

    ada = repo.get(CqrsAuthor, 1)
    assert repo.all(query(CqrsBook).order_by(CqrsBook.id))[0].title == "A"
    assert repo.one(query(CqrsAuthor).where(CqrsAuthor.name == "Ada")) == ada
    assert repo.exists(query(CqrsBook))
    assert repo.aggregate(query(CqrsBook), "count") == 2
    with repo.stream(query(CqrsBook)) as books:
        assert len(list(books)) == 2
    assert len(repo.preload(ada, "books").books) == 2
    assert len(repo.all(query(CqrsAuthor).preload("books"))[0].books) == 2
    assert sources() == {"replica 1", "replica 2"}

    grace = repo.insert(cast(CqrsAuthor, {"name": "Grace"}, ["name"]))
    repo.update(change(grace, name="Grace H."))
    repo.insert_all(CqrsBook, [{"author_id": grace.id, "title": "C"}])
    repo.update_all(query(CqrsBook).where(CqrsBook.title == "C"), set={"title": "D"})
    repo.delete_all(query(CqrsBook).where(CqrsBook.title == "D"))
    repo.delete(grace)
    repo.execute(insert_all(CqrsAuthor, [{"name": "Edsger"}]))
    assert repo.one(Request.one("SELECT count(*) FROM cqrs_authors", row=int)) == 2
    assert sources() == {"primary"}

    with repo.transaction() as tx:
        tx.insert(cast(CqrsAuthor, {"name": "Barbara"}, ["name"]))
        assert tx.aggregate(query(CqrsAuthor), "count") == 3
    assert sources() == {"primary"}
    with cqrs.read() as conn:
        assert conn.one(Request.one("SELECT count(*) FROM cqrs_authors", row=int)) == 3

    # A typed request marked read_only reads on a replica; unmarked, on the primary.
    authors = Request.one("SELECT count(*) FROM cqrs_authors", row=int, read_only=True)
    assert repo.one(authors) == 3
    assert repo.all(Request.many("SELECT name FROM cqrs_authors", row=str, read_only=True))
    assert sources() <= {"replica 1", "replica 2"}


def test_round_robin_alternates_between_replicas(cqrs: Cqrs) -> None:
    labels = [cqrs.with_read(lambda conn: conn.label) for _ in range(6)]
    assert labels in (["replica 1", "replica 2"] * 3, ["replica 2", "replica 1"] * 3)


def test_random_selection_uses_every_replica(url: str) -> None:
    config = CqrsConfig(
        url, replica_conninfos=[url, url], replica_selection=ReplicaSelection.RANDOM
    )
    with Cqrs(config) as cqrs:
        labels = {cqrs.with_read(lambda conn: conn.label) for _ in range(100)}
    # The chance of missing one replica in 100 fair draws is 2 * 2**-100.
    assert labels == {"replica 1", "replica 2"}


def test_least_connections_picks_the_replica_with_fewer_in_use(url: str) -> None:
    config = CqrsConfig(
        url, replica_conninfos=[url, url], replica_selection=ReplicaSelection.LEAST_CONNECTIONS
    )
    with Cqrs(config) as cqrs, cqrs.read() as held:
        busy = held.label
        for _ in range(4):
            assert cqrs.with_read(lambda conn: conn.label) != busy
        with cqrs.read() as second:
            assert second.label != busy
            # Both hold one now: the next read may go to either, but not fail.
            assert cqrs.with_read(lambda conn: conn.label) in ("replica 1", "replica 2")


def test_a_write_through_a_replica_connection_raises_read_only_error(cqrs: Cqrs) -> None:
    with cqrs.read() as conn, pytest.raises(ReadOnlyError):
        conn.exec(Request.exec("INSERT INTO cqrs_authors (name) VALUES ('Mallory')"))
    with cqrs.primary() as conn:
        assert conn.one(Request.one("SELECT count(*) FROM cqrs_authors", row=int)) == 1


def test_a_replica_connection_stays_read_only_after_a_read_only_transaction(
    cqrs: Cqrs,
) -> None:
    # A read-only transaction used to switch query_only off when it ended,
    # leaving a replica connection able to write.
    insert = Request.exec("INSERT INTO cqrs_authors (name) VALUES ('Mallory')")
    with cqrs.read() as conn:
        with conn.transaction(read_only=True):
            conn.one(Request.one("SELECT count(*) FROM cqrs_authors", row=int))
        with pytest.raises(ReadOnlyError):
            conn.exec(insert)
    with cqrs.primary() as conn:
        assert conn.one(Request.one("SELECT count(*) FROM cqrs_authors", row=int)) == 1


def test_transactions_commit_roll_back_and_stay_on_the_primary(cqrs: Cqrs) -> None:
    add_book = Request.exec("INSERT INTO cqrs_books (author_id, title) VALUES (1, ?)", params=str)
    with cqrs.transaction() as conn:
        assert conn.label == "primary"
        assert conn.in_transaction
        conn.exec(add_book, "kept")

    def fail(conn: Connection) -> None:
        conn.exec(add_book, "lost")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cqrs.transaction(fail)
    with cqrs.transaction() as conn:
        conn.exec(add_book, "rolled back quietly")
        raise Rollback()
    assert cqrs.transaction(lambda conn: conn.exec(add_book, "from fn")) == 1
    assert cqrs.with_write(lambda conn: conn.exec(add_book, "with_write")) == 1
    assert cqrs.with_primary(lambda conn: conn.one(COUNT_BOOKS)) == 5
    assert cqrs.with_read(lambda conn: conn.one(COUNT_BOOKS)) == 5
    titles = Request.many("SELECT title FROM cqrs_books ORDER BY id", row=str)
    assert cqrs.with_read(lambda conn: conn.all(titles)) == [
        "A",
        "B",
        "kept",
        "from fn",
        "with_write",
    ]


def test_manual_marks_route_around_replicas_and_fall_back_to_the_primary(cqrs: Cqrs) -> None:
    cqrs.mark_replica_unhealthy(0)
    assert {cqrs.with_read(lambda conn: conn.label) for _ in range(4)} == {"replica 2"}
    cqrs.mark_replica_unhealthy(1)
    assert cqrs.with_read(lambda conn: conn.label) == "primary"
    stats = cqrs.stats()
    assert stats.healthy_replica_count == 0
    assert [r.marked_unhealthy for r in stats.replicas] == [True, True]
    assert not any(r.healthy or r.down for r in stats.replicas)
    cqrs.mark_replica_healthy(0)
    assert cqrs.with_read(lambda conn: conn.label) == "replica 1"
    assert cqrs.stats().healthy_replica_count == 1
    with pytest.raises(IndexError, match="indexes go from 0 to 1"):
        cqrs.mark_replica_unhealthy(2)


def test_stats_count_the_primary_and_each_replica(cqrs: Cqrs) -> None:
    with cqrs.read() as first, cqrs.read() as second, cqrs.write():
        stats = cqrs.stats()
        assert {first.label, second.label} == {"replica 1", "replica 2"}
    assert stats.primary.in_use == 1
    assert stats.primary.max_size == 10
    assert [r.label for r in stats.replicas] == ["replica 1", "replica 2"]
    assert [r.pool.in_use for r in stats.replicas] == [1, 1]
    assert [r.pool.max_size for r in stats.replicas] == [5, 5]
    assert stats.healthy_replica_count == 2
    # SQLite replicas read the primary's file: no lag to measure.
    assert all(r.lag_bytes is None and not r.lagging for r in stats.replicas)
    after = cqrs.stats()
    assert (after.primary.in_use, after.primary.available) == (0, 1)
    assert [r.pool.available for r in after.replicas] == [1, 1]


def test_without_replicas_everything_goes_to_the_primary(url: str) -> None:
    with Cqrs.create(CqrsConfig(url, replica_max_size_each=0)) as cqrs:
        events: list[QueryEvent] = []
        repo = Repo(cqrs, on_event=events.append)
        assert repo.aggregate(query(CqrsBook), "count") == 2
        repo.insert(cast(CqrsAuthor, {"name": "Grace"}, ["name"]))
        assert {e.source for e in events} == {"primary"}
        assert cqrs.stats().replicas == ()
        assert cqrs.stats().healthy_replica_count == 0
        with pytest.raises(IndexError, match="no replicas"):
            cqrs.mark_replica_unhealthy(0)


def test_a_session_reads_its_writes_from_the_shared_file(cqrs: Cqrs) -> None:
    with cqrs.session() as session:
        repo = Repo(session)
        grace = repo.insert(cast(CqrsAuthor, {"name": "Grace"}, ["name"]))
        with session.read() as conn:
            assert conn.label.startswith("replica")
        assert repo.get(CqrsAuthor, grace.id) == grace
        # SQLite has no WAL positions: replicas are never behind.
        assert session.last_write_lsn is None
    with pytest.raises(RuntimeError, match="session has ended"):
        session.read()


def test_configuration_errors_are_clear(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="same kind of database"):
        Cqrs(CqrsConfig(url, replica_conninfos=["postgresql://app@replica/db"]))
    with pytest.raises(ValueError, match="in-memory SQLite database cannot have replicas"):
        Cqrs(CqrsConfig("sqlite::memory:", replica_conninfos=["sqlite::memory:"]))
    with pytest.raises(ValueError, match="replica_max_size_each must be at least 1"):
        CqrsConfig(url, replica_conninfos=[url], replica_max_size_each=0)
    with pytest.raises(ValueError, match="max_replica_lag_bytes cannot be negative"):
        CqrsConfig(url, max_replica_lag_bytes=-1)
    with pytest.raises(TypeError, match="list of URLs"):
        CqrsConfig(url, replica_conninfos=url)


def test_after_shutdown_checkouts_fail_with_pool_closed(url: str) -> None:
    cqrs = Cqrs(CqrsConfig(url, replica_conninfos=[url]))
    assert cqrs.with_read(lambda conn: conn.one(COUNT_BOOKS)) == 2
    cqrs.shutdown()
    with pytest.raises(PoolClosed), cqrs.read():
        pass
    with pytest.raises(PoolClosed), cqrs.write():
        pass


def test_concurrent_reads_spread_over_replicas_without_errors(cqrs: Cqrs) -> None:
    repo = Repo(cqrs)
    errors: list[BaseException] = []
    counts: list[int] = []

    def reader() -> None:
        try:
            for _ in range(50):
                counts.append(repo.aggregate(query(CqrsBook), "count"))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert counts == [2] * 400
    stats = cqrs.stats()
    assert sum(r.pool.created for r in stats.replicas) <= 10
    assert all(r.pool.created >= 1 for r in stats.replicas)
    assert stats.primary.created == 0 or stats.primary.in_use == 0


# The MultiPool -------------------------------------------------------------------------


def test_multipool_needs_servers_and_matching_labels(url: str) -> None:
    with pytest.raises(ValueError, match="at least one server URL; the list is empty"):
        MultiPool([])
    with pytest.raises(TypeError, match="list of URLs"):
        MultiPool(url)
    with pytest.raises(ValueError, match="2 URLs but 1 labels"):
        MultiPool([url, url], labels=["only one"])


def test_multipool_serves_a_repo_and_counts_per_server_and_in_total(url: str) -> None:
    with MultiPool([url, url], labels=["a", "b"], max_size_per_server=2) as pools:
        repo = Repo(pools)
        assert repo.aggregate(query(CqrsBook), "count") == 2
        with pools.connection() as first, pools.connection() as second:
            assert {first.label, second.label} == {"a", "b"}
            stats = pools.stats()
        assert [s.label for s in stats.servers] == ["a", "b"]
        assert [s.pool.in_use for s in stats.servers] == [1, 1]
        assert (stats.in_use, stats.total, stats.healthy_count) == (2, 2, 2)
        assert pools.with_connection(lambda conn: conn.one(COUNT_BOOKS)) == 2
        assert pools.stats().available == 2


def test_multipool_marks_a_refusing_server_down_and_takes_it_back(tmp_path: Path, url: str) -> None:
    missing = tmp_path / "later"
    late = f"sqlite:///{missing / 'late.db'}"
    with MultiPool(
        [late, url], selection=Selection.ROUND_ROBIN, check_interval=0.05, backoff_max=0.2
    ) as pools:
        # Whichever comes first, every checkout works: a refusal moves on to server 2.
        labels = [pools.with_connection(lambda conn: conn.label) for _ in range(4)]
        assert labels == ["server 2"] * 4
        stats = pools.stats()
        assert (stats.servers[0].down, stats.servers[0].healthy) == (True, False)
        assert "cannot open SQLite database" in (stats.servers[0].last_error or "")
        assert stats.healthy_count == 1
        assert not pools.is_healthy(0)

        pools.mark_down(1)
        with pytest.raises(ConnectError) as caught, pools.connection():
            pass
        message = str(caught.value)
        assert "no server is available" in message
        assert "server 1 is down since" in message
        assert "server 2 is marked down" in message
        pools.mark_up(1)

        missing.mkdir()
        _wait_for(lambda: pools.is_healthy(0), "server 1 to answer its probe")
        labels = [pools.with_connection(lambda conn: conn.label) for _ in range(4)]
        assert sorted(labels) == ["server 1", "server 1", "server 2", "server 2"]
        assert pools.stats().servers[0].last_error is None


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT} s waiting for {what}")
        time.sleep(0.01)


class Recording:
    """A Repo source that notes where each checkout of the router went."""

    def __init__(self, router: Source) -> None:
        self.router = router
        self.labels: list[str] = []

    @contextmanager
    def checkout(self, intent: Intent) -> Iterator[Connection]:
        with self.router.checkout(intent) as conn:
            self.labels.append(conn.label)
            yield conn


def test_a_locking_query_or_stream_is_a_write_and_goes_to_the_primary(cqrs: Cqrs) -> None:
    source = Recording(cqrs)
    repo = Repo(source)
    locked = query(CqrsBook).where(CqrsBook.id == 1).lock()
    # SQLite has no FOR UPDATE: the query is refused, on the primary connection.
    with pytest.raises(ValueError, match="no row locks"):
        repo.all(locked)
    with pytest.raises(ValueError, match="no row locks"), repo.stream(locked) as rows:
        list(rows)
    with pytest.raises(ValueError, match="no row locks"):
        repo.exists(locked)  # its probe keeps the lock
    assert source.labels == ["primary", "primary", "primary"]
    source.labels.clear()
    assert len(repo.all(query(CqrsBook))) == 2
    with repo.stream(query(CqrsBook)) as rows:
        assert len(list(rows)) == 2
    assert set(source.labels) <= {"replica 1", "replica 2"}
    assert len(source.labels) == 2
    # Every connection went back: the pools are idle again.
    stats = cqrs.stats()
    assert stats.primary.in_use == 0
    assert all(r.pool.in_use == 0 for r in stats.replicas)


def test_a_session_sends_reads_to_replicas_that_have_its_writes(cqrs: Cqrs) -> None:
    with cqrs.session() as session:
        source = Recording(session)
        repo = Repo(source)
        grace = repo.insert(cast(CqrsAuthor, {"name": "Grace"}, ["name"]))
        for _ in range(4):
            assert repo.get(CqrsAuthor, grace.id) == grace
        with repo.stream(query(CqrsAuthor).where(CqrsAuthor.id == grace.id)) as rows:
            assert list(rows) == [grace]
        # The write on the primary, then every read on a replica (on one
        # SQLite file, replicas always hold the session's writes).
        assert source.labels[0] == "primary"
        assert set(source.labels[1:]) == {"replica 1", "replica 2"}
        assert len(source.labels) == 6
