"""MariaDB bulk loads: repodb's ``insert_all`` against the two raw bulk paths, sync and async.

Why: issue 16 asks for ``insert_all`` within 1.3x of the fastest raw bulk
path, which on MariaDB is one of two: multi-row ``INSERT`` statements (what
PyMySQL's and asyncmy's ``executemany`` send, and what repodb's drivers use)
or ``LOAD DATA LOCAL INFILE`` (the rows written to a file the client sends).
All five ways load the same rows (``repo_kit``'s realistic new users: text,
ints, a nullable int, a Decimal, a UUID, JSON, a bool, two timestamps) into
an emptied table, in one transaction each, in rounds whose order rotates;
the rows are counted after each load. Medians and ranges per row are
printed, with each way's ratio to both raw paths.

Usage::

    python benchmarks/bench_mariadb_bulk.py --mariadb-url mariadb://repodb@127.0.0.1:53306/repodb_test
    python benchmarks/bench_mariadb_bulk.py --quick --json out.json   # the smoke test's run
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql
from bench_repo import Admin, mariadb_database, mariadb_options
from repo_contenders import BenchNewUser
from repo_kit import NEW_USER_COLUMNS, Database, Sizes, Workload, mariadb_value

import repodb
from repodb import AsyncRepo, Repo
from repodb.driver.mariadb_async import AsyncMariadbConnection

INSERT = f"INSERT INTO bench_new_users ({NEW_USER_COLUMNS}) VALUES ({', '.join(['%s'] * 10)})"
LOAD = f"LOAD DATA LOCAL INFILE %s INTO TABLE bench_new_users ({NEW_USER_COLUMNS})"


def tsv_field(value: object) -> str:
    """A value as LOAD DATA's default format reads it (tab-separated, backslash escapes)."""
    if value is None:
        return "\\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def ways(db: Database, work: Workload, count: int, runner: asyncio.Runner) -> dict[str, Any]:
    """The five ways to load ``count`` rows, by name, and what they hold open (to close)."""
    dicts = work.dicts[:count]

    def encoded() -> list[tuple[Any, ...]]:
        # Inside each raw load, as the Repo encodes inside its own: the
        # values in their storage forms, both timestamps the time of the call.
        now = dt.datetime.now(dt.UTC)
        return [tuple(map(mariadb_value, (*row, now, now))) for row in work.rows[:count]]

    # LOAD DATA LOCAL needs the client's consent (a server may ask a client for any
    # file it can read): given here, on this raw connection only.
    raw = pymysql.connect(**mariadb_options(db.url), local_infile=True)
    cursor = raw.cursor()
    conn = repodb.connect(db.url)
    repo = Repo(conn)
    aconn: repodb.AsyncConnection = runner.run(repodb.connect_async(db.url))
    arepo = AsyncRepo(aconn)
    driver = aconn._driver
    assert isinstance(driver, AsyncMariadbConnection)
    acursor = driver._raw.cursor()

    def multi_row() -> None:
        rows = encoded()
        cursor.execute("START TRANSACTION")
        cursor.executemany(INSERT, rows)
        cursor.execute("COMMIT")

    def load_data() -> None:
        # As a raw user writes it: the rows to a temporary file, then LOAD DATA.
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.writelines("\t".join(map(tsv_field, row)) + "\n" for row in encoded())
        try:
            cursor.execute("START TRANSACTION")
            cursor.execute(LOAD, (f.name,))
            cursor.execute("COMMIT")
        finally:
            os.unlink(f.name)

    async def asyncmy_multi_row() -> None:
        rows = encoded()
        await acursor.execute("START TRANSACTION")
        await acursor.executemany(INSERT, rows)
        await acursor.execute("COMMIT")

    loads: dict[str, Callable[[], object]] = {
        "raw multi-row INSERT (PyMySQL)": multi_row,
        "raw LOAD DATA LOCAL (PyMySQL)": load_data,
        "repodb insert_all": lambda: repo.insert_all(BenchNewUser, dicts),
        "raw multi-row INSERT (asyncmy)": lambda: runner.run(asyncmy_multi_row()),
        "repodb async insert_all": lambda: runner.run(arepo.insert_all(BenchNewUser, dicts)),
    }

    def close() -> None:
        runner.run(aconn.close())
        conn.close()
        raw.close()

    return {"loads": loads, "close": close}


def measure(url: str, count: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per row of each way, one figure per round."""
    work = Workload.draw(Sizes(users=400, posts_per_user=1, insert_all=count))
    with mariadb_database(url) as db, asyncio.Runner() as runner:
        admin = Admin(db)
        admin.seed(work)
        made = ways(db, work, count, runner)
        loads: dict[str, Callable[[], object]] = made["loads"]
        names = list(loads)
        times: dict[str, list[float]] = {name: [] for name in names}
        try:
            for round_ in range(rounds + 1):  # the first round warms up, untimed
                shift = round_ % len(names)
                for name in names[shift:] + names[:shift]:
                    admin.reset()
                    started = time.perf_counter()
                    loads[name]()
                    spent = time.perf_counter() - started
                    if admin.inserted() != count:
                        raise RuntimeError(f"{name}: {admin.inserted()} rows, expected {count}")
                    if round_:
                        times[name].append(spent / count)
        finally:
            made["close"]()
            admin.close()
    return times


def report(times: dict[str, list[float]]) -> list[str]:
    multi = statistics.median(times["raw multi-row INSERT (PyMySQL)"])
    load = statistics.median(times["raw LOAD DATA LOCAL (PyMySQL)"])
    lines = [
        "| way | µs per row (median) | range | x multi-row INSERT | x LOAD DATA LOCAL |",
        "|---|---|---|---|---|",
    ]
    for name, figures in times.items():
        median = statistics.median(figures)
        lines.append(
            f"| {name} | {median * 1e6:.1f} | {min(figures) * 1e6:.1f}-{max(figures) * 1e6:.1f}"
            f" | {median / multi:.2f}x | {median / load:.2f}x |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mariadb-url", default=os.environ.get("REPODB_TEST_MARIADB_URL"))
    parser.add_argument("--rows", type=int, default=20_000, help="rows per load")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", type=Path, help="also write the results here (seconds per row)")
    args = parser.parse_args()
    if not args.mariadb_url:
        parser.error("pass --mariadb-url or set REPODB_TEST_MARIADB_URL")
    count, rounds = (200, 1) if args.quick else (args.rows, args.rounds)
    times = measure(args.mariadb_url, count, rounds)
    print(f"MariaDB, {count:,} rows per load, {rounds} rounds\n" + "\n".join(report(times)))
    if args.json:
        args.json.write_text(json.dumps(times, indent=2))


if __name__ == "__main__":
    main()
