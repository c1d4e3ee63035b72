"""What async CQRS routing costs over the async pool, in client instructions (callgrind).

Why instructions: on a machine shared with other work, the wall time of a
read swings by more than the 5 % routing target (issue 12), and with 10
tasks the event loop's one thread is the bottleneck, so every instruction
the client adds shows in full. Callgrind counts them whatever the load.

What runs: ``await repo.one(by_key, 1)`` on one replica, through
``AsyncRepo(AsyncCqrs)`` whose one replica it is ("router"), and through
``AsyncRepo`` on that very replica's ``AsyncPool`` inside the same router
("pool"), so both processes hold the same connections, probes and tasks
and differ only in the routing. ``--bare`` measures a checkout and return
with no statement instead. Each contender runs twice under valgrind, with
N=1000 and N=3000 reads (``--reads``) spread over ``--tasks`` tasks;
collection is switched on (``callgrind_control -i on``) only around the
timed loop, after a warm-up that opened every connection, and the probes'
``check_interval`` is an hour so none runs inside it. The cost of one read
is ``(count(3000) - count(1000)) / 2000``: whatever the loop costs once
(starting the tasks, switching collection) cancels out.

Usage (valgrind's ``callgrind_control`` on the PATH)::

    python benchmarks/callgrind_router.py \\
        --pg-url postgresql://postgres@127.0.0.1:55432/repodb_test \\
        --replica-url postgresql://postgres@127.0.0.1:55433/repodb_test [--tasks 10] [--bare]

The URLs may also come from ``REPODB_TEST_PG_URL`` and the first of
``REPODB_TEST_PG_REPLICA_URLS``. ``--quick`` runs each contender a few
times without valgrind and counts nothing (``tests/test_benchmarks.py`` runs
it); ``--keep DIR`` keeps callgrind's files for ``callgrind_annotate``.
``--child`` (internal) is one measured process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cqrs import prepare

from repodb import Request
from repodb.cqrs_async import AsyncCqrs, CqrsConfig
from repodb.repo_async import AsyncRepo
from repodb.types import tup

CONTENDERS = ("pool", "router")
TABLE = "bench_callgrind_router_items"
# read_only: the Repo checks it out for reading, which the router sends to the replica.
by_key = Request.one(
    f"SELECT id, name FROM {TABLE} WHERE id = ?", params=int, row=tup(int, str), read_only=True
)
# Python's allocator under valgrind: plain malloc keeps the counts comparable run to run.
CHILD_ENV = {"PYTHONMALLOC": "malloc"}


def collect(on: bool) -> None:
    """Switch callgrind's collection in this process; returns once valgrind has done it.

    ``callgrind_control`` needs the program to reach valgrind's scheduler:
    short sleeps let it in while costing a few thousand instructions each,
    the same in every run.
    """
    control = subprocess.Popen(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        stdout=subprocess.DEVNULL,
    )
    while control.poll() is None:
        time.sleep(0.001)
    if control.returncode != 0:
        raise SystemExit("callgrind_control failed: is this process running under callgrind?")


async def child(
    url: str, replica: str, contender: str, reads: int, tasks: int, bare: bool, toggle: bool
) -> None:
    """One measured process: ``reads`` reads (or bare checkouts) through ``contender``."""
    config = CqrsConfig(
        primary_conninfo=url,
        primary_max_size=1,
        replica_conninfos=[replica],
        replica_max_size_each=tasks,
        check_interval=3600.0,
    )
    async with AsyncCqrs(config) as cqrs:
        assert cqrs._replicas is not None
        source = cqrs if contender == "router" else cqrs._replicas._pools[0]
        repo = AsyncRepo(source)
        per_task = reads // tasks

        async def one_task(count: int) -> None:
            for _ in range(count):
                if bare:
                    async with source.checkout("read"):
                        pass
                    continue
                row = await repo.one(by_key, 1)
                if row[0] != 1:
                    raise AssertionError(f"read the wrong row: {row!r}")

        async def run(count: int) -> None:
            async with asyncio.timeout(600):
                await asyncio.gather(*(one_task(count) for _ in range(tasks)))

        # Warm up: every connection opened and used, the first probes answered.
        await asyncio.sleep(0.2)
        await run(20)
        if cqrs.stats().healthy_replica_count != 1:
            raise SystemExit("the replica is not in rotation: reads would go to the primary")
        if toggle:
            collect(True)
        await run(per_task)
        if toggle:
            collect(False)
        stats = cqrs.stats()
        if stats.replicas[0].pool.in_use or stats.primary.total:
            raise AssertionError("a read went to the primary, or a connection was not returned")


def instructions(out: Path) -> int:
    """The total ``Ir`` of a callgrind output file."""
    text = out.read_text()
    found = re.search(r"^totals: (\d+)", text, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no totals in {out}")
    return int(found.group(1))


def counted(out: Path, script: str, child: list[str], env: dict[str, str]) -> int:
    """The instructions ``script`` collects, run with ``child`` arguments under callgrind.

    Collection starts switched off: the script switches it on around what
    it measures (``collect``). ``env`` is added to this process's
    environment; the child's stderr (valgrind's report) is dropped.
    """
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        script,
        *child,
    ]
    subprocess.run(
        command, check=True, timeout=1800, env={**os.environ, **env}, stderr=subprocess.DEVNULL
    )
    return instructions(out)


def measure(args: argparse.Namespace, contender: str, reads: int, where: Path) -> int:
    """The instructions collected in one child process under callgrind."""
    child = [
        "--child",
        contender,
        "--reads",
        str(reads),
        str(reads),
        "--tasks",
        str(args.tasks),
        "--pg-url",
        args.pg_url,
        "--replica-url",
        args.replica_url,
        *(["--bare"] if args.bare else []),
    ]
    return counted(where / f"callgrind.{contender}.{reads}.out", __file__, child, CHILD_ENV)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    replicas = os.environ.get("REPODB_TEST_PG_REPLICA_URLS", "").split()
    parser.add_argument("--pg-url", default=os.environ.get("REPODB_TEST_PG_URL"))
    parser.add_argument("--replica-url", default=replicas[0] if replicas else None)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--reads", type=int, nargs=2, default=[1000, 3000], metavar="N")
    parser.add_argument("--bare", action="store_true", help="checkout and return, no statement")
    parser.add_argument("--quick", action="store_true", help="run once, no valgrind: a smoke test")
    parser.add_argument("--keep", type=Path, help="keep callgrind's output files in this folder")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.pg_url or not args.replica_url:
        parser.error("a primary and a replica URL are needed (or REPODB_TEST_PG_*)")
    if args.child:
        reads = args.reads[0]
        asyncio.run(
            child(args.pg_url, args.replica_url, args.child, reads, args.tasks, args.bare, True)
        )
        return
    prepare(args.pg_url, [args.replica_url], TABLE)
    if args.quick:
        for contender in CONTENDERS:
            for bare in (False, True):
                asyncio.run(child(args.pg_url, args.replica_url, contender, 40, 2, bare, False))
        print("every contender ran, reads and bare checkouts (nothing counted)")
        return
    low, high = args.reads
    what = "checkout + return" if args.bare else "repo.one by key"
    print(f"{what}, {args.tasks} tasks: client instructions per operation")
    per_op: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as temporary:
        where = args.keep or Path(temporary)
        for contender in CONTENDERS:
            counts = [measure(args, contender, n, where) for n in (low, high)]
            per_op[contender] = (counts[1] - counts[0]) / (high - low)
            print(f"  {contender:<7} {per_op[contender]:>10,.0f}   ({counts[0]:,} / {counts[1]:,})")
    extra = per_op["router"] - per_op["pool"]
    print(f"  router - pool: {extra:+,.0f} ({extra / per_op['pool']:+.1%} of the pool's)")


if __name__ == "__main__":
    main()
