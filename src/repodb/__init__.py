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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .changeset import Changeset, Constraint, FieldError, InvalidChangesetError
    from .connection import Connection, Rollback, RowStream, Transaction, connect
    from .connection_async import AsyncConnection, AsyncRowStream, AsyncTransaction, connect_async
    from .dialect import Dialect
    from .driver import IsolationLevel
    from .errors import (
        CheckViolation,
        CommitOutcomeUnknown,
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
        LockTimeout,
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
    from .multi_async import AsyncMulti
    from .pool import Pool, PoolClosed, PoolError, PoolStats, PoolTimeout, PoolTooManyWaiters
    from .pool_async import AsyncPool
    from .prepared import Prepared, param, prepare
    from .query import Query, to_sql
    from .repo import Repo, WriteResult
    from .repo_async import AsyncRepo
    from .request import Many, One, Request, Zero, ZeroOrOne
    from .schema import is_loaded
    from .serialize import to_dict
    from .types import DbType
    from .url import DatabaseUrl, parse_url

# Where each public name lives: imported on first use (PEP 562), so that importing
# a part of repodb (the pytest plugin, the command line's --help) does not load the rest.
_LAZY: dict[str, str] = {
    "Changeset": "changeset",
    "CheckViolation": "errors",
    "ConnectError": "errors",
    "AsyncConnection": "connection_async",
    "AsyncMulti": "multi_async",
    "AsyncPool": "pool_async",
    "AsyncRepo": "repo_async",
    "AsyncRowStream": "connection_async",
    "AsyncTransaction": "connection_async",
    "CommitOutcomeUnknown": "errors",
    "Connection": "connection",
    "ConnectionLost": "errors",
    "Constraint": "changeset",
    "DataError": "errors",
    "DatabaseUrl": "url",
    "DbType": "types",
    "DeadlockDetected": "errors",
    "LockTimeout": "errors",
    "DecodeError": "errors",
    "Dialect": "dialect",
    "EncodeError": "errors",
    "Error": "errors",
    "ExclusionViolation": "errors",
    "FieldError": "changeset",
    "ForeignKeyViolation": "errors",
    "InFailedTransaction": "errors",
    "IntegrityError": "errors",
    "InvalidChangesetError": "changeset",
    "IsolationLevel": "driver",
    "Many": "request",
    "Multi": "multi",
    "MultiError": "multi",
    "MultipleResults": "errors",
    "NotFound": "errors",
    "NotNullViolation": "errors",
    "One": "request",
    "Pool": "pool",
    "PoolClosed": "pool",
    "PoolError": "pool",
    "PoolStats": "pool",
    "PoolTimeout": "pool",
    "PoolTooManyWaiters": "pool",
    "Prepared": "prepared",
    "ProgrammingError": "errors",
    "Query": "query",
    "QueryError": "errors",
    "ReadOnlyError": "errors",
    "Repo": "repo",
    "Request": "request",
    "Rollback": "connection",
    "RowStream": "connection",
    "SerializationFailure": "errors",
    "StaleEntryError": "errors",
    "StatementTimeout": "errors",
    "Transaction": "connection",
    "TransactionRollback": "errors",
    "UniqueViolation": "errors",
    "WriteResult": "repo",
    "Zero": "request",
    "ZeroOrOne": "request",
    "connect": "connection",
    "connect_async": "connection_async",
    "is_loaded": "schema",
    "param": "prepared",
    "parse_url": "url",
    "prepare": "prepared",
    "to_dict": "serialize",
    "to_sql": "query",
}

__all__ = [
    "AsyncConnection",
    "AsyncMulti",
    "AsyncPool",
    "AsyncRepo",
    "AsyncRowStream",
    "AsyncTransaction",
    "Changeset",
    "CheckViolation",
    "CommitOutcomeUnknown",
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
    "LockTimeout",
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
    "Prepared",
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
    "connect_async",
    "is_loaded",
    "param",
    "parse_url",
    "prepare",
    "to_dict",
    "to_sql",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'repodb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
