"""Get by key against the raw drivers, in client instructions (callgrind).

Why instructions: on a machine shared with other work a get's wall time
swings by more than the gap measured (issue 14's targets: at most 1.3x raw
on SQLite, 1.1x on PostgreSQL), while callgrind counts the client's
instructions whatever the load. The server's work (PostgreSQL) is not
counted: this measures what repodb adds on the client.

What runs: ``bench_repo.py``'s own "get" operations, on its realistic
``bench_users`` table (10,000 rows): the raw driver (sqlite3, or a plain
``psycopg.Cursor`` on the connection under repodb's) building a slotted
object, against ``repo.get(BenchUser, id)``; and with ``--async`` the same
on ``bench_async_repo.py``'s async contenders (sqlite3 on one executor
thread; psycopg's ``AsyncRawCursor``), against ``await repo.get(...)``.
Each contender runs in its own process under valgrind, twice, with N and M
gets (``--gets``, 200 and 1,200 by default): collection is switched on only
around the timed loop, after a warm-up of 100 gets, and the cost of one get
is ``(count(M) - count(N)) / (M - N)``, so whatever the loop costs once
cancels out. ``PYTHONHASHSEED=0`` keeps runs comparable; ``--malloc`` runs
Python on plain ``malloc`` (as ``callgrind_router.py`` does), which adds
about 12,000 instructions per get to every contender.

Usage (valgrind's ``callgrind_control`` on the PATH)::

    python benchmarks/callgrind_get.py                    # SQLite
    python benchmarks/callgrind_get.py --pg-url postgresql://postgres@127.0.0.1:55432/repodb_test
    python benchmarks/callgrind_get.py --async --no-sqlite --pg-url ...

``--quick`` runs each contender a few times without valgrind and counts
nothing (``tests/test_benchmarks.py`` runs it); ``--keep DIR`` keeps
callgrind's files for ``callgrind_annotate``. ``--child`` (internal) is one
measured process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, cast

from bench_repo import Admin, check, postgresql_database, sqlite_database
from callgrind_router import collect, counted
from repo_kit import Database, Sizes, Workload

CONTENDERS = ("raw", "repodb")
# The users bench_repo seeds; the inserts are not needed here.
SIZES = Sizes(insert_all=1, inserts=1)
CHILD_ENV = {"PYTHONHASHSEED": "0"}
WARM_UP = 100


Run = Callable[[range], list[object]]


@contextmanager
def _sync_run(db: Database, contender: str) -> Iterator[Run]:
    """The contender's get run for each number of a range; the results."""
    from repo_contenders import raw_and_repodb

    work = Workload.draw(SIZES)
    made = raw_and_repodb(db, work)
    try:
        op = next(c for c in made if c.name == contender).ops()["get"]
        yield lambda part: [op(k) for k in part]
    finally:
        for c in made:
            c.close()


@contextmanager
def _async_run(db: Database, contender: str) -> Iterator[Run]:
    """The async contender's gets, a range of them awaited in one run of the event loop."""
    import async_repo_contenders as contenders

    import repodb

    work = Workload.draw(SIZES)
    with asyncio.Runner() as runner:
        conn: repodb.AsyncConnection = runner.run(repodb.connect_async(db.url))
        ours = contenders._repodb(runner.run, conn, work)
        theirs: Any
        if db.kind == "sqlite":
            theirs = runner.run(contenders._sqlite_on_thread(runner.run, db, work))
        else:
            from repodb.driver.postgresql_async import AsyncPostgresConnection

            driver = conn._driver
            assert isinstance(driver, AsyncPostgresConnection)
            theirs = contenders._psycopg(runner.run, driver._raw, work)
        chosen = ours if contender == "repodb" else theirs
        get = cast(Callable[[int], Awaitable[object]], chosen.ops()["get"])

        async def loop(part: range) -> list[object]:
            return [await get(k) for k in part]

        try:
            # One call runs a whole range, so the event loop's start is paid once.
            yield lambda part: runner.run(loop(part))
        finally:
            theirs.close()
            ours.close()


def child(db: Database, contender: str, gets: int, is_async: bool, toggle: bool) -> None:
    """One measured process: ``gets`` gets by ``contender``, collected by callgrind."""
    opened = _async_run if is_async else _sync_run
    work = Workload.draw(SIZES)
    with opened(db, contender) as run:
        for k, result in enumerate(run(range(WARM_UP))):
            check("get", result, k, work)
        gc.collect()
        gc.freeze()
        if toggle:
            collect(True)
        run(range(WARM_UP, WARM_UP + gets))
        if toggle:
            collect(False)
        gc.unfreeze()


def measure(args: argparse.Namespace, db: Database, contender: str, gets: int, where: Path) -> int:
    """The instructions of ``gets`` gets by ``contender``, in a child process under callgrind."""
    mode = "async" if args.is_async else "sync"
    child = ["--child", contender, "--database", json.dumps(db.__dict__), "--gets", str(gets)]
    child += [str(gets), *(["--async"] if args.is_async else [])]
    env = {**CHILD_ENV, **({"PYTHONMALLOC": "malloc"} if args.malloc else {})}
    out = where / f"callgrind.{db.kind}.{mode}.{contender}.{gets}.out"
    return counted(out, __file__, child, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-url", default=os.environ.get("REPODB_TEST_PG_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--async", dest="is_async", action="store_true")
    parser.add_argument("--gets", type=int, nargs=2, default=[200, 1200], metavar="N")
    parser.add_argument("--only", choices=CONTENDERS, help="one contender")
    parser.add_argument("--malloc", action="store_true", help="Python on plain malloc")
    parser.add_argument("--quick", action="store_true", help="run once, no valgrind: a smoke test")
    parser.add_argument("--keep", type=Path, help="keep callgrind's output files in this folder")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        db = Database(**json.loads(args.database))
        child(db, args.child, args.gets[0], args.is_async, True)
        return
    with ExitStack() as stack:
        databases: list[Database] = []
        if not args.no_sqlite:
            databases.append(sqlite_database(stack.enter_context(tempfile.TemporaryDirectory())))
        if args.pg_url:
            databases.append(stack.enter_context(postgresql_database(args.pg_url)))
        where = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for db in databases:
            admin = Admin(db)
            admin.seed(Workload.draw(SIZES))
            admin.close()
            chosen = [args.only] if args.only else list(CONTENDERS)
            if args.quick:
                for contender in chosen:
                    child(db, contender, 20, args.is_async, False)
                print(f"{db.kind}: every contender ran (nothing counted)")
                continue
            low, high = args.gets
            mode = "async" if args.is_async else "sync"
            print(f"{db.kind}, {mode}: client instructions per get by key")
            for contender in chosen:
                counts = [measure(args, db, contender, n, where) for n in (low, high)]
                per_get = (counts[1] - counts[0]) / (high - low)
                print(f"  {contender:8} {per_get:>10,.0f}   ({counts[0]:,} / {counts[1]:,})")


if __name__ == "__main__":
    main()
