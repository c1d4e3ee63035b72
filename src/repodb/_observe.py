"""Watching statements: one span, one event and one DEBUG log line per statement, from any path.

Why one module: a statement runs through a Repo, a bare connection, a typed
request, a router's ``with_read`` block or the migrator, and each must be
traced, reported to the ``on_event`` hooks and logged the same way. Every
path opens a ``Watch`` before the statement and ends it after; the Watch
starts the OpenTelemetry span (when ``repodb.otel.instrument()`` installed a
tracer), builds the ``QueryEvent`` and writes the log record.

Cost when nobody watches: the connection's statement methods test one
module global, ``active``, and do nothing else. It is True when a tracer is
installed or a global hook subscribed, or when the ``repodb`` logger was
enabled for DEBUG at the last ``refresh()`` (run whenever a connection
opens, so a program that configures logging first sees every statement; a
Repo also checks the logger itself, on every statement).

Nothing here imports OpenTelemetry: ``repodb.otel`` hands in a ``Tracing``
that knows the API, so the core stays standard-library only.

Example::

    watch = Watch(conn, sql)
    rows = driver_call()
    watch.end(len(rows))
"""

from __future__ import annotations

import functools
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from .telemetry import EventHandler, QueryEvent, log_event, logger

if TYPE_CHECKING:
    from .connection import Connection
    from .connection_async import AsyncConnection

__all__ = [
    "Tracing",
    "Watch",
    "active",
    "checked_out",
    "refresh",
    "retried",
    "routed",
    "subscribe",
    "trace_with",
]

_DEBUG = logging.DEBUG
_perf = time.perf_counter

# Whether anything may watch a statement (see the module docstring).
active = False
_tracing: Tracing | None = None
_handlers: tuple[EventHandler, ...] = ()

# Set by the Repo while it runs a read a second time, on a fresh checkout.
retried: ContextVar[bool] = ContextVar("repodb_retried", default=False)


class Tracing(Protocol):
    """What ``repodb.otel`` gives this module: the OpenTelemetry calls it makes."""

    def start(self, name: str, attributes: dict[str, Any]) -> Any:
        """Start a client span (not made current) and return it."""

    def fail(self, span: Any, error_type: str, status: str | None) -> None:
        """Mark ``span`` failed: ``error.type``, the database's code and an error status."""


def refresh() -> None:
    """Recompute ``active`` from the tracer, the hooks and the logger's level."""
    global active
    active = _tracing is not None or bool(_handlers) or logger.isEnabledFor(_DEBUG)


def trace_with(tracing: Tracing | None) -> None:
    """Install (or with None remove) the tracer every statement's span comes from."""
    global _tracing
    _tracing = tracing
    refresh()


def subscribe(handler: EventHandler) -> Callable[[], None]:
    """Add a hook receiving every statement's event; return what removes it."""
    global _handlers
    _handlers = (*_handlers, handler)
    refresh()

    def unsubscribe() -> None:
        global _handlers
        kept = list(_handlers)
        if handler in kept:
            kept.remove(handler)
        _handlers = tuple(kept)
        refresh()

    return unsubscribe


def checked_out(conn: Connection | AsyncConnection, pool: str, wait: float) -> None:
    """Note a pool checkout, shown as an event of the connection's next statement span."""
    if _tracing is not None:
        conn._checkout = (time.time_ns(), pool, wait)
    if logger.isEnabledFor(_DEBUG):
        logger.debug(
            "%s: checked out a connection after %.3f ms",
            pool,
            wait * 1000,
            extra={"event": "checkout", "source": pool, "checkout_time": wait},
        )


def routed(conn: Connection | AsyncConnection, intent: str, why: str) -> None:
    """Log which server a router picked for ``intent`` (the span shows it as ``conn.label``)."""
    if logger.isEnabledFor(_DEBUG):
        logger.debug(
            "%s: %s on %s",
            intent,
            why,
            conn.label,
            extra={"event": "route", "intent": intent, "source": conn.label, "reason": why},
        )


class Watch:
    """One statement being watched, from before it starts to after it ends."""

    __slots__ = ("_conn", "_span", "_sql", "_started")

    def __init__(self, conn: Connection | AsyncConnection, sql: str) -> None:
        self._conn = conn
        self._sql = sql
        self._span = None if _tracing is None else _start(_tracing, conn, sql)
        self._started = _perf()

    def end(
        self,
        rows: int,
        error: BaseException | None = None,
        *,
        checkout: float = 0.0,
        fetched: float | None = None,
        spent: tuple[float, float] | None = None,
        params: tuple[Any, ...] | None = None,
        handlers: Sequence[EventHandler] = (),
    ) -> None:
        """End the span, hand the event to the hooks and log it.

        Options:
            rows: the rows returned or affected.
            error: what the statement raised, if it failed.
            checkout: seconds the caller waited for the connection.
            fetched: when the rows arrived (``perf_counter``), if they were
                decoded afterwards; the time since is the decode time.
            spent: the query and decode times, when the caller measured
                them itself (a stream fetching and decoding in batches).
            params: the parameters to show (already redacted), or None.
            handlers: the caller's own hooks (a Repo's ``on_event``).
        """
        now = _perf()
        done = now if fetched is None else fetched
        span = self._span
        if span is not None:
            if error is None:
                span.set_attribute("db.response.returned_rows", rows)
            else:
                assert _tracing is not None
                # The SQLSTATE, or SQLite's extended result code (2067: unique).
                status = getattr(error, "sqlstate", None) or getattr(error, "code", None)
                _tracing.fail(span, type(error).__name__, status)
            span.end()
        if not (handlers or _handlers or logger.isEnabledFor(_DEBUG)):
            return
        query_time, decode_time = (done - self._started, now - done) if spent is None else spent
        event = QueryEvent(
            self._sql, self._conn.label, checkout, query_time, decode_time, rows, params, error
        )
        for handler in handlers:
            handler(event)
        for handler in _handlers:
            handler(event)
        log_event(event, retried=retried.get())


