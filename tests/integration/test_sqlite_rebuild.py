"""SQLite's table rebuild keeps everything but the change it makes.

Covered, on real SQLite files with foreign keys on: altering a column's type
keeps rows, integer keys and implicit rowids, indexes (partial ones too),
triggers (its own and other tables' that use it), CHECK constraints, views
(and views over them) and an AUTOINCREMENT sequence; foreign keys pointing
at the rebuilt table and from it are still enforced; making a column NOT
NULL while it holds NULL fails and leaves the table as it was; dropping a
column keeps the rest (a dropped integer key's values stay the rowids), and
is refused (naming the obstacle) when an index, a table constraint or
another table's foreign key uses it; quoted odd names ("order", a space and
a double quote) and comments in the CREATE TABLE text survive.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import LiteralString

import pytest

import repodb
from repodb import Request
from repodb._migration import introspect
from repodb._migration.ops import AlterColumn, ColumnDef, DropColumn
from repodb._migration.sqlite_rebuild import rebuild_statements
from repodb.errors import CheckViolation, ForeignKeyViolation, NotNullViolation
from repodb.types import optional, to_dbtype, tup
from tests.conftest import open_conn

_fk_check = Request.many("PRAGMA foreign_key_check", row=tup(str, int, str, int))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[repodb.Connection]:
    with open_conn(f"sqlite:///{tmp_path / 'rebuild.db'}") as conn:
        yield conn


def run(conn: repodb.Connection, *statements: LiteralString) -> None:
    for sql in statements:
        conn.exec(Request.exec(sql))


def apply(conn: repodb.Connection, table: str, op: AlterColumn | DropColumn) -> None:
    """What the migration runner does around the rebuild statements."""
    statements = rebuild_statements(conn, table, op)
    conn._run("PRAGMA foreign_keys = OFF")
    try:
        with conn.transaction():
            for sql in statements:
                conn._run(sql)
            assert conn.all(_fk_check) == []
    finally:
        conn._run("PRAGMA foreign_keys = ON")


def rows(conn: repodb.Connection, sql: LiteralString, row: object) -> list[object]:
    return list(conn.all(Request.many(sql, row=row)))  # type: ignore[call-overload]


def items_schema(conn: repodb.Connection) -> None:
    run(
        conn,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " qty TEXT, CHECK (length(name) > 0))",
        "CREATE INDEX items_name_index ON items (name) WHERE qty IS NOT NULL",
        "CREATE TABLE lines (id INTEGER PRIMARY KEY,"
        " item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE, note TEXT)",
        "CREATE TABLE audit (what TEXT)",
        "CREATE TRIGGER items_audit AFTER INSERT ON items"
        " BEGIN INSERT INTO audit (what) VALUES (new.name); END",
        "CREATE VIEW item_names AS SELECT name FROM items",
        "CREATE VIEW first_item_names AS SELECT name FROM item_names WHERE name < 'b'",
        # A trigger of another table that uses the rebuilt one.
        "CREATE TRIGGER lines_touch AFTER INSERT ON lines"
        " BEGIN INSERT INTO audit (what) VALUES ((SELECT name FROM items WHERE id = new.item_id));"
        " END",
        "INSERT INTO items (id, name, qty) VALUES (3, 'a', '10'), (7, 'b', NULL), (9, 'c', '5')",
        "INSERT INTO lines (item_id) VALUES (3), (7)",
    )


def test_alter_type_keeps_rows_keys_indexes_triggers_checks_and_views(
    db: repodb.Connection,
) -> None:
    items_schema(db)
    before = introspect.table(db, "items")
    assert before is not None
    apply(db, "items", AlterColumn("items", ColumnDef("qty", optional(int))))

    after = introspect.table(db, "items")
    assert after is not None
    assert after.column("qty") == introspect.LiveColumn("qty", "INTEGER", True, None, False)
    assert after.indexes == before.indexes
    assert after.triggers == before.triggers
    got = rows(
        db,
        "SELECT id, name, qty, typeof(qty) FROM items ORDER BY id",
        tup(int, str, optional(int), str),
    )
    assert got == [(3, "a", 10, "integer"), (7, "b", None, "null"), (9, "c", 5, "integer")]
    assert rows(db, "SELECT name FROM item_names ORDER BY name", str) == ["a", "b", "c"]
    assert rows(db, "SELECT name FROM first_item_names", str) == ["a"]

    run(
        db,
        "INSERT INTO items (name, qty) VALUES ('d', 1)",
        "INSERT INTO lines (item_id) VALUES (9)",
    )
    assert rows(db, "SELECT what FROM audit", str) == ["a", "b", "c", "a", "b", "d", "c"]
    with pytest.raises(CheckViolation):
        run(db, "INSERT INTO items (name) VALUES ('')")
    # The foreign key into the rebuilt table is still enforced, cascade included.
    with pytest.raises(ForeignKeyViolation):
        run(db, "INSERT INTO lines (item_id) VALUES (404)")
    run(db, "DELETE FROM items WHERE id = 3")
    assert rows(db, "SELECT item_id FROM lines ORDER BY id", int) == [7, 9]


def test_rebuilding_the_referencing_table_keeps_its_foreign_key(db: repodb.Connection) -> None:
    items_schema(db)
    apply(db, "lines", AlterColumn("lines", ColumnDef("note", optional(str), default="-")))
    got = rows(db, "SELECT id, item_id, note FROM lines ORDER BY id", tup(int, int, optional(str)))
    assert got == [(1, 3, None), (2, 7, None)]
    run(db, "INSERT INTO lines (item_id) VALUES (9)")
    assert rows(db, "SELECT note FROM lines WHERE item_id = 9", str) == ["-"]
    with pytest.raises(ForeignKeyViolation):
        run(db, "INSERT INTO lines (item_id) VALUES (404)")
    run(db, "DELETE FROM items WHERE id = 7")
    assert rows(db, "SELECT item_id FROM lines ORDER BY id", int) == [3, 9]
    lines = introspect.table(db, "lines")
    assert lines is not None
    assert [(fk.columns, fk.table, fk.on_delete) for fk in lines.foreign_keys] == [
        (("item_id",), "items", "cascade")
    ]


def test_implicit_rowids_and_autoincrement_sequence_are_kept(db: repodb.Connection) -> None:
    run(
        db,
        "CREATE TABLE notes (body TEXT, n TEXT)",
        "INSERT INTO notes (body, n) VALUES ('a', '1'), ('b', '2'), ('c', '3')",
        "DELETE FROM notes WHERE body = 'a'",
        "CREATE TABLE counters (id INTEGER PRIMARY KEY AUTOINCREMENT, n TEXT)",
        "INSERT INTO counters (n) VALUES ('1'), ('2'), ('3')",
        "DELETE FROM counters WHERE id = 3",
    )
    apply(db, "notes", AlterColumn("notes", ColumnDef("n", optional(int))))
    apply(db, "counters", AlterColumn("counters", ColumnDef("n", optional(int))))
    assert rows(db, "SELECT rowid, body, n FROM notes ORDER BY rowid", tup(int, str, int)) == [
        (2, "b", 2),
        (3, "c", 3),
    ]
    run(db, "INSERT INTO counters (n) VALUES (4)")
    assert rows(db, "SELECT id FROM counters ORDER BY id", int) == [1, 2, 4]


def test_not_null_on_a_column_holding_null_fails_and_changes_nothing(
    db: repodb.Connection,
) -> None:
    items_schema(db)
    before = introspect.table(db, "items")
    with pytest.raises(NotNullViolation):
        apply(db, "items", AlterColumn("items", ColumnDef("qty", to_dbtype(int))))
    assert introspect.table(db, "items") == before
    assert rows(db, "SELECT count(*) FROM items", int) == [3]
    assert introspect.table(db, "_repodb_new_items") is None


def test_drop_column_keeps_the_rest(db: repodb.Connection) -> None:
    items_schema(db)
    apply(db, "lines", DropColumn("lines", "note"))
    lines = introspect.table(db, "lines")
    assert lines is not None
    assert [c.name for c in lines.columns] == ["id", "item_id"]
    assert rows(db, "SELECT id, item_id FROM lines ORDER BY id", tup(int, int)) == [(1, 3), (2, 7)]
    with pytest.raises(ForeignKeyViolation):
        run(db, "INSERT INTO lines (item_id) VALUES (404)")


@pytest.mark.parametrize(
    ("table", "column", "obstacle"),
    [
        ("items", "qty", "index 'items_name_index'"),
        ("items", "name", "table constraint 'CHECK (length(name) > 0)'"),
        ("items", "id", "foreign key ('item_id',) of 'lines'"),
    ],
)
def test_drop_column_refuses_what_something_still_uses(
    db: repodb.Connection, table: str, column: str, obstacle: str
) -> None:
    items_schema(db)
    with pytest.raises(ValueError, match="cannot drop column") as caught:
        rebuild_statements(db, table, DropColumn(table, column))
    assert obstacle in str(caught.value)


def test_quoted_odd_names(db: repodb.Connection) -> None:
    run(
        db,
        'CREATE TABLE "order" ("id" INTEGER PRIMARY KEY, "we ird""name" TEXT,'
        " [select] TEXT, -- a line, comment\n"
        " `from` TEXT DEFAULT 'x, (y)' /* a, comment */)",
        'CREATE INDEX "order index" ON "order" ("we ird""name")',
        'INSERT INTO "order" ("we ird""name", "select") VALUES (\'1\', \'s\')',
    )
    apply(db, "order", AlterColumn("order", ColumnDef('we ird"name', optional(int))))
    apply(db, "order", DropColumn("order", "select"))
    live = introspect.table(db, "order")
    assert live is not None
    assert [(c.name, c.type) for c in live.columns] == [
        ("id", "INTEGER"),
        ('we ird"name', "INTEGER"),
        ("from", "TEXT"),
    ]
    assert [i.name for i in live.indexes] == ["order index"]
    got = rows(db, 'SELECT "id", "we ird""name", "from" FROM "order"', tup(int, int, str))
    assert got == [(1, 1, "x, (y)")]


def test_dropping_the_integer_key_keeps_its_values_as_rowids(db: repodb.Connection) -> None:
    run(
        db,
        "CREATE TABLE pairs (id INTEGER PRIMARY KEY, v TEXT)",
        "INSERT INTO pairs (id, v) VALUES (5, 'a'), (9, 'b')",
    )
    apply(db, "pairs", DropColumn("pairs", "id"))
    assert rows(db, "SELECT rowid, v FROM pairs ORDER BY rowid", tup(int, str)) == [
        (5, "a"),
        (9, "b"),
    ]


def test_missing_table_or_column_is_a_clear_error(db: repodb.Connection) -> None:
    items_schema(db)
    with pytest.raises(ValueError, match="no table 'nope'"):
        rebuild_statements(db, "nope", DropColumn("nope", "x"))
    with pytest.raises(ValueError, match="'items' has no column 'nope'"):
        rebuild_statements(db, "items", DropColumn("items", "nope"))


def test_altering_without_previous_keeps_hand_written_constraint_clauses(
    db: repodb.Connection,
) -> None:
    run(
        db,
        "CREATE TABLE owners (id INTEGER PRIMARY KEY)",
        "CREATE TABLE pets (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " owner int(8) REFERENCES owners (id) ON DELETE SET NULL NOT DEFERRABLE NOT NULL"
        " CONSTRAINT positive CHECK (owner > 0) DEFAULT 3 COLLATE BINARY"
        " CONSTRAINT one_each UNIQUE ON CONFLICT ABORT)",
        "INSERT INTO owners (id) VALUES (1), (2)",
        "INSERT INTO pets (owner) VALUES (1)",
    )
    apply(db, "pets", AlterColumn("pets", ColumnDef("owner", optional(int))))
    pets = introspect.table(db, "pets")
    assert pets is not None
    assert pets.sql is not None
    assert pets.column("owner") == introspect.LiveColumn("owner", "INTEGER", True, None, False)
    assert "NOT NULL" not in pets.sql
    assert "DEFAULT" not in pets.sql
    for kept in ("ON DELETE SET NULL NOT DEFERRABLE", "CONSTRAINT positive CHECK (owner > 0)"):
        assert kept in pets.sql
    assert "CONSTRAINT one_each UNIQUE ON CONFLICT ABORT" in pets.sql
    run(db, "INSERT INTO pets (owner) VALUES (NULL)")
    with pytest.raises(repodb.UniqueViolation):
        run(db, "INSERT INTO pets (owner) VALUES (1)")
    with pytest.raises(repodb.CheckViolation):
        run(db, "INSERT INTO pets (owner) VALUES (-1)")
    run(db, "DELETE FROM owners WHERE id = 1")
    assert rows(db, "SELECT owner FROM pets ORDER BY id", optional(int)) == [None, None]
