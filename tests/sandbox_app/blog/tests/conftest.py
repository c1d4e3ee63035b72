"""The blog's fixtures: its schema once per session, a Blog per test.

repodb's pytest plugin gives each test a sandbox (``repodb_cqrs`` is a
``Cqrs`` over it); here the blog gets it as its router.
"""

from __future__ import annotations

import pytest

import repodb
from repodb.cqrs import Cqrs

from ..schema import create_tables
from ..service import Blog


@pytest.fixture(scope="session")
def repodb_setup(repodb_url: str) -> None:
    """Create the blog's tables once; every test's writes are rolled back."""
    with repodb.connect(repodb_url) as conn:
        create_tables(conn)


@pytest.fixture
def blog(repodb_cqrs: Cqrs) -> Blog:
    """The blog, on the test's sandbox."""
    return Blog(repodb_cqrs)
