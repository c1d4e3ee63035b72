"""The AsyncRepo's bulk writes: ``insert_all``, ``update_all`` and ``delete_all``.

Why: loading many rows is where a database layer most often loses to the raw
driver, and where Ecto's ``insert_all`` leaves timestamps and defaults to the
caller. Here every row gets its client-side defaults and one shared ``now``
for its timestamps; values are checked and encoded a column at a time (one
class test per column, run in C, so only columns that need converting pay a
call per value); and the rows go by the fastest means the database has:

- PostgreSQL, no conflict handling, nothing returned: ``COPY`` (twice as
  fast as multi-row VALUES for 50,000 rows);
- otherwise multi-row ``INSERT ... VALUES`` statements, each within the
  database's parameter limit. On SQLite that is also the fastest way with
  nothing returned: about a tenth faster than ``executemany`` of a one-row
  INSERT for 50,000 rows.

Everything runs in one transaction (a savepoint inside another), so a failure
in the last batch leaves nothing behind.

Upserts say what they did. On PostgreSQL ``RETURNING (xmax = 0)`` is true for
a row the statement inserted; on MariaDB a session variable that the ``ON
DUPLICATE KEY UPDATE`` of a found row sets and its RETURNING reads (the
dialect's ``inserted_flag_sql``). SQLite has no such column: the conflict keys
that already exist are read first, in the same write transaction (which SQLite
holds alone); a row whose key existed, or came earlier in the same call, was
updated. ``on_conflict="nothing"`` reports ``inserted`` as the rows written
and ``updated`` as 0. On PostgreSQL one statement cannot update a row twice,
so a conflict key may appear only once per batch.

Example::

    result = repo.insert_all(
        User,
        [{"email": "ada@example.com", "name": "Ada"}, {"email": "bob@example.com", "name": "Bob"}],
        on_conflict=["name"],
        conflict_target=["email"],
    )
    result.inserted, result.updated  # (1, 1) when only Ada was there
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import functools
import itertools
import threading
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter, is_not, itemgetter
from typing import Any, Literal, TypeVar

from .. import _codec, write
from .._compile.cache import Compiled, compile_statement, compile_uncached
from ..connection_async import AsyncConnection
from ..dialect import Dialect
from ..errors import EncodeError
from ..expr import Column, Expr, InsertedFlag
from ..query import Query, Selection
from ..repo_async import AsyncRepo, AsyncTransactionRepo, WriteResult
from ..schema import FieldInfo, Schema, SchemaInfo, schema_info
from ..table import Table, record_class
from ..types import DbType, Kind
from ..write import Assignment, ConflictTarget, Insert, OnConflict
from .write_async import reset_inserted_flag, traced

__all__ = ["delete_all", "insert_all", "update_all"]

R = TypeVar("R")
Action = Literal["inserted", "updated"]
_INSERTED: tuple[Action] = ("inserted",)
# A client-side default: a function making it, and whether it is constant.
Default = tuple[Callable[[], Any], bool]

_perf = time.perf_counter
# The databases that load rows with COPY, and the column telling an inserted
# row from an updated one in an upsert's RETURNING.
_COPY_DIALECTS = frozenset({"postgresql"})


async def insert_all(
    repo: AsyncRepo,
    schema: type[Schema] | Table,
    rows: Sequence[Mapping[str, Any] | Schema] | Query[Any],
    *,
    on_conflict: OnConflict,
    conflict_target: ConflictTarget | None,
    returning: bool | Sequence[str | Column[Any]],
    update_where: Expr[Any] | None = None,
) -> WriteResult[Any]:
    """Insert ``rows`` of ``schema`` in one transaction; see the module docstring."""
    if isinstance(schema, Table):
        schema = record_class(schema)
    if isinstance(rows, Query):
        statement = write.insert_all(
            schema,
            rows,
            on_conflict=on_conflict,
            conflict_target=conflict_target,
            returning=returning,
            update_where=update_where,
        )
        return await repo._on_connection("write", _evaluated_on, repo, statement)
    table = _gather(schema, rows)
    # A one-row statement checks the options and is the SQL's pattern.
    template = write.insert_all(
        schema,
        [dict.fromkeys(f.name for f in table.fields)],
        on_conflict=on_conflict,
        conflict_target=conflict_target,
        returning=returning,
        update_where=update_where,
    )
    if not table.count:
        return _result(template, 0, [], () if template.on_conflict != "raise" else None)
    result = await repo.transaction(functools.partial(_insert, template=template, table=table))
    assert result is not None  # only tx.rollback() returns None, and _insert never calls it
    return result


async def _insert(tx: AsyncTransactionRepo, template: Insert, table: _Table) -> WriteResult[Any]:
    """Insert ``table`` on the transaction's connection by the fastest fitting path."""
    conn = tx.connection
    try:
        columns = _encode(table, conn.codecs)
    except EncodeError:
        if not _holds_expressions(table):
            raise
        given = write.insert_all(template.schema, _dicts(table))
        statement = dataclasses.replace(template, columns=given.columns, rows=given.rows)
        return await _evaluated_on(conn, 0.0, tx, statement)
    plain = template.on_conflict == "raise" and template.returning is None
    if plain and table.fields and conn.dialect.name in _COPY_DIALECTS:
        return WriteResult(await _copy(tx, conn, template.schema, table, columns))
    dialect = tx._dialect(conn)
    # MariaDB counts (and returns) a row that on_conflict="nothing" found as
    # written: its flag tells them apart.
    found_counts = template.on_conflict == "nothing" and dialect.update_on_duplicate
    if template.on_conflict != "update" and not found_counts:
        results, count = await _values(tx, conn, template, columns, table.count)
        actions: tuple[Action, ...] | None = None
        if template.on_conflict == "nothing":
            actions = _INSERTED * count
        return _result(template, count, results, actions)
    if dialect.inserted_flag_sql is not None:
        return await _upsert_flagged(tx, conn, template, columns, table.count)
    return await _upsert_probed(tx, conn, template, table, columns)


