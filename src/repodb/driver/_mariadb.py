"""What a MariaDB driver needs besides I/O: codecs, error mapping, session settings.

Why apart from the driver (``mariadb_async.py``, and ``mariadb.py``
generated from it): none of it waits, so it is plain code both sides import,
whatever client runs the protocol (asyncmy raises PyMySQL's exception
classes, by name, and error numbers).

Storage forms: datetimes are ``DATETIME(6)`` in UTC (the session's time zone
is UTC), times ``TIME(6)`` (which the client library hands over as a
timedelta), timedeltas ``BIGINT`` microseconds (``TIME`` holds only +/- 838
hours), UUIDs their text form, JSON and arrays JSON text, booleans ``0``/``1``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import _codec
from .._codec import Codecs, Convert, enum_by_name, enum_from_name, json_text
from .._placeholders import parse
from ..errors import (
    CheckViolation,
    ConnectError,
    ConnectionLost,
    DataError,
    DeadlockDetected,
    EncodeError,
    Error,
    ForeignKeyViolation,
    IntegrityError,
    LockTimeout,
    NotNullViolation,
    ProgrammingError,
    QueryError,
    ReadOnlyError,
    StatementTimeout,
    UniqueViolation,
)
from ..types import DbType, Kind
from ..url import DatabaseUrl
from . import ConnectSettings, TransactionOptions

__all__ = [
    "CODECS",
    "KEY_COLUMNS",
    "SQL_MODE",
    "begin_statements",
    "connect_error",
    "connect_options",
    "map_error",
    "pyformat",
    "timeout_seconds",
]

# Portable SQL means the same here as on PostgreSQL and SQLite: "x" is an
# identifier, || concatenates, a backslash in a literal is a backslash; and
# nothing is silently truncated or zeroed.
SQL_MODE = (
    "ANSI_QUOTES,PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES,"
    "NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)


@functools.lru_cache(maxsize=2048)
def pyformat(sql: str) -> str:
    """``sql`` with its ``?`` markers written as PyMySQL's ``%s``, and literal ``%`` doubled.

    Why: PyMySQL binds on the client, by ``%`` formatting; repodb's
    requests reach the driver with ``?`` markers (the dialect's), found
    outside literals and comments by the same parser the requests use.
    Cached: a request's SQL text is the same on every call.
    """
    template = parse(sql)
    pieces = [piece.replace("%", "%%") for piece in template.pieces]
    return "%s".join(pieces)


def _encode_datetime(t: DbType[Any], c: Codecs) -> Convert:
    return lambda v: _codec.utc(v).replace(tzinfo=None)


def _decode_datetime(t: DbType[Any], c: Codecs) -> Convert:
    def decode(v: dt.datetime | str) -> dt.datetime:
        if isinstance(v, str):  # an array item, from JSON
            v = dt.datetime.fromisoformat(v)
        return v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)

    return decode


def _decode_time(t: DbType[Any], c: Codecs) -> Convert:
    # PyMySQL reads TIME as a timedelta (TIME is also a duration type there).
    def decode(v: object) -> dt.time:
        if isinstance(v, dt.time):
            return v
        if isinstance(v, str):  # an array item, from JSON
            return dt.time.fromisoformat(v)
        if isinstance(v, dt.timedelta) and dt.timedelta(0) <= v < dt.timedelta(days=1):
            return (dt.datetime.min + v).time()
        raise ValueError(f"not a time of day: {v!r}")

    return decode


def _load_json(v: str | bytes) -> Any:
    return json.loads(v.decode() if isinstance(v, bytes) else v)


def _decode_json(t: DbType[Any], c: Codecs) -> Convert:
    return _load_json


def _encode_array(t: DbType[Any], c: Codecs) -> Convert:
    if t.item is not None and (t.item.item or t.item).kind is Kind.BYTES:
        raise TypeError("arrays of bytes cannot be stored on MariaDB (arrays are JSON text there)")
    return lambda items: json_text([_jsonable(v) for v in items])


def _jsonable(v: object) -> object:
    """An array item as JSON holds it: the values PyMySQL takes as they are, as text."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (dt.date, dt.time)):  # a datetime is a date
        return v.isoformat()
    return v


def _from_text(cls: type[dt.date] | type[dt.time]) -> _codec.Builder:
    # An array item read back from JSON is text; a column value already the class.
    return lambda t, c: lambda v: v if isinstance(v, cls) else cls.fromisoformat(v)


def _plain(convert: Convert) -> _codec.Builder:
    return lambda t, c: convert


def _encode_float(t: DbType[Any], c: Codecs) -> Convert:
    def encode(v: float) -> float:
        if not math.isfinite(v):
            raise EncodeError(f"MariaDB's DOUBLE cannot hold {v!r} (only finite numbers)")
        return v

    return encode


CODECS = Codecs(
    name="mariadb",
    encode={
        Kind.FLOAT: _encode_float,
        Kind.DATETIME: _encode_datetime,
        Kind.TIMEDELTA: _codec.timedelta_micros,
        Kind.UUID: _plain(str),
        Kind.JSON: _plain(json_text),
        Kind.ENUM: enum_by_name,
        Kind.ARRAY: _encode_array,
    },
    decode={
        Kind.BOOL: _codec.bool_from_int,
        Kind.FLOAT: _plain(float),
        Kind.DECIMAL: _plain(lambda v: v if isinstance(v, Decimal) else Decimal(str(v))),
        Kind.DATE: _from_text(dt.date),
        Kind.DATETIME: _decode_datetime,
        Kind.TIME: _decode_time,
        Kind.TIMEDELTA: _plain(lambda v: dt.timedelta(microseconds=v)),
        Kind.UUID: _plain(lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))),
        Kind.JSON: _decode_json,
        Kind.ENUM: enum_from_name,
        Kind.ARRAY: _codec.json_array_decoder(_load_json),
    },
    # DECIMAL columns have a scale: DECIMAL(65, 30) keeps 1.5 as 1.500...0;
    # a DOUBLE keeps -0.0 as 0.
    readback=frozenset({Kind.DECIMAL, Kind.FLOAT}),
)


