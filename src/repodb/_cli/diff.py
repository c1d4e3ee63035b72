"""The ``diff`` command: write the migration from the live database to the declared schemas.

Why: it is Alembic's autogenerate for repodb, and it says what it wrote (one
line per operation) and what it kept because ``--drop-extra`` was not given,
so that nobody wonders why a removed field's column stays.
"""

from __future__ import annotations

import argparse

from .. import connect
from .._migration.ddl import column_type, default_sql
from .._migration.diff import EXTRA_DROPS
from .._migration.diff import diff as schema_diff
from .._migration.ops import (
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
    Operation,
    RenameColumn,
    RenameTable,
)
from ..dialect import Dialect
from ..migration import Migrator, new_migration
from .context import CONNECT_TIMEOUT, CommandError, Context, missing_sqlite_file
from .output import count, say
from .schemas import load_schemas

__all__ = ["describe", "diff"]


def diff(ctx: Context, args: argparse.Namespace) -> int:
    schemas = load_schemas(args.schemas)
    # As for status: a SQLite file that does not exist yet is an empty
    # database, compared without creating it.
    url = ctx.url if missing_sqlite_file(ctx) is None else "sqlite::memory:"
    with connect(url, connect_timeout=CONNECT_TIMEOUT) as conn:
        # Before the first migration there is no folder, and nothing pending.
        if ctx.migrations.exists():
            with Migrator(conn, ctx.migrations, table=ctx.table) as migrator:
                pending = migrator.pending()
            if pending:
                # The live database lacks what they build: a diff would repeat them.
                names = ", ".join(f"{m.version} {m.name}" for m in pending)
                raise CommandError(
                    f"{count(len(pending), 'pending')} ({names}); run `repodb migrate` first"
                )
        # One comparison (the introspection queries run once): what --drop-extra
        # would add is shown when not given, so that nobody wonders why a
        # removed field's column stays.
        every = schema_diff(conn, schemas, ignore=(ctx.table,), drop_extra=True)
        extra = [op for op in every if isinstance(op, EXTRA_DROPS)]
        ops = every if args.drop_extra else [op for op in every if op not in extra]
        kept = [] if args.drop_extra else extra
        if not ops:
            say("no difference")
        else:
            say(str(new_migration(ctx.migrations, args.name, operations=ops)))
            for op in ops:
                say(f"  {describe(op, conn.dialect)}")
        if kept:
            say("not declared by the schemas, kept (--drop-extra drops them):")
            for op in kept:
                say(f"  {describe(op, conn.dialect).removeprefix('drop ')}")
    return 0


def describe(op: Operation, dialect: Dialect) -> str:
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
