"""Edge cases of migrations, found by using them as an application would.

Covered on SQLite and PostgreSQL: a renamed table altered, its column
renamed and dropped (SQLite rebuilds it under its new name), then rolled
back; rebuilding a table that children reference ON DELETE CASCADE keeps the
children's rows and the cascade; int -> optional(str) and back with data; a
NOT NULL alteration over NULLs fails naming migration and statement and
changes nothing; broken files (syntax, import, module-level errors) fail the
run before any migration ran; ``status`` neither creates the history table
nor writes (it works on a read-only replica, where ``migrate`` fails
clearly) and reads the current schema's history only; ``transaction =
False`` failing midway (PostgreSQL keeps what ran; SQLite runs it in a
transaction anyway); migrators in separate processes run each migration
once; a migration written by ``diff`` for every type round-trips; a
schema's foreign ``prefix`` is a clear ``diff`` error; identifiers needing
quotes; ``alter_column`` without ``previous`` keeps the column's
constraints on both; a type change of a column with a default; an identity
key altered; ``drop_table(columns=)`` undone; ``ddl_lock_timeout`` failing
a migration stuck behind an application's transaction on PostgreSQL (in a
transaction or not, the session's own setting left as it was).
"""

from __future__ import annotations

import datetime as dt
import enum
import textwrap
import uuid
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

import repodb
from repodb import Request
from repodb._migration import introspect
from repodb.changeset import Changeset, cast
from repodb.migration import MigrationError, Migrator, diff, new_migration
from repodb.schema import Assoc, Col, Schema, belongs_to, field, index
from repodb.types import optional, tup
from tests.conftest import open_conn, replica_urls, with_search_path
from tests.integration.test_migration import history

pytestmark = pytest.mark.mariadb

V1, V2, V3 = 20260101000001, 20260101000002, 20260101000003


