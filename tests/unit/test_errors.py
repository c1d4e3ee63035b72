"""The error vocabulary: SQLSTATE lookup, the class tree and what ``str(err)`` shows.

Covers ``repodb.errors.lookup_sqlstate`` (exact codes, the two-letter class
fallback, unknown and missing codes), ``Error.__str__`` (facts and SQL shown,
``detail`` never shown), ``Error.column`` and the inheritance tree.
"""

from __future__ import annotations

import pickle

import pytest

import repodb
from repodb.errors import (
    CheckViolation,
    ConnectError,
    ConnectionLost,
    DataError,
    DeadlockDetected,
    DecodeError,
    EncodeError,
    Error,
    ExclusionViolation,
    ForeignKeyViolation,
    IntegrityError,
    LockTimeout,
    MultipleResults,
    NotFound,
    NotNullViolation,
    ProgrammingError,
    QueryError,
    ReadOnlyError,
    SerializationFailure,
    StatementTimeout,
    TransactionRollback,
    UniqueViolation,
    lookup_sqlstate,
)


@pytest.mark.parametrize(
    ("sqlstate", "cls"),
    [
        ("23505", UniqueViolation),
        ("23503", ForeignKeyViolation),
        ("23502", NotNullViolation),
        ("23514", CheckViolation),
        ("23P01", ExclusionViolation),
        ("25006", ReadOnlyError),
        ("40001", SerializationFailure),
        ("40P01", DeadlockDetected),
        ("57014", StatementTimeout),
        ("57P01", ConnectionLost),
        ("57P02", ConnectionLost),
        ("57P03", ConnectionLost),
    ],
)
def test_lookup_exact(sqlstate: str, cls: type[QueryError]) -> None:
    assert lookup_sqlstate(sqlstate) is cls


@pytest.mark.parametrize(
    ("sqlstate", "cls"),
    [
        ("08006", ConnectionLost),
        ("22012", DataError),
        ("22P02", DataError),
        ("23000", IntegrityError),
        ("40002", TransactionRollback),
        ("42P01", ProgrammingError),
        ("42601", ProgrammingError),
    ],
)
def test_lookup_falls_back_on_the_class(sqlstate: str, cls: type[QueryError]) -> None:
    assert lookup_sqlstate(sqlstate) is cls


@pytest.mark.parametrize("sqlstate", ["XX000", "53100", "57000", "99999", "", None])
def test_lookup_unknown_or_missing_is_query_error(sqlstate: str | None) -> None:
    assert lookup_sqlstate(sqlstate) is QueryError


def test_str_shows_facts_and_sql_but_not_detail() -> None:
    error = UniqueViolation(
        "duplicate key value violates unique constraint",
        sql="INSERT INTO users (email) VALUES ($1)",
        sqlstate="23505",
        constraint="users_email_key",
        table="users",
        columns=("email",),
        detail="Key (email)=(ada@example.com) already exists.",
    )
    text = str(error)
    assert text == (
        "duplicate key value violates unique constraint "
        "(sqlstate=23505, constraint=users_email_key, table=users, column=email)"
        "\n  SQL: INSERT INTO users (email) VALUES ($1)"
    )
    assert "ada@example.com" not in text
    assert "ada@example.com" not in repr(error)
    assert error.detail == "Key (email)=(ada@example.com) already exists."


def test_str_shows_sqlite_code_and_several_columns() -> None:
    error = UniqueViolation(
        "UNIQUE constraint failed: t.a, t.b",
        code="SQLITE_CONSTRAINT_UNIQUE",
        table="t",
        columns=("a", "b"),
    )
    assert str(error) == (
        "UNIQUE constraint failed: t.a, t.b (code=SQLITE_CONSTRAINT_UNIQUE, table=t, column=a, b)"
    )
    assert error.column is None


def test_str_without_facts_is_the_message() -> None:
    assert str(NotFound("expected one row, got none")) == "expected one row, got none"
    error = QueryError("boom", sql="SELECT 1")
    assert str(error) == "boom\n  SQL: SELECT 1"


def test_attributes_default_to_none() -> None:
    error = Error("x")
    assert error.message == "x"
    assert (error.sql, error.sqlstate, error.code) == (None, None, None)
    assert (error.constraint, error.table, error.detail) == (None, None, None)
    assert error.columns == ()
    assert error.column is None
    assert NotNullViolation("x", columns=("name",)).column == "name"


def test_errors_survive_pickling() -> None:
    error = CheckViolation("check failed", sql="UPDATE t SET a = 1", constraint="a_positive")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is CheckViolation
    assert str(copy) == str(error)


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (UniqueViolation, (IntegrityError, QueryError, Error, Exception)),
        (ForeignKeyViolation, (IntegrityError,)),
        (NotNullViolation, (IntegrityError,)),
        (CheckViolation, (IntegrityError,)),
        (ExclusionViolation, (IntegrityError,)),
        (SerializationFailure, (TransactionRollback, QueryError)),
        (DeadlockDetected, (TransactionRollback, QueryError)),
        (LockTimeout, (TransactionRollback, QueryError)),
        (ConnectionLost, (QueryError,)),
        (ProgrammingError, (QueryError,)),
        (DataError, (QueryError,)),
        (ReadOnlyError, (QueryError,)),
        (StatementTimeout, (QueryError,)),
        (EncodeError, (Error, TypeError)),
        (DecodeError, (Error,)),
        (ConnectError, (Error,)),
        (NotFound, (Error,)),
        (MultipleResults, (Error,)),
    ],
)
def test_class_tree(cls: type[Error], bases: tuple[type[BaseException], ...]) -> None:
    for base in bases:
        assert issubclass(cls, base)


@pytest.mark.parametrize(
    ("cls", "not_base"),
    [
        (EncodeError, QueryError),
        (DecodeError, TypeError),
        (NotFound, QueryError),
        (ConnectError, QueryError),
        (StatementTimeout, TransactionRollback),
        (ReadOnlyError, IntegrityError),
    ],
)
def test_class_tree_keeps_phases_apart(cls: type[Error], not_base: type[BaseException]) -> None:
    assert not issubclass(cls, not_base)


def test_errors_are_exported_from_the_package() -> None:
    assert repodb.UniqueViolation is UniqueViolation
    assert repodb.EncodeError is EncodeError
    assert repodb.Error is Error
