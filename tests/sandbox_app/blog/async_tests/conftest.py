"""The async blog's fixtures: its schema once per session, an AsyncBlog per test.

repodb's plugin gives each async test a sandbox (``repodb_async_cqrs`` is an
``AsyncCqrs`` over it). Which plugin runs the tests is chosen by
``BLOG_ASYNC_RUNNER``, so that one suite runs under each: ``asyncio``
(pytest-asyncio, strict mode: every module marked ``asyncio``), ``auto``
(pytest-asyncio's auto mode: no marks) or ``anyio`` (every module marked
``anyio``). An application picks one and writes ``pytestmark =
pytest.mark.anyio`` (or ``asyncio``) at the top of its test modules instead.
"""

from __future__ import annotations

import os

import pytest

import repodb
from repodb.cqrs_async import AsyncCqrs

from ..async_service import AsyncBlog
from ..schema import create_tables

_MARKS = {"asyncio": pytest.mark.asyncio, "anyio": pytest.mark.anyio, "auto": None}
_MARK = _MARKS[os.environ.get("BLOG_ASYNC_RUNNER", "asyncio")]


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Mark each test module for the chosen runner, as its ``pytestmark`` would."""
    if _MARK is not None and isinstance(collector, pytest.Module):
        collector.add_marker(_MARK)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """repodb's async drivers run on asyncio (anyio would also try trio when installed)."""
    return "asyncio"


@pytest.fixture(scope="session")
def repodb_setup(repodb_url: str) -> None:
    """Create the blog's tables once; every test's writes are rolled back."""
    with repodb.connect(repodb_url) as conn:
        create_tables(conn)


@pytest.fixture
def blog(repodb_async_cqrs: AsyncCqrs) -> AsyncBlog:
    """The async blog, on the test's sandbox."""
    return AsyncBlog(repodb_async_cqrs)
