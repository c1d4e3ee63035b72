"""Running mypy on small snippet files and checking which lines it reports.

Shared by the typing tests. A snippet marks each line where an error is
expected with ``# E: <regex>``; ``check`` asserts that exactly those lines
are reported, each with an error matching its regex.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from mypy import api

import repodb

SRC = Path(repodb.__file__).resolve().parent.parent

_MARK = re.compile(r"#\s*E:\s*(.+)$")
_ERROR = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): error: (?P<message>.*)$")

Results = dict[str, tuple[str, list[str]]]


def expected_errors(source: str) -> dict[int, str]:
    """Line number -> regex an error on that line must match."""
    return {
        number: mark.group(1).strip()
        for number, line in enumerate(source.splitlines(), start=1)
        if (mark := _MARK.search(line))
    }


def run_snippets(root: Path, header: str, snippets: dict[str, str]) -> Results:
    """For each snippet: its source and mypy's error lines, from one ``--strict`` run."""
    sources: dict[str, str] = {}
    for name, body in snippets.items():
        source = header + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")
        (root / f"{name}.py").write_text(source)
        sources[name] = source
    config = root / "mypy.ini"
    config.write_text(f"[mypy]\nstrict = True\nmypy_path = {SRC}\n")
    stdout, stderr, _ = api.run(
        [
            "--config-file",
            str(config),
            "--cache-dir",
            str(root / ".mypy_cache"),
            "--no-pretty",
            "--no-error-summary",
            "--hide-error-context",
            *(str(root / f"{name}.py") for name in snippets),
        ]
    )
    assert not stderr, stderr
    errors: dict[str, list[str]] = {name: [] for name in snippets}
    for line in stdout.splitlines():
        found = _ERROR.match(line)
        if found is not None:
            errors[Path(found["file"]).stem].append(line)
        else:
            assert ": note: " in line, f"unexpected mypy output: {line}"
    return {name: (sources[name], errors[name]) for name in snippets}


def check(results: Results, name: str) -> None:
    """Assert that snippet ``name`` has errors on exactly its marked lines."""
    source, errors = results[name]
    reported: dict[int, list[str]] = {}
    for line in errors:
        found = _ERROR.match(line)
        assert found is not None
        reported.setdefault(int(found["line"]), []).append(found["message"])
    expected = expected_errors(source)
    assert sorted(reported) == sorted(expected), "\n".join(errors)
    for number, text in expected.items():
        assert any(re.search(text, m) for m in reported[number]), (number, reported[number])
