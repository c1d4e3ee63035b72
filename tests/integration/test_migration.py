"""Migrations run the same on SQLite files and PostgreSQL (a fresh schema per test).

Covered: every file migrated up and then rolled back (tables gone, history
empty); ``migrate(to=)``, ``rollback(to=)`` and ``rollback(step=)``; ``change``
undone by its inverses, ``up``/``down`` files and data migrations through
``ops.connection``; a migration failing in its second statement leaves the
database as it was before it, names its version, name and statement, and
keeps the migrations before it applied; two migrators started at once from
two threads run each migration exactly once; a migrator that cannot get the
lock in time raises ``MigrationLocked``, and migrators of different
PostgreSQL schemas do not wait for each other; a column altered (SQLite: by
the table rebuild) keeps its rows, indexes and foreign keys, and its
constraints change alike on both databases; columns SQLite's ADD COLUMN
refuses (UNIQUE, ``Raw`` default, NOT NULL) are added; ``change`` cannot use
the connection; a migration leaving a dangling reference fails (on SQLite, where
foreign keys are off during migrations, by ``foreign_key_check``); a concurrent index
build on PostgreSQL (``transaction = False``) gives a valid index, and
without the opt-out fails before anything runs; partial and unique indexes,
ON DELETE CASCADE, CHECK constraints and every kind of literal default work
in the migrated tables; ``status`` shows applied, pending and missing files;
file names are checked; ``new_migration`` writes a skeleton that runs.
"""

from __future__ import annotations

import datetime as dt
import enum
import sys
import textwrap
import threading
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import repodb
from repodb import Request
from repodb._migration import introspect
from repodb.migration import (
    MigrationError,
    MigrationLocked,
    Migrator,
    Operation,
    Ran,
    column,
    new_migration,
)
from repodb.types import array, optional, tup
from tests.conftest import open_conn, pg_url, with_search_path

pytestmark = pytest.mark.mariadb

V1, V2, V3, V4 = 20260101000001, 20260101000002, 20260101000003, 20260101000004


def write(directory: Path, version: int, name: str, source: str) -> Path:
    """A migration file with the given (dedented) source."""
    directory.mkdir(exist_ok=True)
    path = directory / f"{version}_{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def table_names(conn: repodb.Connection) -> set[str]:
    return set(introspect.tables(conn))


