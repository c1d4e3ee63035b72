"""repodb's pytest plugin: every test in a transaction that is rolled back afterwards.

Why: an application's test suite should not need to recreate tables or
delete rows between tests. The fixtures here give each test a
``repodb.sandbox.Sandbox``: one connection to the primary inside a
transaction that ends in a rollback, while the application's own
``repo.transaction()`` blocks (savepoints there) and CQRS reads (routed to
the same connection) behave as in production.

Installed with repodb, the plugin loads in every pytest run (``-p no:repodb``
turns it off); it only adds the ``--repodb-url`` option and fixtures, and
imports nothing of repodb until a test uses one. An unreachable database
fails the first test's setup with one line, and the later tests' at once;
``repodb_url`` shows its password as ``***`` in tracebacks.

Fixtures:
    repodb_url: the test database (session): ``--repodb-url``, else the
        ``REPODB_TEST_URL`` environment variable, else a fresh SQLite file.
    repodb_setup: override it (session scope) to create the application's
        schema once, e.g. by running its migrations; it does nothing here.
    repodb_sandbox: a ``Sandbox`` on ``repodb_url`` for one test.
    repodb_repo: ``Repo(repodb_sandbox)``.
    repodb_cqrs: ``repodb_sandbox.router()``, a ``Cqrs`` over the sandbox.
    repodb_async_sandbox, repodb_async_repo, repodb_async_cqrs: the same for
        asyncio tests (``AsyncSandbox``, ``AsyncRepo``, ``AsyncCqrs``), run by
        pytest-asyncio or by anyio's pytest plugin, whichever runs the test.

Async tests: an async fixture is run by the plugin that runs async tests,
and the two disagree on how a fixture says it is theirs: pytest-asyncio (in
its default strict mode) takes only fixtures made by ``pytest_asyncio.fixture``
and runs them on its own event loop; anyio takes plain async fixtures, for
tests that use its ``anyio_backend``. So ``repodb_async_sandbox`` is a plain
fixture that picks, for each test, one of two async fixtures opening the
same sandbox: anyio's when the test uses ``anyio_backend`` (which must be
``"asyncio"``), else pytest-asyncio's (loaded, with ``pytest_asyncio``
itself, only when that plugin is active). The sandbox is thus opened on the
event loop the test runs on. Neither package is imported unless it is
installed and loaded as a plugin, and sync tests see no change.

Example (an application's ``conftest.py``)::

    @pytest.fixture(scope="session")
    def repodb_setup(repodb_url):
        with repodb.connect(repodb_url) as conn:
            create_tables(conn)

    @pytest.fixture
    def blog(repodb_cqrs):
        return Blog(repodb_cqrs)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .repo import Repo
    from .repo_async import AsyncRepo
    from .sandbox import Sandbox, SandboxRouter
    from .sandbox_async import AsyncSandbox, AsyncSandboxRouter

__all__ = [
    "pytest_addoption",
    "pytest_configure",
    "repodb_async_cqrs",
    "repodb_async_repo",
    "repodb_async_sandbox",
    "repodb_cqrs",
    "repodb_repo",
    "repodb_sandbox",
    "repodb_setup",
    "repodb_url",
]

_URL_VARIABLE = "REPODB_TEST_URL"
# The first sandbox that could not connect, so later tests fail at once
# instead of each waiting out its connect timeout on an unreachable server.
_CONNECT_FAILURE = pytest.StashKey[str]()
# The fixtures repodb_async_sandbox picks from, by the plugin that runs the test.
_ANYIO_SANDBOX = "_repodb_async_sandbox_anyio"
_ASYNCIO_SANDBOX = "_repodb_async_sandbox_asyncio"


class _Url(str):
    """A database URL whose ``repr`` hides its password.

    Why: pytest prints a failing fixture's or test's arguments in its
    traceback (``repodb_url = 'postgresql://app:secret@db/app'``), and CI
    logs are read by more people than the password's owners.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        from .url import parse_url

        try:
            return repr(parse_url(str(self)).redacted)
        except ValueError:  # not a URL repodb reads: it cannot say where a password is
            return "'<a database URL repodb cannot read>'"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--repodb-url``."""
    group = parser.getgroup("repodb", "repodb test sandbox")
    group.addoption(
        "--repodb-url",
        default=None,
        help=f"database the repodb fixtures use (default: ${_URL_VARIABLE}, else a temporary "
        "SQLite file)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Load the pytest-asyncio flavour of the async sandbox when that plugin is active."""
    if config.pluginmanager.has_plugin("asyncio"):
        from . import _testing_asyncio

        config.pluginmanager.register(_testing_asyncio, "repodb-asyncio")


@pytest.fixture(scope="session")
def repodb_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test database's URL: ``--repodb-url``, ``$REPODB_TEST_URL`` or a new SQLite file."""
    given: str | None = request.config.getoption("repodb_url")
    url = given or os.environ.get(_URL_VARIABLE)
    if url:
        from .url import parse_url

        parsed = parse_url(url)
        if parsed.driver == "sqlite" and parsed.target == ":memory:":
            # Each connection gets a database of its own: the setup's tables
            # would be missing from every test's sandbox.
            pytest.fail(
                f"{url}: an in-memory SQLite database exists for one connection only, and "
                "the setup and each test's sandbox open their own; use a file "
                "(or no URL, for a temporary one)",
                pytrace=False,
            )
        return _Url(url)
    return _Url(f"sqlite:///{tmp_path_factory.mktemp('repodb') / 'test.db'}")


