"""The type checker rejects misuse of requests, as Caqti's types do.

Runs mypy (``--strict``) once on small snippet files and checks, per file,
that exactly the lines marked ``# E: <regex>`` are reported, each with an
error matching that regex: ``one()`` and ``one_or_none()`` on a many-row
request, a ``str`` where the request takes an ``int``; and that a correct
snippet passes. ``typing_checks.py`` (checked by the project's own mypy run)
pins the inferred types.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from mypy import api

import repodb

SRC = Path(repodb.__file__).resolve().parent.parent

HEADER = """\
import dataclasses
import repodb
from repodb import Request
from repodb.types import tup


@dataclasses.dataclass
class User:
    id: int
    name: str


def run(conn: repodb.Connection) -> None:
"""

SNIPPETS = {
    "one_on_many": r"""
        rows = Request.many("SELECT 1", row=int)
        conn.one(rows)  # E: type "Request\[None, int, Many\]"
        conn.one(Request.many("SELECT ?", params=int, row=int), 1)  # E: "Request\[int, int, Many\]"
        conn.all(rows)
    """,
    "one_or_none_on_many": r"""
        rows = Request.many("SELECT 1, 'a'", row=tup(int, str))
        conn.one_or_none(rows)  # E: type "Request\[None, tuple\[int, str\], Many\]"
        conn.one_or_none(Request.one("SELECT 1", row=int))
    """,
    # mypy cannot solve P as both int (from the request) and str (from the value).
    "wrong_param_type": r"""
        by_id = Request.one("SELECT name FROM users WHERE id = ?", params=int, row=str)
        conn.one(by_id, "42")  # E: type parameter "P" of "one"|"str"
        conn.one(by_id, 42)
        pair = Request.exec("UPDATE users SET name = ? WHERE id = ?", params=tup(str, int))
        conn.exec(pair, (1, "Ada"))  # E: type parameter "P" of "exec"|"tuple\[int, str\]"
        conn.all(by_id, "42")  # E: type parameter "P" of "all"|"str"
        conn.exec(pair, ("Ada", 1))
    """,
    "result_type_misuse": r"""
        name = conn.one_or_none(Request.one("SELECT 'a'", row=str))
        name.upper()  # E: Item "None" of "str \| None"
    """,
    "correct": r"""
        users = Request.many("SELECT id, name FROM users", row=User)
        for user in conn.all(users):
            print(user.name.upper())
        by_id = Request.one_or_none(
            "SELECT id, name FROM users WHERE id = ?", params=int, row=User
        )
        found = conn.one_or_none(by_id, 1)
        if found is not None:
            print(found.id + 1)
        first_id, first_name = conn.one(Request.one("SELECT 1, 'a'", row=tup(int, str)))
        print(first_id + 1, first_name.upper())
        conn.exec(Request.exec("DELETE FROM users WHERE id = ?", params=int), 3)
        conn.exec(Request.exec("DELETE FROM users"))
    """,
}

_MARK = re.compile(r"#\s*E:\s*(.+)$")
_ERROR = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): error: (?P<message>.*)$")


def expected_errors(source: str) -> dict[int, str]:
    """Line number -> regex an error on that line must match."""
    return {
        number: mark.group(1).strip()
        for number, line in enumerate(source.splitlines(), start=1)
        if (mark := _MARK.search(line))
    }


@pytest.fixture(scope="module")
def mypy_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, list[str]]]:
    """For each snippet: its source and mypy's error lines, from one mypy run."""
    root = tmp_path_factory.mktemp("typing")
    sources: dict[str, str] = {}
    for name, body in SNIPPETS.items():
        source = HEADER + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")
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
            *(str(root / f"{name}.py") for name in SNIPPETS),
        ]
    )
    assert not stderr, stderr
    errors: dict[str, list[str]] = {name: [] for name in SNIPPETS}
    for line in stdout.splitlines():
        found = _ERROR.match(line)
        if found is not None:
            errors[Path(found["file"]).stem].append(line)
        else:
            assert ": note: " in line, f"unexpected mypy output: {line}"
    return {name: (sources[name], errors[name]) for name in SNIPPETS}


def check(results: dict[str, tuple[str, list[str]]], name: str) -> None:
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


def test_one_rejects_a_many_request(mypy_results: dict[str, tuple[str, list[str]]]) -> None:
    check(mypy_results, "one_on_many")


def test_one_or_none_rejects_a_many_request(
    mypy_results: dict[str, tuple[str, list[str]]],
) -> None:
    check(mypy_results, "one_or_none_on_many")


def test_params_of_the_wrong_type_are_rejected(
    mypy_results: dict[str, tuple[str, list[str]]],
) -> None:
    check(mypy_results, "wrong_param_type")


def test_one_or_none_result_may_be_none(mypy_results: dict[str, tuple[str, list[str]]]) -> None:
    check(mypy_results, "result_type_misuse")


def test_correct_code_passes(mypy_results: dict[str, tuple[str, list[str]]]) -> None:
    check(mypy_results, "correct")
    assert mypy_results["correct"][1] == []
