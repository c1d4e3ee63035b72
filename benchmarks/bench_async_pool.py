"""Async pool and routing: AsyncPool against psycopg_pool, and AsyncCqrs over its own pool.

Why: every request of an asyncio application passes through a pool, and
through the router when reads go to replicas; both must cost next to
nothing next to the statement. Two parts, each in one event loop:

- pool: 100 tasks share 10 connections (``--tasks``, ``--size``); each
  task checks a connection out, runs ``SELECT 1`` and gives it back, in a
  loop. repodb's ``AsyncPool`` against ``psycopg_pool.AsyncConnectionPool``
  (the target, issue 12: at least its throughput) and asyncpg's own pool
  for reference (its release resets the session: one more round trip),
  all at the same size with connections in autocommit and open for the
  whole run. Within a round the pools take turns slice by slice, in an
  order rotated every round; the median rate of the rounds is reported with
  the 50th and 99th percentile of one operation's time (from asking for a
  connection to having given it back) over all rounds.
- routing: a read of one row by primary key (``conn.one``) through
  ``AsyncCqrs.read()`` against a checkout from the ``AsyncPool`` the
  router keeps for that replica, so both run on the very same connections
  and server processes: the only difference is the routing (target: at
  most 5 % more time). In 1 and in 10 tasks, rounds of slices taken in
  turns; and without I/O, a bare checkout and return through each (best of
  5), since a loaded machine's round trip swings more than 5 %.

Every ``SELECT 1`` and every read is checked; each pool must end a round
with every connection returned. Times are printed, never asserted.

Usage::

    python benchmarks/bench_async_pool.py \\
        --pg-url postgresql://postgres@127.0.0.1:55432/repodb_test \\
        --replica-url postgresql://postgres@127.0.0.1:55433/repodb_test
    python benchmarks/bench_async_pool.py --quick --json out.json    # a smoke test

The URLs may also come from ``REPODB_TEST_PG_URL`` and the first of
``REPODB_TEST_PG_REPLICA_URLS``; without a replica URL the routing part is
skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from bench_cqrs import prepare
from bench_pool import expect_idle, expect_one, expect_repodb_idle, parse
from bench_repo import platform_versions

from repodb import AsyncConnection, Request
from repodb.cqrs_async import AsyncCqrs, CqrsConfig
from repodb.pool_async import AsyncPool
from repodb.types import tup

POOLS = ["repodb AsyncPool", "psycopg_pool", "asyncpg pool"]
MODULES = {"psycopg_pool": "psycopg_pool", "asyncpg pool": "asyncpg"}

select_one = Request.one("SELECT 1", row=int)
TABLE = "bench_async_cqrs_items"
by_key = Request.one(f"SELECT id, name FROM {TABLE} WHERE id = ?", params=int, row=tup(int, str))

# One pool contender: opened (all connections open), it yields the operation
# to time; on leaving it checks that every connection came back and closes.
Operation = Callable[[], Awaitable[None]]
PoolContender = Callable[[str, int], AbstractAsyncContextManager[Operation]]


@asynccontextmanager
async def repodb_pool(url: str, size: int) -> AsyncIterator[Operation]:
    async with AsyncPool(url, max_size=size, min_size=size) as pool:

        async def operation() -> None:
            async with pool.connection() as conn:
                expect_one(await conn.one(select_one))

        yield operation
        expect_repodb_idle(pool.stats(), size)


@asynccontextmanager
async def psycopg_pool(url: str, size: int) -> AsyncIterator[Operation]:
    from psycopg import AsyncConnection as PsycopgConnection
    from psycopg_pool import AsyncConnectionPool

    async with AsyncConnectionPool(
        url,
        min_size=size,
        max_size=size,
        kwargs={"autocommit": True},
        open=False,
        connection_class=PsycopgConnection[Any],
    ) as pool:
        await pool.wait(timeout=30)

        async def operation() -> None:
            async with pool.connection() as conn:
                row = await (await conn.execute("SELECT 1")).fetchone()
                expect_one(row[0] if row else None)

        yield operation
        expect_idle(pool.get_stats())


@asynccontextmanager
async def asyncpg_pool(url: str, size: int) -> AsyncIterator[Operation]:
    import asyncpg

    async with asyncpg.create_pool(url, min_size=size, max_size=size) as pool:

        async def operation() -> None:
            async with pool.acquire() as conn:
                expect_one(await conn.fetchval("SELECT 1"))

        yield operation
        if pool.get_idle_size() != size:
            raise AssertionError("asyncpg pool not idle after the round")


CONTENDERS: dict[str, PoolContender] = {
    "repodb AsyncPool": repodb_pool,
    "psycopg_pool": psycopg_pool,
    "asyncpg pool": asyncpg_pool,
}


async def run_tasks(operation: Operation, tasks: int, per_task: int) -> tuple[float, list[float]]:
    """``tasks`` tasks each running ``per_task`` operations: seconds, and each operation's."""
    latencies: list[float] = []
    clock = time.perf_counter

    async def loop() -> None:
        for _ in range(per_task):
            started = clock()
            await operation()
            latencies.append(clock() - started)

    began = clock()
    async with asyncio.timeout(300):
        await asyncio.gather(*(loop() for _ in range(tasks)))
    return clock() - began, latencies


