"""The async sandbox fixture as pytest-asyncio runs it (see ``repodb.testing``).

Why a module of its own: ``pytest_asyncio.fixture`` marks a fixture for
pytest-asyncio, which in its default strict mode runs no other async
fixture; importing ``pytest_asyncio`` must wait until that plugin is known
to be active, so ``repodb.testing`` registers this module as a plugin then.
"""

from __future__ import annotations

import pytest_asyncio

from .testing import _ASYNCIO_SANDBOX, _async_sandbox_fixture

__all__: list[str] = []

# The async sandbox on the event loop pytest-asyncio runs the test on.
_repodb_async_sandbox_asyncio = pytest_asyncio.fixture(
    _async_sandbox_fixture(), name=_ASYNCIO_SANDBOX
)
