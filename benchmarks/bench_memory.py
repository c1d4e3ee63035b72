"""Memory: records against raw slotted objects and the peers, and streams of up to 1M rows.

Why: issue 14 asks that 100,000 records weigh at most 1.15x the same rows
held as hand-written slotted objects, and that streaming a million rows keeps
memory flat. Both are measured on ``bench_repo``'s realistic users table
(text, ints one nullable, a Decimal, a UUID, a JSON document, a bool, two
aware timestamps), each case in a fresh process so that no case inherits
another's memory.

- ``records``: ``--rows`` users (default 100,000) read at once. Per
  contender: the seconds and peak RSS growth of the read, then, with
  tracemalloc on, the peak during the same read again and what stays
  allocated after it with the result kept. Contenders: the raw driver
  building slotted objects as ``bench_repo``'s raw contender does,
  ``repo.all``, SQLAlchemy Core (rows) and ORM, peewee.
- ``stream``: 10,000, 100,000 and 1,000,000 users (``--sizes``) through
  ``repo.stream`` (sync and async; on PostgreSQL a server-side cursor, for
  psycopg and asyncpg), each record dropped once counted. Flat means the
  peak does not grow with the row count: the batches come and go.

The peak RSS growth is the process's high-water mark (``VmHWM``, reset
through ``/proc/self/clear_refs`` just before) less its RSS before the read;
it includes what the drivers allocate outside Python's allocator, which
tracemalloc does not see. Each case warms up first (a read of 100 rows),
so compiled statements and caches are not counted.

Usage::

    python benchmarks/bench_memory.py records            # SQLite, and PostgreSQL if
    python benchmarks/bench_memory.py stream             # REPODB_TEST_PG_URL is set
    python benchmarks/bench_memory.py stream --sizes 1000,5000 --json out.json
    python benchmarks/bench_memory.py records --quick --json out.json   # the smoke test's run
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench_repo import platform_versions, postgresql_database, sqlite_database
from repo_contenders import BenchUser, _pg_users, _sqlite_users
from repo_kit import (
    POSTGRESQL_DDL,
    SQLITE_DDL,
    USER_COLUMNS,
    Database,
    Sizes,
    Workload,
    sqlite_value,
    user_row,
)

import repodb
from repodb import AsyncRepo, Repo
from repodb.query import query

RECORDS = ["raw", "repodb", "SQLAlchemy Core", "SQLAlchemy ORM", "peewee"]
STREAMS = ["sync", "async", "async (asyncpg)"]
MiB = 1024 * 1024
WARM = 100
SEED_BATCH = 10_000

# One measurement: what a worker process prints.
Measured = dict[str, float]


@dataclasses.dataclass(frozen=True)
class Case:
    """One measurement, run in a process of its own (passed to it as JSON)."""

    study: str  # "records" or "stream"
    who: str  # a name of RECORDS or STREAMS
    db: Database
    rows: int


# -- seeding --------------------------------------------------------------------------


def seed(db: Database, count: int) -> None:
    """``count`` users in ``bench_users``, written in batches (a million never held at once)."""
    batches = (
        [user_row(i) for i in range(start, min(start + SEED_BATCH, count + 1))]
        for start in range(1, count + 1, SEED_BATCH)
    )
    if db.kind == "sqlite":
        lite = sqlite3.connect(db.path, isolation_level=None)
        lite.execute("PRAGMA journal_mode = WAL")
        lite.execute(SQLITE_DDL[0])
        marks = ", ".join("?" * len(USER_COLUMNS.split(", ")))
        lite.execute("BEGIN")
        for batch in batches:
            stored = ([sqlite_value(v) for v in row] for row in batch)
            lite.executemany(f"INSERT INTO bench_users VALUES ({marks})", stored)
        lite.execute("COMMIT")
        lite.execute("ANALYZE")
        lite.close()
        return
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(db.conninfo, autocommit=True, options=db.options) as pg:
        pg.execute(POSTGRESQL_DDL[0])
        with pg.cursor().copy("COPY bench_users FROM STDIN") as copy:
            for batch in batches:
                for row in batch:
                    copy.write_row([Jsonb(v) if isinstance(v, dict) else v for v in row])
        pg.execute("ANALYZE bench_users")


# -- the worker: one case, measured --------------------------------------------------


def rss() -> tuple[int, int]:
    """This process's resident set and its high-water mark, in bytes (Linux)."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found["VmRSS"], found["VmHWM"]


