"""Running migrations: the history table, the lock, one transaction per migration.

Why this shape: every migration runs in a transaction of its own, with its
row in the history table (``schema_migrations``) inserted or deleted in the
same transaction, so a migration is either wholly applied and recorded or
not at all. A lock keeps two migrators from running the same migration:
on PostgreSQL a session advisory lock held for the whole run (its key
derived from the schema and the history table, so migrators of different
schemas do not wait for each other); on SQLite the write transaction
itself (``BEGIN IMMEDIATE``; a second migrator waits on the busy timeout)
with a re-check, inside it, that the migration is still to run; so there
``transaction = False`` is ignored: without its transaction, a migration
would have no lock at all.

MariaDB has no transactional DDL: each statement commits on its own, so a
migration cannot be undone by a rollback. There every migration runs
outside a transaction, under a named lock (``GET_LOCK``, a bounded wait on
the server), and its history row is written before it starts (state
``migrating`` or ``rolling back``), advanced after each operation it
completes, and finished after it (``applied``, or deleted for a rollback);
a failure marks it ``failed`` (``rollback failed``). The history then says
how far a migration got, and running it again resumes after the last
operation that completed.

SQLite's table rebuild needs foreign keys off, and ``PRAGMA foreign_keys``
does nothing inside a transaction, so on SQLite every migration runs with
foreign keys off (as Django does) and ``PRAGMA foreign_key_check`` fails it
before COMMIT if it left a dangling reference; they are on again after.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import inspect
import math
import time
import types
from collections.abc import Callable, Iterator
from typing import Literal, TypeAlias

from ..connection import Connection
from ..errors import Error, ForeignKeyViolation, ProgrammingError, QueryError, ReadOnlyError
from ..request import Many, One, Request
from ..types import optional, to_dbtype, tup
from ._builder import Ops
from ._files import load
from ._records import MigrationError, MigrationFile, MigrationLocked, Ran
from .ddl import (
    bare_add_column,
    column_sql,
    needs_rebuild,
    operation_sql,
    outside_transaction,
)
from .ddl import rules as ddl_rules
from .ops import (
    AddColumn,
    AlterColumn,
    ColumnDef,
    DropColumn,
    IrreversibleError,
    Operation,
    inverse,
)

__all__ = ["History", "Incomplete", "Plan", "Runner", "lock"]

Direction = Literal["up", "down"]
OnStart = Callable[[MigrationFile, str], None]
OnDone = Callable[[Ran], None]
# A migration's ``up``/``down`` function, or the operations its ``change`` recorded.
Plan: TypeAlias = Callable[[Ops], None] | list[Operation]


@dataclasses.dataclass(frozen=True)
class _SessionLock:
    """A lock held by a server session for a whole run: how it is named, taken and released.

    ``key`` makes the lock's key from the current schema and the history
    table; ``take(conn, key, timeout)`` waits up to ``timeout`` seconds
    (None: as long as it takes) and says whether it got the lock;
    ``release(conn, key)`` lets it go.
    """

    key: Callable[[str, str], int | str]
    take: Callable[[Connection, int | str, float | None], bool]
    release: Callable[[Connection, int | str], None]


@dataclasses.dataclass(frozen=True)
class _SessionRules:
    """What differs between databases in running migrations, as data.

    Options:
        session_lock: a lock a server session holds for a run (PostgreSQL's
            advisory locks, MariaDB's ``GET_LOCK``); None where the
            per-migration write transaction is the lock (SQLite).
        transactional_ddl: DDL runs inside a transaction and is undone by
            its rollback; else (MariaDB) each statement commits on its own,
            and the history records how far a migration got.
        column_check: the SQL of a column's own CHECK, given the table and
            the column, where altering a column rewrites its whole definition
            (MariaDB's ``MODIFY COLUMN``): an ``alter_column`` without
            ``previous`` keeps it, as PostgreSQL's ``ALTER COLUMN`` does.
        current_schema: the schema (database) the migrations run in and
            ``diff`` compares (SQLite's is always ``main``), and
            ``no_schema`` the error when there is none.
        busy_timeout: the pragma bounding how long a write transaction
            waits for another (SQLite), set to the migrator's lock timeout.
        foreign_keys: the pragma switching foreign keys, and the one
            listing violations, where foreign keys are off during migrations.
        busy_code: the error code of a write transaction that waited in vain.
        ddl_lock_timeout: how a migration's statements bound their wait for a
            table lock, given milliseconds ``{ms}`` or whole seconds ``{s}``:
            in its transaction, and on the session (with the reset after)
            for one without. None where the
            write transaction taken at the start is the only lock (SQLite).
        lock_not_available: the SQLSTATE of a lock wait that ran out.
        column_constraints: the constraints of a column, given the quoted
            table and the column: where ``ALTER COLUMN`` drops them by name.
        table_exists: whether a table exists, given its name (quoted and
            qualified by the current schema, where ``exists_quoted``, as is
            the table ``column_constraints`` is given:
            PostgreSQL would resolve a bare name on the whole search path).
    """

    session_lock: _SessionLock | None
    busy_timeout: str | None
    foreign_keys: tuple[str, str] | None
    busy_code: str | None
    ddl_lock_timeout: tuple[str, str, str] | None
    lock_not_available: str | None
    table_exists: Request[str, bool, One]
    exists_quoted: bool
    column_constraints: Request[tuple[str, str], tuple[str, str], Many] | None
    current_schema: Request[None, str | None, One]
    transactional_ddl: bool = True
    column_check: Request[tuple[str, str], str, Many] | None = None
    no_schema: str = (
        "no schema to migrate: none of the search_path's schemas exists"
        " (create it, or fix the search_path)"
    )

    @property
    def advisory_lock(self) -> bool:
        return self.session_lock is not None


_POLL_SECONDS = 0.05
_try_lock = Request.one("SELECT pg_try_advisory_lock($1)", params=int, row=bool)
_wait_lock = Request.exec("SELECT pg_advisory_lock($1)", params=int)
_unlock = Request.exec("SELECT pg_advisory_unlock($1)", params=int)
# GET_LOCK: 1 got it, 0 timed out, NULL an error (such as being killed).
_get_lock = Request.one("SELECT GET_LOCK(?, ?)", params=tup(str, float), row=optional(int))
_release_lock = Request.exec("SELECT RELEASE_LOCK(?)", params=str)
# GET_LOCK's wait for "as long as it takes": a year (a negative wait is an error).
_FOREVER_SECONDS = 365 * 24 * 3600.0


def advisory_key(schema: str, table: str) -> int:
    """The advisory lock key of a history table: 64 bits of a hash of its qualified name."""
    digest = hashlib.sha256(f"repodb.migrations:{schema}.{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def named_lock_key(schema: str, table: str) -> str:
    """The ``GET_LOCK`` name of a history table: a hash of its qualified name, in 64 characters.

    MariaDB's user locks are server-wide, so the name carries the database;
    hashed, a long database or table name still fits MySQL's 64-character limit.
    """
    return "repodb_migrations_" + hashlib.sha256(f"{schema}.{table}".encode()).hexdigest()[:40]


def _take_advisory_lock(conn: Connection, key: int | str, timeout: float | None) -> bool:
    assert isinstance(key, int)
    if timeout is None:
        conn.exec(_wait_lock, key)
        return True
    deadline = time.monotonic() + timeout
    while not conn.one(_try_lock, key):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


def _release_advisory_lock(conn: Connection, key: int | str) -> None:
    assert isinstance(key, int)
    conn.exec(_unlock, key)


def _release_named_lock(conn: Connection, key: int | str) -> None:
    conn.exec(_release_lock, str(key))


def _take_named_lock(conn: Connection, key: int | str, timeout: float | None) -> bool:
    # The server waits (no polling); a fraction of a second is kept.
    seconds = _FOREVER_SECONDS if timeout is None else max(0.0, timeout)
    return conn.one(_get_lock, (str(key), seconds)) == 1


_SESSION_RULES: dict[str, _SessionRules] = {
    "sqlite": _SessionRules(
        session_lock=None,
        busy_timeout="PRAGMA busy_timeout",
        foreign_keys=("PRAGMA foreign_keys", "PRAGMA foreign_key_check"),
        busy_code="SQLITE_BUSY",
        ddl_lock_timeout=None,
        lock_not_available=None,
        table_exists=Request.one(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?",
            params=str,
            row=bool,
        ),
        exists_quoted=False,
        column_constraints=None,
        # A connection's own database is always "main".
        current_schema=Request.one("SELECT 'main'", row=optional(str), oneshot=True),
    ),
    "postgresql": _SessionRules(
        session_lock=_SessionLock(
            key=advisory_key,
            take=_take_advisory_lock,
            release=_release_advisory_lock,
        ),
        busy_timeout=None,
        foreign_keys=None,
        busy_code=None,
        # An ALTER waiting for its table's lock queues every later query on the
        # table behind it; a bounded wait fails the migration instead.
        ddl_lock_timeout=(
            "SET LOCAL lock_timeout = {ms}",
            "SET lock_timeout = {ms}",
            "RESET lock_timeout",
        ),
        lock_not_available="55P03",
        table_exists=Request.one("SELECT to_regclass($1) IS NOT NULL", params=str, row=bool),
        exists_quoted=True,
        # (kind, name) of a column's own UNIQUE, CHECK and FOREIGN KEY constraints.
        column_constraints=Request.many(
            "SELECT c.contype::text, c.conname::text FROM pg_constraint AS c"
            " JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND c.conkey = ARRAY[a.attnum]"
            " WHERE c.conrelid = to_regclass($1) AND a.attname = $2"
            " AND c.contype IN ('u', 'c', 'f') ORDER BY c.conname",
            params=tup(str, str),
            row=tup(str, str),
        ),
        current_schema=Request.one("SELECT current_schema()", row=optional(str), oneshot=True),
    ),
    "mariadb": _SessionRules(
        session_lock=_SessionLock(
            key=named_lock_key,
            take=_take_named_lock,
            release=_release_named_lock,
        ),
        busy_timeout=None,
        foreign_keys=None,
        busy_code=None,
        # The wait for a table's metadata lock, in whole seconds; the
        # migrations run outside transactions, so only the session form is used.
        ddl_lock_timeout=(
            "SET SESSION lock_wait_timeout = {s}",
            "SET SESSION lock_wait_timeout = {s}",
            "SET SESSION lock_wait_timeout = DEFAULT",
        ),
        lock_not_available="1205",  # ER_LOCK_WAIT_TIMEOUT
        table_exists=Request.one(
            "SELECT count(*) > 0 FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            params=str,
            row=bool,
        ),
        exists_quoted=False,
        # (kind, name) of the column's own UNIQUE keys and foreign keys (its
        # CHECK is part of its definition, which MODIFY COLUMN rewrites).
        column_constraints=Request.many(
            "SELECT 'u', INDEX_NAME FROM information_schema.STATISTICS"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = $1 AND NON_UNIQUE = 0"
            " AND INDEX_NAME <> 'PRIMARY' GROUP BY INDEX_NAME"
            " HAVING count(*) = 1 AND max(COLUMN_NAME) = $2"
            " UNION ALL SELECT 'f', CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = $1"
            " AND REFERENCED_TABLE_NAME IS NOT NULL GROUP BY CONSTRAINT_NAME"
            " HAVING count(*) = 1 AND max(COLUMN_NAME) = $2 ORDER BY 2",
            params=tup(str, str),
            row=tup(str, str),
        ),
        transactional_ddl=False,
        column_check=Request.many(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS"
            " WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ? AND LEVEL = 'Column'"
            " AND CONSTRAINT_NAME = ?",
            params=tup(str, str),
            row=str,
        ),
        current_schema=Request.one("SELECT DATABASE()", row=optional(str), oneshot=True),
        no_schema="no database to migrate: the URL names none (add /dbname to it)",
    ),
}


def _rules(conn: Connection) -> _SessionRules:
    try:
        return _SESSION_RULES[conn.dialect.name]
    except KeyError:
        raise MigrationError(f"migrations do not support {conn.dialect.name}") from None


def _pragma_value(conn: Connection, pragma: str) -> int:
    return conn.one(Request.one(pragma, row=int, oneshot=True))


@contextlib.contextmanager
def lock(conn: Connection, table: str, timeout: float | None) -> Iterator[None]:
    """Hold the migrations lock (PostgreSQL, MariaDB) or bound the write wait (SQLite) for a run."""
    rules = _rules(conn)
    if rules.session_lock is not None:
        session_lock = rules.session_lock
        if "pooler" in conn._url.options:
            # The lock belongs to a server session, which a transaction
            # pooler hands to other clients between statements.
            raise MigrationError(
                "migrations hold a session advisory lock, which a transaction pooler"
                " (pooler=transaction) does not keep: run them on a direct URL to the server"
            )
        schema = conn.one(rules.current_schema)
        if schema is None:
            raise MigrationError(rules.no_schema)
        key = session_lock.key(schema, table)
        if not session_lock.take(conn, key, timeout):
            raise MigrationLocked(
                f"another migrator has held the migrations lock for more than {timeout:g} s;"
                " wait for it to finish (or raise lock_timeout) and run again"
            )
        try:
            yield
        finally:
            # A session lock ends with its session anyway: when the connection
            # cannot unlock (lost, or an outer transaction it is in failed),
            # the error that got us here matters more.
            if not conn.closed and not conn.broken:
                with contextlib.suppress(QueryError):
                    session_lock.release(conn, key)
        return
    assert rules.busy_timeout is not None
    before = _pragma_value(conn, rules.busy_timeout)
    wait_ms = 2**31 - 1 if timeout is None else max(1, round(timeout * 1000))
    conn._run(f"{rules.busy_timeout} = {wait_ms:d}")
    try:
        yield
    finally:
        if not conn.closed:
            conn._run(f"{rules.busy_timeout} = {before:d}")


# A tracked history row's states: a migration under way (or stopped by a
# failure or a crash) in either direction, and done. While a migration is
# under way, ``steps`` counts the operations it completed.
APPLIED, MIGRATING, FAILED, ROLLING_BACK, ROLLBACK_FAILED = (
    "applied",
    "migrating",
    "failed",
    "rolling back",
    "rollback failed",
)
# The states in which a version counts as applied (its rollback is to run).
_APPLIED_STATES = (APPLIED, ROLLING_BACK, ROLLBACK_FAILED)


@dataclasses.dataclass(frozen=True)
class Incomplete:
    """A migration that started and did not finish: its state and the operations it completed."""

    state: str
    steps: int


class History:
    """The table recording applied versions: ``(version, name, inserted_at)``.

    ``tracked`` (where DDL is not transactional) adds ``state`` and ``steps``:
    a row is written before a migration runs and says how far it got.
    """

    def __init__(self, conn: Connection, table: str, *, tracked: bool = False) -> None:
        self.conn = conn
        self.table = table
        self.tracked = tracked
        d = conn.dialect
        name = d.quote(table)
        columns = [
            ColumnDef("version", to_dbtype(int), primary_key=True),
            ColumnDef("name", to_dbtype(str)),
            ColumnDef("inserted_at", to_dbtype(dt.datetime)),
        ]
        if tracked:
            columns += [
                ColumnDef("state", to_dbtype(str), default=APPLIED),
                ColumnDef("steps", to_dbtype(int), default=0),
            ]
        body = ", ".join(column_sql(d, c) for c in columns)
        options = ddl_rules(d).table_options
        self._create = f"CREATE TABLE IF NOT EXISTS {name} ({body}){options}"
        state = "state" if tracked else "'applied'"
        steps = "steps" if tracked else "0"
        self._select: Request[None, tuple[int, str | None, dt.datetime | None, str, int], Many] = (
            Request.many(
                f"SELECT version, name, inserted_at, {state}, {steps} FROM {name} ORDER BY version",
                row=tup(int, optional(str), optional(dt.datetime), str, int),
            )
        )
        applied = " AND state IN ('applied', 'rolling back', 'rollback failed')" if tracked else ""
        self._has = Request.one_or_none(
            f"SELECT version FROM {name} WHERE version = ?{applied}",
            params=int,
            row=int,
        )
        self._insert = Request.exec(
            f"INSERT INTO {name} (version, name, inserted_at) VALUES (?, ?, ?)",
            params=tup(int, str, dt.datetime),
        )
        self._delete = Request.exec(
            f"DELETE FROM {name} WHERE version = ?",
            params=int,
        )
        self._progress = Request.one_or_none(
            f"SELECT state, steps FROM {name} WHERE version = ?", params=int, row=tup(str, int)
        )
        self._begin = Request.exec(
            f"INSERT INTO {name} (version, name, inserted_at, state, steps) VALUES (?, ?, ?, ?, 0)",
            params=tup(int, str, dt.datetime, str),
        )
        self._set = Request.exec(
            f"UPDATE {name} SET state = ?, steps = ?, inserted_at = ? WHERE version = ?",
            params=tup(str, int, dt.datetime, int),
        )

    def ensure(self) -> None:
        """Create the table if it is missing."""
        with self.conn.transaction():
            self.conn._run(self._create)

    def rows(self) -> list[tuple[int, str | None, dt.datetime | None, str, int]]:
        """Every row: version, name, time, state and steps; empty while the table is missing."""
        rules = _rules(self.conn)
        subject: str | None = self.table
        if rules.exists_quoted:
            subject = self._in_current_schema()
        if subject is None or not self.conn.one(rules.table_exists, subject):
            return []
        try:
            return self.conn.all(self._select)
        except ProgrammingError as e:
            # Most often another tool's history table of the same name
            # (Rails' and Ecto's have no name column).
            columns = (
                "version, name, inserted_at, state and steps"
                if self.tracked
                else ("version, name and inserted_at")
            )
            raise MigrationError(
                f"the table {self.table!r} exists but is not a repodb migrations table"
                f" (it needs {columns} columns); if another tool owns it,"
                " keep repodb's history in a table of its own (table=..., or --table)",
                statement=e.sql,
                cause=e,
            ) from e

    def applied(self) -> dict[int, tuple[str | None, dt.datetime | None]]:
        """Applied versions with their names and times (a rollback under way counts)."""
        return {v: (name, at) for v, name, at, state, _ in self.rows() if state in _APPLIED_STATES}

    def incomplete(self) -> dict[int, Incomplete]:
        """The migrations that started and did not finish, by version (tracked tables only)."""
        rows = self.rows()
        return {v: Incomplete(state, steps) for v, _, _, state, steps in rows if state != APPLIED}

    def _in_current_schema(self) -> str | None:
        """The table's quoted name, qualified by the current schema.

        Resolved on the whole search_path, an unqualified name could find
        another schema's history while the migrations run in the current one.
        """
        schema = self.conn.one(_rules(self.conn).current_schema)
        return None if schema is None else self.conn.dialect.quote_table(self.table, schema)

    def is_applied(self, version: int) -> bool:
        return self.conn.one_or_none(self._has, version) is not None

    def begin(self, file: MigrationFile, direction: Direction) -> int:
        """Note that ``file`` starts (tracked); the operations a previous attempt completed."""
        found = self.conn.one_or_none(self._progress, file.version)
        under_way = (MIGRATING, FAILED) if direction == "up" else (ROLLING_BACK, ROLLBACK_FAILED)
        done = found[1] if found is not None and found[0] in under_way else 0
        state = MIGRATING if direction == "up" else ROLLING_BACK
        if found is None:
            self.conn.exec(self._begin, (file.version, file.name, _now(), state))
        else:
            self.conn.exec(self._set, (state, done, _now(), file.version))
        return done

    def advance(self, file: MigrationFile, direction: Direction, steps: int) -> None:
        """Note that ``steps`` operations of ``file`` are done (tracked)."""
        state = MIGRATING if direction == "up" else ROLLING_BACK
        self.conn.exec(self._set, (state, steps, _now(), file.version))

    def fail(self, file: MigrationFile, direction: Direction, steps: int) -> None:
        """Note that ``file`` stopped after ``steps`` operations (tracked)."""
        state = FAILED if direction == "up" else ROLLBACK_FAILED
        self.conn.exec(self._set, (state, steps, _now(), file.version))

    def record(self, file: MigrationFile, direction: Direction) -> None:
        if direction == "down":
            self.conn.exec(self._delete, file.version)
        elif self.tracked:
            self.conn.exec(self._set, (APPLIED, 0, _now(), file.version))
        else:
            self.conn.exec(self._insert, (file.version, file.name, _now()))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Failure(Exception):
    """A statement or a migration's code failed; carries the statement, if SQL.

    Where DDL is not transactional, also how many operations completed and
    the state the history row was left in.
    """

    def __init__(
        self, statement: str | None, cause: BaseException, context: str | None = None
    ) -> None:
        super().__init__(str(cause))
        self.statement = statement
        self.cause = cause
        self.context = context
        self.steps = 0
        self.state = ""


class _Progress:
    """How far one migration got: operations done (counting those skipped as done before)."""

    def __init__(self, file: MigrationFile, direction: Direction, history: History) -> None:
        self.file = file
        self.direction = direction
        self.history = history
        self.skip = 0
        self.done = 0

    def advance(self) -> None:
        self.done += 1
        if self.history.tracked:
            self.history.advance(self.file, self.direction, self.done)

    def failed(self, e: Exception) -> None:
        """Mark the history row failed, when tracked; the failure is what matters if that fails."""
        if not self.history.tracked:
            return
        if isinstance(e, _Failure):
            e.steps = self.done
            e.state = FAILED if self.direction == "up" else ROLLBACK_FAILED
        conn = self.history.conn
        if not conn.closed and not conn.broken:
            with contextlib.suppress(Error):
                self.history.fail(self.file, self.direction, self.done)


def count_operations(n: int) -> str:
    return f"{n} operation{'' if n == 1 else 's'}"


class Runner:
    """Runs migration files on one connection, recording them in the history table."""

    def __init__(
        self,
        conn: Connection,
        table: str,
        lock_timeout: float | None,
        ddl_lock_timeout: float | None = None,
    ) -> None:
        if ddl_lock_timeout is not None and ddl_lock_timeout <= 0:
            raise ValueError(f"ddl_lock_timeout must be positive, got {ddl_lock_timeout}")
        # First: a database migrations do not support is refused before
        # anything builds its DDL.
        self.rules = _rules(conn)
        self.conn = conn
        self.history = History(conn, table, tracked=not self.rules.transactional_ddl)
        self.lock_timeout = lock_timeout
        self.ddl_lock_timeout = ddl_lock_timeout

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[int, tuple[str | None, dt.datetime | None]]]:
        """Hold the lock, with the history table made and re-read under it."""
        with lock(self.conn, self.history.table, self.lock_timeout):
            self._ensure_history()
            yield self.history.applied()

    def _ensure_history(self) -> None:
        """Create the history table; a write lock not had in time is MigrationLocked."""
        try:
            self.history.ensure()
        except QueryError as e:
            locked = self._lock_refused(e)
            if locked is not None:
                raise locked from e
            # A read-only replica or missing rights: say what could not be done.
            where = ""
            if isinstance(e, ReadOnlyError):
                where = " (this server is read-only, e.g. a streaming replica: migrate the primary)"
            raise MigrationError(
                f"cannot create the migrations table {self.history.table!r}{where}",
                statement=e.sql,
                cause=e,
            ) from e

    def _lock_refused(self, e: Exception) -> MigrationLocked | None:
        """MigrationLocked when ``e`` says the write lock was not granted in time."""
        busy = self.rules.busy_code
        if busy is None or not isinstance(e, QueryError) or e.code != busy:
            return None
        waited = (
            "as long as SQLite waits"
            if self.lock_timeout is None
            else (f"more than {self.lock_timeout:g} s")
        )
        return MigrationLocked(
            f"another migrator held the database's write lock for {waited};"
            " wait for it to finish (or raise lock_timeout) and run again",
            cause=e,
        )

    def prepare(self, file: MigrationFile, direction: Direction) -> Plan:
        """Load a migration file and plan its run, touching nothing in the database.

        The migrator prepares every migration of a run before running the
        first, so a file that does not load (a syntax or import error) or a
        ``change`` that cannot be undone fails the run before anything ran.
        """
        return self._plan(file, self._load(file), direction)

    def run(
        self,
        file: MigrationFile,
        direction: Direction,
        plan: Plan,
        on_start: OnStart | None,
        on_done: OnDone | None,
    ) -> Ran | None:
        """Run one prepared migration; None when another migrator ran it meanwhile (SQLite)."""
        started = time.perf_counter()

        def begin() -> None:
            if on_start is not None:
                on_start(file, direction)

        try:
            done = self._run_planned(file, direction, plan, begin)
        except _Failure as failure:
            verb = "rolling back" if direction == "down" else "migration"
            what = f"{verb} {file.version}_{file.name} failed"
            if failure.context is not None:
                what += f" {failure.context}"
            if not self.rules.transactional_ddl:
                what += (
                    f" after {count_operations(failure.steps)} (it ran without a transaction:"
                    f" {self.conn.dialect.name} has no transactional DDL, so what ran stays;"
                    f" the history records it as {failure.state!r}, and running the"
                    f" {'migrations' if direction == 'up' else 'rollback'} again resumes"
                    " after the operations that completed)"
                )
            elif not self._transactional(file):
                what += " (it ran without a transaction: what ran before the failure stays)"
            cause = failure.cause
            waited = self.rules.lock_not_available
            if (
                isinstance(cause, Error)
                and waited is not None
                and waited
                in (
                    cause.sqlstate,
                    cause.code,
                )
            ):
                what += (
                    f" (a table it changes stayed locked by other sessions for longer than"
                    f" ddl_lock_timeout={self.ddl_lock_timeout:g} s; run it again when they are"
                    " done, or raise the limit)"
                )
            raise MigrationError(
                what,
                version=file.version,
                name=file.name,
                statement=failure.statement,
                cause=failure.cause,
            ) from failure.cause
        if not done:
            return None
        ran = Ran(file.version, file.name, direction, time.perf_counter() - started)
        if on_done is not None:
            on_done(ran)
        return ran

    def _transactional(self, file: MigrationFile) -> bool:
        """Whether ``file`` runs in a transaction: unless it opts out, where a lock allows.

        Without an advisory lock (SQLite) the write transaction is the only
        lock, so every migration runs in one, ``transaction = False`` or not;
        nothing SQLite migrates needs to run outside one. Where DDL is not
        transactional (MariaDB) none runs in one: each statement would commit it.
        """
        if not self.rules.transactional_ddl:
            return False
        return file.transaction or not self.rules.advisory_lock

    def _load(self, file: MigrationFile) -> types.ModuleType:
        try:
            return load(file)
        except Exception as e:  # importing the file runs its code, which may raise anything
            raise MigrationError(
                f"cannot load migration {file.path.name}",
                version=file.version,
                name=file.name,
                cause=e,
            ) from e

    def _plan(self, file: MigrationFile, module: types.ModuleType, direction: Direction) -> Plan:
        """What to run: the file's ``up``/``down``, or ``change`` recorded (and inverted).

        ``change`` is recorded before anything runs, so an operation it cannot
        undo, or a concurrent index build inside a transaction, fails first.
        """
        function = getattr(module, direction, None)
        change = getattr(module, "change", None)

        def fail(why: str, cause: BaseException | None = None) -> MigrationError:
            return MigrationError(
                f"migration {file.version}_{file.name} {why}",
                version=file.version,
                name=file.name,
                cause=cause,
            )

        for defined in (function, change):
            # Called without being awaited or iterated, such a function would
            # run nothing, and the migration would be recorded as applied.
            if inspect.iscoroutinefunction(defined) or inspect.isgeneratorfunction(defined):
                raise fail(
                    f"defines {defined.__name__}(ops) as an async or generator function;"
                    " migrations run plain functions (def, not async def, no yield)"
                )
        if callable(function):
            return function  # type: ignore[no-any-return]
        if not callable(change):
            raise fail(f"defines neither {direction}(ops) nor change(ops)")
        recorded: list[Operation] = []
        try:
            change(Ops(self.conn, recorded.append, recording=True))
            if direction == "down":
                recorded = [inverse(op) for op in reversed(recorded)]
        except IrreversibleError as e:
            raise fail("cannot be rolled back", e) from e
        except Exception as e:  # the migration's own code may raise anything
            raise fail("failed while recording its change()", e) from e
        if self._transactional(file) and any(
            outside_transaction(self.conn.dialect, op) for op in recorded
        ):
            raise fail(_CONCURRENT_HINT)
        for op in recorded:
            # Written once now, so that an operation this database cannot do
            # fails the run before anything ran (where a failure midway
            # cannot be rolled back, above all).
            if not needs_rebuild(self.conn.dialect, op):
                try:
                    operation_sql(self.conn.dialect, op)
                except (ValueError, TypeError) as e:
                    raise fail(f"cannot run on {self.conn.dialect.name}", e) from e
        return recorded

    def _run_planned(
        self,
        file: MigrationFile,
        direction: Direction,
        plan: Plan,
        begin: Callable[[], None],
    ) -> bool:
        """Run the plan and record it; False when it turned out to be done already."""
        with self._foreign_keys_off():
            if self._transactional(file):
                try:
                    with self.conn.transaction():
                        return self._apply(file, direction, plan, begin)
                except (_Failure, MigrationError):
                    raise
                except Error as e:
                    # BEGIN or COMMIT failed (a lock never granted, a deferred check).
                    raise self._begin_failure(e) from e
            return self._apply(file, direction, plan, begin)

    def _begin_failure(self, e: Exception) -> Exception:
        locked = self._lock_refused(e)
        if locked is not None:
            return locked
        return _Failure(e.sql if isinstance(e, Error) else None, e)

    def _apply(
        self,
        file: MigrationFile,
        direction: Direction,
        plan: Plan,
        begin: Callable[[], None],
    ) -> bool:
        """Run the plan unless another migrator did meanwhile (checked under the lock)."""
        if self.history.is_applied(file.version) == (direction == "up"):
            return False
        begin()
        progress = _Progress(file, direction, self.history)
        if self.history.tracked:
            progress.skip = self.history.begin(file, direction)

        def execute(op: Operation) -> None:
            if progress.done < progress.skip:
                progress.done += 1  # completed by an earlier run
                return
            self._execute(file, op)
            progress.advance()

        ops = Ops(self.conn, execute)
        try:
            try:
                with self._bounded_lock_waits(file):
                    if isinstance(plan, list):
                        for op in plan:
                            execute(op)
                    else:
                        plan(ops)
                self._check_foreign_keys()
                self.history.record(file, direction)
            except (_Failure, MigrationError):
                raise
            except Exception as e:  # the migration's own up/down/change may raise anything
                raise _Failure(e.sql if isinstance(e, Error) else None, e) from e
        except (_Failure, MigrationError) as e:
            progress.failed(e)
            raise
        return True

    @contextlib.contextmanager
    def _bounded_lock_waits(self, file: MigrationFile) -> Iterator[None]:
        """Bound how long the migration's statements wait for table locks (``ddl_lock_timeout``)."""
        sql = self.rules.ddl_lock_timeout
        if self.ddl_lock_timeout is None or sql is None:
            yield
            return
        local, session, reset = sql
        ms = max(1, round(self.ddl_lock_timeout * 1000))
        whole = max(1, math.ceil(self.ddl_lock_timeout))
        if self._transactional(file):
            # SET LOCAL ends with the migration's transaction.
            self.conn._run(local.format(ms=ms, s=whole))
            yield
            return
        self.conn._run(session.format(ms=ms, s=whole))
        try:
            yield
        finally:
            with contextlib.suppress(Error):
                self.conn._run(reset)

    def _execute(self, file: MigrationFile, op: Operation) -> None:
        dialect = self.conn.dialect
        if self._transactional(file) and outside_transaction(dialect, op):
            raise MigrationError(
                f"migration {file.version}_{file.name} {_CONCURRENT_HINT}",
                version=file.version,
                name=file.name,
            )
        running: str | None = None
        rebuild = self._rebuilds(op)
        try:
            # Made one at a time: a rebuild reads the live table after what ran before it.
            for sql in self._statements(op):
                running = sql
                self.conn._run(sql)
                running = None
        except Error as e:
            raise _Failure(running or e.sql, e, rebuild) from e
        except (ValueError, TypeError) as e:
            # The operation cannot be written as SQL for this database.
            raise _Failure(None, e, rebuild) from e

    def _rebuilds(self, op: Operation) -> str | None:
        """What a failure of ``op`` is about when it is done by SQLite's table rebuild.

        The failing statement then names the table's copy (``_repodb_new_<table>``).
        """
        dialect = self.conn.dialect
        match op:
            case AlterColumn() if needs_rebuild(dialect, op):
                what = f"alter_column {op.column.name!r}"
            case DropColumn() if needs_rebuild(dialect, op):
                what = f"drop_column {op.name!r}"
            case AddColumn() if bare_add_column(dialect, op) is not None:
                what = f"add_column {op.column.name!r}"
            case _:
                return None
        return f"in {what}, which rebuilds table {op.table!r} (SQLite's table copy)"

    def _statements(self, op: Operation) -> Iterator[str]:
        """The SQL of one operation, natively or through SQLite's table rebuild."""
        dialect = self.conn.dialect
        bare = bare_add_column(dialect, op) if isinstance(op, AddColumn) else None
        if bare is not None:
            assert isinstance(op, AddColumn)
            yield from bare
            # The whole definition replaces the bare column's (``previous``).
            bare_column = ColumnDef(op.column.name, optional(op.column.type))
            yield from self._rebuild(
                AlterColumn(op.table, op.column, previous=bare_column, prefix=op.prefix)
            )
        elif needs_rebuild(dialect, op):
            assert isinstance(op, (AlterColumn, DropColumn))
            yield from self._rebuild(op)
        else:
            op = self._keeping_check(op)
            yield from operation_sql(dialect, op, constraint_names=self._constraint_names(op))

    def _keeping_check(self, op: Operation) -> Operation:
        """An ``AlterColumn`` without ``previous``, given its column's live CHECK if it has one."""
        query = self.rules.column_check
        if query is None or not isinstance(op, AlterColumn) or op.previous is not None:
            return op
        if op.column.check is not None:
            return op
        found = self.conn.all(query, (op.table, op.column.name))
        if not found:
            return op
        return dataclasses.replace(op, column=dataclasses.replace(op.column, check=found[0]))

    def _constraint_names(self, op: Operation) -> dict[str, str] | None:
        """The live names of the constraints an ``AlterColumn`` may drop, by name suffix.

        A table or column renamed since its constraints were made keeps
        their names, so they cannot be derived from the current names.
        Where a column has several of a kind, the derived name is used.
        """
        query = self.rules.column_constraints
        if query is None or not isinstance(op, AlterColumn) or op.previous is None:
            return None
        table = op.table
        if self.rules.exists_quoted:
            table = self.conn.dialect.quote_table(op.table, op.prefix)
        found: dict[str, list[str]] = {}
        for kind, name in self.conn.all(query, (table, op.column.name)):
            found.setdefault(_CONSTRAINT_SUFFIXES[kind], []).append(name)
        return {suffix: names[0] for suffix, names in found.items() if len(names) == 1}

    def _rebuild(self, op: AlterColumn | DropColumn) -> list[str]:
        from .sqlite_rebuild import rebuild_statements

        if op.prefix is not None:
            raise ValueError(
                f"SQLite rebuilds only tables of the main database: table {op.table!r}"
                f" cannot be altered with prefix={op.prefix!r}"
            )
        self._refuse_rebuild_with_foreign_keys()
        return rebuild_statements(self.conn, op.table, op)

    @contextlib.contextmanager
    def _foreign_keys_off(self) -> Iterator[None]:
        pragmas = self.rules.foreign_keys
        if pragmas is None or self.conn.in_transaction:
            yield
            return
        switch = pragmas[0]
        before = _pragma_value(self.conn, switch)
        self.conn._run(f"{switch} = OFF")
        try:
            yield
        finally:
            if not self.conn.closed and not self.conn.in_transaction:
                self.conn._run(f"{switch} = {'ON' if before else 'OFF'}")

    def _refuse_rebuild_with_foreign_keys(self) -> None:
        """A rebuild with foreign keys on would delete (or cascade from) the old table's rows."""
        pragmas = self.rules.foreign_keys
        if pragmas is not None and _pragma_value(self.conn, pragmas[0]):
            raise ValueError(
                "a SQLite table rebuild needs foreign keys off, which cannot be switched"
                " inside an open transaction: run the migrations outside a transaction"
            )

    def _check_foreign_keys(self) -> None:
        pragmas = self.rules.foreign_keys
        if pragmas is None:
            return
        check = pragmas[1]
        rows = self.conn.all(
            Request.many(check, row=tup(str, optional(int), str, int), oneshot=True)
        )
        if rows:
            table, rowid, parent, _ = rows[0]
            raise _Failure(
                check,
                ForeignKeyViolation(
                    f"{len(rows)} row(s) reference missing rows; the first: {table} rowid"
                    f" {rowid} references {parent}",
                    sql=check,
                    table=table,
                ),
            )


# The constraint kinds (PostgreSQL's letters), as the suffixes of the names
# PostgreSQL gives them.
_CONSTRAINT_SUFFIXES = {"u": "key", "c": "check", "f": "fkey"}

_CONCURRENT_HINT = (
    "cannot run in a transaction: it builds or drops an index concurrently;"
    " set `transaction = False` at the top of the migration file"
)