# The columns of a unique key, which MariaDB's duplicate-key error names only by key.
KEY_COLUMNS = (
    "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
    " AND TABLE_NAME = %s AND INDEX_NAME = %s ORDER BY SEQ_IN_INDEX"
)
_OPTIONS = {"connect_timeout", "read_timeout", "write_timeout", "password", "charset"}
# CLIENT_FOUND_ROWS: an UPDATE's row count is the rows it matched, as elsewhere.
FOUND_ROWS = 2


def begin_statements(options: TransactionOptions) -> list[str]:
    """The statements that start a transaction (``SET TRANSACTION`` sets the next one only)."""
    start = "START TRANSACTION READ ONLY" if options.read_only else "START TRANSACTION"
    if options.isolation is None:
        return [start]
    return ["SET TRANSACTION ISOLATION LEVEL " + options.isolation.value, start]


def connect_options(url: DatabaseUrl, settings: ConnectSettings) -> dict[str, Any]:
    """The client's connection options from a ``mariadb://`` URL and the settings.

    PyMySQL's and asyncmy's, which take the same names (asyncmy has no
    ``write_timeout``: an asyncio write does not block).
    """
    unknown = set(url.options) - _OPTIONS
    if unknown:
        raise ValueError(f"unknown MariaDB URL option(s): {', '.join(sorted(unknown))}")
    parts = urlsplit(url.target)
    database = unquote(parts.path.lstrip("/"))
    options: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username) if parts.username else None,
        "password": url.password or "",
        "database": database or None,
        "charset": url.options.get("charset", "utf8mb4"),
        "autocommit": True,
        "client_flag": FOUND_ROWS,
        # One statement, so one round trip (the clients' own sql_mode option
        # would be another; asyncmy's does not quote the value either).
        # sql_notes = 0: a Note (DROP TABLE IF EXISTS of a missing table, a
        # Decimal rounded to its column's scale) is not counted as a warning,
        # so asyncmy does not answer it with a SHOW WARNINGS round trip and a
        # log line of its own; real warnings still count.
        "init_command": (
            f"SET sql_mode = '{SQL_MODE}', time_zone = '+00:00', sql_notes = 0,"
            " max_statement_time = " + timeout_seconds(settings.statement_timeout)
        ),
        "connect_timeout": float(url.options.get("connect_timeout", settings.connect_timeout)),
    }
    for key in ("read_timeout", "write_timeout"):
        if key in url.options:
            options[key] = float(url.options[key])
    return options