def write(directory: Path, version: int, name: str, source: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / f"{version}_{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "migrations"
    path.mkdir()
    return path


PARENT_CHILD = """
    from repodb.migration import Ops, column, references
    from repodb.types import optional

    def change(ops: Ops) -> None:
        ops.create_table("parents", [
            column("id", int, primary_key=True, autogenerate=True),
            column("name", str),
            column("score", optional(int)),
        ])
        ops.create_table("children", [
            column("id", int, primary_key=True, autogenerate=True),
            column("parent_id", int, references=references("parents", on_delete="cascade")),
        ])
        ops.create_index("parents", ["name"])
"""


def seed(conn: repodb.Connection) -> None:
    conn.exec(Request.exec("INSERT INTO parents (name, score) VALUES ('a', 1), ('b', NULL)"))
    conn.exec(Request.exec("INSERT INTO children (parent_id) VALUES (1), (1), (2)"))


def count(conn: repodb.Connection, table: str) -> int:
    return conn.one(Request.one(f"SELECT count(*) FROM {table}", row=int))


def test_a_renamed_table_can_be_altered_and_dropped_from_and_rolled_back(
    db_url: str, folder: Path
) -> None:
    write(folder, V1, "create", PARENT_CHILD)
    write(
        folder,
        V2,
        "rename",
        """
        from repodb.migration import Ops, column
        from repodb.types import optional

        def change(ops: Ops) -> None:
            ops.rename_table("parents", "families")
            ops.alter_column("families", column("score", optional(str)),
                             previous=column("score", optional(int)))
            ops.rename_column("families", "name", "title")
            ops.drop_column("families", "score", definition=column("score", optional(str)))
        """,
    )
    with Migrator(db_url, folder) as m:
        m.migrate(to=V1)
        seed(m.connection)
        m.migrate()
        conn = m.connection
        assert set(introspect.tables(conn)) >= {"families", "children"}
        assert "parents" not in introspect.tables(conn)
        fam = introspect.table(conn, "families")
        assert fam is not None
        assert [c.name for c in fam.columns] == ["id", "title"]
        assert count(conn, "children") == 3
        child = introspect.table(conn, "children")
        assert child is not None
        assert [fk.table for fk in child.foreign_keys] == ["families"]
        # the cascade still works through the renamed, rebuilt table
        conn.exec(Request.exec("DELETE FROM families WHERE id = 2"))
        assert count(conn, "children") == 2
        m.rollback()
        assert history(conn) == [V1]
        par = introspect.table(conn, "parents")
        assert par is not None
        assert [c.name for c in par.columns] == ["id", "name", "score"]
        assert count(conn, "children") == 2
        assert conn.all(Request.many("SELECT name FROM parents ORDER BY id", row=str)) == ["a"]
        m.rollback()
        assert history(conn) == []
        m.migrate()
        assert history(conn) == [V1, V2]


def test_rebuilding_a_parent_keeps_its_childrens_rows_and_the_cascade(
    db_url: str, folder: Path
) -> None:
    write(folder, V1, "create", PARENT_CHILD)
    write(
        folder,
        V2,
        "alter",
        """
        from repodb.migration import Ops, column
        from repodb.types import optional

        def change(ops: Ops) -> None:
            ops.alter_column("parents", column("score", optional(str)),
                             previous=column("score", optional(int)))
        """,
    )
    with Migrator(db_url, folder) as m:
        m.migrate(to=V1)
        seed(m.connection)
        m.migrate()
        conn = m.connection
        assert count(conn, "children") == 3
        assert conn.all(
            Request.many("SELECT score FROM parents ORDER BY id", row=optional(str))
        ) == ["1", None]
        m.rollback()
        assert count(conn, "children") == 3
        assert conn.all(
            Request.many("SELECT score FROM parents ORDER BY id", row=optional(int))
        ) == [1, None]
    with open_conn(db_url) as conn:
        conn.exec(Request.exec("DELETE FROM parents WHERE id = 1"))
        assert count(conn, "children") == 1


def test_a_not_null_alter_over_nulls_fails_naming_migration_and_statement(
    db_url: str, folder: Path
) -> None:
    write(folder, V1, "create", PARENT_CHILD)
    write(
        folder,
        V2,
        "tighten",
        """
        from repodb.migration import Ops, column

        def up(ops: Ops) -> None:
            ops.add_column("parents", column("extra", int, default=5))
            ops.alter_column("parents", column("score", int))

        def down(ops: Ops) -> None:
            pass
        """,
    )
    with Migrator(db_url, folder) as m:
        m.migrate(to=V1)
        seed(m.connection)
        with pytest.raises(MigrationError) as info:
            m.migrate()
        err = info.value
        assert err.version == V2
        assert err.name == "tighten"
        assert "tighten" in str(err)
        assert err.statement is not None
        assert "statement:" in str(err)
        if m.connection.dialect.name == "sqlite":  # the statement names the table's copy
            assert "in alter_column 'score', which rebuilds table 'parents'" in str(err)
        conn = m.connection
        assert history(conn) == [V1]
        par = introspect.table(conn, "parents")
        assert par is not None
        # MariaDB has no transactional DDL: the column added before the failure stays.
        kept = ["extra"] if conn.dialect.name == "mariadb" else []
        assert [c.name for c in par.columns] == ["id", "name", "score", *kept]
        assert count(conn, "children") == 3


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("def change(ops)\n    pass\n", "not valid Python"),
        ("import repodb_no_such_module\n", "ModuleNotFoundError"),
        ("raise RuntimeError('boom at import')\n", "boom at import"),
    ],
)
def test_a_broken_file_names_itself_and_nothing_runs(
    db_url: str, folder: Path, source: str, why: str
) -> None:
    write(folder, V1, "create", PARENT_CHILD)
    write(folder, V2, "broken", source)
    with Migrator(db_url, folder) as m:
        with pytest.raises(MigrationError) as info:
            m.migrate()
        assert f"{V2}_broken.py" in str(info.value)
        assert why in str(info.value)
        assert "parents" not in introspect.tables(m.connection)


@pytest.mark.parametrize(
    "source",
    [
        "async def up(ops):\n    ops.execute('CREATE TABLE nope (id int)')\n",
        "def change(ops):\n    yield ops.execute('CREATE TABLE nope (id int)', down='SELECT 1')\n",
    ],
)
def test_an_async_or_generator_migration_is_refused_not_recorded(
    db_url: str, folder: Path, source: str
) -> None:
    write(folder, V1, "odd", source)
    with Migrator(db_url, folder) as m:
        with pytest.raises(MigrationError, match="async or generator") as info:
            m.migrate()
        assert info.value.version == V1
        assert [s.applied for s in m.status()] == [False]


