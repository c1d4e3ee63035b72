"""DDL per dialect: migration operations as SQL text, with the dialects' facts as data.

Why: a migration declares columns with repodb types (``int``, ``optional(str)``),
the same types requests and schemas use, so a table's columns decode the way
its schema expects on every database. The type names below are chosen for
that: on SQLite every name gives the storage affinity the codecs rely on
(Decimal is kept as text, so its column must have TEXT affinity, or SQLite
would turn ``1.10`` into the float 1.1).

What differs between databases is a ``DdlRules`` record per dialect: the
identity key, how a value is written as a literal, whether a concurrent
index build exists, which ALTER forms are native (SQLite's missing ones are
done by ``sqlite_rebuild``). DDL cannot bind parameters, so defaults are the
one place values are written into SQL text; ``literal`` does it, checking
the value against the column type first, exactly as a bound value is.

Example::

    >>> from repodb.dialect import SQLITE
    >>> operation_sql(SQLITE, CreateIndex("users", ("email",), unique=True))
    ['CREATE UNIQUE INDEX "users_email_index" ON "users" ("email")']
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from .._codec import Codecs, encoder
from ..dialect import POSTGRESQL, Dialect, check_identifier
from ..driver._mariadb import CODECS as MARIADB_CODECS
from ..driver.sqlite import CODECS as SQLITE_CODECS
from ..types import DbType, Kind
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
    Raw,
    References,
    RenameColumn,
    RenameTable,
    identifiers,
)

__all__ = [
    "DdlRules",
    "bare_add_column",
    "check_identifiers",
    "column_sql",
    "column_type",
    "default_sql",
    "literal",
    "needs_rebuild",
    "operation_sql",
    "outside_transaction",
    "rules",
]

_TYPE_NAMES: dict[str, dict[Kind, str]] = {
    "sqlite": {
        Kind.BOOL: "BOOLEAN",
        Kind.INT: "INTEGER",
        Kind.FLOAT: "REAL",
        Kind.DECIMAL: "TEXT",
        Kind.STR: "TEXT",
        Kind.BYTES: "BLOB",
        Kind.DATE: "DATE",
        Kind.DATETIME: "DATETIME",
        Kind.TIME: "TIME",
        Kind.TIMEDELTA: "INTEGER",
        Kind.UUID: "TEXT",
        Kind.JSON: "TEXT",
        Kind.ENUM: "TEXT",
        # Arrays and embedded records are JSON text there.
        Kind.ARRAY: "TEXT",
        Kind.RECORD: "TEXT",
    },
    "postgresql": {
        Kind.BOOL: "boolean",
        Kind.INT: "bigint",
        Kind.FLOAT: "double precision",
        Kind.DECIMAL: "numeric",
        Kind.STR: "text",
        Kind.BYTES: "bytea",
        Kind.DATE: "date",
        Kind.DATETIME: "timestamptz",
        Kind.TIME: "time",
        Kind.TIMEDELTA: "interval",
        Kind.UUID: "uuid",
        Kind.JSON: "jsonb",
        Kind.ENUM: "text",
        Kind.RECORD: "jsonb",
    },
    # The storage forms of driver/_mariadb.py: datetimes in UTC with
    # microseconds, timedeltas as microseconds, UUIDs as text (MariaDB
    # 10.11's UUID type reorders and refuses some valid ones), arrays and
    # records as JSON (LONGTEXT with a json_valid CHECK). Text is LONGTEXT,
    # unbounded as PostgreSQL's: MariaDB indexes it by a 768-character prefix
    # and makes a UNIQUE one a hash key. DECIMAL keeps 35 digits before the
    # point and 30 after (its default, DECIMAL(10, 0), would round away every
    # fraction).
    "mariadb": {
        Kind.BOOL: "BOOLEAN",
        Kind.INT: "BIGINT",
        Kind.FLOAT: "DOUBLE",
        Kind.DECIMAL: "DECIMAL(65, 30)",
        Kind.STR: "LONGTEXT",
        Kind.BYTES: "LONGBLOB",
        Kind.DATE: "DATE",
        Kind.DATETIME: "DATETIME(6)",
        Kind.TIME: "TIME(6)",
        Kind.TIMEDELTA: "BIGINT",
        Kind.UUID: "CHAR(36)",
        Kind.JSON: "JSON",
        Kind.ENUM: "VARCHAR(255)",
        Kind.ARRAY: "JSON",
        Kind.RECORD: "JSON",
    },
}


def column_type(dialect: Dialect, t: DbType[Any], *, key: bool = False) -> str:
    """The SQL type name of a column holding ``t`` (nullability aside).

    ``key``: the column is (part of) a primary key or a foreign key, whose
    type may differ (``DdlRules.key_types``).
    """
    if t.kind is Kind.OPTIONAL:
        assert t.item is not None
        return column_type(dialect, t.item, key=key)
    if key and dialect.name in _RULES:
        for kind, name in _RULES[dialect.name].key_types:
            if kind is t.kind:
                return name
    names = _TYPE_NAMES[dialect.name]
    if t.kind is Kind.ARRAY and Kind.ARRAY not in names:
        assert t.item is not None
        return column_type(dialect, t.item) + "[]"
    try:
        return names[t.kind]
    except KeyError:
        raise TypeError(f"a {dialect.name} column cannot hold {t!r}") from None


# The value checks of every driver, with no storage conversion: what a
# PostgreSQL default is checked with before it is written as a typed literal.
_CHECK_ONLY = Codecs(name="check", encode={}, decode={})


def _quote_text(text: str) -> str:
    """A SQL string literal: quotes doubled; NUL rejected (no database keeps it in text)."""
    if "\x00" in text:
        raise ValueError("a SQL literal cannot contain NUL (\\x00)")
    return "'" + text.replace("'", "''") + "'"


def _sqlite_literal(t: DbType[Any], value: object) -> str:
    """A SQLite literal of the value's storage form, the one its codec writes.

    Encoding through the driver's codecs means a default reads back exactly
    like a value the application inserted (a datetime as UTC text, a bool as
    0/1, an Enum as its member's name).
    """
    stored = encoder(t, SQLITE_CODECS)(value)
    match stored:
        case None:
            return "NULL"
        case bool() | int():
            return str(int(stored))
        case float():
            if not math.isfinite(stored):
                raise ValueError(f"SQLite cannot keep {stored!r} as a default")
            return repr(stored)
        case str():
            return _quote_text(stored)
        case bytes():
            return f"X'{stored.hex()}'"
    raise TypeError(f"no SQLite literal for {stored!r}")  # pragma: no cover


def _mariadb_literal(t: DbType[Any], value: object) -> str:
    """A MariaDB literal of the value's storage form, the one its codec writes (UTC datetimes)."""
    stored = encoder(t, MARIADB_CODECS)(value)
    match stored:
        case None:
            return "NULL"
        case bool():
            return "TRUE" if stored else "FALSE"
        case int() | Decimal():
            return str(stored)
        case float():
            return repr(stored)
        case str():
            return _quote_text(stored)
        case bytes():
            return f"X'{stored.hex()}'"
        case dt.datetime():
            return _quote_text(stored.isoformat(sep=" "))
        case dt.date() | dt.time():
            return _quote_text(stored.isoformat())
    raise TypeError(f"no MariaDB literal for {stored!r}")  # pragma: no cover


def _pg_scalar(t: DbType[Any], value: object) -> str:
    """A PostgreSQL literal of one checked non-NULL value of a base type."""
    match t.kind:
        case Kind.BOOL:
            return "TRUE" if value else "FALSE"
        case Kind.INT:
            return str(value)
        case Kind.FLOAT:
            number = float(value)  # type: ignore[arg-type]
            if math.isfinite(number):
                return repr(number)
            text = "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
            return f"'{text}'::double precision"
        case Kind.DECIMAL:
            return f"'{Decimal(value)}'::numeric"  # type: ignore[arg-type]
        case Kind.STR:
            return _quote_text(str(value))
        case Kind.BYTES:
            return f"'\\x{bytes(value).hex()}'::bytea"  # type: ignore[call-overload]
        case Kind.DATE | Kind.DATETIME | Kind.TIME:
            stamp = value.isoformat()  # type: ignore[attr-defined]
            return f"{_quote_text(stamp)}::{column_type(POSTGRESQL, t)}"
        case Kind.TIMEDELTA:
            assert isinstance(value, dt.timedelta)
            span = f"{value.days} days {value.seconds}.{value.microseconds:06d} seconds"
            return f"'{span}'::interval"
        case Kind.UUID:
            assert isinstance(value, uuid.UUID)
            return f"'{value}'::uuid"
        case Kind.JSON:
            text = json.dumps(value, allow_nan=False, separators=(",", ":"))
            if "\\u0000" in text:
                raise ValueError("PostgreSQL jsonb cannot contain NUL (\\u0000)")
            return f"{_quote_text(text)}::jsonb"
        case Kind.ENUM:
            assert isinstance(value, Enum)
            return _quote_text(value.name)
    raise TypeError(f"no PostgreSQL literal for a {t!r} default")


def _pg_literal(t: DbType[Any], value: object) -> str:
    """A PostgreSQL literal, typed where a bare string would be ambiguous."""
    checked = encoder(t, _CHECK_ONLY)(value)
    if checked is None:
        return "NULL"
    base = t.item if t.kind is Kind.OPTIONAL and t.item is not None else t
    if base.kind is Kind.ARRAY:
        assert base.item is not None
        item = base.item
        items = ", ".join(
            "NULL" if v is None else _pg_scalar(item.item or item, v) for v in checked
        )
        return f"ARRAY[{items}]::{column_type(POSTGRESQL, base)}"
    return _pg_scalar(base, checked)


@dataclasses.dataclass(frozen=True)
class DdlRules:
    """The DDL facts of one dialect.

    Options:
        identity_key: the whole definition (after the name) of an integer key
            the database assigns.
        literal: renders a Python value as a literal of a column type.
        concurrent_index: the ``CREATE INDEX`` keyword building an index
            without blocking writes, or None where there is no such thing
            (SQLite builds a normal index: it has no concurrent writers to spare).
        native_alter_column: ``ALTER TABLE ... ALTER COLUMN`` exists; else the
            table is rebuilt (SQLite's documented 12-step procedure).
        native_drop_column: ``ALTER TABLE ... DROP COLUMN`` is used; SQLite has one
            since 3.35, but it refuses indexed, key and constrained columns, so
            the rebuild is used there every time for one behaviour.
        full_add_column: ``ADD COLUMN`` takes any column. SQLite's refuses a
            UNIQUE column, an expression default and NOT NULL without a
            default; there the column is added bare, filled with its default,
            and given its definition by a rebuild.
        index_methods: ``CREATE INDEX ... USING method`` exists (``gin``,
            ``gist``, ...); SQLite has one kind of index, so an index asked
            for ``using="gin"`` is a plain one there.
        modify_column: a column is altered by ``MODIFY COLUMN`` with its
            whole definition (type, nullability, default, CHECK, given by
            ``modify_identity``), not by PostgreSQL's ``ALTER COLUMN``
            actions; its UNIQUE and foreign key change by name.
        modify_identity: the words after the type of a key the database
            assigns, in ``MODIFY COLUMN``.
        drop_constraints: how a column's constraint is dropped, by the
            suffix of its name (``key``, ``check``, ``fkey``): MariaDB drops
            a UNIQUE key as an index and a foreign key by its own words.
        partial_indexes: ``CREATE INDEX ... WHERE`` exists; else such an
            index is refused (a plain index would not be what was asked:
            a unique one would refuse rows the predicate leaves out).
        drop_index_on_table: ``DROP INDEX`` names the table (MariaDB's
            index names are per table, not per schema).
        table_options: written after ``CREATE TABLE``'s column list.
        foreign_key_index: a foreign key's columns get an index of their own,
            named as the key's (or after its first column). Why: InnoDB makes
            one when there is none, and silently drops it for any later index
            that could serve the key, which then cannot be dropped (error
            1553): a migration's ``create_index`` on a referencing column
            could not be rolled back.
        names_unique: a UNIQUE constraint (a column's too) is written as a
            table constraint named ``<table>_<columns>_key``, the name
            PostgreSQL gives it (a changeset's ``unique_constraint`` names
            it), rather than after its first column, as MariaDB would.
        key_types: the type of a key column (a primary key's, or one a
            foreign key names), per kind, where it differs: MariaDB keys no
            LONGTEXT, so a ``str`` key is a ``VARCHAR(255)`` there.
    """

    identity_key: str
    literal: Callable[[DbType[Any], object], str]
    concurrent_index: str | None
    native_alter_column: bool
    native_drop_column: bool
    full_add_column: bool
    index_methods: bool = False
    modify_column: bool = False
    modify_identity: str = ""
    drop_constraints: tuple[tuple[str, str], ...] = (
        ("key", "DROP CONSTRAINT {}"),
        ("check", "DROP CONSTRAINT {}"),
        ("fkey", "DROP CONSTRAINT {}"),
    )
    partial_indexes: bool = True
    drop_index_on_table: bool = False
    table_options: str = ""
    foreign_key_index: bool = False
    names_unique: bool = False
    key_types: tuple[tuple[Kind, str], ...] = ()

    def drop_constraint(self, suffix: str, quoted_name: str) -> str:
        """The ``ALTER TABLE`` action dropping a column's constraint of this kind."""
        return dict(self.drop_constraints)[suffix].format(quoted_name)


_RULES: dict[str, DdlRules] = {
    "sqlite": DdlRules(
        identity_key="INTEGER PRIMARY KEY",
        literal=_sqlite_literal,
        concurrent_index=None,
        native_alter_column=False,
        native_drop_column=False,
        full_add_column=False,
    ),
    "postgresql": DdlRules(
        identity_key="bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        literal=_pg_literal,
        concurrent_index="CONCURRENTLY",
        native_alter_column=True,
        native_drop_column=True,
        full_add_column=True,
        index_methods=True,
    ),
    # No transactional DDL: every statement commits on its own (the runner
    # records how far a migration got instead; see runner.py).
    "mariadb": DdlRules(
        identity_key="BIGINT AUTO_INCREMENT PRIMARY KEY",
        literal=_mariadb_literal,
        # InnoDB builds and drops indexes online (ALGORITHM=INPLACE,
        # LOCK=NONE) whenever it can, without being asked.
        concurrent_index=None,
        native_alter_column=True,
        native_drop_column=True,
        full_add_column=True,
        modify_column=True,
        modify_identity="NOT NULL AUTO_INCREMENT",
        drop_constraints=(
            ("key", "DROP INDEX {}"),
            ("check", "DROP CONSTRAINT {}"),
            ("fkey", "DROP FOREIGN KEY {}"),
        ),
        partial_indexes=False,
        drop_index_on_table=True,
        # utf8mb4: every code point; utf8mb4_bin: text compares, sorts and is
        # unique by code point, case-sensitively, as on PostgreSQL and SQLite
        # (utf8mb4's default collation would call "a" and "A" one key).
        table_options=" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        foreign_key_index=True,
        names_unique=True,
        # 255 characters of utf8mb4 are 1,020 bytes: three fit in InnoDB's
        # 3,072-byte key, and a key and the columns referencing it must agree.
        key_types=((Kind.STR, "VARCHAR(255)"),),
    ),
}

_ACTIONS: dict[OnAction, str] = {
    "no_action": "NO ACTION",
    "restrict": "RESTRICT",
    "cascade": "CASCADE",
    "set_null": "SET NULL",
    "set_default": "SET DEFAULT",
}


def rules(dialect: Dialect) -> DdlRules:
    """The DDL rules of a dialect."""
    try:
        return _RULES[dialect.name]
    except KeyError:
        raise TypeError(f"migrations do not support {dialect.name}") from None


def check_identifiers(dialect: Dialect, op: Operation) -> None:
    """Refuse ``op`` when a name it writes is longer than the dialect keeps (ValueError).

    Checked as the operation is made, before any of its SQL runs; the names
    only rendering derives are checked by ``Dialect.quote``.
    """
    for name in identifiers(op):
        check_identifier(name, dialect.max_identifier_bytes, dialect.name)


def literal(dialect: Dialect, t: DbType[Any], value: object) -> str:
    """``value`` as a SQL literal of a ``t`` column (DDL cannot bind parameters).

    >>> from repodb.dialect import POSTGRESQL, SQLITE
    >>> from repodb.types import to_dbtype
    >>> literal(SQLITE, to_dbtype(str), "it's"), literal(POSTGRESQL, to_dbtype(bool), True)
    ("'it''s'", 'TRUE')
    """
    if isinstance(value, Raw):
        return value.sql
    return rules(dialect).literal(t, value)


def default_sql(dialect: Dialect, col: ColumnDef) -> str:
    """The column's default as SQL text (without the ``DEFAULT`` keyword).

    A Python value becomes a literal of the column's type, checked like a
    bound value would be (``EncodeError`` for a value of the wrong type or None
    on a NOT NULL column); ``Raw`` SQL is verbatim.
    """
    if col.default is NO_DEFAULT:
        raise ValueError(f"column {col.name!r} has no default")
    return literal(dialect, col.type, col.default)


def references_sql(dialect: Dialect, ref: References) -> str:
    """``REFERENCES table (column) [ON DELETE ...] [ON UPDATE ...]``."""
    table = dialect.quote_table(ref.table, ref.prefix)
    parts = [f"REFERENCES {table} ({dialect.quote(ref.column)})"]
    return " ".join(parts + _actions_sql(ref.on_delete, ref.on_update))


def _actions_sql(on_delete: OnAction, on_update: OnAction) -> list[str]:
    parts = []
    if on_delete != "no_action":
        parts.append(f"ON DELETE {_ACTIONS[on_delete]}")
    if on_update != "no_action":
        parts.append(f"ON UPDATE {_ACTIONS[on_update]}")
    return parts


def column_sql(dialect: Dialect, col: ColumnDef, *, key: bool = False) -> str:
    """One column's definition, as in ``CREATE TABLE`` or ``ADD COLUMN``.

    ``key``: the column is in a key of the table's (see ``column_type``).

    An ``autogenerate`` key is the dialect's identity form: exactly
    ``INTEGER PRIMARY KEY`` on SQLite (the rowid alias), an identity column
    on PostgreSQL.

    >>> from repodb.dialect import SQLITE
    >>> from repodb.types import to_dbtype
    >>> column_sql(SQLITE, ColumnDef("id", to_dbtype(int), primary_key=True, autogenerate=True))
    '"id" INTEGER PRIMARY KEY'
    """
    name = dialect.quote(col.name)
    if col.autogenerate:
        if not col.primary_key or col.type.kind is not Kind.INT:
            raise ValueError(
                f"column {col.name!r}: autogenerate needs a non-optional int primary key"
            )
        parts = [name, rules(dialect).identity_key]
    else:
        keyed = key or col.primary_key or col.references is not None
        parts = [name, column_type(dialect, col.type, key=keyed)]
        if col.primary_key:
            parts.append("PRIMARY KEY")
        if not col.nullable:
            parts.append("NOT NULL")
    if col.default is not NO_DEFAULT:
        default = default_sql(dialect, col)
        parts.append(
            f"DEFAULT ({default})" if isinstance(col.default, Raw) else f"DEFAULT {default}"
        )
    if col.unique:
        parts.append("UNIQUE")
    # CHECK first: MariaDB's grammar wants the reference last.
    if col.check is not None:
        parts.append(f"CHECK ({col.check})")
    if col.references is not None:
        if col.references.name:
            parts.append(f"CONSTRAINT {dialect.quote(col.references.name)}")
        parts.append(references_sql(dialect, col.references))
    return " ".join(parts)


def _table(dialect: Dialect, op: Operation) -> str:
    """The quoted table an operation acts on, in its schema (``prefix``) when it names one."""
    assert not isinstance(op, Execute)
    return dialect.quote_table(op.table, op.prefix)


def _names(dialect: Dialect, columns: tuple[str, ...]) -> str:
    return ", ".join(map(dialect.quote, columns))


def _foreign_key_sql(dialect: Dialect, fk: ForeignKey) -> str:
    parts = [f"CONSTRAINT {dialect.quote(fk.name)}"] if fk.name else []
    parts.append(
        f"FOREIGN KEY ({_names(dialect, fk.columns)}) REFERENCES"
        f" {dialect.quote_table(fk.table, fk.prefix)} ({_names(dialect, fk.references)})"
    )
    return " ".join(parts + _actions_sql(fk.on_delete, fk.on_update))


def create_table_sql(dialect: Dialect, op: CreateTable) -> str:
    """``CREATE TABLE`` with its columns and table constraints.

    A key of several columns (``primary_key=``, or several columns flagged
    ``primary_key``) is a table constraint; a single flagged column keeps its
    key inline (SQLite's rowid alias needs it there).
    """
    key = op.primary_key or tuple(c.name for c in op.columns if c.primary_key)
    composite = len(key) > 1 or bool(op.primary_key)
    columns = [
        dataclasses.replace(c, primary_key=False) if composite and c.primary_key else c
        for c in op.columns
    ]
    if composite and any(c.autogenerate for c in op.columns):
        raise ValueError(f"table {op.table!r}: an autogenerate column must be the whole key")
    keyed = set(key) | {name for fk in op.foreign_keys for name in fk.columns}
    unique = list(op.unique)
    if rules(dialect).names_unique:
        # A column's UNIQUE as a named table constraint (inline, it would be unnamed).
        unique = [(c.name,) for c in columns if c.unique] + unique
        columns = [dataclasses.replace(c, unique=False) for c in columns]
    items = [column_sql(dialect, c, key=c.name in keyed) for c in columns]
    if composite:
        items.append(f"PRIMARY KEY ({_names(dialect, key)})")
    items += [_unique_sql(dialect, op.table, tuple(names)) for names in unique]
    items += [f"CONSTRAINT {dialect.quote(name)} CHECK ({sql})" for name, sql in op.checks]
    items += [_foreign_key_sql(dialect, fk) for fk in op.foreign_keys]
    items += _foreign_key_indexes(dialect, op, key)
    exists = "IF NOT EXISTS " if op.if_not_exists else ""
    options = rules(dialect).table_options
    return f"CREATE TABLE {exists}{_table(dialect, op)} ({', '.join(items)}){options}"


def _add_column_sql(dialect: Dialect, op: AddColumn) -> str:
    """``ADD COLUMN``, with a named UNIQUE and a foreign key's index where the rules say."""
    r, col = rules(dialect), op.column
    extra = []
    if col.unique and r.names_unique:
        extra.append(f"ADD {_unique_sql(dialect, op.table, (col.name,))}")
        col = dataclasses.replace(col, unique=False)
    elif col.references is not None and r.foreign_key_index:
        name = dialect.quote(col.references.name or col.name)
        extra.append(f"ADD KEY {name} ({dialect.quote(col.name)})")
    added = ", ".join([f"ADD COLUMN {column_sql(dialect, col)}", *extra])
    return f"ALTER TABLE {_table(dialect, op)} {added}"


def _unique_sql(dialect: Dialect, table: str, columns: tuple[str, ...]) -> str:
    """A table's UNIQUE constraint, named as PostgreSQL would where ``DdlRules.names_unique``."""
    unique = f"UNIQUE ({_names(dialect, columns)})"
    if not rules(dialect).names_unique:
        return unique
    return f"CONSTRAINT {dialect.quote('_'.join((table, *columns, 'key')))} {unique}"


def _foreign_key_indexes(dialect: Dialect, op: CreateTable, key: tuple[str, ...]) -> list[str]:
    """``KEY name (columns)`` for each foreign key no key of the table serves (see ``DdlRules``)."""
    if not rules(dialect).foreign_key_index:
        return []
    # (A UNIQUE of several columns may be a hash key, which serves no foreign key.)
    served = {
        key[:1],
        *((c.name,) for c in op.columns if c.unique),
        *(u for u in op.unique if len(u) == 1),
    }
    found: list[tuple[str, tuple[str, ...]]] = [
        (c.references.name or c.name, (c.name,)) for c in op.columns if c.references is not None
    ]
    found += [(fk.name or fk.columns[0], fk.columns) for fk in op.foreign_keys]
    return [
        f"KEY {dialect.quote(name)} ({_names(dialect, columns)})"
        for name, columns in found
        if columns[:1] not in served
    ]


# PostgreSQL type changes without a direct cast, and the types to cast through.
_CAST_VIA: dict[tuple[str | None, str], tuple[str, ...]] = {
    ("boolean", "bigint"): ("integer",),
    ("bigint", "boolean"): ("integer",),
}


def _alter_column_sql(
    dialect: Dialect, op: AlterColumn, live_names: Mapping[str, str]
) -> list[str]:
    """PostgreSQL's ``ALTER COLUMN`` actions: type (converted by a cast), NOT NULL, default.

    With ``previous`` known only what changed is altered, and the column's
    UNIQUE, CHECK and REFERENCES constraints follow too (by the names
    PostgreSQL gives them); without it, type, nullability and default are set.
    """
    if rules(dialect).modify_column:
        return _modify_column_sql(dialect, op, live_names)
    col, previous = op.column, op.previous
    name = dialect.quote(col.name)
    actions = []
    new_type = column_type(dialect, col.type)
    retyped = previous is None or column_type(dialect, previous.type) != new_type
    # An identity column has no default to drop or set: PostgreSQL refuses.
    was_identity = col.autogenerate if previous is None else previous.autogenerate
    if retyped:
        # The old default is an expression of the old type, which PostgreSQL
        # will not cast (the USING applies to the values only): drop it first.
        if not was_identity:
            actions.append("DROP DEFAULT")
        old_type = None if previous is None else column_type(dialect, previous.type)
        via = "".join(f"::{t}" for t in _CAST_VIA.get((old_type, new_type), ()))
        actions.append(f"TYPE {new_type} USING {name}{via}::{new_type}")
    if previous is None or previous.nullable != col.nullable:
        actions.append("DROP NOT NULL" if col.nullable else "SET NOT NULL")
    if was_identity != col.autogenerate:
        actions.append(
            "ADD GENERATED BY DEFAULT AS IDENTITY" if col.autogenerate else "DROP IDENTITY"
        )
    if col.autogenerate:
        pass
    elif col.default is NO_DEFAULT:
        if not retyped and previous is not None and previous.default is not NO_DEFAULT:
            actions.append("DROP DEFAULT")
    elif previous is None or retyped or previous.default != col.default:
        default = default_sql(dialect, col)
        actions.append(f"SET DEFAULT {default}")
    changes = [f"ALTER COLUMN {name} {action}" for action in actions]
    if previous is not None:
        changes = _constraint_changes(dialect, op.table, previous, col, live_names) + changes
    if not changes:
        return []
    return [f"ALTER TABLE {_table(dialect, op)} {', '.join(changes)}"]


def _modify_column_sql(
    dialect: Dialect, op: AlterColumn, live_names: Mapping[str, str]
) -> list[str]:
    """MariaDB's ``MODIFY COLUMN``: the column's whole definition at once.

    Type, nullability, default and the column's CHECK are all in the
    definition (what it leaves out is dropped); values are converted by the
    server's casts. UNIQUE and the foreign key are keys of the table, which
    ``MODIFY`` keeps: with ``previous`` known, those that differ are dropped
    and added by name, as on PostgreSQL.
    """
    col, previous = op.column, op.previous
    r = rules(dialect)
    was_key = previous is not None and (previous.primary_key or previous.references is not None)
    keyed = col.primary_key or col.references is not None or was_key
    parts = [dialect.quote(col.name), column_type(dialect, col.type, key=keyed)]
    if col.autogenerate:
        parts.append(r.modify_identity)
    elif not col.nullable:
        parts.append("NOT NULL")
    if col.default is not NO_DEFAULT and not col.autogenerate:
        default = default_sql(dialect, col)
        parts.append(
            f"DEFAULT ({default})" if isinstance(col.default, Raw) else f"DEFAULT {default}"
        )
    if col.check is not None:
        parts.append(f"CHECK ({col.check})")
    changes = [f"MODIFY COLUMN {' '.join(parts)}"]
    drops: list[str] = []
    if previous is not None:
        unchecked = dataclasses.replace(previous, check=col.check)
        found = _constraint_changes(dialect, op.table, unchecked, col, live_names)
        drops = [c for c in found if c.startswith("DROP ")]
        changes = [c for c in found if not c.startswith("DROP ")] + changes
    # InnoDB refuses to drop and re-add a foreign key of one name in one
    # statement ("duplicate key"): the drops go first, on their own.
    table = _table(dialect, op)
    statements = [f"ALTER TABLE {table} {', '.join(drops)}"] if drops else []
    return [*statements, f"ALTER TABLE {table} {', '.join(changes)}"]


def _constraint_changes(
    dialect: Dialect,
    table: str,
    previous: ColumnDef,
    col: ColumnDef,
    live_names: Mapping[str, str],
) -> list[str]:
    """Drop and add the column constraints that differ (``<table>_<column>_key`` etc.).

    A constraint is dropped by its name in ``live_names`` (by suffix: ``key``,
    ``check``, ``fkey``) when known: a renamed table or column keeps the
    names its constraints were given.
    """
    q = dialect.quote
    base = f"{table}_{col.name}"

    def dropped(suffix: str, given: str | None = None) -> str:
        return q(live_names.get(suffix) or given or f"{base}_{suffix}")

    old_fk, new_fk = previous.references, col.references
    drops: list[tuple[str, str]] = []
    adds: list[str] = []
    if previous.unique and not col.unique:
        drops.append(("key", dropped("key")))
    if col.unique and not previous.unique:
        adds.append(f"CONSTRAINT {q(base + '_key')} UNIQUE ({q(col.name)})")
    if previous.check != col.check:
        if previous.check is not None:
            drops.append(("check", dropped("check")))
        if col.check is not None:
            adds.append(f"CONSTRAINT {q(base + '_check')} CHECK ({col.check})")
    if old_fk != new_fk:
        if old_fk is not None:
            drops.append(("fkey", dropped("fkey", old_fk.name)))
        if new_fk is not None:
            fk_name = q(new_fk.name or f"{base}_fkey")
            fk = f"FOREIGN KEY ({q(col.name)}) {references_sql(dialect, new_fk)}"
            adds.append(f"CONSTRAINT {fk_name} {fk}")
    r = rules(dialect)
    return [r.drop_constraint(suffix, name) for suffix, name in drops] + [
        f"ADD {add}" for add in adds
    ]


def create_index_sql(dialect: Dialect, op: CreateIndex) -> str:
    """``CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON table (...) [WHERE ...]``."""
    parts = ["CREATE UNIQUE INDEX" if op.unique else "CREATE INDEX"]
    concurrent = rules(dialect).concurrent_index
    if op.concurrently and concurrent:
        parts.append(concurrent)
    if op.if_not_exists:
        parts.append("IF NOT EXISTS")
    parts.append(dialect.quote(op.index_name))
    parts.append(f"ON {_table(dialect, op)}")
    if op.using is not None and rules(dialect).index_methods:
        parts.append(f"USING {op.using}")
    if op.search is None:
        parts.append(f"({_names(dialect, op.columns)})")
    else:
        parts.append(f"({search_vector_sql(dialect, op.search, op.columns)})")
    if op.where is not None:
        if not rules(dialect).partial_indexes:
            raise ValueError(
                f"index {op.index_name!r}: {dialect.name} has no partial indexes"
                " (CREATE INDEX ... WHERE); index every row, or keep the rows apart in a table"
                " of their own"
            )
        parts.append(f"WHERE {op.where}")
    return " ".join(parts)


def search_vector_sql(dialect: Dialect, config: str, columns: tuple[str, ...]) -> str:
    """``to_tsvector('config', ...)`` of ``columns``, as ``functions.to_tsvector`` writes it.

    The same templates (``Dialect.search_ops``) write both, so a query's
    ``to_tsvector(config, Post.title, Post.body)`` is the indexed expression.
    """
    document = dialect.quote(columns[0])
    if len(columns) > 1:
        part = dialect.template("search", "document_part")
        join = dialect.template("search", "document_join")
        document = join.join(part.format(d=dialect.quote(c)) for c in columns)
    return dialect.template("search", "vector").format(config=config, document=document)


def _drop_index_sql(dialect: Dialect, op: DropIndex) -> str:
    parts = ["DROP INDEX"]
    concurrent = rules(dialect).concurrent_index
    if op.concurrently and concurrent:
        parts.append(concurrent)
    if op.if_exists:
        parts.append("IF EXISTS")
    if rules(dialect).drop_index_on_table:
        parts += [dialect.quote(op.name), "ON", _table(dialect, op)]
    else:
        # An index is in its table's schema.
        parts.append(dialect.quote_table(op.name, op.prefix))
    return " ".join(parts)


def needs_rebuild(dialect: Dialect, op: Operation) -> bool:
    """Whether ``op`` is done by rebuilding the table (SQLite's missing ALTER forms)."""
    r = rules(dialect)
    return (isinstance(op, AlterColumn) and not r.native_alter_column) or (
        isinstance(op, DropColumn) and not r.native_drop_column
    )


def bare_add_column(dialect: Dialect, op: AddColumn) -> list[str] | None:
    """Where ``ADD COLUMN`` cannot add this column, the statements adding it bare.

    The column is added nullable, without constraints or default, then every
    row is given the default (as PostgreSQL's ``ADD COLUMN`` would); the
    caller then rebuilds the table with ``AlterColumn(table, column,
    previous=<the bare column>)``, which gives the column its whole
    definition (and fails, as PostgreSQL would, when a NOT NULL column
    without a default meets existing rows). None when the plain
    ``ADD COLUMN`` does.
    """
    col = op.column
    refused = (
        col.unique
        or isinstance(col.default, Raw)
        or (not col.nullable and col.default is NO_DEFAULT)
    )
    if rules(dialect).full_add_column or not refused or col.primary_key:
        return None
    table, name = _table(dialect, op), dialect.quote(col.name)
    statements = [f"ALTER TABLE {table} ADD COLUMN {name} {column_type(dialect, col.type)}"]
    if col.default is not NO_DEFAULT:
        statements.append(f"UPDATE {table} SET {name} = {default_sql(dialect, col)}")
    return statements


def outside_transaction(dialect: Dialect, op: Operation) -> bool:
    """Whether ``op`` cannot run inside a transaction (a concurrent index build)."""
    concurrent = isinstance(op, (CreateIndex, DropIndex)) and op.concurrently
    return concurrent and rules(dialect).concurrent_index is not None


def operation_sql(
    dialect: Dialect, op: Operation, *, constraint_names: Mapping[str, str] | None = None
) -> list[str]:
    """The statements of one operation, where the dialect does it natively.

    Operations ``needs_rebuild`` names are not rendered here: the table
    rebuild reads the live table first. ``constraint_names`` are the live
    names of an altered column's constraints, by suffix (``key``, ``check``,
    ``fkey``), for those it drops; by default the names PostgreSQL gives.

    >>> from repodb.dialect import POSTGRESQL
    >>> operation_sql(POSTGRESQL, RenameColumn("users", "mail", "email"))
    ['ALTER TABLE "users" RENAME COLUMN "mail" TO "email"']
    """
    if needs_rebuild(dialect, op):
        raise ValueError(f"{dialect.name} does {type(op).__name__} by rebuilding the table")
    match op:
        case CreateTable():
            return [create_table_sql(dialect, op)]
        case DropTable():
            exists = "IF EXISTS " if op.if_exists else ""
            return [f"DROP TABLE {exists}{_table(dialect, op)}"]
        case RenameTable():
            new_name = dialect.quote(op.new_name)
            return [f"ALTER TABLE {_table(dialect, op)} RENAME TO {new_name}"]
        case AddColumn():
            return [_add_column_sql(dialect, op)]
        case DropColumn():
            name = dialect.quote(op.name)
            return [f"ALTER TABLE {_table(dialect, op)} DROP COLUMN {name}"]
        case RenameColumn():
            old, new = dialect.quote(op.name), dialect.quote(op.new_name)
            return [f"ALTER TABLE {_table(dialect, op)} RENAME COLUMN {old} TO {new}"]
        case AlterColumn():
            return _alter_column_sql(dialect, op, constraint_names or {})
        case CreateIndex():
            return [create_index_sql(dialect, op)]
        case DropIndex():
            return [_drop_index_sql(dialect, op)]
        case Execute():
            return [op.sql]
    raise TypeError(f"not a migration operation: {op!r}")  # pragma: no cover