def connect_error(url: DatabaseUrl, exc: BaseException) -> ConnectError:
    """The error for a failed connect: the URL without its password, the client's reason."""
    return ConnectError(f"cannot connect to {url.redacted}: {url.scrub(str(exc).strip())}")


def timeout_seconds(seconds: float | None) -> str:
    """``max_statement_time``'s value: seconds (0 is no limit), at least a millisecond."""
    return "0" if seconds is None else f"{max(0.001, math.ceil(seconds * 1000) / 1000):g}"


# Server error numbers (MariaDB's include/mysqld_error.h) and client ones (20xx).
_BY_CODE: dict[int, type[QueryError]] = {
    1062: UniqueViolation,  # ER_DUP_ENTRY
    1586: UniqueViolation,  # ER_DUP_ENTRY_WITH_KEY_NAME
    1451: ForeignKeyViolation,  # ER_ROW_IS_REFERENCED_2
    1452: ForeignKeyViolation,  # ER_NO_REFERENCED_ROW_2
    1216: ForeignKeyViolation,  # ER_NO_REFERENCED_ROW
    1217: ForeignKeyViolation,  # ER_ROW_IS_REFERENCED
    1048: NotNullViolation,  # ER_BAD_NULL_ERROR
    1364: NotNullViolation,  # ER_NO_DEFAULT_FOR_FIELD: a NOT NULL column left out
    4025: CheckViolation,  # ER_CONSTRAINT_FAILED (MariaDB)
    3819: CheckViolation,  # ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
    1290: ReadOnlyError,  # ER_OPTION_PREVENTS_STATEMENT: --read-only
    1836: ReadOnlyError,  # ER_READ_ONLY_MODE
    1792: ReadOnlyError,  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
    # ER_OPEN_AS_READONLY: what an innodb_read_only server answers a write with
    # (it only warns with 1836); also a packed or read-only table's answer.
    1036: ReadOnlyError,
    1213: DeadlockDetected,  # ER_LOCK_DEADLOCK: the whole transaction is rolled back
    1205: LockTimeout,  # ER_LOCK_WAIT_TIMEOUT (and NOWAIT): only the statement is rolled back
    1969: StatementTimeout,  # ER_STATEMENT_TIMEOUT: max_statement_time
    3024: StatementTimeout,  # ER_QUERY_TIMEOUT (MySQL's max_execution_time)
    1317: StatementTimeout,  # ER_QUERY_INTERRUPTED: KILL QUERY
    1064: ProgrammingError,  # ER_PARSE_ERROR
    1146: ProgrammingError,  # ER_NO_SUCH_TABLE
    1054: ProgrammingError,  # ER_BAD_FIELD_ERROR
    1406: DataError,  # ER_DATA_TOO_LONG
    1264: DataError,  # ER_WARN_DATA_OUT_OF_RANGE
    1366: DataError,  # ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
    1292: DataError,  # ER_TRUNCATED_WRONG_VALUE
    1365: DataError,  # ER_DIVISION_BY_ZERO
    1690: DataError,  # ER_DATA_OUT_OF_RANGE
    4038: DataError,  # ER_JSON_SYNTAX
    2006: ConnectionLost,  # CR_SERVER_GONE_ERROR
    2013: ConnectionLost,  # CR_SERVER_LOST
    2003: ConnectionLost,  # CR_CONN_HOST_ERROR
    2055: ConnectionLost,  # CR_SERVER_LOST_EXTENDED
    1927: ConnectionLost,  # ER_CONNECTION_KILLED
    1053: ConnectionLost,  # ER_SERVER_SHUTDOWN
}
_QUOTED = r"[`'\"]((?:[^`'\"]|``)+)[`'\"]"
_DUP_KEY = re.compile(r"for key " + _QUOTED)
# Names are quoted with backticks, or double quotes under ANSI_QUOTES.
_NAME = r"[`\"]((?:[^`\"]|``|\"\")+)[`\"]"
_FK = re.compile(rf"fails \({_NAME}\.{_NAME}, CONSTRAINT {_NAME} FOREIGN KEY \(([^)]*)\)")
_COLUMN = re.compile(r"^(?:Column|Field) '((?:[^']|'')+)'")
_CHECK = re.compile(rf"^CONSTRAINT {_NAME} failed for {_NAME}\.{_NAME}")