def _start(tracing: Tracing, conn: Connection | AsyncConnection, sql: str) -> Any:
    attributes = conn._span_attributes
    if attributes is None:
        attributes = conn._span_attributes = _server_attributes(conn)
    operation, collection = _summary(sql)
    label = conn.label
    span = tracing.start(
        # The semantic conventions' span name: "{operation} {collection}" when
        # both are known, else the operation, else the database system.
        (f"{operation} {collection}" if collection else operation)
        if operation
        else attributes["db.system.name"],
        {
            **attributes,
            "db.query.text": sql,
            **({"db.operation.name": operation} if operation else {}),
            **({"db.collection.name": collection} if collection else {}),
            "repodb.server": label,
            "repodb.route": "replica" if label.startswith("replica") else "primary",
            "repodb.retried": retried.get(),
        },
    )
    checkout = conn._checkout
    if checkout is not None:
        conn._checkout = None
        at, pool, wait = checkout
        span.add_event(
            "repodb.pool.checkout",
            {"repodb.pool": pool, "repodb.pool.wait": wait},
            timestamp=at,
        )
    return span


_OPERATIONS = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "WITH",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "COPY",
        "CREATE",
        "ALTER",
        "DROP",
        "TRUNCATE",
        "EXPLAIN",
        "SET",
        "SHOW",
        "VACUUM",
        "ANALYZE",
        "PRAGMA",
    }
)


# The first table a statement names: after INSERT INTO, UPDATE, DELETE FROM
# or a SELECT's first FROM. A quoted name may hold anything but its quote;
# a schema-qualified one keeps its schema, as the conventions ask.
_NAME = r'(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_$]*)'
_COLLECTION = re.compile(
    r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|SELECT\b.*?\bFROM)\s+"
    rf"({_NAME}(?:\.{_NAME})?)",
    re.IGNORECASE | re.DOTALL,
)


@functools.lru_cache(maxsize=1024)
def _summary(sql: str) -> tuple[str | None, str | None]:
    """The statement's leading keyword (``SELECT``) when it is a known one, and its first table.

    Cached: the Repo and typed requests send the same few SQL texts again and
    again, and a traced statement should not pay a regular expression each time.
    """
    word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    if word not in _OPERATIONS:
        return None, None
    found = _COLLECTION.match(sql) if word in ("SELECT", "INSERT", "UPDATE", "DELETE") else None
    if found is None:
        return word, None
    # A SELECT's FROM that calls a function (generate_series(...)) names no table.
    name = found.group(1)
    if word == "SELECT" and sql[found.end() :].startswith("("):
        return word, None
    parts = re.findall(_NAME, name)
    return word, ".".join(_unquote(part) for part in parts)


def _unquote(name: str) -> str:
    if name[0] in '"`':
        quote = name[0]
        return name[1:-1].replace(quote + quote, quote)
    return name


def _server_attributes(conn: Connection | AsyncConnection) -> dict[str, Any]:
    """The span attributes that name the connection's database and server."""
    url = conn._url
    # The dialect's name is the conventions' db.system.name for all three.
    system = conn.dialect.name
    if url.driver == "sqlite":
        return {"db.system.name": system, "db.namespace": url.target}
    found: dict[str, Any] = {"db.system.name": system}
    host: str | None
    port: int | None
    database: str | None
    if "://" in url.target:
        parts = urllib.parse.urlsplit(url.target)
        host, database = parts.hostname, parts.path.lstrip("/")
        try:
            port = parts.port
        except ValueError:
            # Several hosts (h1:5432,h2:5433): the attributes name the first.
            first = parts.netloc.rpartition("@")[2].split(",", 1)[0]
            host, _, number = first.partition(":")
            port = int(number) if number.isdigit() else None
    else:
        options = url.options
        host = (options.get("host") or options.get("hostaddr") or "").split(",")[0] or None
        number = options.get("port", "").split(",")[0]
        port = int(number) if number.isdigit() else None
        database = options.get("dbname")
    if database:
        found["db.namespace"] = database
    if host:
        found["server.address"] = host
        # The conventions ask for the port only when it is not the database's
        # default; one the URL names is kept, one it leaves out is the default.
        if port is not None:
            found["server.port"] = port
    return found
