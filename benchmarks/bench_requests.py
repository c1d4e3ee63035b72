"""repodb against the raw drivers: a one-row lookup by primary key and a 100-row fetch.

Why: repodb promises to stay within a few percent of the driver it wraps.
Each case runs the same SQL through raw ``sqlite3`` / raw psycopg and through
a typed repodb request on the same database, in the same process, alternating
the two so that machine noise hits both alike; the best of several rounds is
reported, with the ratio repodb time / raw time (1.00 = no overhead).

Usage::

    python benchmarks/bench_requests.py                     # SQLite only
    python benchmarks/bench_requests.py --pg-url postgresql://postgres@127.0.0.1:55432/repodb_test

The PostgreSQL URL may also come from ``REPODB_TEST_PG_URL``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import repodb
from repodb import Request
from repodb.types import tup

ROWS = 10_000
LOOKUP = "SELECT id, name, email, age FROM bench_users WHERE id = ?"
PAGE = "SELECT id, name, email, age FROM bench_users WHERE id > ? ORDER BY id LIMIT 100"
PG_LOOKUP = LOOKUP.replace("?", "$1")
PG_PAGE = PAGE.replace("?", "$1")

lookup = Request.one(LOOKUP, params=int, row=tup(int, str, str, int))
page = Request.many(PAGE, params=int, row=tup(int, str, str, int))


def best_rate(fn: Callable[[int], object], iterations: int) -> float:
    """Operations per second of one timed round."""
    start = time.perf_counter()
    for i in range(iterations):
        fn(i % (ROWS - 200) + 1)
    return iterations / (time.perf_counter() - start)


def compare(
    name: str, raw: Callable[[int], object], ours: Callable[[int], object], iterations: int
) -> tuple[str, float, float]:
    """Alternate raw and repodb rounds; keep the best rate of each."""
    raw(1), ours(1)
    for _ in range(200):  # warm caches and prepared statements
        raw(2), ours(2)
    raw_best = ours_best = 0.0
    for _ in range(7):
        raw_best = max(raw_best, best_rate(raw, iterations))
        ours_best = max(ours_best, best_rate(ours, iterations))
    return name, raw_best, ours_best


def report(title: str, results: list[tuple[str, float, float]]) -> None:
    print(f"\n{title}")
    print(f"  {'case':<24}{'raw ops/s':>12}{'repodb ops/s':>14}{'ratio':>8}")
    for name, raw, ours in results:
        print(f"  {name:<24}{raw:>12,.0f}{ours:>14,.0f}{raw / ours:>8.2f}x")


def seed_rows() -> list[tuple[int, str, str, int]]:
    return [(i, f"user {i}", f"user{i}@example.com", 20 + i % 50) for i in range(1, ROWS + 1)]


def bench_sqlite(directory: Path) -> list[tuple[str, float, float]]:
    path = directory / "bench.db"
    conn = repodb.connect(f"sqlite:///{path}")
    conn.exec(
        Request.exec(
            "CREATE TABLE bench_users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "email TEXT NOT NULL, age INTEGER NOT NULL)"
        )
    )
    conn.copy_in(
        "bench_users", ["id", "name", "email", "age"], tup(int, str, str, int), seed_rows()
    )
    raw = sqlite3.connect(path, isolation_level=None)

    def raw_lookup(i: int) -> Any:
        return raw.execute(LOOKUP, (i,)).fetchone()

    def raw_page(i: int) -> Any:
        return raw.execute(PAGE, (i,)).fetchall()

    results = [
        compare("lookup by primary key", raw_lookup, lambda i: conn.one(lookup, i), 20_000),
        compare("fetch 100 rows", raw_page, lambda i: conn.all(page, i), 2_000),
    ]
    raw.close()
    conn.close()
    return results


def bench_postgresql(url: str) -> list[tuple[str, float, float]]:
    import psycopg

    conn = repodb.connect(url)
    conn.exec(Request.exec("DROP TABLE IF EXISTS bench_users"))
    conn.exec(
        Request.exec(
            "CREATE TABLE bench_users (id bigint PRIMARY KEY, name text NOT NULL, "
            "email text NOT NULL, age bigint NOT NULL)"
        )
    )
    conn.copy_in(
        "bench_users", ["id", "name", "email", "age"], tup(int, str, str, int), seed_rows()
    )
    conn.exec(Request.exec("ANALYZE bench_users"))
    # The raw baseline as a careful psycopg user writes it: one reused cursor,
    # autocommit, psycopg's default automatic preparation.
    raw = psycopg.connect(url, autocommit=True)
    cursor = raw.cursor()

    def raw_lookup(i: int) -> Any:
        cursor.execute(LOOKUP.replace("?", "%s"), (i,))
        return cursor.fetchone()

    def raw_page(i: int) -> Any:
        cursor.execute(PAGE.replace("?", "%s"), (i,))
        return cursor.fetchall()

    results = [
        compare("lookup by primary key", raw_lookup, lambda i: conn.one(lookup, i), 3_000),
        compare("fetch 100 rows", raw_page, lambda i: conn.all(page, i), 1_000),
    ]
    conn.exec(Request.exec("DROP TABLE bench_users"))
    raw.close()
    conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-url", default=os.environ.get("REPODB_TEST_PG_URL"))
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(f"sqlite3 {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite (file, WAL)", bench_sqlite(Path(tmp)))
    if args.pg_url:
        import psycopg

        print(f"\npsycopg {psycopg.__version__} (libpq {psycopg.pq.version()})")
        report("PostgreSQL (loopback TCP)", bench_postgresql(args.pg_url))
    else:
        print("\nPostgreSQL skipped: pass --pg-url or set REPODB_TEST_PG_URL", file=sys.stderr)


if __name__ == "__main__":
    main()