def test_status_does_not_create_the_history_table(db_url: str, folder: Path) -> None:
    write(folder, V1, "create", PARENT_CHILD)
    with Migrator(db_url, folder) as m:
        assert [s.applied for s in m.status()] == [False]
        assert [f.version for f in m.pending()] == [V1]
        assert introspect.tables(m.connection) == {}


QUOTED = """
    from repodb.migration import Ops, column, references
    from repodb.types import optional

    def change(ops: Ops) -> None:
        ops.create_table("order", [
            column("id", int, primary_key=True, autogenerate=True),
            column("select", str),
            column("my col", optional(int)),
        ])
        ops.create_table("line item", [
            column("id", int, primary_key=True, autogenerate=True),
            column("order", int, references=references("order", on_delete="cascade")),
        ])
        ops.create_index("order", ["select", "my col"], unique=True)
        ops.create_index("line item", ["order"])
        ops.rename_column("order", "my col", "your col")
        ops.alter_column("order", column("your col", optional(str)),
                         previous=column("your col", optional(int)))
        ops.rename_table("order", "group")
        ops.add_column("group", column("where", int, default=0))
"""


def test_identifiers_that_need_quotes(db_url: str, folder: Path) -> None:
    write(folder, V1, "quoted", QUOTED)
    with Migrator(db_url, folder) as m:
        m.migrate()
        conn = m.connection
        conn.exec(
            Request.exec(
                'INSERT INTO "group" ("select", "your col") VALUES (?, ?)', params=tup(str, str)
            ),
            ("x", "7"),
        )
        conn.exec(Request.exec('INSERT INTO "line item" ("order") VALUES (1)'))
        grp = introspect.table(conn, "group")
        assert grp is not None
        assert [c.name for c in grp.columns] == ["id", "select", "your col", "where"]
        m.rollback()
        assert set(introspect.tables(conn)) == {"schema_migrations"}
        m.migrate()
        assert history(conn) == [V1]


def test_a_migration_without_a_transaction_failing_midway(db_url: str, folder: Path) -> None:
    write(folder, V1, "create", PARENT_CHILD)
    write(
        folder,
        V2,
        "loose",
        """
        from repodb.migration import Ops, column
        from repodb.types import optional

        transaction = False

        def change(ops: Ops) -> None:
            ops.create_table("notes", [column("id", int, primary_key=True)], if_not_exists=True)
            ops.alter_column("parents", column("score", int),
                             previous=column("score", optional(int)))
        """,
    )
    with Migrator(db_url, folder) as m:
        m.migrate(to=V1)
        seed(m.connection)
        with pytest.raises(MigrationError) as info:
            m.migrate()
        conn = m.connection
        # SQLite's only lock is the write transaction: it runs every migration in
        # one; MariaDB runs none in one.
        loose = conn.dialect.name != "sqlite"
        assert ("without a transaction" in str(info.value)) == loose
        assert info.value.version == V2
        assert history(conn) == [V1]
        # what ran before the failure stays; the failed operation left nothing behind
        assert set(introspect.tables(conn)) == {
            "parents",
            "children",
            "schema_migrations",
            *(["notes"] if loose else []),
        }
        par = introspect.table(conn, "parents")
        assert par is not None
        assert [c.nullable for c in par.columns] == [False, False, True]
        assert count(conn, "children") == 3
        # once the data is fixed, the (idempotent) migration runs again
        conn.exec(Request.exec("UPDATE parents SET score = 0 WHERE score IS NULL"))
        m.migrate()
        assert history(conn) == [V1, V2]
        m.rollback()
        assert history(conn) == [V1]


MIGRATE_SCRIPT = """
import json, sys, time
from pathlib import Path
from repodb.migration import Migrator

url, folder, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
with Migrator(url, folder, lock_timeout=60) as migrator:
    print(json.dumps([r.version for r in migrator.migrate()]))
"""


