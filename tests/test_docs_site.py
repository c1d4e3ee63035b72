"""The docs site builds from docs/ with ``mkdocs build --strict``, and every page is in its nav.

Why: a broken link, an anchor that no longer exists or a page nobody can
reach is a bug in the guide. mkdocs.yml turns each of those into a warning
and ``--strict`` into a failure; this test fails on either, and prints the
warnings. The build runs offline (the built-in theme, no plugins) into a
temporary directory, from the repository root as a reader would run it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "mkdocs.yml"
BUILD_TIMEOUT = 120.0


def nav_pages(nav: Any) -> Iterator[str]:
    """The page paths of a mkdocs nav: strings, ``{title: page}`` and nested sections."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from nav_pages(value)


def load_nav() -> list[str]:
    """The nav's pages, read with mkdocs' own YAML loader (as the build reads them)."""
    from mkdocs.utils.yaml import yaml_load

    with CONFIG.open(encoding="utf-8") as config:
        return list(nav_pages(yaml_load(config)["nav"]))


def test_every_page_is_in_the_nav_once() -> None:
    nav = load_nav()
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").glob("*.md"))
    assert sorted(set(nav)) == pages, "docs/*.md and mkdocs.yml's nav differ"
    assert len(nav) == len(set(nav)), "a page is in the nav twice"
    assert nav[0] == "index.md", "the guide starts with getting started"


def test_the_site_builds_strictly_without_warnings(tmp_path: Path) -> None:
    try:
        built = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"mkdocs build ran past {BUILD_TIMEOUT:g} s", pytrace=False)
    output = built.stdout + built.stderr
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert built.returncode == 0, f"mkdocs build --strict exited {built.returncode}:\n{output}"
    assert not warnings, "\n".join(warnings)
    assert (tmp_path / "site" / "index.html").exists()


def test_nav_pages_reads_sections() -> None:
    nav = ["index.md", {"Schemas": "schemas.md"}, {"Reference": [{"Types": "types.md"}, "x.md"]}]
    assert list(nav_pages(nav)) == ["index.md", "schemas.md", "types.md", "x.md"]
