"""The benchmarks run, as a user runs them, with tiny sizes: they cannot rot unnoticed.

In the Repo and async benchmarks every scenario runs for every contender on
SQLite and on PostgreSQL (the Repo benchmarks on MariaDB too); the script
itself checks each result (rows read back, rows counted after writes). Times
are never asserted: this machine's speed proves nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PGBOUNCER_URL, mariadb_url, pg_url, replica_urls, require

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_repo.py"
SCENARIOS = {"get", "list", "insert_all", "insert", "preload", "preload_n1"}
PEERS = {"SQLAlchemy Core": "sqlalchemy", "SQLAlchemy ORM": "sqlalchemy", "peewee": "peewee"}


def measured_on(
    database: str, tmp_path: Path, script: Path = BENCH, study: str | None = None
) -> dict[str, Any]:
    """``script``'s results on ``database`` alone: scenario -> contender -> seconds.

    ``study``: what ``bench_memory.py`` measures (``records`` or ``stream``).
    """
    first = [study] if study else []
    if database == "sqlite":
        results = run_bench(tmp_path, *first, "--pg-url", "", script=script)
    elif database == "mariadb":
        where = ["--no-sqlite", "--pg-url", "", "--mariadb-url", mariadb_url()]
        results = run_bench(tmp_path, *first, *where, script=script)
    else:
        results = run_bench(tmp_path, *first, "--no-sqlite", "--pg-url", pg_url(), script=script)
    assert list(results) == [database]
    measured: dict[str, Any] = results[database]
    return measured


def assert_every_one_timed(measured: dict[str, Any], names: set[str]) -> None:
    """Every scenario ran for exactly ``names``, each with a positive time."""
    for scenario, outcome in measured.items():
        assert set(outcome) == names, scenario
        for name, seconds in outcome.items():
            assert isinstance(seconds, float), (scenario, name, seconds)
            assert seconds > 0


def run_bench(tmp_path: Path, *args: str, script: Path = BENCH) -> dict[str, Any]:
    out = tmp_path / "results.json"
    # MariaDB only where asked for with --mariadb-url, not from the test cluster's environment.
    env = {k: v for k, v in os.environ.items() if k != "REPODB_TEST_MARIADB_URL"}
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--json", str(out), *args],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    results: dict[str, Any] = json.loads(out.read_text())
    return results


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"])
def test_every_scenario_runs_for_every_contender(database: str, tmp_path: Path) -> None:
    measured = measured_on(database, tmp_path)
    assert set(measured) == SCENARIOS
    # peewee is not measured on MariaDB (SQLAlchemy is the peer there).
    peers = {n: m for n, m in PEERS.items() if not (database == "mariadb" and n == "peewee")}
    installed = [name for name, module in peers.items() if importlib.util.find_spec(module)]
    for scenario, outcome in measured.items():
        runs = ["raw"] if scenario == "preload_n1" else ["raw", "repodb", *installed]
        assert set(outcome) == set(runs), scenario
        for name in runs:
            assert isinstance(outcome[name], float), (scenario, name, outcome[name])
            assert outcome[name] > 0


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_async_benchmark_runs_every_scenario_for_every_contender(
    database: str, tmp_path: Path
) -> None:
    script = BENCH.parent / "bench_async.py"
    measured = measured_on(database, tmp_path, script=script)
    assert set(measured) == {"get", "list", "copy_in", "insert"}
    names = {"raw async", "repodb async", "raw sync", "repodb sync"}
    if database == "postgresql" and importlib.util.find_spec("asyncpg"):
        names |= {"raw asyncpg", "repodb async (asyncpg)"}
    assert_every_one_timed(measured, names)


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"])
def test_the_async_repo_benchmark_runs_every_scenario_for_every_contender(
    database: str, tmp_path: Path
) -> None:
    script = BENCH.parent / "bench_async_repo.py"
    measured = measured_on(database, tmp_path, script=script)
    assert set(measured) == SCENARIOS
    assert measured.pop("preload_n1") == {}  # the raw sync driver's scenario only
    peers = {"SQLAlchemy async ORM": ["sqlalchemy", "greenlet"]}
    if database == "postgresql":
        peers["raw asyncpg"] = ["asyncpg"]
        peers["repodb async (asyncpg)"] = ["asyncpg"]
        peers["SQLAlchemy async ORM"].append("asyncpg")
    elif database == "mariadb":
        peers["SQLAlchemy async ORM"].append("asyncmy")
    else:
        peers["SQLAlchemy async ORM"].append("aiosqlite")
    installed = [n for n, needs in peers.items() if all(map(importlib.util.find_spec, needs))]
    assert_every_one_timed(measured, {"raw async", "repodb async", *installed})


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("study", ["records", "stream"])
def test_the_memory_benchmark_measures_every_case(
    study: str, database: str, tmp_path: Path
) -> None:
    script = BENCH.parent / "bench_memory.py"
    measured = measured_on(database, tmp_path, script=script, study=study)
    if study == "records":
        peers = [n for n, module in PEERS.items() if importlib.util.find_spec(module)]
        names = {"raw", "repodb", *peers}
    else:
        names = {"sync", "async"}
        if database == "postgresql" and importlib.util.find_spec("asyncpg"):
            names.add("async (asyncpg)")
    assert set(measured) == names
    for name, by_rows in measured.items():
        assert list(by_rows) == ["300"], name
        m = by_rows["300"]
        assert set(m) == {"peak", "held", "seconds", "rss"}, name
        assert m["peak"] >= m["held"], (name, m)
        assert m["peak"] > 0, (name, m)
        assert m["seconds"] > 0, (name, m)


def test_the_summary_gives_ranges_over_runs(tmp_path: Path) -> None:
    # Two quick runs of the Repo benchmark on SQLite, summed up as the docs' table.
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        out.mkdir()
        runs.append(run_bench(out, "--pg-url", "", "--only", "raw,repodb"))
        (tmp_path / f"run{i}.json").write_text(json.dumps(runs[-1]))
    done = subprocess.run(
        [sys.executable, str(BENCH.parent / "bench_summary.py"), "run0.json", "run1.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert "SQLite (file, WAL), 2 runs:" in lines
    head = "| scenario | raw | repodb | repodb target | met |"
    assert head in lines
    rows = lines[lines.index(head) + 2 :]
    assert len(rows) == len(SCENARIOS)
    get = next(row for row in rows if row.startswith("| get by primary key |"))
    ratios = [runs[i]["sqlite"]["get"]["repodb"] / runs[i]["sqlite"]["get"]["raw"] for i in (0, 1)]
    low, high = f"{min(ratios):.2f}", f"{max(ratios):.2f}"
    assert (f"({low}-{high}x)" if low != high else f"({low}x)") in get
    assert get.endswith(
        "| ≤ 1.3x | "
        + ("yes" if max(ratios) <= 1.3 else "no" if min(ratios) > 1.3 else "in 1 of 2 runs")
        + " |"
    )


def test_the_async_pool_benchmark_runs_the_pools_and_the_routing(tmp_path: Path) -> None:
    script = BENCH.parent / "bench_async_pool.py"
    urls = ["--pg-url", pg_url(), "--replica-url", replica_urls()[0]]
    results = run_bench(tmp_path, *urls, script=script)
    pools = results["pool"]
    assert pools["repodb AsyncPool"]["ops_per_s"] > 0
    assert 0 < pools["repodb AsyncPool"]["p50_s"] <= pools["repodb AsyncPool"]["p99_s"]
    peers = {"psycopg_pool": "psycopg_pool", "asyncpg pool": "asyncpg"}
    for name, module in peers.items():
        assert isinstance(pools[name], dict) == (importlib.util.find_spec(module) is not None)
    assert set(results["routing"]) == {"1 tasks", "10 tasks", "no I/O"}
    assert isinstance(results["routing"]["1 tasks"]["routing share"], float)
    for outcome in results["routing"].values():
        assert outcome["AsyncCqrs.read()"] > 0
        assert outcome["AsyncPool"] > 0


def test_the_callgrind_routing_script_runs_both_contenders() -> None:
    script = BENCH.parent / "callgrind_router.py"
    urls = ["--pg-url", pg_url(), "--replica-url", replica_urls()[0]]
    done = subprocess.run(
        [sys.executable, str(script), "--quick", *urls],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    # The script checks each read's row, and that none went to the primary.
    assert done.returncode == 0, done.stderr
    assert "every contender ran" in done.stdout


@pytest.mark.parametrize("mode", [[], ["--async"]], ids=["sync", "async"])
def test_the_callgrind_get_script_runs_both_contenders(mode: list[str]) -> None:
    script = BENCH.parent / "callgrind_get.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--pg-url", pg_url(), *mode],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    # The sync run checks each warm-up get's record.
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("every contender ran") == 2


def test_the_pool_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "pool.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH.parent / "bench_pool.py"),
            "--quick",
            "--sizes",
            "2",
            "--threads",
            "4",
            "--pg-url",
            pg_url(),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())["size 2"]
    assert results["repodb Pool"]["best"] > 0
    peers = {"psycopg_pool": "psycopg_pool", "SQLAlchemy QueuePool": "sqlalchemy"}
    for name, module in peers.items():
        assert isinstance(results[name], dict) == (importlib.util.find_spec(module) is not None)


def test_the_cqrs_benchmark_runs(tmp_path: Path) -> None:
    # The overhead part only: the failover part kills a replica.
    out = tmp_path / "cqrs.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH.parent / "bench_cqrs.py"),
            "--quick",
            "--pg-url",
            pg_url(),
            "--replica-urls",
            " ".join(replica_urls()),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    overhead = json.loads(out.read_text())["overhead"]
    assert overhead["1 thread"]["Repo(cqrs)"] > 0
    assert overhead["1 thread"]["Repo(pool)"] > 0


def test_the_pgbouncer_benchmark_runs_without_an_error(tmp_path: Path) -> None:
    # 16 threads, then 16 tasks, of mixed Repo statements through PgBouncer;
    # the script exits 1 on any error, and checks every result itself.
    require(PGBOUNCER_URL, "REPODB_TEST_PGBOUNCER_URL")
    script = BENCH.parent / "bench_pgbouncer.py"
    results = run_bench(
        tmp_path, "--pg-url", pg_url(), "--bouncer-url", PGBOUNCER_URL, script=script
    )
    for name in ("threads", "asyncio tasks"):
        mix = results["mix"][name]
        assert mix["statements"] == 16 * 30
        assert mix["errors"] == 0, mix["first error"]
    assert set(results["get"]) == {
        "direct (prepared)",
        "direct, pooler=transaction",
        "PgBouncer",
        "PgBouncer, statement_timeout",
    }
    assert set(results["timeout"]) == {"outside a transaction", "in a transaction"}


@pytest.mark.mariadb_server
def test_the_mariadb_bulk_benchmark_loads_every_way(tmp_path: Path) -> None:
    script = BENCH.parent / "bench_mariadb_bulk.py"
    results = run_bench(tmp_path, "--mariadb-url", mariadb_url(), script=script)
    assert set(results) == {
        "raw multi-row INSERT (PyMySQL)",
        "raw LOAD DATA LOCAL (PyMySQL)",
        "repodb insert_all",
        "raw multi-row INSERT (asyncmy)",
        "repodb async insert_all",
    }
    for name, figures in results.items():
        assert len(figures) == 1, name
        assert figures[0] > 0, name
