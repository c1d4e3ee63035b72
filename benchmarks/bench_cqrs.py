"""CQRS read throughput: the router's overhead, and reads while a replica dies and comes back.

Why: ``Repo(cqrs)`` must cost next to nothing over ``Repo(pool)`` (issue 5:
routing overhead at most 5 %), and losing a replica must not take reads
down with it (no second below half the steady rate once the failure is
detected). Two parts:

- overhead: the same read (``repo.one`` of one row by key) on replica 1,
  through ``Repo(pool)`` and through ``Repo(cqrs)`` whose one replica it
  is, so the only difference is the routing. (Not the primary listed as its
  own replica: the router checks each replica's role and sends a primary
  no reads as a replica.) Rounds
  alternate the two, in 1 and in N threads; the median of the rounds is
  reported. Throughput on a busy machine swings by tens of percent from
  round to round, so the routing's cost is also measured without I/O: a
  checkout and return through each, in one thread, best of 5; its "routing
  share" is that extra time relative to one read's time per thread.
- failover (``--failover``, needs the test cluster's ``scripts/pg-cluster``
  and its replicas): N threads read through ``Repo(cqrs)`` over the
  replicas while replica 1 is SIGKILLed, left down, and started again;
  reads per second are printed as a series, with the lowest second after
  the failure was detected relative to the steady rate before it.

Every read's result is checked; a failed read is counted and printed. Times
are printed, never asserted.

Usage::

    python benchmarks/bench_cqrs.py --pg-url postgresql://postgres@127.0.0.1:58432/repodb_test \
        --replica-urls postgresql://postgres@127.0.0.1:58433/repodb_test
    eval $(scripts/pg-cluster env)   # a cluster of your own: the failover part kills a node
    python benchmarks/bench_cqrs.py --failover
    python benchmarks/bench_cqrs.py --quick --json out.json    # a smoke test

The URLs may also come from ``REPODB_TEST_PG_URL`` and ``REPODB_TEST_PG_REPLICA_URLS``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, LiteralString

from repodb import Connection, Repo, Request
from repodb.cqrs import Cqrs, CqrsConfig
from repodb.pool import Pool
from repodb.query import query
from repodb.schema import Col, Schema, field

CLUSTER = Path(__file__).resolve().parents[1] / "scripts" / "pg-cluster"


class BenchItem(Schema, table="bench_cqrs_items"):
    id: Col[int | None] = field(primary_key=True, default=None)
    name: Col[str]


by_key = query(BenchItem).where(BenchItem.id == 1)


def prepare(url: str, replicas: Sequence[str], table: LiteralString = "bench_cqrs_items") -> None:
    """The one-row ``table``, created on the primary and waited for on each replica."""
    seen_on_replica = Request.one(f"SELECT count(*) FROM {table} WHERE id = 1", row=int)
    with Pool(url, max_size=1) as pool, pool.connection() as conn:
        conn.exec(Request.exec(f"DROP TABLE IF EXISTS {table}"))
        conn.exec(Request.exec(f"CREATE TABLE {table} (id int PRIMARY KEY, name text)"))
        conn.exec(Request.exec(f"INSERT INTO {table} VALUES (1, 'x')"))
    for replica in replicas:
        deadline = time.monotonic() + 30.0
        with Pool(replica, max_size=1) as pool:
            while True:
                try:
                    if pool.with_connection(lambda c: c.one(seen_on_replica)) == 1:
                        break
                except Exception:  # the table is not replayed yet
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{replica} did not replay the benchmark table in 30 s")
                time.sleep(0.05)


class Readers:
    """Threads reading through a Repo until stopped; each finished read's time, and errors."""

    def __init__(self, repo: Repo, threads: int) -> None:
        self._repo = repo
        self._stop = threading.Event()
        self.done: list[list[float]] = [[] for _ in range(threads)]
        self.errors: list[str] = []
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]

    def _run(self, index: int) -> None:
        repo, done, now = self._repo, self.done[index], time.monotonic
        while not self._stop.is_set():
            try:
                item = repo.one(by_key)
            except Exception as e:
                self.errors.append(f"{type(e).__name__}: {e}")
                continue
            if item.id != 1:
                raise AssertionError(f"read the wrong row: {item!r}")
            done.append(now())

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30.0)
        if any(t.is_alive() for t in self._threads):
            raise SystemExit("a reader did not come back within 30 s")

    def times(self) -> list[float]:
        return sorted(t for done in self.done for t in done)