async def update_all(
    repo: AsyncRepo,
    q: Query[Any],
    *assignments: Assignment,
    set: Mapping[str | Column[Any], object] | None,  # Ecto's name
    returning: bool | Sequence[str | Column[Any]],
) -> WriteResult[Any]:
    """``UPDATE`` the rows ``q`` matches, on the primary: the count, and rows with ``returning``."""
    statement = write.update_all(q, *assignments, set=set, returning=returning)
    results, count = await repo._execute(statement, "write")
    return WriteResult(count, results)


async def delete_all(
    repo: AsyncRepo, q: Query[Any], *, returning: bool | Sequence[str | Column[Any]]
) -> WriteResult[Any]:
    """``DELETE`` the rows ``q`` matches, on the primary: the count, and rows with ``returning``."""
    results, count = await repo._execute(write.delete_all(q, returning=returning), "write")
    return WriteResult(count, results)


def _holds_expressions(table: _Table) -> bool:
    """Whether a value of ``table`` is a query or an expression, which the database evaluates."""
    return any(
        issubclass(cls, Expr | Query) for column in table.columns for cls in set(map(type, column))
    )


def _dicts(table: _Table) -> list[dict[str, Any]]:
    names = [f.name for f in table.fields]
    return [dict(zip(names, row, strict=True)) for row in zip(*table.columns, strict=True)]


async def _evaluated_on(
    conn: AsyncConnection, checkout: float, repo: AsyncRepo, statement: Insert
) -> WriteResult[Any]:
    """Run one INSERT whose rows the database computes; its result (see ``_evaluated``).

    Where ``on_conflict="nothing"`` counts and returns the rows it found
    (MariaDB), the inserted flag leaves them out.
    """
    dialect = repo._dialect(conn)
    if not (statement.on_conflict == "nothing" and dialect.update_on_duplicate):
        return _evaluated(statement, *await repo._run(conn, compile_statement(statement, dialect)))
    wanted = statement.returning
    flag = InsertedFlag()
    selection = (
        Selection("scalar", (flag,))
        if wanted is None
        else Selection("tuple", (*wanted.items, flag))
    )
    await reset_inserted_flag(repo, conn)
    flagged = dataclasses.replace(statement, returning=selection)
    rows, _ = await repo._run(conn, compile_statement(flagged, dialect), checkout)
    if wanted is None:
        inserted = sum(1 for f in rows if f)
        return WriteResult(inserted, [], inserted, 0)
    kept = [r for r in rows if r[-1]]
    return WriteResult(len(kept), _returned(wanted, kept, 1), len(kept), 0)


