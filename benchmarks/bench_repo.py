"""The Repo against the raw drivers, SQLAlchemy 2 (Core and ORM) and peewee.

Why: repodb promises to stay close to the driver it wraps and ahead of the
usual Python database layers. Each scenario runs on a SQLite file, on
PostgreSQL and on MariaDB in the same process, for every contender, on the same tables and
inputs; each result is checked (rows read back, rows counted after writes).
Per operation, the median time of several rounds is reported with its ratio
to the raw driver (1.00x = no overhead). Within a round the contenders take
turns slice by slice, in an order rotated every round, so that machine noise
hits all alike; each contender warms up first.

The tables look like an application's (``repo_kit``): text, ints (one
nullable), a Decimal, a UUID, a JSON document, a bool and two aware
timestamps, on users, posts and the table the writes fill; every contender
returns objects whose fields hold those Python values (the raw drivers
build slotted objects, converting what the driver gives as text).

Scenarios: get by primary key; a 100-row list decoded into objects;
``insert_all`` of 50,000 rows; 5,000 single inserts, each its own
transaction; 200 users with their posts (preloaded with an ``IN`` query,
and the raw N+1 way for comparison).

SQLAlchemy and peewee come with the ``bench`` extra (``pip install -e
'.[bench]'``); without them their columns say "not installed".

Usage::

    python benchmarks/bench_repo.py                      # SQLite, and PostgreSQL if
                                                         # REPODB_TEST_PG_URL is set
    python benchmarks/bench_repo.py --pg-url postgresql://postgres@127.0.0.1:55432/repodb_test
    python benchmarks/bench_repo.py --quick --json out.json   # the smoke test's run
    python benchmarks/bench_repo.py --no-sqlite --pg-url "" --mariadb-url mariadb://repodb@127.0.0.1:53306/repodb_test

On PostgreSQL the tables live in a schema of their own, dropped at the end
(on MariaDB a database of their own, ``REPODB_TEST_MARIADB_URL`` by default);
the table's title gives the server's ``SELECT 1`` round trip before and
after the run, since ratios of one-round-trip operations move with it.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from repo_contenders import raw_and_repodb
from repo_kit import (
    MARIADB_DDL,
    POSTGRESQL_DDL,
    SCENARIOS,
    SQLITE_DDL,
    Contender,
    Database,
    Op,
    Sizes,
    Workload,
    mariadb_value,
    sqlite_value,
)

NAMES = ["raw", "repodb", "SQLAlchemy Core", "SQLAlchemy ORM", "peewee"]
# repodb's targets, time relative to the raw driver (issue 14, on these tables).
TARGETS: dict[tuple[str, str], float] = {
    ("get", "sqlite"): 1.3,
    ("get", "postgresql"): 1.1,
    ("list", "sqlite"): 1.3,
    ("list", "postgresql"): 1.3,
    ("insert_all", "sqlite"): 1.2,
    ("insert_all", "postgresql"): 1.2,
    ("insert", "sqlite"): 1.1,
    ("insert", "postgresql"): 1.1,
    ("preload", "sqlite"): 1.3,
    ("preload", "postgresql"): 1.3,
    # Issue 16: get by key, and insert_all against the fastest raw bulk path.
    ("get", "mariadb"): 1.2,
    ("insert_all", "mariadb"): 1.3,
}
DDL = {"sqlite": SQLITE_DDL, "postgresql": POSTGRESQL_DDL, "mariadb": MARIADB_DDL}
# What an unfinished or missing part of a contender raises when first called.
UNAVAILABLE = (NotImplementedError, ImportError, AttributeError)

# Per database: scenario -> contender -> seconds per operation, or why not measured.
Results = dict[str, dict[str, float | str]]
Factory = Callable[[Database, Workload], list[Contender]]


class Slices:
    """How the harness runs a slice of one contender's operations: here, plain calls.

    Why a class: ``bench_async_repo.py`` runs the same harness on coroutine
    operations, each slice awaited inside one event loop, and passes its own.
    """

    def run(self, op: Op, part: range) -> list[object]:
        """What each operation of ``part`` returned."""
        return [op(k) for k in part]

    def timed(self, op: Op, part: range) -> float:
        """Seconds to run the operations of ``part`` (their results are dropped)."""
        started = time.perf_counter()
        for k in part:
            op(k)
        return time.perf_counter() - started


SYNC = Slices()


class Admin:
    """The harness's own raw connection: schema, seed data, resets and row counts."""

    def __init__(self, db: Database) -> None:
        self.kind = db.kind
        self._run: Callable[[str], list[tuple[Any, ...]]]
        if db.kind == "sqlite":
            lite = sqlite3.connect(db.path, isolation_level=None)
            lite.execute("PRAGMA journal_mode = WAL")
            self._lite = lite
            self._run = lambda sql: lite.execute(sql).fetchall()
            self.close: Callable[[], None] = lite.close
        elif db.kind == "mariadb":
            import pymysql

            maria = pymysql.connect(**mariadb_options(db.url))
            cursor = maria.cursor()
            self._maria = maria

            def run_maria(sql: str) -> list[tuple[Any, ...]]:
                cursor.execute(sql)
                return list(cursor.fetchall())

            self._run = run_maria
            self.close = maria.close
            self._run("SET SESSION innodb_lock_wait_timeout = 10")
        else:
            import psycopg

            pg = psycopg.connect(db.conninfo, autocommit=True, options=db.options)
            self._pg = pg

            def run(sql: str) -> list[tuple[Any, ...]]:
                cursor = pg.execute(sql)
                return cursor.fetchall() if cursor.description else []

            self._run = run
            self.close = pg.close
            # A contender left holding a lock must fail the run, not hang it.
            self._run("SET lock_timeout = '10s'")

    def seed(self, work: Workload) -> None:
        for statement in DDL[self.kind]:
            self._run(statement)
        users, posts = work.user_rows(), work.post_rows()
        if self.kind == "mariadb":
            marks = ", ".join(["%s"] * len(users[0]))
            cursor = self._maria.cursor()
            for table, rows in (("bench_users", users), ("bench_posts", posts)):
                values = [tuple(map(mariadb_value, row)) for row in rows]
                cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
            self._run("ANALYZE TABLE bench_users, bench_posts")
            return
        if self.kind == "sqlite":
            marks = ", ".join("?" * len(users[0]))
            self._lite.execute("BEGIN")
            for table, rows in (("bench_users", users), ("bench_posts", posts)):
                stored = ([sqlite_value(v) for v in row] for row in rows)
                self._lite.executemany(f"INSERT INTO {table} VALUES ({marks})", stored)
            self._lite.execute("COMMIT")
            self._run("ANALYZE")
            return
        from psycopg.types.json import Jsonb

        cursor = self._pg.cursor()
        for table, rows in (("bench_users", users), ("bench_posts", posts)):
            with cursor.copy(f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([Jsonb(v) if isinstance(v, dict) else v for v in row])
        # Its own tables only: a bare ANALYZE visits every schema of the
        # database, and waits on (or times out behind) other sessions' locks.
        self._run("ANALYZE bench_users, bench_posts, bench_new_users")

    def reset(self) -> None:
        """Empty the table the write scenarios fill."""
        if self.kind == "sqlite":
            self._run("DELETE FROM bench_new_users")
        elif self.kind == "mariadb":
            self._run("TRUNCATE bench_new_users")
        else:
            self._run("TRUNCATE bench_new_users RESTART IDENTITY")

    def inserted(self) -> int:
        count: int = self._run("SELECT count(*) FROM bench_new_users")[0][0]
        return count


def sqlite_database(directory: str) -> Database:
    """A database file in ``directory`` (which the caller removes)."""
    path = str(Path(directory) / "bench.db")
    return Database("sqlite", f"sqlite:///{path}", path=path)


@contextmanager
def postgresql_database(url: str) -> Iterator[Database]:
    """A fresh schema on the server at ``url``, dropped afterwards."""
    import psycopg

    schema = f"bench_repo_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in url else "?"
    options = f"-c search_path={schema}"
    try:
        yield Database(
            "postgresql",
            f"{url}{separator}options={quote(options)}",
            conninfo=url,
            options=options,
        )
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def mariadb_options(url: str) -> dict[str, Any]:
    """PyMySQL's (and asyncmy's) connection options for ``url``, with repodb's session settings.

    Why repodb's: a raw user of MariaDB needs the same UTC session and
    ``sql_mode`` for the same values and SQL, and the settings are data there.
    """
    from repodb.driver import ConnectSettings
    from repodb.driver._mariadb import connect_options
    from repodb.url import parse_url

    return connect_options(parse_url(url), ConnectSettings())


@contextmanager
def mariadb_database(url: str) -> Iterator[Database]:
    """A fresh database on the MariaDB server at ``url``, dropped afterwards."""
    import pymysql

    name = f"bench_repo_{uuid.uuid4().hex[:10]}"
    with pymysql.connect(**mariadb_options(url)) as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    own = url.rsplit("/", 1)[0] + "/" + name
    try:
        yield Database("mariadb", own, conninfo=own)
    finally:
        with pymysql.connect(**mariadb_options(url)) as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name}")