def test_migrators_in_separate_processes_run_each_migration_once(
    db_url: str, folder: Path, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys

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
    for n, version, tx in ((2, V2, True), (3, V3, False)):
        write(
            folder,
            version,
            f"step{n}",
            f"""
            import time
            from repodb.migration import Ops

            transaction = {tx}

            def up(ops: Ops) -> None:
                ops.execute("INSERT INTO runs (version) VALUES ({n})")
                time.sleep(0.1)  # widen the window in which the others try
                ops.execute("INSERT INTO runs (version) VALUES ({n})")

            def down(ops: Ops) -> None:
                ops.execute("DELETE FROM runs WHERE version = {n}")
            """,
        )
    script = tmp_path / "migrate.py"
    script.write_text(MIGRATE_SCRIPT, encoding="utf-8")
    go = tmp_path / "go"
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), db_url, str(folder), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for _ in range(4)
    ]
    go.touch()
    ran: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        ran += json.loads(out)
    assert sorted(ran) == [V1, V2, V3]
    with open_conn(db_url) as conn:
        counts = conn.all(
            Request.many(
                "SELECT version, count(*) FROM runs GROUP BY version ORDER BY version",
                row=tup(int, int),
            )
        )
        assert counts == [(1, 1), (2, 2), (3, 2)]
        assert history(conn) == [V1, V2, V3]


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class EdgeKinds(
    Schema,
    table="edge kinds",
    # (Not partial: MariaDB has no partial indexes; test_migration_diff.py has one.)
    indexes=(index("key", unique=True), index("ratio")),
):
    id: Col[int] = field(primary_key=True, default=None)
    flag: Col[bool]
    ratio: Col[float | None]
    price: Col[Decimal]
    data: Col[bytes | None]
    day: Col[dt.date]
    at: Col[dt.datetime]
    clock: Col[dt.time | None]
    wait: Col[dt.timedelta]
    key: Col[uuid.UUID]
    doc: Col[dict[str, object]]
    numbers: Col[list[int]]
    names: Col[list[str] | None]
    mood: Col[Mood | None]
    select: Col[str] = field(source="select")


class EdgeChild(Schema, table="edge_children"):
    id: Col[int] = field(primary_key=True, default=None)
    kind_id: Col[int]
    kind: ClassVar[Assoc[EdgeKinds]] = belongs_to(EdgeKinds, foreign_key="kind_id")


def test_a_migration_written_by_diff_for_every_type_round_trips(db_url: str, folder: Path) -> None:
    schemas = [EdgeChild, EdgeKinds]
    with Migrator(db_url, folder) as m:
        conn = m.connection
        operations = diff(conn, schemas)
        new_migration(folder, "kinds", operations=operations)
        m.migrate()
        assert diff(conn, schemas) == []
        m.rollback()
        assert set(introspect.tables(conn)) == {"schema_migrations"}
        m.migrate()
        assert diff(conn, schemas) == []


class Prefixed(Schema, table="prefixed", prefix="elsewhere"):
    id: Col[int] = field(primary_key=True, default=None)


def test_diff_of_a_schema_in_another_database_schema_is_a_clear_error(
    conn: repodb.Connection,
) -> None:
    with pytest.raises(ValueError, match="elsewhere"):
        diff(conn, [Prefixed])


def test_status_works_on_a_read_only_replica(pg_schema_url: str, folder: Path) -> None:
    import time
    from urllib.parse import parse_qs, urlsplit

    write(folder, V1, "create", PARENT_CHILD)
    write(folder, V2, "later", "def change(ops):\n    pass\n")
    with Migrator(pg_schema_url, folder) as m:
        m.migrate(to=V1)
    options = parse_qs(urlsplit(pg_schema_url).query)["options"][0]
    schema = options.removeprefix("-csearch_path=")
    replica = with_search_path(replica_urls()[0], schema)
    with Migrator(replica, folder) as m:
        deadline = time.monotonic() + 30
        while not m.status()[0].applied and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(s.version, s.applied) for s in m.status()] == [(V1, True), (V2, False)]
        assert [f.version for f in m.pending()] == [V2]
        with pytest.raises(MigrationError, match="cannot create the migrations table") as refused:
            m.migrate()
        assert "this server is read-only, e.g. a streaming replica: migrate the primary" in str(
            refused.value
        )


