"""The ``repodb`` command line, on SQLite files and the real PostgreSQL.

Covered, end to end through the installed ``repodb`` script (a subprocess)
on SQLite, and the same through ``main([...])`` on PostgreSQL and MariaDB
(the script's path is the same whatever the database): new -> edit ->
migrate -> status -> rollback -> status; a failing migration prints one line
naming it and exits 1, with a traceback only under ``--verbose``; ``diff``
writes a migration that, once migrated, makes the next ``diff`` print ``no
difference``; ``python -m repodb``.

In-process through ``main([...])``: migrate ``--to``, rollback ``--step`` and
``--to``; status of applied, pending and missing files; ``create``/``drop`` of
SQLite files (with their WAL files) and of PostgreSQL databases (a fresh
database whose name needs quoting, created and dropped by the commands
themselves), with ``--if-not-exists``/``--if-exists``; the URL from ``--url``,
``REPODB_URL`` or the default file; passwords never printed, not even in a
``--verbose`` traceback; ``diff`` refusing to run with pending migrations,
leaving undeclared tables alone unless ``--drop-extra``, and failing clearly on
a missing module. Timings are checked for their format only.

As a user at a shell: Ctrl-C during a slow migration (rolled back, not
recorded, exit 130, one line); two deploys migrating at once through the real
script (each migration once; an impatient third fails naming
``--lock-timeout``); ``--to`` a version nobody knows is refused; ``status``
creates no database (no SQLite file, no ``schema_migrations`` table); relative
SQLite paths; ``status`` columns with long names; ``sys.exit`` in a schemas
module or a migration; every form of password (an unescaped ``/`` included)
hidden from every command's output.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import LiteralString
from urllib.parse import quote, urlsplit

import pytest

from repodb import Error, Request
from repodb.cli import main
from tests.conftest import mariadb_url, open_conn, pg_url

pytestmark = pytest.mark.mariadb

REPODB = Path(sys.executable).parent / "repodb"
TIMEOUT = 60.0
TIMING = r"\((\d+\.\d ms|\d+\.\d\d s)\)"
VERSION = r"\d{14}"

CREATE_USERS = '''\
"""Create users."""
from repodb.migration import Ops, column
from repodb.types import optional


def change(ops: Ops) -> None:
    ops.create_table("users", [
        column("id", int, primary_key=True, autogenerate=True),
        column("email", str, unique=True),
        column("karma", optional(int), default=0),
    ])
'''

ADD_POSTS = '''\
"""Add posts."""
from repodb.migration import Ops, column


def change(ops: Ops) -> None:
    ops.create_table("posts", [
        column("id", int, primary_key=True, autogenerate=True),
        column("user_id", int, references="users"),
        column("title", str),
    ])
'''

ADD_TAGS = '''\
"""Add tags."""
from repodb.migration import Ops, column


def change(ops: Ops) -> None:
    ops.create_table("tags", [column("name", str, primary_key=True)])
'''

BROKEN = '''\
"""A migration whose SQL the database rejects."""
from repodb.migration import Ops


def up(ops: Ops) -> None:
    ops.execute("CREATE TABLE half (id INTEGER)")
    ops.execute("CREATE TABLE broken (")


def down(ops: Ops) -> None:
    pass
'''

MODELS = """\
from repodb.schema import Col, Schema, field


class {name}(Schema, table="{table}"):
    id: Col[int] = field(primary_key=True, default=None)
    email: Col[str]
    karma: Col[int | None] = field(default=None)
