"""Every statement path traced, hooked and logged: OpenTelemetry spans, ``on_event``, DEBUG logs.

Spans go to the OpenTelemetry SDK's in-memory exporter. Each path runs on
SQLite, PostgreSQL and MariaDB: a bare connection's typed requests, its
transaction statements and its stream; a Repo over a pool (whose checkout
shows as a span event); a read retried after its connection died (the
servers: PostgreSQL's backend terminated, MariaDB's connection KILLed); a
router's blocks and the Repo on it (SQLite replicas of one file); the
migrator. Checked on each span: the database semantic conventions, values
never in the attributes, the error's type and SQLSTATE (MariaDB's error number), and that it started
before the statement was sent and ended after its answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import repodb
from repodb import AsyncRepo, Repo, Request, otel, telemetry
from repodb.cqrs import Cqrs, CqrsConfig
from repodb.migration import Migrator
from repodb.pool import Pool
from repodb.pool_async import AsyncPool
from repodb.query import query
from repodb.types import tup
from tests.conftest import CONNECT_TIMEOUT, open_conn

from .repo_models import Member, create_tables

pytestmark = pytest.mark.mariadb

SECRET = "s3cret-value"
insert_member = Request.exec(
    "INSERT INTO members (email, name) VALUES (?, ?)", params=tup(str, str)
)
names = Request.many("SELECT name FROM members WHERE email <> ? ORDER BY id", params=str, row=str)
count = Request.one("SELECT count(*) FROM members", row=int)
# The code a duplicate key is reported with, per database.
UNIQUE_CODE = {"postgresql": "23505", "sqlite": "SQLITE_CONSTRAINT_UNIQUE", "mariadb": "1062"}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans of every statement while the test runs, in an in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        otel.uninstrument()


def statement_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def assert_no_values(found: list[ReadableSpan]) -> None:
    for span in found:
        shown = " ".join(map(str, attributes(span).values()))
        assert SECRET not in shown, span


def test_a_connection_traces_each_statement(conn: repodb.Connection, spans: Any) -> None:
    create_tables(conn)
    spans.clear()
    before = time.time_ns()
    conn.exec(insert_member, (SECRET, "ada"))
    with conn.transaction():
        conn.exec(insert_member, ("b@x", "bob"))
    assert conn.all(names, SECRET) == ["bob"]
    assert conn.one(count) == 2
    with conn.stream(names, "nobody") as rows:
        assert list(rows) == ["ada", "bob"]
    with pytest.raises(repodb.UniqueViolation):
        conn.exec(insert_member, (SECRET, "again"))
    after = time.time_ns()

    found = statement_spans(spans)
    assert [s.name for s in found] == [
        "INSERT members",
        "BEGIN",
        "INSERT members",
        "COMMIT",
        "SELECT members",
        "SELECT members",
        "SELECT members",
        "INSERT members",
    ]
    assert_no_values(found)
    system = conn.dialect.name
    for span in found:
        a = attributes(span)
        assert span.kind is SpanKind.CLIENT
        assert a["db.system.name"] == system
        assert a["db.namespace"]
        assert a["repodb.server"] == "primary"
        assert a["repodb.route"] == "primary"
        assert a["repodb.retried"] is False
        assert span.start_time is not None
        assert span.end_time is not None
        assert before <= span.start_time <= span.end_time <= after
        if system != "sqlite":
            assert a["server.address"]
            assert isinstance(a["server.port"], int)
        else:
            assert "server.address" not in a
    first = attributes(found[0])
    assert first["db.query.text"].startswith("INSERT INTO members (email, name) VALUES (")
    assert first["db.operation.name"] == "INSERT"
    assert first["db.collection.name"] == "members"
    assert "db.collection.name" not in attributes(found[1])  # BEGIN names no table
    assert attributes(found[4])["db.response.returned_rows"] == 1
    assert attributes(found[6])["db.response.returned_rows"] == 2  # the stream's rows
    failed = found[-1]
    assert failed.status.status_code is StatusCode.ERROR
    assert attributes(failed)["error.type"] == "UniqueViolation"
    assert attributes(failed)["db.response.status_code"] == UNIQUE_CODE[system]
    assert SECRET not in (failed.status.description or "")
    # Spans follow each other: each statement's started after the previous one ended.
    ends = [s.end_time or 0 for s in found]
    assert all((s.start_time or 0) >= end for s, end in zip(found[1:], ends, strict=False))


def test_a_repo_over_a_pool_traces_statements_and_checkouts(db_url: str, spans: Any) -> None:
    with open_conn(db_url) as setup:
        create_tables(setup)
        table = setup.dialect.quote("members")
    with Pool(db_url, max_size=1, connect_timeout=CONNECT_TIMEOUT) as pool:
        repo = Repo(pool, log_params=True)
        spans.clear()
        repo.insert(Member(email=SECRET, name="ada", password=SECRET))
        ada = repo.get_by(Member, email=SECRET)
        assert repo.get(Member, ada.id) == ada
        assert repo.one(count) == 1
    found = statement_spans(spans)
    assert [s.name for s in found] == [
        f"{op} members" for op in ("INSERT", "SELECT", "SELECT", "SELECT")
    ]
    assert_no_values(found)
    for span in found:
        (checkout,) = [e for e in span.events if e.name == "repodb.pool.checkout"]
        assert checkout.attributes is not None
        assert checkout.attributes["repodb.pool"] == "primary"
        wait = checkout.attributes["repodb.pool.wait"]
        assert isinstance(wait, float)
        assert wait >= 0
        assert span.start_time is not None
        assert checkout.timestamp <= span.start_time
    assert attributes(found[0])["db.query.text"].startswith(f"INSERT INTO {table}")


def test_a_router_names_the_replica_in_each_span(tmp_path: Path, spans: Any) -> None:
    url = f"sqlite:///{tmp_path / 'routed.db'}"
    with open_conn(url) as setup:
        create_tables(setup)
    config = CqrsConfig(url, replica_conninfos=[url, url], check_interval=0.05)
    with Cqrs(config) as router:
        repo = Repo(router)
        spans.clear()
        repo.insert(Member(email="a@x", name="ada"))
        assert repo.aggregate(query(Member), "count") == 1
        assert router.with_read(lambda conn: conn.one(count)) == 1
        with router.read() as conn:
            assert conn.one(count) == 1
        # The health probes (SELECT 1 on SQLite, every 0.05 s) run meanwhile.
        time.sleep(0.3)
    every = statement_spans(spans)
    assert not [s for s in every if attributes(s)["db.query.text"] == "SELECT 1"]
    # Statements on members only: a new replica connection also runs its set-up.
    found = [s for s in every if "members" in attributes(s)["db.query.text"]]
    routes = [(attributes(s)["repodb.route"], attributes(s)["repodb.server"]) for s in found]
    assert routes[0] == ("primary", "primary")
    assert [route for route, _ in routes[1:]] == ["replica"] * 3
    assert {server for _, server in routes[1:]} <= {"replica 1", "replica 2"}


# How a server's session is found and ended from another connection.
BACKEND_ID = {
    "postgresql": Request.one("SELECT pg_backend_pid()", row=int),
    "mariadb": Request.one("SELECT CONNECTION_ID()", row=int),
}
END_SESSION = {
    "postgresql": Request.exec("SELECT pg_terminate_backend(?)", params=int),
    "mariadb": Request.exec("KILL CONNECTION ?", params=int),
}


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_a_retried_read_is_marked(server: str, request: pytest.FixtureRequest, spans: Any) -> None:
    url: str = request.getfixturevalue(
        "pg_schema_url" if server == "postgresql" else "mariadb_db_url"
    )
    with open_conn(url) as setup:
        create_tables(setup)
    with Pool(url, max_size=1, connect_timeout=CONNECT_TIMEOUT) as pool:
        with pool.connection() as conn:
            pid = conn.one(BACKEND_ID[server])
        with open_conn(url) as admin:
            admin.exec(END_SESSION[server], pid)
        spans.clear()
        assert Repo(pool).all(query(Member)) == []
    found = [
        s for s in statement_spans(spans) if attributes(s)["db.query.text"].startswith("SELECT")
    ]
    assert [attributes(s)["repodb.retried"] for s in found] == [False, True]
    assert attributes(found[0])["error.type"] == "ConnectionLost"
    assert "error.type" not in attributes(found[1])


def test_migrations_are_traced(tmp_path: Path, spans: Any) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "20240101000000_create_things.py").write_text(
        "from repodb.migration import Ops, column\n\n\n"
        "def change(ops: Ops) -> None:\n"
        "    ops.create_table('things', [column('id', int, primary_key=True)])\n",
        encoding="utf-8",
    )
    with Migrator(f"sqlite:///{tmp_path / 'm.db'}", directory) as migrator:
        spans.clear()
        assert [ran.version for ran in migrator.migrate()] == [20240101000000]
    texts = [attributes(s)["db.query.text"] for s in statement_spans(spans)]
    assert any(t.startswith('CREATE TABLE "things"') for t in texts), texts


def test_nothing_is_traced_once_uninstrumented(conn: repodb.Connection) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(tracer_provider=provider)
    otel.uninstrument()
    conn.one(Request.one("SELECT 1", row=int))
    assert exporter.get_finished_spans() == ()


def test_on_event_and_debug_logs_cover_a_bare_connection(
    conn: repodb.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    create_tables(conn)
    events: list[telemetry.QueryEvent] = []
    stop = telemetry.on_event(events.append)
    try:
        with caplog.at_level(logging.DEBUG, logger="repodb"):
            conn.exec(insert_member, (SECRET, "ada"))
            assert conn.one(count) == 1
            with pytest.raises(repodb.UniqueViolation):
                conn.exec(insert_member, (SECRET, "again"))
            Repo(conn, log_params=True).insert(Member(email="p@x", name="pat", password=SECRET))
    finally:
        stop()
    conn.one(count)
    assert [e.sql.split(" (")[0] for e in events][:3] == [
        "INSERT INTO members",
        count.sql,
        "INSERT INTO members",
    ]
    assert [e.rows for e in events][:2] == [1, 1]
    assert isinstance(events[2].error, repodb.UniqueViolation)
    assert len(events) == 4  # none after stop()
    assert all(e.params is None for e in events[:3])
    assert events[3].params is not None
    assert telemetry.REDACTED in events[3].params
    records = [r for r in caplog.records if getattr(r, "event", None) == "statement"]
    assert [r.sql for r in records] == [e.sql for e in events]  # type: ignore[attr-defined]
    failed = records[2]
    assert failed.error == "UniqueViolation"  # type: ignore[attr-defined]
    assert failed.code == UNIQUE_CODE[conn.dialect.name] or failed.sqlstate == "23505"  # type: ignore[attr-defined]
    assert failed.getMessage().startswith("primary ")
    assert "error UniqueViolation" in failed.getMessage()
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert all(SECRET not in repr(getattr(r, "params", None)) for r in records)


def test_the_async_side_traces_the_same(db_url: str, spans: Any) -> None:
    with open_conn(db_url) as setup:
        create_tables(setup)

    async def body() -> None:
        async with AsyncPool(db_url, max_size=1, connect_timeout=CONNECT_TIMEOUT) as pool:
            repo = AsyncRepo(pool)
            await repo.insert(Member(email="a@x", name="ada"))
            async with pool.connection() as conn:
                assert await conn.one(count) == 1
                async with conn.stream(names, "nobody") as rows:
                    assert [name async for name in rows] == ["ada"]
            async with repo.stream(query(Member)) as members:
                assert [m.name async for m in members] == ["ada"]

    spans.clear()
    asyncio.run(asyncio.wait_for(body(), 60))
    found = statement_spans(spans)
    assert [s.name for s in found] == [
        f"{op} members" for op in ("INSERT", "SELECT", "SELECT", "SELECT")
    ]
    assert [attributes(s).get("db.response.returned_rows") for s in found] == [1, 1, 1, 1]
    # A checkout shows on the first statement after it: the insert's, the block's, the stream's.
    checked = [any(e.name == "repodb.pool.checkout" for e in s.events) for s in found]
    assert checked == [True, True, False, True]


def test_router_decisions_checkouts_and_migrations_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'logged.db'}"
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "20240101000000_create_members.py").write_text(
        "from repodb.migration import Ops, column\n\n\n"
        "def change(ops: Ops) -> None:\n"
        "    ops.create_table('members', [column('id', int, primary_key=True),"
        " column('email', str), column('name', str)])\n",
        encoding="utf-8",
    )
    events: list[telemetry.QueryEvent] = []
    stop = telemetry.on_event(events.append)
    caplog.set_level(logging.DEBUG, logger="repodb")
    try:
        with Migrator(url, directory) as migrator:
            migrator.migrate()
        config = CqrsConfig(url, replica_conninfos=[url], check_interval=0.05)
        with Cqrs(config) as router:
            assert router.with_read(lambda conn: conn.one(count)) == 0
    finally:
        stop()
    kinds = {getattr(r, "event", None) for r in caplog.records}
    assert {"statement", "checkout", "route", "migration"} <= kinds
    (route,) = [r for r in caplog.records if getattr(r, "event", None) == "route"]
    assert (route.intent, route.source) == ("read", "replica 1")  # type: ignore[attr-defined]
    migrated = [r for r in caplog.records if getattr(r, "event", None) == "migration"]
    assert [r.version for r in migrated] == [20240101000000] * 2  # type: ignore[attr-defined]
    assert any(e.sql.startswith('CREATE TABLE "members"') for e in events)
    (read,) = [e for e in events if e.sql == count.sql]
    assert read.source == "replica 1"
