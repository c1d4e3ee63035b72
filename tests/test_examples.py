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
    for step in range(1, 8):
        assert f"\n{step}. " in "\n" + out
    assert "repodb.UniqueViolation" in out
    assert "column='email'" in out
    assert "karma of ada is still 15, users: 2" in out
    assert "repodb.EncodeError: parameter 3: expected datetime, got str" in out
    assert out.rstrip().endswith("Done.")
