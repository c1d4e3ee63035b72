"""The test rig's own promise: in CI a PostgreSQL test without its server fails, never skips.

The same holds for the PgBouncer tests without ``REPODB_TEST_PGBOUNCER_URL``.

Runs one PostgreSQL test in a child pytest with the server's URL removed from
the environment: with ``CI=true`` it must fail naming the missing variable;
on a developer's machine (no ``CI``) it is reported as skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_TEST = "tests/integration/test_connect.py::test_postgresql_url"
PGBOUNCER_TEST = (
    "tests/integration/test_pgbouncer.py"
    "::test_the_same_request_from_threads_never_meets_a_prepared_statement"
)


def run_without_server(ci: str | None, test: str = PG_TEST) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPODB_TEST_PG")}
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_server_fails_in_ci(ci: str) -> None:
    done = run_without_server(ci)
    assert done.returncode == 1, done.stdout
    assert "REPODB_TEST_PG_URL is not set" in done.stdout
    # pytest.fail in a fixture is reported as an error: red, not skipped.
    assert "1 error" in done.stdout
    assert "skipped" not in done.stdout


def test_missing_server_skips_on_a_developer_machine() -> None:
    done = run_without_server(None)
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout


def test_a_missing_pgbouncer_fails_in_ci() -> None:
    done = run_without_server("true", PGBOUNCER_TEST)
    assert done.returncode == 1, done.stdout
    assert "REPODB_TEST_PGBOUNCER_URL is not set" in done.stdout
    assert "1 failed" in done.stdout
    assert "skipped" not in done.stdout
