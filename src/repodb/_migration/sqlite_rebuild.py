"""SQLite's table rebuild: the ALTER TABLE forms SQLite lacks, done by copying the table.

Why: SQLite cannot change a column's type, nullability or default, and its
own DROP COLUMN refuses key, unique and indexed columns. Its documentation
gives the general procedure instead (https://www.sqlite.org/lang_altertable.html#otheralter):
create the table anew in the desired form, copy the rows, drop the old table,
rename the new one, and re-create the indexes, triggers and views. This
module writes the statements of the steps that run inside the migration's
transaction; the runner turns ``PRAGMA foreign_keys`` off before BEGIN and
runs ``PRAGMA foreign_key_check`` before COMMIT.

The new ``CREATE TABLE`` is the stored one edited item by item, so
everything else the table declared (CHECK and UNIQUE constraints, foreign
keys, collations, ``WITHOUT ROWID``, ``STRICT``) is kept as it was written.
An ``AlterColumn`` with ``previous`` replaces the column's whole definition
with the new one (type, nullability, default, key, unique, references,
check); without ``previous`` only the type, nullability and default change,
as on PostgreSQL. Rows keep their rowid, and an AUTOINCREMENT table keeps its
sequence.

Example::

    for sql in rebuild_statements(conn, "users", AlterColumn("users", column("age", int))):
        ...  # run inside the migration's transaction
"""

from __future__ import annotations

import dataclasses
import itertools

from ..connection import Connection
from ..dialect import SQLITE
from ..request import Request
from ..types import tup
from .ddl import column_sql
from .introspect import LiveTable, identifier, split_items, sql_tokens, table, tables
from .ops import AlterColumn, ColumnDef, DropColumn

__all__ = ["rebuild_statements"]

# The words that start a table constraint rather than a column definition.
_CONSTRAINT_WORDS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})
_ROWID_NAMES = frozenset({"rowid", "oid", "_rowid_"})

_schema_objects = Request.many(
    "SELECT type, name, tbl_name, sql FROM sqlite_master"
    " WHERE type IN ('trigger', 'view') AND sql IS NOT NULL ORDER BY rowid",
    row=tup(str, str, str, str),
    oneshot=True,
    read_only=True,
)


def rebuild_statements(
    conn: Connection, table_name: str, op: AlterColumn | DropColumn
) -> list[str]:
    """The SQL of SQLite's table rebuild that applies ``op`` to ``table_name``.

    Raises ValueError when the table or column does not exist, or when a
    dropped column is still named by a table constraint, another column,
    an index, a trigger or another table's foreign key (drop those first).
    """
    live = table(conn, table_name)
    if live is None or live.sql is None:
        raise ValueError(f"there is no table {table_name!r} to rebuild")
    column = op.column.name if isinstance(op, AlterColumn) else op.name
    if live.column(column) is None:
        raise ValueError(f"table {table_name!r} has no column {column!r}")
    _, items, rest = split_items(live.sql)
    positions = [i for i, item in enumerate(items) if _column_of(item) == column.lower()]
    if not positions:
        raise ValueError(f"cannot find column {column!r} in the definition of {table_name!r}")
    position = positions[0]
    copied = [c.name for c in live.columns if not c.generated]
    if isinstance(op, DropColumn):
        _check_droppable(conn, live, items, position, column)
        del items[position]
        copied = [c for c in copied if c.lower() != column.lower()]
    else:
        items[position] = _altered(op, items, items[position])

    q = SQLITE.quote
    new = f"_repodb_new_{table_name}"
    dependents = _dependents(conn, table_name)
    body = ",\n  ".join(items)
    statements = [
        f"DROP {kind.upper()} IF EXISTS {q(name)}" for kind, name, _ in reversed(dependents)
    ]
    statements.append(f"CREATE TABLE {q(new)} (\n  {body}\n){rest}")
    columns = ", ".join(q(c) for c in copied)
    if _keeps_rowid(live, rest, op):
        columns = f"rowid, {columns}"
    statements.append(f"INSERT INTO {q(new)} ({columns}) SELECT {columns} FROM {q(table_name)}")
    if any(
        kind == "word" and text.upper() == "AUTOINCREMENT" for kind, text in sql_tokens(live.sql)
    ):
        # The sequence remembers ids of deleted rows; the copy alone would
        # start from the largest id still present.
        statements += [
            f"DELETE FROM sqlite_sequence WHERE name = {_text(new)}",
            f"INSERT INTO sqlite_sequence (name, seq) SELECT {_text(new)}, seq"
            f" FROM sqlite_sequence WHERE name = {_text(table_name)}",
        ]
    statements.append(f"DROP TABLE {q(table_name)}")
    statements.append(f"ALTER TABLE {q(new)} RENAME TO {q(table_name)}")
    statements += [index.sql for index in live.indexes if index.sql is not None]
    statements += live.triggers
    statements += [sql for _, _, sql in dependents]
    return statements


