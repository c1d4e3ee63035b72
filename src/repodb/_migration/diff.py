"""Compare the declared schemas with a live database: the operations that make them agree.

Why: ``repodb diff`` writes a migration for what the schemas declare and the
database lacks, the way Django's ``makemigrations`` and Alembic's
autogenerate do, so that an application's tables follow its schema classes
without hand-writing every ``add_column``.

What is compared: tables, columns (present, type, nullability) and indexes.
An altered column keeps its UNIQUE constraint, foreign key and (unless its
type changes) its default.
Types are compared through a canonical mapping of the database's type names
to the repodb kinds a column of that type can hold, so a column created as
``integer`` matches a declared ``int`` (migrations create ``bigint``), and
SQLite's ``TEXT``, which holds strings, decimals, UUIDs, JSON and Enums
alike, matches any of them. Defaults, foreign keys, check constraints and
primary keys of existing tables are not compared.

A generated migration must apply to a table that has rows. A NOT NULL column
added to an existing table carries its field's default into the DDL
(``column("helpful", int, default=0)``), so existing rows get it; when the
field has no default the DDL can write (none, a ``default_factory``, a value
of no literal form), ``diff`` refuses, naming each such column and what to do:
there is no value to give the existing rows that ``diff`` could choose.

Dropping is dangerous: a table, column or index the schemas do not declare
may belong to another application or hold data nobody meant to lose. Like
Ecto and Django, ``diff`` leaves them alone unless ``drop_extra=True``.

Example::

    for op in diff(conn, [User, Post]):
        print(op)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from ..connection import Connection
from ..dialect import Dialect
from ..errors import EncodeError
from ..schema import IndexDef, Schema, SchemaInfo, schema_info
from ..types import DbType, Kind, array, optional, to_dbtype
from . import introspect
from .ddl import create_index_sql, literal
from .introspect import LiveColumn, LiveIndex, LiveTable
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
    Operation,
    Raw,
    References,
)
from .runner import _rules

__all__ = ["EXTRA_DROPS", "declared_indexes", "declared_tables", "diff"]

# The operations only ``drop_extra=True`` adds; everything else ``diff``
# returns is the same either way, so one call can serve both views.
EXTRA_DROPS = (DropIndex, DropColumn, DropTable)


def declared_tables(schemas: Iterable[type[Schema]]) -> list[CreateTable]:
    """The ``CreateTable`` of each declared schema's table, referenced tables first.

    Columns come from the stored fields (their source names); a field typed
    ``T | None`` is a nullable column; a primary key whose value the
    database assigns is an ``autogenerate`` key; a ``belongs_to``
    association puts a foreign key on its column when the related schema is
    among ``schemas``. Several schemas over one table are merged (the first
    declaration of a column wins). The indexes the schemas declare with
    ``indexes=`` are given by ``declared_indexes``.
    """
    return [table for table, _ in _declared(schemas)]


def declared_indexes(schemas: Iterable[type[Schema]]) -> list[CreateIndex]:
    """The ``CreateIndex`` of each index the schemas declare with ``indexes=``."""
    return [index for _, indexes in _declared(schemas) for index in indexes]


def diff(
    conn: Connection,
    schemas: Iterable[type[Schema]],
    *,
    ignore: Iterable[str] = ("schema_migrations",),
    drop_extra: bool = False,
) -> list[Operation]:
    """The operations that bring the connection's current schema to the declared schemas.

    Options:
        ignore: live tables never reported (the migrations' own table).
        drop_extra: also drop the tables, columns and indexes the schemas do
            not declare (off by default: see the module documentation).

    The order runs: new tables (referenced before referencing ones), extra
    indexes dropped (before the columns they use), added and altered
    columns, extra columns dropped, new indexes, extra tables dropped
    (referencing before referenced). Each drop carries the definition read
    from the database when it maps back to repodb types, so the generated
    migration can be rolled back. Tables are compared by name in the
    connection's current schema, so a schema declaring another ``prefix``
    is a ValueError: connect with that schema first on the search_path.
    """
    schemas = list(schemas)
    _check_prefixes(conn, schemas)
    declared = _declared(schemas)
    for _, table_indexes in declared:
        for index in table_indexes:
            # An index the database cannot make (a partial one on MariaDB) is
            # refused now, not by the migration diff would write.
            create_index_sql(conn.dialect, index)
    skipped = set(ignore)
    live = {name: t for name, t in introspect.tables(conn).items() if name not in skipped}
    dialect = conn.dialect
    creates: list[Operation] = []
    dropped_indexes: list[Operation] = []
    changes: list[Operation] = []
    dropped_columns: list[Operation] = []
    indexes: list[Operation] = []
    dropped_tables: list[Operation] = []
    defaults = _defaults(schemas)
    for table, table_indexes in declared:
        current = live.get(table.table)
        if current is None:
            creates.append(table)
            indexes += table_indexes
            continue
        changes += _column_changes(dialect, table, current, defaults.get(table.table, {}))
        indexes += _missing_indexes(table_indexes, current)
        if drop_extra:
            dropped_indexes += _extra_indexes(table_indexes, current)
            dropped_columns += _extra_columns(dialect, table, current)
    _refuse_required_columns(changes)
    if drop_extra:
        names = {table.table for table, _ in declared}
        extra = [t for name, t in live.items() if name not in names]
        dropped_tables += [
            DropTable(t.table, definition=t if t.columns else None)
            for t in reversed(_in_dependency_order([_recreate(dialect, t) for t in extra]))
        ]
    # Indexes go before the columns they may use; new ones come once their
    # columns exist.
    return creates + dropped_indexes + changes + dropped_columns + indexes + dropped_tables


def _check_prefixes(conn: Connection, schemas: list[type[Schema]]) -> None:
    """Refuse schemas whose ``prefix`` names a database schema other than the current one."""
    prefixed = [(cls, p) for cls in schemas if (p := schema_info(cls).prefix) is not None]
    if not prefixed:
        return
    # The schema the migrations run in: the current one (SQLite's own is "main").
    current = conn.one(_rules(conn).current_schema)
    for cls, prefix in prefixed:
        if prefix != current:
            raise ValueError(
                f"{cls.__name__} declares prefix={prefix!r}, but diff compares the tables of"
                f" the connection's current schema ({current!r}): connect with {prefix!r}"
                " first on the search_path, and diff the schemas of each prefix apart"
            )


# The declared side ------------------------------------------------------------


def _declared(schemas: Iterable[type[Schema]]) -> list[tuple[CreateTable, list[CreateIndex]]]:
    infos = [schema_info(cls) for cls in schemas]
    by_class = {info.cls: info for info in infos}
    tables: dict[str, tuple[CreateTable, list[CreateIndex]]] = {}
    for info in infos:
        table = _table(info, by_class)
        index_ops = [_index(info, declared) for declared in info.indexes]
        if table.table in tables:
            first, first_indexes = tables[table.table]
            table = _merge(first, table)
            index_ops = first_indexes + [i for i in index_ops if i not in first_indexes]
        tables[table.table] = (table, index_ops)
    ordered = _in_dependency_order([table for table, _ in tables.values()])
    return [(table, tables[table.table][1]) for table in ordered]


def _table(info: SchemaInfo, known: dict[type[Schema], SchemaInfo]) -> CreateTable:
    keys = info.primary_key
    composite = len(keys) > 1
    references = _references(info, known)
    columns = []
    for f in info.fields:
        base = _base(f.dbtype)
        nullable = _is_optional(f.python_type) and not f.primary_key
        columns.append(
            ColumnDef(
                name=f.source,
                type=optional(base) if nullable else base,
                primary_key=f.primary_key and not composite,
                autogenerate=f.autogenerate and not composite and base.kind is Kind.INT,
                references=references.get(f.name),
            )
        )
    return CreateTable(
        info.table,
        tuple(columns),
        primary_key=tuple(f.source for f in keys) if composite else (),
    )


def _references(info: SchemaInfo, known: dict[type[Schema], SchemaInfo]) -> dict[str, References]:
    """The foreign keys of ``belongs_to`` associations whose related schema is declared."""
    found = {}
    for assoc in info.associations.values():
        if assoc.kind != "belongs_to" or assoc.foreign_key is None:
            continue
        related = known.get(assoc.related)
        if related is None:
            continue
        try:
            column = related.field(assoc.references).source
        except KeyError:
            column = assoc.references
        found[assoc.foreign_key] = References(related.table, column)
    return found


def _index(info: SchemaInfo, declared: IndexDef) -> CreateIndex:
    sources = {f.name: f.source for f in info.fields}
    columns = tuple(sources.get(c, c) for c in declared.columns)
    return CreateIndex(
        info.table, columns, name=declared.name, unique=declared.unique, where=declared.where
    )


def _defaults(schemas: Iterable[type[Schema]]) -> dict[str, dict[str, object]]:
    """The constant defaults of the declared fields, by table and column (the first wins)."""
    found: dict[str, dict[str, object]] = {}
    for cls in schemas:
        info = schema_info(cls)
        columns = found.setdefault(info.table, {})
        given = {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        for f in info.fields:
            value = given.get(f.name, dataclasses.MISSING)
            if value is not dataclasses.MISSING and value is not None:
                columns.setdefault(f.source, value)
    return found


def _merge(first: CreateTable, other: CreateTable) -> CreateTable:
    names = {c.name for c in first.columns}
    extra = tuple(c for c in other.columns if c.name not in names)
    return dataclasses.replace(first, columns=first.columns + extra)


def _base(t: DbType[Any]) -> DbType[Any]:
    return t.item if t.kind is Kind.OPTIONAL and t.item is not None else t


def _is_optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _in_dependency_order(tables: Sequence[CreateTable]) -> list[CreateTable]:
    """``tables`` with each referenced table before the tables referencing it.

    Declaration order is kept where references allow; tables in a reference
    cycle stay in declaration order (one of them needs its key added later).
    """
    pending = list(tables)
    names = {t.table for t in pending}
    done: list[CreateTable] = []
    placed: set[str] = set()
    while pending:
        for t in pending:
            needs = {r for r in _referenced(t) if r in names and r != t.table}
            if needs <= placed:
                break
        else:
            t = pending[0]
        pending.remove(t)
        done.append(t)
        placed.add(t.table)
    return done


def _referenced(table: CreateTable) -> set[str]:
    found = {c.references.table for c in table.columns if c.references is not None}
    return found | {fk.table for fk in table.foreign_keys}


# Comparing with the live side -------------------------------------------------


def _column_changes(
    dialect: Dialect, table: CreateTable, live: LiveTable, defaults: dict[str, object]
) -> list[Operation]:
    ops: list[Operation] = []
    for column in table.columns:
        current = live.column(column.name)
        if current is None:
            ops.append(AddColumn(table.table, _filling(dialect, column, defaults)))
            continue
        same_type = _holds(dialect, current.type, column.type)
        if same_type and (current.nullable == column.nullable or current.primary_key):
            continue
        kept = _keeping(column, live, current, same_type)
        previous = _live_column(dialect, live, current)
        ops.append(AlterColumn(table.table, kept, previous=previous))
    return ops


def _filling(dialect: Dialect, column: ColumnDef, defaults: dict[str, object]) -> ColumnDef:
    """A NOT NULL column to add, with its field's default so that existing rows get a value.

    The column is returned as declared when it needs no default (nullable,
    or a key the database assigns) or when the field has none the DDL can
    write; ``_refuse_required_columns`` then refuses it.
    """
    if column.nullable or column.autogenerate or column.name not in defaults:
        return column
    value = defaults[column.name]
    try:
        literal(dialect, column.type, value)
    except (EncodeError, TypeError, ValueError):
        return column
    return dataclasses.replace(column, default=value)


def _refuse_required_columns(changes: list[Operation]) -> None:
    """Refuse NOT NULL columns added without a default: the migration would fail on any row."""
    required = [
        f"{op.table}.{op.column.name}"
        for op in changes
        if isinstance(op, AddColumn)
        and not op.column.nullable
        and not op.column.autogenerate
        and op.column.default is NO_DEFAULT
    ]
    if required:
        raise ValueError(
            f"cannot add the NOT NULL column{'s' if len(required) > 1 else ''}"
            f" {', '.join(required)} to an existing table: its rows would need a value, and"
            " the field has no default a migration can write (none, or a default_factory)."
            " Give the field a constant default (field(default=...)), or declare it optional"
            " (Col[T | None]) and diff, backfill the rows, then make it required and diff"
            " again; or write the migration by hand (a column default=Raw(...), or"
            " add_column optional + execute an UPDATE + alter_column)"
        )


def _keeping(column: ColumnDef, live: LiveTable, current: LiveColumn, same_type: bool) -> ColumnDef:
    """The declared column with the live one's uniqueness, foreign key and default.

    ``diff`` does not compare those, so an alteration must not change them
    (SQLite's rebuild writes the column's whole definition). A default is
    kept only while the type stays: it is SQL of the old type.
    """
    default = column.default
    keep_default = same_type and not current.identity
    if default is NO_DEFAULT and current.default is not None and keep_default:
        default = Raw(current.default)
    references = column.references or _live_references(live, current)
    unique = column.unique or (current.name,) in live.unique_constraints
    return dataclasses.replace(column, default=default, unique=unique, references=references)


def _live_references(live: LiveTable, current: LiveColumn) -> References | None:
    for fk in live.foreign_keys:
        if fk.columns == (current.name,) and len(fk.references) == 1:
            return References(fk.table, fk.references[0], fk.on_delete, fk.on_update, fk.name)
    return None


def _extra_columns(dialect: Dialect, table: CreateTable, live: LiveTable) -> list[Operation]:
    declared = {c.name.lower() for c in table.columns}
    return [
        DropColumn(table.table, c.name, definition=_live_column(dialect, live, c))
        for c in live.columns
        if c.name.lower() not in declared
    ]


def _index_key(index: CreateIndex | LiveIndex) -> tuple[tuple[str, ...], bool]:
    return tuple(c.lower() for c in index.columns), index.unique


def _missing_indexes(declared: list[CreateIndex], live: LiveTable) -> list[Operation]:
    names = {i.name for i in live.indexes}
    keys = {_index_key(i) for i in live.indexes}
    return [i for i in declared if i.index_name not in names and _index_key(i) not in keys]


def _extra_indexes(declared: list[CreateIndex], live: LiveTable) -> list[Operation]:
    names = {i.index_name for i in declared}
    keys = {_index_key(i) for i in declared}
    return [
        DropIndex(
            live.name,
            i.name,
            definition=CreateIndex(live.name, i.columns, i.name, i.unique, i.where),
        )
        for i in live.indexes
        if i.name not in names and _index_key(i) not in keys
    ]


# Type names -------------------------------------------------------------------
#
# Each database's names for the column types repodb creates, and their common
# aliases: the kinds of value a column of that type holds (for comparing),
# the first being the one it maps back to (for a drop's definition).

_TEXT_KINDS = (
    Kind.STR,
    Kind.DECIMAL,
    Kind.UUID,
    Kind.JSON,
    Kind.ENUM,
    Kind.ARRAY,
    Kind.RECORD,
)
_SQLITE_TYPES: dict[str, tuple[Kind, ...]] = {
    "boolean": (Kind.BOOL,),
    "bool": (Kind.BOOL,),
    "integer": (Kind.INT, Kind.TIMEDELTA, Kind.BOOL),
    "real": (Kind.FLOAT,),
    "double": (Kind.FLOAT,),
    "double precision": (Kind.FLOAT,),
    "float": (Kind.FLOAT,),
    "text": _TEXT_KINDS,
    "blob": (Kind.BYTES,),
    "date": (Kind.DATE,),
    "datetime": (Kind.DATETIME,),
    "timestamp": (Kind.DATETIME,),
    "time": (Kind.TIME,),
    "numeric": (Kind.DECIMAL, Kind.INT, Kind.FLOAT, Kind.BOOL),
    "decimal": (Kind.DECIMAL, Kind.INT, Kind.FLOAT, Kind.BOOL),
}
_POSTGRESQL_TYPES: dict[str, tuple[Kind, ...]] = {
    "boolean": (Kind.BOOL,),
    "bigint": (Kind.INT,),
    "integer": (Kind.INT,),
    "smallint": (Kind.INT,),
    "double precision": (Kind.FLOAT,),
    "real": (Kind.FLOAT,),
    "numeric": (Kind.DECIMAL,),
    "text": (Kind.STR, Kind.ENUM),
    "character varying": (Kind.STR, Kind.ENUM),
    "character": (Kind.STR, Kind.ENUM),
    "citext": (Kind.STR, Kind.ENUM),
    "bytea": (Kind.BYTES,),
    "date": (Kind.DATE,),
    "timestamp with time zone": (Kind.DATETIME,),
    "timestamp without time zone": (Kind.DATETIME,),
    "time without time zone": (Kind.TIME,),
    "time with time zone": (Kind.TIME,),
    "interval": (Kind.TIMEDELTA,),
    "uuid": (Kind.UUID,),
    "jsonb": (Kind.JSON, Kind.RECORD),
    "json": (Kind.JSON, Kind.RECORD),
}
# MariaDB's names as information_schema writes them (lower case, sizes
# dropped here); TINYINT(1) is reported as boolean. BIGINT also holds
# timedeltas (microseconds), CHAR(36) UUIDs, LONGTEXT (which JSON is) text
# of every kind.
_MARIADB_TYPES: dict[str, tuple[Kind, ...]] = {
    "boolean": (Kind.BOOL,),
    "bigint": (Kind.INT, Kind.TIMEDELTA),
    "int": (Kind.INT,),
    "mediumint": (Kind.INT,),
    "smallint": (Kind.INT,),
    "tinyint": (Kind.INT,),
    "double": (Kind.FLOAT,),
    "float": (Kind.FLOAT,),
    "decimal": (Kind.DECIMAL,),
    "longtext": _TEXT_KINDS,
    "mediumtext": _TEXT_KINDS,
    "text": _TEXT_KINDS,
    "tinytext": _TEXT_KINDS,
    "varchar": (Kind.STR, Kind.ENUM, Kind.UUID),
    "char": (Kind.STR, Kind.UUID, Kind.ENUM),
    "json": (Kind.JSON, Kind.ARRAY, Kind.RECORD),
    "longblob": (Kind.BYTES,),
    "mediumblob": (Kind.BYTES,),
    "blob": (Kind.BYTES,),
    "tinyblob": (Kind.BYTES,),
    "varbinary": (Kind.BYTES,),
    "binary": (Kind.BYTES,),
    "date": (Kind.DATE,),
    "datetime": (Kind.DATETIME,),
    "timestamp": (Kind.DATETIME,),
    "time": (Kind.TIME,),
    "uuid": (Kind.UUID,),
}
_TYPE_NAMES = {"sqlite": _SQLITE_TYPES, "postgresql": _POSTGRESQL_TYPES, "mariadb": _MARIADB_TYPES}

# SQLite's own rules for a type name it does not know (its "affinity"),
# in its order: https://www.sqlite.org/datatype3.html#determination_of_column_affinity
_SQLITE_AFFINITY = (
    ("int", _SQLITE_TYPES["integer"]),
    ("char", _TEXT_KINDS),
    ("clob", _TEXT_KINDS),
    ("text", _TEXT_KINDS),
    ("real", _SQLITE_TYPES["real"]),
    ("floa", _SQLITE_TYPES["real"]),
    ("doub", _SQLITE_TYPES["real"]),
)

_MODIFIERS = re.compile(r"\s*\([^)]*\)")


def _kinds(dialect: Dialect, type_name: str) -> tuple[Kind, ...] | None:
    """The kinds a column of this type holds; None when anything may be (unknown, untyped)."""
    name = " ".join(_MODIFIERS.sub("", type_name).lower().split())
    if name.endswith("[]"):
        return (Kind.ARRAY,) if dialect.supports_arrays else None
    known = _TYPE_NAMES[dialect.name].get(name)
    if known is not None or dialect.name != "sqlite":
        return known
    for part, kinds in _SQLITE_AFFINITY:
        if part in name:
            return kinds
    return None


def _holds(dialect: Dialect, type_name: str, t: DbType[Any]) -> bool:
    """Whether a live column of ``type_name`` holds the values of declared type ``t``."""
    base = _base(t)
    kinds = _kinds(dialect, type_name)
    if kinds is None:
        return True
    if base.kind not in kinds:
        return False
    if base.kind is Kind.ARRAY and dialect.supports_arrays and base.item is not None:
        return _holds(dialect, type_name.strip()[:-2], base.item)
    return True


def _live_type(dialect: Dialect, type_name: str) -> DbType[Any] | None:
    """The repodb type a live column maps back to, when there is one."""
    name = type_name.strip()
    if name.endswith("[]") and dialect.supports_arrays:
        item = _live_type(dialect, name[:-2])
        return array(item) if item is not None else None
    kinds = _kinds(dialect, name)
    if not kinds or kinds[0] in (Kind.ARRAY, Kind.RECORD, Kind.ENUM):
        return None
    return to_dbtype(_PYTHON[kinds[0]])


_CLASSES: tuple[type[Any], ...] = (
    bool,
    int,
    float,
    Decimal,
    str,
    bytes,
    dt.date,
    dt.datetime,
    dt.time,
    dt.timedelta,
    uuid.UUID,
    dict,
)
_PYTHON = {to_dbtype(c).kind: c for c in _CLASSES}


def _live_column(dialect: Dialect, table: LiveTable, column: LiveColumn) -> ColumnDef | None:
    """The definition of a live column in repodb terms, or None when its type has none."""
    t = _live_type(dialect, column.type)
    if t is None:
        return None
    single_key = table.primary_key == (column.name,)
    return ColumnDef(
        name=column.name,
        type=optional(t) if column.nullable else t,
        primary_key=single_key,
        autogenerate=single_key and column.identity and t.kind is Kind.INT,
        default=NO_DEFAULT if column.default is None or column.identity else Raw(column.default),
        unique=(column.name,) in table.unique_constraints,
        references=_live_references(table, column),
    )


def _recreate(dialect: Dialect, table: LiveTable) -> CreateTable:
    """A live table as a ``CreateTable``; no columns when one of them has no repodb type."""
    columns = [_live_column(dialect, table, c) for c in table.columns]
    if any(c is None for c in columns):
        return CreateTable(table.name, ())
    composite = len(table.primary_key) > 1
    return CreateTable(
        table.name,
        tuple(c for c in columns if c is not None),
        primary_key=table.primary_key if composite else (),
        unique=tuple(u for u in table.unique_constraints if len(u) > 1),
        foreign_keys=tuple(fk for fk in table.foreign_keys if len(fk.columns) > 1),
    )