def rate(repo: Repo, threads: int, seconds: float) -> float:
    """Reads per second through ``repo`` in ``threads`` threads for ``seconds``."""
    readers = Readers(repo, threads)
    readers.start()
    time.sleep(seconds)
    readers.stop()
    if readers.errors:
        raise SystemExit(f"reads failed: {readers.errors[:3]}")
    return len(readers.times()) / seconds


def overhead(url: str, replica: str, threads: int, seconds: float, rounds: int) -> dict[str, Any]:
    """``Repo(pool)`` against ``Repo(cqrs)`` reading on one replica, interleaved rounds."""
    results: dict[str, Any] = {}
    for n in sorted({1, threads}):
        pool = Pool(replica, max_size=n, min_size=n)
        cqrs = Cqrs(
            CqrsConfig(
                url, primary_max_size=n, replica_conninfos=[replica], replica_max_size_each=n
            )
        )
        try:
            direct, routed = Repo(pool), Repo(cqrs)
            rate(direct, n, seconds / 2)  # warm both: connections open, statements prepared
            rate(routed, n, seconds / 2)
            runs: dict[str, list[float]] = {"Repo(pool)": [], "Repo(cqrs)": []}
            for i in range(rounds):
                order = [("Repo(pool)", direct), ("Repo(cqrs)", routed)]
                for name, repo in order if i % 2 == 0 else order[::-1]:
                    runs[name].append(rate(repo, n, seconds))
            checkout = {
                "Repo(pool)": checkout_cost(pool.connection),
                "Repo(cqrs)": checkout_cost(cqrs.read),
            }
            served = cqrs.stats().replicas[0].pool.total
            if served == 0:
                raise SystemExit("Repo(cqrs) never read from its replica")
        finally:
            pool.shutdown()
            cqrs.shutdown()
        pool_rate = statistics.median(runs["Repo(pool)"])
        cqrs_rate = statistics.median(runs["Repo(cqrs)"])
        results[f"{n} thread{'s' if n > 1 else ''}"] = {
            "Repo(pool)": pool_rate,
            "Repo(cqrs)": cqrs_rate,
            "overhead": 1.0 - cqrs_rate / pool_rate,
            "checkout us": checkout,
            "rounds": runs,
        }
    return results


def checkout_cost(lease: Callable[[], AbstractContextManager[Connection]]) -> float:
    """Microseconds for one checkout and return, no statement: the best of 5 runs of 20000.

    Steadier than a throughput on a busy machine: it runs no I/O.
    """
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(20000):
            with lease():
                pass
        best = min(best, (time.perf_counter() - started) / 20000 * 1e6)
    return best


def cluster(*args: str) -> None:
    subprocess.run([str(CLUSTER), *args], check=True, timeout=120, capture_output=True)