def test_alter_column_without_previous_keeps_the_columns_constraints_on_both(
    db_url: str, folder: Path
) -> None:
    # MariaDB refuses a CHECK on a column a foreign key's action sets (error 1901).
    sets_null = not db_url.startswith("mariadb")
    action = "set_null" if sets_null else "no_action"
    write(
        folder,
        V1,
        "pets",
        """
        from repodb.migration import Ops, column, references

        def change(ops: Ops) -> None:
            ops.create_table("users", [column("id", int, primary_key=True)])
            ops.create_table("pets", [
                column("id", int, primary_key=True),
                column("owner_id", int, unique=True, check="owner_id > 0",
                       references=references("users", on_delete="ACTION")),
                column("name", str, default="rex"),
            ])
        """.replace("ACTION", action),
    )
    write(
        folder,
        V2,
        "loosen",
        """
        from repodb.migration import Ops, column
        from repodb.types import optional

        def up(ops: Ops) -> None:
            ops.alter_column("pets", column("owner_id", optional(int)))
            ops.alter_column("pets", column("id", int))

        def down(ops: Ops) -> None:
            ops.alter_column("pets", column("owner_id", int))
        """,
    )
    add = Request.exec("INSERT INTO pets (id, owner_id) VALUES (?, ?)", params=tup(int, int))
    with Migrator(db_url, folder) as m:
        m.migrate()
        conn = m.connection
        conn.exec(Request.exec("INSERT INTO users (id) VALUES (1)"))
        conn.exec(add, (1, 1))
        conn.exec(Request.exec("INSERT INTO pets (id, owner_id) VALUES (2, NULL)"))
        for args, error in [
            ((3, 1), repodb.UniqueViolation),
            ((3, -1), repodb.CheckViolation),
            ((3, 99), repodb.ForeignKeyViolation),
            ((1, 1), repodb.UniqueViolation),  # the key too
        ]:
            with pytest.raises(error), conn.transaction():
                conn.exec(add, args)
        pets = introspect.table(conn, "pets")
        assert pets is not None
        assert pets.primary_key == ("id",)
        if sets_null:
            conn.exec(Request.exec("DELETE FROM users WHERE id = 1"))  # ON DELETE SET NULL kept
            assert conn.all(
                Request.many("SELECT owner_id FROM pets ORDER BY id", row=optional(int))
            ) == [None, None]
        assert conn.all(Request.many("SELECT name FROM pets ORDER BY id", row=str)) == [
            "rex",
            "rex",
        ]


def test_status_reads_the_current_schemas_history_not_a_later_one_on_the_path(
    pg_schema_url: str, folder: Path
) -> None:
    from urllib.parse import parse_qs, urlsplit

    write(folder, V1, "create", PARENT_CHILD)
    with Migrator(pg_schema_url, folder) as m:
        m.migrate()
    other = parse_qs(urlsplit(pg_schema_url).query)["options"][0].removeprefix("-csearch_path=")
    fresh = f"{other}_fresh"
    base = pg_schema_url.split("?", 1)[0]
    with open_conn(base) as admin:
        admin.exec(Request.exec(f"CREATE SCHEMA {fresh}"))
    try:
        with Migrator(with_search_path(base, f"{fresh},{other}"), folder) as m:
            assert [s.applied for s in m.status()] == [False]
            assert [f.version for f in m.pending()] == [V1]
            assert [r.version for r in m.migrate()] == [V1]
            assert [s.applied for s in m.status()] == [True]
    finally:
        with open_conn(base) as admin:
            admin.exec(Request.exec(f"DROP SCHEMA {fresh} CASCADE"))


def test_drop_table_with_columns_is_undone_with_its_columns(db_url: str, folder: Path) -> None:
    write(folder, V1, "create", PARENT_CHILD)
    write(
        folder,
        V2,
        "drop",
        """
        from repodb.migration import Ops, column
        from repodb.types import optional

        def change(ops: Ops) -> None:
            ops.drop_table("children", columns=[
                column("id", int, primary_key=True, autogenerate=True),
                column("parent_id", optional(int), references="parents"),
            ])
        """,
    )
    with Migrator(db_url, folder) as m:
        m.migrate()
        conn = m.connection
        assert "children" not in introspect.tables(conn)
        m.rollback()
        conn.exec(Request.exec("INSERT INTO parents (name) VALUES ('p')"))
        conn.exec(Request.exec("INSERT INTO children (parent_id) VALUES (1), (NULL)"))
        assert conn.all(Request.many("SELECT id FROM children ORDER BY id", row=int)) == [1, 2]
        with pytest.raises(repodb.ForeignKeyViolation):
            conn.exec(Request.exec("INSERT INTO children (parent_id) VALUES (99)"))
        m.migrate()
        assert history(conn) == [V1, V2]


