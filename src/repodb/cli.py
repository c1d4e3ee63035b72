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
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import unquote

from ._cli import diff, migrations, storage
from ._cli.context import CommandError, Context
from ._migration.ops import IrreversibleError
from .errors import Error
from .url import parse_url

__all__ = ["DEFAULT_URL", "main"]

DEFAULT_URL = "sqlite:///repodb.sqlite3"
"""The database when neither ``--url`` nor ``REPODB_URL`` names one."""

_NAME = re.compile(r"[a-z][a-z0-9_]*")


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
        ctx = Context(
            url,
            parsed,
            Path(getattr(args, "migrations", "migrations")),
            getattr(args, "table", "schema_migrations"),
        )
        if verbose:
            print(f"database: {scrub(parsed.redacted)}", file=sys.stderr)
        command: Callable[[Context, argparse.Namespace], int] = args.run
        with _terminate_as_interrupt():
            return command(ctx, args)
    except _Terminated:
        print("repodb: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("repodb: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:
        # Only code the command ran (a migration's up, down or change) can
        # get here: without a word, repodb would seem to end for no reason.
        print(f"{parser.prog}: error: a migration called sys.exit({e.code!r})", file=sys.stderr)
        return 1
    except Exception as e:  # the command's last word on any failure, in one line
        if verbose:
            print(scrub(traceback.format_exc()).rstrip(), file=sys.stderr)
        print(f"{parser.prog}: error: {scrub(_one_line(e, verbose))}", file=sys.stderr)
        return 1


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so it unwinds as Ctrl-C does."""


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into ``_Terminated`` while a command runs.

    Why: ``docker stop`` and service managers send SIGTERM, whose default
    ends the process at once: a migration's transaction then dies with its
    connection (nothing half-applied) but nothing says what happened. As an
    exception it rolls back the running migration like Ctrl-C and is
    reported in one line. Only the main thread can set handlers (``main``
    called from another thread keeps the default).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
        "--table",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="the table recording applied migrations (default: schema_migrations)",
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
        name: str, run: Callable[[Context, argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(run=run)
        return sub

    migrate = command("migrate", migrations.migrate, "run the pending migrations")
    migrate.add_argument("--to", type=_version, metavar="VERSION", help="stop after VERSION")
    rollback = command("rollback", migrations.rollback, "undo applied migrations, newest first")
    for sub in (migrate, rollback):
        sub.add_argument(
            "--prefix",
            metavar="NAME",
            default=None,
            help="one tenant's tables: a PostgreSQL schema (created if missing), or on SQLite"
            " the database file NAME.db beside the main one (see Repo's prefix)",
        )
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

    command("status", migrations.status, "list the migrations, applied or pending")

    new = command("new", migrations.new, "write a migration skeleton and print its path")
    new.add_argument("name", type=_migration_name, help="snake_case name, e.g. create_users")

    create = command("create", storage.create, "create the database the URL names")
    create.add_argument(
        "--if-not-exists", action="store_true", help="succeed when it exists already"
    )
    drop = command("drop", storage.drop, "drop the database the URL names (no confirmation)")
    drop.add_argument("--if-exists", action="store_true", help="succeed when it does not exist")

    diff_ = command(
        "diff", diff.diff, "write a migration from the declared schemas to the live database"
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
