"""Read a live database's tables, columns, indexes, foreign keys and triggers.

Why: ``diff`` compares the declared schemas with what a database holds, and
SQLite's table rebuild must carry a table's indexes and triggers across. Both
read the catalog through this module, which reports every database in one
shape. What differs between databases is data: a ``_Catalog`` record per
dialect holds its catalog queries (typed requests with bound table names)
and the few facts needed to map their rows.

Example::

    live = table(conn, "users")
    if live is not None:
        print([c.name for c in live.columns], live.primary_key)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any, LiteralString

from ..connection import Connection
from ..request import Many, Request
from ..types import array, optional, tup
from .ops import ForeignKey, OnAction

__all__ = [
    "LiveColumn",
    "LiveIndex",
    "LiveTable",
    "identifier",
    "split_items",
    "sql_tokens",
    "table",
    "tables",
]


@dataclasses.dataclass(frozen=True)
class LiveColumn:
    """A column as the database reports it.

    ``type`` is the database's own type name (``bigint``, ``INTEGER``, ...);
    ``default`` the SQL text of its DEFAULT; ``identity`` marks a key the
    database assigns (a PostgreSQL identity or serial column, SQLite's
    ``INTEGER PRIMARY KEY`` rowid alias); ``generated`` a computed column,
    which cannot be written.
    """

    name: str
    type: str
    nullable: bool
    default: str | None
    primary_key: bool
    identity: bool = False
    generated: bool = False


@dataclasses.dataclass(frozen=True)
class LiveIndex:
    """An index created by ``CREATE INDEX`` (not a primary key or UNIQUE constraint).

    ``columns`` omits expression members; ``where`` is the predicate of a
    partial index; ``sql`` the statement that re-creates it.
    """

    name: str
    columns: tuple[str, ...]
    unique: bool
    where: str | None
    sql: str | None


@dataclasses.dataclass(frozen=True)
class LiveTable:
    """A table: its columns in order, indexes, foreign keys, key, triggers.

    ``unique_constraints`` lists the column sets of its UNIQUE constraints
    (declared in the table, so not among ``indexes``); ``sql`` is SQLite's
    stored ``CREATE TABLE`` text (None on PostgreSQL); ``triggers`` the SQL
    that re-creates each trigger.
    """

    name: str
    columns: tuple[LiveColumn, ...]
    indexes: tuple[LiveIndex, ...]
    foreign_keys: tuple[ForeignKey, ...]
    primary_key: tuple[str, ...]
    sql: str | None
    triggers: tuple[str, ...]
    unique_constraints: tuple[tuple[str, ...], ...] = ()

    def column(self, name: str) -> LiveColumn | None:
        """The column called ``name`` (case-insensitively on SQLite's terms: ASCII)."""
        for c in self.columns:
            if c.name.lower() == name.lower():
                return c
        return None


# A column row: name, type, nullable, default, position in the primary key
# (0: not in it), identity, generated.
_ColumnRow = tuple[str, str, bool, str | None, int, bool, bool]
# An index row: name, unique, is a constraint's index, SQL, predicate.
_IndexRow = tuple[str, bool, bool, str | None, str | None]
# A foreign key row: constraint id, columns, referenced table, referenced
# columns (empty: the referenced table's key), on delete, on update.
_ForeignKeyRow = tuple[str, list[str], str, list[str | None], str, str]

_column_row = tup(str, str, bool, optional(str), int, bool, bool)
_index_row = tup(str, bool, bool, optional(str), optional(str))
_fk_row = tup(str, array(str), str, array(optional(str)), str, str)


@dataclasses.dataclass(frozen=True)
class _Catalog:
    """One database's catalog queries; each takes the table name and reads the current schema.

    ``index_columns`` takes the table's and an index's name. ``actions`` maps the database's
    spelling of a foreign key action to ``OnAction``. ``rowid_alias``: an
    ``INTEGER`` single-column key is assigned by the database (SQLite).
    """

    table_names: Request[None, str, Many]
    table_sql: Request[str, str | None, Many]
    columns: Request[str, _ColumnRow, Many]
    indexes: Request[str, _IndexRow, Many]
    index_columns: Request[tuple[str, str], str | None, Many]
    unique_columns: Request[str, tuple[str, list[str]], Many]
    foreign_keys: Request[str, _ForeignKeyRow, Many]
    triggers: Request[str, str, Many]
    actions: dict[str, OnAction]
    rowid_alias: bool


def _many(sql: LiteralString, params: Any, row: Any) -> Request[Any, Any, Many]:
    return Request.many(sql, params=params, row=row, oneshot=True, read_only=True)


_SQLITE_ACTIONS: dict[str, OnAction] = {
    "NO ACTION": "no_action",
    "RESTRICT": "restrict",
    "CASCADE": "cascade",
    "SET NULL": "set_null",
    "SET DEFAULT": "set_default",
}

_SQLITE = _Catalog(
    table_names=Request.many(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        row=str,
        read_only=True,
    ),
    table_sql=_many(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", str, optional(str)
    ),
    # hidden: 1 is a virtual table's hidden column, 2 and 3 generated columns.
    columns=_many(
        'SELECT name, type, "notnull" = 0, dflt_value, pk, 0, hidden IN (2, 3)'
        " FROM pragma_table_xinfo(?) WHERE hidden <> 1 ORDER BY cid",
        str,
        _column_row,
    ),
    # origin: c (CREATE INDEX), u (UNIQUE constraint), pk (the key of a
    # WITHOUT ROWID table, or a non-integer key).
    indexes=_many(
        "SELECT l.name, l.\"unique\", l.origin = 'u', m.sql, NULL"
        " FROM pragma_index_list(?) AS l"
        " LEFT JOIN sqlite_master AS m ON m.type = 'index' AND m.name = l.name"
        " WHERE l.origin <> 'pk' ORDER BY l.name",
        str,
        _index_row,
    ),
    index_columns=_many(
        "SELECT i.name FROM pragma_index_list(?) AS l, pragma_index_info(l.name) AS i"
        " WHERE l.name = ? ORDER BY i.seqno",
        tup(str, str),
        optional(str),
    ),
    unique_columns=_many(
        "SELECT l.name, json_group_array(i.name) FROM pragma_index_list(?) AS l,"
        " pragma_index_info(l.name) AS i WHERE l.origin = 'u' GROUP BY l.name ORDER BY l.name",
        str,
        tup(str, array(str)),
    ),
    foreign_keys=_many(
        'SELECT CAST(id AS TEXT), json_group_array("from"), "table", json_group_array("to"),'
        " on_delete, on_update FROM (SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq)"
        " GROUP BY id ORDER BY id",
        str,
        _fk_row,
    ),
    triggers=_many(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY name",
        str,
        str,
    ),
    actions=_SQLITE_ACTIONS,
    rowid_alias=True,
)

# The columns of an index or constraint key, in key order.
_PG_KEY_COLUMNS: LiteralString = (
    "ARRAY(SELECT a.attname::text FROM unnest({key}) WITH ORDINALITY AS k(attnum, n)"
    " JOIN pg_attribute AS a ON a.attrelid = {rel} AND a.attnum = k.attnum ORDER BY k.n)"
)
_PG_TABLE: LiteralString = (
    "JOIN pg_class AS t ON t.oid = {rel} JOIN pg_namespace AS ns ON ns.oid = t.relnamespace"
    " WHERE ns.nspname = current_schema() AND t.relname = $1"
)

_POSTGRESQL = _Catalog(
    table_names=Request.many(
        "SELECT c.relname::text FROM pg_class AS c"
        " JOIN pg_namespace AS ns ON ns.oid = c.relnamespace"
        " WHERE ns.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        row=str,
        read_only=True,
    ),
    table_sql=_many(
        "SELECT NULL::text FROM pg_class AS c JOIN pg_namespace AS ns ON ns.oid = c.relnamespace"
        " WHERE ns.nspname = current_schema() AND c.relname = $1 AND c.relkind IN ('r', 'p')",
        str,
        optional(str),
    ),
    columns=_many(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,"
        " pg_get_expr(d.adbin, d.adrelid),"
        " COALESCE((SELECT k.n FROM pg_index AS ix"
        " CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)"
        " WHERE ix.indrelid = a.attrelid AND ix.indisprimary AND k.attnum = a.attnum), 0),"
        " a.attidentity <> '' OR COALESCE(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false),"
        " a.attgenerated <> ''"
        " FROM pg_attribute AS a"
        " LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        + _PG_TABLE.format(rel="a.attrelid")
        + " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        str,
        _column_row,
    ),
    indexes=_many(
        "SELECT i.relname::text, ix.indisunique, false, pg_get_indexdef(ix.indexrelid),"
        " pg_get_expr(ix.indpred, ix.indrelid)"
        " FROM pg_index AS ix JOIN pg_class AS i ON i.oid = ix.indexrelid "
        + _PG_TABLE.format(rel="ix.indrelid")
        + " AND NOT ix.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c"
        " WHERE c.conindid = ix.indexrelid AND c.contype IN ('p', 'u', 'x'))"
        " ORDER BY i.relname",
        str,
        _index_row,
    ),
    index_columns=_many(
        "SELECT a.attname::text FROM pg_index AS ix"
        " JOIN pg_class AS i ON i.oid = ix.indexrelid"
        " CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)"
        " LEFT JOIN pg_attribute AS a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum "
        + _PG_TABLE.format(rel="ix.indrelid")
        + " AND i.relname = $2 ORDER BY k.n",
        tup(str, str),
        optional(str),
    ),
    unique_columns=_many(
        "SELECT c.conname::text, "
        + _PG_KEY_COLUMNS.format(key="c.conkey", rel="c.conrelid")
        + " FROM pg_constraint AS c "
        + _PG_TABLE.format(rel="c.conrelid")
        + " AND c.contype = 'u' ORDER BY c.conname",
        str,
        tup(str, array(str)),
    ),
    foreign_keys=_many(
        "SELECT c.conname::text, "
        + _PG_KEY_COLUMNS.format(key="c.conkey", rel="c.conrelid")
        + ", f.relname::text, "
        + _PG_KEY_COLUMNS.format(key="c.confkey", rel="c.confrelid")
        + ", c.confdeltype::text, c.confupdtype::text"
        " FROM pg_constraint AS c JOIN pg_class AS f ON f.oid = c.confrelid "
        + _PG_TABLE.format(rel="c.conrelid")
        + " AND c.contype = 'f' ORDER BY c.conname",
        str,
        _fk_row,
    ),
    triggers=_many(
        "SELECT pg_get_triggerdef(g.oid) FROM pg_trigger AS g "
        + _PG_TABLE.format(rel="g.tgrelid")
        + " AND NOT g.tgisinternal ORDER BY g.tgname",
        str,
        str,
    ),
    actions={
        "a": "no_action",
        "r": "restrict",
        "c": "cascade",
        "n": "set_null",
        "d": "set_default",
    },
    rowid_alias=False,
)

# MariaDB: information_schema, in the current database. Its UNIQUE
# constraints are unique indexes; those named after their first column
# (what an unnamed UNIQUE gets) or ``..._key`` (what ``alter_column`` names
# one) are the constraints, the others created by CREATE UNIQUE INDEX. A
# foreign key's own index (named after the key, or its first column) is
# the key's, not an index of its own. A BOOLEAN is TINYINT(1).
# Every information_schema table is filtered by constants (the database and
# the table's name), never by another's columns: only then does MariaDB open
# the one table's definition instead of every table of every database.
_MARIADB_TABLE: LiteralString = "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
_MARIADB_IS_CONSTRAINT: LiteralString = (
    "(s.NON_UNIQUE = 0 AND (s.INDEX_NAME = f.COLUMN_NAME OR s.INDEX_NAME LIKE '%|_key' ESCAPE '|'))"
    " OR (s.NON_UNIQUE = 1 AND EXISTS (SELECT 1 FROM information_schema.KEY_COLUMN_USAGE AS k"
    " WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = $1"
    " AND k.REFERENCED_TABLE_NAME IS NOT NULL AND k.ORDINAL_POSITION = 1"
    " AND k.COLUMN_NAME = f.COLUMN_NAME"
    " AND s.INDEX_NAME IN (k.CONSTRAINT_NAME, k.COLUMN_NAME)))"
)
# Each index with its first column (f) and whether it is a constraint's.
_MARIADB_INDEXES: LiteralString = (
    "SELECT s.INDEX_NAME AS name, s.NON_UNIQUE = 0 AS is_unique, "
    + _MARIADB_IS_CONSTRAINT
    + " AS is_constraint FROM information_schema.STATISTICS AS s"
    " JOIN information_schema.STATISTICS AS f ON f.TABLE_SCHEMA = DATABASE()"
    " AND f.TABLE_NAME = $1 AND f.INDEX_NAME = s.INDEX_NAME AND f.SEQ_IN_INDEX = 1"
    " WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME = $1 AND s.INDEX_NAME <> 'PRIMARY'"
    " AND s.SEQ_IN_INDEX = 1"
)

_MARIADB = _Catalog(
    table_names=Request.many(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        " AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        row=str,
        read_only=True,
    ),
    table_sql=_many(
        "SELECT CAST(NULL AS CHAR) FROM information_schema.TABLES WHERE "
        + _MARIADB_TABLE
        + " AND TABLE_TYPE = 'BASE TABLE'",
        str,
        optional(str),
    ),
    # A nullable column's default is 'NULL' there: no default.
    columns=_many(
        "SELECT c.COLUMN_NAME,"
        " CASE WHEN c.COLUMN_TYPE = 'tinyint(1)' THEN 'boolean' ELSE c.COLUMN_TYPE END,"
        " c.IS_NULLABLE = 'YES', NULLIF(c.COLUMN_DEFAULT, 'NULL'),"
        " COALESCE(k.ORDINAL_POSITION, 0),"
        " c.EXTRA LIKE '%auto_increment%', c.IS_GENERATED = 'ALWAYS'"
        " FROM information_schema.COLUMNS AS c"
        " LEFT JOIN information_schema.KEY_COLUMN_USAGE AS k ON k.TABLE_SCHEMA = DATABASE()"
        " AND k.TABLE_NAME = $1 AND k.CONSTRAINT_NAME = 'PRIMARY' AND k.COLUMN_NAME = c.COLUMN_NAME"
        " WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = $1 ORDER BY c.ORDINAL_POSITION",
        str,
        _column_row,
    ),
    indexes=_many(
        "SELECT name, is_unique, is_constraint, CAST(NULL AS CHAR), CAST(NULL AS CHAR) FROM ("
        + _MARIADB_INDEXES
        + ") AS i ORDER BY name",
        str,
        _index_row,
    ),
    index_columns=_many(
        "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE "
        + _MARIADB_TABLE
        + " AND INDEX_NAME = ? ORDER BY SEQ_IN_INDEX",
        tup(str, str),
        optional(str),
    ),
    unique_columns=_many(
        "SELECT i.name, (SELECT JSON_ARRAYAGG(c.COLUMN_NAME ORDER BY c.SEQ_IN_INDEX)"
        " FROM information_schema.STATISTICS AS c WHERE c.TABLE_SCHEMA = DATABASE()"
        " AND c.TABLE_NAME = $1 AND c.INDEX_NAME = i.name) FROM ("
        + _MARIADB_INDEXES
        + ") AS i WHERE i.is_unique AND i.is_constraint ORDER BY i.name",
        str,
        tup(str, array(str)),
    ),
    foreign_keys=_many(
        "SELECT k.CONSTRAINT_NAME, JSON_ARRAYAGG(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION),"
        " max(k.REFERENCED_TABLE_NAME),"
        " JSON_ARRAYAGG(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION),"
        " max(r.DELETE_RULE), max(r.UPDATE_RULE)"
        " FROM information_schema.KEY_COLUMN_USAGE AS k"
        " JOIN information_schema.REFERENTIAL_CONSTRAINTS AS r"
        " ON r.CONSTRAINT_SCHEMA = DATABASE() AND r.TABLE_NAME = $1"
        " AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME"
        " WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = $1"
        " GROUP BY k.CONSTRAINT_NAME ORDER BY k.CONSTRAINT_NAME",
        str,
        _fk_row,
    ),
    triggers=_many(
        "SELECT CONCAT('CREATE TRIGGER `', TRIGGER_NAME, '` ', ACTION_TIMING, ' ',"
        " EVENT_MANIPULATION, ' ON `', EVENT_OBJECT_TABLE, '` FOR EACH ROW ', ACTION_STATEMENT)"
        " FROM information_schema.TRIGGERS"
        " WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? ORDER BY TRIGGER_NAME",
        str,
        str,
    ),
    # InnoDB checks RESTRICT and NO ACTION alike, at once, and reports an
    # action left out as RESTRICT: both are repodb's default, no_action.
    actions={**_SQLITE_ACTIONS, "RESTRICT": "no_action"},
    rowid_alias=False,
)

_CATALOGS = {"sqlite": _SQLITE, "postgresql": _POSTGRESQL, "mariadb": _MARIADB}


def _catalog(conn: Connection) -> _Catalog:
    try:
        return _CATALOGS[conn.dialect.name]
    except KeyError:
        raise NotImplementedError(f"no catalog reader for {conn.dialect.name}") from None


def tables(conn: Connection) -> dict[str, LiveTable]:
    """Every table of the connection's current schema (PostgreSQL's ``current_schema()``).

    SQLite's own tables (``sqlite_sequence``, ...) are left out.
    """
    found = {}
    for name in conn.all(_catalog(conn).table_names):
        live = table(conn, name)
        if live is not None:
            found[name] = live
    return found


def table(conn: Connection, name: str) -> LiveTable | None:
    """The table called ``name`` in the current schema, or None when there is none."""
    catalog = _catalog(conn)
    found = conn.all(catalog.table_sql, name)
    if not found:
        return None
    rows = conn.all(catalog.columns, name)
    primary_key = _primary_key(rows)
    columns = tuple(
        LiveColumn(
            name=row[0],
            type=row[1],
            nullable=row[2] and not row[4],
            default=row[3],
            primary_key=bool(row[4]),
            identity=row[5] or (catalog.rowid_alias and _is_rowid_alias(row, primary_key)),
            generated=row[6],
        )
        for row in rows
    )
    indexes = tuple(
        LiveIndex(
            name=index_name,
            columns=tuple(
                c for c in conn.all(catalog.index_columns, (name, index_name)) if c is not None
            ),
            unique=unique,
            where=where if where is not None else _sqlite_index_where(sql),
            sql=sql,
        )
        for index_name, unique, is_constraint, sql, where in conn.all(catalog.indexes, name)
        if not is_constraint
    )
    return LiveTable(
        name=name,
        columns=columns,
        indexes=indexes,
        foreign_keys=tuple(
            _foreign_key(conn, catalog, row) for row in conn.all(catalog.foreign_keys, name)
        ),
        primary_key=primary_key,
        sql=found[0],
        triggers=tuple(conn.all(catalog.triggers, name)),
        unique_constraints=tuple(
            tuple(columns) for _, columns in conn.all(catalog.unique_columns, name)
        ),
    )


def _primary_key(rows: list[_ColumnRow]) -> tuple[str, ...]:
    return tuple(column for _, column in sorted((row[4], row[0]) for row in rows if row[4]))


def _is_rowid_alias(row: _ColumnRow, primary_key: tuple[str, ...]) -> bool:
    # SQLite: a single-column key declared exactly INTEGER is the rowid.
    return primary_key == (row[0],) and row[1].upper() == "INTEGER"


def _foreign_key(conn: Connection, catalog: _Catalog, row: _ForeignKeyRow) -> ForeignKey:
    constraint, columns, target, references, on_delete, on_update = row
    if any(r is None for r in references):
        # SQLite: ``REFERENCES parent`` without columns means the parent's key.
        referenced = _primary_key(conn.all(catalog.columns, target))
    else:
        referenced = tuple(r for r in references if r is not None)
    return ForeignKey(
        columns=tuple(columns),
        table=target,
        references=referenced,
        on_delete=catalog.actions[on_delete],
        on_update=catalog.actions[on_update],
        # SQLite reports a number, not the constraint's name.
        name=None if constraint.isdigit() else constraint,
    )


# SQL text ---------------------------------------------------------------------
#
# SQLite keeps the text of its CREATE statements; the table rebuild edits it
# and partial indexes keep their predicate only there. A token scanner that
# knows SQLite's quotes and comments finds the parts reliably.

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))
    | (?P<quoted>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])
    | (?P<string>'(?:[^']|'')*')
    | (?P<word>[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def sql_tokens(sql: str) -> Iterator[tuple[str, str]]:
    """``(kind, text)`` for each token of ``sql``: space, comment, quoted, string, word, other.

    Unterminated quotes end the text (the database already parsed it).
    """
    position = 0
    while position < len(sql):
        match = _TOKEN.match(sql, position)
        if match is None:  # an unterminated quote
            yield "quoted", sql[position:]
            return
        kind = match.lastgroup
        assert kind is not None
        yield kind, match.group()
        position = match.end()


def identifier(kind: str, text: str) -> str | None:
    """The name an identifier token stands for (unquoted), or None for other tokens."""
    if kind == "word":
        return text
    if kind == "quoted":
        if text[0] == "[":
            return text[1:-1]
        return text[1:-1].replace(text[0] * 2, text[0])
    return None


def split_items(sql: str) -> tuple[str, list[str], str]:
    """Split ``CREATE ... (a, b, ...) rest`` into the text before the list, its items, the rest.

    The list is the first top-level parenthesised group; items are split at
    its top-level commas (not inside quotes, comments or nested parentheses)
    and stripped of surrounding whitespace. Comments inside the list become
    spaces (a line comment would otherwise swallow what is joined after it).
    """
    head: list[str] = []
    items: list[str] = []
    current: list[str] = []
    depth = 0
    tokens = sql_tokens(sql)
    for kind, text in tokens:
        if depth == 0:
            if kind == "other" and text == "(":
                depth = 1
            else:
                head.append(text)
            continue
        if kind == "other" and text == "(":
            depth += 1
        elif kind == "other" and text == ")":
            depth -= 1
            if depth == 0:
                items.append("".join(current).strip())
                break
        elif kind == "other" and text == "," and depth == 1:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(" " if kind == "comment" else text)
    rest = "".join(text for _, text in tokens)
    return "".join(head), items, rest


def _sqlite_index_where(sql: str | None) -> str | None:
    """The predicate of SQLite's ``CREATE INDEX ... (...) WHERE <predicate>``."""
    if sql is None:
        return None
    _, _, rest = split_items(sql)
    tokens = list(sql_tokens(rest))
    for i, (kind, text) in enumerate(tokens):
        if kind == "word" and text.upper() == "WHERE":
            return "".join(t for _, t in tokens[i + 1 :]).strip() or None
    return None
