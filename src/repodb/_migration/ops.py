"""Migration operations as immutable values, and their inverses.

Why: a migration's ``up`` records or runs operations; ``change`` is run
backwards by inverting each one, so the operations are plain data that the
DDL renderer (per dialect), the SQLite table rebuild and ``diff`` all share.

A table is named by ``table``, one identifier (a dot is part of the name),
and ``prefix``, the schema it is in (PostgreSQL) or None for the
connection's current schema: the same rule as a schema's ``table=`` and
``prefix=``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal, TypeAlias

from ..types import DbType, Kind

# An index method or a text-search configuration: written into DDL as it is.
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

__all__ = [
    "NO_DEFAULT",
    "AddColumn",
    "AlterColumn",
    "ColumnDef",
    "CreateIndex",
    "CreateTable",
    "DropColumn",
    "DropIndex",
    "DropTable",
    "Execute",
    "ForeignKey",
    "IrreversibleError",
    "OnAction",
    "Operation",
    "Raw",
    "References",
    "RenameColumn",
    "RenameTable",
    "default_index_name",
    "identifiers",
    "inverse",
]

OnAction: TypeAlias = Literal["no_action", "restrict", "cascade", "set_null", "set_default"]


class IrreversibleError(Exception):
    """An operation in ``change`` cannot be undone without more information."""


class _NoDefault:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
"""A column without a DEFAULT clause (distinct from a default of None, i.e. NULL)."""


@dataclasses.dataclass(frozen=True)
class Raw:
    """SQL text used verbatim as a column default, e.g. ``Raw("CURRENT_TIMESTAMP")``."""

    sql: str


@dataclasses.dataclass(frozen=True)
class References:
    """A column's foreign key: ``REFERENCES table (column)`` with its actions."""

    table: str
    column: str = "id"
    on_delete: OnAction = "no_action"
    on_update: OnAction = "no_action"
    name: str | None = None
    prefix: str | None = None


@dataclasses.dataclass(frozen=True)
class ColumnDef:
    """One column of a table.

    ``type`` is a repodb type; ``optional(...)`` makes the column nullable,
    any other type NOT NULL. ``default`` is a Python value (rendered as a
    SQL literal of the column's type), ``Raw`` SQL, or ``NO_DEFAULT``.
    ``autogenerate`` marks an integer key the database assigns (an identity
    column on PostgreSQL, the rowid alias on SQLite).
    """

    name: str
    type: DbType[Any]
    primary_key: bool = False
    autogenerate: bool = False
    default: Any = NO_DEFAULT
    unique: bool = False
    references: References | None = None
    check: str | None = None

    @property
    def nullable(self) -> bool:
        """Whether the column admits NULL (its type is ``optional``)."""
        return self.type.kind is Kind.OPTIONAL


@dataclasses.dataclass(frozen=True)
class ForeignKey:
    """A table-level (possibly composite) foreign key."""

    columns: tuple[str, ...]
    table: str
    references: tuple[str, ...]
    on_delete: OnAction = "no_action"
    on_update: OnAction = "no_action"
    name: str | None = None
    prefix: str | None = None


