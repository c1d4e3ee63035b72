"""repodb's AsyncConnection against the raw async drivers, with the sync ones for reference.

Why: an async application pays for its event loop; the question is what
repodb adds on top. Each scenario runs on a SQLite file and on PostgreSQL in
the same process, for every contender, on the same realistic table (text, a
nullable int, Decimal, UUID, JSON, two aware timestamps, a bool) and inputs;
each result is checked (the very rows read back, rows counted after writes).
Per operation, the median time of several rounds is reported with its ratio
to the raw async driver (1.00x = no overhead). Within a round the contenders
take turns slice by slice, in an order rotated every round; each warms up
first.

Contenders (see ``async_contenders.py``): ``raw async`` is psycopg's
``AsyncConnection`` on PostgreSQL and ``sqlite3`` through a single-thread
executor on SQLite; ``repodb async`` is ``repodb.connect_async``, and
``repodb async (asyncpg)`` the same on repodb's asyncpg driver
(``postgresql+asyncpg://``, PostgreSQL only); ``raw asyncpg`` is asyncpg by
hand; ``raw sync`` and ``repodb sync`` are the blocking driver and
``repodb.connect``, so that on SQLite the cost of the thread hop shows.

Scenarios: get by primary key (``await conn.one(request, key)``); a 100-row
list decoded into typed rows; ``copy_in`` of 50,000 rows; 2,000 single
inserts, each its own transaction.

Usage::

    python benchmarks/bench_async.py                      # SQLite, and PostgreSQL if
                                                          # REPODB_TEST_PG_URL is set
    python benchmarks/bench_async.py --pg-url postgresql://postgres@127.0.0.1:55432/repodb_test
    python benchmarks/bench_async.py --quick --json out.json   # the smoke test's run
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from async_contenders import (
    COLUMNS,
    NAMES,
    POSTGRESQL_DDL,
    SQLITE_DDL,
    Contender,
    Item,
    Sizes,
    Workload,
    contenders,
)
from bench_repo import (
    duration,
    platform_versions,
    postgresql_database,
    round_trip,
    sqlite_database,
)
from repo_kit import Database

import repodb
from repodb import Request

# Scenario key -> the title printed in the table.
SCENARIOS: dict[str, str] = {
    "get": "get by primary key",
    "list": "100-row list, typed rows",
    "copy_in": "copy_in, {copy_rows} rows",
    "insert": "single insert, own transaction",
}
# Per database: scenario -> contender -> seconds per operation.
Results = dict[str, dict[str, float]]

count_new = Request.one("SELECT count(*) FROM bench_new_items", row=int)


class Admin:
    """The harness's own repodb connection: schema, seed data, resets and row counts."""

    def __init__(self, db: Database) -> None:
        self.kind = db.kind
        self._conn = repodb.connect(db.url)
        if db.kind == "postgresql":
            # A contender left holding a lock must fail the run, not hang it.
            self._conn.exec(Request.exec("SET lock_timeout = '10s'"))

    def seed(self, work: Workload) -> None:
        for statement in SQLITE_DDL if self.kind == "sqlite" else POSTGRESQL_DDL:
            self._conn.exec(Request.exec(statement))
        self._conn.copy_in("bench_items", ("id", *COLUMNS), Item, work.items)
        self._conn.exec(Request.exec("ANALYZE"))

    def reset(self) -> None:
        """Empty the table the write scenarios fill."""
        if self.kind == "sqlite":
            self._conn.exec(Request.exec("DELETE FROM bench_new_items"))
        else:
            self._conn.exec(Request.exec("TRUNCATE bench_new_items RESTART IDENTITY"))

    def inserted(self) -> int:
        return self._conn.one(count_new)

    def close(self) -> None:
        self._conn.close()


def check(scenario: str, result: Any, k: int, work: Workload) -> None:
    """Raise when an operation's result is not what the scenario asked for."""
    if scenario == "get":
        want: object = work.items[work.ids[k] - 1]
    elif scenario == "list":
        want = work.items[work.starts[k] : work.starts[k] + 100]
    elif scenario == "copy_in":
        want = work.sizes.copy_rows
    else:
        if not isinstance(result, int):
            raise RuntimeError(f"insert: expected the new id, got {result!r}")
        return
    if result != want:
        raise RuntimeError(f"{scenario}: expected {str(want)[:200]}, got {str(result)[:200]}")


def expected_rows(scenario: str, ops: int, sizes: Sizes) -> int | None:
    """Rows the write scenarios leave in ``bench_new_items`` after ``ops`` operations."""
    if scenario == "copy_in":
        return sizes.copy_rows * ops
    if scenario == "insert":
        return ops
    return None


