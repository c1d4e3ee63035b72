"""The AsyncRepo: where queries, changesets and typed requests meet a database.

Why: Ecto's Repo is the one object an application calls all day: read with
queries, write with changesets, preload associations, run transactions. A
``AsyncRepo`` is bound to a *source* of connections and never cares which kind:
a single ``AsyncConnection``, a pool, or a CQRS router that sends reads to
replicas and writes to the primary. It asks the source for a connection per
operation, saying what it is for (``read``, ``write`` or ``transaction``);
inside ``with repo.transaction() as tx:`` every operation of ``tx`` runs on
one pinned connection.

Reads return schema instances, tuples, dicts or scalars, as the query
selected, typed: ``await repo.all(query(User))`` is ``list[User]``. Every
statement produces a telemetry event (see ``repodb.telemetry``).

Example::

    repo = AsyncRepo(await repodb.connect_async("sqlite:///app.db"))
    ada = await repo.insert(
        cast(User, {"name": "Ada", "email": "ada@example.com"}, ["name", "email"])
    )
    users = await repo.all(query(User).where(User.name == "Ada"))
    async with repo.transaction() as tx:
        await tx.update(change(ada, name="Ada L."))
"""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    Protocol,
    Self,
    TypeVar,
    TypeVarTuple,
    overload,
)

from . import _observe, telemetry
from ._compile.cache import Compiled, RowsDecoder, compile_prepared, compile_statement
from ._observe import Watch
from ._repo import write_async as _write
from ._repo.explain import Explain, plan_text
from ._repo.reads import (
    KEY_QUERIES,
    ONE,
    aggregate_key,
    aggregate_query,
    exists_query,
    fields_query,
    key_of,
    key_query,
    load_record,
    unique_probe,
)
from ._repo.results import Intent, StaleField, WriteResult
from ._repo.stream_async import AsyncRepoStream
from .connection_async import AsyncConnection, AsyncLeasedTransaction, AsyncTransaction, Rollback
from .driver import IsolationLevel
from .errors import ConnectionLost, MultipleResults, NotFound, SerializationFailure
from .expr import Column, Expr, Statement, describe
from .preload_async import preload as _preload
from .preload_async import run_query as _run_query
from .prepared import Params, Prepared
from .query import Query, query
from .request import Many, One, Request, ZeroOrOne
from .schema import Schema
from .table import Table
from .telemetry import EventHandler
from .write import Assignment, ConflictTarget, OnConflict

if TYPE_CHECKING:
    from ._codec import Codecs
    from .changeset import Changeset
    from .dialect import Dialect
    from .multi_async import AsyncMulti, Results

__all__ = [
    "AsyncRepo",
    "AsyncRepoStream",
    "AsyncRepoTransaction",
    "AsyncTransactionRepo",
    "Intent",
    "Source",
    "WriteResult",
]

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")
S = TypeVar("S", bound=Schema)
# What a sum keeps: the numeric column types (PostgreSQL has no sum of booleans).
N = TypeVar("N", bound=int | float | Decimal)

Ts = TypeVarTuple("Ts")
Aggregate = Literal["count", "sum", "avg", "min", "max"]
# What the aggregates' overloads take: an avg of a Decimal column is a Decimal, of others a float.
_DecimalColumn = Column[Decimal] | Column[Decimal | None]
_FloatColumn = Column[int] | Column[int | None] | Column[float] | Column[float | None]
_MinMax = Literal["min", "max"]

_perf = time.perf_counter
_logger = telemetry.logger
_DEBUG = 10
# The logger's memo of whether it is enabled, per level: ``logging`` empties
# it in place whenever a level changes (``setLevel``, ``disable``), so a
# level found in it is current, and asking the logger only fills it. A
# logging without one (an empty dict here) has the logger asked every time.
_LEVELS: dict[int, bool] = getattr(_logger, "_cache", {})
# Statements with at most this many values are prepared on the server.
_PREPARE_MAX = 64
# Failures after which a read is run once more on a fresh checkout.
_RETRYABLE_READ = (ConnectionLost, SerializationFailure)


class Source(Protocol):
    """Where a AsyncRepo gets connections: a ``AsyncConnection``, a pool or a CQRS router.

    ``checkout(intent)`` returns a ``with`` block holding a connection fit
    for ``intent``: ``read`` (any server with the data, e.g. a replica),
    ``write`` (the primary) or ``transaction`` (the primary, held for the
    whole block). The block gives the connection back at its end.
    """

    def checkout(self, intent: Intent) -> AbstractAsyncContextManager[AsyncConnection]: ...


