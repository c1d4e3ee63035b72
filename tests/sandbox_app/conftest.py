"""Keep repodb's own test run out of this sample application.

Its suite (``blog/tests``) runs in a pytest process of its own, rooted
here, started by ``tests/integration/test_sandbox.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Collect nothing unless pytest runs from this directory."""
    return True if config.rootpath != HERE else None