def history(conn: repodb.Connection) -> list[int]:
    """The applied versions (on MariaDB, whose history has a state, the finished ones)."""
    live = introspect.table(conn, "schema_migrations")
    finished = " WHERE state = 'applied'" if live is not None and live.column("state") else ""
    return conn.all(
        Request.many(f"SELECT version FROM schema_migrations{finished} ORDER BY version", row=int)
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "migrations"
    path.mkdir()
    return path


@pytest.fixture
def blog(folder: Path) -> Path:
    """Three migrations: users (change), posts (up/down with data), an index (change)."""
    write(
        folder,
        V1,
        "create_users",
        """
        from repodb.migration import Ops, column
        from repodb.types import optional

        def change(ops: Ops) -> None:
            ops.create_table("users", [
                column("id", int, primary_key=True, autogenerate=True),
                column("email", str, unique=True),
                column("karma", optional(int), default=0),
            ])
        """,
    )
    write(
        folder,
        V2,
        "create_posts",
        """
        from repodb import Request
        from repodb.migration import Ops, column, references

        def up(ops: Ops) -> None:
            ops.create_table("posts", [
                column("id", int, primary_key=True, autogenerate=True),
                column("author_id", int, references=references("users", on_delete="cascade")),
                column("title", str, check="length(title) > 0"),
            ])
            ops.connection.exec(
                Request.exec("INSERT INTO users (email) VALUES (?)", params=str), "seed@example.com"
            )

        def down(ops: Ops) -> None:
            ops.execute("DELETE FROM users WHERE email = 'seed@example.com'")
            ops.drop_table("posts")
        """,
    )
    write(
        folder,
        V3,
        "index_titles",
        """
        from repodb.migration import Ops

        def change(ops: Ops) -> None:
            ops.create_index("posts", ["title"])
            ops.rename_column("posts", "title", "headline")
        """,
    )
    return folder


def test_migrate_all_then_roll_all_back(db_url: str, blog: Path) -> None:
    started: list[tuple[int, str]] = []
    with Migrator(db_url, blog) as migrator:
        ran = migrator.migrate(on_start=lambda f, d: started.append((f.version, d)))
        assert [(r.version, r.name, r.direction) for r in ran] == [
            (V1, "create_users", "up"),
            (V2, "create_posts", "up"),
            (V3, "index_titles", "up"),
        ]
        assert started == [(V1, "up"), (V2, "up"), (V3, "up")]
        conn = migrator.connection
        assert table_names(conn) >= {"users", "posts", "schema_migrations"}
        posts = introspect.table(conn, "posts")
        assert posts is not None
        assert [c.name for c in posts.columns] == ["id", "author_id", "headline"]
        assert [i.name for i in posts.indexes] == ["posts_title_index"]
        assert conn.all(Request.many("SELECT email FROM users", row=str)) == ["seed@example.com"]
        assert history(conn) == [V1, V2, V3]
        assert migrator.migrate() == []

        done: list[Ran] = []
        undone = migrator.rollback(to=0, on_done=done.append)
        assert [(r.version, r.direction) for r in undone] == [
            (V3, "down"),
            (V2, "down"),
            (V1, "down"),
        ]
        assert done == undone
        assert table_names(conn) == {"schema_migrations"}
        assert history(conn) == []


def test_migrate_to_rollback_to_and_step(db_url: str, blog: Path) -> None:
    with Migrator(db_url, blog) as migrator:
        assert [r.version for r in migrator.migrate(to=V2)] == [V1, V2]
        assert [f.version for f in migrator.pending()] == [V3]
        assert [r.version for r in migrator.migrate()] == [V3]
        assert [r.version for r in migrator.rollback()] == [V3]
        assert [r.version for r in migrator.rollback(step=2)] == [V2, V1]
        assert migrator.rollback() == []
        migrator.migrate()
        assert [r.version for r in migrator.rollback(to=V1)] == [V3, V2]
        assert history(migrator.connection) == [V1]
        with pytest.raises(ValueError, match="step"):
            migrator.rollback(step=0)


def test_status_lists_applied_pending_and_missing_files(db_url: str, blog: Path) -> None:
    with Migrator(db_url, blog) as migrator:
        assert [(s.version, s.applied) for s in migrator.status()] == [
            (V1, False),
            (V2, False),
            (V3, False),
        ]
        migrator.migrate(to=V2)
        (blog / f"{V1}_create_users.py").unlink()
        rows = migrator.status()
        assert [(s.version, s.name, s.applied, s.file_missing) for s in rows] == [
            (V1, "create_users", True, True),
            (V2, "create_posts", True, False),
            (V3, "index_titles", False, False),
        ]
        assert rows[0].applied_at is not None
        assert rows[2].applied_at is None
        with pytest.raises(MigrationError, match=f"version {V1}: its file is missing"):
            migrator.rollback(to=0)
        # Nothing was rolled back: the missing file is found before anything runs.
        assert history(migrator.connection) == [V1, V2]


@pytest.mark.mariadb(absent="no transactional DDL: test_migration_mariadb.py tests its history")
def test_a_failed_migration_leaves_the_database_as_before_it(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "first",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.create_table("kept", [column("id", int, primary_key=True)])
        """,
    )
    write(
        folder,
        V2,
        "broken",
        """
        from repodb.migration import Ops, column

        def up(ops: Ops) -> None:
            ops.create_table("half", [column("id", int, primary_key=True)])
            ops.execute("CREATE TABLE oops (id NOT_A_TYPE_EITHER(")
        """,
    )
    with Migrator(db_url, folder) as migrator:
        with pytest.raises(MigrationError) as caught:
            migrator.migrate()
        error = caught.value
        assert (error.version, error.name) == (V2, "broken")
        assert error.statement == "CREATE TABLE oops (id NOT_A_TYPE_EITHER("
        assert isinstance(error.cause, repodb.QueryError)
        assert error.__cause__ is error.cause
        assert f"{V2}_broken" in str(error)
        assert "CREATE TABLE oops" in str(error)
        conn = migrator.connection
        assert "half" not in table_names(conn)
        assert "kept" in table_names(conn)
        assert history(conn) == [V1]


@pytest.mark.mariadb(absent="no transactional DDL: test_migration_mariadb.py tests its history")
def test_a_python_error_in_a_migration_rolls_it_back_without_a_statement(
    db_url: str, folder: Path
) -> None:
    write(
        folder,
        V1,
        "raises",
        """
        from repodb.migration import Ops, column

        def up(ops: Ops) -> None:
            ops.create_table("gone", [column("id", int, primary_key=True)])
            raise RuntimeError("data looks wrong")
        """,
    )
    with Migrator(db_url, folder) as migrator:
        with pytest.raises(MigrationError, match="data looks wrong") as caught:
            migrator.migrate()
        assert caught.value.statement is None
        assert isinstance(caught.value.cause, RuntimeError)
        assert "gone" not in table_names(migrator.connection)
        assert history(migrator.connection) == []


def test_an_irreversible_change_fails_before_anything_is_undone(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "make",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.create_table("a", [column("id", int, primary_key=True)])
            ops.create_table("b", [column("id", int, primary_key=True)])
        """,
    )
    write(
        folder,
        V2,
        "drop_b",
        """
        from repodb.migration import Ops

        def change(ops: Ops) -> None:
            ops.create_index("a", ["id"])
            ops.drop_table("b")
        """,
    )
    with Migrator(db_url, folder) as migrator:
        migrator.migrate()
        with pytest.raises(MigrationError, match=r"drop_table\('b'\)") as caught:
            migrator.rollback()
        assert caught.value.version == V2
        conn = migrator.connection
        live = introspect.table(conn, "a")
        assert live is not None
        assert [i.name for i in live.indexes] == ["a_id_index"]
        assert history(conn) == [V1, V2]


def test_two_migrators_at_once_run_each_migration_exactly_once(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "runs",
        """
        from repodb.migration import Ops

        def up(ops: Ops) -> None:
            ops.execute("CREATE TABLE runs (version bigint NOT NULL)")
            ops.execute("INSERT INTO runs (version) VALUES (1)")

        def down(ops: Ops) -> None:
            ops.execute("DROP TABLE runs")
        """,
    )
    for n, version in enumerate((V2, V3, V4), start=2):
        write(
            folder,
            version,
            f"step{n}",
            f"""
            import time
            from repodb.migration import Ops

            def up(ops: Ops) -> None:
                ops.execute("INSERT INTO runs (version) VALUES ({n})")
                time.sleep(0.05)  # widen the window in which the other migrator tries

            def down(ops: Ops) -> None:
                ops.execute("DELETE FROM runs WHERE version = {n}")
            """,
        )
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    gate = threading.Barrier(2, timeout=30)

    def run(label: str) -> None:
        try:
            with Migrator(db_url, folder, lock_timeout=60) as migrator:
                gate.wait()
                results[label] = [r.version for r in migrator.migrate()]
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(label,)) for label in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert sorted(results["a"] + results["b"]) == [V1, V2, V3, V4]
    with open_conn(db_url) as conn:
        counts = conn.all(
            Request.many(
                "SELECT version, count(*) FROM runs GROUP BY version ORDER BY version",
                row=tup(int, int),
            )
        )
        assert counts == [(1, 1), (2, 1), (3, 1), (4, 1)]
        assert history(conn) == [V1, V2, V3, V4]