def contender_factories() -> tuple[list[Factory], dict[str, str]]:
    """What can run here, and why the rest cannot (a library not installed)."""
    factories: list[Factory] = [raw_and_repodb]
    missing: dict[str, str] = {}
    try:
        import repo_sqlalchemy

        factories.append(repo_sqlalchemy.contenders)
    except ImportError as e:
        missing["SQLAlchemy Core"] = missing["SQLAlchemy ORM"] = f"not installed ({e.name})"
    try:
        import repo_peewee

        factories.append(repo_peewee.contenders)
    except ImportError as e:
        missing["peewee"] = f"not installed ({e.name})"
    return factories, missing


def check(scenario: str, result: Any, k: int, work: Workload) -> None:
    """Raise when an operation's result is not what the scenario asked for."""
    sizes = work.sizes
    got: list[object]
    want: list[object]
    if scenario == "get":
        got = [_ident(result)]
        want = [work.ids[k]]
    elif scenario == "list":
        got = [len(result), _ident(result[0])]
        want = [100, work.starts[k] + 1]
    elif scenario in ("preload", "preload_n1"):
        pairs = [_split(item) for item in result]
        got = [len(pairs), _ident(pairs[0][0])]
        want = [sizes.preload_users, work.starts[k] + 1]
        for user, posts in pairs:
            got.append(sorted(_user_id(p) for p in posts))
            want.append([_ident(user)] * sizes.posts_per_user)
    else:
        return
    if got != want:
        raise RuntimeError(f"{scenario}: expected {want[:4]}..., got {got[:4]}...")


