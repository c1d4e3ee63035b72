"""The ``repodb`` command line, on SQLite files and the real PostgreSQL.

Covered, end to end through the installed ``repodb`` script (a subprocess):
new -> edit -> migrate -> status -> rollback -> status on both databases; a
failing migration prints one line naming it and exits 1, with a traceback
only under ``--verbose``; ``diff`` writes a migration that, once migrated,
makes the next ``diff`` print ``no difference``; ``python -m repodb``.

In-process through ``main([...])``: migrate ``--to``, rollback ``--step`` and
``--to``; status of applied, pending and missing files; ``create``/``drop`` of
SQLite files (with their WAL files) and of PostgreSQL databases (a fresh
database whose name needs quoting, created and dropped by the commands
themselves), with ``--if-not-exists``/``--if-exists``; the URL from ``--url``,
``REPODB_URL`` or the default file; passwords never printed, not even in a
``--verbose`` traceback; ``diff`` refusing to run with pending migrations,
leaving undeclared tables alone unless ``--drop-extra``, and failing clearly on
a missing module. Timings are checked for their format only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from repodb import Request
from repodb.cli import main
from tests.conftest import open_conn, pg_url

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


def run(*args: str, cwd: Path, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``repodb`` script, with REPODB_URL set to ``url`` (or unset)."""
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


def ok(*args: str, cwd: Path, url: str | None = None) -> str:
    done = run(*args, cwd=cwd, url=url)
    assert done.returncode == 0, f"repodb {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    assert done.stderr == ""
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


def test_new_migrate_status_rollback(db_url: str, workdir: Path) -> None:
    path = Path(ok("new", "create_users", cwd=workdir, url=db_url).strip())
    assert re.fullmatch(rf"migrations/{VERSION}_create_users\.py", path.as_posix())
    version = path.name[:14]
    assert "def change(ops" in (workdir / path).read_text()
    (workdir / path).write_text(CREATE_USERS)

    status = status_rows(ok("status", cwd=workdir, url=db_url))
    assert status == {version: ["create_users", "pending"]}

    out = ok("migrate", cwd=workdir, url=db_url)
    assert re.fullmatch(
        rf"== {version} create_users \.\.\. up {TIMING}\n1 migration applied\n", out
    ), out
    assert ok("migrate", cwd=workdir, url=db_url) == "already up to date\n"

    out = ok("status", cwd=workdir, url=db_url)
    [(name, state, applied_at)] = status_rows(out).values()
    assert (name, state) == ("create_users", "applied")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", applied_at)
    assert out.splitlines()[0].split() == ["version", "name", "state", "applied", "at"]
    assert out.splitlines()[-1] == "1 applied, 0 pending"
    with open_conn(db_url) as conn:
        conn.exec(Request.exec("INSERT INTO users (email) VALUES ('ada@example.com')"))

    out = ok("rollback", cwd=workdir, url=db_url)
    assert re.fullmatch(
        rf"== {version} create_users \.\.\. down {TIMING}\n1 migration rolled back\n", out
    ), out
    assert status_rows(ok("status", cwd=workdir, url=db_url)) == {
        version: ["create_users", "pending"]
    }
    assert ok("rollback", cwd=workdir, url=db_url) == "nothing to roll back\n"


def test_a_failing_migration_prints_one_line_and_exits_1(db_url: str, workdir: Path) -> None:
    write_migration(workdir / "migrations", 20261126141500, "create_users", CREATE_USERS)
    write_migration(workdir / "migrations", 20261126141600, "broken", BROKEN)

    done = run("migrate", cwd=workdir, url=db_url)
    assert done.returncode == 1
    applied, failed = done.stdout.splitlines()
    assert re.fullmatch(rf"== 20261126141500 create_users \.\.\. up {TIMING}", applied)
    assert failed == "== 20261126141600 broken ... failed"
    [line] = done.stderr.splitlines()
    assert re.match(r"repodb: error: migration 20261126141600[ _]broken failed", line)
    assert "CREATE TABLE broken (" in line
    assert "Traceback" not in done.stderr

    # The failed migration left nothing behind; the one before it stays applied.
    status = status_rows(ok("status", cwd=workdir, url=db_url))
    assert [row[:2] for row in status.values()] == [
        ["create_users", "applied"],
        ["broken", "pending"],
    ]
    with open_conn(db_url) as conn:
        conn.exec(Request.exec("CREATE TABLE half (id INTEGER)"))

    verbose = run("--verbose", "migrate", cwd=workdir, url=db_url)
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert re.match(
        r"repodb: error: migration 20261126141600[ _]broken failed", verbose.stderr.splitlines()[-1]
    )


def test_diff_writes_a_migration_that_makes_the_next_diff_empty(
    db_url: str, workdir: Path, module_name: str
) -> None:
    name = f"CliUser{uuid.uuid4().hex[:6]}"
    (workdir / f"{module_name}.py").write_text(MODELS.format(name=name, table="members"))

    out = ok("diff", "--schemas", module_name, "--name", "create_members", cwd=workdir, url=db_url)
    first, *summary = out.splitlines()
    assert re.fullmatch(rf"migrations/{VERSION}_create_members\.py", first)
    assert summary == ["  create table members (id, email, karma)"]
    assert "members" in (workdir / first).read_text()

    assert "1 migration applied" in ok("migrate", cwd=workdir, url=db_url)
    assert ok("diff", "--schemas", module_name, cwd=workdir, url=db_url) == "no difference\n"
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
    assert cli(capsys, "status") == (0, "no migrations in migrations\n", "")


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
    code, out, err = cli(capsys, "--url", "mysql://root:secret@db/app", "status")
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


def _database_exists(name: str) -> bool:
    with open_conn(pg_url()) as conn:
        found = conn.one_or_none(
            Request.one_or_none("SELECT 1 FROM pg_database WHERE datname = ?", params=str, row=int),
            name,
        )
    return found is not None


@pytest.fixture
def fresh_database() -> Iterator[tuple[str, str]]:
    """A database name that needs quoting, and the URL naming it; dropped if a test left it."""
    name = f"Repodb CLI-{uuid.uuid4().hex[:8]}"
    url = urlsplit(pg_url())._replace(path="/" + quote(name)).geturl()
    yield name, url
    if _database_exists(name):
        with open_conn(pg_url()) as conn:
            conn.exec(Request.exec(f'DROP DATABASE "{name}"'))


def test_create_migrate_and_drop_a_postgresql_database(
    fresh_database: tuple[str, str], workdir: Path, three: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, url = fresh_database
    assert cli(capsys, "--url", url, "create") == (0, f"created database {name}\n", "")
    assert _database_exists(name)
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

    assert cli(capsys, "--url", url, "drop") == (0, f"dropped database {name}\n", "")
    assert not _database_exists(name)
    assert cli(capsys, "--url", url, "drop") == (
        1,
        "",
        f"repodb: error: database {name} does not exist\n",
    )
    assert cli(capsys, "--url", url, "drop", "--if-exists")[0] == 0


def test_create_and_drop_with_a_conninfo_string(
    fresh_database: tuple[str, str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, _ = fresh_database
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