def measure(run: Callable[[], object], check: Callable[[Any], None]) -> Measured:
    """Time and memory of ``run()``, whose result is kept until measured, then checked.

    Twice: plain first (seconds, and the RSS high-water mark while nothing
    else has grown the process), then with tracemalloc on, which slows every
    allocation (the peak, and what the result holds).
    """
    gc.collect()
    # Writing 5 resets the high-water mark to the current RSS (Linux 4.0+).
    Path("/proc/self/clear_refs").write_text("5")
    before, _ = rss()
    started = time.perf_counter()
    kept = run()
    seconds = time.perf_counter() - started
    _, high = rss()
    check(kept)
    del kept
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    kept = run()
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return {
        "seconds": seconds,
        "rss": (high - before) / MiB,
        "peak": (peak - base) / MiB,
        "held": (held - base) / MiB,
    }


def records_reader(case: Case, stack: ExitStack) -> Callable[[int], Sequence[Any]]:
    """The function reading the first ``n`` users at once as ``case.who``'s objects."""
    db, who = case.db, case.who
    sql = f"SELECT {USER_COLUMNS} FROM bench_users ORDER BY id LIMIT {{}}"
    if who == "raw" and db.kind == "sqlite":
        lite = sqlite3.connect(db.path, isolation_level=None)
        stack.callback(lite.close)
        return lambda n: _sqlite_users(lite.execute(sql.format(n)).fetchall())
    if who == "raw":
        import psycopg

        pg = stack.enter_context(psycopg.connect(db.conninfo, options=db.options))
        return lambda n: _pg_users(pg.execute(sql.format(n)).fetchall())
    if who == "repodb":
        repo = Repo(stack.enter_context(repodb.connect(db.url)))
        return lambda n: repo.all(query(BenchUser).order_by(BenchUser.id).limit(n))
    if who == "peewee":
        import repo_peewee

        peewee = repo_peewee.PeeweeContender(db, Workload.draw(Sizes.quick()))
        stack.callback(peewee.close)
        user = repo_peewee.User
        return lambda n: list(user.select().order_by(user.id).limit(n))
    import repo_sqlalchemy
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    engine = repo_sqlalchemy.engine_for(db)
    stack.callback(engine.dispose)
    if who == "SQLAlchemy Core":
        users = repo_sqlalchemy.users
        conn = stack.enter_context(engine.connect())
        return lambda n: conn.execute(select(users).order_by(users.c.id).limit(n)).all()
    session = stack.enter_context(Session(engine))
    orm_user = repo_sqlalchemy.User
    return lambda n: session.scalars(select(orm_user).order_by(orm_user.id).limit(n)).all()


def stream_reader(case: Case, stack: ExitStack) -> Callable[[int], int]:
    """The function streaming the first ``n`` users, each record dropped once counted."""
    q = query(BenchUser).order_by(BenchUser.id)
    if case.who == "sync":
        repo = Repo(stack.enter_context(repodb.connect(case.db.url)))

        def read(n: int) -> int:
            count = last = 0
            with repo.stream(q.limit(n)) as users:
                for user in users:
                    count, last = count + 1, user.id
            return _checked(count, last, n)

        return read
    url = case.db.url
    if case.who == "async (asyncpg)":
        url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    runner = stack.enter_context(asyncio.Runner())
    conn = runner.run(repodb.connect_async(url))
    stack.callback(lambda: runner.run(conn.close()))
    arepo = AsyncRepo(conn)

    async def aread(n: int) -> int:
        count = last = 0
        async with arepo.stream(q.limit(n)) as users:
            async for user in users:
                count, last = count + 1, user.id
        return _checked(count, last, n)

    return lambda n: runner.run(aread(n))


def _checked(count: int, last: int, n: int) -> int:
    if count != n or last != n:
        raise RuntimeError(f"streamed {count} users up to id {last}, expected {n}")
    return count


def work(case: Case) -> Measured:
    """Run ``case`` in this process: warm up, then measure one read of ``case.rows``."""
    with ExitStack() as stack:
        if case.study == "records":
            read_all = records_reader(case, stack)

            def check(got: Sequence[Any], want: int = case.rows) -> None:
                if len(got) != want or got[-1].id != want:
                    raise RuntimeError(f"{case.who}: read {len(got)} rows, not {want}")

            check(read_all(WARM), WARM)
            return measure(lambda: read_all(case.rows), check)
        stream = stream_reader(case, stack)
        stream(WARM)
        return measure(lambda: stream(case.rows), _nothing)


def _nothing(result: object) -> None:
    """A stream's count is checked as it ends (``_checked``)."""