def _ident(row: Any) -> int:
    value: int = row.id if hasattr(row, "id") else row[0]
    return value


def _user_id(post: Any) -> int:
    value: int = post.user_id if hasattr(post, "user_id") else post[1]
    return value


def _split(item: Any) -> tuple[Any, list[Any]]:
    """A preloaded user and its posts: ``(user, posts)`` pairs or objects with ``.posts``."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], list):
        return item[0], item[1]
    return item, list(item.posts)


def expected_rows(scenario: str, ops: int, sizes: Sizes) -> int | None:
    """Rows the write scenarios leave in ``bench_new_users`` after ``ops`` operations."""
    if scenario == "insert_all":
        return sizes.insert_all * ops
    if scenario == "insert":
        return ops
    return None


def run_database(
    db: Database,
    work: Workload,
    factories: list[Factory],
    only: set[str] | None = None,
    slices: Slices = SYNC,
    scenarios: set[str] | None = None,
) -> Results:
    admin = Admin(db)
    admin.seed(work)
    # All are made (raw shares repodb's session) and closed at the end; the chosen ones run.
    made = [c for factory in factories for c in factory(db, work)]
    contenders = [c for c in made if only is None or c.name in only]
    # The workload and the libraries' own objects live all run long: left to
    # the collector, every full collection would walk them, charging whoever
    # allocates most for the harness's data.
    gc.collect()
    gc.freeze()
    try:
        return {
            key: run_scenario(key, db, work, admin, contenders, slices)
            for key in SCENARIOS
            if scenarios is None or key in scenarios
        }
    finally:
        gc.unfreeze()
        for c in made:
            c.close()
        admin.close()


def run_scenario(
    key: str,
    db: Database,
    work: Workload,
    admin: Admin,
    contenders: list[Contender],
    slices: Slices = SYNC,
) -> dict[str, float | str]:
    """Per contender, the median time per operation of ``sizes.rounds`` rounds.

    The contenders take turns slice by slice (a tenth of a round's
    operations), in an order rotated every round: the round trip of a small
    machine changes within seconds, and every contender then meets the same
    conditions. The garbage collector is emptied before each slice, and a
    slice of writes starts from an empty table whose rows are counted after.
    """
    sizes = work.sizes
    ops = sizes.ops(key, db.kind)
    outcome: dict[str, float | str] = {}
    runners: list[tuple[str, Op]] = []
    for c in contenders:
        op = c.ops().get(key)
        if op is None:
            continue
        try:
            warm(key, c.name, op, ops, work, admin, slices)
        except UNAVAILABLE as e:
            outcome[c.name] = f"not available ({type(e).__name__}: {e})"
            continue
        runners.append((c.name, op))
    times: dict[str, list[float]] = {name: [] for name, _ in runners}
    writes = expected_rows(key, 1, sizes) is not None
    for round_ in range(sizes.rounds):
        shift = round_ % max(len(runners), 1)
        order = runners[shift:] + runners[:shift]
        spent = dict.fromkeys(times, 0.0)
        for part in sizes.parts(key, db.kind):
            for name, op in order:
                if writes:
                    admin.reset()
                gc.collect()
                spent[name] += slices.timed(op, part)
                verify_rows(key, name, len(part), sizes, admin)
        for name, seconds in spent.items():
            times[name].append(seconds / ops)
    for name, _ in runners:
        outcome[name] = statistics.median(times[name])
    return outcome


def warm(
    key: str,
    name: str,
    op: Op,
    ops: int,
    work: Workload,
    admin: Admin,
    slices: Slices = SYNC,
) -> None:
    """Run ``op`` untimed (caches, prepared statements), checking what it returns."""
    admin.reset()
    count = 1 if key == "insert_all" else min(ops, 50)
    for k, result in enumerate(slices.run(op, range(count))):
        try:
            check(key, result, k, work)
        except (RuntimeError, AttributeError, IndexError, TypeError) as e:
            raise RuntimeError(f"{name}, {key}: wrong result: {e}") from e
    verify_rows(key, name, count, work.sizes, admin)


def verify_rows(key: str, name: str, ops: int, sizes: Sizes, admin: Admin) -> None:
    want = expected_rows(key, ops, sizes)
    if want is not None and admin.inserted() != want:
        raise RuntimeError(f"{name}, {key}: {admin.inserted()} rows in the table, expected {want}")


# -- reporting ------------------------------------------------------------------------


def title(key: str, sizes: Sizes) -> str:
    return SCENARIOS[key].format(
        insert_all=f"{sizes.insert_all:,}", preload_users=sizes.preload_users
    )


def duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def table(
    kind: str,
    results: Results,
    missing: dict[str, str],
    sizes: Sizes,
    names: list[str] = NAMES,
    targets: dict[tuple[str, str], float] = TARGETS,
) -> list[str]:
    """The Markdown table of one database: time per operation (ratio to the first name)."""
    head = ["scenario", *names, "repodb target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    notes: dict[str, str] = {}
    for key, outcome in results.items():
        if not outcome:
            continue  # no contender runs it (the N+1 preload is the raw sync driver's only)
        base = results["preload" if key == "preload_n1" else key].get(names[0])
        cells = [title(key, sizes)]
        for name in names:
            value = outcome.get(name, missing.get(name, ""))
            if isinstance(value, float):
                ratio = f" ({value / base:.2f}x)" if isinstance(base, float) else ""
                cells.append(duration(value) + ratio)
            elif value:
                notes.setdefault(value, f"n/a [{len(notes) + 1}]")
                cells.append(notes[value])
            else:
                cells.append("–")
        target = targets.get((key, kind))
        cells.append(f"≤ {target}x" if target else "–")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\n{mark[4:]} {why}" for why, mark in notes.items()]
    return lines


def versions(
    pg_url: str | None,
    modules: tuple[str, ...] = ("sqlalchemy", "peewee"),
    mariadb_url: str | None = None,
) -> list[str]:
    found = platform_versions(pg_url)
    if mariadb_url:
        import pymysql

        with pymysql.connect(**mariadb_options(mariadb_url)) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            server = cursor.fetchone()
        # (pymysql.__version__ is the mysqlclient version it stands in for.)
        pymysql_version = importlib.metadata.version("pymysql")
        found.append(f"PyMySQL {pymysql_version}, MariaDB {server[0] if server else '?'}")
    for module in modules:
        try:
            found.append(f"{module} {importlib.metadata.version(module)}")
        except (ImportError, importlib.metadata.PackageNotFoundError):
            found.append(f"{module} not installed")
    return found


def platform_versions(pg_url: str | None) -> list[str]:
    """Python, the machine, SQLite, and psycopg with the server when ``pg_url`` is given."""
    found = [
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    if pg_url:
        import psycopg

        with psycopg.connect(pg_url) as conn:
            server = conn.execute("SHOW server_version").fetchone()
        found.append(
            f"psycopg {psycopg.__version__} (libpq {psycopg.pq.version()}), "
            f"PostgreSQL {server[0] if server else '?'}"
        )
    return found


def round_trip(url: str, count: int = 2000) -> float:
    """The median time of a prepared ``SELECT 1`` on the server at ``url``, in seconds.

    Why: on a small machine the round trip changes over minutes (where the
    scheduler puts the server process), and ratios of one-round-trip
    operations move with it; printed with the table, it says which kind of
    run the table is. On MariaDB, PyMySQL's ``SELECT 1`` (it prepares nothing).
    """
    if url.startswith(("mariadb:", "mysql:")):
        import pymysql

        with pymysql.connect(**mariadb_options(url)) as maria, maria.cursor() as cursor:
            times = []
            for _ in range(count):
                started = time.perf_counter()
                cursor.execute("SELECT 1")
                cursor.fetchone()
                times.append(time.perf_counter() - started)
        return statistics.median(times)
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = psycopg.Cursor(conn)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            cursor.execute("SELECT 1", prepare=True)
            cursor.fetchone()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def arguments(description: str | None, names: list[str]) -> argparse.Namespace:
    """The command line shared with ``bench_async_repo.py``; ``--only`` picks among ``names``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pg-url", default=os.environ.get("REPODB_TEST_PG_URL"))
    parser.add_argument("--mariadb-url", default=os.environ.get("REPODB_TEST_MARIADB_URL"))
    parser.add_argument("--no-sqlite", action="store_true", help="the servers only")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="times the operations (0.1 on a loaded machine)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here (seconds per op)")
    parser.add_argument(
        "--only", type=lambda text: set(text.split(",")), help=f"a comma list of {names}"
    )
    parser.add_argument(
        "--scenarios",
        type=lambda text: set(text.split(",")),
        help=f"a comma list of {list(SCENARIOS)} (all by default)",
    )
    args = parser.parse_args()
    if args.only and not args.only <= set(names):
        parser.error(f"--only: unknown {sorted(args.only - set(names))}; choose among {names}")
    if args.scenarios and not args.scenarios <= SCENARIOS.keys():
        unknown = sorted(args.scenarios - SCENARIOS.keys())
        parser.error(f"--scenarios: unknown {unknown}; choose among {list(SCENARIOS)}")
    return args


