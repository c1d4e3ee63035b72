"""The ``repodb`` command line: migrations, database creation and schema diffs.

Why: an application adopts a data layer through its migrations, and they are
run from a shell, a deploy script or CI, not from Python. ``repodb migrate``
is Ecto's ``mix ecto.migrate``; ``repodb diff`` writes the migration that
brings the live database to what the schemas declare, as Alembic's
autogenerate does.

Every command takes ``--url`` (else ``REPODB_URL``, else the SQLite file
``repodb.sqlite3`` in the current directory), ``--migrations`` (the folder of
migration files, ``migrations``) and ``--verbose``. Errors print one line on
stderr and exit with 1 (2 for a command line argparse rejects); ``--verbose``
adds the traceback. Passwords in URLs are never printed.

Example::

    $ repodb new create_users        # prints migrations/20261126141500_create_users.py
    $ repodb migrate
    == 20261126141500 create_users ... up (12.3 ms)
    1 migration applied

From Python, ``repodb.cli.main(["status"])`` runs a command and returns its
exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import importlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from . import Request, connect
from ._migration.ddl import column_type, default_sql
from ._migration.diff import diff
from ._migration.ops import (
    NO_DEFAULT,
    AddColumn,
    AlterColumn,
    ColumnDef,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropIndex,
    DropTable,
    Execute,
    IrreversibleError,
    Operation,
    RenameColumn,
    RenameTable,
)
from .dialect import Dialect
from .errors import Error
from .migration import MigrationFile, MigrationLocked, Migrator, Ran, new_migration
from .schema import Schema
from .url import DatabaseUrl, parse_url

__all__ = ["DEFAULT_URL", "main"]

DEFAULT_URL = "sqlite:///repodb.sqlite3"
"""The database when neither ``--url`` nor ``REPODB_URL`` names one."""

# How long the commands wait for a server to answer before giving up.
_CONNECT_TIMEOUT = 10.0
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_MAINTENANCE_DATABASE = "postgres"


class CommandError(Exception):
    """A command cannot do what was asked; the message says why."""


@dataclasses.dataclass(frozen=True)
class _Context:
    url: str
    parsed: DatabaseUrl
    migrations: Path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``repodb`` command line with ``argv`` (default ``sys.argv[1:]``); the exit code."""
    parser = _parser()
    if not (sys.argv[1:] if argv is None else argv):
        # A bare ``repodb`` is someone finding out what it does: the commands,
        # not only argparse's one-line usage; still a usage error for scripts.
        parser.print_help(sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error argparse already printed
        return e.code if isinstance(e.code, int) else 1
    verbose: bool = getattr(args, "verbose", False)
    url: str = getattr(args, "url", None) or os.environ.get("REPODB_URL") or DEFAULT_URL
    scrub = _scrubber(url)
    try:
        _check_userinfo(url)
        parsed = parse_url(url)
        ctx = _Context(url, parsed, Path(getattr(args, "migrations", "migrations")))
        if verbose:
            print(f"database: {scrub(parsed.redacted)}", file=sys.stderr)
        command: Callable[[_Context, argparse.Namespace], int] = args.run
        return command(ctx, args)
    except KeyboardInterrupt:
        print("repodb: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:
        # Only code the command ran (a migration's up, down or change) can
        # get here: without a word, repodb would seem to end for no reason.
        print(f"{parser.prog}: error: a migration called sys.exit({e.code!r})", file=sys.stderr)
        return 1
    except Exception as e:
        if verbose:
            print(scrub(traceback.format_exc()).rstrip(), file=sys.stderr)
        print(f"{parser.prog}: error: {scrub(_one_line(e, verbose))}", file=sys.stderr)
        return 1


# What a URL's user:password@ part looks like to a person, up to its last @:
# a password with an unescaped "/" ("s3cret/pw", common in generated secrets)
# ends the authority early for a URL parser, which then sees no password at all.
_USERINFO_SECRET = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:([^?#\s]+)@")


def _scrubber(url: str) -> Callable[[str], str]:
    """A function hiding whatever in ``url`` could be a password, in any text printed."""
    secrets = set()
    # A URL that does not parse is reported later, by the same parse, redacted.
    with contextlib.suppress(ValueError):
        secrets.add(parse_url(url).password or "")
    found = _USERINFO_SECRET.match(url.strip())
    if found is not None:
        secrets.update((found.group(1), unquote(found.group(1))))
    # Longest first, so that a password's decoded form does not leave a tail.
    hidden = sorted((s for s in secrets if s), key=len, reverse=True)

    def scrub(text: str) -> str:
        for secret in hidden:
            text = text.replace(secret, "***")
        return text

    return scrub


def _check_userinfo(url: str) -> None:
    """Refuse a URL whose password has a character that ends a URL's user:password part.

    libpq and Python's URL parser then disagree about where the host starts,
    both connect somewhere else, and their errors show part of the password.
    """
    found = _USERINFO_SECRET.match(url.strip())
    if found is None:
        return
    for char, escaped in (("/", "%2F"), ("@", "%40")):
        if char in found.group(1):
            raise CommandError(
                f"the password in the URL contains {char!r}, which ends the user:password "
                f"part of a URL; write it as {escaped}"
            )


# What the user asked for went wrong: the message is the whole story. Any
# other exception is a bug somewhere, named by its class.
_EXPECTED = (Error, CommandError, IrreversibleError, ValueError, OSError)


def _one_line(error: BaseException, verbose: bool) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = "; ".join(lines) or type(error).__name__
    if isinstance(error, _EXPECTED):
        return text
    hint = "" if verbose else " (--verbose shows the traceback)"
    return f"{type(error).__name__}: {text}{hint}"


# The command line -----------------------------------------------------------


_EXAMPLES = """\
examples:
  repodb new create_users                  write migrations/<version>_create_users.py
  repodb migrate                           run the pending migrations
  repodb rollback --step 2                 undo the last two
  repodb status                            which ran, which are pending
  repodb diff --schemas app.models         write a migration for the schemas' changes
  REPODB_URL=postgresql://app@db/app_dev repodb create
"""


def _parser() -> argparse.ArgumentParser:
    # The common options are accepted before and after the command
    # (``repodb --verbose migrate`` and ``repodb migrate --verbose``);
    # SUPPRESS keeps a subcommand's absent option from hiding the global one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help=f"database URL (default: $REPODB_URL, else {DEFAULT_URL}, "
        "a SQLite file in the current directory)",
    )
    common.add_argument(
        "--migrations",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="folder of migration files (default: migrations)",
    )
    common.add_argument(
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks on errors",
    )
    parser = argparse.ArgumentParser(
        prog="repodb",
        description="Run migrations, create and drop databases, diff schemas.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = parser.add_subparsers(metavar="<command>", required=True)

    def command(
        name: str, run: Callable[[_Context, argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(run=run)
        return sub

    migrate = command("migrate", _migrate, "run the pending migrations")
    migrate.add_argument("--to", type=_version, metavar="VERSION", help="stop after VERSION")
    rollback = command("rollback", _rollback, "undo applied migrations, newest first")
    for sub in (migrate, rollback):
        sub.add_argument(
            "--lock-timeout",
            type=_seconds,
            default=60.0,
            metavar="SECONDS",
            help="how long to wait for another migrator running at the same time (default: 60)",
        )
        sub.add_argument(
            "--ddl-lock-timeout",
            type=_positive_seconds,
            default=None,
            metavar="SECONDS",
            help="PostgreSQL: fail a migration whose statement waits longer than this for a"
            " table other sessions use, instead of stalling them behind it (default: no limit)",
        )
    how_far = rollback.add_mutually_exclusive_group()
    how_far.add_argument(
        "--step", type=_positive, default=1, metavar="N", help="how many to undo (default: 1)"
    )
    how_far.add_argument(
        "--to",
        type=_version,
        metavar="VERSION",
        help="undo every migration after VERSION (0: all of them)",
    )

    command("status", _status, "list the migrations, applied or pending")

    new = command("new", _new, "write a migration skeleton and print its path")
    new.add_argument("name", type=_migration_name, help="snake_case name, e.g. create_users")

    create = command("create", _create, "create the database the URL names")
    create.add_argument(
        "--if-not-exists", action="store_true", help="succeed when it exists already"
    )
    drop = command("drop", _drop, "drop the database the URL names (no confirmation)")
    drop.add_argument("--if-exists", action="store_true", help="succeed when it does not exist")

    diff_ = command(
        "diff", _diff, "write a migration from the declared schemas to the live database"
    )
    diff_.add_argument(
        "--schemas",
        required=True,
        metavar="MODULE[,MODULE...]",
        help="modules declaring the Schema classes (imported from the current directory)",
    )
    diff_.add_argument(
        "--name",
        type=_migration_name,
        default="update_schema",
        help="the migration's name (default: update_schema)",
    )
    diff_.add_argument(
        "--drop-extra",
        action="store_true",
        help="also drop tables, columns and indexes the schemas do not declare",
    )
    return parser


def _version(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a migration version: {text!r}")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return seconds


def _positive_seconds(text: str) -> float:
    seconds = _seconds(text)
    if seconds == 0:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return seconds


def _migration_name(text: str) -> str:
    if not _NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a snake_case name (lowercase letters, digits and _, "
            "starting with a letter)"
        )
    return text


# Migrations -------------------------------------------------------------------


class _Progress:
    """Prints ``== VERSION NAME ... up (12.3 ms)`` as each migration starts and ends."""

    def __init__(self) -> None:
        self.open = False

    def start(self, migration: MigrationFile, direction: str) -> None:
        _say(f"== {migration.version} {migration.name} ... ", end="")
        self.open = True

    def done(self, ran: Ran) -> None:
        _say(f"{ran.direction} ({_duration(ran.seconds)})")
        self.open = False

    def failed(self) -> None:
        if self.open:
            _say("failed")
            self.open = False


def _say(text: str, end: str = "\n") -> None:
    """Write ``text`` on stdout; if its reader went away, the command carries on without it.

    Why: ``repodb migrate | head -1``, or a deploy's log collector that
    dies, closes the pipe. What the command does must not depend on
    whether anyone reads about it: a migration run stopped half-way by a
    ``BrokenPipeError`` is worse than lost output.
    """
    try:
        sys.stdout.write(text + end)
        sys.stdout.flush()
    except BrokenPipeError:
        # Later writes, and the interpreter's last flush, go nowhere instead.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _migrate(ctx: _Context, args: argparse.Namespace) -> int:
    def run(migrator: Migrator, progress: _Progress) -> list[Ran]:
        if args.to is not None:
            _known_version(migrator, args.to)
        return migrator.migrate(to=args.to, on_start=progress.start, on_done=progress.done)

    return _run_migrations(
        ctx,
        args,
        run,
        "applied",
        "already up to date",
    )


def _rollback(ctx: _Context, args: argparse.Namespace) -> int:
    missing = _missing_sqlite_file(ctx)
    if missing is not None:
        # Opening it would create an empty database and report nothing to undo.
        raise CommandError(f"SQLite database {missing} does not exist: nothing was migrated there")

    def run(migrator: Migrator, progress: _Progress) -> list[Ran]:
        # 0 means "all of them"; any other version must be one the folder or
        # the database knows, or a typo would undo everything after it.
        if args.to:
            _known_version(migrator, args.to)
        return migrator.rollback(
            step=args.step, to=args.to, on_start=progress.start, on_done=progress.done
        )

    return _run_migrations(
        ctx,
        args,
        run,
        "rolled back",
        "nothing to roll back",
    )


def _run_migrations(
    ctx: _Context,
    args: argparse.Namespace,
    run: Callable[[Migrator, _Progress], list[Ran]],
    done: str,
    nothing: str,
) -> int:
    progress = _Progress()
    try:
        with Migrator(
            ctx.url,
            ctx.migrations,
            lock_timeout=args.lock_timeout,
            ddl_lock_timeout=args.ddl_lock_timeout,
        ) as migrator:
            ran = run(migrator, progress)
    except MigrationLocked as e:
        # The library's message names the Python option; here it is a flag.
        raise CommandError(f"{e} (--lock-timeout SECONDS waits longer)") from e
    finally:
        progress.failed()
    _say(_count(len(ran), done) if ran else nothing)
    return 0


def _known_version(migrator: Migrator, version: int) -> None:
    if version not in {row.version for row in migrator.status()}:
        raise CommandError(
            f"no migration has version {version} (neither a file in {migrator.directory} "
            "nor an applied version; see `repodb status`)"
        )


def _missing_sqlite_file(ctx: _Context) -> Path | None:
    """The SQLite file the URL names when it does not exist yet, else None."""
    if ctx.parsed.driver != "sqlite" or ctx.parsed.target == ":memory:":
        return None
    path = Path(ctx.parsed.target)
    return None if path.exists() else path


def _count(n: int, done: str) -> str:
    return f"{n} migration{'' if n == 1 else 's'} {done}"


def _status(ctx: _Context, args: argparse.Namespace) -> int:
    # A status does not create the database it looks at: a mistyped path
    # would otherwise leave an empty file behind and report it never migrated.
    # An empty in-memory database has the same (empty) history.
    missing = _missing_sqlite_file(ctx)
    with Migrator(ctx.url if missing is None else "sqlite::memory:", ctx.migrations) as migrator:
        rows = migrator.status()
    if missing is not None:
        _say(f"SQLite database {missing} does not exist yet (`repodb migrate` creates it)")
    if not rows:
        _say(f"no migrations in {ctx.migrations}")
        return 0
    table = [("version", "name", "state", "applied at")]
    for row in rows:
        state = "applied" if row.applied else "pending"
        if row.file_missing:
            state += ", file missing"
        table.append((str(row.version), row.name, state, _timestamp(row.applied_at)))
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    for line in table:
        _say("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    applied = sum(row.applied for row in rows)
    _say(f"{applied} applied, {len(rows) - applied} pending")
    return 0


def _timestamp(at: dt.datetime | None) -> str:
    if at is None:
        return ""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if at.tzinfo is not None else "")


def _new(ctx: _Context, args: argparse.Namespace) -> int:
    _say(str(new_migration(ctx.migrations, args.name)))
    return 0


# Creating and dropping databases ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Storage:
    """How a kind of database is named in messages, looked for, created and dropped."""

    name: Callable[[DatabaseUrl], str]
    exists: Callable[[DatabaseUrl], bool]
    create: Callable[[DatabaseUrl], None]
    drop: Callable[[DatabaseUrl], None]


def _create(ctx: _Context, args: argparse.Namespace) -> int:
    storage = _STORAGE[ctx.parsed.driver]
    what = storage.name(ctx.parsed)
    if storage.exists(ctx.parsed):
        if not args.if_not_exists:
            raise CommandError(f"{what} already exists")
        _say(f"{what} already exists")
    else:
        storage.create(ctx.parsed)
        _say(f"created {what}")
    return 0


def _drop(ctx: _Context, args: argparse.Namespace) -> int:
    storage = _STORAGE[ctx.parsed.driver]
    what = storage.name(ctx.parsed)
    if not storage.exists(ctx.parsed):
        if not args.if_exists:
            raise CommandError(f"{what} does not exist")
        _say(f"{what} does not exist")
    else:
        storage.drop(ctx.parsed)
        _say(f"dropped {what}")
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


_DATABASE_EXISTS = Request.one_or_none(
    "SELECT 1 FROM pg_database WHERE datname = ?", params=str, row=int
)


def _pg_exists(url: DatabaseUrl) -> bool:
    name, maintenance = _database_and_maintenance_url(url)
    with connect(maintenance, connect_timeout=_CONNECT_TIMEOUT) as admin:
        return admin.one_or_none(_DATABASE_EXISTS, name) is not None


def _pg_run(statement: str) -> Callable[[DatabaseUrl], None]:
    """Run ``statement`` (``{}`` is the quoted database name) on the maintenance database."""

    def run(url: DatabaseUrl) -> None:
        name, maintenance = _database_and_maintenance_url(url)
        with connect(maintenance, connect_timeout=_CONNECT_TIMEOUT) as admin:
            admin.exec(Request.exec(statement.format(admin.dialect.quote(name)), oneshot=True))

    return run


def _database_and_maintenance_url(url: DatabaseUrl) -> tuple[str, str]:
    """The database a PostgreSQL address names, and the same server's ``postgres`` database.

    CREATE and DROP DATABASE run on a connection to another database of the
    server; ``postgres`` exists on every cluster for this purpose.
    """
    if "://" not in url.target:  # a conninfo string: a later key overrides an earlier one
        name = url.options.get("dbname", "")
        maintenance = f"{url.target} dbname={_MAINTENANCE_DATABASE}"
    else:
        parts = urlsplit(url.target)
        query = parse_qsl(parts.query, keep_blank_values=True)
        name = url.options.get("dbname") or unquote(parts.path.lstrip("/"))
        kept = urlencode([(k, v) for k, v in query if k != "dbname"])
        maintenance = parts._replace(path=f"/{_MAINTENANCE_DATABASE}", query=kept).geturl()
    if not name:
        raise CommandError(f"{url.redacted} names no database (add /dbname to the URL)")
    if name == _MAINTENANCE_DATABASE:
        raise CommandError(f"refusing to create or drop the maintenance database {name}")
    return name, maintenance


_STORAGE: dict[str, _Storage] = {
    "sqlite": _Storage(
        name=lambda url: f"SQLite database {_sqlite_file(url)}",
        exists=lambda url: _sqlite_file(url).exists(),
        create=_create_sqlite,
        drop=_drop_sqlite,
    ),
    "postgresql": _Storage(
        name=lambda url: f"database {_database_and_maintenance_url(url)[0]}",
        exists=_pg_exists,
        create=_pg_run("CREATE DATABASE {}"),
        drop=_pg_run("DROP DATABASE {}"),
    ),
}


# Diff -------------------------------------------------------------------------


def _diff(ctx: _Context, args: argparse.Namespace) -> int:
    schemas = _load_schemas(args.schemas)
    # As for status: a SQLite file that does not exist yet is an empty
    # database, compared without creating it.
    url = ctx.url if _missing_sqlite_file(ctx) is None else "sqlite::memory:"
    with connect(url, connect_timeout=_CONNECT_TIMEOUT) as conn:
        # Before the first migration there is no folder, and nothing pending.
        if ctx.migrations.exists():
            with Migrator(conn, ctx.migrations) as migrator:
                pending = migrator.pending()
            if pending:
                # The live database lacks what they build: a diff would repeat them.
                names = ", ".join(f"{m.version} {m.name}" for m in pending)
                raise CommandError(
                    f"{_count(len(pending), 'pending')} ({names}); run `repodb migrate` first"
                )
        ops = diff(conn, schemas, drop_extra=args.drop_extra)
        # Shown, so that nobody wonders why a removed field's column stays.
        kept = (
            []
            if args.drop_extra
            else [op for op in diff(conn, schemas, drop_extra=True) if op not in ops]
        )
        if not ops:
            _say("no difference")
        else:
            _say(str(new_migration(ctx.migrations, args.name, operations=ops)))
            for op in ops:
                _say(f"  {_describe(op, conn.dialect)}")
        if kept:
            _say("not declared by the schemas, kept (--drop-extra drops them):")
            for op in kept:
                _say(f"  {_describe(op, conn.dialect).removeprefix('drop ')}")
    return 0


def _load_schemas(spec: str) -> list[type[Schema]]:
    """The Schema classes defined in the comma-separated modules, in declaration order."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise CommandError("--schemas names no module")
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        found: dict[type[Schema], None] = {}
        for name in names:
            try:
                module = importlib.import_module(name)
            except (Exception, SystemExit) as e:
                # SystemExit too: a module that exits on import (a script's
                # ``sys.exit(...)``) would otherwise end repodb without a word.
                raise CommandError(f"cannot import {name}: {type(e).__name__}: {e}") from e
            declared = [
                value
                for value in vars(module).values()
                if isinstance(value, type)
                and issubclass(value, Schema)
                and value is not Schema
                and value.__module__ == module.__name__
            ]
            if not declared:
                raise CommandError(f"module {name} declares no repodb Schema class")
            found.update(dict.fromkeys(declared))
        return list(found)
    finally:
        if added:
            sys.path.remove(here)


def _describe(op: Operation, dialect: Dialect) -> str:
    """A one-line summary of a migration operation, e.g. ``add column users.karma bigint NULL``."""
    match op:
        case CreateTable():
            return f"create table {op.table} ({', '.join(c.name for c in op.columns)})"
        case DropTable():
            return f"drop table {op.table}"
        case RenameTable():
            return f"rename table {op.table} to {op.new_name}"
        case AddColumn():
            return f"add column {op.table}.{op.column.name} {_column(op.column, dialect)}"
        case DropColumn():
            return f"drop column {op.table}.{op.name}"
        case RenameColumn():
            return f"rename column {op.table}.{op.name} to {op.new_name}"
        case AlterColumn():
            before = f"{_column(op.previous, dialect)} -> " if op.previous is not None else ""
            return f"alter column {op.table}.{op.column.name} {before}{_column(op.column, dialect)}"
        case CreateIndex():
            unique = "unique " if op.unique else ""
            where = f" where {op.where}" if op.where else ""
            columns = ", ".join(op.columns)
            return f"create {unique}index {op.index_name} on {op.table} ({columns}){where}"
        case DropIndex():
            return f"drop index {op.name} on {op.table}"
        case Execute():
            first = op.sql.strip().splitlines()[0] if op.sql.strip() else ""
            return f"execute {first[:60]}{'...' if len(first) > 60 else ''}"
    raise AssertionError(f"unknown operation {op!r}")  # pragma: no cover


def _column(column: ColumnDef, dialect: Dialect) -> str:
    text = f"{column_type(dialect, column.type)} {'NULL' if column.nullable else 'NOT NULL'}"
    if column.default is not NO_DEFAULT:
        text += f" DEFAULT {default_sql(dialect, column)}"
    return text
