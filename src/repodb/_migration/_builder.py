"""What a migration file writes with: ``column``, ``references`` and ``Ops``.

Why: a migration's ``up``, ``down`` or ``change`` receives an ``Ops`` whose
methods build operation values (``repodb._migration.ops``) and hand each to
the runner, which runs it at once or, for ``change``, records it first so it
can be checked and inverted before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..connection import Connection
from ..dialect import Dialect
from ..types import Spec, to_dbtype
from .ddl import check_identifiers
from .ops import (
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
    ForeignKey,
    OnAction,
    Operation,
    References,
    RenameColumn,
    RenameTable,
)

__all__ = ["Ops", "column", "references"]


def column(
    name: str,
    type: Spec[Any],
    *,
    primary_key: bool = False,
    autogenerate: bool = False,
    default: Any = NO_DEFAULT,
    unique: bool = False,
    references: References | str | None = None,
    check: str | None = None,
) -> ColumnDef:
    """A column definition for ``create_table``, ``add_column`` and ``alter_column``.

    ``type`` is a repodb type spec (``int``, ``str``, ``optional(int)``,
    ``array(str)``, an Enum class, ...): ``optional(...)`` makes the column
    nullable, anything else NOT NULL. ``default`` is a Python value, written
    as a literal of the column's type, or ``Raw("SQL")``. ``references`` is a
    table name (its ``id`` column) or ``references(...)``; ``check`` is the
    SQL of a CHECK constraint on the column.

    Example::

        column("id", int, primary_key=True, autogenerate=True)
        column("author_id", int, references=references("users", on_delete="cascade"))
    """
    ref = References(references) if isinstance(references, str) else references
    return ColumnDef(
        name,
        to_dbtype(type),
        primary_key=primary_key,
        autogenerate=autogenerate,
        default=default,
        unique=unique,
        references=ref,
        check=check,
    )


def references(
    table: str,
    column: str = "id",
    *,
    on_delete: OnAction = "no_action",
    on_update: OnAction = "no_action",
    name: str | None = None,
    prefix: str | None = None,
) -> References:
    """A column's foreign key to ``table`` (``column`` defaults to ``id``).

    ``on_delete`` / ``on_update``: ``no_action`` (the default), ``restrict``,
    ``cascade``, ``set_null`` or ``set_default``. ``prefix`` is the schema
    ``table`` is in, when not the current one.
    """
    return References(
        table, column, on_delete=on_delete, on_update=on_update, name=name, prefix=prefix
    )


class Ops:
    """The operations a migration's ``up``, ``down`` or ``change`` performs.

    Each method builds one operation and runs it (in ``up``/``down``) or
    records it (in ``change``, which must do nothing but call these methods:
    it is replayed backwards to undo it). ``connection`` is there for data
    migrations in ``up``/``down``; ``dialect`` for SQL that differs by database.

    A table name is one identifier (a dot is part of it); every method takes
    ``prefix=``, the schema the table is in (PostgreSQL), as a schema class's
    ``prefix=`` does. Without it, the table is in the connection's current
    schema, where the history table is.

    Example::

        def up(ops: Ops) -> None:
            ops.add_column("users", column("nickname", optional(str)))
            ops.execute("UPDATE users SET nickname = name")
    """

    def __init__(
        self, connection: Connection, sink: Callable[[Operation], None], *, recording: bool = False
    ) -> None:
        self._connection = connection
        self.dialect: Dialect = connection.dialect
        self._sink = sink
        self._recording = recording

    @property
    def connection(self) -> Connection:
        """The migration's connection, inside its transaction (not in ``change``).

        ``change`` is recorded, then replayed (or inverted) later, so SQL it
        ran itself would run at the wrong time and never be undone.
        """
        if self._recording:
            raise TypeError(
                "change(ops) cannot use ops.connection: its operations are recorded and"
                " undone by their inverses; move data changes to up(ops) and down(ops),"
                " or use ops.execute(sql, down=...)"
            )
        return self._connection

    def run(self, op: Operation) -> None:
        """Run (or record) any operation value; a name too long for the database is a ValueError."""
        check_identifiers(self.dialect, op)
        self._sink(op)

    def create_table(
        self,
        table: str,
        columns: Sequence[ColumnDef],
        *,
        primary_key: Sequence[str] = (),
        unique: Sequence[Sequence[str]] = (),
        checks: Mapping[str, str] | None = None,
        foreign_keys: Sequence[ForeignKey] = (),
        if_not_exists: bool = False,
        prefix: str | None = None,
    ) -> None:
        """``CREATE TABLE``.

        Options:
            primary_key: the columns of a composite key (else the columns'
                own ``primary_key`` flags).
            unique: column lists, each a UNIQUE constraint: ``[("a", "b")]``.
            checks: named CHECK constraints: ``{"positive_price": "price > 0"}``.
            foreign_keys: table-level (composite) foreign keys.
        """
        if isinstance(unique, str) or any(isinstance(u, str) for u in unique):
            raise TypeError('unique= takes lists of columns, e.g. unique=[("a", "b")]')
        self.run(
            CreateTable(
                table,
                tuple(columns),
                primary_key=tuple(primary_key),
                unique=tuple(tuple(u) for u in unique),
                checks=tuple((checks or {}).items()),
                foreign_keys=tuple(foreign_keys),
                if_not_exists=if_not_exists,
                prefix=prefix,
            )
        )

    def drop_table(
        self,
        table: str,
        *,
        if_exists: bool = False,
        columns: Sequence[ColumnDef] | None = None,
        prefix: str | None = None,
    ) -> None:
        """``DROP TABLE``; in ``change``, give the ``columns`` so it can be re-created."""
        definition = None if columns is None else CreateTable(table, tuple(columns), prefix=prefix)
        self.run(DropTable(table, if_exists=if_exists, definition=definition, prefix=prefix))

    def rename_table(self, table: str, new_name: str, *, prefix: str | None = None) -> None:
        """``ALTER TABLE ... RENAME TO`` (the table stays in its schema)."""
        self.run(RenameTable(table, new_name, prefix))

    def add_column(self, table: str, column: ColumnDef, *, prefix: str | None = None) -> None:
        """``ALTER TABLE ... ADD COLUMN``; existing rows get the column's default.

        Where SQLite's ADD COLUMN refuses the column (UNIQUE, a ``Raw``
        default, NOT NULL without a default), it is added bare, filled with its
        default and given its definition by a table rebuild.
        """
        self.run(AddColumn(table, column, prefix))

    def drop_column(
        self,
        table: str,
        name: str,
        *,
        definition: ColumnDef | None = None,
        prefix: str | None = None,
    ) -> None:
        """Drop a column (a table rebuild on SQLite); ``definition`` makes it reversible."""
        self.run(DropColumn(table, name, definition=definition, prefix=prefix))

    def rename_column(
        self, table: str, name: str, new_name: str, *, prefix: str | None = None
    ) -> None:
        """``ALTER TABLE ... RENAME COLUMN``."""
        self.run(RenameColumn(table, name, new_name, prefix))

    def alter_column(
        self,
        table: str,
        column: ColumnDef,
        *,
        previous: ColumnDef | None = None,
        prefix: str | None = None,
    ) -> None:
        """Give ``column.name`` a new type, nullability or default.

        PostgreSQL converts existing values with a cast; SQLite rebuilds the
        table, keeping its rows, indexes, triggers and foreign keys.
        ``previous`` (the definition before) makes it reversible.
        """
        self.run(AlterColumn(table, column, previous=previous, prefix=prefix))

    def create_index(
        self,
        table: str,
        columns: Sequence[str],
        *,
        name: str | None = None,
        unique: bool = False,
        where: str | None = None,
        concurrently: bool = False,
        if_not_exists: bool = False,
        prefix: str | None = None,
        using: str | None = None,
        search: str | None = None,
    ) -> None:
        """``CREATE INDEX``, named ``<table>_<columns>_index`` unless ``name`` is given.

        Options:
            where: SQL of a partial index's condition.
            concurrently: build without blocking writes (PostgreSQL; the
                migration must set ``transaction = False``). SQLite has no
                such build and makes a normal index.
            using: the index method, e.g. ``"gin"`` for a jsonb column that
                ``json_contains``/``json_has_key`` search (PostgreSQL; SQLite
                makes a normal index).
            search: a text-search configuration (``"english"``): index
                ``to_tsvector(search, columns...)``, the expression
                ``repodb.functions.to_tsvector(search, ...)`` writes, so
                ``ts_match`` queries use it. PostgreSQL only; give
                ``using="gin"`` with it.
        """
        self.run(
            CreateIndex(
                table,
                tuple(columns),
                name=name,
                unique=unique,
                where=where,
                concurrently=concurrently,
                if_not_exists=if_not_exists,
                prefix=prefix,
                using=using,
                search=search,
            )
        )

    def drop_index(
        self,
        table: str,
        name: str,
        *,
        concurrently: bool = False,
        if_exists: bool = False,
        definition: CreateIndex | None = None,
        prefix: str | None = None,
    ) -> None:
        """``DROP INDEX``; ``definition`` makes it reversible in ``change``."""
        self.run(
            DropIndex(
                table,
                name,
                concurrently=concurrently,
                if_exists=if_exists,
                definition=definition,
                prefix=prefix,
            )
        )

    def execute(self, sql: str, *, down: str | None = None) -> None:
        """Run one SQL statement; ``down`` is the statement undoing it (for ``change``)."""
        self.run(Execute(sql, down))


for _obj in (Ops, column, references):
    _obj.__module__ = "repodb.migration"