def measure(
    args: argparse.Namespace,
    factories: list[Factory],
    missing: dict[str, str],
    names: list[str] = NAMES,
    targets: dict[tuple[str, str], float] = TARGETS,
    slices: Slices = SYNC,
) -> None:
    """Every scenario on each database ``args`` name: tables printed, JSON written."""
    sizes = Sizes.quick() if args.quick else Sizes(rounds=args.rounds).scaled(args.scale)
    work = Workload.draw(sizes)
    results: dict[str, Results] = {}
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            db = sqlite_database(tmp)
            results["sqlite"] = run_database(db, work, factories, args.only, slices, args.scenarios)
        lite = table("sqlite", results["sqlite"], missing, sizes, names, targets)
        print("\nSQLite (file, WAL)\n" + "\n".join(lite))
    servers = [
        ("postgresql", "PostgreSQL", args.pg_url, postgresql_database),
        ("mariadb", "MariaDB", args.mariadb_url, mariadb_database),
    ]
    for kind, label, url, database in servers:
        if not url:
            print(f"\n{label} skipped: no URL given or in the environment", file=sys.stderr)
            continue
        before = round_trip(url)
        with database(url) as db:
            results[kind] = run_database(db, work, factories, args.only, slices, args.scenarios)
        after = round_trip(url)
        lines = table(kind, results[kind], missing, sizes, names, targets)
        print(
            f"\n{label} (loopback TCP; a SELECT 1 took {duration(before)} before the run,"
            f" {duration(after)} after)\n" + "\n".join(lines)
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def main() -> None:
    args = arguments(__doc__.splitlines()[0] if __doc__ else None, NAMES)
    factories, missing = contender_factories()
    print("\n".join(versions(args.pg_url, mariadb_url=args.mariadb_url)))
    measure(args, factories, missing)


if __name__ == "__main__":
    main()
