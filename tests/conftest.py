"""Shared fixtures: database URLs for SQLite files and the test PostgreSQL and MariaDB clusters.

The PostgreSQL primary and replicas are started by ``scripts/test`` (through
``scripts/pg-cluster``), which exports ``REPODB_TEST_PG_URL`` and
``REPODB_TEST_PG_REPLICA_URLS``; the MariaDB ones likewise (through
``scripts/mariadb-cluster``), exporting ``REPODB_TEST_MARIADB_URL``. Without
them a test of that database is skipped on a developer's machine, and fails
under ``CI=true``: CI must never report a skipped database test as a pass.

``db_url`` (and ``conn``) run a test on SQLite and PostgreSQL, and on
MariaDB too in a module or for a test marked ``mariadb``: the suites whose
every test passes there. docs/mariadb.md lists what does not work yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from hypothesis import settings

import repodb
from repodb import Request
from repodb.dialect import MARIADB, POSTGRESQL, SQLITE, Dialect

# No per-example time limit: these machines are shared, and a property test
# must fail on what it checks, never on how long an example took.
settings.register_profile("repodb", deadline=None)
settings.load_profile("repodb")

PG_URL = os.environ.get("REPODB_TEST_PG_URL", "")
REPLICA_URLS = os.environ.get("REPODB_TEST_PG_REPLICA_URLS", "").split()
MARIADB_URL = os.environ.get("REPODB_TEST_MARIADB_URL", "")
MARIADB_REPLICA_URLS = os.environ.get("REPODB_TEST_MARIADB_REPLICA_URLS", "").split()
PGBOUNCER_URL = os.environ.get("REPODB_TEST_PGBOUNCER_URL", "")
PGBOUNCER_REPLICA_URLS = os.environ.get("REPODB_TEST_PGBOUNCER_REPLICA_URLS", "").split()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Every wait on a server in the tests is bounded by these.
CONNECT_TIMEOUT = 5.0
STATEMENT_TIMEOUT = 30.0


def require(
    value: object, what: str, missing: str = "is not set; run the suite with scripts/test"
) -> None:
    """Skip (or, in CI, fail) a test whose server (or interpreter) is not configured."""
    if value:
        return
    message = f"{what} {missing}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


# A tick of ``ticker``, and the loop lag the issue sets as the goal (50 ms).
TICK = 0.01
MAX_LOOP_LAG = 0.05


def assert_loop_ran(lags: list[float], during: float, what: str) -> None:
    """Check that the event loop kept running for ``during`` seconds of ``what``.

    A loop blocked by a call that should have waited shows one lag as long
    as the call. The check allows a quarter of the call's time (or the 50 ms
    goal, whichever is larger), so that a loaded shared machine, whose
    scheduler may wake a sleeping task late, cannot fail it, while a
    blocked loop still does; the lag itself is printed, against the goal.
    """
    worst = max(lags)
    goal = "within" if worst < MAX_LOOP_LAG else "OVER"
    print(f"\nloop lag during {what} ({during:.2f} s): max {worst * 1000:.1f} ms ({goal} 50 ms)")
    assert len(lags) >= 10, f"the loop ticked only {len(lags)} times in {during:.2f} s"
    assert worst < max(MAX_LOOP_LAG, during / 4), f"the loop stalled for {worst:.3f} s"


async def ticker(stop: asyncio.Event, lags: list[float]) -> None:
    """Tick every 10 ms until ``stop``, noting how late each tick woke (the loop's lag).

    A loop blocked by a call that should have waited (a connect, a SQLite
    statement run on the loop's thread) shows a lag as long as that call.
    """
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(TICK)
        lags.append(time.monotonic() - before - TICK)


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """A SQLite file at ``path`` whose write lock another connection holds for the block.

    A connect's switch to WAL retries while it is held (in Python: it can be
    interrupted or cancelled meanwhile); SQLite calls no busy handler there.
    """
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (n INTEGER)")
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.close()


def held_open(path: Path) -> bool:
    """Whether this process has the file ``path`` open (Linux's ``/proc/self/fd``).

    Where a connection is closed is proved by its file: closed, not left
    for the garbage collector to find (Python 3.13 warns when it does).
    """
    target = path.resolve()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            if Path(os.readlink(fd)) == target:
                return True
    return False


def pg_url() -> str:
    require(PG_URL, "REPODB_TEST_PG_URL")
    return PG_URL


def mariadb_url() -> str:
    require(MARIADB_URL, "REPODB_TEST_MARIADB_URL")
    return MARIADB_URL


def mariadb_replica_urls() -> list[str]:
    require(MARIADB_REPLICA_URLS, "REPODB_TEST_MARIADB_REPLICA_URLS")
    return MARIADB_REPLICA_URLS


def replica_urls() -> list[str]:
    require(REPLICA_URLS, "REPODB_TEST_PG_REPLICA_URLS")
    return REPLICA_URLS


def pgbouncer_url() -> str:
    """The test PgBouncer (``pool_mode = transaction``) before the primary, as repodb takes it.

    That is, with ``pooler=transaction``; ``scripts/pgbouncer env`` exports it without.
    """
    require(PGBOUNCER_URL, "REPODB_TEST_PGBOUNCER_URL")
    return f"{PGBOUNCER_URL}?pooler=transaction"


def pgbouncer_replica_urls() -> list[str]:
    """The same PgBouncer before each replica, with ``pooler=transaction``."""
    require(PGBOUNCER_REPLICA_URLS, "REPODB_TEST_PGBOUNCER_REPLICA_URLS")
    return [f"{url}?pooler=transaction" for url in PGBOUNCER_REPLICA_URLS]


def with_search_path(url: str, schema: str) -> str:
    """``url`` with its session ``search_path`` set to ``schema``."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def open_conn(url: str) -> repodb.Connection:
    return repodb.connect(url, connect_timeout=CONNECT_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT)


@contextmanager
def fresh_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables land in a fresh schema, dropped afterwards."""
    base = pg_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with open_conn(base) as admin:
        admin.exec(Request.exec(f"CREATE SCHEMA {schema}"))
    try:
        yield with_search_path(base, schema)
    finally:
        with open_conn(base) as admin:
            admin.exec(Request.exec(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables land in a fresh schema, dropped afterwards."""
    with fresh_schema_url() as url:
        yield url


def through_asyncpg(url: str) -> str:
    """``url`` (``postgresql://...``) asking for the asyncpg driver: ``postgresql+asyncpg://...``."""
    return "postgresql+asyncpg" + url[url.index(":") :]


def dialect_of(url: str) -> str:
    """The dialect of a test URL: ``postgresql`` (either driver), ``mariadb`` or ``sqlite``."""
    scheme = url.partition(":")[0]
    return {"postgresql+asyncpg": "postgresql", "mysql": "mariadb"}.get(scheme, scheme)


def dialect_record(url: str) -> Dialect:
    """The ``Dialect`` record of a test URL's database: its flags say what differs there."""
    return {"sqlite": SQLITE, "postgresql": POSTGRESQL, "mariadb": MARIADB}[dialect_of(url)]


def sync_twin(url: str) -> str:
    """``url`` for the sync API, which has psycopg only: without ``+asyncpg``."""
    return url.replace("postgresql+asyncpg:", "postgresql:", 1)


# The async suites' PostgreSQL drivers: psycopg (the default) and asyncpg.
ASYNC_PG_DRIVERS = ["postgresql", "asyncpg"]


@pytest.fixture(params=ASYNC_PG_DRIVERS)
def async_pg_schema_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """``pg_schema_url`` once through each async PostgreSQL driver."""
    with fresh_schema_url() as url:
        yield through_asyncpg(url) if request.param == "asyncpg" else url


@pytest.fixture
def async_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """``db_url`` for the async suites: SQLite, PostgreSQL through each async driver, MariaDB.

    MariaDB where marked ``mariadb``, as for ``db_url`` (``pytest_generate_tests``).
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if request.param == "mariadb":
        yield request.getfixturevalue("mariadb_db_url")
        return
    with fresh_schema_url() as url:
        yield through_asyncpg(url) if request.param == "asyncpg" else url


def with_database(url: str, database: str) -> str:
    """A ``mariadb://`` URL naming ``database`` instead of its own."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture
def mariadb_db_url() -> Iterator[str]:
    """A MariaDB URL of a fresh database (MariaDB's schemas are databases), dropped afterwards."""
    base = mariadb_url()
    database = f"t_{uuid.uuid4().hex[:12]}"
    with open_conn(base) as admin:
        admin.exec(
            Request.exec(f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        )
    try:
        yield with_database(base, database)
    finally:
        with open_conn(base) as admin:
            admin.exec(Request.exec(f"DROP DATABASE {database}"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``db_url`` runs on SQLite and PostgreSQL, and on MariaDB where marked ``mariadb``.

    ``@pytest.mark.mariadb(absent="why")`` on a test of a marked module
    leaves the MariaDB case out (not skipped: not made), for a feature
    MariaDB lacks; docs/mariadb.md lists them.
    """
    marker = metafunc.definition.get_closest_marker("mariadb")
    on_mariadb = ["mariadb"] if marker is not None and "absent" not in marker.kwargs else []
    # The async suites' ``db_url`` is their own (``async_db_url``: both async PostgreSQL drivers).
    if "async_db_url" in metafunc.fixturenames:
        kinds = ["sqlite", *ASYNC_PG_DRIVERS, *on_mariadb]
        metafunc.parametrize("async_db_url", kinds, indirect=True)
    elif "db_url" in metafunc.fixturenames:
        metafunc.parametrize("db_url", ["sqlite", "postgresql", *on_mariadb], indirect=True)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, once per database kind."""
    return empty_database_url(request.param, request, tmp_path)


def empty_database_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``db_url`` of one ``kind`` (sqlite, postgresql, mariadb), for a test parametrised itself."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    name = "pg_schema_url" if kind == "postgresql" else "mariadb_db_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def conn(db_url: str) -> Iterator[repodb.Connection]:
    """An open connection to an empty database, once per database kind."""
    with open_conn(db_url) as c:
        yield c


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs on PostgreSQL ``postgresql``, not only those that say so.

    Why: ``scripts/test`` runs the unit and SQLite tests once more on every
    other Python version with ``-m "not postgresql and not replicas and not
    mariadb_server"``; a test reaches the server through ``db_url``'s
    ``postgresql`` case or ``pg_schema_url`` without naming the marker, so it
    is added here; likewise ``mariadb_server`` for MariaDB's.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        fixtures = getattr(item, "fixturenames", ())
        on_postgresql = any(
            isinstance(p, str) and p in ("postgresql", "asyncpg") for p in params
        ) or any(f in ("pg_schema_url", "async_pg_schema_url") for f in fixtures)
        if on_postgresql or item.path.name == "test_pgbouncer.py":
            item.add_marker(pytest.mark.postgresql)
        if "mariadb" in params or "mariadb_db_url" in fixtures:
            item.add_marker(pytest.mark.mariadb_server)
