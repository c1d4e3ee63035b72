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
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .repo import Repo
    from .sandbox import Sandbox, SandboxRouter

__all__ = [
    "pytest_addoption",
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
    from .errors import ConnectError
    from .sandbox import Sandbox

    failed = request.config.stash.get(_CONNECT_FAILURE, None)
    if failed is not None:
        pytest.fail(f"{failed} (as for an earlier test; not retried)", pytrace=False)
    try:
        sandbox = Sandbox(repodb_url)
    except ConnectError as e:
        failed = str(e)
        request.config.stash[_CONNECT_FAILURE] = failed
    if failed is not None:
        # Outside the ``except``: the message says it all, and the driver's
        # frames under it would show the connection string, password
        # included, as their arguments.
        pytest.fail(failed, pytrace=False)
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