def test_changing_the_type_of_a_column_with_a_default(db_url: str, folder: Path) -> None:
    write(
        folder,
        V1,
        "create",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.create_table("things", [
                column("id", int, primary_key=True),
                column("n", str, default="5"),
                column("flag", bool, default=True),
            ])
        """,
    )
    write(
        folder,
        V2,
        "retype",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.alter_column("things", column("n", int, default=7),
                             previous=column("n", str, default="5"))
            ops.alter_column("things", column("flag", int, default=0),
                             previous=column("flag", bool, default=True))
        """,
    )
    with Migrator(db_url, folder) as m:
        m.migrate(to=V1)
        conn = m.connection
        conn.exec(Request.exec("INSERT INTO things (id) VALUES (1)"))
        m.migrate()
        conn.exec(Request.exec("INSERT INTO things (id) VALUES (2)"))
        assert conn.all(
            Request.many("SELECT n, flag FROM things ORDER BY id", row=tup(int, int))
        ) == [(5, 1), (7, 0)]
        m.rollback()
        conn.exec(Request.exec("INSERT INTO things (id) VALUES (3)"))
        assert conn.all(
            Request.many("SELECT n, flag FROM things ORDER BY id", row=tup(str, bool))
        ) == [("5", True), ("7", False), ("5", True)]


def test_altering_an_autogenerated_key(db_url: str, folder: Path) -> None:
    write(folder, V1, "create", PARENT_CHILD)
    write(
        folder,
        V2,
        "key",
        """
        from repodb.migration import Ops, column

        def up(ops: Ops) -> None:
            ops.alter_column("parents", column("id", int, primary_key=True, autogenerate=True))

        def down(ops: Ops) -> None:
            pass
        """,
    )
    with Migrator(db_url, folder) as m:
        m.migrate(to=V1)
        seed(m.connection)
        m.migrate()
        conn = m.connection
        conn.exec(Request.exec("INSERT INTO parents (name) VALUES ('c')"))
        assert conn.all(Request.many("SELECT id FROM parents ORDER BY id", row=int)) == [1, 2, 3]
        assert count(conn, "children") == 3


def test_constraints_of_a_renamed_table_and_column_can_be_altered(
    db_url: str, folder: Path
) -> None:
    write(
        folder,
        V1,
        "create",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.create_table("users", [column("id", int, primary_key=True)])
            ops.create_table("pets", [
                column("id", int, primary_key=True),
                column("owner", int, unique=True, check="owner > 0", references="users"),
            ])
            ops.rename_table("pets", "animals")
            ops.rename_column("animals", "owner", "keeper")
        """,
    )
    write(
        folder,
        V2,
        "loosen",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.alter_column(
                "animals",
                column("keeper", int),
                previous=column("keeper", int, unique=True, check="keeper > 0",
                                references="users"),
            )
        """,
    )
    add = Request.exec("INSERT INTO animals (id, keeper) VALUES (?, ?)", params=tup(int, int))
    with Migrator(db_url, folder) as m:
        m.migrate()
        conn = m.connection
        conn.exec(add, (1, 5))
        conn.exec(add, (2, 5))
        conn.exec(add, (3, -5))
        conn.exec(Request.exec("DELETE FROM animals"))
        m.rollback()
        with pytest.raises(repodb.ForeignKeyViolation):
            conn.exec(add, (1, 5))


def test_renaming_a_referenced_key_column_keeps_the_references(db_url: str, folder: Path) -> None:
    write(folder, V1, "create", PARENT_CHILD)
    write(
        folder,
        V2,
        "rename_key",
        """
        from repodb.migration import Ops, column
        from repodb.types import optional

        def change(ops: Ops) -> None:
            ops.rename_column("parents", "id", "pid")
            ops.alter_column("parents", column("score", optional(str)),
                             previous=column("score", optional(int)))
        """,
    )
    with Migrator(db_url, folder) as m:
        m.migrate(to=V1)
        seed(m.connection)
        m.migrate()
        conn = m.connection
        child = introspect.table(conn, "children")
        assert child is not None
        assert [(fk.table, fk.references) for fk in child.foreign_keys] == [("parents", ("pid",))]
        with pytest.raises(repodb.ForeignKeyViolation):
            conn.exec(Request.exec("INSERT INTO children (parent_id) VALUES (99)"))
        conn.exec(Request.exec("DELETE FROM parents WHERE pid = 1"))
        assert count(conn, "children") == 1
        m.rollback()
        child = introspect.table(conn, "children")
        assert child is not None
        assert [(fk.table, fk.references) for fk in child.foreign_keys] == [("parents", ("id",))]
        assert count(conn, "children") == 1