class AsyncRepo:
    """Runs queries, writes and transactions against a source of connections.

    Options:
        source: a ``AsyncConnection``, a pool or a router (anything with
            ``checkout(intent)``).
        on_event: a callback, or several, receiving a ``QueryEvent`` for
            every statement.
        log_params: include parameter values in events and DEBUG logs
            (``redact=True`` fields never appear).
        prefix: a tenant's schema (PostgreSQL) or attached database
            (SQLite), where every table without a ``prefix`` of its own is
            read and written: queries, writes, preloads, bulk loads. The
            reads and writes that take ``prefix=`` override it per call;
            ``with_prefix`` gives a AsyncRepo on another one. A schema's own
            ``prefix=`` wins over both (a table shared by every tenant).

    Example::

        repo = AsyncRepo(conn, on_event=print)
        tenant = AsyncRepo(pool, prefix="tenant_42")
    """

    def __init__(
        self,
        source: Source,
        *,
        on_event: EventHandler | Sequence[EventHandler] | None = None,
        log_params: bool = False,
        prefix: str | None = None,
    ) -> None:
        if not callable(getattr(source, "checkout", None)):
            raise TypeError(
                "AsyncRepo takes a AsyncConnection, a Pool or a Cqrs router (anything with"
                f" checkout(intent)), not {describe(source)}"
            )
        self._source = source
        if on_event is None:
            handlers: tuple[EventHandler, ...] = ()
        elif callable(on_event):
            handlers = (on_event,)
        else:
            handlers = tuple(on_event)
        self._handlers = handlers
        self._log_params = log_params
        # Whether the connection is pinned (a transaction's): no checkout to time.
        self._held = False
        # The source itself when it is a bare connection: a read needs no
        # checkout block (it gives that connection back and times nothing).
        self._direct = source if type(source) is AsyncConnection else None
        self._prefix = _checked_prefix(prefix)

    @property
    def source(self) -> Source:
        """Where this repo gets its connections."""
        return self._source

    @property
    def prefix(self) -> str | None:
        """The tenant's schema (or attached database) this repo works in, if any."""
        return self._prefix

    def with_prefix(self, prefix: str | None) -> Self:
        """This repo working in ``prefix`` (None: the connection's own schema).

        Same source, callbacks and (in a transaction) connection; nothing is
        opened. Example: ``await repo.with_prefix("tenant_42").insert(changeset)``.
        """
        if prefix == self._prefix:
            return self
        other = copy.copy(self)
        other._prefix = _checked_prefix(prefix)
        return other

    def _dialect(self, conn: AsyncConnection) -> Dialect:
        """The dialect statements on ``conn`` compile for: the tenant's, with a prefix."""
        if self._prefix is None:
            return conn.dialect
        return conn.dialect.with_prefix(self._prefix)

    def __repr__(self) -> str:
        shown = f" prefix={self._prefix!r}" if self._prefix is not None else ""
        return f"<repodb.AsyncRepo on {self._source!r}{shown}>"

    # -- running statements (shared by every operation) ----------------------------

    def _observing(self) -> bool:
        if self._handlers or _observe.active:
            return True
        known = _LEVELS.get(_DEBUG)
        return _logger.isEnabledFor(_DEBUG) if known is None else known

    def _end(
        self,
        watch: Watch,
        params: Sequence[Any],
        hidden: Sequence[bool] | None,
        rows: int,
        error: BaseException | None = None,
        *,
        checkout: float = 0.0,
        fetched: float | None = None,
        spent: tuple[float, float] | None = None,
    ) -> None:
        """End a statement's watch with this AsyncRepo's hooks and, if asked, its parameters."""
        shown = None
        if self._log_params:
            shown = telemetry.redacted(params, hidden or [False] * len(params))
        watch.end(
            rows,
            error,
            checkout=checkout,
            fetched=fetched,
            spent=spent,
            params=shown,
            handlers=self._handlers,
        )

    async def _run(
        self, conn: AsyncConnection, compiled: Compiled, checkout: float = 0.0
    ) -> tuple[list[Any], int]:
        """Run a compiled statement on ``conn``: its decoded results and its row count."""
        codecs = conn.codecs
        decode = compiled.decoder(codecs) if compiled.result is not None else None
        return await self._run_sql(
            conn,
            compiled.sql,
            compiled.encode(codecs),
            decode,
            compiled.params,
            compiled.hidden,
            checkout,
        )

    async def _run_sql(
        self,
        conn: AsyncConnection,
        sql: str,
        args: list[Any],
        decode: RowsDecoder | None,
        params: Sequence[Any],
        hidden: Sequence[bool],
        checkout: float,
    ) -> tuple[list[Any], int]:
        """Run ``sql`` with the encoded ``args``; ``decode`` its rows (None: it returns none).

        ``params`` are the values as given, for the events.
        """
        # Prepare the statement shapes that recur; a huge one-off (a bulk
        # VALUES list) would only crowd the server's prepared statements.
        prepare = len(args) <= _PREPARE_MAX
        if not self._observing():
            if decode is None:
                return [], await conn._execute_sql(sql, args, prepare)
            rows = await conn._fetch_sql(sql, args, prepare)
            return decode(rows), len(rows)
        watch = Watch(conn, sql)
        fetched = None
        try:
            if decode is None:
                count_ = await conn._execute_sql(sql, args, prepare)
                results: list[Any] = []
            else:
                rows = await conn._fetch_sql(sql, args, prepare)
                fetched = _perf()
                results = decode(rows)
                count_ = len(rows)
        except BaseException as e:  # the event reports any failure, which propagates
            self._end(watch, params, hidden, 0, e, checkout=checkout)
            raise
        self._end(watch, params, hidden, count_, checkout=checkout, fetched=fetched)
        return results, count_

    async def _execute(self, statement: Statement, intent: Intent) -> tuple[list[Any], int]:
        """Compile ``statement``, check out a connection for ``intent``, run it.

        A read outside a transaction whose connection was lost, or that a hot
        standby cancelled (a recovery conflict), runs once more on a fresh
        checkout: reads are safe to repeat, and a router has marked the
        failed server down by then. Writes are never repeated.
        """
        if intent == "read":
            done: tuple[list[Any], int] = await self._read(
                self._on_connection, intent, self._compile_run, statement
            )
            return done
        return await self._on_connection(intent, self._compile_run, statement)

    async def _read(self, once: Callable[..., Awaitable[R]], *args: Any) -> R:
        """``once(*args)``, run once more if the read failed as ``_execute`` describes."""
        if self._held:
            return await once(*args)
        try:
            return await once(*args)
        except _RETRYABLE_READ:
            return await self._again(once, *args)

    async def _again(self, once: Callable[..., Awaitable[R]], *args: Any) -> R:
        """The second attempt of a read that failed: ``once(*args)``, marked as retried."""
        # Telemetry marks the second attempt's statements as retried.
        again = _observe.retried.set(True)
        try:
            return await once(*args)
        finally:
            _observe.retried.reset(again)

    async def _read_prepared(self, prepared: Prepared[Any], values: tuple[Any, ...]) -> list[Any]:
        """The results of a prepared read (``get``), run as ``_read`` runs reads.

        Why its own path: on a bare connection the checkout block and its
        timing are a fixed cost as large as a SQLite row's decoding; the
        statement runs on the connection itself. A failure a read is
        repeated for goes to the general path (``_again``), as ``_read``
        sends it; inside a transaction nothing is repeated.
        """
        conn = self._direct
        if conn is None:
            return await self._read(
                self._on_connection, "read", self._prepared_on, prepared, values
            )
        if self._held:
            return await self._prepared_on(conn, 0.0, prepared, values)
        try:
            return await self._prepared_on(conn, 0.0, prepared, values)
        except _RETRYABLE_READ:
            return await self._again(
                self._on_connection, "read", self._prepared_on, prepared, values
            )

    async def _on_connection(
        self,
        intent: Intent,
        work: Callable[[AsyncConnection, float, *Ts], Awaitable[R]],
        *args: *Ts,
    ) -> R:
        """``work(conn, checkout_seconds, *args)`` on a connection checked out for ``intent``.

        Why one place: every statement the AsyncRepo runs is routed by its intent,
        its checkout is timed for the events (zero when the AsyncRepo holds its
        connection), and the connection goes back however ``work`` ends.
        """
        started = _perf()
        async with self._source.checkout(intent) as conn:
            return await work(conn, 0.0 if self._held else _perf() - started, *args)

    async def _compile_run(
        self, conn: AsyncConnection, checkout: float, statement: Statement
    ) -> tuple[list[Any], int]:
        return await self._run(conn, compile_statement(statement, self._dialect(conn)), checkout)

    async def _query_rows(self, q: Query[Any]) -> list[Any]:
        intent = _intent(q)
        if q.preloads:
            return await _run_query(self, q, intent)
        return (await self._execute(q, intent))[0]

    async def _run_request(
        self, request: Request[Any, Any, Any], params: object, multiplicity: str
    ) -> Any:
        if request.read_only:
            return await self._read(
                self._on_connection, "read", self._request_on, request, params, multiplicity
            )
        return await self._on_connection("write", self._request_on, request, params, multiplicity)

    async def _request_on(
        self,
        conn: AsyncConnection,
        checkout: float,
        request: Request[Any, Any, Any],
        params: object,
        multiplicity: str,
    ) -> Any:
        if not self._observing():
            return await _REQUEST_CALLS[multiplicity](conn, request, params)
        watch = Watch(conn, request.sql)
        # The AsyncRepo watches this statement: the connection must not watch it again.
        quiet, conn._quiet = conn._quiet, True
        try:
            result = await _REQUEST_CALLS[multiplicity](conn, request, params)
        except BaseException as e:  # the event reports any failure, which propagates
            self._end(watch, (), None, 0, e, checkout=checkout)
            raise
        finally:
            conn._quiet = quiet
        rows = result if isinstance(result, int) else len(result) if multiplicity == "all" else 1
        self._end(watch, _request_params(params), None, rows, checkout=checkout)
        return result

    # -- reads ----------------------------------------------------------------------

    @overload
    async def all(self, q: Query[T], /, *, prefix: str | None = None) -> list[T]: ...
    @overload
    async def all(
        self,
        q: Prepared[T],
        params: Params = None,
        /,
        *,
        prefix: str | None = None,
    ) -> list[T]: ...
    @overload
    async def all(self, q: Request[None, R, Many], /) -> list[R]: ...
    @overload
    async def all(self, q: Request[P, R, Many], params: P, /) -> list[R]: ...
    async def all(
        self,
        q: Query[Any] | Prepared[Any] | Request[Any, Any, Any],
        params: object = None,
        /,
        *,
        prefix: str | None = None,
    ) -> list[Any]:
        """Every result of a query (preloads included), a prepared query or a typed request.

        A prepared query (``repodb.prepared``) takes its parameters' values
        as a mapping. ``prefix`` reads a tenant's tables (see ``AsyncRepo``),
        for this call.

        Example: ``await repo.all(query(User).where(User.age > 30))`` is ``list[User]``.
        """
        if type(q) is Prepared:
            return await self._prepared_rows(q, params, prefix)
        if prefix is not None:
            return await self.with_prefix(prefix).all(_query_for(q, "all(prefix=...)", False))
        if isinstance(q, Request):
            result: list[Any] = await self._run_request(q, params, "all")
            return result
        return await self._query_rows(_query_for(q, "all()"))

    @overload
    async def one(self, q: Query[T], /, *, prefix: str | None = None) -> T: ...
    @overload
    async def one(
        self,
        q: Prepared[T],
        params: Params = None,
        /,
        *,
        prefix: str | None = None,
    ) -> T: ...
    @overload
    async def one(self, q: Request[None, R, One], /) -> R: ...
    @overload
    async def one(self, q: Request[P, R, One], params: P, /) -> R: ...
    async def one(
        self,
        q: Query[Any] | Prepared[Any] | Request[Any, Any, Any],
        params: object = None,
        /,
        *,
        prefix: str | None = None,
    ) -> Any:
        """The one result: ``NotFound`` when there is none, ``MultipleResults`` for more."""
        if type(q) is Prepared:
            rows = await self._prepared_rows(q, params, prefix)
        elif prefix is not None:
            return await self.with_prefix(prefix).one(_query_for(q, "one(prefix=...)", False))
        elif isinstance(q, Request):
            return await self._run_request(q, params, "one")
        else:
            rows = await self._query_rows(_query_for(q, "one()"))
        if len(rows) == 1:
            return rows[0]
        if rows:
            raise MultipleResults(f"expected one row, got {len(rows)}")
        raise NotFound(f"expected one row from {_describe(q)}, got none")

    async def _prepared_rows(
        self, prepared: Prepared[Any], params: object, prefix: str | None
    ) -> list[Any]:
        """The results of a prepared query run with ``params``, routed as its query would be."""
        values = prepared.values(params)
        repo = self if prefix is None else self.with_prefix(prefix)
        if prepared.read_only:
            return await repo._read_prepared(prepared, values)
        return await repo._on_connection("write", repo._prepared_on, prepared, values)

    async def _prepared_on(
        self,
        conn: AsyncConnection,
        checkout: float,
        prepared: Prepared[Any],
        values: tuple[Any, ...],
    ) -> list[Any]:
        dialect = conn.dialect if self._prefix is None else self._dialect(conn)
        codecs = conn.codecs
        # The plan of the last run, when it fits: no key to build and look up.
        plan = prepared.last
        if plan is None or plan.dialect is not dialect or plan.codecs is not codecs:
            plan = prepared.plan(dialect, codecs)
        args = plan.encode(values)
        if not self._observing():
            # ``_run_sql``'s first branch, without its call and its tuple (a get's fixed cost).
            return plan.decode(await conn._fetch_sql(plan.sql, args, len(args) <= _PREPARE_MAX))
        return (
            await self._run_sql(conn, plan.sql, args, plan.decode, values, plan.hidden, checkout)
        )[0]

    @overload
    async def one_or_none(self, q: Query[T], /, *, prefix: str | None = None) -> T | None: ...
    @overload
    async def one_or_none(
        self,
        q: Prepared[T],
        params: Params = None,
        /,
        *,
        prefix: str | None = None,
    ) -> T | None: ...
    @overload
    async def one_or_none(self, q: Request[None, R, ZeroOrOne], /) -> R | None: ...
    @overload
    async def one_or_none(self, q: Request[P, R, ZeroOrOne], params: P, /) -> R | None: ...
    async def one_or_none(
        self,
        q: Query[Any] | Prepared[Any] | Request[Any, Any, Any],
        params: object = None,
        /,
        *,
        prefix: str | None = None,
    ) -> Any:
        """The result, or None when there is none; ``MultipleResults`` for more."""
        if type(q) is Prepared:
            rows = await self._prepared_rows(q, params, prefix)
        elif prefix is not None:
            where = "one_or_none(prefix=...)"
            return await self.with_prefix(prefix).one_or_none(_query_for(q, where, False))
        elif isinstance(q, Request):
            return await self._run_request(q, params, "one_or_none")
        else:
            rows = await self._query_rows(_query_for(q, "one_or_none()"))
        if len(rows) > 1:
            raise MultipleResults(f"expected at most one row, got {len(rows)}")
        return rows[0] if rows else None

    @overload
    async def exec(self, request: Request[None, Any, Many], /) -> int: ...
    @overload
    async def exec(self, request: Request[P, Any, Many], params: P, /) -> int: ...
    async def exec(self, request: Request[Any, Any, Many], params: object = None, /) -> int:
        """Run a typed request for its effect; the affected row count (-1 if unknown)."""
        result: int = await self._run_request(request, params, "exec")
        return result

    async def get(self, schema: type[S], key: object, *, prefix: str | None = None) -> S:
        """The record with primary key ``key``; ``NotFound`` when there is none.

        A composite key is a tuple in field order. Example: ``await repo.get(User, 1)``.
        """
        plan = KEY_QUERIES.get(schema) or key_query(schema)
        values = (key,) if plan.width == 1 else plan.values(key)
        repo = self if prefix is None else self.with_prefix(prefix)
        rows: list[S] = await repo._read_prepared(plan.prepared, values)
        if not rows:
            raise NotFound(f"no {schema.__name__} with primary key {key!r}")
        return rows[0]

    async def get_or_none(
        self, schema: type[S], key: object, *, prefix: str | None = None
    ) -> S | None:
        """The record with primary key ``key``, or None (in ``prefix``'s table, given one)."""
        plan = KEY_QUERIES.get(schema) or key_query(schema)
        values = (key,) if plan.width == 1 else plan.values(key)
        repo = self if prefix is None else self.with_prefix(prefix)
        rows: list[S] = await repo._read_prepared(plan.prepared, values)
        return rows[0] if rows else None

    async def get_by(self, schema: type[S], /, **fields: object) -> S:
        """The one record whose fields equal ``fields``: ``await repo.get_by(User, email=...)``.

        ``NotFound`` when none matches, ``MultipleResults`` for more.
        """
        found = fields_query(schema, fields)
        if found is None:
            return await self.one(query(schema).where(**fields))
        return await self.one(*found)

    async def get_by_or_none(self, schema: type[S], /, **fields: object) -> S | None:
        """The one record whose fields equal ``fields``, or None."""
        found = fields_query(schema, fields)
        if found is None:
            return await self.one_or_none(query(schema).where(**fields))
        return await self.one_or_none(*found)

    @overload
    async def exists(self, q: Query[Any], /) -> bool: ...
    @overload
    async def exists(self, q: Prepared[Any], params: Params = None, /) -> bool: ...
    async def exists(self, q: Query[Any] | Prepared[Any], params: Params = None, /) -> bool:
        """Whether ``q`` has any row (``SELECT 1 ... LIMIT 1``, nothing else is read).

        A prepared query takes its parameters' values; its probe is prepared
        once, on the first call.
        """
        if type(q) is Prepared:
            return bool(await self.all(q.derived("exists", exists_query), params))
        _no_params(params, "exists()")
        probe = exists_query(_query_for(q, "exists()", requests=False))
        # A locking query's probe keeps its lock: a write, for the primary.
        return bool((await self._execute(probe, _intent(probe)))[0])

    # The result types are what both databases return: count an int; sum
    # the column's type (PostgreSQL's numeric sum of bigint is cast back);
    # avg a float, a Decimal for Decimal columns; min/max the column's type.
    # None over no rows, but for count.
    @overload
    async def aggregate(
        self, q: Query[Any], function: Literal["count"], field: Column[Any] | str | None = None
    ) -> int: ...
    @overload
    async def aggregate(  # type: ignore[overload-overlap]
        self, q: Query[Any], function: Literal["avg"], field: _DecimalColumn
    ) -> Decimal | None: ...
    @overload
    async def aggregate(
        self, q: Query[Any], function: Literal["avg"], field: _FloatColumn
    ) -> float | None: ...
    @overload
    async def aggregate(
        self, q: Query[Any], function: Literal["sum"], field: Column[N]
    ) -> N | None: ...
    @overload
    async def aggregate(
        self, q: Query[Any], function: Literal["sum"], field: Column[N | None]
    ) -> N | None: ...
    @overload
    async def aggregate(
        self, q: Query[Any], function: _MinMax, field: Column[T | None]
    ) -> T | None: ...
    @overload
    async def aggregate(self, q: Query[Any], function: _MinMax, field: Column[T]) -> T | None: ...
    @overload
    async def aggregate(self, q: Query[Any], function: Aggregate, field: str) -> object: ...
    @overload
    async def aggregate(
        self,
        q: Prepared[Any],
        params: Params,
        function: Literal["count"],
        field: Column[Any] | str | None = None,
    ) -> int: ...
    @overload
    async def aggregate(  # type: ignore[overload-overlap]
        self, q: Prepared[Any], params: Params, function: Literal["avg"], field: _DecimalColumn
    ) -> Decimal | None: ...
    @overload
    async def aggregate(
        self, q: Prepared[Any], params: Params, function: Literal["avg"], field: _FloatColumn
    ) -> float | None: ...
    @overload
    async def aggregate(
        self, q: Prepared[Any], params: Params, function: Literal["sum"], field: Column[N]
    ) -> N | None: ...
    @overload
    async def aggregate(
        self, q: Prepared[Any], params: Params, function: Literal["sum"], field: Column[N | None]
    ) -> N | None: ...
    @overload
    async def aggregate(
        self, q: Prepared[Any], params: Params, function: _MinMax, field: Column[T | None]
    ) -> T | None: ...
    @overload
    async def aggregate(
        self, q: Prepared[Any], params: Params, function: _MinMax, field: Column[T]
    ) -> T | None: ...
    @overload
    async def aggregate(
        self, q: Prepared[Any], params: Params, function: Aggregate, field: str
    ) -> object: ...
    async def aggregate(self, q: Query[Any] | Prepared[Any], *args: Any, **named: Any) -> Any:
        """``count``/``sum``/``avg``/``min``/``max`` over a query's rows.

        ``count`` gives an int; ``sum``, ``min`` and ``max`` the column's
        type, ``avg`` a float (a Decimal for a Decimal column), each None
        over no rows. A field named by a string has no known type: its
        result is an ``object`` to a type checker, so pass the column
        (``Post.views``) for a typed one.

        ``count`` without a field counts rows. A query with ``limit``,
        ``offset``, ``distinct``, grouping or a set operation is aggregated
        through a subquery, so the aggregate sees exactly the rows ``q``
        returns (as Ecto does). A prepared query takes its parameters'
        values next (``aggregate(prepared, {"user": 1}, "count")``); the
        aggregate query is prepared once per function and field.

        Example: ``await repo.aggregate(query(Post).where(Post.user_id == 1), "sum", Post.views)``.
        """
        if type(q) is Prepared:
            return await self._prepared_aggregate(q, *args, **named)
        return await self._aggregate(_query_for(q, "aggregate()", requests=False), *args, **named)

    async def _aggregate(
        self, q: Query[Any], function: Aggregate, field: Column[Any] | str | None = None
    ) -> Any:
        return await self.one(aggregate_query(q, function, field))

    async def _prepared_aggregate(
        self,
        prepared: Prepared[Any],
        params: Params,
        function: Aggregate,
        field: Column[Any] | str | None = None,
    ) -> Any:
        key = aggregate_key(function, field)
        derived = prepared.derived(key, lambda q: aggregate_query(q, function, field))
        return await self.one(derived, params)

    # -- Ecto's conveniences: all_by, page, load, explain -----------------------------

    async def all_by(self, schema: type[S], /, **fields: object) -> list[S]:
        """Every record whose fields equal ``fields`` (Ecto's ``all_by``).

        Example: ``await repo.all_by(Post, member_id=1)``; ``None`` matches NULL.
        """
        found = fields_query(schema, fields)
        if found is None:
            return await self.all(query(schema).where(**fields))
        return await self.all(*found)

    async def page(
        self, q: Query[T], limit: int, *, after: object = None, before: object = None
    ) -> list[T]:
        """A page of an ordered query by keyset: ``limit`` rows after (or before) a cursor.

        Why: a page that starts at the last row seen costs the same at page
        1,000 as at page 1 (``offset`` reads and skips every row before it),
        and rows written meanwhile do not shift it. The cursors are as for
        ``Query.keyset``: the sort values of a row, or a record of the root
        schema. With ``before`` alone the page is the ``limit`` rows just
        before the cursor (read backwards, returned in the query's order).

        Example: ``await repo.page(query(Post).order_by(Post.id), 20, after=last_id)``.
        """
        q = _query_for(q, "page()", requests=False)
        if before is not None and after is None:
            rows = await self.all(q.keyset(before=before).reverse_order().limit(limit))
            rows.reverse()
            return rows
        return await self.all(q.keyset(after=after, before=before).limit(limit))

    async def load(
        self,
        schema: type[S],
        data: Mapping[str, object] | Sequence[object],
        *,
        columns: Sequence[str] | None = None,
    ) -> S:
        """A record built from a raw row, decoded as this repo's database stores values.

        Why: rows read by other means (a typed request of plain columns, a
        driver cursor, a message) become records as a query's would (Ecto's
        ``Repo.load``): SQLite's text datetimes come back aware, JSON parsed,
        and fields the row lacks take their defaults. Nothing is read; the
        source lends a connection only to tell its storage forms.

        Options: ``data`` maps column (or field) names to values, or is a
        row of values named by ``columns``.

        Example: ``await repo.load(Post, {"id": 1, "title": "Hi", "member_id": 2})``.
        """
        codecs = await self._on_connection("read", self._codecs_on)
        return load_record(schema, data, columns, codecs)

    async def _codecs_on(self, conn: AsyncConnection, checkout: float) -> Codecs:
        return conn.codecs

    @overload
    async def explain(self, q: Query[Any], /, *, analyze: bool = False) -> str: ...
    @overload
    async def explain(
        self,
        q: Prepared[Any],
        params: Params = None,
        /,
        *,
        analyze: bool = False,
    ) -> str: ...
    async def explain(
        self,
        q: Query[Any] | Prepared[Any],
        params: Params = None,
        /,
        *,
        analyze: bool = False,
    ) -> str:
        """The database's plan for ``q``, as text (``EXPLAIN``; SQLite's ``EXPLAIN QUERY PLAN``).

        Runs where ``q`` would (a replica, for a read), with ``q``'s values
        bound, so the plan is the one the query gets; a prepared query's with
        the parameters' values given. ``analyze=True`` runs the query and
        shows actual rows and times (PostgreSQL's ``EXPLAIN ANALYZE``; SQLite
        has none, and refuses it).

        Example: ``print(await repo.explain(query(Post).where(Post.member_id == 1)))``.
        """
        values: tuple[Any, ...] | None = None
        if type(q) is Prepared:
            values = q.values(params)
            q = q.query
        else:
            _no_params(params, "explain()")
        q = _query_for(q, "explain()", requests=False)
        intent = _intent(q)
        statement = Explain(q, analyze)
        if intent == "read":
            plan: str = await self._read(
                self._on_connection, intent, self._explain_on, statement, values
            )
            return plan
        return await self._on_connection(intent, self._explain_on, statement, values)

    async def _explain_on(
        self,
        conn: AsyncConnection,
        checkout: float,
        statement: Explain,
        values: tuple[Any, ...] | None,
    ) -> str:
        if values is None:
            rows, _ = await self._compile_run(conn, checkout, statement)
        else:
            # A prepared query's plan: compiled with its parameters, run with their values.
            compiled = compile_prepared(statement, self._dialect(conn)).with_params(values)
            rows, _ = await self._run(conn, compiled, checkout)
        return plan_text(rows, conn.dialect)

    @overload
    def stream(self, q: Query[T], /, *, batch_size: int = 500) -> AsyncRepoStream[T]: ...
    @overload
    def stream(
        self,
        q: Prepared[T],
        params: Params = None,
        /,
        *,
        batch_size: int = 500,
    ) -> AsyncRepoStream[T]: ...
    def stream(
        self,
        q: Query[T] | Prepared[T],
        params: Params = None,
        /,
        *,
        batch_size: int = 500,
    ) -> AsyncRepoStream[T]:
        """The results one at a time, without loading them all.

        On PostgreSQL a server-side cursor (``WITH HOLD`` outside a
        transaction, so it works without one). Use it in a ``with`` block (or
        exhaust it): the connection stays checked out until then. Preloads
        are not applied to streamed rows. A prepared query takes its
        parameters' values; a missing or unknown one is refused here, before
        any connection is checked out.

        Example::

            with repo.stream(query(Event)) as events:
                for event in events:
                    ...
        """
        if type(q) is Prepared:
            intent: Intent = "read" if q.read_only else "write"
            return AsyncRepoStream(self, q, q.values(params), intent, batch_size)
        _no_params(params, "stream()")
        streamed = _query_for(q, "stream()", requests=False)
        if streamed.preloads:
            raise ValueError("stream does not preload; use repo.preload on batches, or repo.all")
        return AsyncRepoStream(self, streamed, (), _intent(streamed), batch_size)

    @overload
    async def reload(self, records: S) -> S: ...
    @overload
    async def reload(self, records: Sequence[S]) -> list[S]: ...
    async def reload(self, records: S | Sequence[S]) -> S | list[S]:
        """The records as the database holds them now, by primary key.

        ``NotFound`` when a record's row is gone (Ecto's ``reload!``;
        ``reload_or_none`` gives None instead); a list keeps its order.
        """
        if isinstance(records, Schema):
            return await self.get(type(records), key_of(records))
        return [await self.get(type(r), key_of(r)) for r in records]

    @overload
    async def reload_or_none(self, records: S) -> S | None: ...
    @overload
    async def reload_or_none(self, records: Sequence[S]) -> list[S | None]: ...
    async def reload_or_none(self, records: S | Sequence[S]) -> S | list[S | None] | None:
        """The records as the database holds them now, None where a row is gone (Ecto's ``reload``).

        Example: ``if await repo.reload_or_none(order) is None: ...`` (deleted meanwhile).
        """
        if isinstance(records, Schema):
            return await self.get_or_none(type(records), key_of(records))
        return [await self.get_or_none(type(r), key_of(r)) for r in records]

    # -- associations -----------------------------------------------------------------

    @overload
    async def preload(self, records: S, /, *paths: Any, force: bool = ..., **queries: Any) -> S: ...
    @overload
    async def preload(
        self, records: Sequence[S], /, *paths: Any, force: bool = ..., **queries: Any
    ) -> list[S]: ...
    @overload
    async def preload(
        self, records: None, /, *paths: Any, force: bool = ..., **queries: Any
    ) -> None: ...
    async def preload(
        self, records: Any, /, *paths: Any, force: bool = True, **queries: Any
    ) -> Any:
        """Load associations into new copies of ``records`` (one query per level).

        ``paths`` as for ``Query.preload``: ``"posts"``, ``"posts__comments"``,
        ``{"posts": ["comments"]}``, ``User.posts``; ``posts=query(Post)...``
        chooses and orders the rows (its ``limit``/``offset`` count per
        parent); ``posts=top(3, Post.score.desc())`` (``repodb.preload.top``)
        loads at most three per parent, in SQL. Associations loaded before
        stay loaded on the copies.

        Options: ``force`` (default True) reads the named associations again
        even where they are loaded; ``force=False`` (Ecto's default) keeps
        those and loads only the missing ones (and nested paths under both).

        Example: ``user = await repo.preload(user, "posts")``.
        """
        return await _preload(self, records, *paths, force=force, **queries)

    # -- writes -----------------------------------------------------------------------

    async def insert(
        self,
        value: S | Changeset[S],
        *,
        on_conflict: OnConflict = "raise",
        conflict_target: ConflictTarget | None = None,
        update_where: Expr[bool] | Expr[bool | None] | None = None,
        stale_error_field: str | None = None,
        stale_error_message: str = "is stale",
        prefix: str | None = None,
    ) -> S:
        """Insert a record or a valid changeset; the record as the database stored it.

        Fills autogenerated keys, defaults and timestamps (read back with
        ``RETURNING``); writes new associated records in the same
        transaction (after an upsert, pointing at the row stored). An
        invalid changeset raises ``InvalidChangesetError`` without touching
        the database; a declared constraint violation becomes a field error
        in that exception.

        Options: ``on_conflict``, ``conflict_target``, ``update_where``, as
        for ``insert_all``. When ``update_where`` keeps the conflicting row
        from being updated, nothing is written and ``StaleEntryError`` is
        raised; with ``stale_error_field`` it is an ``InvalidChangesetError``
        whose changeset has ``stale_error_message`` on that field instead.
        ``prefix``: a tenant's schema for this call (see ``AsyncRepo``).
        """
        return await _write.insert(
            self.with_prefix(prefix) if prefix is not None else self,
            value,
            on_conflict=on_conflict,
            conflict_target=conflict_target,
            update_where=update_where,
            stale=_stale_field(stale_error_field, stale_error_message),
        )

    async def update(
        self,
        changeset: Changeset[S],
        *,
        stale_error_field: str | None = None,
        stale_error_message: str = "is stale",
        prefix: str | None = None,
    ) -> S:
        """Write a changeset's changes (only the changed fields); the updated record.

        Bumps ``updated_at`` timestamps; with ``optimistic_lock`` the row must
        still hold the old version, else ``StaleEntryError``, as when the row
        is gone (with ``stale_error_field``: the changeset's error on that
        field, in ``InvalidChangesetError``). A changeset without changes does
        not touch the database.
        """
        repo = self.with_prefix(prefix) if prefix is not None else self
        return await _write.update(
            repo, changeset, _stale_field(stale_error_field, stale_error_message)
        )

    async def delete(
        self,
        value: S | Changeset[S],
        *,
        stale_error_field: str | None = None,
        stale_error_message: str = "is stale",
        prefix: str | None = None,
    ) -> S:
        """Delete a record by its primary key; ``StaleEntryError`` when no row was deleted.

        A changeset's declared ``no_assoc_constraint``/``foreign_key_constraint``
        turn a restricting foreign key into a field error; ``stale_error_field``
        does the same for a stale record, as for ``update``.
        """
        repo = self.with_prefix(prefix) if prefix is not None else self
        return await _write.delete(
            repo, value, _stale_field(stale_error_field, stale_error_message)
        )

    async def insert_or_update(self, changeset: Changeset[S]) -> S:
        """Insert when the changeset's record is new (no primary key yet), else update."""
        return await _write.insert_or_update(self, changeset)

    async def unsafe_validate_unique(
        self,
        changeset: Changeset[S],
        fields: str | Sequence[str],
        *,
        message: str = "has already been taken",
        error_key: str | None = None,
    ) -> Changeset[S]:
        """The changeset with an error when another row holds its ``fields`` values.

        Why: a unique constraint reports a duplicate only when the write
        runs, after every other check has passed; a form wants all its
        errors at once. This query tells early, but it is "unsafe": a
        concurrent writer can still insert the same values between the
        check and the write, so keep ``unique_constraint`` as well (Ecto's
        ``unsafe_validate_unique``). It reads the primary (a replica may
        not have the row yet), and reads nothing when no field changed,
        one is None, or one has an error already.

        Options: ``message``; ``error_key``, the field that gets the error
        (the first of ``fields`` by default). The error's options:
        ``validation="unsafe_unique"`` and ``fields``.

        Example: ``form = await repo.unsafe_validate_unique(form, "email")``.
        """
        names = (fields,) if isinstance(fields, str) else tuple(fields)
        probe = unique_probe(changeset, names)
        if probe is None:
            return changeset
        found = (await self._execute(probe.select(ONE).limit(1), "write"))[0]
        if not found:
            return changeset
        return changeset.add_error(
            error_key or names[0], message, validation="unsafe_unique", fields=names
        )

    @overload
    async def insert_all(
        self,
        schema: Table,
        rows: Sequence[Mapping[str, Any]] | Query[Any],
        *,
        on_conflict: OnConflict = ...,
        conflict_target: ConflictTarget | None = ...,
        returning: Literal[True],
        update_where: Expr[bool] | Expr[bool | None] | None = ...,
    ) -> WriteResult[dict[str, Any]]: ...
    @overload
    async def insert_all(
        self,
        schema: Table,
        rows: Sequence[Mapping[str, Any]] | Query[Any],
        *,
        on_conflict: OnConflict = ...,
        conflict_target: ConflictTarget | None = ...,
        returning: Literal[False] | Sequence[str | Column[Any]] = ...,
        update_where: Expr[bool] | Expr[bool | None] | None = ...,
    ) -> WriteResult[Any]: ...
    @overload
    async def insert_all(
        self,
        schema: type[S],
        rows: Sequence[Mapping[str, Any] | S] | Query[Any],
        *,
        on_conflict: OnConflict = ...,
        conflict_target: ConflictTarget | None = ...,
        returning: Literal[False] = ...,
        update_where: Expr[bool] | Expr[bool | None] | None = ...,
        prefix: str | None = ...,
    ) -> WriteResult[None]: ...
    @overload
    async def insert_all(
        self,
        schema: type[S],
        rows: Sequence[Mapping[str, Any] | S] | Query[Any],
        *,
        on_conflict: OnConflict = ...,
        conflict_target: ConflictTarget | None = ...,
        returning: Literal[True],
        update_where: Expr[bool] | Expr[bool | None] | None = ...,
        prefix: str | None = ...,
    ) -> WriteResult[S]: ...
    @overload
    async def insert_all(
        self,
        schema: type[S],
        rows: Sequence[Mapping[str, Any] | S] | Query[Any],
        *,
        on_conflict: OnConflict = ...,
        conflict_target: ConflictTarget | None = ...,
        returning: Sequence[str | Column[Any]],
        update_where: Expr[bool] | Expr[bool | None] | None = ...,
        prefix: str | None = ...,
    ) -> WriteResult[tuple[Any, ...]]: ...
    async def insert_all(
        self,
        schema: type[S] | Table,
        rows: Sequence[Mapping[str, Any] | S] | Query[Any],
        *,
        on_conflict: OnConflict = "raise",
        conflict_target: ConflictTarget | None = None,
        returning: bool | Sequence[str | Column[Any]] = False,
        update_where: Expr[bool] | Expr[bool | None] | None = None,
        prefix: str | None = None,
    ) -> WriteResult[Any]:
        """Insert many rows at once, in one transaction; a ``WriteResult``.

        Rows are dicts or records; timestamps and client-side defaults are
        filled in (Ecto's ``insert_all`` skips them). Large inputs go in
        batches (``COPY`` on PostgreSQL when nothing is returned and no
        conflict is handled). For upserts the result says how many rows were
        inserted and how many updated, and with ``returning`` which ones.

        ``rows`` may be a query selecting a dict of fields (``INSERT ...
        SELECT``: the rows never come to Python, and no timestamps or
        defaults are filled in), and a row's value may be a query of one
        value (``subquery(q)``), which the database evaluates; such rows go
        in one statement, and an upsert of them reports no ``inserted`` /
        ``updated`` split. ``schema`` may be a ``table(...)`` with declared
        columns (schemaless); its returned rows are dicts.

        Options: ``on_conflict``, ``conflict_target``, ``returning``,
        ``update_where`` as for ``repodb.write.insert_all``. Rows that
        ``update_where`` kept are neither written nor counted.
        ``prefix``: a tenant's schema for this call.
        """
        from ._repo import bulk_async

        return await bulk_async.insert_all(
            self.with_prefix(prefix) if prefix is not None else self,
            schema,
            rows,
            on_conflict=on_conflict,
            conflict_target=conflict_target,
            returning=returning,
            update_where=update_where,
        )

    @overload
    async def update_all(
        self,
        q: Query[Any],
        *assignments: Assignment,
        set: Mapping[str | Column[Any], object] | None = ...,
        returning: Literal[False] = ...,
        prefix: str | None = ...,
    ) -> WriteResult[None]: ...
    @overload
    async def update_all(
        self,
        q: Query[S],
        *assignments: Assignment,
        set: Mapping[str | Column[Any], object] | None = ...,
        returning: Literal[True],
        prefix: str | None = ...,
    ) -> WriteResult[S]: ...
    @overload
    async def update_all(
        self,
        q: Query[Any],
        *assignments: Assignment,
        set: Mapping[str | Column[Any], object] | None = ...,
        returning: Sequence[str | Column[Any]],
        prefix: str | None = ...,
    ) -> WriteResult[tuple[Any, ...]]: ...
    async def update_all(
        self,
        q: Query[Any],
        *assignments: Assignment,
        set: Mapping[str | Column[Any], object] | None = None,  # Ecto's name
        returning: bool | Sequence[str | Column[Any]] = False,
        prefix: str | None = None,
    ) -> WriteResult[Any]:
        """Update every row ``q`` matches; a ``WriteResult`` (count; rows with ``returning``).

        Example: ``await repo.update_all(query(Post).where(Post.user_id == 1), set={"views": 0})``.
        """
        from ._repo import bulk_async

        repo = self.with_prefix(prefix) if prefix is not None else self
        return await bulk_async.update_all(repo, q, *assignments, set=set, returning=returning)

    @overload
    async def delete_all(
        self, q: Query[Any], *, returning: Literal[False] = ..., prefix: str | None = ...
    ) -> WriteResult[None]: ...
    @overload
    async def delete_all(
        self, q: Query[S], *, returning: Literal[True], prefix: str | None = ...
    ) -> WriteResult[S]: ...
    @overload
    async def delete_all(
        self, q: Query[Any], *, returning: Sequence[str | Column[Any]], prefix: str | None = ...
    ) -> WriteResult[tuple[Any, ...]]: ...
    async def delete_all(
        self,
        q: Query[Any],
        *,
        returning: bool | Sequence[str | Column[Any]] = False,
        prefix: str | None = None,
    ) -> WriteResult[Any]:
        """Delete every row ``q`` matches; a ``WriteResult`` (count; rows with ``returning``)."""
        from ._repo import bulk_async

        repo = self.with_prefix(prefix) if prefix is not None else self
        return await bulk_async.delete_all(repo, q, returning=returning)

    async def execute(self, statement: Statement) -> tuple[list[Any], int]:
        """Run any statement (query or write) on the primary: its results and row count."""
        return await self._execute(statement, "write")

    # -- transactions -----------------------------------------------------------------

    @overload
    def transaction(
        self,
        work: None = None,
        /,
        *,
        isolation: IsolationLevel | None = None,
        read_only: bool = False,
    ) -> AsyncRepoTransaction: ...
    @overload
    def transaction(
        self,
        work: AsyncMulti,
        /,
        *,
        isolation: IsolationLevel | None = None,
        read_only: bool = False,
    ) -> Awaitable[Results]: ...
    @overload
    def transaction(
        self,
        work: Callable[[AsyncTransactionRepo], Awaitable[T]],
        /,
        *,
        isolation: IsolationLevel | None = None,
        read_only: bool = False,
    ) -> Awaitable[T | None]: ...
    def transaction(
        self,
        work: Any = None,
        /,
        *,
        isolation: IsolationLevel | None = None,
        read_only: bool = False,
    ) -> Any:
        """A transaction on one connection: a ``with`` block, a function, or a ``AsyncMulti``.

        ``with repo.transaction() as tx:`` gives a repo-like handle whose
        operations all run on one pinned primary connection; the block
        commits at its end and rolls back on any exception, which
        propagates. ``tx.rollback()`` leaves the block, rolling back, without
        an error. Nested transactions are savepoints.
        ``repo.transaction(fn)`` runs ``fn(tx)`` likewise and returns its
        result (None after ``tx.rollback()``); ``repo.transaction(multi)``
        runs a ``AsyncMulti`` and returns its results by step name, or raises
        ``MultiError``.
        """
        block = AsyncRepoTransaction(self, isolation, read_only)
        if work is None:
            return block
        if callable(work):
            return _transact(block, work)
        from .multi_async import AsyncMulti

        if not isinstance(work, AsyncMulti):
            raise TypeError(f"transaction() takes a function or a AsyncMulti, not {work!r}")
        return work._run(block)