def run_case(case: Case) -> Measured:
    """``case`` measured in a fresh Python process."""
    payload = json.dumps(dataclasses.asdict(case))
    done = subprocess.run(
        [sys.executable, __file__, "--worker", payload],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{case.study} {case.who} {case.rows}: {done.stderr.strip()}")
    measured: Measured = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


# -- the two studies --------------------------------------------------------------------


def available(names: list[str]) -> list[str]:
    """``names`` less the peers whose library is not installed here."""
    needs = {
        "SQLAlchemy Core": "sqlalchemy",
        "SQLAlchemy ORM": "sqlalchemy",
        "peewee": "peewee",
        "async (asyncpg)": "asyncpg",
    }
    import importlib.util

    return [n for n in names if n not in needs or importlib.util.find_spec(needs[n])]


def study(db: Database, name: str, names: list[str], sizes: list[int]) -> dict[str, Any]:
    """Per contender and size: the measurement, each in a process of its own."""
    results: dict[str, Any] = {}
    for who in names:
        if db.kind == "sqlite" and who == "async (asyncpg)":
            continue
        for rows in sizes:
            measured = results.setdefault(who, {})[str(rows)] = run_case(Case(name, who, db, rows))
            print(f"  {who}, {rows:,} rows: {_cells(measured)}", file=sys.stderr)
    return results


def _cells(m: Measured) -> str:
    return f"peak {m['peak']:.1f} MiB, held {m['held']:.1f} MiB, RSS +{m['rss']:.1f} MiB, " + (
        f"{m['seconds']:.2f} s"
    )


def records_table(results: dict[str, Any], rows: int) -> list[str]:
    """Markdown: per contender, memory and time of reading ``rows`` at once (ratios to raw)."""
    base = results["raw"][str(rows)]
    head = "| contender | tracemalloc peak | held after | peak RSS growth | seconds |"
    lines = [head, "|---|---|---|---|---|"]
    for who, by_size in results.items():
        m = by_size[str(rows)]
        lines.append(
            f"| {who} | {m['peak']:.1f} MiB ({m['peak'] / base['peak']:.2f}x) "
            f"| {m['held']:.1f} MiB ({m['held'] / base['held']:.2f}x) "
            f"| {m['rss']:.1f} MiB ({m['rss'] / base['rss']:.2f}x) "
            f"| {m['seconds']:.2f} ({m['seconds'] / base['seconds']:.2f}x) |"
        )
    return lines


def stream_table(results: dict[str, Any], sizes: list[int]) -> list[str]:
    """Markdown: per mode, peak memory streaming each number of rows."""
    head = ["mode", *(f"{n:,} rows: peak / RSS growth / s" for n in sizes)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for who, by_size in results.items():
        cells = [
            f"{m['peak']:.2f} / {m['rss']:.1f} MiB / {m['seconds']:.1f}"
            for m in (by_size[str(n)] for n in sizes)
        ]
        lines.append(f"| {who} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("study", nargs="?", choices=["records", "stream"])
    parser.add_argument("--pg-url", default=os.environ.get("REPODB_TEST_PG_URL"))
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--rows", type=int, default=100_000, help="records: rows read at once")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[10_000, 100_000, 1_000_000],
        help="stream: comma list of row counts",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--only", type=lambda text: text.split(","), help="contenders or modes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        fields = json.loads(args.worker)
        case = Case(**{**fields, "db": Database(**fields["db"])})
        print(json.dumps(work(case)))
        return
    if args.study is None:
        parser.error("choose a study: records or stream")
    if args.quick:
        args.rows, args.sizes = 300, [300]
    sizes = [args.rows] if args.study == "records" else args.sizes
    names = available(RECORDS if args.study == "records" else STREAMS)
    if args.only:
        names = [n for n in names if n in args.only]
    print("\n".join(platform_versions(args.pg_url)))
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        databases: list[tuple[str, Database]] = []
        if not args.no_sqlite:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            databases.append(("SQLite (file, WAL)", sqlite_database(tmp)))
        if args.pg_url:
            databases.append(("PostgreSQL", stack.enter_context(postgresql_database(args.pg_url))))
        for label, db in databases:
            started = time.perf_counter()
            seed(db, max(sizes))
            print(f"{label}: {max(sizes):,} users seeded in {time.perf_counter() - started:.0f} s")
            found = results[db.kind] = study(db, args.study, names, sizes)
            if args.study == "records":
                lines = records_table(found, args.rows)
            else:
                lines = stream_table(found, sizes)
            print(f"\n{label}, {args.study}\n" + "\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
