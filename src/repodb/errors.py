"""One error vocabulary for every database.

Why: code that handles a duplicate e-mail should not care whether SQLite said
"UNIQUE constraint failed" or PostgreSQL said SQLSTATE 23505. Every driver maps
its native errors to these classes, and each error carries what the database
reported: the SQL (never the values), the SQLSTATE or SQLite code, and the
constraint, table and columns where known. The driver's own exception is not
chained (neither ``__cause__`` nor ``__context__``): its text may quote row
values, redacted ones included, and a formatted traceback would show them.

The tree is small: by phase (``ConnectError``, ``QueryError``, ``EncodeError``,
``DecodeError``, ``NotFound``/``MultipleResults``) and, under ``QueryError``, by
cause (``IntegrityError`` and its violations, ``ReadOnlyError``,
``SerializationFailure``, ``DeadlockDetected``, ``StatementTimeout``, ...).

Example::

    try:
        conn.exec(insert_user, "ada@example.com")
    except repodb.UniqueViolation as e:
        print(e.table, e.column)   # users email
"""

from __future__ import annotations

__all__ = [
    "CheckViolation",
    "CommitOutcomeUnknown",
    "ConnectError",
    "ConnectionLost",
    "DataError",
    "DeadlockDetected",
    "DecodeError",
    "EncodeError",
    "Error",
    "ExclusionViolation",
    "ForeignKeyViolation",
    "InFailedTransaction",
    "IntegrityError",
    "LockTimeout",
    "MultipleResults",
    "NotFound",
    "NotNullViolation",
    "ProgrammingError",
    "QueryError",
    "ReadOnlyError",
    "SerializationFailure",
    "StaleEntryError",
    "StatementTimeout",
    "TransactionRollback",
    "UniqueViolation",
    "lookup_sqlstate",
]


