"""The async test sandbox: an asyncio application's suite under each async runner; AsyncSandbox.

The sample application (``tests/sandbox_app/blog/async_service.py``) is the blog written
for asyncio, with its own suite on repodb's async fixtures. It runs here in a
pytest process of its own under pytest-asyncio (strict mode, and auto mode)
and under anyio's pytest plugin (alone, and beside pytest-asyncio), on SQLite
and on the test PostgreSQL primary, and under pytest-asyncio on the MariaDB
primary; each run must pass with the expected
outcome counts, set up the sandbox through the fixture meant for its runner,
and leave the tables empty. Projects written to a temporary folder show the
plugin without any async runner (sync tests run, neither package is
imported, an async fixture fails with the reason), with an anyio backend
other than asyncio, and on an unreachable server. The other tests use
``AsyncSandbox`` directly, each in ``asyncio.run`` bounded by ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import repodb
from repodb import AsyncConnection, AsyncRepo, Request, UniqueViolation
from repodb.cqrs_async import AsyncCqrs
from repodb.sandbox_async import AsyncSandbox
from repodb.types import tup

from ..conftest import CONNECT_TIMEOUT, STATEMENT_TIMEOUT, empty_database_url, open_conn
from .test_sandbox import (
    _PROJECT_CONFTEST,
    _PROJECT_TESTS,
    _outcomes,
    _plugin_args,
    assert_tables_empty,
    run_app_suite,
    run_project,
)

pytestmark = pytest.mark.mariadb

BOUND = 30.0
ASYNC_APP_OUTCOMES = {"passed": 15, "xfailed": 1}
# The app's pytest.ini sets pytest-asyncio's loop scope, unknown when that plugin is off.
_UNKNOWN_INI = ("-W", "ignore:Unknown config option:pytest.PytestConfigWarning")
_ANYIO = "_repodb_async_sandbox_anyio"
_ASYNCIO = "_repodb_async_sandbox_asyncio"
# Runner: (BLOG_ASYNC_RUNNER, pytest arguments, the fixture that must open each sandbox).
RUNNERS = {
    "pytest-asyncio strict": ("asyncio", ("-p", "no:anyio"), _ASYNCIO),
    "pytest-asyncio auto": ("auto", ("-p", "no:anyio", "-o", "asyncio_mode=auto"), _ASYNCIO),
    "anyio": ("anyio", ("-p", "no:asyncio", *_UNKNOWN_INI), _ANYIO),
    "anyio beside pytest-asyncio": ("anyio", (), _ANYIO),
}

_CREATE_ITEMS = Request.exec("CREATE TABLE items (id integer PRIMARY KEY, name text UNIQUE)")
_INSERT = Request.exec("INSERT INTO items (id, name) VALUES (?, ?)", params=tup(int, str))
_NAMES = Request.many("SELECT name FROM items ORDER BY id", row=str)


# -- the sample application's suite ---------------------------------------------------


# Every runner on SQLite and PostgreSQL; the runner does not depend on the database, so
# MariaDB runs the suite under one (each run is a pytest process of its own, about 8 s).
APP_SUITE_RUNS = [
    *((kind, runner) for kind in ("sqlite", "postgresql") for runner in RUNNERS),
    ("mariadb", "pytest-asyncio strict"),
]


@pytest.mark.parametrize(("kind", "runner"), APP_SUITE_RUNS)
def test_the_async_app_suite_under_each_runner(
    kind: str, runner: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db_url = empty_database_url(kind, request, tmp_path)
    chosen, args, fixture = RUNNERS[runner]
    shown = run_app_suite(
        "--setup-show",
        "--repodb-url",
        db_url,
        *args,
        "blog/async_tests",
        env={"BLOG_ASYNC_RUNNER": chosen},
        expected=ASYNC_APP_OUTCOMES,
    )
    other = _ANYIO if fixture == _ASYNCIO else _ASYNCIO
    # Every test that took a sandbox had it opened by its runner's fixture.
    assert shown.count(f"SETUP    F {fixture}") == 16, shown
    assert other not in shown
    assert_tables_empty(db_url)


# -- the plugin in projects of their own ----------------------------------------------

# Starts pytest where importing pytest_asyncio or anyio fails, as when neither is installed.
_WITHOUT_ASYNC_PLUGINS = """\
import sys


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("pytest_asyncio", "anyio"):
            raise ImportError(f"{name} is not installed")
        return None


sys.meta_path.insert(0, NotInstalled())
import pytest

sys.exit(pytest.main(sys.argv[1:]))
"""

_ASYNC_FIXTURE_TESTS = """