def _evaluated(statement: Insert, rows: list[Any], count: int) -> WriteResult[Any]:
    """The result of one INSERT whose rows the database computed (a query, expressions).

    Which rows an upsert updated is not known: ``inserted``/``updated`` stay None.
    """
    if statement.on_conflict == "nothing":
        return WriteResult(count, rows, count, 0)
    return WriteResult(count, rows)


def _result(
    template: Insert, count: int, rows: list[Any], actions: Sequence[Action] | None
) -> WriteResult[Any]:
    """The result; ``actions`` (one per row written) only for conflict handling."""
    if actions is None:
        return WriteResult(count, rows)
    inserted = sum(1 for a in actions if a == "inserted")
    shown = tuple(actions) if template.returning is not None else None
    return WriteResult(count, rows, inserted, len(actions) - inserted, shown)


# -- the rows, column by column -------------------------------------------------------

_ABSENT: Any = object()  # a dict row without a key that other rows have


@dataclasses.dataclass(slots=True)
class _Table:
    """The rows to insert as columns of Python values, with the fields they go to.

    ``constant[i]`` is True when column ``i`` repeats one value (a filled
    timestamp or default), which is then encoded once.
    """

    fields: list[FieldInfo]
    columns: list[Sequence[Any]]
    constant: list[bool]
    count: int


def _gather(schema: type[Schema], rows: Sequence[Mapping[str, Any] | Schema]) -> _Table:
    """Rows (dicts or records) as columns, with defaults, timestamps and keys settled."""
    info = schema_info(schema)
    count = len(rows)
    classes = set(map(type, rows))
    absent = False  # whether some dict row lacks a key that others have
    if all(issubclass(c, schema) for c in classes):
        names = [f.name for f in info.fields]
        given = [list(map(attrgetter(n), rows)) for n in names]
    elif all(issubclass(c, Mapping) for c in classes):
        dicts = typing.cast(Sequence[Mapping[str, Any]], rows)
        keys: set[str] = set().union(*dicts)
        unknown = keys - {f.name for f in info.fields}
        if unknown:
            raise ValueError(f"{schema.__name__} has no stored field(s) {sorted(unknown)}")
        names = [f.name for f in info.fields if f.name in keys]
        given = []
        for name in names:
            try:
                given.append(list(map(itemgetter(name), dicts)))
            except KeyError:
                absent = True
                given.append([r.get(name, _ABSENT) for r in dicts])
    else:
        raise TypeError(f"insert_all rows must be dicts or {schema.__name__} instances")
    by_name = dict(zip(names, given, strict=True))
    defaults = _defaults(schema)
    now: dt.datetime | None = None
    table = _Table([], [], [], count)
    for f in info.fields:
        column = by_name.get(f.name)
        constant = False
        unset = 0
        if column is not None and (f.timestamp is not None or f.autogenerate):
            unset = column.count(None) + (column.count(_ABSENT) if absent else 0)
        if f.timestamp is not None:
            now = now or dt.datetime.now(dt.UTC)
            if column is None or unset == count:
                column, constant = [now] * count, True
            elif unset:
                column = [now if v is None or v is _ABSENT else v for v in column]
        elif f.autogenerate:
            if column is None or unset == count:
                continue
            if unset:
                raise ValueError(
                    f"insert_all: {f.name} is set in some rows and not in others; "
                    "the database assigns it only when no row gives it"
                )
        elif column is None:
            if f.name not in defaults:
                continue  # the column's database default applies
            make, constant = defaults[f.name]
            column = [make()] * count if constant else [make() for _ in range(count)]
        elif absent and _ABSENT in column:
            column = _fill(f, column, defaults.get(f.name))
        table.fields.append(f)
        table.columns.append(column)
        table.constant.append(constant)
    return table


def _fill(f: FieldInfo, column: Sequence[Any], default: Default | None) -> list[Any]:
    """``column`` with the field's default where a dict row left it out."""
    if default is None:
        row = list(column).index(_ABSENT)
        raise ValueError(
            f"insert_all: row {row} has no {f.name!r}, which other rows give and which "
            "has no default; give it in every row or in none"
        )
    make = default[0]
    return [make() if v is _ABSENT else v for v in column]


_defaults_by_schema: dict[type[Schema], dict[str, Default]] = {}


def _defaults(schema: type[Schema]) -> dict[str, Default]:
    """Per field with a client-side default: a function making it, and whether it is constant."""
    found = _defaults_by_schema.get(schema)
    if found is None:
        found = {}
        for f in dataclasses.fields(typing.cast(Any, schema)):
            if f.default is not dataclasses.MISSING:
                found[f.name] = (functools.partial(_same, f.default), True)
            elif f.default_factory is not dataclasses.MISSING:
                found[f.name] = (f.default_factory, False)
        _defaults_by_schema[schema] = found
    return found


