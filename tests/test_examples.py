"""The quickstart, run as a user runs it: on SQLite with no server, on PostgreSQL and MariaDB.

Step 10 (CQRS) runs on each server's real replicas.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import mariadb_replica_urls, mariadb_url, pg_url, replica_urls

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


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"])
def test_quickstart_walks_through_every_step(database: str) -> None:
    steps = 10
    if database == "sqlite":
        out = run_quickstart()
    elif database == "postgresql":
        replicas = [arg for url in replica_urls() for arg in ("--replica", url)]
        out = run_quickstart("--url", pg_url(), *replicas)
    else:
        replicas = [arg for url in mariadb_replica_urls() for arg in ("--replica", url)]
        out = run_quickstart("--url", mariadb_url(), *replicas)
    for step in range(1, steps + 1):
        assert f"\n{step}. " in "\n" + out
    # The blog's tables come from examples/migrations, and match the schemas.
    assert "   up 20261126090000 create_blog (" in out
    assert "   up 20261126090500 add_post_likes (" in out
    assert "2 migrations applied; diff with the schemas: no difference" in out
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
    # CQRS: the read before the write on a replica, the write on the primary,
    # and the read after it on a replica that has replayed it (or the primary).
    assert "read back: 'Linus T.' (a session reads its own writes)" in out
    if database == "sqlite":
        assert "statements ran on: replica 1, primary, replica 2" in out
    else:
        ran_on = out.split("statements ran on: ")[1].splitlines()[0].split(", ")
        assert ran_on[0] in ("replica 1", "replica 2")
        assert ran_on[1] == "primary"
        assert ran_on[2] in ("replica 1", "replica 2", "primary")
    assert out.rstrip().endswith("Done.")
