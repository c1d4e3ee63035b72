"""The seeded blog of ``test_repo_preload``, for the tests that read and write through it."""

from __future__ import annotations

import repodb
from repodb import Request
from repodb.repo import Repo
from repodb.telemetry import EventHandler

from .repo_models import create_tables
from .test_repo_preload import SEED

__all__ = ["seeded_repo"]


def seeded_repo(conn: repodb.Connection, on_event: EventHandler | None = None) -> Repo:
    """A Repo on ``conn`` holding the blog tables and ``SEED``'s rows."""
    create_tables(conn)
    for sql in SEED:
        conn.exec(Request.exec(sql))
    return Repo(conn, on_event=on_event)