def test_neither_async_runner_is_imported():
    import sys

    assert "pytest_asyncio" not in sys.modules and "anyio" not in sys.modules


def test_an_async_fixture_without_a_runner(repodb_async_sandbox):
    pass
"""


def test_without_an_async_runner_sync_tests_run_and_neither_is_imported(
    tmp_path: Path, db_url: str
) -> None:
    done = run_project(
        tmp_path,
        "-p",
        "no:asyncio",
        "-p",
        "no:anyio",
        *_UNKNOWN_INI,
        *_plugin_args(),
        "--repodb-url",
        db_url,
        tests=_PROJECT_TESTS + _ASYNC_FIXTURE_TESTS,
        python=("-c", _WITHOUT_ASYNC_PLUGINS),
    )
    output = done.stdout + done.stderr
    # The sync project's own outcomes, one more pass, and the async fixture's setup error.
    assert _outcomes(done) == {"passed": 4, "failed": 1, "error": 1}, output
    assert "repodb's async fixtures need a plugin that runs async tests" in output
    with open_conn(db_url) as conn:
        assert conn.one(Request.one("SELECT count(*) FROM items", row=int)) == 0


def test_an_anyio_backend_other_than_asyncio_is_refused_with_the_reason(tmp_path: Path) -> None:
    tests = textwrap.dedent(
        """\
        import pytest


        @pytest.mark.parametrize("anyio_backend", ["trio"])
        @pytest.mark.anyio
        async def test_on_trio(repodb_async_repo):
            pass
        """
    )
    done = run_project(tmp_path, *_plugin_args(), tests=tests, conftest=_PROJECT_CONFTEST)
    output = done.stdout + done.stderr
    assert _outcomes(done) == {"error": 1}, output
    assert "anyio_backend is 'trio'" in output
    assert "Traceback" not in output


def test_an_unreachable_database_fails_each_async_setup_clearly(tmp_path: Path) -> None:
    url = "postgresql://app:Pa55-w0rd-never-shown@127.0.0.1:1/app"
    tests = textwrap.dedent(
        """\
        import pytest


        @pytest.mark.asyncio
        async def test_first(repodb_async_repo):
            pass


        @pytest.mark.anyio
        async def test_second(repodb_async_cqrs, anyio_backend):
            pass
        """
    )
    conftest = 'import pytest\n\n\n@pytest.fixture\ndef anyio_backend():\n    return "asyncio"\n'
    done = run_project(
        tmp_path, *_plugin_args(), "--repodb-url", url, tests=tests, conftest=conftest
    )
    output = done.stdout + done.stderr
    assert _outcomes(done) == {"errors": 2}, output
    assert "Pa55-w0rd" not in output
    details = output.split("short test summary info")[0]
    assert details.count("cannot connect to postgresql://app:***@127.0.0.1:1/app: ") == 2, output
    assert details.count("(as for an earlier test; not retried)") == 1, output
    assert "Traceback" not in output


# -- AsyncSandbox on real connections ---------------------------------------------------


@pytest.fixture
def items_url(db_url: str) -> str:
    """A database with an empty ``items`` table, once per database kind."""
    with open_conn(db_url) as conn:
        conn.exec(_CREATE_ITEMS)
    return db_url


def _sandbox(url: str | AsyncConnection, *, timeout: float = 30.0) -> AsyncSandbox:
    return AsyncSandbox(
        url, timeout=timeout, connect_timeout=CONNECT_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT
    )


def run(body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` on a new event loop, bounded."""

    async def bounded() -> None:
        async with asyncio.timeout(BOUND):
            await body()

    asyncio.run(bounded())


def _names(url: str) -> list[str]:
    with open_conn(url) as conn:
        return conn.all(_NAMES)


def test_writes_and_savepoints_are_rolled_back_at_the_end(items_url: str) -> None:
    async def body() -> None:
        async with _sandbox(items_url) as sandbox:
            repo = AsyncRepo(sandbox)
            await repo.exec(_INSERT, (1, "outside"))
            async with repo.transaction() as tx:
                await tx.exec(_INSERT, (2, "kept"))
                async with tx.transaction() as inner:
                    await inner.exec(_INSERT, (3, "undone"))
                    inner.rollback()
            async with repo.transaction() as tx:
                await tx.exec(_INSERT, (4, "rolled back"))
                tx.rollback()
            with pytest.raises(UniqueViolation):
                await repo.exec(_INSERT, (5, "kept"))
            # The failed statement left the test's transaction usable, also on PostgreSQL.
            await repo.exec(_INSERT, (6, "after"))
            assert await repo.all(_NAMES) == ["outside", "kept", "after"]
            assert not sandbox.connection.in_transaction
        assert sandbox.closed

    run(body)
    assert _names(items_url) == []


