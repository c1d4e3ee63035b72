"""Operations rendered as a migration file read back as the same operations.

Covered: every operation kind, with every option, round-trips through the
rendered ``change(ops)`` (run with a recording ``Ops``); types (optional,
array, json, dates, Decimal, UUID, an Enum imported from its module) and
defaults (plain values, Enum members, Decimal, datetimes, ``Raw``); long SQL
is split over lines; the file passes the project's ruff check; operations
``change`` cannot undo give ``up``/``down``, where ``down`` runs the inverses
or, when one is missing, raises ``IrreversibleError`` saying which; a class
a migration cannot import and a default Python cannot write are refused.
"""

from __future__ import annotations

import datetime
import enum
import http
import subprocess
import sys
import types
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

import repodb
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
    ForeignKey,
    IrreversibleError,
    Operation,
    Raw,
    References,
    RenameColumn,
    RenameTable,
    inverse,
)
from repodb._migration.pysource import render_operations
from repodb.migration import Ops
from repodb.types import array, json, optional, to_dbtype

ROOT = Path(__file__).resolve().parents[2]
INT = to_dbtype(int)
STR = to_dbtype(str)

REVERSIBLE: list[Operation] = [
    CreateTable(
        "users",
        (
            ColumnDef("id", INT, primary_key=True, autogenerate=True),
            ColumnDef("email", STR, unique=True, check="email <> ''"),
            ColumnDef("karma", optional(INT), default=0),
            ColumnDef("price", to_dbtype(Decimal), default=Decimal("1.10")),
            ColumnDef("at", to_dbtype(datetime.datetime), default=Raw("CURRENT_TIMESTAMP")),
            ColumnDef(
                "born", optional(to_dbtype(datetime.date)), default=datetime.date(2000, 1, 2)
            ),
            ColumnDef("status", to_dbtype(http.HTTPStatus), default=http.HTTPStatus.OK),
            ColumnDef("tags", array(STR)),
            ColumnDef("doc", json(), default={"a": [1, None]}),
            ColumnDef("key", to_dbtype(uuid.UUID), default=uuid.UUID(int=5)),
            ColumnDef("wait", to_dbtype(datetime.timedelta), default=datetime.timedelta(seconds=3)),
            ColumnDef("flag", to_dbtype(bool), default=False),
            ColumnDef("blob", optional(bytes), default=b"\x00'\""),
            ColumnDef("quote", STR, default='it\'s "quoted"'),
        ),
    ),
    CreateTable(
        "tags",
        (ColumnDef("post_id", INT), ColumnDef("name", STR)),
        primary_key=("post_id", "name"),
        unique=(("name",), ("name", "post_id")),
        checks=(("short", "length(name) < 10"),),
        foreign_keys=(
            ForeignKey(("post_id",), "posts", ("id",), on_delete="cascade", name="tags_post"),
        ),
        if_not_exists=True,
    ),
    DropTable("old", if_exists=True, definition=CreateTable("old", (ColumnDef("id", INT),))),
    RenameTable("tags", "labels"),
    AddColumn("posts", ColumnDef("user_id", INT, references=References("users"))),
    AddColumn(
        "posts",
        ColumnDef(
            "editor_id",
            optional(INT),
            references=References("users", "key", "set_null", "cascade", "posts_editor"),
        ),
    ),
    DropColumn("posts", "body", definition=ColumnDef("body", optional(STR))),
    RenameColumn("posts", "title", "headline"),
    AlterColumn("posts", ColumnDef("n", INT, default=1), previous=ColumnDef("n", optional(STR))),
    CreateIndex("posts", ("user_id", "headline")),
    CreateIndex("posts", ("n",), name="n_idx", unique=True, where="n > 0", if_not_exists=True),
    CreateIndex("posts", ("n",), name="n_conc", concurrently=True),
    CreateIndex("posts", ("data",), using="gin"),
    CreateIndex("posts", ("title", "body"), name="posts_search", using="gin", search="english"),
    # A table in another schema is named by prefix=; a dot is part of a name.
    CreateTable(
        "a.b",
        (ColumnDef("id", INT),),
        foreign_keys=(ForeignKey(("id",), "users", ("id",), prefix="auth"),),
        prefix="app",
    ),
    DropTable(
        "a.b", definition=CreateTable("a.b", (ColumnDef("id", INT),), prefix="app"), prefix="app"
    ),
    RenameTable("a.b", "a.c", prefix="app"),
    AddColumn("a.c", ColumnDef("u", INT, references=References("users", prefix="auth")), "app"),
    DropColumn("a.c", "u", definition=ColumnDef("u", INT), prefix="app"),
    RenameColumn("a.c", "id", "key", prefix="app"),
    AlterColumn("a.c", ColumnDef("key", STR), previous=ColumnDef("key", INT), prefix="app"),
    CreateIndex("a.c", ("key",), prefix="app"),
    Execute(
        "UPDATE posts SET n = 0 WHERE n IS NULL AND headline LIKE '%x%' AND a very long"
        " condition that does not fit on one line of a migration file",
        down="SELECT 1",
    ),
]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[repodb.Connection]:
    with repodb.connect(f"sqlite:///{tmp_path / 'ops.db'}") as c:
        yield c