def test_a_migrator_that_cannot_get_the_lock_in_time_says_so(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "t",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.create_table("t", [column("id", int, primary_key=True)])
        """,
    )
    with Migrator(db_url, folder) as holder, Migrator(db_url, folder, lock_timeout=0.2) as late:
        holder.status()  # (connects)
        conn = holder.connection
        if conn.dialect.name == "postgresql":
            from repodb._migration.runner import advisory_key

            schema = conn.one(Request.one("SELECT current_schema()", row=str))
            key = advisory_key(schema, "schema_migrations")
            conn.exec(Request.exec("SELECT pg_advisory_lock($1)", params=int), key)
            try:
                with pytest.raises(MigrationLocked, match="another migrator"):
                    late.migrate()
            finally:
                conn.exec(Request.exec("SELECT pg_advisory_unlock($1)", params=int), key)
        elif conn.dialect.name == "mariadb":
            from repodb._migration.runner import named_lock_key

            database = conn.one(Request.one("SELECT DATABASE()", row=str))
            name = named_lock_key(database, "schema_migrations")
            assert conn.one(Request.one("SELECT GET_LOCK(?, 0)", params=str, row=int), name) == 1
            try:
                with pytest.raises(MigrationLocked, match="another migrator"):
                    late.migrate()
            finally:
                conn.exec(Request.exec("SELECT RELEASE_LOCK(?)", params=str), name)
        else:
            late.status()
            # BEGIN IMMEDIATE: the holder has the write lock.
            with conn.transaction(), pytest.raises(MigrationLocked, match="another migrator"):
                late.migrate()
        assert [r.version for r in late.migrate()] == [V1]


def test_altering_a_column_keeps_rows_indexes_and_foreign_keys(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "schema",
        """
        from repodb.migration import Ops, column, references
        from repodb.types import optional

        def change(ops: Ops) -> None:
            ops.create_table("users", [
                column("id", int, primary_key=True, autogenerate=True),
                column("email", str),
                column("karma", optional(int)),
                column("bio", optional(str)),
            ])
            ops.create_index("users", ["email"], unique=True)
            ops.create_table("posts", [
                column("id", int, primary_key=True, autogenerate=True),
                column("author_id", int, references=references("users", on_delete="cascade")),
            ])
            ops.execute(
                "INSERT INTO users (email, karma) VALUES ('a@x', 5), ('b@x', NULL)",
                down="DELETE FROM users",
            )
            ops.execute("INSERT INTO posts (author_id) VALUES (1), (2)", down="DELETE FROM posts")
        """,
    )
    write(
        folder,
        V2,
        "karma_required",
        """
        from repodb.migration import Ops, column
        from repodb.types import optional

        def up(ops: Ops) -> None:
            ops.execute("UPDATE users SET karma = 0 WHERE karma IS NULL")
            ops.alter_column("users", column("karma", int, default=1),
                             previous=column("karma", optional(int)))
            ops.drop_column("users", "bio")

        def down(ops: Ops) -> None:
            ops.add_column("users", column("bio", optional(str)))
            ops.alter_column("users", column("karma", optional(int)))
        """,
    )
    with Migrator(db_url, folder) as migrator:
        migrator.migrate()
        conn = migrator.connection
        users = introspect.table(conn, "users")
        assert users is not None
        karma = users.column("karma")
        assert karma is not None
        assert not karma.nullable
        assert users.column("bio") is None
        assert [(i.name, i.unique) for i in users.indexes] == [("users_email_index", True)]
        rows = conn.all(
            Request.many("SELECT id, email, karma FROM users ORDER BY id", row=tup(int, str, int))
        )
        assert rows == [(1, "a@x", 5), (2, "b@x", 0)]
        conn.exec(Request.exec("INSERT INTO users (email) VALUES ('c@x')"))
        assert conn.one(Request.one("SELECT karma FROM users WHERE email = 'c@x'", row=int)) == 1
        with pytest.raises(repodb.UniqueViolation):
            conn.exec(Request.exec("INSERT INTO users (email) VALUES ('a@x')"))
        with pytest.raises(repodb.ForeignKeyViolation):
            conn.exec(Request.exec("INSERT INTO posts (author_id) VALUES (99)"))
        conn.exec(Request.exec("DELETE FROM users WHERE id = 1"))
        assert conn.all(Request.many("SELECT author_id FROM posts", row=int)) == [2]

        migrator.rollback()
        users = introspect.table(conn, "users")
        assert users is not None
        assert [c.name for c in users.columns] == ["id", "email", "karma", "bio"]
        karma = users.column("karma")
        assert karma is not None
        assert karma.nullable


@pytest.mark.mariadb(absent="no transactional DDL: test_migration_mariadb.py tests its history")
def test_a_rebuild_that_leaves_a_dangling_reference_fails_the_migration(
    db_url: str, folder: Path
) -> None:
    write(
        folder,
        V1,
        "dangling",
        """
        from repodb.migration import Ops, column, references

        def up(ops: Ops) -> None:
            ops.create_table("parents", [column("id", int, primary_key=True)])
            ops.create_table("children", [column("id", int, primary_key=True),
                                          column("parent_id", int, references="parents")])
            ops.execute("INSERT INTO parents (id) VALUES (1)")
            ops.execute("INSERT INTO children (id, parent_id) VALUES (1, 1)")
            ops.execute("DELETE FROM parents")
        """,
    )
    with Migrator(db_url, folder) as migrator:
        with pytest.raises(MigrationError) as caught:
            migrator.migrate()
        assert isinstance(caught.value.cause, repodb.ForeignKeyViolation)
        conn = migrator.connection
        assert "parents" not in table_names(conn)
        assert history(conn) == []
        if conn.dialect.name == "sqlite":  # foreign keys are on again after the failure
            assert conn.one(Request.one("PRAGMA foreign_keys", row=int)) == 1


CONCURRENT = """
from repodb.migration import Ops, column

{opt_out}

def up(ops: Ops) -> None:
    ops.create_table("done_first", [column("id", int, primary_key=True)])
    ops.create_index("items", ["name"], concurrently=True)

def down(ops: Ops) -> None:
    ops.drop_index("items", "items_name_index", concurrently=True)
    ops.drop_table("done_first")
"""

ITEMS = """
from repodb.migration import Ops, column

def change(ops: Ops) -> None:
    ops.create_table("items", [column("id", int, primary_key=True), column("name", str)])
"""


def test_a_concurrent_index_build_inside_a_transaction_fails_before_running(
    pg_schema_url: str, folder: Path
) -> None:
    write(folder, V1, "items", ITEMS)
    write(folder, V2, "index_items", CONCURRENT.format(opt_out=""))
    with Migrator(pg_schema_url, folder) as migrator:
        with pytest.raises(MigrationError, match="transaction = False") as caught:
            migrator.migrate()
        assert caught.value.version == V2
        assert "done_first" not in table_names(migrator.connection)
        assert history(migrator.connection) == [V1]


def test_a_concurrent_change_inside_a_transaction_fails_before_recording_anything(
    pg_schema_url: str, folder: Path
) -> None:
    write(folder, V1, "items", ITEMS)
    write(
        folder,
        V2,
        "index_items",
        """
        from repodb.migration import Ops

        def change(ops: Ops) -> None:
            ops.create_index("items", ["name"], concurrently=True)
        """,
    )
    with Migrator(pg_schema_url, folder) as migrator:
        with pytest.raises(MigrationError, match="set `transaction = False`"):
            migrator.migrate()
        # Every migration of a run is planned before the first runs.
        assert history(migrator.connection) == []


# 64 bytes in UTF-8 (62 characters), and a table name whose generated index name is 67 bytes.
LONG_NAMES = """
from repodb.migration import Ops, column

def change(ops: Ops) -> None:
    ops.create_table("t" * 60 + "é" * 2, [column("id", int)])
    ops.create_table("t" * 55, [column("label", str)])
    ops.create_index("t" * 55, ["label"])
"""


def test_a_name_longer_than_the_database_keeps_is_refused_before_anything_runs(
    db_url: str, folder: Path
) -> None:
    write(folder, V1, "long_names", LONG_NAMES)
    with Migrator(db_url, folder) as migrator:
        conn = migrator.connection
        if conn.dialect.name == "sqlite":  # no limit there
            migrator.migrate()
            assert {"t" * 60 + "é" * 2, "t" * 55} <= table_names(conn)
            return
        if conn.dialect.name == "postgresql":  # MariaDB keeps 64 bytes
            with pytest.raises(MigrationError, match=r"'t{60}éé' is 64 bytes long in UTF-8"):
                migrator.migrate()
            assert history(conn) == []
            assert table_names(conn) == {"schema_migrations"}
        # A change() is recorded before it runs: the first operation is refused
        # before the others; the generated index name is checked as well.
        write(folder, V1, "long_names", LONG_NAMES.replace('"t" * 60 + "é" * 2', '"short"'))
        with pytest.raises(MigrationError, match=r"'t{55}_label_index' is 67 bytes long"):
            migrator.migrate()
        assert table_names(conn) == {"schema_migrations"}


def test_a_concurrent_index_build_without_a_transaction_gives_a_valid_index(
    pg_schema_url: str, folder: Path
) -> None:
    write(folder, V1, "items", ITEMS)
    write(folder, V2, "index_items", CONCURRENT.format(opt_out="transaction = False"))
    with Migrator(pg_schema_url, folder) as migrator:
        assert [f.transaction for f in migrator.files()] == [True, False]
        migrator.migrate()
        conn = migrator.connection
        valid = Request.many(
            "SELECT c.relname, i.indisvalid FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relname = 'items_name_index'",
            row=tup(str, bool),
        )
        assert conn.all(valid) == [("items_name_index", True)]
        listed = Request.many(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = 'items' ORDER BY indexname",
            row=str,
        )
        assert conn.all(listed) == ["items_name_index", "items_pkey"]
        migrator.rollback()
        assert conn.all(listed) == ["items_pkey"]


def test_concurrently_on_sqlite_is_a_normal_index_in_the_transaction(
    tmp_path: Path, folder: Path
) -> None:
    write(folder, V1, "items", ITEMS)
    write(folder, V2, "index_items", CONCURRENT.format(opt_out=""))
    with Migrator(f"sqlite:///{tmp_path / 'c.db'}", folder) as migrator:
        migrator.migrate()
        items = introspect.table(migrator.connection, "items")
        assert items is not None
        assert [i.name for i in items.indexes] == ["items_name_index"]


@pytest.mark.mariadb(absent="no partial indexes: test_migration_mariadb.py tests the refusal")
def test_partial_and_unique_indexes_cascades_and_checks(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "shop",
        """
        from repodb.migration import Ops, column, references
        from repodb.types import optional

        def change(ops: Ops) -> None:
            ops.create_table("accounts", [
                column("id", int, primary_key=True),
                column("email", str),
                column("deleted", bool, default=False),
                column("code", optional(str)),
            ], checks={"email_has_at": "email LIKE '%@%'"})
            ops.create_index("accounts", ["email"], unique=True, where="NOT deleted",
                             name="live_email")
            ops.create_index("accounts", ["code"], unique=True)
            ops.create_table("orders", [
                column("id", int, primary_key=True),
                column("account_id", int,
                       references=references("accounts", on_delete="cascade")),
                column("total", int, check="total >= 0"),
            ])
        """,
    )
    insert = Request.exec(
        "INSERT INTO accounts (id, email, deleted) VALUES (?, ?, ?)", params=tup(int, str, bool)
    )
    with Migrator(db_url, folder) as migrator:
        migrator.migrate()
        conn = migrator.connection
        conn.exec(insert, (1, "a@x", True))
        conn.exec(insert, (2, "a@x", False))  # the partial index skips deleted rows
        with pytest.raises(repodb.UniqueViolation):
            conn.exec(insert, (3, "a@x", False))
        conn.exec(Request.exec("UPDATE accounts SET code = 'c' WHERE id = 1"))
        with pytest.raises(repodb.UniqueViolation):
            conn.exec(Request.exec("UPDATE accounts SET code = 'c' WHERE id = 2"))
        with pytest.raises(repodb.CheckViolation):
            conn.exec(insert, (4, "no-at", False))
        add_order = Request.exec(
            "INSERT INTO orders (id, account_id, total) VALUES (?, ?, ?)", params=tup(int, int, int)
        )
        with pytest.raises(repodb.CheckViolation):
            conn.exec(add_order, (1, 1, -5))
        conn.exec(add_order, (1, 1, 5))
        conn.exec(add_order, (2, 2, 7))
        conn.exec(Request.exec("DELETE FROM accounts WHERE id = 1"))
        assert conn.all(Request.many("SELECT id FROM orders", row=int)) == [2]
        assert conn.one(Request.one("SELECT deleted FROM accounts WHERE id = 2", row=bool)) is False


class Mood(enum.Enum):
    HAPPY = "h"
    GRUMPY = "g"


DEFAULTS: list[tuple[str, Any, object]] = [
    ("flag", bool, True),
    ("n", int, -42),
    ("ratio", float, 0.25),
    ("price", Decimal, Decimal("1.10")),
    ("quote", str, 'it\'s "fine"; -- not a comment'),
    ("blob", bytes, b"\x00\x01'"),
    ("day", dt.date, dt.date(2026, 11, 26)),
    ("at", dt.datetime, dt.datetime(2026, 11, 26, 14, 30, 1, 500, tzinfo=dt.UTC)),
    ("clock", dt.time, dt.time(8, 30, 0, 250)),
    ("span", dt.timedelta, dt.timedelta(days=2, seconds=3, microseconds=4)),
    ("ident", uuid.UUID, uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("doc", dict, {"a": [1, "x'y"], "b": None}),
    ("mood", Mood, Mood.GRUMPY),
    ("tags", array(str), ["a", "b'c"]),
    ("maybe", optional(int), None),
]


def test_literal_defaults_read_back_as_the_values_given(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "defaults",
        """
        from repodb.migration import Ops, column
        from tests.integration.test_migration import DEFAULTS

        def change(ops: Ops) -> None:
            ops.create_table(
                "defaults",
                [column("id", int, primary_key=True)]
                + [column(name, spec, default=value) for name, spec, value in DEFAULTS],
            )
        """,
    )
    with Migrator(db_url, folder) as migrator:
        migrator.migrate()
        conn = migrator.connection
        conn.exec(Request.exec("INSERT INTO defaults (id) VALUES (1)"))
        # Quoted: BLOB is a keyword on MariaDB.
        names = ", ".join(f'"{name}"' for name, _, _ in DEFAULTS)
        row = conn.one(
            Request.one(
                f"SELECT {names} FROM defaults",
                row=tup(*(spec for _, spec, _ in DEFAULTS)),
            )
        )
        assert list(row) == [value for _, _, value in DEFAULTS]


def test_misnamed_and_duplicate_files_are_reported(tmp_path: Path, folder: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    (folder / "__init__.py").write_text("")
    (folder / "notes.txt").write_text("not a migration")
    write(folder, V1, "ok", ITEMS)
    write(folder, V2, "outside", "transaction: bool = False\n" + ITEMS)
    with Migrator(url, folder) as migrator:
        assert [(f.name, f.transaction) for f in migrator.files()] == [
            ("ok", True),
            ("outside", False),
        ]
    (folder / f"{V2}_outside.py").unlink()
    (folder / "2026_bad.py").write_text("")
    with Migrator(url, folder) as migrator, pytest.raises(MigrationError, match=r"2026_bad\.py"):
        migrator.files()
    (folder / "2026_bad.py").unlink()
    write(folder, V1, "again", ITEMS)
    with Migrator(url, folder) as migrator, pytest.raises(MigrationError, match="two migration"):
        migrator.files()
    with (
        Migrator(url, tmp_path / "nowhere") as migrator,
        pytest.raises(MigrationError, match="does not exist"),
    ):
        migrator.migrate()


def test_a_file_without_change_or_down_cannot_be_rolled_back(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "only_up",
        """
        from repodb.migration import Ops

        def up(ops: Ops) -> None:
            ops.execute("CREATE TABLE only_up (id int)")
        """,
    )
    with Migrator(db_url, folder) as migrator:
        migrator.migrate()
        with pytest.raises(MigrationError, match=r"neither down\(ops\) nor change\(ops\)"):
            migrator.rollback()


def test_new_migration_writes_a_skeleton_that_runs_and_files_reload(
    db_url: str, folder: Path
) -> None:
    now = dt.datetime(2026, 11, 26, 14, 15, 0, tzinfo=dt.UTC)
    first = new_migration(folder, "create_things", now=now)
    second = new_migration(folder, "more_things", now=now)
    assert first.name == "20261126141500_create_things.py"
    assert second.name == "20261126141501_more_things.py"
    with pytest.raises(ValueError, match="letters, digits"):
        new_migration(folder, "bad name", now=now)
    with Migrator(db_url, folder) as migrator:
        assert [r.name for r in migrator.migrate()] == ["create_things", "more_things"]
        assert [r.name for r in migrator.rollback(step=2)] == ["more_things", "create_things"]
        # Edited files are read afresh on the next run (no module or bytecode cache).
        first.write_text(ITEMS.replace('"items"', '"things"'), encoding="utf-8")
        migrator.migrate()
        assert "things" in table_names(migrator.connection)
    assert not [name for name in sys.modules if name.startswith("_repodb_migration")]


def test_a_migrator_on_an_open_connection_leaves_it_open(db_url: str, folder: Path) -> None:
    write(folder, V1, "items", ITEMS)
    with open_conn(db_url) as conn:
        with Migrator(conn, folder) as migrator:
            assert [r.version for r in migrator.migrate()] == [V1]
        assert not conn.closed
        assert conn.all(Request.many("SELECT id FROM items", row=int)) == []


def test_column_accepts_a_table_name_as_references() -> None:
    assert column("user_id", int, references="users").references is not None


def test_new_migration_with_operations_writes_them_as_a_runnable_change(
    db_url: str, folder: Path
) -> None:
    from repodb._migration.ops import CreateIndex, CreateTable

    operations: list[Operation] = [
        CreateTable("notes", (column("id", int, primary_key=True), column("body", str))),
        CreateIndex("notes", ("body",)),
    ]
    path = new_migration(folder, "add_notes", operations=operations)
    assert path.read_text(encoding="utf-8").startswith('"""Add notes."""')
    with Migrator(db_url, folder) as migrator:
        migrator.migrate()
        notes = introspect.table(migrator.connection, "notes")
        assert notes is not None
        assert [i.name for i in notes.indexes] == ["notes_body_index"]
        migrator.rollback()
        assert "notes" not in table_names(migrator.connection)


@pytest.mark.mariadb(absent="no transactional DDL: test_migration_mariadb.py tests its history")
def test_add_column_with_what_sqlites_add_column_refuses(db_url: str, folder: Path) -> None:
    write(folder, V1, "items", ITEMS)
    write(
        folder,
        V2,
        "more_columns",
        """
        import datetime as dt

        from repodb.migration import Ops, Raw, column

        def change(ops: Ops) -> None:
            ops.execute("INSERT INTO items (id, name) VALUES (1, 'a'), (2, 'b')",
                        down="DELETE FROM items")
            ops.add_column("items", column("seen_at", dt.datetime,
                                           default=Raw("CURRENT_TIMESTAMP")))
            ops.add_column("items", column("rank", int, default=7))
            ops.add_column("items", column("code", str, unique=True, default="x"))
        """,
    )
    write(
        folder,
        V3,
        "not_null_without_default",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.add_column("items", column("required", str))
        """,
    )
    with Migrator(db_url, folder) as migrator:
        with pytest.raises(MigrationError) as caught:
            migrator.migrate()
        # Two rows got the same default of a UNIQUE column: refused, all undone.
        assert caught.value.version == V2
        assert isinstance(caught.value.cause, repodb.UniqueViolation)
        conn = migrator.connection
        items = introspect.table(conn, "items")
        assert items is not None
        assert [c.name for c in items.columns] == ["id", "name"]

        (folder / f"{V2}_more_columns.py").write_text(
            (folder / f"{V2}_more_columns.py")
            .read_text()
            .replace("(1, 'a'), (2, 'b')", "(1, 'a')"),
            encoding="utf-8",
        )
        with pytest.raises(MigrationError) as caught:
            migrator.migrate()
        # NOT NULL without a default cannot be added to a table with rows.
        assert caught.value.version == V3
        assert isinstance(caught.value.cause, repodb.NotNullViolation)
        rows = conn.all(
            Request.many(
                "SELECT name, seen_at, rank, code FROM items",
                row=tup(str, dt.datetime, int, str),
            )
        )
        assert [(name, rank, code) for name, _, rank, code in rows] == [("a", 7, "x")]
        assert rows[0][1].year >= 2024
        with pytest.raises(repodb.UniqueViolation):
            conn.exec(Request.exec("INSERT INTO items (id, name) VALUES (3, 'c')"))

        conn.exec(Request.exec("DELETE FROM items"))
        assert [r.version for r in migrator.migrate()] == [V3]
        with pytest.raises(repodb.NotNullViolation):
            conn.exec(Request.exec("INSERT INTO items (id, name) VALUES (3, 'c')"))
        migrator.rollback(to=V1)
        items = introspect.table(conn, "items")
        assert items is not None
        assert [c.name for c in items.columns] == ["id", "name"]


def test_altering_a_columns_constraints_works_alike_on_both(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "pets",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.create_table("users", [column("id", int, primary_key=True)])
            ops.create_table("pets", [
                column("id", int, primary_key=True),
                column("owner_id", int, references="users", check="owner_id > 0"),
            ])
        """,
    )
    write(
        folder,
        V2,
        "one_pet_each",
        """
        from repodb.migration import Ops, column, references

        BEFORE = column("owner_id", int, references="users", check="owner_id > 0")
        AFTER = column("owner_id", int, unique=True,
                       references=references("users", on_delete="cascade"))

        def change(ops: Ops) -> None:
            ops.alter_column("pets", AFTER, previous=BEFORE)
        """,
    )
    add_user = Request.exec("INSERT INTO users (id) VALUES (?)", params=int)
    add_pet = Request.exec("INSERT INTO pets (id, owner_id) VALUES (?, ?)", params=tup(int, int))
    with Migrator(db_url, folder) as migrator:
        migrator.migrate()
        conn = migrator.connection
        for n in (-1, 1, 2):
            conn.exec(add_user, n)
        conn.exec(add_pet, (1, 1))
        conn.exec(add_pet, (2, -1))  # the check is gone
        with pytest.raises(repodb.UniqueViolation):
            conn.exec(add_pet, (3, 1))
        conn.exec(Request.exec("DELETE FROM users WHERE id = 1"))  # cascades now
        assert conn.all(Request.many("SELECT id FROM pets", row=int)) == [2]

        conn.exec(Request.exec("DELETE FROM pets"))
        migrator.rollback()
        conn.exec(add_pet, (1, 2))
        conn.exec(add_pet, (2, 2))  # no longer unique
        with pytest.raises(repodb.CheckViolation):
            conn.exec(add_pet, (3, -1))
        with pytest.raises(repodb.ForeignKeyViolation):  # no cascade: the delete is refused
            conn.exec(Request.exec("DELETE FROM users WHERE id = 2"))


def test_change_cannot_use_the_connection(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "sneaky",
        """
        from repodb import Request
        from repodb.migration import Ops

        def change(ops: Ops) -> None:
            ops.connection.exec(Request.exec("CREATE TABLE sneaky (id int)"))
        """,
    )
    with Migrator(db_url, folder) as migrator:
        with pytest.raises(MigrationError, match=r"move data changes to up\(ops\)"):
            migrator.migrate()
        assert "sneaky" not in table_names(migrator.connection)


def test_migrators_of_different_schemas_do_not_wait_for_each_other(
    pg_schema_url: str, folder: Path
) -> None:
    write(folder, V1, "items", ITEMS)
    other = f"t_{uuid.uuid4().hex[:12]}"
    base = pg_url()
    with open_conn(base) as admin:
        admin.exec(Request.exec(f"CREATE SCHEMA {other}"))
    try:
        with (
            Migrator(pg_schema_url, folder) as holder,
            Migrator(with_search_path(base, other), folder, lock_timeout=0.2) as neighbour,
        ):
            from repodb._migration.runner import lock

            with lock(holder.connection, "schema_migrations", 1.0):
                assert [r.version for r in neighbour.migrate()] == [V1]
                assert "items" not in table_names(holder.connection)
    finally:
        with open_conn(base) as admin:
            admin.exec(Request.exec(f"DROP SCHEMA {other} CASCADE"))


@pytest.mark.postgresql  # pg_url() itself: no fixture for conftest to mark it by
def test_a_search_path_naming_no_schema_is_a_clear_error(folder: Path) -> None:
    write(folder, V1, "items", ITEMS)
    url = with_search_path(pg_url(), f"missing_{uuid.uuid4().hex[:8]}")
    with Migrator(url, folder) as migrator, pytest.raises(MigrationError, match="search_path"):
        migrator.migrate()
