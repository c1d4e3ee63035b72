"""The quickstart, run as a user runs it: on SQLite with no server, and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import pg_url

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"


def run_quickstart(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(QUICKSTART), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_quickstart_walks_through_every_step(database: str) -> None:
    out = run_quickstart() if database == "sqlite" else run_quickstart("--url", pg_url())
    for step in range(1, 10):
        assert f"\n{step}. " in "\n" + out
    # Validation errors, and a unique email turned into a field error.
    assert "'email': ['has invalid format']" in out
    assert "{'email': ['has already been taken']}" in out
    assert "inserted 50 drafts with insert_all" in out
    assert "Ada: 2 posts, 0 likes" in out
    assert "Grace: 51 posts, 1374 likes" in out
    # Top two posts per user, with their tags (the preload).
    assert "Ada: [\"Notes on the Analytical Engine ['math', 'engines']\"" in out
    assert "Grace: [\"Compilers ['languages']\", 'Draft 50 []']" in out
    # The Multi: one that commits, one that fails and rolls back.
    assert "now 54 posts" in out
    assert "step 'duplicate' failed: {'email': ['has already been taken']}" in out
    assert "Kay is None" in out
    assert "repodb.StaleEntryError" in out
    assert "the row keeps 'Ada Lovelace', version 2" in out
    assert out.rstrip().endswith("Done.")
