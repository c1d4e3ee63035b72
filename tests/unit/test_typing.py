"""The type checker rejects misuse of requests, as Caqti's types do.

Runs mypy (``--strict``) once on small snippet files and checks, per file,
that exactly the lines marked ``# E: <regex>`` are reported, each with an
error matching that regex: ``one()`` and ``one_or_none()`` on a many-row
request, a ``str`` where the request takes an ``int``; an unsaved primary key
declared as the docs do (``Col[int | None]``) used as an ``int``; a Multi step
whose ``Key`` type differs from what it produces, an aggregate's result used
as the wrong type; and that a correct snippet passes. ``typing_checks.py``
(checked by the project's own mypy run) pins the inferred types.
"""

from __future__ import annotations

import pytest

from .mypy_snippets import Results, check, run_snippets

HEADER = """\
import dataclasses
import repodb
from repodb import Request
from repodb.multi import Key, Multi
from repodb.query import query
from repodb.schema import Col, Schema, field
from repodb.types import tup


@dataclasses.dataclass
class User:
    id: int
    name: str


class Note(Schema, table="notes"):
    id: Col[int | None] = field(primary_key=True, default=None)
    body: Col[str]


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
    "repo_misuse": r"""
        repo = repodb.Repo(conn)
        rows = Request.many("SELECT 1", row=int)
        repo.one(rows)  # E: "one" of "Repo" has incompatible type "Request\[None, int, Many\]"
        repo.all(rows)
        by_int = Request.one("SELECT ?", params=int, row=int)
        repo.one(by_int, "1")  # E: type parameter "P" of "one"
        repo.get(User, 1)  # E: Value of type variable "S" of "get" of "Repo"
    """,
    # The primary key as the docs declare it: None until the record is inserted,
    # so mypy asks for a check before the id is used as an int.
    "unsaved_primary_key": r"""
        note = Note(body="x")
        note.id + 1  # E: Unsupported operand types for \+ \("None" and "int"\)
        if note.id is not None:
            print(note.id + 1)
        repo = repodb.Repo(conn)
        saved = repo.get(Note, 1)
        saved.id + 1  # E: Unsupported operand types for \+ \("None" and "int"\)
        repo.all(query(Note).where(Note.id == 1))
    """,
    "typed_results": r"""
        repo = repodb.Repo(conn)
        NOTE = Key[Note]("note")
        COUNT = Key[int]("count")
        Multi().insert(Key[User]("user"), Note(body="x"))  # E: Value of type variable "S"|"User"
        Multi().insert(Key[Note]("n"), User(id=1, name="x"))  # E: incompatible type "User"
        Multi().run(COUNT, lambda tx, r: "text")  # E: Argument 2 to "run" of "Multi"
        results = repo.transaction(Multi().insert(NOTE, Note(body="x")).run(COUNT, lambda tx, r: 1))
        results[NOTE].body.upper()
        results[COUNT].upper()  # E: "int" has no attribute "upper"
        repo.aggregate(query(Note), "sum", Note.body)  # E: No overload variant of "aggregate"
        repo.aggregate(query(Note), "max", Note.body).upper()  # E: Item "None" of "str \| None"
        repo.aggregate(query(Note), "count").bit_length()
        repo.update_all(query(Note), set={"body": "y"}, returning=True).rows[0].body.upper()
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


@pytest.fixture(scope="module")
def mypy_results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """For each snippet: its source and mypy's error lines, from one mypy run."""
    return run_snippets(tmp_path_factory.mktemp("typing"), HEADER, SNIPPETS)


def test_one_rejects_a_many_request(mypy_results: Results) -> None:
    check(mypy_results, "one_on_many")


def test_one_or_none_rejects_a_many_request(
    mypy_results: Results,
) -> None:
    check(mypy_results, "one_or_none_on_many")


def test_params_of_the_wrong_type_are_rejected(
    mypy_results: Results,
) -> None:
    check(mypy_results, "wrong_param_type")


def test_one_or_none_result_may_be_none(mypy_results: Results) -> None:
    check(mypy_results, "result_type_misuse")


def test_the_repo_rejects_misuse(mypy_results: Results) -> None:
    check(mypy_results, "repo_misuse")


def test_an_unsaved_primary_key_is_optional(mypy_results: Results) -> None:
    check(mypy_results, "unsaved_primary_key")


def test_multi_keys_aggregates_and_bulk_writes_are_typed(mypy_results: Results) -> None:
    check(mypy_results, "typed_results")


def test_correct_code_passes(mypy_results: Results) -> None:
    check(mypy_results, "correct")
    assert mypy_results["correct"][1] == []
