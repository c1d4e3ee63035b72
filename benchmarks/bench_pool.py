"""Pool throughput: repodb's Pool against psycopg_pool and SQLAlchemy's QueuePool.

Why: a pool sits on every request's path, so its checkout and return must
cost next to nothing next to a query. Each contender runs the same loop in
8 threads on PostgreSQL: borrow a connection, ``SELECT 1``, give it back. All
pools have the same size and keep their connections in autocommit, so no
round trip is spent on transactions. The target (issue 5) is repodb at least
as fast as the faster of the other two.

Each round runs every contender once, in a rotating order, for a fixed
number of operations; the best and the median rate of the rounds are
reported. The result of every ``SELECT 1`` is checked, and each pool must
end the round with every connection returned. psycopg_pool and SQLAlchemy
are optional: without them their rows say "not installed".

Usage::

    python benchmarks/bench_pool.py --pg-url postgresql://postgres@127.0.0.1:55432/repodb_test
    python benchmarks/bench_pool.py --sizes 4,8 --threads 8 --rounds 5
    python benchmarks/bench_pool.py --quick --json out.json    # a smoke test

The PostgreSQL URL may also come from ``REPODB_TEST_PG_URL``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from repodb import Request
from repodb.pool import Pool, PoolStats

NAMES = ["repodb Pool", "psycopg_pool", "SQLAlchemy QueuePool"]
MODULES = {"psycopg_pool": "psycopg_pool", "SQLAlchemy QueuePool": "sqlalchemy"}

select_one = Request.one("SELECT 1", row=int)

# One contender: a context manager that opens the pool (warm, all connections
# open) and yields the operation to time, then checks and closes the pool.
Operation = Callable[[], None]
Contender = Callable[[str, int], AbstractContextManager[Operation]]


@contextmanager
def repodb_pool(url: str, size: int) -> Iterator[Operation]:
    with Pool(url, max_size=size, min_size=size) as pool:

        def operation() -> None:
            with pool.connection() as conn:
                expect_one(conn.one(select_one))

        yield operation
        expect_repodb_idle(pool.stats(), size)


@contextmanager
def psycopg_pool(url: str, size: int) -> Iterator[Operation]:
    from psycopg_pool import ConnectionPool

    with ConnectionPool(
        url, min_size=size, max_size=size, kwargs={"autocommit": True}, open=True
    ) as pool:
        pool.wait(timeout=30)

        def operation() -> None:
            with pool.connection() as conn:
                row = conn.execute("SELECT 1").fetchone()
                expect_one(row[0] if row else None)

        yield operation
        expect_idle(pool.get_stats())


def expect_one(value: object) -> None:
    """Raise unless ``value`` is what ``SELECT 1`` returns."""
    if value != 1:
        raise AssertionError(f"SELECT 1 returned {value!r}")


def expect_repodb_idle(stats: PoolStats, size: int) -> None:
    """Raise unless repodb's pool has every connection back, and no more than ``size``."""
    if stats.in_use or stats.total > size:
        raise AssertionError(f"repodb pool not idle after the round: {stats}")


def expect_idle(stats: dict[str, int]) -> None:
    """Raise unless psycopg_pool's ``get_stats()`` shows every connection back."""
    if stats["pool_size"] != stats["pool_available"]:
        raise AssertionError(f"psycopg_pool not idle after the round: {stats}")


@contextmanager
def queue_pool(url: str, size: int) -> Iterator[Operation]:
    import psycopg
    from sqlalchemy.pool import QueuePool

    # Any: psycopg's connection does not match SQLAlchemy's DBAPIConnection protocol exactly.
    def creator() -> Any:
        return psycopg.connect(url, autocommit=True)

    pool = QueuePool(creator, pool_size=size, max_overflow=0, timeout=30)
    try:
        held = [pool.connect() for _ in range(size)]
        for conn in held:
            conn.close()

        def operation() -> None:
            conn = pool.connect()
            try:
                cursor = conn.cursor()
                cursor.execute("SELECT 1")
                row = cursor.fetchone()
                cursor.close()
                if row is None or row[0] != 1:
                    raise AssertionError("SELECT 1 did not return 1")
            finally:
                conn.close()

        yield operation
        if pool.checkedout():
            raise AssertionError(f"QueuePool not idle after the round: {pool.status()}")
    finally:
        pool.dispose()


CONTENDERS: dict[str, Contender] = {
    "repodb Pool": repodb_pool,
    "psycopg_pool": psycopg_pool,
    "SQLAlchemy QueuePool": queue_pool,
}


def installed(name: str) -> bool:
    module = MODULES.get(name)
    return module is None or importlib.util.find_spec(module) is not None


def run_threads(operation: Operation, threads: int, per_thread: int) -> float:
    """Operations per second of ``threads`` threads each running ``per_thread`` operations."""
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def loop() -> None:
        start.wait()
        try:
            for _ in range(per_thread):
                operation()
        except BaseException as e:
            errors.append(e)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join(timeout=300)
    elapsed = time.perf_counter() - began
    if any(worker.is_alive() for worker in workers):
        raise RuntimeError("a benchmark thread did not finish within 300 s")
    if errors:
        raise errors[0]
    return threads * per_thread / elapsed


def measure(url: str, size: int, threads: int, per_thread: int, rounds: int) -> dict[str, object]:
    """Rates per contender (best and median of ``rounds``), or "not installed"."""
    names = [name for name in NAMES if installed(name)]
    rates: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            with CONTENDERS[name](url, size) as operation:
                run_threads(operation, threads, max(1, per_thread // 10))  # warm up
                rates[name].append(run_threads(operation, threads, per_thread))
    results: dict[str, object] = {}
    for name in NAMES:
        if name in rates:
            results[name] = {"best": max(rates[name]), "median": statistics.median(rates[name])}
        else:
            results[name] = "not installed"
    return results


def report(size: int, threads: int, results: dict[str, object]) -> None:
    print(f"\npool size {size}, {threads} threads: checkout + SELECT 1 + return, ops/s")
    print(f"  {'contender':<24}{'best':>10}{'median':>10}")
    for name, outcome in results.items():
        if isinstance(outcome, dict):
            print(f"  {name:<24}{outcome['best']:>10,.0f}{outcome['median']:>10,.0f}")
        else:
            print(f"  {name:<24}{outcome:>20}")


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The command line, with the options every pool benchmark shares; a server is required."""
    parser.add_argument("--pg-url", default=os.environ.get("REPODB_TEST_PG_URL"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not args.pg_url:
        parser.error("a PostgreSQL URL is needed: --pg-url or REPODB_TEST_PG_URL")
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sizes", default="4,8", help="pool sizes, comma-separated")
    parser.add_argument("--ops", type=int, default=2000, help="operations per thread per round")
    args = parse(parser)
    ops, rounds = (20, 1) if args.quick else (args.ops, args.rounds)
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    results: dict[str, object] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        measured = measure(args.pg_url, size, args.threads, ops, rounds)
        report(size, args.threads, measured)
        results[f"size {size}"] = measured
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
