"""Parameter markers: ``?`` and ``$n`` are found outside literals and comments.

Covers ``repodb._placeholders.parse`` (counting, ordering, what is skipped,
what is rejected) and golden rendering of the parsed template for the SQLite
(bare ``?``) and PostgreSQL (``$N``) dialects, and the dialects' identifier quoting.
"""

from __future__ import annotations

import pytest

from repodb._placeholders import Template, parse
from repodb.dialect import POSTGRESQL, SQLITE


def render_both(sql: str) -> tuple[str, str]:
    template = parse(sql)
    return (
        template.render(SQLITE.placeholder_prefix, numbered=SQLITE.numbered_placeholders),
        template.render(POSTGRESQL.placeholder_prefix, numbered=POSTGRESQL.numbered_placeholders),
    )


def test_no_markers() -> None:
    template = parse("SELECT 1")
    assert template.count == 0
    assert template.indices == ()
    assert render_both("SELECT 1") == ("SELECT 1", "SELECT 1")


def test_question_marks_are_numbered_in_order() -> None:
    template = parse("SELECT * FROM t WHERE a = ? AND b = ? OR c = ?")
    assert template.count == 3
    assert template.indices == (0, 1, 2)
    assert render_both("SELECT * FROM t WHERE a = ? AND b = ? OR c = ?") == (
        "SELECT * FROM t WHERE a = ? AND b = ? OR c = ?",
        "SELECT * FROM t WHERE a = $1 AND b = $2 OR c = $3",
    )


def test_numbered_markers_keep_their_numbers_when_reordered_and_repeated() -> None:
    sql = "UPDATE t SET a = $2, b = $2 + $1 WHERE id = $1"
    template = parse(sql)
    assert template.count == 2
    assert template.indices == (1, 1, 0, 0)
    assert render_both(sql) == (
        "UPDATE t SET a = ?, b = ? + ? WHERE id = ?",
        "UPDATE t SET a = $2, b = $2 + $1 WHERE id = $1",
    )


def test_multi_digit_numbers_and_casts() -> None:
    sql = "SELECT " + ", ".join(f"${n}" for n in range(1, 12)) + ", $11::int"
    template = parse(sql)
    assert template.count == 11
    assert template.indices[-1] == 10
    assert template.render("$", numbered=True).endswith("$10, $11, $11::int")
    assert template.render("?", numbered=False).endswith("?, ?, ?::int")


def test_markers_inside_string_literals_are_skipped() -> None:
    sql = "SELECT 'what? $1', 'it''s ? here', x FROM t WHERE y = ?"
    template = parse(sql)
    assert template.count == 1
    assert render_both(sql)[1] == "SELECT 'what? $1', 'it''s ? here', x FROM t WHERE y = $1"


def test_escape_string_with_backslash_quote_is_skipped() -> None:
    # In E'...' a backslash escapes the quote, so the string runs to the second '.
    sql = r"SELECT E'it\'s ? $1', e'\\', ? FROM t"
    template = parse(sql)
    assert template.count == 1
    assert render_both(sql)[1] == r"SELECT E'it\'s ? $1', e'\\', $1 FROM t"


def test_backslash_is_plain_in_standard_strings() -> None:
    # 'a\' is a complete string: the backslash does not escape the quote.
    sql = r"SELECT 'a\', ?"
    assert parse(sql).count == 1
    # An identifier ending in e before a quote is not an E-string prefix.
    assert parse(r"SELECT name'a\', ?").count == 1


def test_quoted_identifiers_are_skipped() -> None:
    sql = 'SELECT "col?", "we""ird $1" FROM "t?" WHERE a = $1'
    template = parse(sql)
    assert template.count == 1
    assert template.indices == (0,)
    assert render_both(sql)[0] == 'SELECT "col?", "we""ird $1" FROM "t?" WHERE a = ?'


def test_line_comments_are_skipped() -> None:
    sql = "SELECT ? -- is this ? a $1 marker\n, ? -- trailing ?"
    template = parse(sql)
    assert template.count == 2
    assert render_both(sql)[1] == "SELECT $1 -- is this ? a $1 marker\n, $2 -- trailing ?"


def test_nested_block_comments_are_skipped() -> None:
    sql = "SELECT /* outer ? /* inner $1 */ still comment ? */ ?"
    template = parse(sql)
    assert template.count == 1
    assert render_both(sql)[0] == "SELECT /* outer ? /* inner $1 */ still comment ? */ ?"


def test_dollar_quoted_strings_are_skipped() -> None:
    sql = "SELECT $$ what ? $1 $$, $body$ a $2 $$ b $body$, $1"
    template = parse(sql)
    assert template.count == 1
    assert template.indices == (0,)
    assert render_both(sql)[0] == "SELECT $$ what ? $1 $$, $body$ a $2 $$ b $body$, ?"


def test_dollar_after_identifier_character_is_not_a_marker() -> None:
    sql = "SELECT a$1, b$$ FROM t WHERE c = ?"
    template = parse(sql)
    assert template.count == 1
    assert render_both(sql)[1] == "SELECT a$1, b$$ FROM t WHERE c = $1"


def test_mixing_styles_is_rejected() -> None:
    with pytest.raises(ValueError, match="either"):
        parse("SELECT ?, $1")
    with pytest.raises(ValueError, match="either"):
        parse("SELECT $1 WHERE x = ?")


@pytest.mark.parametrize(
    ("sql", "missing"),
    [("SELECT $1, $3", "$2"), ("SELECT $2", "$1"), ("SELECT $0", "$0")],
)
def test_skipping_a_number_is_rejected(sql: str, missing: str) -> None:
    with pytest.raises(ValueError, match=f"skip.*\\{missing}"):
        parse(sql)


def test_render_reassembles_the_pieces() -> None:
    template = Template(("a ", " b ", ""), (1, 0))
    assert template.count == 2
    assert template.render("@", numbered=True) == "a @2 b @1"
    assert template.render("@", numbered=False) == "a @ b @"


def test_binds_in_order_only_when_each_marker_takes_the_next_parameter() -> None:
    assert parse("SELECT ?, ?").binds_in_order
    assert parse("SELECT $1, $2").binds_in_order
    assert parse("SELECT 1").binds_in_order
    assert not parse("SELECT $2, $1").binds_in_order
    assert not parse("SELECT $1, $1").binds_in_order


def test_dialect_ordered_placeholder_is_bare_on_sqlite() -> None:
    # Compiled statements bind in order: SQLite's bare ? is cheaper to prepare than ?N.
    assert [SQLITE.ordered_placeholder(n) for n in (1, 2, 40_000)] == ["?", "?", "?"]
    assert [POSTGRESQL.ordered_placeholder(n) for n in (1, 2, 40_000)] == ["$1", "$2", "$40000"]


def test_dialect_quotes_identifiers() -> None:
    assert SQLITE.quote("order") == '"order"'
    assert POSTGRESQL.quote('we"ird') == '"we""ird"'
    assert POSTGRESQL.quote_table("users", "app") == '"app"."users"'
    assert POSTGRESQL.quote_table("app.users") == '"app.users"'
    with pytest.raises(ValueError, match="NUL"):
        SQLITE.quote("a\x00b")