def load(source: str) -> types.ModuleType:
    module = types.ModuleType("rendered_migration")
    exec(compile(source, "rendered_migration.py", "exec"), module.__dict__)
    return module


def record(conn: repodb.Connection, module: types.ModuleType, function: str) -> list[Operation]:
    done: list[Operation] = []
    getattr(module, function)(Ops(conn, done.append))
    return done


def test_every_operation_round_trips_through_change(conn: repodb.Connection) -> None:
    source = render_operations(REVERSIBLE)
    module = load(source)
    assert not hasattr(module, "up")
    assert record(conn, module, "change") == REVERSIBLE
    assert "from http import HTTPStatus" in source
    assert all(len(line) <= 100 for line in source.splitlines())


def test_the_file_is_ruff_clean(tmp_path: Path) -> None:
    path = tmp_path / "20261126141500_diff.py"
    path.write_text(render_operations([*REVERSIBLE, DropColumn("users", "x")]))
    ruff = Path(sys.executable).parent / "ruff"
    config = str(ROOT / "pyproject.toml")
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", "--config", config, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_what_change_cannot_undo_is_written_as_up_and_down(conn: repodb.Connection) -> None:
    index = CreateIndex("posts", ("n",), name="n_idx")
    operations: list[Operation] = [
        AddColumn("posts", ColumnDef("n", INT)),
        DropIndex("posts", "n_idx", definition=index),
        DropTable("old", definition=CreateTable("old", (ColumnDef("a", INT),), primary_key=("a",))),
        AlterColumn("posts", ColumnDef("m", INT), previous=ColumnDef("m", STR)),
    ]
    module = load(render_operations(operations, title='Drop an "index" \\ more.'))
    assert module.__doc__ == 'Drop an "index" \\ more.'
    assert not hasattr(module, "change")
    up = record(conn, module, "up")
    # drop_index and drop_table say no definition in up: down carries it.
    assert up == [
        operations[0],
        DropIndex("posts", "n_idx"),
        DropTable("old"),
        operations[3],
    ]
    assert record(conn, module, "down") == [inverse(op) for op in reversed(operations)]


def test_down_refuses_when_an_operation_cannot_be_undone(conn: repodb.Connection) -> None:
    operations: list[Operation] = [
        AddColumn("posts", ColumnDef("n", INT)),
        DropColumn("posts", "body"),
        Execute("DELETE FROM posts"),
    ]
    module = load(render_operations(operations))
    assert record(conn, module, "up") == operations
    with pytest.raises(IrreversibleError, match="cannot be rolled back: execute"):
        record(conn, module, "down")


class LocalColor(enum.Enum):
    RED = 1


def test_an_enum_is_imported_from_its_module(conn: repodb.Connection) -> None:
    op = AddColumn("t", ColumnDef("c", to_dbtype(LocalColor), default=LocalColor.RED))
    source = render_operations([op])
    assert f"from {__name__} import LocalColor" in source
    assert record(conn, load(source), "change") == [op]


def test_what_python_cannot_write_is_refused() -> None:
    hidden = enum.Enum("hidden", "A")
    hidden.__module__ = "__main__"
    with pytest.raises(ValueError, match="cannot import it"):
        render_operations([AddColumn("t", ColumnDef("c", to_dbtype(hidden)))])
    with pytest.raises(ValueError, match="cannot write the default nan"):
        render_operations([AddColumn("t", ColumnDef("c", to_dbtype(float), default=float("nan")))])


class Trap(dict[str, int]):
    """A JSON default whose repr is code: writing a migration must never run it."""

    ran: ClassVar[list[str]] = []

    def __repr__(self) -> str:
        return f"__import__({__name__!r}, fromlist=['Trap']).Trap.ran.append('ran')"


class Quote(str):
    __slots__ = ()

    def __repr__(self) -> str:
        return "__import__('os').getcwd()"


def test_a_default_whose_repr_is_code_is_refused_without_running_it() -> None:
    with pytest.raises(ValueError, match="cannot write the default"):
        render_operations([AddColumn("t", ColumnDef("c", json(), default=Trap(a=1)))])
    assert Trap.ran == []
    source = render_operations([AddColumn("t", ColumnDef("c", STR, default=Quote("x")))])
    assert "getcwd" not in source
    assert 'default="x"' in source


class Paris(datetime.tzinfo):
    """A time zone of its own class, whose repr does not read back."""

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(hours=2)

    def dst(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(hours=1)

    def tzname(self, dt: datetime.datetime | None) -> str:
        return "CEST"


def test_datetimes_are_written_with_the_standard_time_zones_only() -> None:
    utc = datetime.datetime(2024, 5, 6, 7, 8, tzinfo=datetime.UTC)
    op = AddColumn("t", ColumnDef("c", to_dbtype(datetime.datetime), default=utc))
    assert "datetime.datetime(2024, 5, 6, 7, 8, tzinfo=datetime.timezone.utc)" in (
        render_operations([op])
    )
    paris = utc.astimezone(Paris())
    with pytest.raises(ValueError, match="cannot write the default"):
        render_operations(
            [AddColumn("t", ColumnDef("c", to_dbtype(datetime.datetime), default=paris))]
        )
