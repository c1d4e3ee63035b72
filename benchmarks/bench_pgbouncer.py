"""repodb through PgBouncer in transaction mode: errors under load, and the cost of not preparing.

Why: a transaction pooler hands each transaction (and each statement outside
one) whichever server connection is free, so nothing may live in the session:
repodb, given ``pooler=transaction`` in the URL, prepares nothing on the
server and sets its statement timeout per transaction. This measures what that
costs and checks that it holds under load:

- ``get``: ``repo.get`` by key on one connection, microseconds per call
  (median of the rounds): straight to the server (prepared after five
  runs, repodb's default), straight to the server with ``pooler=transaction``
  (the cost of not preparing alone), through PgBouncer, and through
  PgBouncer with a statement timeout (sent in the same pipeline).
- ``mix``: THREADS threads (and as many asyncio tasks on an ``AsyncRepo``),
  each running STATEMENTS mixed Repo operations through one pool on
  PgBouncer: gets by key, inserts, transactions (insert, then get), streams of
  100 rows in batches of 25 outside a transaction, and lists. Every result is
  checked (the key read back, a ``timestamptz`` equal to the one written and
  in UTC, the row counts); any error is counted by class, and the script
  exits 1 if there is one.
- ``timeout``: a ``pg_sleep(5)`` under a 0.2 s statement timeout through
  PgBouncer, outside and inside a transaction: seconds until
  ``StatementTimeout``.

Usage::

    python benchmarks/bench_pgbouncer.py            # URLs from the environment (scripts/test's)
    python benchmarks/bench_pgbouncer.py --threads 16 --statements 1000 --rounds 5
    python benchmarks/bench_pgbouncer.py --quick --json out.json    # a smoke test

The URLs come from ``--pg-url`` and ``--bouncer-url`` or from
``REPODB_TEST_PG_URL`` and ``REPODB_TEST_PGBOUNCER_URL`` (``scripts/pgbouncer
env``); ``pooler=transaction`` is added here.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repodb import AsyncPool, AsyncRepo, Error, Repo, Request, StatementTimeout, connect
from repodb.pool import Pool
from repodb.query import Query, query
from repodb.schema import Col, Schema, field

SEED = 1000
STREAM_ROWS = 100


class PgbEvent(Schema, table="bench_pgb_events"):
    id: Col[int | None] = field(primary_key=True, default=None)
    worker: Col[int]
    n: Col[int]
    at: Col[dt.datetime]


DDL = [
    "DROP TABLE IF EXISTS bench_pgb_events",
    "CREATE TABLE bench_pgb_events (id bigserial PRIMARY KEY, worker int NOT NULL,"
    " n int NOT NULL, at timestamptz NOT NULL)",
    "INSERT INTO bench_pgb_events (worker, n, at)"
    f" SELECT 0, g, now() FROM generate_series(1, {SEED}) g",
]


def pooled(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "pooler=transaction"


def new_event(worker: int, n: int) -> PgbEvent:
    # Microseconds are what timestamptz keeps; a zone far from UTC shows a
    # value that was not turned to UTC.
    at = dt.datetime.now(dt.timezone(dt.timedelta(hours=-9, minutes=-30)))
    return PgbEvent(worker=worker, n=n, at=at)


def check_event(sent: PgbEvent, got: PgbEvent) -> None:
    if got.at != sent.at or got.at.tzinfo is not dt.UTC or got.n != sent.n or got.id is None:
        raise AssertionError(f"wrote {sent!r}, read back {got!r}")


def check_rows(rows: list[PgbEvent], first: int) -> None:
    if [r.id for r in rows] != list(range(first, first + STREAM_ROWS)):
        raise AssertionError(f"stream from {first}: got {len(rows)} rows")


def key(worker: int, n: int) -> int:
    return (worker * 7919 + n * 104729) % SEED + 1


def window(first: int) -> Query[PgbEvent]:
    last = first + STREAM_ROWS - 1
    return query(PgbEvent).where(PgbEvent.id >= first, PgbEvent.id <= last).order_by(PgbEvent.id)


def mine(worker: int) -> Query[PgbEvent]:
    return query(PgbEvent).where(worker=worker).limit(20)


# -- get by key ---------------------------------------------------------------------


def time_gets(url: str, gets: int, statement_timeout: float | None) -> float:
    """Microseconds per ``repo.get`` on one connection, after a warm-up."""
    with connect(url, statement_timeout=statement_timeout) as conn:
        repo = Repo(conn)
        for n in range(10):
            repo.get(PgbEvent, key(0, n))
        start = time.perf_counter()
        for n in range(gets):
            k = key(1, n)
            if repo.get(PgbEvent, k).id != k:
                raise AssertionError("wrong row")
        return (time.perf_counter() - start) / gets * 1e6


def bench_get(pg_url: str, bouncer_url: str, gets: int, rounds: int) -> dict[str, Any]:
    contenders: dict[str, Callable[[], float]] = {
        "direct (prepared)": lambda: time_gets(pg_url, gets, None),
        "direct, pooler=transaction": lambda: time_gets(pooled(pg_url), gets, None),
        "PgBouncer": lambda: time_gets(pooled(bouncer_url), gets, None),
        "PgBouncer, statement_timeout": lambda: time_gets(pooled(bouncer_url), gets, 30.0),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(contenders[name]())
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["direct (prepared)"]
    return {name: {"us": m, "ratio": m / base} for name, m in medians.items()}


# -- the mixed load -----------------------------------------------------------------


class Tally:
    """Operations done and errors seen, by kind, from every thread or task."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.first_error = ""

    def note(self, kind: str, error: BaseException | None) -> None:
        with self.lock:
            self.done[kind] += 1
            if error is not None:
                self.errors[type(error).__name__] += 1
                self.first_error = self.first_error or f"{kind}: {error!r}"

    def report(self, seconds: float, workers: int) -> dict[str, Any]:
        total = sum(self.done.values())
        return {
            "workers": workers,
            "statements": total,
            "errors": sum(self.errors.values()),
            "errors by class": dict(self.errors),
            "first error": self.first_error,
            "by kind": dict(self.done),
            "seconds": seconds,
            "per second": total / seconds,
        }