# Messages that quote a value the statement sent: "Incorrect integer value:
# 'abc' for column ...".
_QUOTES_VALUE = {1366, 1292}
_VALUE = re.compile(r"'(?:[^']|'')*'")
# The table a write names: MariaDB's integrity errors name only their key or
# column, so the table comes from the statement (one written table; a
# multi-table statement names its first).
_TARGET = re.compile(
    r"\s*(?:INSERT(?:\s+IGNORE)?\s+INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+"
    r"((?:`(?:[^`]|``)+`|\"(?:[^\"]|\"\")+\"|\w+)(?:\.(?:`(?:[^`]|``)+`|\"(?:[^\"]|\"\")+\"|\w+))?)",
    re.IGNORECASE,
)


def _unquote(name: str) -> str:
    return name.replace("``", "`").replace('""', '"')


def _unquote_identifier(text: str) -> str:
    """The last part of a possibly qualified, possibly quoted name."""
    last: str = re.findall(r'`(?:[^`]|``)+`|"(?:[^"]|"")+"|\w+', text)[-1]
    if last[0] == "`":
        return last[1:-1].replace("``", "`")
    if last[0] == '"':
        return last[1:-1].replace('""', '"')
    return last


def map_error(exc: BaseException, sql: str | None) -> Error:
    """The repodb error for a PyMySQL exception (``args``: error number, message)."""
    args: tuple[Any, ...] = exc.args
    code = args[0] if args and isinstance(args[0], int) else None
    message = str(args[1]) if len(args) > 1 else str(exc)
    known = _BY_CODE.get(code) if code is not None else None
    cls = known if known is not None else _by_class(exc, code)
    detail = None
    constraint = table = None
    columns: tuple[str, ...] = ()
    if cls is UniqueViolation and (m := _DUP_KEY.search(message)):
        # "Duplicate entry '<the row's values>' for key 'k'": the values stay
        # in ``detail``, which is never printed.
        constraint = _unquote(m.group(1))
        detail, message = message, f"duplicate key value violates unique key '{constraint}'"
    elif cls is ForeignKeyViolation and (m := _FK.search(message)):
        table, constraint = _unquote(m.group(2)), _unquote(m.group(3))
        columns = tuple(_unquote_identifier(c) for c in m.group(4).split(","))
    elif cls is NotNullViolation and (m := _COLUMN.match(message)):
        columns = (m.group(1).replace("''", "'"),)
    elif cls is CheckViolation and (m := _CHECK.match(message)):
        constraint, table = _unquote(m.group(1)), _unquote(m.group(3))
    elif code in _QUOTES_VALUE:
        detail, message = message, _VALUE.sub("'***'", message, count=1)
    if cls is StatementTimeout and code == 1969:
        message = "statement timeout: max_statement_time exceeded"
    if table is None and issubclass(cls, IntegrityError) and sql and (m := _TARGET.match(sql)):
        table = _unquote_identifier(m.group(1))
    return cls(
        message,
        sql=sql,
        code=None if code is None else str(code),
        constraint=constraint,
        table=table,
        columns=columns,
        detail=detail,
    )


# PEP 249's exception classes, by name: PyMySQL and asyncmy (the async
# driver's client) define the same tree, each its own classes.
_BY_CLASS_NAME: dict[str, type[QueryError]] = {
    "InterfaceError": ConnectionLost,
    "IntegrityError": IntegrityError,
    "DataError": DataError,
    "ProgrammingError": ProgrammingError,
    "NotSupportedError": ProgrammingError,
}


def _by_class(exc: BaseException, code: int | None) -> type[QueryError]:
    """The repodb class for an error without a known number: by its range, then its class."""
    if code is not None and 2000 <= code < 3000:
        return ConnectionLost  # the client library's own errors: the socket failed
    names = [klass.__name__ for klass in type(exc).__mro__]
    # Both clients make every server error they do not know an OperationalError,
    # and raise their base Error itself for a closed connection ("Already closed").
    if not code and (names[0] == "Error" or "OperationalError" in names):
        return ConnectionLost
    return next((_BY_CLASS_NAME[n] for n in names if n in _BY_CLASS_NAME), QueryError)
