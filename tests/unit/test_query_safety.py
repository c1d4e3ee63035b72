"""Values never reach the SQL text; identifiers are always quoted.

Property tests: any text value (quotes, ``;``, ``--``, NUL, any Unicode)
leaves the SQL text unchanged and appears only in the parameters; a NUL is
rejected when the parameters are encoded for PostgreSQL (whose text cannot
hold it) and accepted for SQLite. Identifiers with quotes, spaces,
reserved words and Unicode are quoted; a NUL in an identifier is an error
when the SQL is written.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repodb._compile.cache import compile_statement
from repodb.dialect import POSTGRESQL, SQLITE, Dialect
from repodb.driver import postgresql, sqlite
from repodb.errors import EncodeError
from repodb.functions import fragment, json_text, max_
from repodb.query import query, to_sql
from repodb.schema import Col, Schema, field
from repodb.write import insert_all, update_all

from .test_query_helpers import DIALECTS, Person, assert_sql


def statements(text: str) -> list[Any]:
    """Statements with ``text`` bound in every kind of place a value goes."""
    return [
        query(Person).where(Person.name == text),
        query(Person).where(Person.name.like(text) | Person.email.in_([text, "x"])),
        query(Person).where(fragment("lower(?) = ?", Person.name, text)),
        query(Person).select(json_text(Person.data, text)),
        query(Person).where(Person.name.between(text, text)),
        query(Person).select(Person.name).group_by(Person.name).having(max_(Person.email) > text),
        insert_all(Person, [{"name": text}], on_conflict={"email": text}, conflict_target=["name"]),
        update_all(query(Person).where(Person.email == text), set={"name": text}),
    ]


TEMPLATES = {
    d.name: [compile_statement(s, d).sql for s in statements("template")] for d in DIALECTS
}


@given(st.text())
def test_text_values_change_only_the_params(text: str) -> None:
    for dialect in DIALECTS:
        for stmt, template in zip(statements(text), TEMPLATES[dialect.name], strict=True):
            sql, params = to_sql(stmt, dialect)
            assert sql == template
            assert text in params
            assert all(p == text or p == "x" for p in params)


@given(st.text())
def test_nul_is_rejected_when_encoding_for_postgresql_only(text: str) -> None:
    compiled = compile_statement(query(Person).where(Person.name == text), POSTGRESQL)
    if "\x00" in text:
        with pytest.raises(EncodeError, match="NUL"):
            compiled.encode(postgresql.CODECS)
    else:
        assert compiled.encode(postgresql.CODECS) == [text]
    assert compile_statement(query(Person).where(Person.name == text), SQLITE).encode(
        sqlite.CODECS
    ) == [text]


def test_hostile_text_is_only_a_parameter() -> None:
    hostile = "x'); DROP TABLE people; -- \"; /* ?1 $1"
    for dialect in DIALECTS:
        sql, params = to_sql(query(Person).where(Person.name == hostile).select(Person.id), dialect)
        assert hostile not in sql
        assert params == [hostile]


# -- identifiers ---------------------------------------------------------------------------


class Odd(Schema, table='we"ird table'):
    id: Col[int] = field(primary_key=True, default=None)
    select: Col[str] = field(source="select")
    spaced: Col[str] = field(source="with space")
    quoted: Col[str] = field(source='say "hi"')
    unicode: Col[str] = field(source="名前ü")


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_odd_identifiers_are_quoted(dialect: Dialect) -> None:
    q = query(Odd).where(Odd.select == "a").order_by(Odd.quoted)
    p = dialect.ordered_placeholder(1)
    assert_sql(
        q,
        dialect,
        'SELECT "w0"."id", "w0"."select", "w0"."with space", "w0"."say ""hi""", "w0"."名前ü" '
        'FROM "we""ird table" AS "w0" WHERE ("w0"."select" = '
        + p
        + ') ORDER BY "w0"."say ""hi""" ASC',
        ["a"],
    )


@given(st.text(min_size=1).filter(lambda s: "\x00" not in s))
def test_any_identifier_is_one_quoted_token(name: str) -> None:
    quoted = SQLITE.quote(name)
    if len(name.encode("utf-8", "surrogatepass")) <= 63:
        assert quoted == POSTGRESQL.quote(name)
    else:  # PostgreSQL would cut it silently: refused instead
        with pytest.raises(ValueError, match="bytes long in UTF-8"):
            POSTGRESQL.quote(name)
    inner = quoted[1:-1]
    assert quoted[0] == quoted[-1] == '"'
    # Inside, every quote is doubled, so the token cannot end early.
    assert inner.replace('""', "").count('"') == 0
    assert inner.replace('""', '"') == name


def test_a_label_is_quoted() -> None:
    sql, _ = to_sql(query(Person).select({'a"; --': Person.id}), SQLITE)
    assert sql == 'SELECT "p0"."id" AS "a""; --" FROM "people" AS "p0"'


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_nul_in_an_identifier_is_an_error(dialect: Dialect) -> None:
    class Broken(Schema, table="broken"):
        id: Col[int] = field(primary_key=True, default=None)
        bad: Col[str] = field(source="a\x00b")

    with pytest.raises(ValueError, match="cannot contain NUL"):
        to_sql(query(Broken), dialect)
    with pytest.raises(ValueError, match="cannot contain NUL"):
        to_sql(query(Person).select({"a\x00": Person.id}), dialect)
