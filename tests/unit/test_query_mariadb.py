"""The MariaDB dialect in golden SQL: backticks, its DELETE, and what it emulates or refuses.

Covered: identifiers in backticks and ``?`` markers; a single-table DELETE
names columns by its table (MariaDB's takes no alias) and keeps RETURNING;
an UPDATE keeps its alias; OFFSET without LIMIT; a row of defaults is
``VALUES ()``; ``sum`` of ints cast back to an integer. Emulated, with the
same meaning: NULLS FIRST/LAST (a ``(x IS NULL)`` term, only where MariaDB's
own order differs), an aggregate's ``filter()`` (a scalar subquery keeping
the argument's bind order), integer division (``DIV``), JSON access
(``JSON_EXTRACT``/``JSON_UNQUOTE``, JSON null as SQL NULL), ``json_has_key``
and ``json_contains``, ``FOR SHARE`` (``LOCK IN SHARE MODE``), upserts
(``ON DUPLICATE KEY UPDATE`` with ``VALUES(col)``). Refused with a
ValueError before anything runs, each saying what to use instead: a conflict
target that is not the one declared unique key, ``update_where``, a
RETURNING of ``on_conflict="nothing"`` without the inserted flag, an
assignment reading a column set before it, ``UPDATE ... RETURNING``, an
``update_all`` with joins, ``DISTINCT ON``, FULL JOIN, PostgreSQL's lock
strengths, NULLS ordering of an expression that binds values or of a
union, array operations and full-text search. The driver's ``?`` to ``%s``
rewrite leaves literals alone and doubles a literal ``%``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from repodb import functions as fn
from repodb.dialect import MARIADB
from repodb.driver._mariadb import pyformat
from repodb.expr import InsertedFlag
from repodb.functions import count, json_contains, json_get, json_has_key, json_text, max_, sum_
from repodb.query import Selection, query, to_sql
from repodb.schema import Col, Schema, field, index
from repodb.write import constraint, delete_all, excluded, insert_all, update_all
from tests.unit.test_query_helpers import Entry, Person


class Member(Schema, table="members", indexes=(index("email", unique=True),)):
    id: Col[int] = field(primary_key=True, default=None)
    email: Col[str]
    name: Col[str]
    visits: Col[int] = field(default=0)


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
    ("ordering", "written"),
    [
        (Person.age.asc().nulls_first(), "`p0`.`age` ASC"),
        (Person.age.desc().nulls_last(), "`p0`.`age` DESC"),
        (Person.age.asc().nulls_last(), "(`p0`.`age` IS NULL) ASC, `p0`.`age` ASC"),
        (Person.age.desc().nulls_first(), "(`p0`.`age` IS NULL) DESC, `p0`.`age` DESC"),
    ],
    ids=["asc_first", "desc_last", "asc_last", "desc_first"],
)
def test_nulls_first_and_last_are_a_sort_term_where_mariadb_differs(
    ordering: Any, written: str
) -> None:
    sql, _ = to_sql(query(Person).select(Person.id).order_by(ordering), MARIADB)
    assert sql == f"SELECT `p0`.`id` FROM `people` AS `p0` ORDER BY {written}"


def test_an_aggregate_filter_keeps_the_argument_where_the_condition_holds() -> None:
    q = query(Person).select(
        count().filter(Person.age > 3),
        max_(Person.age * 2).filter(Person.id > 1),
        count(Person.name, distinct=True).filter(Person.age.is_null()),
    )
    sql, params = to_sql(q, MARIADB)
    assert sql == (
        "SELECT count((SELECT 1 FROM DUAL WHERE (`p0`.`age` > ?))),"
        " max((SELECT (`p0`.`age` * ?) FROM DUAL WHERE (`p0`.`id` > ?))),"
        " count(DISTINCT (SELECT `p0`.`name` FROM DUAL WHERE (`p0`.`age` IS NULL)))"
        " FROM `people` AS `p0`"
    )
    # The argument's values bind before the condition's, as in FILTER (WHERE ...).
    assert params == [3, 2, 1]


def test_integer_division_is_div() -> None:
    sql, _ = to_sql(query(Person).select(Person.age / 7, Person.score / 2), MARIADB)
    assert sql == "SELECT (`p0`.`age` DIV ?), (`p0`.`score` / ?) FROM `people` AS `p0`"


def test_json_access_and_tests() -> None:
    q = query(Person).select(
        json_get(Person.data, "a", 0),
        json_text(Person.data, "a"),
        json_has_key(Person.data, "k"),
        json_contains(Person.data, {"a": 1}),
    )
    sql, params = to_sql(q, MARIADB)
    assert sql == (
        "SELECT JSON_EXTRACT(`p0`.`data`, CONCAT('$', '.\"', ?, '\"', '[', ?, ']')),"
        " JSON_UNQUOTE(NULLIF(CONCAT(JSON_EXTRACT(`p0`.`data`, CONCAT('$', '.\"', ?, '\"'))),"
        " 'null')), JSON_CONTAINS_PATH(`p0`.`data`, 'one', CONCAT('$.\"', ?, '\"')),"
        " JSON_CONTAINS(`p0`.`data`, ?) FROM `people` AS `p0`"
    )
    assert params == ["a", 0, "a", "k", {"a": 1}]


def test_share_locks_are_lock_in_share_mode() -> None:
    sql, _ = to_sql(query(Person).select(Person.id).lock("share", skip_locked=True), MARIADB)
    assert sql.endswith(" LOCK IN SHARE MODE SKIP LOCKED")
    sql, _ = to_sql(query(Person).select(Person.id).lock(nowait=True), MARIADB)
    assert sql.endswith(" FOR UPDATE NOWAIT")


MARKER = "`members`.`{0}` = IF((@repodb_found := 1), `members`.`{0}`, `members`.`{0}`)"


def test_upserts_are_on_duplicate_key_update() -> None:
    row = [{"email": "a@x", "name": "Ada", "visits": 0}]
    sql, params = to_sql(insert_all(Member, row, on_conflict="nothing"), MARIADB)
    assert sql == (
        "INSERT INTO `members` (`email`, `name`, `visits`) VALUES (?, ?, ?)"
        f" ON DUPLICATE KEY UPDATE {MARKER.format('email')}"
    )
    assert params == ["a@x", "Ada", 0]
    sql, _ = to_sql(
        insert_all(Member, row, on_conflict="replace_all", conflict_target=["email"]), MARIADB
    )
    assert sql.endswith(
        f"ON DUPLICATE KEY UPDATE {MARKER.format('email')},"
        " `members`.`name` = VALUES(`name`), `members`.`visits` = VALUES(`visits`)"
    )
    counted = insert_all(
        Member,
        row,
        on_conflict={"visits": Member.visits + excluded(Member.visits) + 1},
        returning=["visits"],
    )
    sql, params = to_sql(counted, MARIADB)
    assert sql.endswith(
        f"ON DUPLICATE KEY UPDATE {MARKER.format('email')},"
        " `members`.`visits` = ((`members`.`visits` + VALUES(`visits`)) + ?) RETURNING `visits`"
    )
    assert params == ["a@x", "Ada", 0, 1]


def test_the_inserted_flag_may_return_the_rows_of_nothing() -> None:
    plain = insert_all(Member, [{"email": "a", "name": "b"}], on_conflict="nothing", returning=True)
    assert plain.returning is not None
    flagged = dataclasses.replace(
        plain, returning=Selection("tuple", (*plain.returning.items, InsertedFlag()))
    )
    sql, _ = to_sql(flagged, MARIADB)
    assert sql.endswith(", IF(@repodb_found, (@repodb_found := 0), TRUE)")
    assert MARIADB.inserted_flag_reset == "SET @repodb_found = 0"


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            lambda: insert_all(Entry, [{"title": "x"}], on_conflict="nothing", returning=True),
            "cannot return the rows of on_conflict='nothing'",
        ),
        (
            lambda: insert_all(
                Member,
                [{"email": "a", "name": "b"}],
                on_conflict=["name"],
                conflict_target=["name"],
            ),
            "it is not a declared key",
        ),
        (
            lambda: insert_all(
                Member,
                [{"id": 1, "email": "a", "name": "b"}],
                on_conflict=["name"],
                conflict_target=["email"],
            ),
            r"also declares the unique key\(s\) \[\['id'\]\]",
        ),
        (
            lambda: insert_all(
                Member,
                [{"email": "a", "name": "b"}],
                on_conflict="nothing",
                conflict_target=constraint("members_email_key"),
            ),
            "cannot name a constraint",
        ),
        (
            lambda: insert_all(
                Member,
                [{"email": "a", "name": "b"}],
                on_conflict=["name"],
                update_where=Member.visits < 3,
            ),
            "cannot upsert with update_where",
        ),
        (
            lambda: insert_all(
                Member,
                [{"email": "a", "name": "b", "visits": 1}],
                on_conflict={"visits": excluded(Member.visits), "name": Member.visits},
            ),
            "the value of name reads visits",
        ),
        (
            lambda: query(Person).full_join(Entry, Entry.author_id == Person.id),
            "mariadb has no FULL JOIN: union_all a left_join",
        ),
        (lambda: query(Person).lock("key_share"), "mariadb has no FOR KEY SHARE lock"),
        (
            lambda: query(Person).order_by((Person.age + 1).asc().nulls_last()),
            "would bind this expression's values twice",
        ),
        (
            lambda: (
                query(Person)
                .select(Person.age)
                .union(query(Person).select(Person.age))
                .order_by(Person.age.desc().nulls_first())
            ),
            "a union's order_by names its columns by position",
        ),
        (
            lambda: query(Person).where(fn.array_has(fn.fragment("tags", type_=list[str]), "x")),
            "mariadb has no array operation 'has': arrays are JSON text on mariadb",
        ),
        (
            lambda: query(Person).where(
                fn.ts_match(fn.to_tsvector("english", Person.name), fn.to_tsquery("english", "x"))
            ),
            "mariadb has no full-text search .* MATCH",
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
    ids=[
        "nothing_returning",
        "undeclared_target",
        "second_key",
        "constraint_target",
        "update_where",
        "assignment_order",
        "full_join",
        "key_share",
        "nulls_of_bound_expression",
        "nulls_of_union",
        "arrays",
        "search",
        "update_returning",
        "update_from",
        "distinct_on",
    ],
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