KINDS = ["get", "get", "get", "get", "insert", "insert", "transaction", "transaction"]
KINDS += ["stream", "list"]


def sync_worker(repo: Repo, worker: int, statements: int, tally: Tally) -> None:
    for n in range(statements):
        kind = KINDS[(worker + n) % len(KINDS)]
        error: BaseException | None = None
        try:
            if kind == "get":
                if repo.get(PgbEvent, key(worker, n)).id != key(worker, n):
                    raise AssertionError("wrong row")
            elif kind == "insert":
                sent = new_event(worker, n)
                check_event(sent, repo.insert(sent))
            elif kind == "transaction":
                with repo.transaction() as tx:
                    sent = new_event(worker, n)
                    got = tx.insert(sent)
                    check_event(sent, tx.get(PgbEvent, got.id))
            elif kind == "stream":
                with repo.stream(window(key(worker, n) % 800 + 1), batch_size=25) as rows:
                    check_rows(list(rows), key(worker, n) % 800 + 1)
            else:
                repo.all(mine(worker))
        except (Error, AssertionError) as e:
            error = e
        tally.note(kind, error)


async def async_worker(repo: AsyncRepo, worker: int, statements: int, tally: Tally) -> None:
    for n in range(statements):
        kind = KINDS[(worker + n) % len(KINDS)]
        error: BaseException | None = None
        try:
            if kind == "get":
                if (await repo.get(PgbEvent, key(worker, n))).id != key(worker, n):
                    raise AssertionError("wrong row")
            elif kind == "insert":
                sent = new_event(worker, n)
                check_event(sent, await repo.insert(sent))
            elif kind == "transaction":
                async with repo.transaction() as tx:
                    sent = new_event(worker, n)
                    got = await tx.insert(sent)
                    check_event(sent, await tx.get(PgbEvent, got.id))
            elif kind == "stream":
                async with repo.stream(window(key(worker, n) % 800 + 1), batch_size=25) as rows:
                    check_rows([r async for r in rows], key(worker, n) % 800 + 1)
            else:
                await repo.all(mine(worker))
        except (Error, AssertionError) as e:
            error = e
        tally.note(kind, error)


def written(pg_url: str) -> int:
    with connect(pg_url) as conn:
        count = Request.one("SELECT count(*) FROM bench_pgb_events WHERE worker > 0", row=int)
        return conn.one(count)


