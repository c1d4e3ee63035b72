"""The type checker rejects misuse of queries and expressions.

Runs mypy (``--strict``) once on small snippet files, as ``test_typing.py``
does for requests, and checks that exactly the lines marked ``# E: <regex>``
are reported: a column compared with a value of another type, a non-boolean
``where``, a select whose row type is not the declared one, a text function
on a number; and that correct code passes. ``query_typing_checks.py``
(checked by the project's own mypy run) pins the inferred types.
"""

from __future__ import annotations

import pytest

from .mypy_snippets import Results, check, run_snippets

HEADER = """\
from __future__ import annotations

from repodb.functions import coalesce, count, lower
from repodb.query import Query, query
from repodb.write import set_
from repodb.schema import Col, Schema, field


class Member(Schema, table="members"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    age: Col[int | None] = field(default=None)


def run() -> None:
"""

SNIPPETS = {
    "wrong_value_type": r"""
        Member.age > "x"  # E: No overload variant of "__gt__" of "Expr" matches .* "str"
        Member.id > "x"  # E: Unsupported operand types for > \("Column\[int\]" and "str"\)
        Member.name + 1  # E: No overload variant of "__add__" of "Expr" matches .* "int"
        Member.name.in_([1])  # E: List item 0 has incompatible type "int"; expected "str"
        Member.age.between("a", 2)  # E: Argument 1 to "between" of "Expr" has incompatible
        set_(Member.name, 3)  # E: Cannot infer value of type parameter "T" of "set_"
        Member.age > 3
        Member.age == None
        Member.id == Member.age
        Member.age == Member.id
        Member.age + Member.id
    """,
    # == falls back to object equality, a bool, which where() does not take.
    "where_needs_a_condition": r"""
        query(Member).where(Member.name == 3)  # E: "where" of "Query" has incompatible type "bool"
        query(Member).where(Member.age)  # E: incompatible type "Column\[int \| None\]"
        query(Member).order_by("name")  # E: "order_by" of "Query" has incompatible type "str"
        query(Member).limit("3")  # E: "limit" of "Query" has incompatible type "str"
        query(Member).where(Member.name == "x")
    """,
    # A select checked against the declared row type: mypy reports the mismatched item.
    "select_types": r"""
        pair: Query[tuple[str, int]] = query(Member).select(
            Member.id,  # E: "select" of "Query" has incompatible type "Column\[int\]"
            Member.name,  # E: "select" of "Query" has incompatible type "Column\[str\]"
        )
        records: Query[Member] = query(Member).select(Member.id)  # E: incompatible type "Column
        Member.id.in_(query(Member).select(Member.name))  # E: "select" .* "Column\[str\]"
        lower(Member.age)  # E: Value of type variable "S" of "lower" cannot be "int \| None"
        Member.age.like("x%")  # E: Invalid self argument "Column\[int \| None\]"
    """,
    "correct": r"""
        rows: Query[tuple[int, str]] = query(Member).select(Member.id, Member.name)
        names: Query[str] = query(Member).where(Member.age >= 18).select(Member.name)
        ages: Query[int] = query(Member).select(coalesce(Member.age, 0))
        members: Query[Member] = query(Member).where(name="Ada").order_by(Member.id.desc())
        adults = query(Member).where(Member.id.in_(query(Member).select(Member.id)))
        per_name: Query[tuple[str, int]] = (
            query(Member).select(Member.name, count()).group_by(Member.name)
        )
        print(rows, names, ages, members, adults, per_name)
        set_(Member.age, Member.age + 1)
        set_(Member.age, None)
    """,
}


@pytest.fixture(scope="module")
def mypy_results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """For each snippet: its source and mypy's error lines, from one mypy run."""
    return run_snippets(tmp_path_factory.mktemp("query_typing"), HEADER, SNIPPETS)


def test_comparing_a_column_with_a_wrong_typed_value_is_rejected(
    mypy_results: Results,
) -> None:
    check(mypy_results, "wrong_value_type")


def test_where_takes_conditions_only(mypy_results: Results) -> None:
    check(mypy_results, "where_needs_a_condition")


def test_select_gives_its_row_type(mypy_results: Results) -> None:
    check(mypy_results, "select_types")


def test_correct_queries_pass(mypy_results: Results) -> None:
    check(mypy_results, "correct")
    assert mypy_results["correct"][1] == []