def _dependents(conn: Connection, table_name: str) -> list[tuple[str, str, str]]:
    """``(type, name, sql)`` of the views and other tables' triggers that use the table.

    They are dropped before the old table and re-created after the rename:
    SQLite checks the whole schema when renaming, and fails on a view or
    trigger naming a table that is gone. Views over those views, and the
    triggers of those views, go with them; the order is creation order.
    """
    objects = conn.all(_schema_objects)
    used = {table_name.lower()}
    found: list[tuple[str, str, str]] = []
    changed = True
    while changed:
        changed = False
        for kind, name, owner, sql in objects:
            if name.lower() in used or owner.lower() == table_name.lower():
                continue
            if owner.lower() in used or any(_names(sql, u) for u in used):
                used.add(name.lower())
                found.append((kind, name, sql))
                changed = True
    order = {name: i for i, (_, name, _, _) in enumerate(objects)}
    return sorted(found, key=lambda item: order[item[1]])


def _column_of(item: str) -> str | None:
    """The lower-cased column an item of the table's list defines, or None for a constraint."""
    for kind, text in sql_tokens(item):
        if kind in ("space", "comment"):
            continue
        if kind == "word" and text.upper() in _CONSTRAINT_WORDS:
            return None
        name = identifier(kind, text)
        return name.lower() if name is not None else None
    return None


def _after_name(item: str) -> str:
    """A column definition without its name: its type and constraints."""
    tokens = list(sql_tokens(item))
    start = next(i for i, (kind, _) in enumerate(tokens) if kind not in ("space", "comment"))
    return "".join(text for _, text in tokens[start + 1 :])


def _names(sql: str, name: str) -> bool:
    """Whether ``sql`` uses the identifier ``name`` (quoted or not; strings do not count)."""
    wanted = name.lower()
    for kind, text in sql_tokens(sql):
        found = identifier(kind, text)
        if found is not None and found.lower() == wanted:
            return True
    return False


def _altered(op: AlterColumn, items: list[str], item: str) -> str:
    """The altered column's new definition in the table's list.

    With ``previous`` given, the new definition is the whole column, its
    constraints included (PostgreSQL then changes the constraints that
    differ). Without it, like PostgreSQL's ``ALTER COLUMN``, only the type,
    nullability and default change: the column's key, UNIQUE, CHECK,
    REFERENCES and COLLATE clauses are kept as written.
    """
    if op.previous is not None:
        return column_sql(SQLITE, _fitting(op, items))
    bare = dataclasses.replace(
        op.column, primary_key=False, autogenerate=False, unique=False, references=None, check=None
    )
    return " ".join([column_sql(SQLITE, bare), *_kept_clauses(item)])


# The words starting a column constraint; of those, the ones an alteration
# without ``previous`` keeps (``CONSTRAINT name`` goes with the clause after it).
_CLAUSE_WORDS = frozenset(
    {"CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE"}
    | {"REFERENCES", "GENERATED", "AS"}
)
_KEPT_CLAUSES = frozenset(
    {"PRIMARY", "UNIQUE", "CHECK", "COLLATE", "REFERENCES", "GENERATED", "AS"}
)


