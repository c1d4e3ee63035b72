"""The migration commands: ``migrate``, ``rollback``, ``status`` and ``new``.

Why: they are the command line's face of ``repodb.migration.Migrator``, and
share how a run is reported (one progress line per migration, then a count)
and what a command must not do, such as creating a SQLite file only to look
at it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .._migration.runner import count_operations
from ..migration import MigrationLocked, Migrator, Ran, new_migration
from .context import CommandError, Context, missing_sqlite_file
from .output import Progress, count, say, say_table, timestamp

__all__ = ["migrate", "new", "rollback", "status"]


def migrate(ctx: Context, args: argparse.Namespace) -> int:
    def run(migrator: Migrator, progress: Progress) -> list[Ran]:
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


def rollback(ctx: Context, args: argparse.Namespace) -> int:
    missing = missing_sqlite_file(ctx)
    if missing is not None:
        # Opening it would create an empty database and report nothing to undo.
        raise CommandError(f"SQLite database {missing} does not exist: nothing was migrated there")

    def run(migrator: Migrator, progress: Progress) -> list[Ran]:
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
    ctx: Context,
    args: argparse.Namespace,
    run: Callable[[Migrator, Progress], list[Ran]],
    done: str,
    nothing: str,
) -> int:
    progress = Progress()
    try:
        with Migrator(
            ctx.url,
            ctx.migrations,
            table=ctx.table,
            lock_timeout=args.lock_timeout,
            ddl_lock_timeout=args.ddl_lock_timeout,
            prefix=args.prefix,
        ) as migrator:
            if not migrator.transactional:
                progress.note = (
                    f"repodb: note: {migrator.connection.dialect.name} has no transactional"
                    " DDL: a migration that fails midway keeps what it ran; `repodb status`"
                    " shows how far it got, and running again resumes it"
                )
            ran = run(migrator, progress)
    except MigrationLocked as e:
        # The library's message names the Python option; here it is a flag.
        raise CommandError(f"{e} (--lock-timeout SECONDS waits longer)") from e
    finally:
        progress.failed()
    say(count(len(ran), done) if ran else nothing)
    return 0


def _known_version(migrator: Migrator, version: int) -> None:
    if version not in {row.version for row in migrator.status()}:
        raise CommandError(
            f"no migration has version {version} (neither a file in {migrator.directory} "
            "nor an applied version; see `repodb status`)"
        )


def status(ctx: Context, args: argparse.Namespace) -> int:
    # A status does not create the database it looks at: a mistyped path
    # would otherwise leave an empty file behind and report it never migrated.
    # An empty in-memory database has the same (empty) history.
    missing = missing_sqlite_file(ctx)
    url = ctx.url if missing is None else "sqlite::memory:"
    with Migrator(url, ctx.migrations, table=ctx.table) as migrator:
        rows = migrator.status()
    if missing is not None:
        say(f"SQLite database {missing} does not exist yet (`repodb migrate` creates it)")
    if not rows:
        say(f"no migrations in {ctx.migrations}")
        return 0
    table = [("version", "name", "state", "applied at")]
    for row in rows:
        state = "applied" if row.applied else "pending"
        if row.incomplete is not None:
            state += f", {_incomplete(row.incomplete, row.steps)}"
        if row.file_missing:
            state += ", file missing"
        table.append((str(row.version), row.name, state, timestamp(row.applied_at)))
    say_table(table)
    applied = sum(row.applied for row in rows)
    summary = f"{applied} applied, {len(rows) - applied} pending"
    stopped = sum(row.incomplete is not None for row in rows)
    if stopped:
        summary += f", {stopped} stopped midway (their DDL is not transactional)"
    say(summary)
    return 0


# What an incomplete migration's state means to whoever reads ``status``.
_RESUMES = {
    "migrating": "migrating: under way, or interrupted, after {} (migrate resumes it)",
    "failed": "failed after {} (migrate resumes it)",
    "rolling back": "rolling back: under way, or interrupted, after {} (rollback resumes it)",
    "rollback failed": "rollback failed after {} (rollback resumes it)",
}


def _incomplete(state: str, steps: int) -> str:
    return _RESUMES.get(state, state + " after {}").format(count_operations(steps))


def new(ctx: Context, args: argparse.Namespace) -> int:
    say(str(new_migration(ctx.migrations, args.name)))
    return 0