def expected_writes(tally: Tally) -> int:
    return tally.done["insert"] + tally.done["transaction"]


def bench_mix_sync(bouncer_url: str, threads: int, statements: int) -> Tally:
    tally = Tally()
    with Pool(pooled(bouncer_url), max_size=threads, statement_timeout=30.0) as pool:
        repo = Repo(pool)
        workers = [
            threading.Thread(target=sync_worker, args=(repo, w + 1, statements, tally))
            for w in range(threads)
        ]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    return tally


async def bench_mix_async(bouncer_url: str, tasks: int, statements: int) -> Tally:
    tally = Tally()
    async with AsyncPool(pooled(bouncer_url), max_size=tasks, statement_timeout=30.0) as pool:
        repo = AsyncRepo(pool)
        await asyncio.gather(*(async_worker(repo, w + 1, statements, tally) for w in range(tasks)))
    return tally


def bench_mix(pg_url: str, bouncer_url: str, workers: int, statements: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in ("threads", "asyncio tasks"):
        with connect(pg_url) as conn:
            conn.exec(Request.exec("DELETE FROM bench_pgb_events WHERE worker > 0"))
        start = time.perf_counter()
        if name == "threads":
            tally = bench_mix_sync(bouncer_url, workers, statements)
        else:
            tally = asyncio.run(bench_mix_async(bouncer_url, workers, statements))
        report = tally.report(time.perf_counter() - start, workers)
        rows = written(pg_url)
        if not tally.errors and rows != expected_writes(tally):
            report["errors"] = 1
            report["first error"] = f"{rows} rows written, {expected_writes(tally)} expected"
        results[name] = report
    return results


# -- the timeout --------------------------------------------------------------------


def bench_timeout(bouncer_url: str) -> dict[str, float]:
    sleep = Request.exec("SELECT pg_sleep(5)")
    seconds: dict[str, float] = {}
    with connect(pooled(bouncer_url), statement_timeout=0.2) as conn:
        for where in ("outside a transaction", "in a transaction"):
            start = time.perf_counter()
            try:
                if where == "in a transaction":
                    with conn.transaction():
                        conn.exec(sleep)
                else:
                    conn.exec(sleep)
            except StatementTimeout:
                seconds[where] = time.perf_counter() - start
            else:
                raise AssertionError(f"pg_sleep(5) {where} was not cancelled")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-url", default=os.environ.get("REPODB_TEST_PG_URL"))
    parser.add_argument("--bouncer-url", default=os.environ.get("REPODB_TEST_PGBOUNCER_URL"))
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--statements", type=int, default=1000, help="per thread (and task)")
    parser.add_argument("--gets", type=int, default=2000, help="gets per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes (all the threads): a smoke test"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not args.pg_url or not args.bouncer_url:
        parser.error("--pg-url and --bouncer-url (or their environment variables) are needed")
    if args.quick:
        args.statements, args.gets, args.rounds = 30, 50, 1
    with connect(args.pg_url) as conn:
        for sql in DDL:
            conn.exec(Request.exec(sql))
    try:
        results = {
            "get": bench_get(args.pg_url, args.bouncer_url, args.gets, args.rounds),
            "mix": bench_mix(args.pg_url, args.bouncer_url, args.threads, args.statements),
            "timeout": bench_timeout(args.bouncer_url),
        }
    finally:
        with connect(args.pg_url) as conn:
            conn.exec(Request.exec("DROP TABLE IF EXISTS bench_pgb_events"))
    print(f"repo.get by key, one connection, median of {args.rounds} rounds of {args.gets}:")
    for name, r in results["get"].items():
        print(f"  {name:30} {r['us']:8.1f} us  {r['ratio']:5.2f}x")
    for name, r in results["mix"].items():
        print(
            f"mix, {r['workers']} {name} x {args.statements}: {r['statements']} statements,"
            f" {r['errors']} errors {r['errors by class'] or ''}, {r['seconds']:.1f} s"
            f" ({r['per second']:.0f}/s) {r['first error']}"
        )
    for where, s in results["timeout"].items():
        print(f"statement_timeout 0.2 s, pg_sleep(5) {where}: StatementTimeout after {s:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if any(r["errors"] for r in results["mix"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