class AsyncTransactionRepo(AsyncRepo):
    """The handle of ``with repo.transaction() as tx``: a AsyncRepo pinned to one connection.

    Everything it runs joins the transaction; ``tx.transaction()`` opens a
    savepoint; ``tx.rollback()`` rolls back and leaves the block quietly.
    """

    def __init__(self, parent: AsyncRepo, conn: AsyncConnection, tx: AsyncTransaction) -> None:
        super().__init__(
            conn, on_event=parent._handlers, log_params=parent._log_params, prefix=parent._prefix
        )
        self._conn = conn
        self._tx = tx
        self._held = True

    @property
    def connection(self) -> AsyncConnection:
        """The connection the transaction runs on."""
        return self._conn

    def rollback(self) -> None:
        """Roll this transaction back and leave its ``with`` block (or function) quietly."""
        raise Rollback(self._tx)


class AsyncRepoTransaction:
    """The ``with`` block of ``repo.transaction()``; entering gives a ``AsyncTransactionRepo``."""

    def __init__(
        self, repo: AsyncRepo, isolation: IsolationLevel | None = None, read_only: bool = False
    ) -> None:
        self._repo = repo
        self._isolation = isolation
        self._read_only = read_only
        self._block: AsyncLeasedTransaction | None = None

    async def __aenter__(self) -> AsyncTransactionRepo:
        if self._block is not None:
            raise RuntimeError("a repo transaction cannot be entered twice")
        self._block = AsyncLeasedTransaction(
            self._repo._source.checkout("transaction"),
            isolation=self._isolation,
            read_only=self._read_only,
        )
        conn = await self._block.__aenter__()
        return AsyncTransactionRepo(self._repo, conn, self._block.transaction)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._block is not None
        return await self._block.__aexit__(exc_type, exc, tb)


