"""What the psycopg drivers share: adapters, error mapping, settings (no I/O).

The drivers are ``postgresql_async.py`` and ``postgresql.py``, generated
from it; why psycopg is used as it is, is said there. What every PostgreSQL
driver shares, psycopg or not, is in ``_postgresql_base.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

# The drivers import psycopg first, and say how to install it when it is missing.
import psycopg
from psycopg.types.array import ListBinaryDumper, ListDumper

from .._codec import Codecs
from ..errors import (
    ConnectError,
    ConnectionLost,
    DataError,
    Error,
    ProgrammingError,
    QueryError,
    lookup_sqlstate,
)
from ..url import DatabaseUrl
from . import ConnectSettings
from ._postgresql_base import (
    DECODE,
    DECODE_COLUMN,
    ENCODE,
    READBACK,
    BigintList,
    JsonbText,
    server_error,
    timeout_ms,
    too_many_params,
)

__all__ = ["CODECS", "connect_error", "connect_options", "map_error", "pooled"]


class _JsonbTextDumper(psycopg.adapt.Dumper):
    oid = psycopg.postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return obj.encode()


def _adapters() -> psycopg.adapt.AdaptersMap:
    """psycopg's adapters, with ``BigintList`` and ``JsonbText`` dumped as their types."""
    adapters = psycopg.adapt.AdaptersMap(psycopg.adapters)
    info = psycopg.postgres.types["bigint"]
    for base in (ListDumper, ListBinaryDumper):
        fixed = type(base.__name__, (base,), {"oid": info.array_oid, "element_oid": info.oid})
        adapters.register_dumper(BigintList, fixed)
    adapters.register_dumper(JsonbText, _JsonbTextDumper)
    return adapters


_ADAPTERS = _adapters()


CODECS = Codecs(
    name="postgresql",
    encode=ENCODE,
    decode=DECODE,
    decode_column=DECODE_COLUMN,
    readback=READBACK,
)
_cursor_names = itertools.count(1)


def _too_many(params: Sequence[Any]) -> None:
    # psycopg refuses before sending, with an OperationalError that reads as
    # a lost connection (a retried read, a replica marked down); this one
    # maps to ProgrammingError, a mistake in the statement.
    raise psycopg.ProgrammingError(too_many_params(len(params)))


def map_error(exc: BaseException, sql: str | None, *, broken: bool = False) -> Error:
    """The repodb error for a psycopg exception."""
    if not isinstance(exc, psycopg.Error):
        return QueryError(str(exc), sql=sql)
    sqlstate = exc.sqlstate
    diag = exc.diag
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    if sqlstate:
        cls = lookup_sqlstate(sqlstate)
    elif broken or isinstance(exc, psycopg.OperationalError):
        cls = ConnectionLost
    elif isinstance(exc, psycopg.DataError):
        cls = DataError
    elif isinstance(exc, psycopg.ProgrammingError):
        cls = ProgrammingError
    else:
        cls = QueryError
    return server_error(
        cls,
        message,
        sql,
        sqlstate=sqlstate,
        detail=diag.message_detail,
        column=diag.column_name,
        constraint=diag.constraint_name,
        table=diag.table_name,
    )


def pooled(url: DatabaseUrl) -> bool:
    """Whether ``url`` names a transaction pooler (``pooler=transaction``); ValueError if unknown.

    Why an option and not detection: a pooler set to ignore the startup
    ``options`` connects fine and silently drops UTC and the timeout, so
    nothing observable at connect time tells it from a server.
    """
    mode = url.options.get("pooler")
    if mode is None:
        return False
    if mode != "transaction":
        raise ValueError(
            f"unknown pooler={mode!r} in {url.redacted}: the one mode is pooler=transaction"
            " (PgBouncer's pool_mode = transaction, and any pooler that may change"
            " the server connection between transactions)"
        )
    return True


def connect_options(url: DatabaseUrl, settings: ConnectSettings, pooler: bool) -> dict[str, Any]:
    """psycopg's connection options: UTC, the statement timeout, a connect timeout.

    Through a transaction pooler there is no startup ``options`` (PgBouncer
    refuses it) and nothing is prepared on the server; the driver sets the
    timeout per transaction or statement instead.
    """
    extra: dict[str, Any] = {"prepare_threshold": None if pooler else 5}
    if not pooler:
        extra["options"] = " ".join(
            part
            for part in (
                url.options.get("options", ""),
                "-c TimeZone=UTC",
                f"-c statement_timeout={timeout_ms(settings.statement_timeout)}",
            )
            if part
        )
    if "connect_timeout" not in url.options:
        extra["connect_timeout"] = max(2, math.ceil(settings.connect_timeout))
    return extra


def connect_error(url: DatabaseUrl, exc: psycopg.Error) -> ConnectError:
    """The ``ConnectError`` for a failed connect, its text scrubbed of the password.

    PgBouncer's refusal of the startup ``options`` gets a hint: the URL
    option that makes repodb work through it.
    """
    text = url.scrub(str(exc).strip())
    if "unsupported startup parameter" in text:
        text += (
            " (a connection pooler such as PgBouncer: add pooler=transaction to the URL,"
            " see docs/pgbouncer.md)"
        )
    return ConnectError(f"cannot connect to {url.redacted}: {text}")


def set_local_timeout(seconds: float | None) -> str:
    """The statement that sets the timeout until the end of the current transaction."""
    return f"SELECT set_config('statement_timeout', '{timeout_ms(seconds)}', true)"
