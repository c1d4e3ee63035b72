"""The MariaDB (and MySQL) driver, on PyMySQL.

Why PyMySQL: it is pure Python, so ``pip install pyrepodb[mariadb]`` works
on a machine without a compiler or the client library's headers, which
mysqlclient and MariaDB Connector/Python both need (docs/mariadb.md has the
measurements behind the choice). It binds parameters on the client, by
escaping them into the statement text; the session's ``sql_mode`` includes
``NO_BACKSLASH_ESCAPES``, which PyMySQL reads from the server's status and
escapes for.

Choices: the connection is in autocommit mode and repodb issues ``START
TRANSACTION``/``COMMIT`` itself, as on every driver; the session runs in
UTC with ``ANSI_QUOTES`` and ``PIPES_AS_CONCAT`` (``_mariadb.SQL_MODE``);
``FOUND_ROWS`` makes an UPDATE's row count the rows it matched, as
elsewhere, not the rows it changed; a statement timeout is the server's
``max_statement_time``; ``stream`` reads with an unbuffered cursor.

The asyncio driver (``mariadb_async.py``) is on asyncmy, a client of the
same API; what the two share besides I/O is in ``_mariadb.py``.

Requires the ``mariadb`` extra: ``pip install pyrepodb[mariadb]``.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

try:
    import pymysql
    from pymysql.constants import SERVER_STATUS
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("MariaDB support needs PyMySQL: pip install 'pyrepodb[mariadb]'") from e

from ..dialect import MARIADB
from ..errors import Error, UniqueViolation
from ..url import DatabaseUrl
from . import ConnectSettings, TransactionOptions
from ._mariadb import (
    CODECS,
    KEY_COLUMNS,
    begin_statements,
    connect_error,
    connect_options,
    map_error,
    pyformat,
    timeout_seconds,
)

__all__ = ["CODECS", "MariadbConnection", "connect", "map_error"]


class MariadbConnection:
    """A ``DriverConnection`` over one PyMySQL connection."""

    dialect = MARIADB
    codecs = CODECS
    native_errors: tuple[type[BaseException], ...] = (pymysql.err.Error,)

    def __init__(self, raw: pymysql.connections.Connection[Any]) -> None:
        self._raw = raw
        self._plain: pymysql.cursors.Cursor = raw.cursor()
        self._streams: list[_Stream] = []
        self._keys: dict[tuple[str, str], tuple[str, ...]] = {}

    @property
    def _cursor(self) -> pymysql.cursors.Cursor:
        # The protocol runs one statement at a time: an open stream's unread
        # rows are read into memory first, and the stream goes on from there.
        if self._streams:
            for stream in self._streams:
                stream.buffer_rest()
            self._streams.clear()
        return self._plain

    @property
    def in_transaction(self) -> bool:
        # The server reports it in every OK packet; PyMySQL keeps the last.
        # (The stubs do not declare server_status.)
        status: int = getattr(self._raw, "server_status", 0)
        return bool(self._raw.open and status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)

    @property
    def closed(self) -> bool:
        return not self._raw.open

    def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int:
        return self._cursor.execute(pyformat(sql), tuple(params))

    def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[tuple[Any, ...]]:
        cursor = self._cursor
        cursor.execute(pyformat(sql), tuple(params))
        return list(cursor.fetchall())

    def stream(self, sql: str, params: Sequence[Any], batch_size: int) -> Iterator[tuple[Any, ...]]:
        formatted = pyformat(sql)
        cursor = self._cursor.connection.cursor(pymysql.cursors.SSCursor)
        stream = _Stream(cursor)
        try:
            cursor.execute(formatted, tuple(params))
            self._streams.append(stream)
            while batch := stream.fetch(batch_size):
                yield from batch
        finally:
            if stream in self._streams:
                self._streams.remove(stream)
            # Closing an unbuffered cursor reads what the server still sends;
            # on a broken connection there is nothing left to read.
            if self._raw.open:
                cursor.close()

    def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        # PyMySQL sends an INSERT ... VALUES as multi-row INSERTs of up to
        # max_allowed_packet bytes, every other statement once per row.
        return self._cursor.executemany(pyformat(sql), [tuple(p) for p in params]) or 0

    def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int:
        return self.execute_many(MARIADB.insert_sql(table, columns, prefix), rows)

    def begin(self, options: TransactionOptions) -> None:
        # SET TRANSACTION applies to the next transaction only.
        for sql in begin_statements(options):
            self._cursor.execute(sql)

    def commit(self) -> None:
        self._cursor.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self._cursor.execute("ROLLBACK")

    def set_statement_timeout(self, seconds: float | None) -> None:
        self._cursor.execute(f"SET SESSION max_statement_time = {timeout_seconds(seconds)}")

    def ping(self) -> None:
        self._raw.ping(reconnect=False)

    def abort(self) -> None:
        # Shutting the socket down wakes a thread blocked reading from it at
        # once: its read fails and PyMySQL reports the connection lost. KILL
        # QUERY would need a second connection and a server that answers.
        sock = getattr(self._raw, "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._raw.open:
            with contextlib.suppress(pymysql.err.Error, OSError):
                self._raw.close()

    def map_error(self, exc: BaseException, sql: str | None) -> Error:
        error = map_error(exc, sql)
        if isinstance(error, UniqueViolation) and error.table and error.constraint:
            error.columns = self._key_columns(error.table, error.constraint)
        return error

    def _key_columns(self, table: str, key: str) -> tuple[str, ...]:
        """The columns of a unique key, from the catalog (MariaDB names only the key).

        Cached per connection; nothing when the lookup fails (a broken
        connection): the error is still raised, without its columns.
        """
        found = self._keys.get((table, key))
        if found is None and self._raw.open:
            with contextlib.suppress(pymysql.err.Error, OSError):
                self._cursor.execute(KEY_COLUMNS, (table, key))
                found = self._keys[table, key] = tuple(row[0] for row in self._plain.fetchall())
        return found or ()


class _Stream:
    """An unbuffered cursor's rows, read into memory when the connection is wanted."""

    __slots__ = ("buffered", "cursor")

    def __init__(self, cursor: pymysql.cursors.SSCursor) -> None:
        self.cursor = cursor
        self.buffered: list[tuple[Any, ...]] | None = None

    def fetch(self, size: int) -> list[tuple[Any, ...]]:
        if self.buffered is None:
            return list(self.cursor.fetchmany(size))
        batch, self.buffered = self.buffered[:size], self.buffered[size:]
        return batch

    def buffer_rest(self) -> None:
        self.buffered = list(self.cursor.fetchall())


def connect(url: DatabaseUrl, settings: ConnectSettings) -> MariadbConnection:
    """Open a connection: UTC, portable SQL mode, the requested statement timeout."""
    options = connect_options(url, settings)
    try:
        raw = pymysql.connect(**options)
    except (pymysql.err.Error, OSError) as e:
        # Unchained, as every repodb error (errors.py says why).
        error = connect_error(url, e)
    else:
        return MariadbConnection(raw)
    raise error
