"""The test sandbox: a sample application's own suite run with the plugin, and Sandbox itself.

The sample application (``tests/sandbox_app``) is a small blog with its own
pytest suite that uses repodb's fixtures. It runs here in a pytest process
of its own, on SQLite and on the test PostgreSQL and MariaDB primaries; the
run must pass with the expected outcome counts and leave the database as it
found it: the tables its setup created, without a row, on the primary and on
each replica. On the servers it runs twice on the same schema (database). A second project, written
to a temporary folder, is what a careless suite does: a transaction left open
on ``repodb_sandbox.connection``, threads writing through ``repodb_repo`` at
once, a test failing midway; it runs twice on each database and leaves no
row. The same project on an unreachable server fails each setup with one
clear line, connecting once, and never shows the password; with
``-p no:repodb`` other tests run as if repodb were not installed.
The other tests use ``Sandbox`` directly on real connections (a ``COMMIT``
sent as SQL fails at once and keeps nothing after it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import repodb
from repodb import (
    Connection,
    InFailedTransaction,
    IsolationLevel,
    ReadOnlyError,
    Repo,
    Request,
    SerializationFailure,
    UniqueViolation,
)
from repodb.cqrs import Cqrs, CqrsConfig
from repodb.sandbox import Sandbox
from repodb.types import tup
from repodb.url import parse_url

from ..conftest import (
    CONNECT_TIMEOUT,
    STATEMENT_TIMEOUT,
    empty_database_url,
    mariadb_replica_urls,
    open_conn,
    replica_urls,
    with_database,
    with_search_path,
)

pytestmark = pytest.mark.mariadb

APP = Path(__file__).resolve().parent.parent / "sandbox_app"
# What the sample application's suite reports when the sandbox works.
APP_OUTCOMES = {"passed": 18, "xfailed": 1}
APP_TABLES = ("posts", "comments")
# Bounds the whole sample run; the suite itself takes seconds.
RUN_TIMEOUT = 100.0

_OUTCOME = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")
_CREATE_ITEMS = Request.exec("CREATE TABLE items (id integer PRIMARY KEY, name text UNIQUE)")
_INSERT = Request.exec("INSERT INTO items (id, name) VALUES (?, ?)", params=tup(int, str))
_NAMES = Request.many("SELECT name FROM items ORDER BY id", row=str)


def _count(table: str) -> Request[None, int, repodb.One]:
    return Request.one(f"SELECT count(*) FROM {table}", row=int)


# -- the sample application's suite ---------------------------------------------------


def _plugin_args() -> list[str]:
    """Name the plugin on the command line unless repodb's entry point loads it already."""
    registered = any(ep.name == "repodb" for ep in entry_points(group="pytest11"))
    return [] if registered else ["-p", "repodb.testing"]


def run_app_suite(
    *args: str,
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    expected: Mapping[str, int] = APP_OUTCOMES,
) -> str:
    """Run the sample application's tests in a new pytest process; what it printed.

    ``env`` adds to the environment; the run must end with the ``expected``
    outcome counts and exit 0.
    """
    run_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    run_env.pop("REPODB_TEST_URL", None)
    if url is not None:
        run_env["REPODB_TEST_URL"] = url
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *_plugin_args(), *args]
    done = subprocess.run(
        command, cwd=APP, env=run_env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert _outcomes(done) == expected, done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def assert_tables_empty(url: str) -> None:
    with open_conn(url) as conn:
        for table in APP_TABLES:
            assert conn.one(_count(table)) == 0, table


def test_app_suite_on_sqlite_via_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'blog.db'}"
    run_app_suite(url=url)
    assert_tables_empty(url)


def test_app_suite_on_a_temporary_sqlite_file_by_default() -> None:
    run_app_suite()


