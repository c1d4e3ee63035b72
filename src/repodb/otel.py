"""OpenTelemetry: a client span for every statement repodb runs, whatever runs it.

Why: a trace of a web request should show its database statements, each
with its SQL and where it ran, without the application wrapping every call.
``instrument()`` makes repodb start a span before each statement (a Repo's,
a bare connection's, a typed request's, a router block's, a migration's,
and BEGIN/COMMIT) and end it after, following OpenTelemetry's database
semantic conventions:

- ``db.system.name`` (``postgresql``, ``sqlite``), ``db.namespace`` (the
  database), ``db.operation.name`` (``SELECT``...), ``db.query.text`` (the SQL
  with its placeholders: bound values are never included), ``server.address``
  and ``server.port`` (PostgreSQL), ``db.response.returned_rows``;
- on failure, ``error.type`` (the repodb error's class, e.g.
  ``UniqueViolation``), ``db.response.status_code`` (the SQLSTATE, or
  SQLite's extended result code) and an error status; the error's message
  is not recorded, as it may quote row values;
- the router's decision: ``repodb.server`` (``primary``, ``replica 1``...),
  ``repodb.route`` (``primary`` or ``replica``) and ``repodb.retried`` (a
  read run again after its first server failed);
- a pool checkout as the span event ``repodb.pool.checkout``, with the wait.

Spans are children of the current span (a web framework's request span)
and are not made current themselves. Health probes of a CQRS router are not
traced. Only ``opentelemetry-api`` is needed (``pip install
"pyrepodb[otel]"``); without an SDK configured, the API's spans cost little
and record nothing. When this module is not imported, repodb's statement
path only tests one flag.

Example::

    from repodb import otel
    otel.instrument()                      # the global tracer provider
    otel.instrument(tracer_provider=provider)
    otel.uninstrument()
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import __version__, _observe

__all__ = ["instrument", "uninstrument"]


def instrument(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Trace every statement from now on, with a tracer of ``tracer_provider``.

    Options:
        tracer_provider: where spans go (default: the global provider that
            ``opentelemetry.trace.set_tracer_provider`` installed). Calling
            this again replaces the previous provider.
    """
    tracer = trace.get_tracer("repodb", __version__, tracer_provider)
    _observe.trace_with(_Tracing(tracer))


def uninstrument() -> None:
    """Stop tracing statements."""
    _observe.trace_with(None)


class _Tracing:
    """The two OpenTelemetry calls ``repodb._observe`` makes."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start(self, name: str, attributes: dict[str, Any]) -> trace.Span:
        return self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)

    def fail(self, span: trace.Span, error_type: str, status: str | None) -> None:
        span.set_attribute("error.type", error_type)
        if status:
            span.set_attribute("db.response.status_code", status)
        span.set_status(Status(StatusCode.ERROR, error_type))