def failover(
    url: str, replicas: Sequence[str], threads: int, before: float, down: float, after: float
) -> dict[str, Any]:
    """Reads per second while replica 1 is SIGKILLed, left down, and started again."""
    cqrs = Cqrs(
        CqrsConfig(
            url,
            replica_conninfos=list(replicas),
            replica_max_size_each=threads,
            check_interval=0.25,
            probe_timeout=1.0,
            connect_timeout=2.0,
        )
    )
    readers = Readers(Repo(cqrs), threads)
    detected: list[float] = []

    def watch() -> None:
        deadline = time.monotonic() + before + down + 30.0
        while time.monotonic() < deadline and not detected:
            if cqrs.stats().replicas[0].down:
                detected.append(time.monotonic())
            time.sleep(0.005)

    try:
        readers.start()
        time.sleep(1.0)  # warm-up, not counted
        start = time.monotonic()
        time.sleep(before)
        killed = time.monotonic()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        cluster("kill-replica", "1")
        try:
            time.sleep(down)
        finally:
            restarting = time.monotonic()
            cluster("start-replica", "1")
        restarted = time.monotonic()
        time.sleep(after)
        end = time.monotonic()
        readers.stop()
        watcher.join(1.0)
    finally:
        cqrs.shutdown()
    times = readers.times()
    seconds = int(end - start)
    series = [0] * seconds
    for t in times:
        if start <= t < start + seconds:
            series[int(t - start)] += 1
    steady = statistics.median(series[: int(before)])
    first_bad = int((detected[0] if detected else killed) - start)
    lowest = min(series[first_bad:])
    return {
        "series": series,
        "steady": steady,
        "killed at": killed - start,
        "detected after": detected[0] - killed if detected else None,
        "start-replica ran from": restarting - start,
        "start-replica returned at": restarted - start,
        "lowest after detection": lowest,
        "lowest relative": lowest / steady,
        "errors": len(readers.errors),
        "first errors": readers.errors[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-url", default=os.environ.get("REPODB_TEST_PG_URL"))
    parser.add_argument(
        "--replica-urls",
        default=os.environ.get("REPODB_TEST_PG_REPLICA_URLS", ""),
        help="space-separated; the failover part kills the first",
    )
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0, help="per overhead round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--failover", action="store_true", help="kill and restart replica 1")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not args.pg_url:
        raise SystemExit("no PostgreSQL URL: pass --pg-url or set REPODB_TEST_PG_URL")
    replicas = args.replica_urls.split()
    if not replicas:
        raise SystemExit("no replica URL: pass --replica-urls or set REPODB_TEST_PG_REPLICA_URLS")
    if args.quick:
        args.seconds, args.rounds = 0.2, 1
    prepare(args.pg_url, replicas)
    results: dict[str, Any] = {
        "overhead": overhead(args.pg_url, replicas[0], args.threads, args.seconds, args.rounds)
    }
    print(f"Read throughput on replica 1, median of {args.rounds} rounds of {args.seconds} s")
    print(
        f"{'':<10} {'Repo(pool)':>12} {'Repo(cqrs)':>12} {'overhead':>9}"
        f" {'checkout+return pool / cqrs':>28} {'routing share':>13}"
    )
    for name, row in results["overhead"].items():
        pool_us, cqrs_us = row["checkout us"]["Repo(pool)"], row["checkout us"]["Repo(cqrs)"]
        # The routing's extra cost per read, relative to one read's time.
        share = (cqrs_us - pool_us) * row["Repo(pool)"] / 1e6 / int(name.split()[0])
        print(
            f"{name:<10} {row['Repo(pool)']:>10.0f}/s {row['Repo(cqrs)']:>10.0f}/s"
            f" {row['overhead']:>8.1%} {pool_us:>15.2f} / {cqrs_us:.2f} us {share:>12.1%}"
        )
    if args.failover:
        before, down, after = (2.0, 2.0, 2.0) if args.quick else (5.0, 5.0, 5.0)
        row = failover(args.pg_url, replicas, args.threads, before, down, after)
        results["failover"] = row
        print(f"\nReads per second, {args.threads} threads, replica 1 SIGKILLed and restarted")
        print(f"{'second':>6} {'reads':>8} {'of steady':>9}  event")
        events: dict[int, list[str]] = {}
        for at, event in (
            (row["killed at"], "kill-replica 1"),
            (row["start-replica ran from"], "start-replica 1 begins"),
            (row["start-replica returned at"], "start-replica 1 returned (streaming)"),
        ):
            events.setdefault(int(at), []).append(f"{event} at {at:.2f} s")
        for i, count in enumerate(row["series"]):
            event = "; ".join(events.get(i, []))
            print(f"{i:>6} {count:>8} {count / row['steady']:>9.0%}  {event}")
        detect = row["detected after"]
        print(
            f"steady {row['steady']:.0f}/s; failure detected after "
            f"{'never' if detect is None else f'{detect * 1000:.0f} ms'}; lowest second after "
            f"that {row['lowest after detection']} ({row['lowest relative']:.0%} of steady); "
            f"failed reads {row['errors']} {row['first errors']}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
