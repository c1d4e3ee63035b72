"""The async Repo against raw psycopg async, raw asyncpg and SQLAlchemy 2's async ORM.

Why: an asyncio application calls ``await repo.get(...)``, not a bare
connection; the question is what the Repo costs over the fastest async code
written by hand, and how it stands against the usual async ORM. The
scenarios, tables, inputs, checks and rules are ``bench_repo.py``'s (same
run, rounds of interleaved slices in a rotated order, medians, results
checked, rows counted after writes); only the contenders differ, each
operation awaited on one event loop (see ``async_repo_contenders.py``).
The ratio's base is raw psycopg async (``AsyncRawCursor``, prepared); on
SQLite it is ``sqlite3`` through a single-thread executor, on MariaDB
asyncmy by hand.

Targets (issue 12): get by key at most 1.2x raw psycopg async on
PostgreSQL, and the async Repo faster than SQLAlchemy's async ORM in every
scenario; (issue 16) on MariaDB get by key at most 1.2x raw asyncmy and
``insert_all`` at most 1.3x its multi-row INSERTs. asyncpg is measured as a candidate second driver.

SQLAlchemy (with greenlet), asyncpg and aiosqlite come with the ``bench``
extra; without them their columns say "not installed".

Usage::

    python benchmarks/bench_async_repo.py                 # SQLite, and PostgreSQL if
                                                          # REPODB_TEST_PG_URL is set
    python benchmarks/bench_async_repo.py --pg-url postgresql://postgres@127.0.0.1:55432/repodb_test
    python benchmarks/bench_async_repo.py --quick --json out.json   # the smoke test's run
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import time
from collections.abc import Awaitable, Callable
from typing import cast

import async_repo_contenders
from bench_repo import Factory, Slices, arguments, measure, versions
from repo_kit import Contender, Database, Op, Workload

NAMES = [
    "raw async",
    "raw asyncpg",
    "repodb async",
    "repodb async (asyncpg)",
    "SQLAlchemy async ORM",
]
TARGETS = {("get", "postgresql"): 1.2, ("get", "mariadb"): 1.2, ("insert_all", "mariadb"): 1.3}
# The optional libraries SQLAlchemy's async ORM needs, by database.
SQLALCHEMY_NEEDS = {
    "sqlite": ("sqlalchemy", "greenlet", "aiosqlite"),
    "postgresql": ("sqlalchemy", "greenlet", "asyncpg"),
    "mariadb": ("sqlalchemy", "greenlet", "asyncmy"),
}


class AsyncSlices(Slices):
    """Each slice awaited on one event loop, the clock read inside it around the awaits only."""

    def __init__(self, runner: asyncio.Runner) -> None:
        self._runner = runner

    def run(self, op: Op, part: range) -> list[object]:
        aop = cast(Callable[[int], Awaitable[object]], op)

        async def results() -> list[object]:
            return [await aop(k) for k in part]

        return self._runner.run(results())

    def timed(self, op: Op, part: range) -> float:
        aop = cast(Callable[[int], Awaitable[object]], op)

        async def seconds() -> float:
            started = time.perf_counter()
            for k in part:
                await aop(k)
            return time.perf_counter() - started

        return self._runner.run(seconds())


def contender_factories(runner: asyncio.Runner) -> tuple[list[Factory], dict[str, str]]:
    """What can run here, and why the rest cannot (a library not installed)."""
    missing: dict[str, str] = {}
    if not _has("asyncpg"):
        missing["raw asyncpg"] = "not installed (asyncpg)"
        missing["repodb async (asyncpg)"] = "not installed (asyncpg)"

    def sqlalchemy(db: Database, work: Workload) -> list[Contender]:
        absent = [m for m in SQLALCHEMY_NEEDS[db.kind] if not _has(m)]
        if absent:
            missing["SQLAlchemy async ORM"] = f"not installed ({', '.join(absent)})"
            return []
        return [async_repo_contenders.sqlalchemy_contender(runner.run, db, work)]

    ours = functools.partial(async_repo_contenders.contenders, runner.run)
    return [ours, sqlalchemy], missing


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def main() -> None:
    args = arguments(__doc__.splitlines()[0] if __doc__ else None, NAMES)
    modules = ("asyncpg", "asyncmy", "sqlalchemy", "aiosqlite")
    print("\n".join(versions(args.pg_url, modules, args.mariadb_url)))
    with asyncio.Runner() as runner:
        factories, missing = contender_factories(runner)
        measure(args, factories, missing, NAMES, TARGETS, AsyncSlices(runner))


if __name__ == "__main__":
    main()
