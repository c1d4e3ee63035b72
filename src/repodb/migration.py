"""Migrations: versioned Python files that change the schema, up and down.

Why: an application's tables change with its code. A migration file says
how, with operations on columns declared by repodb types (the same types
requests and schemas use), and the ``Migrator`` applies the pending files
in order, each in a transaction of its own, recording each in the
``schema_migrations`` table. ``change(ops)`` is undone by running its
operations' inverses backwards; ``up(ops)``/``down(ops)`` say both ways.

A file ``migrations/20261126141500_create_users.py``::

    from repodb.migration import Ops, column
    from repodb.types import optional

    def change(ops: Ops) -> None:
        ops.create_table("users", [
            column("id", int, primary_key=True, autogenerate=True),
            column("email", str, unique=True),
            column("karma", optional(int), default=0),
        ])
        ops.create_index("users", ["karma"])

Run with ``Migrator("sqlite:///app.db").migrate()`` or ``repodb migrate``.
``diff(conn, schemas)`` lists the operations that bring a database to what
the schemas declare; ``new_migration(..., operations=...)`` writes them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from ._migration._builder import Ops, column, references
from ._migration._files import discover, write_new
from ._migration._records import (
    MigrationError,
    MigrationFile,
    MigrationLocked,
    MigrationStatus,
    Ran,
)
from ._migration.diff import declared_indexes, declared_tables, diff
from ._migration.ops import (
    NO_DEFAULT,
    ColumnDef,
    ForeignKey,
    IrreversibleError,
    Operation,
    Raw,
    References,
)
from ._migration.runner import OnDone, OnStart, Runner
from .connection import Connection, connect
from .request import One, Request
from .telemetry import logger as _logger
from .types import optional, tup

__all__ = [
    "NO_DEFAULT",
    "ColumnDef",
    "ForeignKey",
    "IrreversibleError",
    "MigrationError",
    "MigrationFile",
    "MigrationLocked",
    "MigrationStatus",
    "Migrator",
    "Operation",
    "Ops",
    "Ran",
    "Raw",
    "References",
    "column",
    "declared_indexes",
    "declared_tables",
    "diff",
    "new_migration",
    "references",
]


_SEARCH_PATH = Request.one("SELECT current_setting('search_path')", row=str)
_SET_SEARCH_PATH = Request.one("SELECT set_config('search_path', $1, false)", params=str, row=str)
_DATABASE = Request.one("SELECT DATABASE()", row=optional(str))
_SQLITE_DATABASES = Request.many("SELECT name, file FROM pragma_database_list", row=tup(str, str))


@dataclasses.dataclass(frozen=True)
class _Tenants:
    """What a tenant ``prefix`` is on one database, and how a migrator moves into it.

    Options:
        create: the statement creating it when missing (``{}``: its quoted
            name), or None where it is a database file of its own (SQLite:
            then migrated through a connection of its own).
        saved: the connection's setting to give back in ``close()``.
        enter: points the connection at the prefix (the name, unquoted).
        restore: gives back the setting ``saved`` read.
    """

    create: str | None
    saved: Request[None, str | None, One] | None = None
    enter: Callable[[Connection, str], None] | None = None
    restore: Callable[[Connection, str], None] | None = None


def _set_search_path(conn: Connection, value: str) -> None:
    conn.one(_SET_SEARCH_PATH, value)


def _use(conn: Connection, database: str) -> None:
    conn._run(f"USE {conn.dialect.quote(database)}")


_TENANTS: dict[str, _Tenants] = {
    # A schema, which the search_path is set to.
    "postgresql": _Tenants(
        create="CREATE SCHEMA IF NOT EXISTS {}",
        saved=_SEARCH_PATH,
        enter=lambda conn, prefix: _set_search_path(conn, conn.dialect.quote(prefix)),
        restore=_set_search_path,
    ),
    # A database (MariaDB's schemas are databases), which the session USEs.
    "mariadb": _Tenants(
        create="CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        saved=_DATABASE,
        enter=_use,
        restore=_use,
    ),
    # A database file: attached as the prefix, else <prefix>.db beside the main one.
    "sqlite": _Tenants(create=None),
}


class Migrator:
    """Applies and rolls back the migration files of a directory on one database.

    Options:
        source: a ``Connection``, or a database URL (the migrator then opens
            its own connection, and closes it in ``close()``).
        directory: the folder of migration files.
        table: the history table recording applied versions, in the
            connection's current schema (the name is one identifier).
        lock_timeout: seconds to wait for another migrator running at the
            same time (``MigrationLocked`` after that); None waits as long as
            it takes.
        ddl_lock_timeout: seconds a migration's statement may wait for a
            lock on a table other sessions are using (PostgreSQL's
            ``lock_timeout``, set for each migration); past it the migration
            fails and is rolled back. Why: an ``ALTER TABLE`` waiting for
            its lock makes every later query on that table wait behind it,
            so a migration stuck behind one long transaction stalls the
            application. None (the default) waits as long as it takes.
            SQLite takes its write lock when the migration begins, bounded
            by ``lock_timeout``.
        prefix: migrate one tenant (``Repo(source, prefix=...)``): on
            PostgreSQL the schema ``prefix``, created if missing, which the
            connection's ``search_path`` is set to until ``close()`` (so the
            tenant's tables and its own history table are there); on
            MariaDB the database ``prefix`` (its schemas are databases),
            created if missing (utf8mb4), which the session ``USE``s until
            ``close()``; on SQLite the database file attached as ``prefix``
            on ``source``, else ``<prefix>.db`` beside the main database
            file, migrated as a database of its own.

    MariaDB has no transactional DDL (each statement commits on its own):
    there no migration runs in a transaction, and the history table records
    how far each got (``status()``'s ``incomplete``); a migration that failed
    midway keeps what it did, and running it again resumes after its last
    completed operation. ``transactional`` says which kind of database this is.

    Example::

        with Migrator("sqlite:///app.db", "migrations") as migrator:
            for ran in migrator.migrate():
                print(ran.version, ran.name, f"{ran.seconds:.3f}s")
    """

    def __init__(
        self,
        source: Connection | str,
        directory: str | Path = "migrations",
        *,
        table: str = "schema_migrations",
        lock_timeout: float | None = 60.0,
        ddl_lock_timeout: float | None = None,
        prefix: str | None = None,
    ) -> None:
        if ddl_lock_timeout is not None and ddl_lock_timeout <= 0:
            raise ValueError(f"ddl_lock_timeout must be positive, got {ddl_lock_timeout}")
        if not isinstance(source, str | Connection):
            raise TypeError(
                "Migrator takes a Connection or a database URL (a str),"
                f" not {type(source).__name__}"
            )
        self.directory = Path(directory)
        self._owned = isinstance(source, str)
        self.connection = connect(source) if isinstance(source, str) else source
        # The search_path (database) to give back to a connection the migrator was lent.
        self._saved: str | None = None
        if prefix is not None:
            self._enter_prefix(prefix)
        self._runner = Runner(self.connection, table, lock_timeout, ddl_lock_timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection, if the migrator opened it (else restore its search_path)."""
        if self._owned:
            self.connection.close()
        elif self._saved is not None:
            restore = _TENANTS[self.connection.dialect.name].restore
            assert restore is not None
            restore(self.connection, self._saved)
            self._saved = None

    def _enter_prefix(self, prefix: str) -> None:
        """Point the migrator at the tenant ``prefix`` (see the class's ``prefix``)."""
        conn = self.connection
        tenants = _TENANTS.get(conn.dialect.name)
        if not prefix or tenants is None:
            raise MigrationError(f"no tenant prefix {prefix!r} on {conn.dialect.name}")
        if tenants.create is not None:
            assert tenants.enter is not None
            assert tenants.saved is not None
            conn._run(tenants.create.format(conn.dialect.quote(prefix)))
            if not self._owned:
                self._saved = conn.one(tenants.saved)
            tenants.enter(conn, prefix)
            return
        files = dict(conn.all(_SQLITE_DATABASES))
        path = files.get(prefix)
        if not path:
            main = files.get("main")
            if not main:
                raise MigrationError(
                    f"prefix={prefix!r} on an in-memory SQLite database: attach the tenant's"
                    " database file first (ATTACH DATABASE 'file' AS prefix)"
                )
            path = str(Path(main).with_name(f"{prefix}.db"))
        tenant = connect(f"sqlite:///{path}")
        if self._owned:
            conn.close()
        self.connection, self._owned = tenant, True

    @property
    def transactional(self) -> bool:
        """Whether each migration runs in a transaction of its own (False on MariaDB)."""
        return self._runner.rules.transactional_ddl

    def files(self) -> list[MigrationFile]:
        """The migration files, sorted by version (``MigrationError`` for a misnamed one)."""
        return discover(self.directory)

    def status(self) -> list[MigrationStatus]:
        """Every version: files applied or pending, and applied versions whose file is gone."""
        files = {f.version: f for f in self.files()}
        history = self._runner.history
        applied = history.applied()
        incomplete = history.incomplete() if history.tracked else {}
        rows = []
        for version in sorted(files.keys() | applied.keys() | incomplete.keys()):
            file = files.get(version)
            name, at = applied.get(version, (None, None))
            under_way = incomplete.get(version)
            rows.append(
                MigrationStatus(
                    version=version,
                    name=file.name if file is not None else (name or ""),
                    applied=version in applied,
                    applied_at=at,
                    file_missing=file is None,
                    incomplete=None if under_way is None else under_way.state,
                    steps=0 if under_way is None else under_way.steps,
                )
            )
        return rows

    def pending(self) -> list[MigrationFile]:
        """The files not applied yet, in version order."""
        applied = self._runner.history.applied()
        return [f for f in self.files() if f.version not in applied]

    def migrate(
        self,
        *,
        to: int | None = None,
        on_start: OnStart | None = None,
        on_done: OnDone | None = None,
    ) -> list[Ran]:
        """Apply the pending migrations in version order (up to and including ``to``).

        Each runs in its own transaction: when one fails, it is rolled back
        and ``MigrationError`` raised, and the ones before it stay applied.
        Every file is loaded first: one that does not load fails the run
        before anything ran.
        ``on_start(file, "up")`` and ``on_done(ran)`` report progress.
        """
        files = self.files()
        with self._runner.locked() as applied:
            todo = [
                f for f in files if f.version not in applied and (to is None or f.version <= to)
            ]
            return self._run(todo, "up", on_start, on_done)

    def rollback(
        self,
        *,
        step: int = 1,
        to: int | None = None,
        on_start: OnStart | None = None,
        on_done: OnDone | None = None,
    ) -> list[Ran]:
        """Undo the last ``step`` applied migrations, or all applied after version ``to``.

        ``to=0`` undoes every migration. Each is undone in its own
        transaction, newest first.
        """
        if step < 1:
            raise ValueError(f"step must be at least 1, got {step}")
        files = {f.version: f for f in self.files()}
        with self._runner.locked() as applied:
            versions = sorted(applied, reverse=True)
            chosen = [v for v in versions if v > to] if to is not None else versions[:step]
            missing = [v for v in chosen if v not in files]
            if missing:
                raise MigrationError(
                    f"cannot roll back version {missing[0]}: its file is missing from"
                    f" {str(self.directory)!r}",
                    version=missing[0],
                    name=applied[missing[0]][0],
                )
            return self._run([files[v] for v in chosen], "down", on_start, on_done)

    def _run(
        self,
        todo: list[MigrationFile],
        direction: Literal["up", "down"],
        on_start: OnStart | None,
        on_done: OnDone | None,
    ) -> list[Ran]:
        plans = [self._runner.prepare(file, direction) for file in todo]
        done = []
        for file, plan in zip(todo, plans, strict=True):
            fields = {"event": "migration", "version": file.version, "migration": file.name}
            _logger.debug(
                "migration %s %s %s",
                file.version,
                file.name,
                direction,
                extra={**fields, "direction": direction},
            )
            ran = self._runner.run(file, direction, plan, on_start, on_done)
            if ran is not None:
                done.append(ran)
                _logger.debug(
                    "migration %s %s %s done in %.3f s",
                    file.version,
                    file.name,
                    direction,
                    ran.seconds,
                    extra={**fields, "direction": direction, "seconds": ran.seconds},
                )
        return done


def new_migration(
    directory: str | Path,
    name: str,
    *,
    operations: Sequence[Operation] = (),
    now: dt.datetime | None = None,
) -> Path:
    """Write a new migration file ``<directory>/<YYYYMMDDHHMMSS>_<name>.py``.

    Without ``operations`` it is a skeleton with an empty ``change(ops)``;
    with them (as ``diff`` finds), their Python source. The version is
    ``now`` (default: the current UTC time), or the next free second.

    Example::

        path = new_migration("migrations", "create_users")
    """
    return write_new(Path(directory), name, operations, now)


for _obj in (Migrator, new_migration):
    _obj.__module__ = __name__