def test_the_router_is_an_async_cqrs_whose_routes_are_the_sandbox(items_url: str) -> None:
    async def names(conn: AsyncConnection) -> list[str]:
        return await conn.all(_NAMES)

    async def body() -> None:
        async with _sandbox(items_url) as sandbox:
            cqrs = sandbox.router()
            assert isinstance(cqrs, AsyncCqrs)
            async with cqrs.write() as conn:
                await conn.exec(_INSERT, (1, "written"))
            for route in (cqrs.read, cqrs.primary, cqrs.write):
                async with route() as conn:
                    assert conn is sandbox.connection
            assert await cqrs.with_read(names) == ["written"]
            async with cqrs.session() as session:
                assert await AsyncRepo(session).all(_NAMES) == ["written"]
            await cqrs.shutdown()
            assert cqrs.stats().replicas == ()

    run(body)
    assert _names(items_url) == []


def test_tasks_take_turns_and_one_task_may_take_it_again(items_url: str) -> None:
    async def body() -> None:
        holding, release = asyncio.Event(), asyncio.Event()
        async with _sandbox(items_url, timeout=0.05) as sandbox:

            async def hold() -> None:
                async with sandbox.checkout("transaction") as conn:
                    await conn.exec(_INSERT, (1, "from a task"))
                    # The same task takes it again (a Repo operation inside its block).
                    async with sandbox.checkout("read") as again:
                        assert again is conn
                    holding.set()
                    await release.wait()

            worker = asyncio.create_task(hold())
            await holding.wait()
            with pytest.raises(TimeoutError, match="another thread or task"):
                async with sandbox.checkout("read"):
                    pass
            release.set()
            await worker
            async with sandbox.checkout("read") as conn:
                assert await conn.all(_NAMES) == ["from a task"]

    run(body)
    assert _names(items_url) == []


def test_a_task_cancelled_inside_a_block_gives_the_connection_back(items_url: str) -> None:
    async def body() -> None:
        started = asyncio.Event()
        async with _sandbox(items_url, timeout=5.0) as sandbox:

            async def stuck() -> None:
                async with sandbox.checkout("transaction") as conn:
                    await conn.exec(_INSERT, (1, "before the cancel"))
                    started.set()
                    await asyncio.Event().wait()

            worker = asyncio.create_task(stuck())
            await started.wait()
            worker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await worker
            async with sandbox.checkout("write") as conn:
                await conn.exec(_INSERT, (2, "after"))
                assert await conn.all(_NAMES) == ["before the cancel", "after"]

    run(body)
    assert _names(items_url) == []


def test_a_sandbox_is_used_open_and_refused_closed(items_url: str) -> None:
    async def body() -> None:
        sandbox = _sandbox(items_url)
        assert "not open yet" in repr(sandbox)
        with pytest.raises(RuntimeError, match="not open yet"):
            async with sandbox.checkout("read"):
                pass
        with pytest.raises(ValueError, match="unknown intent"):
            sandbox.checkout("delete")
        await sandbox.close()
        await sandbox.close()
        with pytest.raises(RuntimeError, match="closed"):
            async with sandbox:
                pass

    run(body)


def test_a_borrowed_connection_is_rolled_back_and_left_open(items_url: str) -> None:
    async def body() -> None:
        async with await repodb.connect_async(
            items_url, connect_timeout=CONNECT_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT
        ) as conn:
            async with _sandbox(conn) as sandbox:
                await sandbox.connection.exec(_INSERT, (1, "a"))
            assert not conn.closed
            assert not conn.in_transaction
            assert await conn.all(_NAMES) == []
            await conn.exec(_INSERT, (2, "after"))
            async with conn.transaction():
                with pytest.raises(ValueError, match="outside any transaction"):
                    _sandbox(conn)

    run(body)
    assert _names(items_url) == ["after"]


def test_a_commit_run_as_sql_fails_at_once(items_url: str) -> None:
    async def body() -> None:
        async with _sandbox(items_url) as sandbox:
            conn = sandbox.connection
            await conn.exec(_INSERT, (1, "before"))
            with pytest.raises(RuntimeError, match=r"a statement ended the sandbox's transaction"):
                await conn.exec(Request.exec("COMMIT"))
            await conn.exec(_INSERT, (2, "after"))

    run(body)
    # Only what the COMMIT itself committed stays (the error said so).
    assert _names(items_url) == ["before"]