# -- helpers --------------------------------------------------------------------------


async def _transact(
    block: AsyncRepoTransaction, work: Callable[[AsyncTransactionRepo], Awaitable[T]]
) -> T | None:
    async with block as tx:
        return await work(tx)
    return None


_REQUEST_CALLS: dict[
    str, Callable[[AsyncConnection, Request[Any, Any, Any], object], Awaitable[Any]]
] = {
    "all": lambda c, r, p: c.all(r, p),
    "one": lambda c, r, p: c.one(r, p),
    "one_or_none": lambda c, r, p: c.one_or_none(r, p),
    "exec": lambda c, r, p: c.exec(r, p),
}


def _checked_prefix(prefix: object) -> str | None:
    if prefix is not None and (not isinstance(prefix, str) or not prefix):
        raise ValueError(f"a prefix is a schema's name (a non-empty str), not {prefix!r}")
    return prefix


def _stale_field(field: str | None, message: str) -> StaleField | None:
    return None if field is None else StaleField(field, message)


def _query_for(q: object, where: str, requests: bool = True) -> Query[Any]:
    """``q`` if it is a query; else a TypeError saying what ``where`` takes."""
    if isinstance(q, Query):
        return q
    takes = "a query (query(User)...)" + (
        ", a prepared query or a typed Request" if requests else ""
    )
    raise TypeError(f"{where} takes {takes}, not {describe(q)}")


def _no_params(params: object, where: str) -> None:
    """A TypeError for parameters' values given with a query that takes none."""
    if params is not None:
        raise TypeError(
            f"{where} takes parameters' values with a prepared query only"
            " (prepare(q), with param(name) where each value goes)"
        )


def _intent(q: Query[Any]) -> Intent:
    """Where a query runs: a locking one (``FOR UPDATE``/``FOR SHARE``) is a write."""
    return "write" if q.locking is not None else "read"


def _request_params(params: object) -> tuple[Any, ...]:
    if params is None:
        return ()
    return tuple(params) if isinstance(params, tuple) else (params,)


def _describe(q: Query[Any] | Prepared[Any]) -> str:
    schema = (q.query if isinstance(q, Prepared) else q).source.schema
    return f"query({schema.__name__})" if schema is not None else "the query"
