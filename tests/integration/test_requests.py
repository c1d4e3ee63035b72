"""Running typed requests: row counts, placeholders, records, streams, prepared statements.

Covered on every database: ``one``/``one_or_none``/``all``/``stream``/``fold``
and their run-time row-count errors (NotFound, MultipleResults) and refusals
of the wrong request kind; NULL in a non-optional column (DecodeError, also
through ``all``); numbered placeholders repeated and out of order (``$2 ...
$1 ... $2``) and markers inside string literals left alone; dataclass,
``kw_only`` dataclass and NamedTuple rows, dataclass parameters (including a
``list[str]`` array field); ``RETURNING``; ``exec`` row counts; parameter
count errors; running other requests while a stream is open. On PostgreSQL:
streams are server-side cursors (visible in ``pg_cursors`` while open, gone
after the ``with`` block) that stop early without reading the whole result,
inside and outside a transaction; a request is prepared once per connection
and reused (``pg_prepared_statements``), a ``oneshot`` request never. On
SQLite under Python 3.12.1 with warnings as errors: requests with repeated and
reordered markers, and migrations, send no ``?NNN`` that sqlite3 warns about.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any, NamedTuple, cast

import pytest

import repodb
from repodb import Request
from repodb.types import optional, tup
from tests.conftest import open_conn, require

pytestmark = pytest.mark.mariadb


@dataclasses.dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str | None
    score: int
    tags: list[str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PersonKw:
    id: int
    name: str


class PersonRow(NamedTuple):
    id: int
    name: str
    email: str | None


PEOPLE = [
    Person(1, "Ada", "ada@example.com", 36, ["math", "engines"]),
    Person(2, "Grace", None, 85, []),
    Person(3, "Edsger", "ewd@example.com", 72, ["go to", "{quoted}", 'a"b']),
]

insert_person = Request.exec(
    "INSERT INTO people (id, name, email, score, tags) VALUES (?, ?, ?, ?, ?)", params=Person
)
name_by_id = Request.one("SELECT name FROM people WHERE id = ?", params=int, row=str)
maybe_name = Request.one_or_none("SELECT name FROM people WHERE id = ?", params=int, row=str)
names_from = Request.many("SELECT name FROM people WHERE id >= ? ORDER BY id", params=int, row=str)
# Declared ->! but returns every row: MultipleResults at run time.
names_as_one = Request.one("SELECT name FROM people ORDER BY id", row=str)
all_people = Request.many("SELECT id, name, email, score, tags FROM people ORDER BY id", row=Person)


@pytest.fixture
def db(conn: repodb.Connection) -> repodb.Connection:
    """A connection with three people, inserted through dataclass parameters."""
    tags = "text[]" if conn.dialect.name == "postgresql" else "TEXT"
    conn.exec(
        Request.exec(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT,"
            f" score INTEGER NOT NULL, tags {tags} NOT NULL)"
        )
    )
    for person in PEOPLE:
        assert conn.exec(insert_person, person) == 1
    return conn


def test_one(db: repodb.Connection) -> None:
    assert db.one(name_by_id, 2) == "Grace"
    with pytest.raises(repodb.NotFound) as info:
        db.one(name_by_id, 99)
    assert info.value.sql is not None
    assert info.value.sql.startswith("SELECT name FROM people WHERE id = ")
    with pytest.raises(repodb.MultipleResults) as many:
        db.one(names_as_one)
    assert "3" in str(many.value)


def test_one_or_none(db: repodb.Connection) -> None:
    assert db.one_or_none(maybe_name, 1) == "Ada"
    assert db.one_or_none(maybe_name, 99) is None
    with pytest.raises(repodb.MultipleResults):
        db.one_or_none(Request.one_or_none("SELECT name FROM people", row=str))


def test_all_stream_and_fold(db: repodb.Connection) -> None:
    assert db.all(names_from, 2) == ["Grace", "Edsger"]
    assert db.all(names_from, 99) == []
    assert db.all(names_as_one) == ["Ada", "Grace", "Edsger"]  # a ->! request also runs with all
    with db.stream(names_from, 1, batch_size=2) as rows:
        assert list(rows) == ["Ada", "Grace", "Edsger"]
    total_score = Request.many("SELECT score FROM people", row=int)
    assert db.fold(total_score, lambda acc, score: acc + score, 0) == 36 + 85 + 72
    start: list[str] = []
    assert db.fold(names_from, lambda acc, name: [*acc, name], start, 3) == ["Edsger"]


def test_wrong_request_kind_is_refused(db: repodb.Connection) -> None:
    with pytest.raises(TypeError):
        db.one(names_from, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        db.one_or_none(names_from, 1)  # type: ignore[arg-type]


def test_null_in_non_optional_column_is_decode_error(db: repodb.Connection) -> None:
    emails = Request.many("SELECT email FROM people ORDER BY id", row=str)
    with pytest.raises(repodb.DecodeError):
        db.all(emails)
    with pytest.raises(repodb.DecodeError), db.stream(emails) as rows:
        list(rows)
    optional_emails = Request.many("SELECT email FROM people ORDER BY id", row=optional(str))
    assert db.all(optional_emails) == ["ada@example.com", None, "ewd@example.com"]
    pairs = Request.many("SELECT id, email FROM people ORDER BY id", row=tup(int, str))
    with pytest.raises(repodb.DecodeError):
        db.all(pairs)


def test_numbered_placeholders_reordered_and_repeated(db: repodb.Connection) -> None:
    insert = Request.exec(
        "INSERT INTO people (id, name, email, score, tags) VALUES ($2, $1, $1, $2, $3)",
        params=tup(str, int, list[str]),
    )
    db.exec(insert, ("Barbara", 10, ["x"]))
    find = Request.one(
        "SELECT name, email, score FROM people WHERE score = $2 AND name = $1 AND id = $2",
        params=tup(str, int),
        row=tup(str, str, int),
    )
    assert db.one(find, ("Barbara", 10)) == ("Barbara", "Barbara", 10)
    assert db.one_or_none(find, ("Barbara", 11)) is None


def test_markers_inside_literals_are_not_parameters(db: repodb.Connection) -> None:
    request = Request.one(
        "SELECT '?' || name || '$1' || \"name\" FROM people /* ? */ WHERE id = ? -- ?",
        params=int,
        row=str,
    )
    assert db.one(request, 1) == "?Ada$1Ada"


def test_record_rows_and_params(db: repodb.Connection) -> None:
    assert db.all(all_people) == PEOPLE
    rows = Request.many("SELECT id, name, email FROM people ORDER BY id", row=PersonRow)
    got = db.all(rows)
    assert got == [PersonRow(p.id, p.name, p.email) for p in PEOPLE]
    assert all(type(r) is PersonRow for r in got)
    keyword_only = Request.one("SELECT id, name FROM people WHERE id = ?", params=int, row=PersonKw)
    assert db.one(keyword_only, 3) == PersonKw(id=3, name="Edsger")
    with db.stream(Request.many("SELECT id, name FROM people ORDER BY id", row=PersonKw)) as s:
        assert [p.name for p in s] == ["Ada", "Grace", "Edsger"]


def test_returning(db: repodb.Connection) -> None:
    insert = Request.one(
        "INSERT INTO people (id, name, score, tags) VALUES (?, ?, ?, ?) RETURNING id, name",
        params=tup(int, str, int, list[str]),
        row=PersonKw,
    )
    assert db.one(insert, (4, "Alan", 1, [])) == PersonKw(id=4, name="Alan")
    assert db.one(name_by_id, 4) == "Alan"


def test_exec_returns_row_count(db: repodb.Connection) -> None:
    bump = Request.exec("UPDATE people SET score = score + 1 WHERE score > ?", params=int)
    assert db.exec(bump, 50) == 2
    assert db.exec(bump, 1000) == 0
    assert db.exec(Request.exec("DELETE FROM people WHERE email IS NULL")) == 1
    assert db.all(Request.many("SELECT score FROM people ORDER BY id", row=int)) == [36, 73]


def test_parameter_count_errors(db: repodb.Connection) -> None:
    two = Request.one(
        "SELECT name FROM people WHERE id = ? AND score = ?", params=tup(int, int), row=str
    )
    with pytest.raises(repodb.EncodeError):
        db.one(two, cast(Any, (1,)))
    with pytest.raises(repodb.EncodeError):
        db.one(two, cast(Any, 1))
    with pytest.raises(repodb.EncodeError):
        db.all(cast(Any, all_people), 1)
    with pytest.raises(ValueError, match="parameter"):
        Request.one("SELECT name FROM people WHERE id = ?", row=str)


def test_other_requests_run_while_a_stream_is_open(db: repodb.Connection) -> None:
    seen = []
    with db.stream(names_from, 1, batch_size=1) as rows:
        for name in rows:
            seen.append((name, db.one(Request.one("SELECT count(*) FROM people", row=int))))
    assert seen == [("Ada", 3), ("Grace", 3), ("Edsger", 3)]
    db.ping()


def test_stream_of_a_bad_statement_raises_on_iteration(db: repodb.Connection) -> None:
    bad = Request.many("SELECT nope FROM people", row=int)
    with pytest.raises(repodb.ProgrammingError), db.stream(bad) as rows:
        next(rows)
    assert not db.in_transaction
    assert db.one(name_by_id, 1) == "Ada"


# PostgreSQL: server-side cursors and prepared statements ----------------------


series = Request.many("SELECT generate_series(1, ?)", params=int, row=int)
# The unnamed portal is the pg_cursors query itself.
open_cursors = Request.many(
    "SELECT name, is_holdable FROM pg_cursors WHERE name <> ''", row=tup(str, bool)
)


def test_stream_outside_transaction_uses_a_held_server_cursor(pg_schema_url: str) -> None:
    with open_conn(pg_schema_url) as conn:
        with conn.stream(series, 200_000, batch_size=100) as rows:
            first = [next(rows) for _ in range(10)]
            cursors = conn.all(open_cursors)
            assert len(cursors) == 1
            assert cursors[0][1] is True  # WITH HOLD: outlives the DECLARE's transaction
        assert first == list(range(1, 11))
        assert conn.all(open_cursors) == []
        assert not conn.in_transaction
        assert conn.one(Request.one("SELECT 41 + 1", row=int)) == 42


def test_stream_inside_transaction_reads_only_what_is_asked(pg_schema_url: str) -> None:
    with open_conn(pg_schema_url) as conn:
        conn.exec(Request.exec("CREATE TABLE seen (n INTEGER)"))
        with conn.transaction():
            # A billion rows: reading them all would run into the statement timeout.
            with conn.stream(series, 10**9, batch_size=50) as rows:
                first = [next(rows) for _ in range(5)]
                cursors = conn.all(open_cursors)
                assert len(cursors) == 1
                assert cursors[0][1] is False
            assert conn.all(open_cursors) == []
            conn.exec(Request.exec("INSERT INTO seen VALUES (?)", params=int), sum(first))
            assert conn.in_transaction
        assert first == [1, 2, 3, 4, 5]
        assert conn.one(Request.one("SELECT n FROM seen", row=int)) == 15


def test_fold_and_exhausted_stream_close_their_cursor(pg_schema_url: str) -> None:
    with open_conn(pg_schema_url) as conn:
        assert conn.fold(series, lambda acc, n: acc + n, 0, 1000) == 500_500
        assert conn.all(open_cursors) == []
        rows = conn.stream(series, 3, batch_size=2)
        assert list(rows) == [1, 2, 3]
        assert conn.all(open_cursors) == []


prepared = Request.many(
    "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements"
    " WHERE statement = ?",
    params=str,
    row=tup(str, int),
)


def test_request_is_prepared_once_and_reused(pg_schema_url: str) -> None:
    request = Request.one("SELECT ? * 2", params=int, row=int)
    with open_conn(pg_schema_url) as conn:
        assert [conn.one(request, n) for n in (1, 2, 3, 4, 5)] == [2, 4, 6, 8, 10]
        assert conn.all(prepared, "SELECT $1 * 2") == [("SELECT $1 * 2", 5)]
        # Prepared statements belong to one connection.
        with open_conn(pg_schema_url) as other:
            assert other.all(prepared, "SELECT $1 * 2") == []


def test_oneshot_request_is_not_prepared(pg_schema_url: str) -> None:
    request = Request.one("SELECT ? * 3", params=int, row=int, oneshot=True)
    with open_conn(pg_schema_url) as conn:
        assert [conn.one(request, n) for n in (1, 2, 3)] == [3, 6, 9]
        assert conn.all(prepared, "SELECT $1 * 3") == []


def test_a_column_of_another_class_is_a_decode_error(conn: repodb.Connection) -> None:
    text_as_int = Request.one("SELECT 'x'", row=int)
    with pytest.raises(repodb.DecodeError, match="column 0 is declared int"):
        conn.one(text_as_int)
    with pytest.raises(repodb.DecodeError, match="returned str"):
        conn.all(Request.many("SELECT 'x' UNION ALL SELECT 'y'", row=int))
    # A boolean is not an int, even though Python's bool subclasses int.
    if conn.dialect.name == "postgresql":
        with pytest.raises(repodb.DecodeError, match="returned bool"):
            conn.one(Request.one("SELECT true", row=int))


def test_postgresql_sum_of_bigint_needs_a_cast(pg_schema_url: str) -> None:
    # sum(bigint) is numeric on PostgreSQL: psycopg gives a Decimal, which
    # must not pass for the declared int.
    with open_conn(pg_schema_url) as pg:
        pg.exec(Request.exec("CREATE TABLE n (x bigint NOT NULL)"))
        pg.exec(Request.exec("INSERT INTO n VALUES (1), (2)"))
        with pytest.raises(repodb.DecodeError, match="Decimal"):
            pg.one(Request.one("SELECT sum(x) FROM n", row=int))
        assert pg.one(Request.one("SELECT sum(x)::bigint FROM n", row=int)) == 3


def test_sqlite_checks_every_row_of_a_mixed_column(tmp_path: Path) -> None:
    # Without STRICT a SQLite column stores a type per value: all() must not
    # trust the first row for the rest.
    with open_conn(f"sqlite:///{tmp_path / 'mixed.db'}") as lite:
        lite.exec(Request.exec("CREATE TABLE m (id INTEGER PRIMARY KEY, v)"))
        lite.exec(Request.exec("INSERT INTO m (v) VALUES (5), ('five'), (x'00')"))
        with pytest.raises(repodb.DecodeError, match="column 0 is declared int"):
            lite.all(Request.many("SELECT v FROM m ORDER BY id", row=int))
        with pytest.raises(repodb.DecodeError, match="declared bytes"):
            lite.all(Request.many("SELECT v FROM m WHERE id = 1", row=bytes))
        assert lite.all(Request.many("SELECT v FROM m WHERE id = 3", row=bytes)) == [b"\x00"]


def test_optional_columns_are_checked_by_class_too(conn: repodb.Connection) -> None:
    wrong = Request.many("SELECT 'x' UNION ALL SELECT NULL", row=optional(int))
    with pytest.raises(repodb.DecodeError, match="column 0 is declared optional\\(int\\)"):
        conn.all(wrong)
    right = Request.many("SELECT 1 UNION ALL SELECT NULL", row=optional(int))
    assert sorted(conn.all(right), key=lambda v: v is None) == [1, None]


# Python 3.12.0-3.12.3's sqlite3 warns (DeprecationWarning) on every ?NNN marker bound by
# position; the pyenv interpreter of the test machines is one of those.
PYTHON_3_12_1 = Path("/root/.pyenv/versions/3.12.1/bin/python")
WARNING_FREE_SCRIPT = """
import sys
from pathlib import Path

