"""The ``create`` and ``drop`` commands: PostgreSQL and MariaDB databases, SQLite files.

Why: each kind of database is looked for, created and dropped its own way
(a PostgreSQL database through the server's ``postgres`` database, a MariaDB
one through a session of the server with no database, a SQLite database as
its file and the files of its log), while the commands' rules
(``--if-not-exists``, ``--if-exists``, the messages) are written once.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from .. import Request, connect
from ..url import DatabaseUrl
from .context import CONNECT_TIMEOUT, CommandError, Context
from .output import say

__all__ = ["create", "database_and_maintenance_url", "drop"]

# The database CREATE and DROP DATABASE run in, per server kind.
_MAINTENANCE_DATABASES = {"postgresql": "postgres", "mariadb": ""}


@dataclasses.dataclass(frozen=True)
class _Storage:
    """How a kind of database is named in messages, looked for, created and dropped."""

    name: Callable[[DatabaseUrl], str]
    exists: Callable[[DatabaseUrl], bool]
    create: Callable[[DatabaseUrl], None]
    drop: Callable[[DatabaseUrl], None]


def create(ctx: Context, args: argparse.Namespace) -> int:
    storage = _storage(ctx.parsed)
    what = storage.name(ctx.parsed)
    if storage.exists(ctx.parsed):
        if not args.if_not_exists:
            raise CommandError(f"{what} already exists")
        say(f"{what} already exists")
    else:
        storage.create(ctx.parsed)
        say(f"created {what}")
    return 0


def drop(ctx: Context, args: argparse.Namespace) -> int:
    storage = _storage(ctx.parsed)
    what = storage.name(ctx.parsed)
    if not storage.exists(ctx.parsed):
        if not args.if_exists:
            raise CommandError(f"{what} does not exist")
        say(f"{what} does not exist")
    else:
        storage.drop(ctx.parsed)
        say(f"dropped {what}")
    return 0


def _sqlite_file(url: DatabaseUrl) -> Path:
    if url.target == ":memory:":
        raise CommandError("an in-memory SQLite database is neither created nor dropped")
    return Path(url.target)


def _create_sqlite(url: DatabaseUrl) -> None:
    path = _sqlite_file(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Opening it writes a real database (in WAL mode), not just an empty file.
    connect(f"sqlite:///{path}").close()


def _drop_sqlite(url: DatabaseUrl) -> None:
    # The write-ahead log and its index belong to the database: a new file
    # of the same name would otherwise replay an old log.
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{_sqlite_file(url)}{suffix}").unlink(missing_ok=True)


_PG_DATABASE_EXISTS = Request.one_or_none(
    "SELECT 1 FROM pg_database WHERE datname = ?", params=str, row=int
)
_MARIADB_DATABASE_EXISTS = Request.one_or_none(
    "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", params=str, row=int
)


def _exists(query: Request[str, int, Any]) -> Callable[[DatabaseUrl], bool]:
    """Whether the database exists, asked on the maintenance connection."""

    def exists(url: DatabaseUrl) -> bool:
        name, maintenance = database_and_maintenance_url(url)
        with connect(maintenance, connect_timeout=CONNECT_TIMEOUT) as admin:
            return admin.one_or_none(query, name) is not None

    return exists


def _run_on_server(statement: str) -> Callable[[DatabaseUrl], None]:
    """Run ``statement`` (``{}`` is the quoted database name) on the maintenance connection."""

    def run(url: DatabaseUrl) -> None:
        name, maintenance = database_and_maintenance_url(url)
        with connect(maintenance, connect_timeout=CONNECT_TIMEOUT) as admin:
            admin.exec(Request.exec(statement.format(admin.dialect.quote(name)), oneshot=True))

    return run


def database_and_maintenance_url(url: DatabaseUrl) -> tuple[str, str]:
    """The database an address names, and an address of the same server to create it from.

    CREATE and DROP DATABASE run on a connection to another database of the
    server: PostgreSQL's ``postgres``, which exists on every cluster for
    this purpose; on MariaDB a session with no database at all.
    """
    maintenance_database = _MAINTENANCE_DATABASES[url.driver]
    if "://" not in url.target:  # a conninfo string: a later key overrides an earlier one
        name = url.options.get("dbname", "")
        maintenance = f"{url.target} dbname={maintenance_database}"
    else:
        parts = urlsplit(url.target)
        query = parse_qsl(parts.query, keep_blank_values=True)
        name = url.options.get("dbname") or unquote(parts.path.lstrip("/"))
        kept = urlencode([(k, v) for k, v in query if k != "dbname"])
        maintenance = parts._replace(path=f"/{maintenance_database}", query=kept).geturl()
    if not name:
        raise CommandError(f"{url.redacted} names no database (add /dbname to the URL)")
    if name == maintenance_database:
        raise CommandError(f"refusing to create or drop the maintenance database {name}")
    return name, maintenance


def _storage(url: DatabaseUrl) -> _Storage:
    """How ``url``'s kind of database is created and dropped; a CommandError where not known."""
    try:
        return _STORAGE[url.driver]
    except KeyError:
        raise CommandError(
            f"create and drop do not support {url.driver} yet: create the database with its own"
            " tools"
        ) from None


_STORAGE: dict[str, _Storage] = {
    "sqlite": _Storage(
        name=lambda url: f"SQLite database {_sqlite_file(url)}",
        exists=lambda url: _sqlite_file(url).exists(),
        create=_create_sqlite,
        drop=_drop_sqlite,
    ),
    "postgresql": _Storage(
        name=lambda url: f"database {database_and_maintenance_url(url)[0]}",
        exists=_exists(_PG_DATABASE_EXISTS),
        create=_run_on_server("CREATE DATABASE {}"),
        drop=_run_on_server("DROP DATABASE {}"),
    ),
    # utf8mb4 with its binary collation, as the tables migrations create.
    "mariadb": _Storage(
        name=lambda url: f"database {database_and_maintenance_url(url)[0]}",
        exists=_exists(_MARIADB_DATABASE_EXISTS),
        create=_run_on_server("CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
        drop=_run_on_server("DROP DATABASE {}"),
    ),
}