async def measure_pools(
    url: str, size: int, tasks: int, per_task: int, rounds: int, slices: int
) -> dict[str, object]:
    """Per pool: the median rate of ``rounds`` and latency percentiles, or "not installed".

    All the pools stay open for the run; within a round they take turns
    slice by slice, in an order rotated every round, so that every pool
    meets the same machine.
    """
    names = [n for n in POOLS if n not in MODULES or importlib.util.find_spec(MODULES[n])]
    spent: dict[str, list[float]] = {name: [] for name in names}
    latencies: dict[str, list[float]] = {name: [] for name in names}
    per_slice = max(1, per_task // slices)
    async with contextlib.AsyncExitStack() as stack:
        operations = {n: await stack.enter_async_context(CONTENDERS[n](url, size)) for n in names}
        for operation in operations.values():
            await run_tasks(operation, tasks, per_slice)  # warm up
        for index in range(rounds):
            order = names[index % len(names) :] + names[: index % len(names)]
            seconds = dict.fromkeys(names, 0.0)
            for _ in range(slices):
                for name in order:
                    gc.collect()
                    elapsed, times = await run_tasks(operations[name], tasks, per_slice)
                    seconds[name] += elapsed
                    latencies[name] += times
            for name in names:
                spent[name].append(seconds[name])
    results: dict[str, object] = {}
    for name in POOLS:
        if name not in spent:
            results[name] = "not installed"
            continue
        rates = [tasks * per_slice * slices / seconds for seconds in spent[name]]
        cuts = statistics.quantiles(latencies[name], n=100)
        results[name] = {
            "ops_per_s": statistics.median(rates),
            "rates": rates,
            "p50_s": cuts[49],
            "p99_s": cuts[98],
        }
    return results


# -- routing --------------------------------------------------------------------------


async def read_row(lease: AbstractAsyncContextManager[AsyncConnection]) -> None:
    async with lease as conn:
        row = await conn.one(by_key, 1)
    if row[0] != 1:
        raise AssertionError(f"read the wrong row: {row!r}")


async def timed_reads(
    lease: Callable[[], AbstractAsyncContextManager[AsyncConnection]], tasks: int, per_task: int
) -> float:
    """Seconds per read, ``tasks`` tasks each reading ``per_task`` times."""

    async def loop() -> None:
        for _ in range(per_task):
            await read_row(lease())

    began = time.perf_counter()
    async with asyncio.timeout(300):
        await asyncio.gather(*(loop() for _ in range(tasks)))
    return (time.perf_counter() - began) / (tasks * per_task)


async def bare_checkouts(
    lease: Callable[[], AbstractAsyncContextManager[AsyncConnection]], count: int
) -> float:
    """The best of 5 times per checkout and return, with no statement, in one task."""
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(count):
            async with lease():
                pass
        best = min(best, (time.perf_counter() - began) / count)
    return best


async def measure_routing(
    url: str, replica: str, tasks_list: list[int], reads: int, rounds: int, slices: int
) -> dict[str, dict[str, float]]:
    """Per task count: seconds per read through the router and through its replica's pool."""
    size = max(tasks_list)
    config = CqrsConfig(
        primary_conninfo=url,
        primary_max_size=2,
        replica_conninfos=[replica],
        replica_max_size_each=size,
    )
    results: dict[str, dict[str, float]] = {}
    async with AsyncCqrs(config) as cqrs:
        replicas = cqrs._replicas
        assert replicas is not None
        pool: AsyncPool = replicas._pools[0]
        contenders = {"AsyncCqrs.read()": cqrs.read, "AsyncPool": pool.connection}
        for tasks in tasks_list:
            per_slice = max(1, reads // slices // tasks)
            for lease in contenders.values():
                await timed_reads(lease, tasks, per_slice)  # warm up, connections open
            times: dict[str, list[float]] = {name: [] for name in contenders}
            for round_ in range(rounds):
                names = list(contenders)
                order = names[round_ % 2 :] + names[: round_ % 2]
                spent = dict.fromkeys(names, 0.0)
                for _ in range(slices):
                    for name in order:
                        gc.collect()
                        spent[name] += await timed_reads(contenders[name], tasks, per_slice)
                for name in names:
                    times[name].append(spent[name] / slices)
            results[f"{tasks} tasks"] = {name: statistics.median(t) for name, t in times.items()}
            if pool.stats().in_use:
                raise AssertionError("a connection was not returned")
        count = max(1, reads // 10)
        bare = {name: await bare_checkouts(lease, count) for name, lease in contenders.items()}
        results["no I/O"] = bare
        # The routing's own time (no I/O) as a share of one read through the
        # pool: the event loop runs all Python code in turn, so it adds to
        # the time per read at any number of tasks.
        extra = bare["AsyncCqrs.read()"] - bare["AsyncPool"]
        for tasks in tasks_list:
            results[f"{tasks} tasks"]["routing share"] = (
                extra / results[f"{tasks} tasks"]["AsyncPool"]
            )
        if cqrs.stats().healthy_replica_count != 1:
            raise AssertionError("the replica left the rotation: reads went to the primary")
    return results


# -- reporting ------------------------------------------------------------------------


def report_pools(size: int, tasks: int, results: dict[str, object]) -> None:
    """A Markdown table: median rate, each round's rate, p50 and p99 of one operation."""
    lines = [
        f"\npool size {size}, {tasks} tasks: checkout + SELECT 1 + return",
        "| pool | ops/s (median) | rounds | p50 | p99 |",
        "|---|---|---|---|---|",
    ]
    for name, outcome in results.items():
        cells = [name, str(outcome), "", "", ""]
        if isinstance(outcome, dict):
            cells[1:] = [
                f"{outcome['ops_per_s']:,.0f}",
                " ".join(f"{rate / 1e3:.1f}k" for rate in outcome["rates"]),
                f"{outcome['p50_s'] * 1e3:.2f} ms",
                f"{outcome['p99_s'] * 1e3:.2f} ms",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))


def report_routing(results: dict[str, dict[str, float]]) -> None:
    print("\nrouting: a primary-key read through AsyncCqrs.read() and through its replica's pool")
    for part, outcome in results.items():
        ours, pool = outcome["AsyncCqrs.read()"], outcome["AsyncPool"]
        what = "checkout + return" if part == "no I/O" else "per read"
        share = f"   routing share {outcome['routing share']:.1%}" if part != "no I/O" else ""
        print(
            f"  {part:<10} {what:<18} router {ours * 1e6:8.1f} µs   pool {pool * 1e6:8.1f} µs"
            f"   {(ours / pool - 1) * 100:+.1f} %{share}"
        )


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    per_task, rounds, reads = (5, 1, 20) if args.quick else (args.ops, args.rounds, args.reads)
    results: dict[str, object] = {}
    pools = await measure_pools(args.pg_url, args.size, args.tasks, per_task, rounds, 10)
    report_pools(args.size, args.tasks, pools)
    results["pool"] = pools
    if args.replica_url:
        prepare(args.pg_url, [args.replica_url], TABLE)
        tasks = [1, args.size]
        routing = await measure_routing(args.pg_url, args.replica_url, tasks, reads, rounds, 10)
        report_routing(routing)
        results["routing"] = routing
    else:
        print("\nrouting skipped: pass --replica-url or set REPODB_TEST_PG_REPLICA_URLS")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    replicas = os.environ.get("REPODB_TEST_PG_REPLICA_URLS", "").split()
    parser.add_argument("--replica-url", default=replicas[0] if replicas else None)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--size", type=int, default=10, help="connections per pool")
    parser.add_argument("--ops", type=int, default=300, help="operations per task per round")
    parser.add_argument("--reads", type=int, default=4000, help="routing reads per round")
    args = parse(parser)
    print("\n".join(platform_versions(args.pg_url)))
    results = asyncio.run(main_async(args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