def _same(value: R) -> R:
    return value


# -- encoding a column at a time ------------------------------------------------------

# Kinds whose values pass the codec's check unchanged when they are exactly
# of this class (ints also need the 64-bit range); enums use their own class.
_EXACT: dict[Kind, type[Any]] = {
    kind: cls
    for kind, cls in _codec.PY_CLASS.items()
    # Datetimes and times are converted to UTC (or refused when naive).
    if kind not in (Kind.DATETIME, Kind.TIME)
}
_NONE: type[Any] = type(None)
_present = functools.partial(is_not, None)

ColumnEncoder = Callable[[Sequence[Any]], Sequence[Any]]


def _column_encoder(t: DbType[Any], codecs: _codec.Codecs) -> ColumnEncoder:
    """A function encoding a whole column of values of ``t`` for the driver.

    When every value is exactly of the type's class (or None, if optional),
    the codec's check would pass each one unchanged: the set of classes,
    built in C, proves it for the whole column, and only the driver's
    conversion, if it has one, runs per value. Any other column takes the
    full per-value encoder, whose ``EncodeError`` then names the row.
    """
    each = _codec.encoder(t, codecs)

    def encode_each(column: Sequence[Any]) -> list[Any]:
        try:
            return list(map(each, column))
        except EncodeError:
            for i, value in enumerate(column):
                try:
                    each(value)
                except EncodeError as e:
                    raise EncodeError(f"row {i}: {e.message}") from None
            raise

    optional = t.kind is Kind.OPTIONAL
    base = t.item if optional and t.item is not None else t
    cls = base.cls if base.kind is Kind.ENUM else _EXACT.get(base.kind)
    if cls is None:
        return encode_each
    build = codecs.encode.get(base.kind)
    convert = build(base, codecs) if build is not None else None
    allowed = {cls, _NONE} if optional else {cls}
    ints = cls is int

    def encode(column: Sequence[Any]) -> Sequence[Any]:
        classes = set(map(type, column))
        if not classes <= allowed:
            return encode_each(column)
        if ints:
            values = list(filter(_present, column)) if _NONE in classes else column
            if values and not _codec.INT64_MIN <= min(values) <= max(values) <= _codec.INT64_MAX:
                return encode_each(column)
        if convert is None:
            return column
        try:
            if _NONE in classes:
                return [None if v is None else convert(v) for v in column]
            return list(map(convert, column))
        except EncodeError:
            return encode_each(column)  # to name the row

    return encode


def _encode(table: _Table, codecs: _codec.Codecs) -> list[Sequence[Any]]:
    """Every column of ``table`` encoded; an ``EncodeError`` names the field."""
    out: list[Sequence[Any]] = []
    for f, column, constant in zip(table.fields, table.columns, table.constant, strict=True):
        try:
            if constant:
                out.append([_codec.encoder(f.dbtype, codecs)(column[0])] * table.count)
            else:
                out.append(_column_encoder(f.dbtype, codecs)(column))
        except EncodeError as e:
            raise EncodeError(f"insert_all {f.name}: {e.message}") from None
    return out


# -- running: COPY, multi-row VALUES --------------------------------------------------


async def _copy(
    repo: AsyncRepo, conn: AsyncConnection, schema: type[Schema], table: _Table, columns: list[Any]
) -> int:
    """``COPY`` the encoded rows in; the row count. The event carries no parameters."""
    info = schema_info(schema)
    sources = [f.source for f in table.fields]
    dialect = repo._dialect(conn)
    quoted = ", ".join(map(dialect.quote, sources))
    sql = f"COPY {dialect.quote_table(info.table, info.prefix)} ({quoted}) FROM STDIN"
    rows = zip(*columns, strict=True)
    prefix = info.prefix or dialect.default_prefix
    work = functools.partial(conn._copy_sql, info.table, sources, rows, prefix)
    return await traced(repo, conn, sql, (), None, work, int)