@pytest.fixture(scope="session")
def repodb_setup(repodb_url: str) -> None:
    """Override to set up the application's schema once per session; does nothing here.

    What it does is committed: tests run on top of it and roll back only
    their own writes. Make it idempotent (``CREATE TABLE IF NOT EXISTS``, or
    migrations, which skip what ran) when the database outlives a run.
    """


@pytest.fixture
def repodb_sandbox(
    request: pytest.FixtureRequest, repodb_url: str, repodb_setup: None
) -> Iterator[Sandbox]:
    """A ``Sandbox`` for one test: everything it writes is rolled back afterwards.

    When the database cannot be reached, the first test's setup fails with
    the connection error (after ``connect_timeout``, 10 s) and every later
    one at once with the same message.
    """
    from .sandbox import Sandbox

    connecting = _Connecting(request)
    with connecting:
        sandbox = Sandbox(repodb_url)
    connecting.check()
    with sandbox:
        yield sandbox


@pytest.fixture
def repodb_repo(repodb_sandbox: Sandbox) -> Repo:
    """``Repo(repodb_sandbox)``: a Repo whose writes the test's end rolls back."""
    from .repo import Repo

    return Repo(repodb_sandbox)


@pytest.fixture
def repodb_cqrs(repodb_sandbox: Sandbox) -> SandboxRouter:
    """A ``Cqrs`` whose reads and writes all use the sandbox, so reads see the test's writes."""
    return repodb_sandbox.router()


@pytest.fixture
def repodb_async_sandbox(request: pytest.FixtureRequest) -> AsyncSandbox:
    """An ``AsyncSandbox`` for one async test, opened on the test's event loop.

    Run by anyio's pytest plugin when the test uses ``anyio_backend`` (mark
    it ``@pytest.mark.anyio``; the backend must be ``"asyncio"``), else by
    pytest-asyncio (``@pytest.mark.asyncio``, or its auto mode). With
    pytest-asyncio, keep such tests on the default function-scoped event
    loop: the sandbox's connection belongs to the loop it was opened on.
    """
    if "anyio_backend" in request.fixturenames:
        backend = request.getfixturevalue("anyio_backend")
        name = backend if isinstance(backend, str) else backend[0]
        if name != "asyncio":
            pytest.fail(
                f"repodb's async drivers run on asyncio, and anyio_backend is {name!r}: "
                'override the anyio_backend fixture to return "asyncio"',
                pytrace=False,
            )
        chosen = _ANYIO_SANDBOX
    elif request.config.pluginmanager.has_plugin("asyncio"):
        chosen = _ASYNCIO_SANDBOX
    else:
        pytest.fail(
            "repodb's async fixtures need a plugin that runs async tests: pytest-asyncio "
            "(mark the test @pytest.mark.asyncio) or anyio (mark it @pytest.mark.anyio)",
            pytrace=False,
        )
    sandbox: AsyncSandbox = request.getfixturevalue(chosen)
    return sandbox


@pytest.fixture
def repodb_async_repo(repodb_async_sandbox: AsyncSandbox) -> AsyncRepo:
    """``AsyncRepo(repodb_async_sandbox)``: an async Repo whose writes the test's end rolls back."""
    from .repo_async import AsyncRepo

    return AsyncRepo(repodb_async_sandbox)


@pytest.fixture
def repodb_async_cqrs(repodb_async_sandbox: AsyncSandbox) -> AsyncSandboxRouter:
    """An ``AsyncCqrs`` whose every route is the async sandbox: its reads see the test's writes."""
    return repodb_async_sandbox.router()


def _async_sandbox_fixture() -> Callable[
    [pytest.FixtureRequest, str, None], AsyncIterator[AsyncSandbox]
]:
    """A new async fixture function opening the async sandbox, for one plugin to mark as its own.

    A new function each time: pytest-asyncio marks the very function it is
    given, and anyio's plugin must not find that mark on its own.
    """

    async def open_sandbox(
        request: pytest.FixtureRequest, repodb_url: str, repodb_setup: None
    ) -> AsyncIterator[AsyncSandbox]:
        from .sandbox_async import AsyncSandbox

        sandbox = AsyncSandbox(repodb_url)
        connecting = _Connecting(request)
        with connecting:
            await sandbox._open()
        connecting.check()
        async with sandbox:
            yield sandbox

    return open_sandbox


# The async sandbox as anyio's plugin runs it: a plain async fixture.
_repodb_async_sandbox_anyio = pytest.fixture(_async_sandbox_fixture(), name=_ANYIO_SANDBOX)


class _Connecting:
    """A ``with`` block opening a sandbox, where a ``ConnectError`` fails the test's setup.

    Entering fails at once when an earlier sandbox of the run could not
    connect. A ``ConnectError`` is kept, for this and every later sandbox,
    and the block ends quietly; ``check()`` then fails with its message,
    outside any ``except``: the driver's exception is not chained to the
    failure, as its frames would show the connection string, password
    included, as their arguments.
    """

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._stash = request.config.stash
        self._failed: str | None = None

    def __enter__(self) -> None:
        failed = self._stash.get(_CONNECT_FAILURE, None)
        if failed is not None:
            pytest.fail(f"{failed} (as for an earlier test; not retried)", pytrace=False)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        from .errors import ConnectError

        if not isinstance(exc, ConnectError):
            return False
        self._failed = self._stash[_CONNECT_FAILURE] = str(exc)
        return True

    def check(self) -> None:
        """Fail the setup with the connection error kept by the block, if any."""
        if self._failed is not None:
            pytest.fail(self._failed, pytrace=False)
