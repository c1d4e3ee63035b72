"""Telemetry: one event per statement, to callbacks and to ``logging``, from every path.

Why: slow queries, replica routing and pool waits are invisible without
numbers. Every statement produces a ``QueryEvent`` with its SQL, the server
that ran it (``primary``, ``replica 1``...), how long the connection
checkout, the query and the decoding took, and the row count: statements of
a ``Repo``, of a bare connection or a typed request, of a router's
``with_read`` block, of the migrator. Events go to the hooks subscribed
with ``on_event(fn)`` (every statement), to the ``on_event`` callbacks
given to a Repo (its statements) and, at DEBUG level, to the standard
logger ``repodb``, whose records carry each field as ``extra`` (``sql``,
``source``, ``rows``, ``query_time``, ``error``, ``sqlstate``, ``code``...).
Parameters are included only when the Repo was made with
``log_params=True``, and values bound for fields declared ``redact=True``
never are: they read ``**redacted**``. Statements outside a Repo never show
their parameters. OpenTelemetry spans come from ``repodb.otel``.

Nothing is measured or built when no callback is attached and the logger is
not enabled for DEBUG, so telemetry costs nothing when unused.

Example::

    events = []
    repo = Repo(conn, on_event=events.append)
    repo.all(query(User))
    events[-1].sql, events[-1].rows, events[-1].query_time
    stop = on_event(print)  # every statement, whatever runs it
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "REDACTED",
    "EventHandler",
    "QueryEvent",
    "emit",
    "log_event",
    "logger",
    "on_event",
    "redacted",
]

logger = logging.getLogger("repodb")


class _Redacted:
    __slots__ = ()

    def __repr__(self) -> str:
        return "**redacted**"


REDACTED: Any = _Redacted()


@dataclasses.dataclass(frozen=True, slots=True)
class QueryEvent:
    """What one statement did.

    Attributes:
        sql: the SQL text, with placeholders (never values).
        source: the server that ran it: ``primary``, ``replica 1``, ...
        checkout_time: seconds spent waiting for a connection (0.0 when the
            statement ran on a connection already held, as in a transaction).
        query_time: seconds the database took, including the network.
        decode_time: seconds spent turning rows into Python values.
        rows: rows returned (with RETURNING or a query) or affected.
        params: the parameters, only with ``log_params=True`` (else None);
            redacted fields read ``**redacted**``.
        error: the repodb error the statement raised, or None.
    """

    sql: str
    source: str
    checkout_time: float
    query_time: float
    decode_time: float
    rows: int
    params: tuple[Any, ...] | None = None
    error: BaseException | None = None

    @property
    def total_time(self) -> float:
        """Checkout, query and decoding together, in seconds."""
        return self.checkout_time + self.query_time + self.decode_time


EventHandler = Callable[[QueryEvent], None]


def emit(
    handlers: Sequence[EventHandler],
    event: QueryEvent,
) -> None:
    """Hand ``event`` to each handler and to the ``repodb`` logger."""
    for handler in handlers:
        handler(event)
    log_event(event)


def on_event(handler: EventHandler) -> Callable[[], None]:
    """Send every statement's ``QueryEvent`` to ``handler``; return a function that stops it.

    Why: a Repo's ``on_event`` sees the Repo's statements only; this hook
    also sees those of bare connections, typed requests, router blocks and
    migrations, as a metrics exporter needs.

    Example::

        stop = on_event(lambda e: histogram.record(e.query_time))
        ...
        stop()
    """
    from ._observe import subscribe

    return subscribe(handler)


def log_event(event: QueryEvent, *, retried: bool = False) -> None:
    """Log ``event`` at DEBUG on ``repodb``: a readable line, and each field as ``extra``.

    ``retried`` says the statement is a read run again on a fresh
    connection after the first attempt failed.
    """
    if not logger.isEnabledFor(logging.DEBUG):
        return
    error = event.error
    fields = {
        "event": "statement",
        "sql": event.sql,
        "source": event.source,
        "checkout_time": event.checkout_time,
        "query_time": event.query_time,
        "decode_time": event.decode_time,
        "rows": event.rows,
        "params": event.params,
        "error": None if error is None else type(error).__name__,
        "sqlstate": getattr(error, "sqlstate", None),
        "code": getattr(error, "code", None),
        "retried": retried,
    }
    ms = event.query_time * 1000
    outcome = f"error {type(error).__name__}" if error else f"{event.rows} rows"
    if event.params is None:
        logger.debug("%s %.3f ms %s: %s", event.source, ms, outcome, event.sql, extra=fields)
    else:
        logger.debug(
            "%s %.3f ms %s: %s %r", event.source, ms, outcome, event.sql, event.params, extra=fields
        )


def redacted(params: Sequence[Any], hidden: Sequence[bool]) -> tuple[Any, ...]:
    """``params`` with the values flagged in ``hidden`` replaced by ``REDACTED``."""
    if not any(hidden):
        return tuple(params)
    return tuple(REDACTED if h else v for v, h in zip(params, hidden, strict=True))