import repodb
from repodb import Request
from repodb.migration import Migrator
from repodb.types import tup

folder = Path(sys.argv[1])
(folder / "migrations").mkdir()
(folder / "migrations" / "20260101000000_create_t.py").write_text(
    "from repodb.migration import Ops, column\\n"
    "def change(ops: Ops) -> None:\\n"
    "    ops.create_table('t', [column('id', int, primary_key=True), column('name', str)])\\n"
    "    ops.add_column('t', column('note', str, default=''))\\n"
)
url = f"sqlite:///{folder / 'app.db'}"
with Migrator(url, folder / "migrations") as migrator:
    assert [ran.version for ran in migrator.migrate()] == [20260101000000]
    assert [ran.version for ran in migrator.rollback()] == [20260101000000]
    assert [ran.version for ran in migrator.migrate()] == [20260101000000]
with repodb.connect(url) as conn:
    conn.exec(
        Request.exec("INSERT INTO t (id, name, note) VALUES ($2, $1, $1)", params=tup(str, int)),
        ("ada", 7),
    )
    insert = Request.exec("INSERT INTO t (id, name) VALUES (?, ?)", params=tup(int, str))
    conn.exec(insert, (8, "bo"))
    find = Request.one(
        "SELECT name || note FROM t WHERE id = $2 AND name = $1 AND $2 > 0",
        params=tup(str, int),
        row=str,
    )
    assert conn.one(find, ("ada", 7)) == "adaada"
    assert conn.one_or_none(find, ("ada", 8)) is None
print("ok")
"""


def test_sqlite_requests_and_migrations_warn_nothing_on_python_3_12_1(tmp_path: Path) -> None:
    require(PYTHON_3_12_1.exists(), str(PYTHON_3_12_1), "is missing")
    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run(
        [str(PYTHON_3_12_1), "-W", "error", "-c", WARNING_FREE_SCRIPT, str(tmp_path)],
        env={"PYTHONPATH": str(src), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "ok\n")