async def run_database(db: Database, work: Workload) -> Results:
    admin = Admin(db)
    admin.seed(work)
    made = await contenders(db, work)
    # The workload lives all run long: frozen out of the collector, it is
    # not walked at the expense of whoever allocates most (as in bench_repo).
    gc.collect()
    gc.freeze()
    try:
        return {key: await run_scenario(key, db, work, admin, made) for key in SCENARIOS}
    finally:
        gc.unfreeze()
        for c in made:
            closed = c.close()
            if inspect.isawaitable(closed):
                await closed
        admin.close()


async def run_slice(c: Contender, key: str, part: range) -> list[object]:
    """Run ``part`` of ``key``'s operations; what each returned."""
    if key in c.async_ops:
        aop = c.async_ops[key]
        return [await aop(k) for k in part]
    op = c.ops[key]
    return [op(k) for k in part]


async def timed_slice(c: Contender, key: str, part: range) -> float:
    """Seconds to run ``part`` of ``key``'s operations (their results are dropped)."""
    if key in c.async_ops:
        aop = c.async_ops[key]
        started = time.perf_counter()
        for k in part:
            await aop(k)
        return time.perf_counter() - started
    op = c.ops[key]
    started = time.perf_counter()
    for k in part:
        op(k)
    return time.perf_counter() - started


async def run_scenario(
    key: str, db: Database, work: Workload, admin: Admin, made: list[Contender]
) -> dict[str, float]:
    """Per contender, the median time per operation of ``sizes.rounds`` rounds.

    The contenders take turns slice by slice, in an order rotated every
    round, so that every contender meets the same machine; the collector is
    emptied before each slice, and a slice of writes starts from an empty
    table whose rows are counted after.
    """
    sizes = work.sizes
    ops = sizes.ops[key][db.kind]
    for c in made:
        await warm(key, c, min(ops, 50), work, admin)
    times: dict[str, list[float]] = {c.name: [] for c in made}
    writes = expected_rows(key, 1, sizes) is not None
    for round_ in range(sizes.rounds):
        shift = round_ % len(made)
        order = made[shift:] + made[:shift]
        spent = dict.fromkeys(times, 0.0)
        for part in sizes.parts(key, db.kind):
            for c in order:
                if writes:
                    admin.reset()
                gc.collect()
                spent[c.name] += await timed_slice(c, key, part)
                verify_rows(key, c.name, len(part), sizes, admin)
        for name, seconds in spent.items():
            times[name].append(seconds / ops)
    return {name: statistics.median(t) for name, t in times.items()}


async def warm(key: str, c: Contender, count: int, work: Workload, admin: Admin) -> None:
    """Run ``count`` operations untimed (caches, prepared statements), checking each result."""
    admin.reset()
    for k, result in enumerate(await run_slice(c, key, range(count))):
        try:
            check(key, result, k, work)
        except RuntimeError as e:
            raise RuntimeError(f"{c.name}, {key}: wrong result: {e}") from e
    verify_rows(key, c.name, count, work.sizes, admin)


def verify_rows(key: str, name: str, ops: int, sizes: Sizes, admin: Admin) -> None:
    want = expected_rows(key, ops, sizes)
    if want is not None and admin.inserted() != want:
        raise RuntimeError(f"{name}, {key}: {admin.inserted()} rows in the table, expected {want}")


# -- reporting ------------------------------------------------------------------------


def table(results: Results, sizes: Sizes) -> list[str]:
    """The Markdown table of one database: time per operation (ratio to raw async)."""
    head = ["scenario", *NAMES]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for key, outcome in results.items():
        base = outcome[NAMES[0]]
        cells = [SCENARIOS[key].format(copy_rows=f"{sizes.copy_rows:,}")]
        cells += [
            f"{duration(outcome[n])} ({outcome[n] / base:.2f}x)" if n in outcome else "–"
            for n in NAMES
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


async def measure(args: argparse.Namespace, sizes: Sizes) -> dict[str, Results]:
    work = Workload.draw(sizes)
    results: dict[str, Results] = {}
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = await run_database(sqlite_database(tmp), work)
        print(
            "\nSQLite (file, WAL; raw async = sqlite3 through a single-thread executor)\n"
            + "\n".join(table(results["sqlite"], sizes))
        )
    if args.pg_url:
        before = round_trip(args.pg_url)
        with postgresql_database(args.pg_url) as db:
            results["postgresql"] = await run_database(db, work)
        after = round_trip(args.pg_url)
        print(
            f"\nPostgreSQL (loopback TCP; a SELECT 1 took {duration(before)} before the run,"
            f" {duration(after)} after)\n" + "\n".join(table(results["postgresql"], sizes))
        )
    else:
        print("\nPostgreSQL skipped: pass --pg-url or set REPODB_TEST_PG_URL", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-url", default=os.environ.get("REPODB_TEST_PG_URL"))
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", type=Path, help="also write the results here (seconds per op)")
    args = parser.parse_args()
    sizes = Sizes.quick() if args.quick else Sizes(rounds=args.rounds)
    print("\n".join(platform_versions(args.pg_url)))
    results = asyncio.run(measure(args, sizes))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