async def _values(
    repo: AsyncRepo, conn: AsyncConnection, template: Insert, columns: list[Any], count: int
) -> tuple[list[Any], int]:
    """AsyncMulti-row INSERTs within the parameter limit: the decoded results and the row count."""
    dialect = repo._dialect(conn)
    width = len(columns)
    compiled, values = _chunk_statement(template, 1, dialect)
    # Values after the row's (upsert assignments) are bound once per statement.
    tail = [
        _codec.encoder(t, conn.codecs)(v) if t is not None else v
        for t, v in zip(compiled.types[width:], values[width:], strict=True)
    ]
    per = (dialect.max_params - len(tail)) // width if width else 1
    if per < 1:
        raise ValueError(f"a row of {width} values exceeds {dialect.name}'s parameter limit")
    rows: list[tuple[Any, ...]] = list(zip(*columns, strict=True)) if width else [()] * count
    results: list[Any] = []
    written = 0
    for start in range(0, count, per):
        chunk = rows[start : start + per]
        compiled, _ = _chunk_statement(template, len(chunk), dialect)
        args = [*itertools.chain.from_iterable(chunk), *tail]
        sql, hidden = compiled.sql, compiled.hidden
        if compiled.result is None:
            work = functools.partial(conn._execute_sql, sql, args, False)
            written += await traced(repo, conn, sql, args, hidden, work, int)
            continue
        fetch = functools.partial(conn._fetch_sql, sql, args, False)
        fetched = await traced(repo, conn, sql, args, hidden, fetch, len)
        results.extend(compiled.decoder(conn.codecs)(fetched))
        written += len(fetched)
    return results, written


_chunks_lock = threading.Lock()
_chunks: collections.OrderedDict[tuple[object, ...], tuple[Dialect, Compiled]] = (
    collections.OrderedDict()
)
_MAX_CHUNKS = 16


def _chunk_statement(
    template: Insert, rows: int, dialect: Dialect
) -> tuple[Compiled, list[object]]:
    """``template`` for ``rows`` rows, compiled; and the template's own values.

    Why not ``compile_statement``: its cache key walks every value of the
    statement, tens of thousands for a full batch. The key here is the
    one-row template's shape and the row count, in a small LRU, so the full
    batch size stays compiled.
    """
    shape: list[object] = [dialect.name, dialect.default_prefix, rows]
    values: list[object] = []
    template.walk(shape, values)
    key = tuple(shape)
    with _chunks_lock:
        hit = _chunks.get(key)
        if hit is not None and hit[0] is dialect:
            _chunks.move_to_end(key)
            return hit[1], values
    statement = dataclasses.replace(template, rows=template.rows * rows)
    compiled = compile_uncached(statement, dialect)
    with _chunks_lock:
        _chunks[key] = (dialect, compiled)
        if len(_chunks) > _MAX_CHUNKS:
            _chunks.popitem(last=False)
    return compiled, values


# -- upserts that report what they did ---------------------------------------------


async def _upsert_flagged(
    repo: AsyncRepo, conn: AsyncConnection, template: Insert, columns: list[Any], count: int
) -> WriteResult[Any]:
    """An upsert whose RETURNING also says, per row, whether it was inserted.

    A row that ``on_conflict="nothing"`` found is left out (MariaDB returns
    it too), as PostgreSQL and SQLite leave it out.
    """
    wanted = template.returning
    await reset_inserted_flag(repo, conn)
    nothing = template.on_conflict == "nothing"
    if wanted is None:
        flagged = dataclasses.replace(template, returning=Selection("scalar", (InsertedFlag(),)))
        flags, _ = await _values(repo, conn, flagged, columns, count)
        if nothing:
            flags = [f for f in flags if f]
        return _result(template, len(flags), [], [_action(f) for f in flags])
    selection = Selection("tuple", (*wanted.items, InsertedFlag()))
    statement = dataclasses.replace(template, returning=selection)
    results, _ = await _values(repo, conn, statement, columns, count)
    if nothing:
        results = [r for r in results if r[-1]]
    actions = [_action(r[-1]) for r in results]
    return _result(template, len(results), _returned(wanted, results, 1), actions)


def _action(inserted: bool) -> Action:
    return "inserted" if inserted else "updated"


