"""The ``repodb`` command line without a database: arguments, URLs, summaries.

Covered: usage errors exit 2 with argparse's message (a name that is not
snake_case, ``--step`` with ``--to``, a version that is not a number); no
command prints the whole help and exits 2; the maintenance URL of
``create``/``drop`` keeps the server, the user and the options of a URL or
conninfo string and names the ``postgres`` database; the one-line summary
of every kind of operation; the duration format.
"""

from __future__ import annotations

import pytest

from repodb._cli.context import CommandError
from repodb._cli.diff import describe
from repodb._cli.output import duration
from repodb._cli.storage import database_and_maintenance_url
from repodb._migration.ops import (
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
    References,
    RenameColumn,
    RenameTable,
)
from repodb.cli import main
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.types import optional, to_dbtype
from repodb.url import parse_url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "CreateUsers"], "'CreateUsers' is not a snake_case name"),
        (["new", "2fast"], "'2fast' is not a snake_case name"),
        (["rollback", "--step", "2", "--to", "20261126141500"], "not allowed with argument"),
        (["rollback", "--step", "0"], "not a positive number: '0'"),
        (["migrate", "--to", "latest"], "not a migration version: 'latest'"),
        (["upgrade"], "invalid choice: 'upgrade'"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: repodb")
    assert message in err


def test_no_command_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: repodb")
    # The commands, not only the usage line.
    for command in ("migrate", "rollback", "status", "new", "create", "drop", "diff"):
        assert f"\n    {command} " in err


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("migrate", "rollback", "status", "new", "create", "drop", "diff"):
        assert main([command, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: repodb {command}")


@pytest.mark.parametrize(
    ("url", "name", "maintenance"),
    [
        (
            "postgresql://app:pw@db:5432/my_app?sslmode=require",
            "my_app",
            "postgresql://app:pw@db:5432/postgres?sslmode=require",
        ),
        ("postgres://db/My%20App", "My App", "postgres://db/postgres"),
        (
            "postgresql://db/ignored?dbname=real&port=6432",
            "real",
            "postgresql://db/postgres?port=6432",
        ),
        (
            "host=db user=app dbname='my app' password=pw",
            "my app",
            "host=db user=app dbname='my app' password=pw dbname=postgres",
        ),
    ],
)
def test_the_maintenance_database_is_on_the_same_server(
    url: str, name: str, maintenance: str
) -> None:
    assert database_and_maintenance_url(parse_url(url)) == (name, maintenance)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://app:pw@db", "postgresql://app:***@db names no database"),
        ("host=db user=app", "host=db user=app names no database"),
        ("postgresql://db/postgres", "refusing to create or drop the maintenance database"),
    ],
)
def test_a_database_to_create_is_named(url: str, message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("*", r"\*")):
        database_and_maintenance_url(parse_url(url))


def col(name: str, type_: object, **options: object) -> ColumnDef:
    return ColumnDef(name, to_dbtype(type_), **options)  # type: ignore[arg-type]


KARMA = col("karma", optional(int), default=0)
INDEX = CreateIndex("users", ("email",), unique=True, where="email <> ''")

SUMMARIES: list[tuple[Operation, str, str]] = [
    (
        CreateTable("users", (col("id", int, primary_key=True), KARMA)),
        "create table users (id, karma)",
        "create table users (id, karma)",
    ),
    (DropTable("users"), "drop table users", "drop table users"),
    (RenameTable("users", "people"), "rename table users to people", "same"),
    (
        AddColumn("users", KARMA),
        "add column users.karma INTEGER NULL DEFAULT 0",
        "add column users.karma bigint NULL DEFAULT 0",
    ),
    (DropColumn("users", "karma"), "drop column users.karma", "same"),
    (RenameColumn("users", "karma", "score"), "rename column users.karma to score", "same"),
    (
        AlterColumn("users", col("karma", int), previous=KARMA),
        "alter column users.karma INTEGER NULL DEFAULT 0 -> INTEGER NOT NULL",
        "alter column users.karma bigint NULL DEFAULT 0 -> bigint NOT NULL",
    ),
    (
        AlterColumn("users", col("note", str, references=References("notes"))),
        "alter column users.note TEXT NOT NULL",
        "alter column users.note text NOT NULL",
    ),
    (
        INDEX,
        "create unique index users_email_index on users (email) where email <> ''",
        "same",
    ),
    (DropIndex("users", "users_email_index"), "drop index users_email_index on users", "same"),
    (
        Execute("UPDATE users SET karma = 0\nWHERE karma IS NULL"),
        "execute UPDATE users SET karma = 0",
        "same",
    ),
    (Execute("SELECT " + "x" * 80), "execute SELECT " + "x" * 53 + "...", "same"),
]


@pytest.mark.parametrize(("op", "sqlite", "postgresql"), SUMMARIES)
def test_each_operation_has_a_one_line_summary(op: Operation, sqlite: str, postgresql: str) -> None:
    assert describe(op, SQLITE) == sqlite
    assert describe(op, POSTGRESQL) == (sqlite if postgresql == "same" else postgresql)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0123, "12.3 ms"),
        (0.0, "0.0 ms"),
        (0.9994, "999.4 ms"),
        (1.0, "1.00 s"),
        (75.456, "75.46 s"),
    ],
)
def test_durations(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown
