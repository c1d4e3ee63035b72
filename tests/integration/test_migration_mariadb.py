"""Migrations on MariaDB: what differs there, on the test cluster's primary (a fresh database each).

Covered: MariaDB has no transactional DDL, so a migration failing midway
(in SQL or in Python) keeps what it ran; its history row says so
(``failed`` after N operations, in ``status()``), and running it again,
once fixed, resumes after the operations that completed (a skipped
``create_table`` would fail if run twice); a rollback failing midway is
recorded and resumed alike. A partial index is refused before anything
runs (by the migrator and by ``diff``). A tenant ``prefix`` is a database,
created if missing and given back after ``close()``. Introspection reads
information_schema in the shape of the other databases (a foreign key's
own index and inline UNIQUE keys apart from indexes); a migration
``diff`` wrote round-trips (diff empty after it, after its rollback and
rerun). Text keys (VARCHAR(255)) and text (LONGTEXT) keep 4-byte
characters and compare by code point. ``ddl_lock_timeout`` (the session's
``lock_wait_timeout`` for the migration) fails a migration stuck behind a
busy table, and the session's setting is given back.
"""

from __future__ import annotations

import datetime as dt
import textwrap
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

import repodb
from repodb import Request
from repodb._migration import introspect
from repodb._migration.introspect import LiveColumn
from repodb._migration.ops import ForeignKey
from repodb.migration import MigrationError, Migrator, diff, new_migration
from repodb.schema import Assoc, Col, Schema, belongs_to, field, index
from repodb.types import tup
from tests.conftest import open_conn
from tests.integration.test_migration import history, table_names

V1, V2 = 20260101000001, 20260101000002

# Three operations; the second fails until the file is fixed.
MIDWAY = """
from repodb.migration import Ops, column

def up(ops: Ops) -> None:
    ops.create_table("first", [column("id", int, primary_key=True)])
    ops.execute("CREATE TABLE second (id BIGINT{broken})")
    ops.create_table("third", [column("id", int, primary_key=True)])

def down(ops: Ops) -> None:
    ops.drop_table("third")
    ops.execute("DROP TABLE {second}")
    ops.drop_table("first")
"""


def write(folder: Path, version: int, name: str, source: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{version}_{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "migrations"


def test_a_migration_failing_midway_is_recorded_and_resumes(
    mariadb_db_url: str, folder: Path
) -> None:
    write(folder, V1, "midway", MIDWAY.format(broken=" NOT_A_TYPE(", second="second"))
    with Migrator(mariadb_db_url, folder) as migrator:
        assert not migrator.transactional
        with pytest.raises(MigrationError) as caught:
            migrator.migrate()
        message = str(caught.value)
        assert "failed after 1 operation (it ran without a transaction" in message
        assert "the history records it as 'failed'" in message
        assert caught.value.statement == "CREATE TABLE second (id BIGINT NOT_A_TYPE()"
        conn = migrator.connection
        assert table_names(conn) == {"first", "schema_migrations"}  # what ran stays
        [row] = migrator.status()
        assert (row.applied, row.incomplete, row.steps) == (False, "failed", 1)
        assert [f.version for f in migrator.pending()] == [V1]
        assert history(conn) == []

        # Fixed, it resumes after "first", whose create_table would fail if run again.
        write(folder, V1, "midway", MIDWAY.format(broken="", second="second"))
        assert [r.version for r in migrator.migrate()] == [V1]
        assert table_names(conn) == {"first", "second", "third", "schema_migrations"}
        [row] = migrator.status()
        assert (row.applied, row.incomplete, row.steps) == (True, None, 0)
        assert history(conn) == [V1]

        # A rollback failing midway is recorded too, and resumed alike.
        write(folder, V1, "midway", MIDWAY.format(broken="", second="no_such_table"))
        with pytest.raises(MigrationError, match="the history records it as 'rollback failed'"):
            migrator.rollback()
        assert table_names(conn) == {"first", "second", "schema_migrations"}
        [row] = migrator.status()
        assert (row.applied, row.incomplete, row.steps) == (True, "rollback failed", 1)
        write(folder, V1, "midway", MIDWAY.format(broken="", second="second"))
        assert [r.version for r in migrator.rollback()] == [V1]
        assert table_names(conn) == {"schema_migrations"}
        assert migrator.status()[0].applied is False
        assert history(conn) == []


def test_a_python_error_midway_is_recorded_as_well(mariadb_db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "raises",
        """
        from repodb.migration import Ops, column

        def up(ops: Ops) -> None:
            ops.create_table("kept", [column("id", int, primary_key=True)])
            raise RuntimeError("data looks wrong")
        """,
    )
    with Migrator(mariadb_db_url, folder) as migrator:
        with pytest.raises(MigrationError, match="data looks wrong") as caught:
            migrator.migrate()
        assert caught.value.statement is None
        assert "kept" in table_names(migrator.connection)
        [row] = migrator.status()
        assert (row.incomplete, row.steps) == ("failed", 1)


def test_a_partial_index_is_refused_before_anything_runs(mariadb_db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "partial",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.create_table("accounts", [column("id", int, primary_key=True),
                                          column("deleted", bool)])
            ops.create_index("accounts", ["id"], unique=True, where="NOT deleted")
        """,
    )
    with Migrator(mariadb_db_url, folder) as migrator:
        with pytest.raises(MigrationError, match="mariadb has no partial indexes") as caught:
            migrator.migrate()
        assert caught.value.version == V1
        assert table_names(migrator.connection) == {"schema_migrations"}
        assert migrator.status()[0].incomplete is None

        class Live(Schema, table="live", indexes=(index("email", where="email <> ''"),)):
            id: Col[int] = field(primary_key=True, default=None)
            email: Col[str]

        with pytest.raises(ValueError, match="mariadb has no partial indexes"):
            diff(migrator.connection, [Live])


@pytest.fixture
def tenant(mariadb_db_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}_tenant"
    yield name
    with open_conn(mariadb_db_url) as conn:
        conn.exec(Request.exec(f"DROP DATABASE IF EXISTS {name}"))


def test_a_tenant_prefix_is_a_database_of_its_own(
    mariadb_db_url: str, folder: Path, tenant: str
) -> None:
    write(
        folder,
        V1,
        "items",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.create_table("items", [column("id", int, primary_key=True)])
        """,
    )
    database = Request.one("SELECT DATABASE()", row=str)
    with open_conn(mariadb_db_url) as conn:
        home = conn.one(database)
        with Migrator(conn, folder, prefix=tenant) as migrator:
            assert conn.one(database) == tenant
            assert [r.version for r in migrator.migrate()] == [V1]
        # The lent connection is given back its own database, which has no tables.
        assert conn.one(database) == home
        assert table_names(conn) == set()
        with Migrator(conn, folder, prefix=tenant) as migrator:
            assert migrator.pending() == []
            assert table_names(conn) == {"items", "schema_migrations"}


class Author(Schema, table="authors", indexes=(index("email", unique=True),)):
    id: Col[int] = field(primary_key=True, default=None)
    email: Col[str]
    karma: Col[int | None]
    joined: Col[dt.datetime]
    balance: Col[Decimal]
    key: Col[uuid.UUID]
    profile: Col[dict[str, object]]
    tags: Col[list[str]]


class Book(Schema, table="books", indexes=(index("title"),)):
    id: Col[int] = field(primary_key=True, default=None)
    author_id: Col[int]
    title: Col[str]
    author: ClassVar[Assoc[Author]] = belongs_to(Author, foreign_key="author_id")


def test_a_migration_diff_wrote_round_trips(mariadb_db_url: str, folder: Path) -> None:
    schemas = [Book, Author]
    with Migrator(mariadb_db_url, folder) as migrator:
        conn = migrator.connection
        new_migration(folder, "library", operations=diff(conn, schemas))
        migrator.migrate()
        assert diff(conn, schemas, drop_extra=True) == []
        books = introspect.table(conn, "books")
        assert books is not None
        # The foreign key's own index is the key's; the declared one is listed.
        assert [(i.name, i.columns, i.unique) for i in books.indexes] == [
            ("books_title_index", ("title",), False)
        ]
        [fk] = books.foreign_keys
        assert (fk.columns, fk.table, fk.references) == (("author_id",), "authors", ("id",))
        authors = introspect.table(conn, "authors")
        assert authors is not None
        assert authors.columns[0] == LiveColumn(
            "id", "bigint(20)", False, None, True, identity=True
        )
        assert [i.name for i in authors.indexes] == ["authors_email_index"]
        # Rolled back and run again (the index of a foreign key drops with its table).
        migrator.rollback()
        assert table_names(conn) == {"schema_migrations"}
        migrator.migrate()
        assert diff(conn, schemas, drop_extra=True) == []


def test_introspection_reads_keys_and_actions(mariadb_db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "blog",
        """
        from repodb.migration import ForeignKey, Ops, column, references
        from repodb.types import optional

        def change(ops: Ops) -> None:
            ops.create_table("users", [
                column("id", int, primary_key=True, autogenerate=True),
                column("email", str, unique=True),
                column("karma", optional(int), default=0),
            ])
            ops.create_table("posts", [
                column("id", int, primary_key=True, autogenerate=True),
                column("user_id", int, references=references("users", on_delete="cascade")),
                column("editor_id", optional(int),
                       references=references("users", on_delete="set_null",
                                             on_update="restrict")),
                column("title", str),
            ], unique=[("user_id", "title")])
            ops.create_index("posts", ["user_id"])
            ops.create_index("posts", ["editor_id", "user_id"], unique=True)
            ops.create_table("tags", [column("post_id", int), column("name", str)],
                             primary_key=["name", "post_id"],
                             foreign_keys=[ForeignKey(("post_id",), "posts", ("id",))])
        """,
    )
    with Migrator(mariadb_db_url, folder) as migrator:
        migrator.migrate()
        conn = migrator.connection
        users = introspect.table(conn, "users")
        assert users is not None
        assert users.columns == (
            LiveColumn("id", "bigint(20)", False, None, True, identity=True),
            LiveColumn("email", "longtext", False, None, False),
            LiveColumn("karma", "bigint(20)", True, "0", False),
        )
        assert users.unique_constraints == (("email",),)
        assert users.indexes == ()
        posts = introspect.table(conn, "posts")
        assert posts is not None
        assert posts.unique_constraints == (("user_id", "title"),)
        assert [(i.name, i.columns, i.unique) for i in posts.indexes] == [
            ("posts_editor_id_user_id_index", ("editor_id", "user_id"), True),
            ("posts_user_id_index", ("user_id",), False),
        ]
        fks = sorted(posts.foreign_keys, key=lambda fk: fk.columns)
        assert [(fk.columns, fk.on_delete, fk.on_update) for fk in fks] == [
            # InnoDB's RESTRICT is NO ACTION (both check at once), and reads back so.
            (("editor_id",), "set_null", "no_action"),
            (("user_id",), "cascade", "no_action"),
        ]
        tags = introspect.table(conn, "tags")
        assert tags is not None
        assert tags.primary_key == ("name", "post_id")
        assert tags.columns[1].type == "varchar(255)"  # a text key
        assert [ForeignKey(fk.columns, fk.table, fk.references) for fk in tags.foreign_keys] == [
            ForeignKey(("post_id",), "posts", ("id",))
        ]
        # Rolling back drops the index on user_id, which the foreign key does not need.
        migrator.rollback()
        assert table_names(conn) == {"schema_migrations"}


def test_text_keeps_every_code_point_and_compares_by_it(mariadb_db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "words",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.create_table("words", [column("word", str, primary_key=True),
                                       column("note", str, unique=True)])
        """,
    )
    add = Request.exec("INSERT INTO words (word, note) VALUES (?, ?)", params=tup(str, str))
    with Migrator(mariadb_db_url, folder) as migrator:
        migrator.migrate()
        conn = migrator.connection
        conn.exec(add, ("a", "\U0001f600 x"))
        conn.exec(add, ("A", "\U0001f600 X"))  # case-sensitive keys, as on PostgreSQL
        with pytest.raises(repodb.UniqueViolation):
            conn.exec(add, ("b", "\U0001f600 x"))
        rows = conn.all(
            Request.many("SELECT word, note FROM words ORDER BY word", row=tup(str, str))
        )
        assert rows == [("A", "\U0001f600 X"), ("a", "\U0001f600 x")]


def test_ddl_lock_timeout_bounds_the_wait_for_a_busy_table(
    mariadb_db_url: str, folder: Path
) -> None:
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
    write(
        folder,
        V2,
        "note",
        """
        from repodb.migration import Ops, column
        from repodb.types import optional

        def change(ops: Ops) -> None:
            ops.add_column("t", column("note", optional(str)))
        """,
    )
    # MariaDB's lock_wait_timeout is whole seconds: 0.2 waits one second.
    with Migrator(mariadb_db_url, folder, ddl_lock_timeout=0.2) as migrator:
        migrator.migrate(to=V1)
        conn = migrator.connection
        default = conn.one(Request.one("SELECT @@SESSION.lock_wait_timeout", row=int))
        with open_conn(mariadb_db_url) as app:
            # A transaction that read the table holds the metadata lock ALTER waits for.
            with app.transaction():
                app.all(Request.many("SELECT id FROM t", row=int))
                with pytest.raises(MigrationError, match=r"ddl_lock_timeout=0\.2 s") as failure:
                    migrator.migrate()
            assert failure.value.version == V2
            assert "ALTER TABLE" in (failure.value.statement or "")
            [_, row] = migrator.status()
            assert (row.incomplete, row.steps) == ("failed", 0)
            # The limit was the migration's: the session's own setting is back.
            assert conn.one(Request.one("SELECT @@SESSION.lock_wait_timeout", row=int)) == default
        assert [r.version for r in migrator.migrate()] == [V2]