"""


def run(
    *args: str,
    cwd: Path,
    url: str | None = None,
    here: pytest.CaptureFixture[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The installed ``repodb`` script, with REPODB_URL set to ``url`` (or unset).

    With ``here`` (capsys), ``main(args)`` in this process instead, ``cwd``
    being the current directory: where the script has been run end to end
    already (on SQLite), a process per command proves nothing more on a
    server, and costs a second or more each on a loaded machine.
    """
    if here is not None:
        assert cwd.resolve() == Path.cwd().resolve()
        with pytest.MonkeyPatch.context() as patch:
            if url is None:
                patch.delenv("REPODB_URL", raising=False)
            else:
                patch.setenv("REPODB_URL", url)
            code, out, err = cli(here, *args)
        return subprocess.CompletedProcess(["repodb", *args], code, out, err)
    env = {k: v for k, v in os.environ.items() if k != "REPODB_URL"}
    if url is not None:
        env["REPODB_URL"] = url
    return subprocess.run(
        [str(REPODB), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def ok(
    *args: str,
    cwd: Path,
    url: str | None = None,
    here: pytest.CaptureFixture[str] | None = None,
) -> str:
    done = run(*args, cwd=cwd, url=url, here=here)
    assert done.returncode == 0, f"repodb {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    # MariaDB's runs of migrations (only) start with the note on transactional DDL.
    mariadb = url is not None and url.startswith("mariadb")
    assert (done.stderr.removeprefix(NOTE) if mariadb else done.stderr) == ""
    return done.stdout


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``main(args)`` in this process: the exit code, stdout and stderr."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_migration(directory: Path, version: int, name: str, source: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / f"{version}_{name}.py"
    path.write_text(source)
    return path


# What migrate says on stderr first where DDL is not transactional (MariaDB).
NOTE = (
    "repodb: note: mariadb has no transactional DDL: a migration that fails midway keeps what"
    " it ran; `repodb status` shows how far it got, and running again resumes it\n"
)


def without_note(err: str, url: str) -> str:
    """``err`` without the note on transactional DDL, which MariaDB's runs (only) start with."""
    if url.startswith("mariadb"):
        assert err.startswith(NOTE), err
        return err.removeprefix(NOTE)
    assert NOTE not in err
    return err


def status_rows(out: str) -> dict[str, list[str]]:
    """The ``status`` table as {version: [name, state, applied at]}."""
    rows = {}
    for line in out.splitlines():
        if re.match(VERSION, line):
            version, name, rest = re.split(r"\s{2,}", line, maxsplit=2)
            rows[version] = [name, *re.split(r"\s{2,}", rest)]
    return rows


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, without REPODB_URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REPODB_URL", raising=False)
    return tmp_path


@pytest.fixture
def module_name() -> Iterator[str]:
    """A module name no other test imports; forgotten afterwards."""
    name = f"cli_models_{uuid.uuid4().hex[:8]}"
    yield name
    sys.modules.pop(name, None)


# End to end, through the installed script ------------------------------------------


def end_to_end_or_here(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> pytest.CaptureFixture[str] | None:
    """None (the installed script, a process per command) on SQLite; else ``capsys`` (``main``).

    The script's own path (entry point, exit codes, stdout and stderr as a
    shell sees them) is the same whatever the database; what differs by
    database is inside ``main``.
    """
    return None if db_url.startswith("sqlite") else capsys


def test_new_migrate_status_rollback(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    here = end_to_end_or_here(db_url, capsys)
    path = Path(ok("new", "create_users", cwd=workdir, url=db_url, here=here).strip())
    assert re.fullmatch(rf"migrations/{VERSION}_create_users\.py", path.as_posix())
    version = path.name[:14]
    assert "def change(ops" in (workdir / path).read_text()
    (workdir / path).write_text(CREATE_USERS)

    status = status_rows(ok("status", cwd=workdir, url=db_url, here=here))
    assert status == {version: ["create_users", "pending"]}

    out = ok("migrate", cwd=workdir, url=db_url, here=here)
    assert re.fullmatch(
        rf"== {version} create_users \.\.\. up {TIMING}\n1 migration applied\n", out
    ), out
    assert ok("migrate", cwd=workdir, url=db_url, here=here) == "already up to date\n"

    out = ok("status", cwd=workdir, url=db_url, here=here)
    [(name, state, applied_at)] = status_rows(out).values()
    assert (name, state) == ("create_users", "applied")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", applied_at)
    assert out.splitlines()[0].split() == ["version", "name", "state", "applied", "at"]
    assert out.splitlines()[-1] == "1 applied, 0 pending"
    with open_conn(db_url) as conn:
        conn.exec(Request.exec("INSERT INTO users (email) VALUES ('ada@example.com')"))

    out = ok("rollback", cwd=workdir, url=db_url, here=here)
    assert re.fullmatch(
        rf"== {version} create_users \.\.\. down {TIMING}\n1 migration rolled back\n", out
    ), out
    assert status_rows(ok("status", cwd=workdir, url=db_url, here=here)) == {
        version: ["create_users", "pending"]
    }
    assert ok("rollback", cwd=workdir, url=db_url, here=here) == "nothing to roll back\n"


def test_a_failing_migration_prints_one_line_and_exits_1(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    here = end_to_end_or_here(db_url, capsys)
    write_migration(workdir / "migrations", 20261126141500, "create_users", CREATE_USERS)
    write_migration(workdir / "migrations", 20261126141600, "broken", BROKEN)

    done = run("migrate", cwd=workdir, url=db_url, here=here)
    assert done.returncode == 1
    applied, failed = done.stdout.splitlines()
    assert re.fullmatch(rf"== 20261126141500 create_users \.\.\. up {TIMING}", applied)
    assert failed == "== 20261126141600 broken ... failed"
    [line] = without_note(done.stderr, db_url).splitlines()
    assert re.match(r"repodb: error: migration 20261126141600[ _]broken failed", line)
    assert "CREATE TABLE broken (" in line
    assert "Traceback" not in done.stderr

    # The failed migration left nothing behind (on MariaDB, without transactional
    # DDL, its first statement stays, and status says so); the one before it
    # stays applied.
    status = status_rows(ok("status", cwd=workdir, url=db_url, here=here))
    stopped = db_url.startswith("mariadb")
    assert [row[:2] for row in status.values()] == [
        ["create_users", "applied"],
        [
            "broken",
            "pending, failed after 1 operation (migrate resumes it)" if stopped else "pending",
        ],
    ]
    if not stopped:
        with open_conn(db_url) as conn:
            conn.exec(Request.exec("CREATE TABLE half (id INTEGER)"))

    verbose = run("--verbose", "migrate", cwd=workdir, url=db_url, here=here)
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert re.match(
        r"repodb: error: migration 20261126141600[ _]broken failed", verbose.stderr.splitlines()[-1]
    )


def test_diff_writes_a_migration_that_makes_the_next_diff_empty(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str], module_name: str
) -> None:
    here = end_to_end_or_here(db_url, capsys)
    name = f"CliUser{uuid.uuid4().hex[:6]}"
    (workdir / f"{module_name}.py").write_text(MODELS.format(name=name, table="members"))

    out = ok(
        "diff",
        "--schemas",
        module_name,
        "--name",
        "create_members",
        cwd=workdir,
        url=db_url,
        here=here,
    )
    first, *summary = out.splitlines()
    assert re.fullmatch(rf"migrations/{VERSION}_create_members\.py", first)
    assert summary == ["  create table members (id, email, karma)"]
    assert "members" in (workdir / first).read_text()

    assert "1 migration applied" in ok("migrate", cwd=workdir, url=db_url, here=here)
    assert (
        ok("diff", "--schemas", module_name, cwd=workdir, url=db_url, here=here)
        == "no difference\n"
    )
    assert [p.name for p in (workdir / "migrations").iterdir() if p.suffix == ".py"] == [
        Path(first).name
    ]


def test_python_dash_m_runs_the_same_command_line(workdir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "repodb", "--help"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: repodb ")
    assert "repodb.sqlite3" in done.stdout

    # Nothing asked: the help, with the commands, and a usage error's exit code.
    bare = run(cwd=workdir)
    assert (bare.returncode, bare.stdout) == (2, "")
    assert bare.stderr.startswith("usage: repodb ")
    assert "rollback        undo applied migrations" in bare.stderr


# Migrations, in process ----------------------------------------------------------------


@pytest.fixture
def three(workdir: Path) -> Path:
    """A migrations folder of users, posts and tags."""
    migrations = workdir / "migrations"
    write_migration(migrations, 20261126141500, "create_users", CREATE_USERS)
    write_migration(migrations, 20261126141600, "add_posts", ADD_POSTS)
    write_migration(migrations, 20261126141700, "add_tags", ADD_TAGS)
    return migrations


def test_migrate_to_and_rollback_step_and_to(
    db_url: str, three: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "--url", db_url, "migrate", "--to", "20261126141600")
    assert code == 0
    assert re.findall(r"== (\d+) (\w+) \.\.\. (up|down)", out) == [
        ("20261126141500", "create_users", "up"),
        ("20261126141600", "add_posts", "up"),
    ]
    assert out.endswith("\n2 migrations applied\n")

    # The options are accepted after the command too.
    code, out, _ = cli(capsys, "migrate", "--url", db_url)
    assert (code, re.findall(r"== (\d+)", out)) == (0, ["20261126141700"])

    code, out, _ = cli(capsys, "--url", db_url, "rollback", "--step", "2")
    assert code == 0
    assert re.findall(r"== (\d+) \w+ \.\.\. (down)", out) == [
        ("20261126141700", "down"),
        ("20261126141600", "down"),
    ]
    assert out.endswith("\n2 migrations rolled back\n")

    cli(capsys, "--url", db_url, "migrate")
    code, out, _ = cli(capsys, "--url", db_url, "rollback", "--to", "20261126141500")
    assert (code, re.findall(r"== (\d+)", out)) == (0, ["20261126141700", "20261126141600"])
    code, out, _ = cli(capsys, "--url", db_url, "status")
    assert [row[1] for row in status_rows(out).values()] == ["applied", "pending", "pending"]
    assert out.endswith("\n1 applied, 2 pending\n")

    code, out, _ = cli(capsys, "--url", db_url, "rollback", "--to", "0")
    assert (code, re.findall(r"== (\d+)", out)) == (0, ["20261126141500"])
    assert cli(capsys, "--url", db_url, "rollback", "--to", "0")[1] == "nothing to roll back\n"


def test_a_migrator_holding_the_lock_makes_migrate_fail_after_lock_timeout(
    tmp_path: Path, three: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with open_conn(url) as other:
        # What another migrator's transaction holds: SQLite's write lock.
        other.exec(Request.exec("CREATE TABLE other_work (id INTEGER)"))
        with other.transaction():
            other.exec(Request.exec("INSERT INTO other_work (id) VALUES (1)"))
            code, out, err = cli(capsys, "--url", url, "migrate", "--lock-timeout", "0.2")
    assert (code, out) == (1, "")
    [line] = err.splitlines()
    assert line.startswith("repodb: error: another migrator held")
    assert cli(capsys, "--url", url, "migrate")[1].endswith("3 migrations applied\n")


def test_status_shows_an_applied_migration_whose_file_is_gone(
    tmp_path: Path, three: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert cli(capsys, "--url", url, "migrate", "--to", "20261126141600")[0] == 0
    (three / "20261126141600_add_posts.py").unlink()
    code, out, _ = cli(capsys, "--url", url, "status")
    assert code == 0
    rows = status_rows(out)
    assert [row[:2] for row in rows.values()] == [
        ["create_users", "applied"],
        ["add_posts", "applied, file missing"],
        ["add_tags", "pending"],
    ]


def test_status_without_migrations(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "status")
    assert (code, out) == (1, "")
    assert err.startswith("repodb: error: migrations directory 'migrations' does not exist")
    (workdir / "migrations").mkdir()
    assert cli(capsys, "status") == (
        0,
        "SQLite database repodb.sqlite3 does not exist yet (`repodb migrate` creates it)\n"
        "no migrations in migrations\n",
        "",
    )
    assert not (workdir / "repodb.sqlite3").exists()


def test_new_writes_into_the_chosen_folder(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "--migrations", "db/migrations", "new", "add_karma")
    assert (code, err) == (0, "")
    path = Path(out.strip())
    assert path.parent == Path("db/migrations")
    assert re.fullmatch(rf"{VERSION}_add_karma\.py", path.name)
    assert path.is_file()


def test_new_rejects_a_name_that_is_not_snake_case(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "new", "CreateUsers")
    assert (code, out) == (2, "")
    assert "'CreateUsers' is not a snake_case name" in err
    assert not (workdir / "migrations").exists()


# Where the URL comes from, and passwords ------------------------------------------------


def test_the_url_comes_from_the_environment_else_the_default_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "create") == (0, "created SQLite database repodb.sqlite3\n", "")
    assert (workdir / "repodb.sqlite3").is_file()

    monkeypatch.setenv("REPODB_URL", "sqlite:///from_env.db")
    assert cli(capsys, "create")[0] == 0
    assert (workdir / "from_env.db").is_file()
    assert cli(capsys, "--url", "sqlite:///from_flag.db", "create")[0] == 0
    assert (workdir / "from_flag.db").is_file()


def test_help_names_the_default_database(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    assert "REPODB_URL" in out
    assert "repodb.sqlite3" in out


@pytest.mark.parametrize("verbose", [[], ["--verbose"]], ids=["quiet", "verbose"])
def test_a_password_is_never_printed(
    workdir: Path, verbose: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 on the loopback refuses at once.
    url = "postgresql://app:Pa55-w0rd-never-shown@127.0.0.1:1/app?connect_timeout=2"
    code, out, err = cli(capsys, *verbose, "--url", url, "status")
    assert code == 1
    assert "Pa55-w0rd" not in out + err
    assert "repodb: error: cannot connect to postgresql://app:***@127.0.0.1:1/app" in err
    assert ("Traceback" in err) == bool(verbose)
    if not verbose:
        assert len(err.splitlines()) == 1


def test_a_bad_url_is_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--url", "oracle://root:secret@db/app", "status")
    assert (code, out) == (1, "")
    [line] = err.splitlines()
    assert line.startswith("repodb: error: not a database URL")
    assert "secret" not in line


# create and drop ---------------------------------------------------------------------


def test_create_and_drop_a_sqlite_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "sqlite:///data/nested/app.db"
    path = workdir / "data" / "nested" / "app.db"
    assert cli(capsys, "--url", url, "create") == (
        0,
        "created SQLite database data/nested/app.db\n",
        "",
    )
    assert path.is_file()
    assert cli(capsys, "--url", url, "create") == (
        1,
        "",
        "repodb: error: SQLite database data/nested/app.db already exists\n",
    )
    assert cli(capsys, "--url", url, "create", "--if-not-exists")[0] == 0

    # What a crashed writer leaves: the write-ahead log and its index.
    Path(f"{path}-wal").write_bytes(b"")
    Path(f"{path}-shm").write_bytes(b"")
    assert cli(capsys, "--url", url, "drop") == (
        0,
        "dropped SQLite database data/nested/app.db\n",
        "",
    )
    assert list(path.parent.iterdir()) == []
    assert cli(capsys, "--url", url, "drop") == (
        1,
        "",
        "repodb: error: SQLite database data/nested/app.db does not exist\n",
    )
    assert cli(capsys, "--url", url, "drop", "--if-exists")[0] == 0


def test_create_and_drop_refuse_an_in_memory_database(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "--url", "sqlite::memory:", "create")
    assert code == 1
    assert "in-memory" in err


# Each server's catalog of databases.
_DATABASES: dict[str, LiteralString] = {
    "postgresql": "SELECT 1 FROM pg_database WHERE datname = ?",
    "mariadb": "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
}


def _database_exists(name: str, server: str = "postgresql") -> bool:
    with open_conn(pg_url() if server == "postgresql" else mariadb_url()) as conn:
        found = conn.one_or_none(Request.one_or_none(_DATABASES[server], params=str, row=int), name)
    return found is not None


@pytest.fixture(params=["postgresql", "mariadb"])
def fresh_database(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, str]]:
    """A database name that needs quoting, the URL naming it and the server's kind.

    MariaDB's URL is written ``mysql://``, the other scheme it is known by.
    The database is dropped if a test left it.
    """
    server: str = request.param
    name = f"Repodb CLI-{uuid.uuid4().hex[:8]}"
    base = pg_url() if server == "postgresql" else mariadb_url().replace("mariadb:", "mysql:", 1)
    url = urlsplit(base)._replace(path="/" + quote(name)).geturl()
    yield name, url, server
    if _database_exists(name, server):
        with open_conn(url) as conn:
            conn.exec(Request.exec(f'DROP DATABASE "{name}"'))


def test_create_migrate_and_drop_a_server_database(
    fresh_database: tuple[str, str, str],
    workdir: Path,
    three: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, url, server = fresh_database
    assert cli(capsys, "--url", url, "create") == (0, f"created database {name}\n", "")
    assert _database_exists(name, server)
    assert cli(capsys, "--url", url, "create") == (
        1,
        "",
        f"repodb: error: database {name} already exists\n",
    )
    assert cli(capsys, "--url", url, "create", "--if-not-exists") == (
        0,
        f"database {name} already exists\n",
        "",
    )

    code, out, _ = cli(capsys, "--url", url, "migrate")
    assert (code, out.splitlines()[-1]) == (0, "3 migrations applied")
    if server == "mariadb":  # the database create made is utf8mb4, compared by code point
        with open_conn(url) as conn:
            conn.exec(Request.exec("INSERT INTO tags (name) VALUES ('\U0001f600'), ('a'), ('A')"))
            assert conn.one(Request.one("SELECT count(*) FROM tags", row=int)) == 3

    assert cli(capsys, "--url", url, "drop") == (0, f"dropped database {name}\n", "")
    assert not _database_exists(name, server)
    assert cli(capsys, "--url", url, "drop") == (
        1,
        "",
        f"repodb: error: database {name} does not exist\n",
    )
    assert cli(capsys, "--url", url, "drop", "--if-exists")[0] == 0


@pytest.mark.parametrize("fresh_database", ["postgresql"], indirect=True)  # libpq's form
def test_create_and_drop_with_a_conninfo_string(
    fresh_database: tuple[str, str, str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, _, _ = fresh_database
    parts = urlsplit(pg_url())
    conninfo = (
        f"host={parts.hostname} port={parts.port} user={parts.username} "
        f"dbname='{name}' connect_timeout=5"
    )
    assert cli(capsys, "--url", conninfo, "create")[0] == 0
    assert _database_exists(name)
    assert cli(capsys, "--url", conninfo, "drop")[0] == 0
    assert not _database_exists(name)


def test_create_needs_a_database_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "--url", "postgresql://app:secret@127.0.0.1:1", "create")
    assert code == 1
    assert err == "repodb: error: postgresql://app:***@127.0.0.1:1 names no database" + (
        " (add /dbname to the URL)\n"
    )


# diff, in process ------------------------------------------------------------------------


def test_diff_refuses_to_run_with_pending_migrations(
    db_url: str, three: Path, module_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"CliUser{uuid.uuid4().hex[:6]}"
    Path(f"{module_name}.py").write_text(MODELS.format(name=name, table="users"))
    code, out, err = cli(capsys, "--url", db_url, "diff", "--schemas", module_name)
    assert (code, out) == (1, "")
    assert err == (
        "repodb: error: 3 migrations pending (20261126141500 create_users, "
        "20261126141600 add_posts, 20261126141700 add_tags); run `repodb migrate` first\n"
    )


def test_diff_leaves_undeclared_tables_alone_unless_drop_extra(
    db_url: str, three: Path, module_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "--url", db_url, "migrate")[0] == 0
    name = f"CliUser{uuid.uuid4().hex[:6]}"
    Path(f"{module_name}.py").write_text(
        MODELS.format(name=name, table="users").replace(
            "karma: Col[int | None] = field(default=None)", ""
        )
    )
    code, out, err = cli(capsys, "--url", db_url, "diff", "--schemas", module_name)
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == [
        "no difference",
        "not declared by the schemas, kept (--drop-extra drops them):",
    ]
    assert sorted(out.splitlines()[2:]) == ["  column users.karma", "  table posts", "  table tags"]
    assert not list(three.glob("*_update_schema.py"))

    code, out, _ = cli(capsys, "--url", db_url, "diff", "--schemas", module_name, "--drop-extra")
    assert code == 0
    lines = out.splitlines()
    assert re.fullmatch(rf"migrations/{VERSION}_update_schema\.py", lines[0])
    assert sorted(lines[1:]) == [
        "  drop column users.karma",
        "  drop table posts",
        "  drop table tags",
    ]


def test_diff_of_a_missing_module_is_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "diff", "--schemas", "no_such_models_module")
    assert (code, out) == (1, "")
    assert err == (
        "repodb: error: cannot import no_such_models_module: "
        "ModuleNotFoundError: No module named 'no_such_models_module'\n"
    )
    assert not (workdir / "repodb.sqlite3").exists()


def test_diff_of_a_file_path_suggests_the_module_name(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "diff", "--schemas", "myapp/schemas.py")
    assert code == 1
    assert err.startswith("repodb: error: cannot import myapp/schemas.py: ")
    assert err.endswith("(name a module, as Python imports it: myapp.schemas)\n")


def test_diff_of_a_module_without_schemas(
    workdir: Path, module_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(f"{module_name}.py").write_text("from repodb.schema import Schema\n")
    code, _, err = cli(capsys, "diff", "--schemas", module_name)
    assert code == 1
    assert err == f"repodb: error: module {module_name} declares no repodb Schema class\n"


def test_diff_needs_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "diff")
    assert code == 2
    assert "--schemas" in err


def test_diff_summarises_each_operation(
    db_url: str, workdir: Path, module_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_migration(workdir / "migrations", 20261126141500, "create_users", CREATE_USERS)
    assert cli(capsys, "--url", db_url, "migrate")[0] == 0
    name = f"CliUser{uuid.uuid4().hex[:6]}"
    Path(f"{module_name}.py").write_text(
        textwrap.dedent(
            f"""\
            from repodb.schema import Col, Schema, field, index


            class {name}(Schema, table="users", indexes=(index("karma"),)):
                id: Col[int] = field(primary_key=True, default=None)
                email: Col[str]
                karma: Col[int]
                bio: Col[str | None] = field(default=None)
            """
        )
    )
    code, out, err = cli(capsys, "--url", db_url, "diff", "--schemas", module_name)
    assert (code, err) == (0, "")
    summary = sorted(out.splitlines()[1:])
    assert any(re.fullmatch(r"  add column users\.bio \w+ NULL", line) for line in summary), out
    assert any(
        re.fullmatch(r"  alter column users\.karma .*NULL.* -> \w+ NOT NULL.*", line)
        for line in summary
    ), out
    assert "  create index users_karma_index on users (karma)" in summary


# As a user at a shell: Ctrl-C, two deploys at once, typos ------------------------------

# A migration that says when it is inside its transaction (the file ``marker``
# appears), then waits: on PostgreSQL in the server (pg_sleep), on SQLite until
# the file ``release`` appears. Both waits are bounded.
SLOW = '''\
"""A slow migration."""
import pathlib
import time

from repodb.migration import Ops

RELEASE = {release!r}


def up(ops: Ops) -> None:
    ops.execute("CREATE TABLE slow (id integer)")
    pathlib.Path({marker!r}).write_text("inside")
    if RELEASE is None:
        ops.execute("SELECT pg_sleep(60)")
        return
    deadline = time.monotonic() + 60
    while not pathlib.Path(RELEASE).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def down(ops: Ops) -> None:
    ops.execute("DROP TABLE slow")
'''
SLOW_VERSION = 20261126150000


def start(*args: str, cwd: Path, url: str) -> subprocess.Popen[str]:
    """The installed ``repodb`` script, running in the background."""
    env = {**os.environ, "REPODB_URL": url}
    return subprocess.Popen(
        [str(REPODB), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    """Give the child Ctrl-C's default action, as a command run from a terminal has.

    Why: a shell starts a background job (``scripts/test`` runs the other
    Python versions' suites with ``&``) with SIGINT ignored, the child
    inherits that, and a Python started with SIGINT ignored keeps ignoring
    it: the signal test would then wait for a migration nobody interrupts.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_file(path: Path, process: subprocess.Popen[str]) -> None:
    """Wait (bounded) until ``process`` wrote ``path``."""
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear in {TIMEOUT} s"
        time.sleep(0.02)


def applied_versions(url: str) -> list[int]:
    with open_conn(url) as conn:
        return conn.all(Request.many("SELECT version FROM schema_migrations", row=int))


def has_table(url: str, table: str) -> bool:
    with open_conn(url) as conn:
        try:
            conn.exec(Request.exec(f"SELECT 1 FROM {table}"))
        except Error:
            return False
    return True


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl_c", "sigterm"],
)
def test_a_signal_during_a_migration_rolls_it_back_and_says_so(
    db_url: str,
    workdir: Path,
    signum: signal.Signals,
    code: int,
    said: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    marker = workdir / "inside"
    # On SQLite the release never comes: only the signal ends the wait.
    release = None if db_url.startswith("postgresql") else str(workdir / "never")
    source = SLOW.format(marker=str(marker), release=release)
    write_migration(workdir / "migrations", SLOW_VERSION, "slow", source)

    process = start("migrate", cwd=workdir, url=db_url)
    try:
        wait_for_file(marker, process)
        process.send_signal(signum)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)
    assert process.returncode == code
    assert out == f"== {SLOW_VERSION} slow ... failed\n"
    assert without_note(err, db_url) == f"repodb: {said}\n"
    if db_url.startswith("mariadb"):
        # No transactional DDL: what ran stays, and the history says how far it got.
        assert has_table(db_url, "slow")
        assert status_rows(ok("status", cwd=workdir, url=db_url, here=capsys)) == {
            str(SLOW_VERSION): [
                "slow",
                "pending, migrating: under way, or interrupted, after 1 operation"
                " (migrate resumes it)",
            ]
        }
        return
    # Nothing of the migration stays, and nothing says it ran.
    assert not has_table(db_url, "slow")
    assert applied_versions(db_url) == []
    assert status_rows(ok("status", cwd=workdir, url=db_url, here=capsys)) == {
        str(SLOW_VERSION): ["slow", "pending"]
    }


def test_two_deploys_migrating_at_once_run_each_migration_once(db_url: str, workdir: Path) -> None:
    marker, release = workdir / "inside", workdir / "release"
    source = SLOW.format(marker=str(marker), release=str(release))
    write_migration(workdir / "migrations", SLOW_VERSION, "slow", source)

    first = start("migrate", cwd=workdir, url=db_url)
    try:
        wait_for_file(marker, first)
        # While the first holds the lock: one deploy gives up after its lock
        # timeout, with a message saying how to wait longer; another waits.
        impatient = run("migrate", "--lock-timeout", "0.2", cwd=workdir, url=db_url)
        second = start("migrate", cwd=workdir, url=db_url)
        release.write_text("go")
        first_out, first_err = first.communicate(timeout=TIMEOUT)
        second_out, second_err = second.communicate(timeout=TIMEOUT)
    finally:
        for process in (first, locals().get("second")):
            if isinstance(process, subprocess.Popen):
                process.kill()
                process.wait(timeout=TIMEOUT)

    assert (impatient.returncode, impatient.stdout) == (1, "")
    [line] = impatient.stderr.splitlines()
    assert line.startswith("repodb: error: another migrator ")
    assert line.endswith("(--lock-timeout SECONDS waits longer)")
    assert (first.returncode, without_note(first_err, db_url)) == (0, "")
    assert re.fullmatch(
        rf"== {SLOW_VERSION} slow \.\.\. up {TIMING}\n1 migration applied\n", first_out
    )
    assert (second.returncode, second_out, second_err) == (0, "already up to date\n", "")
    assert applied_versions(db_url) == [SLOW_VERSION]


@pytest.mark.parametrize("command", ["migrate", "rollback"])
def test_to_a_version_that_does_not_exist_is_refused(
    db_url: str, three: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "--url", db_url, "migrate", "--to", "20261126141600")[0] == 0
    # A typo for 20261126141600: rolling back "to" it would undo both.
    code, out, err = cli(capsys, "--url", db_url, command, "--to", "2026112614160")
    assert (code, out) == (1, "")
    assert err == (
        "repodb: error: no migration has version 2026112614160 (neither a file in migrations "
        "nor an applied version; see `repodb status`)\n"
    )
    assert applied_versions(db_url) == [20261126141500, 20261126141600]


def test_status_of_a_database_never_migrated_creates_nothing(
    db_url: str, three: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "--url", db_url, "status")
    assert (code, err) == (0, "")
    assert [row[1] for row in status_rows(out).values()] == ["pending"] * 3
    assert out.endswith("\n0 applied, 3 pending\n")
    assert not has_table(db_url, "schema_migrations")


def test_a_missing_sqlite_file_is_not_created_by_status_or_rollback(
    workdir: Path, three: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "sqlite:///typo.db"
    code, out, err = cli(capsys, "--url", url, "status")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        "SQLite database typo.db does not exist yet (`repodb migrate` creates it)"
    )
    assert out.endswith("\n0 applied, 3 pending\n")
    code, out, err = cli(capsys, "--url", url, "rollback")
    assert (code, out) == (1, "")
    assert err == (
        "repodb: error: SQLite database typo.db does not exist: nothing was migrated there\n"
    )
    assert not (workdir / "typo.db").exists()


def test_a_relative_sqlite_path_is_from_the_current_directory(workdir: Path, three: Path) -> None:
    (workdir / "deploy").mkdir()
    ok("--migrations", "../migrations", "migrate", cwd=workdir / "deploy", url="sqlite:///app.db")
    assert (workdir / "deploy" / "app.db").is_file()
    assert not (workdir / "app.db").exists()


def test_migrations_with_long_names_line_up_in_status(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrations = workdir / "migrations"
    write_migration(migrations, 20261126141500, "a", ADD_TAGS)
    write_migration(
        migrations, 20261126141600, "add_a_very_long_named_column_to_users", CREATE_USERS
    )
    assert cli(capsys, "migrate", "--to", "20261126141500")[0] == 0
    lines = cli(capsys, "status")[1].splitlines()
    # Each column starts where its heading does.
    starts = [lines[0].index(heading) for heading in ("name", "state", "applied at")]
    for line in lines[1:3]:
        assert [line[i - 2 : i] for i in starts[:2]] == ["  "] * 2, lines
        assert all(line[i] != " " for i in starts[:2]), lines
    applied = lines[1]
    assert applied[starts[2] - 2 : starts[2]] == "  "
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", applied[starts[2] :])


def test_code_that_calls_sys_exit_is_reported_not_obeyed(
    workdir: Path, module_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / f"{module_name}.py").write_text("import sys\n\nsys.exit(3)\n")
    code, out, err = cli(capsys, "diff", "--schemas", module_name)
    assert (code, out) == (1, "")
    assert err == f"repodb: error: cannot import {module_name}: SystemExit: 3\n"

    exits = "def up(ops):\n    import sys\n    sys.exit(4)\n\n\ndef down(ops):\n    pass\n"
    write_migration(workdir / "migrations", 20261126141500, "exits", exits)
    code, out, err = cli(capsys, "migrate")
    assert (code, out) == (1, "== 20261126141500 exits ... failed\n")
    assert err == "repodb: error: a migration called sys.exit(4)\n"
    assert [row[1] for row in status_rows(cli(capsys, "status")[1]).values()] == ["pending"]


@pytest.mark.parametrize(
    "url",
    [
        # An unescaped "/" ends a URL's authority early: no parser sees a password.
        "postgresql://app:Pa55-w0rd/never-shown@127.0.0.1:1/app",
        "postgresql://app:Pa55-w0rd%2Fnever-shown@127.0.0.1:1/app",
        "postgresql://app@127.0.0.1:1/app?password=Pa55-w0rd-never-shown",
        "host=127.0.0.1 port=1 user=app password='Pa55-w0rd never shown' dbname=app",
        "oracle://app:Pa55-w0rd-never-shown@db/app",
        # MariaDB's driver reports the host it could not reach, never the password
        # (it needs PyMySQL, which the other Python versions' runs do not install).
        pytest.param(
            "mysql://app:Pa55-w0rd-never-shown@db.invalid/app", marks=pytest.mark.mariadb_server
        ),
    ],
    ids=["slash", "escaped", "query", "conninfo", "unknown-scheme", "mysql"],
)
@pytest.mark.parametrize("command", [["status"], ["migrate"], ["create"], ["diff", "--schemas"]])
def test_no_form_of_password_is_printed_by_any_command(
    workdir: Path,
    three: Path,
    module_name: str,
    url: str,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    if command[0] == "diff":
        (workdir / f"{module_name}.py").write_text(MODELS.format(name="Member", table="members"))
        command = [*command, module_name]
    code, out, err = cli(capsys, "--verbose", *command, "--url", url)
    assert code == 1
    assert "Pa55" not in out + err
    last = err.splitlines()[-1]
    if url.startswith("oracle"):
        assert last.startswith("repodb: error: not a database URL: 'oracle://app:***@db/app'")
    elif url.startswith("mysql"):
        # (create connects to the server without naming the database.)
        assert last.startswith("repodb: error: cannot connect to mysql://app:***@db.invalid/"), last
    elif "/never" in url:
        # Where the host starts is anybody's guess: said, and nothing connects.
        assert last == (
            "repodb: error: the password in the URL contains '/', which ends the user:password "
            "part of a URL; write it as %2F"
        )
    else:
        assert last.startswith("repodb: error: cannot connect to ")
        assert "***" in last


def test_new_twice_at_once_never_overwrites(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for _ in range(3):  # within a second or two: the same version, unless taken
        code, out, _ = cli(capsys, "new", "create_users")
        assert code == 0
        paths.append(Path(out.strip()))
    assert len({p.name[:14] for p in paths}) == 3
    assert all(p.is_file() for p in paths)
    code, out, _ = cli(capsys, "status")
    assert list(status_rows(out)) == sorted(p.name[:14] for p in paths)


def test_a_reader_that_goes_away_does_not_stop_the_migrations(db_url: str, three: Path) -> None:
    # `repodb migrate | head -1`, or a log collector that died: the pipe
    # closes before the first line is written.
    process = subprocess.Popen(
        [str(REPODB), "migrate"],
        cwd=three.parent,
        env={**os.environ, "REPODB_URL": db_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()
    try:
        err = process.communicate(timeout=TIMEOUT)[1]
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)
    assert (process.returncode, without_note(err, db_url)) == (0, "")
    assert applied_versions(db_url) == [20261126141500, 20261126141600, 20261126141700]


def test_diff_against_a_sqlite_file_not_created_yet_leaves_it_uncreated(
    workdir: Path, module_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / f"{module_name}.py").write_text(MODELS.format(name="Member", table="members"))
    code, out, err = cli(capsys, "diff", "--schemas", module_name, "--name", "create_members")
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == ["  create table members (id, email, karma)"]
    assert not (workdir / "repodb.sqlite3").exists()
    # Now pending: a second diff would repeat it, and says so.
    code, out, err = cli(capsys, "diff", "--schemas", module_name)
    assert (code, out) == (1, "")
    assert "1 migration pending" in err
    assert not (workdir / "repodb.sqlite3").exists()
    assert cli(capsys, "migrate")[0] == 0
    assert cli(capsys, "diff", "--schemas", module_name)[1] == "no difference\n"


def create_t(folder: Path) -> Path:
    """``folder`` holding one migration, 20261126141500 create_t."""
    write_migration(
        folder,
        20261126141500,
        "create_t",
        "from repodb.migration import Ops, column\n\n\ndef change(ops: Ops) -> None:\n"
        '    ops.create_table("t", [column("id", int, primary_key=True)])\n',
    )
    return folder


@pytest.mark.postgresql
def test_ddl_lock_timeout_fails_a_migration_stuck_behind_a_busy_table(
    pg_schema_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = create_t(tmp_path / "migrations")
    write_migration(
        folder,
        20261126141600,
        "add_note",
        "from repodb.migration import Ops, column\nfrom repodb.types import optional\n\n\n"
        "def change(ops: Ops) -> None:\n"
        '    ops.add_column("t", column("note", optional(str)))\n',
    )
    base = ("--url", pg_schema_url, "--migrations", str(folder))
    assert cli(capsys, *base, "migrate", "--to", "20261126141500")[0] == 0
    with open_conn(pg_schema_url) as app, app.transaction():
        app.all(Request.many("SELECT id FROM t", row=int))
        code, out, err = cli(capsys, *base, "migrate", "--ddl-lock-timeout", "0.2")
    assert code == 1
    assert "20261126141600 add_note ... failed" in out
    [line] = err.splitlines()
    assert line.startswith("repodb: error: migration 20261126141600_add_note failed")
    assert "ddl_lock_timeout=0.2 s" in line
    code, out, _ = cli(capsys, *base, "migrate", "--ddl-lock-timeout", "0.2")
    assert (code, out.splitlines()[-1]) == (0, "1 migration applied")


def test_ddl_lock_timeout_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "migrate", "--ddl-lock-timeout", "0")
    assert code == 2
    assert "not a positive number of seconds: '0'" in err


def test_a_foreign_history_table_is_named_and_table_keeps_ours_apart(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = create_t(tmp_path / "migrations")
    with open_conn(db_url) as conn:
        # Another framework's history table, as Rails and Ecto lay it out.
        conn.exec(Request.exec("CREATE TABLE schema_migrations (version bigint PRIMARY KEY)"))
    base = ("--url", db_url, "--migrations", str(folder))
    code, out, err = cli(capsys, *base, "migrate")
    assert (code, out) == (1, "")
    [line] = err.splitlines()
    assert line.startswith(
        "repodb: error: the table 'schema_migrations' exists but is not a repodb migrations table"
    )
    assert "--table" in line

    code, out, _ = cli(capsys, *base, "--table", "repodb_migrations", "migrate")
    assert (code, out.splitlines()[-1]) == (0, "1 migration applied")
    code, out, _ = cli(capsys, *base, "--table", "repodb_migrations", "status")
    assert (code, out.splitlines()[-1]) == (0, "1 applied, 0 pending")
    with open_conn(db_url) as conn:
        assert conn.all(Request.many("SELECT version FROM repodb_migrations", row=int)) == [
            20261126141500
        ]
        assert conn.all(Request.many("SELECT version FROM schema_migrations", row=int)) == []