class Error(Exception):
    """Base class of every error repodb raises.

    Attributes are ``None`` when the database did not report them.
    """

    sql: str | None
    sqlstate: str | None
    code: str | None
    constraint: str | None
    table: str | None
    columns: tuple[str, ...]
    detail: str | None

    def __init__(
        self,
        message: str,
        *,
        sql: str | None = None,
        sqlstate: str | None = None,
        code: str | None = None,
        constraint: str | None = None,
        table: str | None = None,
        columns: tuple[str, ...] = (),
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sql = sql
        self.sqlstate = sqlstate
        self.code = code
        self.constraint = constraint
        self.table = table
        self.columns = columns
        # The database's DETAIL line may quote row values, so it is kept as an
        # attribute for the caller and never printed in str(error).
        self.detail = detail

    @property
    def column(self) -> str | None:
        """The column, when exactly one was reported."""
        return self.columns[0] if len(self.columns) == 1 else None

    def __str__(self) -> str:
        facts = [
            f"{name}={value}"
            for name, value in (
                ("sqlstate", self.sqlstate),
                ("code", self.code),
                ("constraint", self.constraint),
                ("table", self.table),
                ("column", ", ".join(self.columns) or None),
            )
            if value
        ]
        text = self.message
        if facts:
            text += " (" + ", ".join(facts) + ")"
        if self.sql:
            text += f"\n  SQL: {self.sql}"
        return text


class ConnectError(Error):
    """The database could not be reached or refused the connection."""


class EncodeError(Error, TypeError):
    """A parameter does not fit its declared type; nothing was sent."""


class DecodeError(Error):
    """A value read from the database does not fit the declared row type."""


class NotFound(Error):
    """A request expected one row and the database returned none."""


class MultipleResults(Error):
    """A request expected at most one row and the database returned more."""


class StaleEntryError(Error):
    """An update or delete of a record matched no row.

    The row was deleted meanwhile, or (with ``optimistic_lock``) another
    writer changed its version first. Attributes: ``schema`` (the record's
    class name) and ``action`` (``update`` or ``delete``).
    """

    def __init__(self, message: str, *, schema: str = "", action: str = "") -> None:
        super().__init__(message)
        self.schema = schema
        self.action = action


class QueryError(Error):
    """The database rejected or failed a statement."""


class ConnectionLost(QueryError):
    """The connection broke during a statement (SQLSTATE class 08, 57P01..57P03)."""


class CommitOutcomeUnknown(ConnectionLost):
    """The connection broke while COMMIT ran: the transaction may or may not have committed.

    Why a class of its own: a lost connection before COMMIT means nothing
    was written, so the work can be run again; during COMMIT the server may
    have committed before the answer was lost, and running the work again
    could write it twice. Nothing retries it: check whether the write
    happened (e.g. look up a key the transaction wrote) before trying again.
    """


class ProgrammingError(QueryError):
    """The statement is wrong: syntax, unknown table or column, wrong parameter count."""


class DataError(QueryError):
    """The database rejected a value: out of range, invalid text, division by zero."""


class IntegrityError(QueryError):
    """A constraint was violated."""


class UniqueViolation(IntegrityError):
    """A unique or primary-key constraint was violated."""


class ForeignKeyViolation(IntegrityError):
    """A foreign-key constraint was violated."""


class NotNullViolation(IntegrityError):
    """NULL was written to a NOT NULL column."""


class CheckViolation(IntegrityError):
    """A CHECK constraint was violated."""


class ExclusionViolation(IntegrityError):
    """An exclusion constraint was violated (PostgreSQL)."""


class ReadOnlyError(QueryError):
    """A write was sent to a read-only transaction or a hot standby (SQLSTATE 25006)."""


class InFailedTransaction(QueryError):
    """A statement failed earlier in this transaction, so it can only be rolled back.

    On every database a failed statement aborts the transaction (PostgreSQL
    does so itself; repodb makes SQLite behave the same). To recover from an
    expected error and carry on, run the statement in a nested
    ``conn.transaction()``: the savepoint is rolled back and the outer
    transaction stays usable.
    """


class TransactionRollback(QueryError):
    """The database rolled the transaction back; running it again may succeed."""


class SerializationFailure(TransactionRollback):
    """A serializable transaction conflicted with another (SQLSTATE 40001)."""


class DeadlockDetected(TransactionRollback):
    """Two transactions waited on each other (SQLSTATE 40P01, MariaDB's 1213)."""


class LockTimeout(TransactionRollback):
    """A statement waited for a row lock longer than the server allows (MariaDB's 1205).

    Why a ``TransactionRollback``: ``run_transaction`` retries it. MariaDB
    rolls back only the statement that waited (unless the server runs with
    ``innodb_rollback_on_timeout``), so the transaction's earlier writes
    would survive; repodb treats the transaction as failed whatever the
    server kept (a further statement is refused with ``InFailedTransaction``)
    and rolls it back whole, and a retry starts it again from the beginning.
    MariaDB's ``NOWAIT`` reports a locked row with the same error.
    """


class StatementTimeout(QueryError):
    """The statement ran past the connection's statement timeout and was cancelled."""


_BY_SQLSTATE: dict[str, type[QueryError]] = {
    "23505": UniqueViolation,
    "23503": ForeignKeyViolation,
    "23502": NotNullViolation,
    "23514": CheckViolation,
    "23P01": ExclusionViolation,
    "25006": ReadOnlyError,
    "25P02": InFailedTransaction,
    "40001": SerializationFailure,
    "40P01": DeadlockDetected,
    "57014": StatementTimeout,
    "57P01": ConnectionLost,
    "57P02": ConnectionLost,
    "57P03": ConnectionLost,
}

_BY_SQLSTATE_CLASS: dict[str, type[QueryError]] = {
    "08": ConnectionLost,
    "22": DataError,
    "23": IntegrityError,
    "40": TransactionRollback,
    "42": ProgrammingError,
}


def lookup_sqlstate(sqlstate: str | None) -> type[QueryError]:
    """The repodb class for a SQLSTATE, falling back on its two-letter class.

    Example::

        >>> lookup_sqlstate("23505").__name__
        'UniqueViolation'
        >>> lookup_sqlstate("42P01").__name__
        'ProgrammingError'
    """
    if not sqlstate:
        return QueryError
    return _BY_SQLSTATE.get(sqlstate) or _BY_SQLSTATE_CLASS.get(sqlstate[:2], QueryError)