async def _upsert_probed(
    repo: AsyncRepo, conn: AsyncConnection, template: Insert, table: _Table, columns: list[Any]
) -> WriteResult[Any]:
    """An upsert on a database without an inserted flag: read the existing keys first.

    Without a conflict target any unique key may conflict, so which rows
    existed is not known: only the count is. Rows ``update_where`` kept are
    not written: the written count tells how many existing rows changed.
    """
    # Compiling first rejects a named constraint, which only PostgreSQL has.
    _chunk_statement(template, 1, repo._dialect(conn))
    target = template.conflict_target
    if not target:
        results, count = await _values(repo, conn, template, columns, table.count)
        return WriteResult(count, results)
    assert isinstance(target, tuple)
    info = schema_info(template.schema)
    positions = {f.source: i for i, f in enumerate(table.fields)}
    # A target column no row gives is filled by the database: such keys are
    # unknown here, and count as new.
    parts = [columns[positions[name]] if name in positions else None for name in target]
    keys = list(zip(*(p if p is not None else [None] * table.count for p in parts), strict=True))
    existing = await _existing_keys(repo, conn, info, target, keys)
    actions: list[Action] = []
    for key in keys:
        if None in key or key not in existing:
            actions.append("inserted")
            if None not in key:
                existing.add(key)
        else:
            actions.append("updated")
    wanted = template.returning
    if wanted is None:
        _, written = await _values(repo, conn, template, columns, table.count)
        if template.update_where is not None:
            inserted = actions.count("inserted")
            return WriteResult(written, [], inserted, written - inserted)
        return _result(template, len(actions), [], actions)
    # The returned rows carry their key, to pair each with its action.
    fields = [next(f for f in info.fields if f.source == name) for name in target]
    key_columns: list[Expr[Any]] = [
        Column(template.schema, f.source, f.name, f.dbtype) for f in fields
    ]
    selection = Selection("tuple", (*wanted.items, *key_columns))
    statement = dataclasses.replace(template, returning=selection)
    results, _ = await _values(repo, conn, statement, columns, table.count)
    pending: dict[tuple[Any, ...], collections.deque[Action]] = collections.defaultdict(
        collections.deque
    )
    for key, action in zip(keys, actions, strict=True):
        pending[key].append(action)
    encoders = [_codec.encoder(f.dbtype, conn.codecs) for f in fields]
    width = len(fields)
    returned: list[Action] = []
    for i, row in enumerate(results):
        key = tuple(e(v) for e, v in zip(encoders, row[-width:], strict=True))
        queue = pending.get(key)
        # A key stored in another form than it was given: trust the order.
        returned.append(queue.popleft() if queue else actions[i])
    return _result(template, len(results), _returned(wanted, results, width), returned)


def _returned(wanted: Selection, results: list[Any], extra: int) -> list[Any]:
    """The rows ``wanted`` selects, from tuples that carry ``extra`` more values at their end."""
    if wanted.kind == "record":
        return [r[0] for r in results]
    if wanted.kind == "dict":
        return [dict(zip(wanted.keys, r[:-extra], strict=True)) for r in results]
    return [r[:-extra] for r in results]


async def _existing_keys(
    repo: AsyncRepo,
    conn: AsyncConnection,
    info: SchemaInfo,
    names: tuple[str, ...],
    keys: list[tuple[Any, ...]],
) -> set[tuple[Any, ...]]:
    """Which of ``keys`` (encoded values of the columns ``names``) the schema's table holds.

    A join of the keys as a ``VALUES`` list with the table: the database
    looks each key up in the conflict target's unique index.
    """
    dialect = repo._dialect(conn)
    quote = dialect.quote
    wanted = list({k for k in keys if None not in k})
    width = len(names)
    per = dialect.max_params // width
    selected = ", ".join(f"t.{quote(n)}" for n in names)
    matched = " AND ".join(
        f"t.{quote(n)} = v.{quote(f'column{i}')}" for i, n in enumerate(names, 1)
    )
    found: set[tuple[Any, ...]] = set()
    for start in range(0, len(wanted), per):
        chunk = wanted[start : start + per]
        marks = [dialect.ordered_placeholder(n) for n in range(1, len(chunk) * width + 1)]
        rows = ", ".join(
            f"({', '.join(marks[i : i + width])})" for i in range(0, len(marks), width)
        )
        sql = (
            f"SELECT {selected} FROM (VALUES {rows}) AS v"
            f" JOIN {dialect.quote_table(info.table, info.prefix)} AS t ON {matched}"
        )
        args = list(itertools.chain.from_iterable(chunk))
        fetch = functools.partial(conn._fetch_sql, sql, args, False)
        fetched = await traced(repo, conn, sql, args, None, fetch, len)
        found.update(map(tuple, fetched))
    return found
