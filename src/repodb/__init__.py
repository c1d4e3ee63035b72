"""repodb: a typed database layer in the spirit of Caqti and Ecto.

Start with ``repodb.connect(url)``, declare typed requests with ``Request``,
and run them on the connection::

    import repodb
    from repodb import Request
    from repodb.types import tup

    conn = repodb.connect("sqlite::memory:")
    conn.exec(Request.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
    conn.exec(Request.exec("INSERT INTO users (name) VALUES (?)", params=str), "Ada")
    names = conn.all(Request.many("SELECT name FROM users", row=str))

See ``docs/`` for the guide.
"""

from .changeset import Changeset, Constraint, FieldError, InvalidChangesetError
from .connection import Connection, Rollback, RowStream, Transaction, connect
from .dialect import Dialect
from .driver import IsolationLevel
from .errors import (
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
    InFailedTransaction,
    IntegrityError,
    MultipleResults,
    NotFound,
    NotNullViolation,
    ProgrammingError,
    QueryError,
    ReadOnlyError,
    SerializationFailure,
    StaleEntryError,
    StatementTimeout,
    TransactionRollback,
    UniqueViolation,
)
from .multi import Multi, MultiError
from .pool import Pool, PoolClosed, PoolError, PoolStats, PoolTimeout, PoolTooManyWaiters
from .query import Query, to_sql
from .repo import Repo, WriteResult
from .request import Many, One, Request, Zero, ZeroOrOne
from .types import DbType
from .url import DatabaseUrl, parse_url

__all__ = [
    "Changeset",
    "CheckViolation",
    "ConnectError",
    "Connection",
    "ConnectionLost",
    "Constraint",
    "DataError",
    "DatabaseUrl",
    "DbType",
    "DeadlockDetected",
    "DecodeError",
    "Dialect",
    "EncodeError",
    "Error",
    "ExclusionViolation",
    "FieldError",
    "ForeignKeyViolation",
    "InFailedTransaction",
    "IntegrityError",
    "InvalidChangesetError",
    "IsolationLevel",
    "Many",
    "Multi",
    "MultiError",
    "MultipleResults",
    "NotFound",
    "NotNullViolation",
    "One",
    "Pool",
    "PoolClosed",
    "PoolError",
    "PoolStats",
    "PoolTimeout",
    "PoolTooManyWaiters",
    "ProgrammingError",
    "Query",
    "QueryError",
    "ReadOnlyError",
    "Repo",
    "Request",
    "Rollback",
    "RowStream",
    "SerializationFailure",
    "StaleEntryError",
    "StatementTimeout",
    "Transaction",
    "TransactionRollback",
    "UniqueViolation",
    "WriteResult",
    "Zero",
    "ZeroOrOne",
    "connect",
    "parse_url",
    "to_sql",
]

__version__ = "0.1.0"