def test_diff_of_a_schema_prefixed_with_the_current_schema(pg_schema_url: str) -> None:
    from urllib.parse import parse_qs, urlsplit

    current = parse_qs(urlsplit(pg_schema_url).query)["options"][0].removeprefix("-csearch_path=")

    class Here(Schema, table="here", prefix=current):
        id: Col[int] = field(primary_key=True, default=None)

    with open_conn(pg_schema_url) as conn:
        (create,) = diff(conn, [Here])
        assert getattr(create, "table", None) == "here"


def _alter_t(folder: Path, *, transaction: bool) -> None:
    write(
        folder,
        V1,
        "create_t",
        """
        from repodb.migration import Ops, column

        def change(ops: Ops) -> None:
            ops.create_table("t", [column("id", int, primary_key=True)])
        """,
    )
    write(
        folder,
        V2,
        "add_note",
        ("transaction = False\n" if not transaction else "")
        + """
from repodb.migration import Ops, column
from repodb.types import optional

def change(ops: Ops) -> None:
    ops.add_column("t", column("note", optional(str)))
""",
    )


@pytest.mark.parametrize("transaction", [True, False], ids=["in_transaction", "without"])
def test_a_migration_waiting_for_a_busy_table_gives_up_after_ddl_lock_timeout(
    pg_schema_url: str, folder: Path, transaction: bool
) -> None:
    _alter_t(folder, transaction=transaction)
    with Migrator(pg_schema_url, folder, ddl_lock_timeout=0.2) as migrator:
        migrator.migrate(to=V1)
        with open_conn(pg_schema_url) as app:
            # An application transaction that read the table holds a lock ALTER must wait for.
            with app.transaction():
                app.all(Request.many("SELECT id FROM t", row=int))
                with pytest.raises(MigrationError, match=r"ddl_lock_timeout=0\.2 s") as failure:
                    migrator.migrate()
            assert failure.value.version == V2
            assert failure.value.statement is not None
            assert "ALTER TABLE" in failure.value.statement
            conn = migrator.connection
            assert history(conn) == [V1]
            live = introspect.table(conn, "t")
            assert live is not None
            assert [c.name for c in live.columns] == ["id"]
            # The limit is the migration's: the session's own setting is as before.
            assert conn.one(Request.one("SHOW lock_timeout", row=str)) == "0"
        # Once the table is free the same migration runs.
        assert [r.version for r in migrator.migrate()] == [V2]


def test_ddl_lock_timeout_is_accepted_on_sqlite_and_must_be_positive(
    tmp_path: Path, folder: Path
) -> None:
    _alter_t(folder, transaction=True)
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with Migrator(url, folder, ddl_lock_timeout=0.2) as migrator:
        assert [r.version for r in migrator.migrate()] == [V1, V2]
    with pytest.raises(ValueError, match="ddl_lock_timeout must be positive"):
        Migrator(url, folder, ddl_lock_timeout=0)


class Member(Schema, table="members", indexes=(index("email", unique=True),)):
    id: Col[int | None] = field(primary_key=True, default=None)
    email: Col[str]


def test_a_unique_index_from_diff_is_the_changesets_default_unique_constraint(
    db_url: str, folder: Path
) -> None:
    with Migrator(db_url, folder) as migrator:
        new_migration(folder, "members", operations=diff(migrator.connection, [Member]))
        migrator.migrate()
        repo = repodb.Repo(migrator.connection)

        def signup(email: str) -> Changeset[Member]:
            return cast(Member, {"email": email}, ["email"]).unique_constraint("email")

        repo.insert(signup("ada@example.com"))
        with pytest.raises(repodb.InvalidChangesetError) as taken:
            repo.insert(signup("ada@example.com"))
        assert taken.value.changeset.traverse_errors() == {"email": ["has already been taken"]}
