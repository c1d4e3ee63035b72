"""The Markdown tables of docs/performance.md from several runs of ``bench_repo.py``.

Why: one run on a shared machine says little; the docs give, per scenario
and contender, the median time over the runs and the range of its ratio to
the raw driver, and whether repodb met its target in each run. Writing those
tables by hand from JSON files is where figures go wrong, so they are
printed from the files themselves.

Usage::

    python benchmarks/bench_repo.py --json run1.json     # three times, or more
    python benchmarks/bench_summary.py run1.json run2.json run3.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from bench_repo import NAMES, TARGETS, duration, title
from repo_kit import Sizes

# Per database: scenario -> contender -> seconds per operation (or why not measured).
Run = dict[str, dict[str, dict[str, Any]]]


def ratios(runs: list[Run], kind: str, key: str, name: str) -> list[float]:
    """Per run where both ran: ``name``'s time over the raw driver's (the N+1 over raw IN)."""
    base_key = "preload" if key == "preload_n1" else key
    found = []
    for run in runs:
        value = run[kind].get(key, {}).get(name)
        base = run[kind].get(base_key, {}).get("raw")
        if isinstance(value, float) and isinstance(base, float):
            found.append(value / base)
    return found


def cell(runs: list[Run], kind: str, key: str, name: str) -> str:
    """The median time over the runs, and the range of the ratio to raw."""
    times = [t for run in runs if isinstance(t := run[kind].get(key, {}).get(name), float)]
    if not times:
        return "–"
    median = duration(statistics.median(times))
    if name == "raw" and key != "preload_n1":
        return median
    spread = ratios(runs, kind, key, name)
    low, high = min(spread), max(spread)
    shown = f"{low:.2f}x" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}-{high:.2f}x"
    return f"{median} ({shown})"


def met(runs: list[Run], kind: str, key: str) -> str:
    """Whether repodb's ratio was within its target in every run, in some, or in none."""
    target = TARGETS.get((key, kind))
    spread = ratios(runs, kind, key, "repodb")
    if target is None or not spread:
        return "–"
    within = sum(r <= target for r in spread)
    if within == len(spread):
        return "yes"
    return "no" if within == 0 else f"in {within} of {len(spread)} runs"


def table(runs: list[Run], kind: str, sizes: Sizes) -> list[str]:
    """One database's table: a row per scenario, a column per contender."""
    names = [n for n in NAMES if any(n in run[kind].get(k, {}) for run in runs for k in run[kind])]
    head = ["scenario", *names, "repodb target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for key in runs[0][kind]:
        target = TARGETS.get((key, kind))
        cells = [
            title(key, sizes),
            *(cell(runs, kind, key, name) for name in names),
            f"≤ {target}x" if target else "–",
            met(runs, kind, key),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("runs", type=Path, nargs="+", help="JSON files of bench_repo.py --json")
    args = parser.parse_args()
    runs: list[Run] = [json.loads(path.read_text()) for path in args.runs]
    labels = {
        "sqlite": "SQLite (file, WAL)",
        "postgresql": "PostgreSQL (loopback TCP)",
        "mariadb": "MariaDB (loopback TCP)",
    }
    for kind, label in labels.items():
        # A run may cover one database (``--no-sqlite``, ``--pg-url ""``).
        covering = [run for run in runs if kind in run]
        if covering:
            print(f"\n{label}, {len(covering)} runs:\n")
            print("\n".join(table(covering, kind, Sizes())))


if __name__ == "__main__":
    main()