# Per server: the primary's replication position, whether a replica has applied a
# position (polled), and the replicas' URLs of the test's schema (database).
_POSITION = {
    "postgresql": Request.one("SELECT pg_current_wal_lsn()::text", row=str),
    "mariadb": Request.one("SELECT @@gtid_binlog_pos", row=str),
}
_APPLIED = {
    "postgresql": Request.one(
        "SELECT pg_last_wal_replay_lsn() >= ?::pg_lsn", params=str, row=repodb.types.optional(bool)
    ),
    "mariadb": Request.one(
        "SELECT MASTER_GTID_WAIT(?, 0) = 0", params=str, row=repodb.types.optional(bool)
    ),
}


def _replicas_of(server: str, url: str) -> list[str]:
    if server == "postgresql":
        schema = url.rsplit("search_path%3D", 1)[1]
        return [with_search_path(replica, schema) for replica in replica_urls()]
    database = urlsplit(url).path[1:]
    return [with_database(replica, database) for replica in mariadb_replica_urls()]


@pytest.mark.replicas
@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_app_suite_on_a_server_leaves_primary_and_replicas_empty(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = empty_database_url(server, request, tmp_path)
    # Twice on the same schema: the second run finds what the first found.
    for _ in range(2):
        run_app_suite("--repodb-url", url)
        assert_tables_empty(url)
    with open_conn(url) as primary:
        wanted = primary.one(_POSITION[server])
    for replica in _replicas_of(server, url):
        _wait_for_replay(server, replica, wanted)
        assert_tables_empty(replica)


def _wait_for_replay(server: str, replica: str, position: str, timeout: float = 30.0) -> None:
    """Wait (bounded) until ``replica`` has applied the primary's changes up to ``position``."""
    deadline = time.monotonic() + timeout
    with open_conn(replica) as conn:
        while not conn.one(_APPLIED[server], position):
            assert time.monotonic() < deadline, f"{replica} did not apply {position} in {timeout} s"
            time.sleep(0.05)


# -- Sandbox on real connections --------------------------------------------------------


@pytest.fixture
def items_url(db_url: str) -> str:
    """A database with an empty ``items`` table, once per database kind."""
    with open_conn(db_url) as conn:
        conn.exec(_CREATE_ITEMS)
    return db_url


def _sandbox(url: str, *, timeout: float = 30.0) -> Sandbox:
    return Sandbox(
        url, timeout=timeout, connect_timeout=CONNECT_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT
    )


def _names(url: str) -> list[str]:
    with open_conn(url) as conn:
        return conn.all(_NAMES)


def test_everything_written_is_rolled_back_at_close(items_url: str) -> None:
    with _sandbox(items_url) as sandbox:
        conn = sandbox.connection
        conn.exec(_INSERT, (1, "a"))
        with conn.transaction():
            conn.exec(_INSERT, (2, "b"))
        assert conn.all(_NAMES) == ["a", "b"]
        assert not conn.in_transaction
    assert sandbox.closed
    assert _names(items_url) == []


def test_the_apps_transactions_are_savepoints(items_url: str) -> None:
    with _sandbox(items_url) as sandbox:
        repo = Repo(sandbox)
        with repo.transaction() as tx:
            tx.exec(_INSERT, (1, "kept"))
            assert tx.connection.in_transaction
            with tx.transaction() as inner:
                inner.exec(_INSERT, (2, "undone"))
                inner.rollback()
        with repo.transaction() as tx:
            tx.exec(_INSERT, (3, "rolled back"))
            tx.rollback()
        assert repo.all(_NAMES) == ["kept"]
    assert _names(items_url) == []


def test_a_failed_statement_outside_a_transaction_leaves_the_sandbox_usable(
    items_url: str,
) -> None:
    with _sandbox(items_url) as sandbox:
        conn = sandbox.connection
        conn.exec(_INSERT, (1, "a"))
        with pytest.raises(UniqueViolation):
            conn.exec(_INSERT, (2, "a"))
        conn.exec(_INSERT, (3, "c"))
        assert conn.all(_NAMES) == ["a", "c"]


def test_without_statement_savepoints_a_failure_spoils_the_test_only_on_postgresql(
    items_url: str,
) -> None:
    with Sandbox(
        items_url,
        connect_timeout=CONNECT_TIMEOUT,
        statement_timeout=STATEMENT_TIMEOUT,
        statement_savepoints=False,
    ) as sandbox:
        conn = sandbox.connection
        conn.exec(_INSERT, (1, "a"))
        with pytest.raises(UniqueViolation):
            conn.exec(_INSERT, (2, "a"))
        if conn.dialect.name == "postgresql":
            # The price of the saved round trips: the rest of the test cannot write.
            with pytest.raises(InFailedTransaction):
                conn.exec(_INSERT, (3, "c"))
        else:
            # SQLite undoes only the failed statement; the sandbox needs no savepoint there.
            conn.exec(_INSERT, (3, "c"))
            assert conn.all(_NAMES) == ["a", "c"]
    assert _names(items_url) == []


def test_a_failed_statement_inside_a_transaction_fails_it_as_in_production(
    items_url: str,
) -> None:
    with _sandbox(items_url) as sandbox:
        conn = sandbox.connection
        conn.exec(_INSERT, (1, "a"))

        def carry_on_after_a_failure() -> None:
            with conn.transaction():
                with pytest.raises(UniqueViolation):
                    conn.exec(_INSERT, (2, "a"))
                conn.exec(_INSERT, (3, "c"))

        with pytest.raises(InFailedTransaction):
            carry_on_after_a_failure()
        conn.exec(_INSERT, (4, "d"))
        assert conn.all(_NAMES) == ["a", "d"]


def test_run_transaction_retries_in_a_savepoint(items_url: str) -> None:
    attempts: list[int] = []

    def work(conn: Connection) -> int:
        attempts.append(1)
        conn.exec(_INSERT, (len(attempts), f"attempt {len(attempts)}"))
        if len(attempts) == 1:
            raise SerializationFailure("conflict, try again")
        return len(attempts)

    with _sandbox(items_url) as sandbox:
        conn = sandbox.connection
        assert conn.run_transaction(work, base_delay=0.0) == 2
        assert conn.all(_NAMES) == ["attempt 2"]


def test_transaction_options_are_accepted(items_url: str) -> None:
    with _sandbox(items_url) as sandbox:
        repo = Repo(sandbox)
        with repo.transaction(isolation=IsolationLevel.SERIALIZABLE) as tx:
            tx.exec(_INSERT, (1, "serializable"))
        assert repo.all(_NAMES) == ["serializable"]


@pytest.mark.mariadb(absent="MariaDB cannot make an open transaction read-only")
def test_a_read_only_transaction_refuses_writes_and_ends_writable(items_url: str) -> None:
    with _sandbox(items_url) as sandbox:
        repo = Repo(sandbox)
        repo.exec(_INSERT, (1, "before"))
        with repo.transaction(read_only=True) as tx:
            assert tx.all(_NAMES) == ["before"]
            with pytest.raises(ReadOnlyError):
                tx.exec(_INSERT, (2, "refused"))
            tx.rollback()
        with repo.transaction(read_only=True) as tx:
            assert tx.all(_NAMES) == ["before"]
        repo.exec(_INSERT, (3, "after"))
        assert repo.all(_NAMES) == ["before", "after"]


def test_a_borrowed_connection_is_rolled_back_and_left_open(items_url: str) -> None:
    with open_conn(items_url) as conn:
        with Sandbox(conn) as sandbox:
            sandbox.connection.exec(_INSERT, (1, "a"))
        assert not conn.closed
        assert not conn.in_transaction
        assert conn.all(_NAMES) == []
        conn.exec(_INSERT, (2, "after"))
    assert _names(items_url) == ["after"]


def test_a_connection_in_a_transaction_is_refused(items_url: str) -> None:
    with (
        open_conn(items_url) as conn,
        conn.transaction(),
        pytest.raises(ValueError, match="outside any transaction"),
    ):
        Sandbox(conn)


def test_a_closed_sandbox_refuses_checkouts_and_unknown_intents_fail(items_url: str) -> None:
    sandbox = _sandbox(items_url)
    with pytest.raises(ValueError, match="unknown intent"):
        sandbox.checkout("delete")
    sandbox.close()
    sandbox.close()
    with pytest.raises(RuntimeError, match="closed"), sandbox.checkout("read"):
        pass


def test_threads_wait_for_the_connection(items_url: str) -> None:
    holding, release = threading.Event(), threading.Event()
    with _sandbox(items_url, timeout=0.05) as sandbox:

        def hold() -> None:
            with sandbox.checkout("transaction") as conn:
                conn.exec(_INSERT, (1, "from a thread"))
                holding.set()
                release.wait(30)

        worker = threading.Thread(target=hold)
        worker.start()
        try:
            assert holding.wait(30)
            with pytest.raises(TimeoutError, match="another thread"), sandbox.checkout("read"):
                pass
        finally:
            release.set()
            worker.join(30)
        assert not worker.is_alive()
        with sandbox.checkout("read") as conn:
            assert conn.all(_NAMES) == ["from a thread"]
    assert _names(items_url) == []


def test_the_router_sends_every_route_to_the_sandbox(items_url: str) -> None:
    with _sandbox(items_url) as sandbox:
        cqrs = sandbox.router()
        assert isinstance(cqrs, Cqrs)
        with cqrs.write() as conn:
            conn.exec(_INSERT, (1, "written"))
        for route in (cqrs.read, cqrs.primary, cqrs.write):
            with route() as conn:
                assert conn is sandbox.connection
        assert cqrs.with_read(lambda conn: conn.all(_NAMES)) == ["written"]
        with cqrs.session() as session:
            assert Repo(session).all(_NAMES) == ["written"]
            assert session.last_write_lsn is None
        with cqrs.session() as session:
            with session.write() as conn:
                conn.exec(_INSERT, (2, "in a session"))
            token = session.token()
        # Nothing lags in a sandbox: the token only says that a write happened.
        assert token == f"rw1.{parse_url(items_url).driver}.0"
        with cqrs.session(after=token) as later:
            assert later.token() == token
            assert len(Repo(later).all(_NAMES)) == 2
        assert cqrs.config.primary_conninfo.startswith(items_url.split(":", 1)[0])
        cqrs.shutdown()
        assert cqrs.stats().replicas == ()
        with pytest.raises(IndexError):
            cqrs.mark_replica_unhealthy(0)
    assert _names(items_url) == []


@pytest.mark.postgresql
def test_a_failed_transaction_on_postgresql_is_rolled_back_and_the_next_sandbox_works(
    pg_schema_url: str,
) -> None:
    with open_conn(pg_schema_url) as conn:
        conn.exec(_CREATE_ITEMS)
    failing = Request.many("SELECT 1 / (3 - x) FROM generate_series(1, 5) AS x", row=int)
    with _sandbox(pg_schema_url) as sandbox:
        conn = sandbox.connection
        conn.exec(_INSERT, (1, "before"))
        # A stream has no savepoint of its own: its failure aborts the whole transaction.
        with pytest.raises(repodb.DataError), conn.stream(failing) as rows:
            list(rows)
        with pytest.raises(InFailedTransaction):
            conn.all(_NAMES)
    with _sandbox(pg_schema_url) as sandbox:
        assert sandbox.connection.all(_NAMES) == []
        sandbox.connection.exec(_INSERT, (1, "next"))
    assert _names(pg_schema_url) == []


@pytest.mark.replicas
@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_real_replicas_never_see_the_sandboxs_writes(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = empty_database_url(server, request, tmp_path)
    with open_conn(url) as conn:
        conn.exec(_CREATE_ITEMS)
        created = conn.one(_POSITION[server])
    replicas = _replicas_of(server, url)
    for replica in replicas:
        _wait_for_replay(server, replica, created)
    config = CqrsConfig(url, replica_conninfos=replicas, connect_timeout=CONNECT_TIMEOUT)
    with _sandbox(url) as sandbox, Cqrs(config) as production:
        sandboxed = sandbox.router()
        with sandboxed.write() as conn:
            conn.exec(_INSERT, (1, "uncommitted"))
        assert sandboxed.with_read(lambda conn: conn.all(_NAMES)) == ["uncommitted"]
        assert production.with_read(lambda conn: conn.all(_NAMES)) == []
        assert production.with_primary(lambda conn: conn.all(_NAMES)) == []


def test_ddl_on_mariadb_commits_first_and_fails_at_once(mariadb_db_url: str) -> None:
    # MariaDB commits the open transaction before any CREATE, ALTER or DROP: the sandbox
    # says so at once, as for a COMMIT sent as SQL, and keeps nothing written after it.
    with open_conn(mariadb_db_url) as conn:
        conn.exec(_CREATE_ITEMS)
    with _sandbox(mariadb_db_url) as sandbox:
        conn = sandbox.connection
        conn.exec(_INSERT, (1, "before"))
        with pytest.raises(RuntimeError, match="DDL on a database that commits before it"):
            conn.exec(Request.exec("CREATE TABLE other (id INT)"))
        conn.exec(_INSERT, (2, "after"))
    assert _names(mariadb_db_url) == ["before"]


@pytest.mark.parametrize("statement", ["COMMIT", "ROLLBACK"])
def test_a_commit_run_as_sql_fails_at_once_and_nothing_after_it_is_kept(
    items_url: str, statement: str
) -> None:
    with _sandbox(items_url) as sandbox:
        conn = sandbox.connection
        conn.exec(_INSERT, (1, "before"))
        with pytest.raises(RuntimeError, match=r"a statement ended the sandbox's transaction"):
            conn.exec(Request.exec(statement))
        # A new transaction began: what follows is rolled back as usual.
        conn.exec(_INSERT, (2, "after"))
        with conn.transaction():
            conn.exec(_INSERT, (3, "in a savepoint"))
        assert conn.all(_NAMES)[-2:] == ["after", "in a savepoint"]
    # Only what the COMMIT itself committed stays (the error said so).
    assert _names(items_url) == (["before"] if statement == "COMMIT" else [])


# -- the plugin in a project of its own ---------------------------------------------------

_PROJECT_CONFTEST = """\
import pytest
import repodb


@pytest.fixture(scope="session")
def repodb_setup(repodb_url):
    with repodb.connect(repodb_url) as conn:
        conn.exec(repodb.Request.exec(
            "CREATE TABLE IF NOT EXISTS items (id integer PRIMARY KEY, name text UNIQUE)"
        ))
"""

_PROJECT_TESTS = """\
import contextlib
import threading

from repodb import Request
from repodb.types import tup
from repodb.url import parse_url

INSERT = Request.exec("INSERT INTO items (id, name) VALUES (?, ?)", params=tup(int, str))
COUNT = Request.one("SELECT count(*) FROM items", row=int)


def test_leaves_a_transaction_open_on_the_connection(repodb_sandbox):
    conn = repodb_sandbox.connection
    contextlib.ExitStack().enter_context(conn.transaction())
    conn.exec(INSERT, (1, "left open"))


def test_threads_write_through_the_repo_at_once(repodb_repo, repodb_cqrs):
    assert repodb_repo.one(COUNT) == 0
    errors = []

    def work(first):
        try:
            for i in range(first, first + 10):
                with repodb_repo.transaction() as conn:
                    conn.exec(INSERT, (i, f"item {i}"))
                repodb_cqrs.with_read(lambda conn: conn.one(COUNT))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n * 100,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with repodb_cqrs.session() as session:
        session.with_write(lambda conn: conn.exec(INSERT, (999, "in a session")))
        assert session.with_read(lambda conn: conn.one(COUNT)) == 41


def test_fails_midway(repodb_repo):
    repodb_repo.exec(INSERT, (1, "then fails"))
    raise AssertionError("midway")


def test_starts_clean(repodb_repo):
    assert repodb_repo.one(COUNT) == 0
"""


# pytest-asyncio, installed with the dev extra, warns (an error here) unless its loop scope is set.
PROJECT_INI = "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"


def run_project(
    tmp_path: Path,
    *args: str,
    tests: str = _PROJECT_TESTS,
    conftest: str = _PROJECT_CONFTEST,
    ini: str = PROJECT_INI,
    python: Sequence[str] = ("-m", "pytest"),
) -> subprocess.CompletedProcess[str]:
    """A new pytest process in a project of ``tmp_path`` that uses repodb's fixtures.

    ``python`` is what the interpreter runs: pytest, or a script that starts it.
    """
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "conftest.py").write_text(conftest)
    (project / "test_project.py").write_text(tests)
    (project / "pytest.ini").write_text(ini)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("REPODB_TEST_URL", None)
    command = [sys.executable, *python, "-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )


def _outcomes(done: subprocess.CompletedProcess[str]) -> dict[str, int]:
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return {kind: int(n) for n, kind in _OUTCOME.findall(summary)}


def test_a_project_on_sqlite_and_on_postgresql_twice(tmp_path: Path, db_url: str) -> None:
    # Twice on the same database: the first run left nothing behind.
    for _ in range(2):
        done = run_project(tmp_path, *_plugin_args(), "--repodb-url", db_url)
        assert _outcomes(done) == {"passed": 3, "failed": 1}, done.stdout + done.stderr
        assert "AssertionError: midway" in done.stdout
        with open_conn(db_url) as conn:
            assert conn.one(_count("items")) == 0


def test_an_unreachable_database_fails_each_setup_clearly_and_connects_once(
    tmp_path: Path,
) -> None:
    # Port 1 on the loopback refuses at once; the password must never show.
    url = "postgresql://app:Pa55-w0rd-never-shown@127.0.0.1:1/app"
    tests = _PROJECT_TESTS + "\n\ndef test_shows_its_url(repodb_url):\n    assert not repodb_url\n"
    # Without a setup of its own: what the plugin's fixtures say.
    done = run_project(tmp_path, *_plugin_args(), "--repodb-url", url, tests=tests, conftest="")
    output = done.stdout + done.stderr
    assert _outcomes(done) == {"failed": 1, "errors": 4}, output
    assert "Pa55-w0rd" not in output
    assert "repodb_url = 'postgresql://app:***@127.0.0.1:1/app'" in output
    # Each setup error is the one-line reason, without a traceback; the first
    # setup tried, the three after it said so without trying again.
    failures = re.findall(
        r"^cannot connect to postgresql://app:\*\*\*@127\.0\.0\.1:1/app: ", output, re.M
    )
    assert len(failures) == 4, output
    # (Counted outside the short summary, which under CI=true repeats whole messages.)
    details = output.split("short test summary info")[0]
    assert details.count("(as for an earlier test; not retried)") == 3, output
    assert "Traceback" not in output


def test_the_plugin_turned_off_leaves_other_tests_alone(tmp_path: Path) -> None:
    tests = "def test_plain():\n    assert 1 + 1 == 2\n"
    done = run_project(tmp_path, "-p", "no:repodb", tests=tests)
    assert _outcomes(done) == {"passed": 1}, done.stdout + done.stderr
    assert done.returncode == 0


def test_an_in_memory_database_is_refused_with_the_reason(tmp_path: Path) -> None:
    done = run_project(tmp_path, *_plugin_args(), "--repodb-url", "sqlite::memory:")
    output = done.stdout + done.stderr
    assert _outcomes(done) == {"errors": 4}, output
    assert "an in-memory SQLite database exists for one connection only" in output
    assert "Traceback" not in output
