"""The MariaDB dialect in golden SQL: backticks, its DELETE, and what it refuses at compile time.

Covered: identifiers in backticks and ``?`` markers; a single-table DELETE
names columns by its table (MariaDB's takes no alias) and keeps RETURNING;
an UPDATE keeps its alias; OFFSET without LIMIT; a row of defaults is
``VALUES ()``; ``sum`` of ints cast back to an integer. Refused with a
ValueError before anything runs: upserts, ``UPDATE ... RETURNING``, an
``update_all`` with joins and ``DISTINCT ON``. The driver's ``?`` to ``%s``
rewrite leaves literals alone and doubles a literal ``%``.
"""

from __future__ import annotations

import pytest

from repodb.dialect import MARIADB
from repodb.driver._mariadb import pyformat
from repodb.functions import sum_
from repodb.query import query, to_sql
from repodb.write import delete_all, insert_all, update_all
from tests.unit.test_query_helpers import Entry, Person


def test_identifiers_are_backticked_and_markers_are_question_marks() -> None:
    sql, params = to_sql(query(Person).where(Person.name == "ada").select(Person.id), MARIADB)
    assert sql == "SELECT `p0`.`id` FROM `people` AS `p0` WHERE (`p0`.`name` = ?)"
    assert params == ["ada"]


def test_delete_names_columns_by_its_table_and_keeps_returning() -> None:
    sql, _ = to_sql(delete_all(query(Person).where(Person.id == 1), returning=True), MARIADB)
    assert sql.startswith("DELETE FROM `people` WHERE (`people`.`id` = ?) RETURNING ")
    assert " AS `p0`" not in sql


def test_update_keeps_its_alias() -> None:
    sql, _ = to_sql(update_all(query(Person).where(Person.id == 1), set={"age": 3}), MARIADB)
    assert sql == "UPDATE `people` AS `p0` SET `age` = ? WHERE (`p0`.`id` = ?)"


def test_offset_without_limit_and_integer_sums() -> None:
    sql, _ = to_sql(query(Person).offset(5).select(sum_(Person.age)), MARIADB)
    assert "LIMIT 18446744073709551615 OFFSET ?" in sql
    assert "CAST(sum(`p0`.`age`) AS SIGNED)" in sql


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            lambda: insert_all(Entry, [{"title": "x"}], on_conflict="nothing"),
            "mariadb upserts",
        ),
        (
            lambda: update_all(query(Person), set={"age": 1}, returning=True),
            "mariadb has no UPDATE ... RETURNING",
        ),
        (
            lambda: update_all(query(Person).join(Person.entries), set={"age": 1}),
            "mariadb has no UPDATE ... FROM",
        ),
        (
            lambda: query(Person).distinct(on=Person.name),
            "DISTINCT ON is not available on mariadb",
        ),
    ],
    ids=["upsert", "update_returning", "update_from", "distinct_on"],
)
def test_what_mariadb_lacks_is_refused_when_compiled(statement: object, message: str) -> None:
    assert callable(statement)
    with pytest.raises(ValueError, match=message):
        to_sql(statement(), MARIADB)


@pytest.mark.parametrize(
    ("sql", "formatted"),
    [
        ("SELECT ? + ?", "SELECT %s + %s"),
        ("SELECT '100%' WHERE x LIKE ?", "SELECT '100%%' WHERE x LIKE %s"),
        ("SELECT '?', \"a?\" -- ?\n, ?", "SELECT '?', \"a?\" -- ?\n, %s"),
        ("SELECT 1", "SELECT 1"),
    ],
)
def test_markers_become_pyformat_outside_literals(sql: str, formatted: str) -> None:
    assert pyformat(sql) == formatted