@dataclasses.dataclass(frozen=True)
class CreateTable:
    """``CREATE TABLE``; ``primary_key`` names a composite key (else the columns' flags)."""

    table: str
    columns: tuple[ColumnDef, ...]
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    checks: tuple[tuple[str, str], ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    if_not_exists: bool = False
    prefix: str | None = None


@dataclasses.dataclass(frozen=True)
class DropTable:
    """``DROP TABLE``; reversible when ``definition`` is given."""

    table: str
    if_exists: bool = False
    definition: CreateTable | None = None
    prefix: str | None = None


@dataclasses.dataclass(frozen=True)
class RenameTable:
    table: str
    new_name: str
    prefix: str | None = None


@dataclasses.dataclass(frozen=True)
class AddColumn:
    table: str
    column: ColumnDef
    prefix: str | None = None


@dataclasses.dataclass(frozen=True)
class DropColumn:
    """Drop a column; reversible when ``definition`` is given."""

    table: str
    name: str
    definition: ColumnDef | None = None
    prefix: str | None = None


@dataclasses.dataclass(frozen=True)
class RenameColumn:
    table: str
    name: str
    new_name: str
    prefix: str | None = None


@dataclasses.dataclass(frozen=True)
class AlterColumn:
    """Give a column a new definition (type, nullability, default).

    ``column.name`` is the column altered. Reversible when ``previous`` (the
    definition before) is given.
    """

    table: str
    column: ColumnDef
    previous: ColumnDef | None = None
    prefix: str | None = None


@dataclasses.dataclass(frozen=True)
class CreateIndex:
    """``CREATE [UNIQUE] INDEX``; ``where`` (SQL text) makes it partial.

    ``concurrently`` (PostgreSQL) builds it without locking writes; such a
    migration must opt out of its transaction. ``using`` is the index method
    (``gin`` for jsonb containment and full-text search; PostgreSQL only,
    SQLite makes a plain index); ``search`` (a text-search configuration
    such as ``english``) indexes ``to_tsvector(search, columns...)``, the
    expression ``functions.to_tsvector`` writes (PostgreSQL only).
    """

    table: str
    columns: tuple[str, ...]
    name: str | None = None
    unique: bool = False
    where: str | None = None
    concurrently: bool = False
    if_not_exists: bool = False
    prefix: str | None = None
    using: str | None = None
    search: str | None = None

    def __post_init__(self) -> None:
        for option, word in (("using", self.using), ("search", self.search)):
            # Both are written into the DDL as they are: a name, nothing else.
            if word is not None and not _WORD.fullmatch(word):
                raise ValueError(f"create_index {option}= takes a name, not {word!r}")

    @property
    def index_name(self) -> str:
        """The given name, or ``<table>_<columns>_index``."""
        return self.name or default_index_name(self.table, self.columns)


@dataclasses.dataclass(frozen=True)
class DropIndex:
    """``DROP INDEX``; reversible when ``definition`` is given."""

    table: str
    name: str
    concurrently: bool = False
    if_exists: bool = False
    definition: CreateIndex | None = None
    prefix: str | None = None


@dataclasses.dataclass(frozen=True)
class Execute:
    """Raw SQL; ``down`` is the SQL that undoes it (None: irreversible)."""

    sql: str
    down: str | None = None


Operation: TypeAlias = (
    CreateTable
    | DropTable
    | RenameTable
    | AddColumn
    | DropColumn
    | RenameColumn
    | AlterColumn
    | CreateIndex
    | DropIndex
    | Execute
)


def default_index_name(table: str, columns: tuple[str, ...]) -> str:
    """Ecto's index name: ``<table>_<col1>_<col2>_index`` (in the table's schema)."""
    return "_".join((table, *columns, "index"))


def identifiers(op: Operation) -> list[str]:
    """Every name ``op`` writes into SQL: tables, schemas, columns, indexes, constraints.

    The index name ``create_index`` makes up is included: it is the one most
    likely to be too long.
    """
    names: list[str | None]
    match op:
        case CreateTable():
            names = [op.table, *op.primary_key, *(n for u in op.unique for n in u)]
            names += [name for name, _ in op.checks]
            for c in op.columns:
                names += _column_identifiers(c)
            for fk in op.foreign_keys:
                names += [*fk.columns, fk.table, *fk.references, fk.name, fk.prefix]
        case DropTable():
            names = [op.table, *(identifiers(op.definition) if op.definition else ())]
        case RenameTable():
            names = [op.table, op.new_name]
        case AddColumn() | AlterColumn():
            names = [op.table, *_column_identifiers(op.column)]
        case DropColumn():
            names = [op.table, op.name]
        case RenameColumn():
            names = [op.table, op.name, op.new_name]
        case CreateIndex():
            names = [op.table, *op.columns, op.index_name]
        case DropIndex():
            names = [op.table, op.name]
        case Execute():
            return []
    return [n for n in (*names, op.prefix) if n is not None]


def _column_identifiers(col: ColumnDef) -> list[str | None]:
    ref = col.references
    return [col.name] if ref is None else [col.name, ref.table, ref.column, ref.name, ref.prefix]


def inverse(op: Operation) -> Operation:
    """The operation that undoes ``op``; IrreversibleError when it needs what ``op`` lacks."""
    match op:
        case CreateTable():
            return DropTable(op.table, definition=op, prefix=op.prefix)
        case DropTable(definition=CreateTable() as definition):
            return definition
        case RenameTable():
            return RenameTable(op.new_name, op.table, op.prefix)
        case AddColumn():
            return DropColumn(op.table, op.column.name, definition=op.column, prefix=op.prefix)
        case DropColumn(definition=ColumnDef() as definition):
            return AddColumn(op.table, definition, op.prefix)
        case RenameColumn():
            return RenameColumn(op.table, op.new_name, op.name, op.prefix)
        case AlterColumn(previous=ColumnDef() as previous):
            return AlterColumn(op.table, previous, previous=op.column, prefix=op.prefix)
        case CreateIndex():
            return DropIndex(
                op.table, op.index_name, op.concurrently, definition=op, prefix=op.prefix
            )
        case DropIndex(definition=CreateIndex() as definition):
            return definition
        case Execute(down=str() as down):
            return Execute(down, op.sql)
    raise IrreversibleError(_why_irreversible(op))


def _why_irreversible(op: Operation) -> str:
    match op:
        case DropTable():
            return f"drop_table({op.table!r}) in change() needs the table's definition to undo"
        case DropColumn():
            return f"drop_column({op.table!r}, {op.name!r}) in change() needs its definition"
        case AlterColumn():
            return (
                f"alter_column({op.table!r}, {op.column.name!r}) in change() needs the"
                " previous definition (previous=...)"
            )
        case DropIndex():
            return f"drop_index({op.name!r}) in change() needs the index's definition"
        case Execute():
            return "execute() in change() needs down=... SQL to undo"
    return f"{op!r} cannot be undone"  # pragma: no cover
