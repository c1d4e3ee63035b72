"""Driving the test cluster from the replica, pool and CQRS failure tests.

The clusters are the ones ``scripts/test`` started (their settings come from
the environment); ``cluster(...)`` runs a ``scripts/pg-cluster`` subcommand,
``maria_cluster(...)`` a ``scripts/mariadb-cluster`` one.
Every wait here is bounded: a test fails rather than hangs.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from repodb import Connection, Request
from tests.conftest import open_conn

__all__ = ["MARIA_SCRIPT", "SCRIPT", "cluster", "maria_cluster", "wait_applied", "wait_until"]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-cluster"
MARIA_SCRIPT = SCRIPT.with_name("mariadb-cluster")


def cluster(*args: str) -> None:
    """Run a pg-cluster subcommand with the suite's cluster settings."""
    if not os.environ.get("PGREPL_BASE"):
        pytest.fail("PGREPL_BASE is not set: run the suite with scripts/test")
    subprocess.run([str(SCRIPT), *args], check=True, timeout=120, capture_output=True)


def maria_cluster(*args: str) -> None:
    """Run a mariadb-cluster subcommand with the suite's MariaDB cluster settings."""
    if not os.environ.get("MARIAREPL_BASE"):
        pytest.fail("MARIAREPL_BASE is not set: run the suite with scripts/test")
    subprocess.run([str(MARIA_SCRIPT), *args], check=True, timeout=120, capture_output=True)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
    """Poll ``check`` until it is true (failing the test after ``timeout``); the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - started


_GTID_POSITION = Request.one("SELECT @@gtid_binlog_pos", row=str)
_GTID_WAIT = Request.one("SELECT MASTER_GTID_WAIT(?, 30)", params=str, row=int)


def wait_applied(primary: Connection, url: str) -> None:
    """Wait (30 s at most) until the MariaDB replica at ``url`` has what the primary logged."""
    position = primary.one(_GTID_POSITION)
    # Without the database: it may be the one the replica has yet to create.
    with open_conn(urlunsplit(urlsplit(url)._replace(path="/"))) as replica:
        assert replica.one(_GTID_WAIT, position) == 0, f"{url} did not apply {position}"