def _kept_clauses(item: str) -> list[str]:
    """The constraint clauses of a column definition that are not its type, nullability, default.

    A clause runs from a constraint word at the top level to the next one,
    except for the words that continue it: ``NOT NULL``, ``SET NULL`` and
    ``SET DEFAULT`` (foreign key actions), ``NOT DEFERRABLE`` and
    ``GENERATED ALWAYS AS``.
    """
    tokens = list(sql_tokens(_after_name(item)))
    words = [text.upper() if kind == "word" else "" for kind, text in tokens]
    significant = [i for i, (kind, _) in enumerate(tokens) if kind not in ("space", "comment")]
    word_after = {i: words[j] for i, j in itertools.pairwise(significant)}
    clauses: list[tuple[str, list[str]]] = []
    depth = 0
    previous_word = ""
    named = False  # after CONSTRAINT <name>, the next word says what the clause is
    for i, ((kind, text), word) in enumerate(zip(tokens, words, strict=True)):
        next_word = word_after.get(i, "")
        if kind == "other" and text == "(":
            depth += 1
        elif kind == "other" and text == ")":
            depth -= 1
        starts = (
            depth == 0
            and word in _CLAUSE_WORDS
            and not (word == "NULL" and previous_word in ("NOT", "SET"))
            and not (word == "DEFAULT" and previous_word == "SET")
            and not (word == "AS" and previous_word == "ALWAYS")
            and not (word == "NOT" and next_word == "DEFERRABLE")
        )
        if starts and named and clauses:
            clauses[-1] = (word, clauses[-1][1])
            named = False
        elif starts:
            clauses.append((word, []))
            named = word == "CONSTRAINT"
        if clauses:
            clauses[-1][1].append(text)
        if kind not in ("space", "comment"):
            previous_word = word
    return ["".join(texts).strip() for what, texts in clauses if what in _KEPT_CLAUSES]


def _fitting(op: AlterColumn, items: list[str]) -> ColumnDef:
    """The new column definition, without a key of its own when the table declares one."""
    has_table_key = any(_column_of(item) is None and _names(item, "PRIMARY") for item in items)
    if has_table_key and op.column.primary_key:
        return dataclasses.replace(op.column, primary_key=False, autogenerate=False)
    return op.column


def _keeps_rowid(live: LiveTable, rest: str, op: AlterColumn | DropColumn) -> bool:
    """Whether to copy the hidden rowid too: a rowid table whose rowid has no column alias.

    A dropped ``INTEGER PRIMARY KEY`` leaves its values as the rowids.
    """
    without_rowid = _names(rest, "WITHOUT")
    dropped = op.name.lower() if isinstance(op, DropColumn) else None
    aliased = any(
        (c.identity or c.name.lower() in _ROWID_NAMES) and c.name.lower() != dropped
        for c in live.columns
    )
    becomes_key = isinstance(op, AlterColumn) and op.column.primary_key
    return not (without_rowid or aliased or becomes_key)


def _check_droppable(
    conn: Connection, live: LiveTable, items: list[str], position: int, column: str
) -> None:
    """Refuse to drop a column that something else still names, saying what."""
    where = f"cannot drop column {column!r} of {live.name!r}"
    for i, item in enumerate(items):
        if i == position:
            continue
        own = _column_of(item)
        if _names(item if own is None else _after_name(item), column):
            what = "the table constraint" if own is None else "the column definition"
            raise ValueError(f"{where}: {what} {item!r} uses it; change that first")
    for index in live.indexes:
        if any(c.lower() == column.lower() for c in index.columns) or _names(
            index.sql or "", column
        ):
            raise ValueError(f"{where}: index {index.name!r} uses it; drop the index first")
    for trigger in live.triggers:
        if _names(trigger, column):
            raise ValueError(f"{where}: a trigger uses it; drop the trigger first: {trigger}")
    for other in tables(conn).values():
        for fk in other.foreign_keys:
            if fk.table.lower() == live.name.lower() and any(
                r.lower() == column.lower() for r in fk.references
            ):
                raise ValueError(
                    f"{where}: the foreign key {fk.columns} of {other.name!r} references it"
                )


def _text(value: str) -> str:
    """A SQL string literal (for table names compared in ``sqlite_sequence``)."""
    return "'" + value.replace("'", "''") + "'"
