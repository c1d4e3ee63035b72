"""The AsyncRepo's writes of one record: ``insert``, ``update``, ``delete``, ``insert_or_update``.

Why: this is where a changeset meets the database, as in Ecto's AsyncRepo. An
invalid changeset never reaches the database; a constraint the changeset
declared comes back as a field error in ``InvalidChangesetError``; an
undeclared one raises the typed ``IntegrityError`` with a note naming the
declaration that would handle it. The record returned holds what a read of
the row would give. An insert reads back (``RETURNING``) only what the
database decides: assigned keys, ``read_after_writes`` fields, and kinds
the database may store otherwise (``Codecs.readback``: a numeric column's
scale, jsonb); the rest is built from the values it sent, as the driver
would decode them (Ecto's ``read_after_writes``). An update and a delete
read the whole row back: an update returns the row as the database now
holds it, other writers' changes to other columns included.

Associations are written with their record, in one transaction: a
``belongs_to`` parent first (its key goes in the foreign key), then the
record, then ``has_one``/``has_many`` children (their foreign key set to the
record's key) and ``many_to_many`` records with their join-table rows. The
children come from ``cast_assoc`` child changesets (actions ``insert``,
``update``, ``replace`` = delete) or, on insert, from associated records
loaded on the record (Ecto's "built" structs): a record whose
database-assigned key is set is taken as stored and only linked, any other
is inserted. A failure rolls back everything. ``on_conflict`` applies to
the record's own row only; after an upsert the associated records point at
the row stored (``"nothing"`` may store none, so it takes no associations).

Example (the AsyncRepo's methods call these functions)::

    form = cast(Member, params, ["email", "name"]).unique_constraint("email")
    try:
        ada = repo.insert(form)
    except InvalidChangesetError as e:
        e.changeset.traverse_errors()  # {'email': ['has already been taken']}
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .._codec import Convert, fast_encoder, named_encoder, written
from .._compile.cache import compile_statement
from .._observe import Watch
from ..changeset import Changeset, InvalidChangesetError
from ..errors import IntegrityError, MultipleResults, QueryError, StaleEntryError
from ..expr import Column, Expr, InsertedFlag, Statement, Value, describe
from ..query import Query, Selection, query
from ..schema import AssocInfo, NotLoaded, Schema, SchemaInfo, schema_info
from ..types import DbType, Kind
from ..write import (
    ConflictTarget,
    Delete,
    Insert,
    OnConflict,
    Update,
    delete_all,
    insert_all,
    update_all,
)
from .constraints import raise_constraint_error
from .results import StaleField

if TYPE_CHECKING:
    from .._codec import Codecs
    from .._compile.writer import Writer
    from ..connection_async import AsyncConnection
    from ..dialect import Dialect
    from ..repo_async import AsyncRepo

__all__ = ["delete", "insert", "insert_or_update", "reset_inserted_flag", "traced", "update"]

S = TypeVar("S", bound=Schema)
R = TypeVar("R")


# -- the operations ---------------------------------------------------------------------


async def insert(
    repo: AsyncRepo,
    value: S | Changeset[S],
    *,
    on_conflict: OnConflict = "raise",
    conflict_target: ConflictTarget | None = None,
    update_where: Expr[Any] | None = None,
    stale: StaleField | None = None,
) -> S:
    """Insert a record or a changeset (with its associations); the stored record.

    ``on_conflict``/``conflict_target``/``update_where`` apply to the
    record's own row; with ``"nothing"`` and a conflict, the record comes
    back as given (no key). An upsert writes the associated records after
    the row, pointing at the row stored (new or updated); with ``"nothing"``
    there may be no row to point at, so that is refused. A conflicting row
    that ``update_where`` keeps is stale: ``StaleEntryError``, or the
    ``stale`` field's error.
    """
    if isinstance(value, Schema) and not _loaded(value) and stale is None:
        # The common case, kept cheap: no changeset, one statement.
        return await _insert_row(
            repo, value, None, on_conflict, conflict_target, update_where=update_where
        )
    changeset = _surface(_changeset(value, "insert"))
    changeset = dataclasses.replace(changeset, action="insert")
    if not changeset.valid:
        raise InvalidChangesetError(changeset)
    if not _nested(changeset):
        return await _insert(
            repo, changeset, on_conflict, conflict_target, update_where=update_where, stale=stale
        )
    if on_conflict == "nothing":
        raise ValueError(
            "on_conflict='nothing' cannot insert associated records: when the row exists"
            " nothing is written, and they would have no row to point at; update on conflict"
            " (e.g. replace_all_except(...)), or insert them apart"
        )
    inserted = await repo.transaction(
        lambda tx: _insert(
            tx, changeset, on_conflict, conflict_target, update_where=update_where, stale=stale
        )
    )
    assert inserted is not None  # only tx.rollback() returns None, and _insert never calls it
    return inserted


async def update(repo: AsyncRepo, changeset: Changeset[S], stale: StaleField | None = None) -> S:
    """Write the changeset's changes; the record as the database now holds it.

    Only changed fields are written, with ``timestamp="updated"`` fields set
    to now; the row must still hold the primary key of ``changeset.data`` and
    the ``filters`` (``optimistic_lock``), else ``StaleEntryError``. No
    changes: the data comes back and the database is not touched.
    """
    if not isinstance(changeset, Changeset):
        raise TypeError(
            f"update() takes a Changeset (change(record, ...) or cast(record, ...)),"
            f" not {describe(changeset)}"
        )
    changeset = dataclasses.replace(changeset, action="update")
    if not changeset.valid:
        raise InvalidChangesetError(changeset)
    if not changeset.changes:
        return changeset.data
    if not _nested(changeset):
        return await _update(repo, changeset, stale)
    updated = await repo.transaction(lambda tx: _update(tx, changeset, stale))
    assert updated is not None  # only tx.rollback() returns None, and _update never calls it
    return updated


async def delete(repo: AsyncRepo, value: S | Changeset[S], stale: StaleField | None = None) -> S:
    """Delete a record by its primary key (and a changeset's ``filters``); the deleted row.

    ``StaleEntryError`` when no row matched; a declared ``no_assoc_constraint``
    or ``foreign_key_constraint`` turns a restricting foreign key into a field error.
    """
    changeset = _changeset(value, "delete")
    changeset = dataclasses.replace(changeset, action="delete")
    if not changeset.valid:
        raise InvalidChangesetError(changeset)
    return await _delete_row(repo, changeset, stale)


async def insert_or_update(repo: AsyncRepo, changeset: Changeset[S]) -> S:
    """``insert`` when the changeset's record is new, else ``update``.

    New means a primary-key field of ``changeset.data`` is None (records read
    from the database always have their key); a schema without a primary key
    can only be inserted.
    """
    changeset = _changeset(changeset, "insert_or_update")
    key = schema_info(type(changeset.data)).primary_key
    if not key or any(getattr(changeset.data, f.name) is None for f in key):
        return await insert(repo, changeset)
    return await update(repo, changeset)


# -- one row ----------------------------------------------------------------------------


async def _insert_row(
    r: AsyncRepo,
    record: S,
    changeset: Changeset[S] | None,
    on_conflict: OnConflict,
    conflict_target: ConflictTarget | None,
    *,
    update_where: Expr[Any] | None = None,
    stale: StaleField | None = None,
) -> S:
    """INSERT ``record`` (timestamps filled in) with RETURNING: the stored record."""
    schema = type(record)
    fields = vars(record)
    now: dt.datetime | None = None
    stamps = {}
    for name in _STAMPED.get(schema) or _stamped(schema):
        if fields[name] is None:
            now = now or _now()
            stamps[name] = now
    if on_conflict == "raise" and conflict_target is None:
        # Every field but the database-assigned keys left None (timestamps,
        # virtual fields and associations are not columns of the plan).
        absent: tuple[str, ...] = ()
        for name in _ASSIGNED.get(schema) or _assigned(schema):
            if fields[name] is None:
                absent += (name,)
        values = {**fields, **stamps} if stamps else fields
        try:
            inserted: S = await r._on_connection("write", _insert_on, r, record, absent, values)
        except IntegrityError as e:
            stamped = record.replace(**stamps) if stamps else record
            raise_constraint_error(e, changeset or Changeset(stamped), "insert")
        return inserted
    if stamps:
        record = record.replace(**stamps)
    statement = insert_all(
        schema,
        [record],
        on_conflict=on_conflict,
        conflict_target=conflict_target,
        returning=True,
        update_where=update_where,
    )
    try:
        rows = await r._on_connection("write", _upsert_on, r, statement)
    except IntegrityError as e:
        raise_constraint_error(e, changeset or Changeset(record), "insert")
    if not rows and statement.on_conflict == "nothing":  # met a conflict
        return record
    if not rows:  # the conflicting row failed update_where
        raise _stale(changeset or Changeset(record), "insert", stale)
    stored: S = rows[0]
    return _with_virtual(stored, record, schema_info(schema))


async def _upsert_on(
    conn: AsyncConnection, checkout: float, r: AsyncRepo, statement: Insert
) -> list[Any]:
    """The rows an upsert of one record returns: none when ``"nothing"`` met a conflict.

    Where RETURNING also returns a row ``"nothing"`` found (MariaDB), the
    dialect's inserted flag tells it apart, and it is left out.
    """
    dialect = r._dialect(conn)
    if not (statement.on_conflict == "nothing" and dialect.update_on_duplicate):
        return (await r._run(conn, compile_statement(statement, dialect), checkout))[0]
    assert statement.returning is not None
    flagged = dataclasses.replace(
        statement, returning=Selection("tuple", (*statement.returning.items, InsertedFlag()))
    )
    await reset_inserted_flag(r, conn)
    rows = (await r._run(conn, compile_statement(flagged, dialect), checkout))[0]
    wanted = statement.returning
    if wanted.kind == "dict":
        return [dict(zip(wanted.keys, row[:-1], strict=True)) for row in rows if row[-1]]
    return [row[0] for row in rows if row[-1]]


async def reset_inserted_flag(repo: AsyncRepo, conn: AsyncConnection) -> None:
    """Run the dialect's ``inserted_flag_reset``, if it has one, before an upsert reads its flag."""
    sql = repo._dialect(conn).inserted_flag_reset
    if sql is not None:
        run = functools.partial(conn._execute_sql, sql, [], False)
        await traced(repo, conn, sql, (), None, run, int)


async def traced(
    repo: AsyncRepo,
    conn: AsyncConnection,
    sql: str,
    args: Sequence[Any],
    hidden: Sequence[bool] | None,
    work: Callable[[], Awaitable[R]],
    size: Callable[[R], int],
) -> R:
    """Run ``work`` (one statement on ``conn``) and emit its telemetry event."""
    if not repo._observing():
        return await work()
    watch = Watch(conn, sql)
    try:
        result = await work()
    except BaseException as e:  # the event reports any failure, which propagates
        repo._end(watch, args, hidden, 0, e)
        raise
    repo._end(watch, args, hidden, size(result))
    return result


async def _insert_on(
    conn: AsyncConnection,
    checkout: float,
    r: AsyncRepo,
    record: S,
    absent: tuple[str, ...],
    values: dict[str, Any],
) -> S:
    """The prebuilt INSERT of ``record``'s schema for this connection, run with ``values``.

    ``values`` are ``record``'s fields, its timestamp fields filled in (what
    ``_rebuilder``'s function takes for granted).
    """
    plan = _insert_plan(type(record), absent, conn, r._dialect(conn))
    params = plan.pick(values)
    args = plan.encode(params)
    run = r._run_sql(conn, plan.sql, args, plan.decode, params, plan.hidden, checkout)
    rows = (await run)[0]
    inserted: S = plan.rebuild(record, params, rows[0] if rows else ())
    return inserted


class _InsertPlan:
    """``INSERT ... RETURNING`` of one record, for one schema, set of columns and dialect.

    Why: ``repo.insert(record)`` is the hottest write; building the
    statement from the record and walking it for the compiled-SQL cache cost
    about as much as the database call on SQLite. The statement is compiled
    once (from a row of Nones: the SQL and the parameter types depend only
    on the columns); each insert picks the record's values in column order
    and encodes them with one generated function (``_codec.fast_encoder``),
    an EncodeError naming the field (``"Member.email: expected str, got
    None; ..."``). It returns only the columns the database decides
    (``_written``); the record is rebuilt from the values sent and the row
    returned by another generated function (``_rebuilder``).
    """

    __slots__ = (
        "compiled",
        "decode",
        "dialect",
        "encode",
        "hidden",
        "pick",
        "rebuild",
        "returned",
        "sent",
        "sql",
    )

    def __init__(
        self, schema: type[Schema], absent: tuple[str, ...], dialect: Dialect, codecs: Codecs
    ) -> None:
        info = schema_info(schema)
        columns = [f for f in info.fields if f.name not in absent]
        self.sent, read = _written(schema, [f.name for f in columns], codecs)
        self.returned = tuple(f.name for f in info.fields if f.name in absent or f.name in read)
        model = insert_all(
            schema, [dict.fromkeys(f.name for f in columns)], returning=list(self.returned) or False
        )
        self.compiled = compile_statement(model, dialect)
        self.dialect = dialect
        names = [f.name for f in columns]
        self.pick: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            (lambda values: ()) if not names else _pick(names)
        )
        self.sql, self.hidden = self.compiled.sql, self.compiled.hidden
        types = [f.dbtype for f in columns]
        checked = named_encoder(types, codecs, [f"{schema.__name__}.{n}" for n in names])
        self.encode = fast_encoder(types, codecs, checked)
        self.decode = self.compiled.decoder(codecs) if self.returned else None
        self.rebuild = _rebuilder(schema, names, self.sent, self.returned)


_Sent = tuple[tuple[str, type[Any] | None, Convert], ...]


def _written(
    schema: type[Schema], names: list[str], codecs: Codecs
) -> tuple[_Sent, frozenset[str]]:
    """Of the fields ``names`` a write sends: how each reads back, and those to read back.

    Read back: ``read_after_writes`` fields, and fields of a kind the
    database may store otherwise (``Codecs.readback``); every other field's
    stored value is ``decode(encode(v))`` of the value sent.
    """
    info = schema_info(schema)
    sent: list[tuple[str, type[Any] | None, Convert]] = []
    read: set[str] = set()
    for name in names:
        f = info.field(name)
        how = None if f.read_after_writes else written(f.dbtype, codecs)
        if how is None:
            read.add(name)
        else:
            sent.append((name, *how))
    return tuple(sent), frozenset(read)


def _rebuild(
    given: S,
    sent: _Sent,
    values: Mapping[str, Any],
    returned: tuple[str, ...],
    row: tuple[Any, ...],
) -> S:
    """What a read gives after a write: ``given``'s fields, ``values`` as sent, ``row`` read.

    Why: reading the whole row back (``RETURNING *``) and decoding every
    column again costs more than keeping what was sent: most values are
    already their read form. Virtual fields are ``given``'s.
    """
    fields = vars(given)
    schema = type(given)
    constructed, checked = _constructed(schema)
    if len(fields) == len(constructed):
        fields = fields.copy()
    else:
        # A fresh instance: associations are NOT_LOADED, as on a record read.
        fields = {name: fields[name] for name in constructed}
    for name, cls, convert in sent:
        value = values[name]
        # A value of the class a read gives is its own read form (``written``).
        fields[name] = value if value is None or type(value) is cls else convert(value)
    if returned:
        fields.update(zip(returned, row, strict=True))
    if checked:
        # A __post_init__ of the schema's own runs on every record read: here too.
        built: S = schema(**fields)
        return built
    record = object.__new__(schema)
    record.__dict__.update(fields)
    return record


def _rebuilder(
    schema: type[Schema], names: list[str], sent: _Sent, returned: tuple[str, ...]
) -> Callable[[Any, tuple[Any, ...], tuple[Any, ...]], Any]:
    """``_rebuild`` for one insert plan, generated: ``rebuild(given, params, row)``.

    ``params`` are the values sent, one per field of ``names``: ``given``'s
    own values but for its timestamp fields (which the Repo fills); ``row``
    the columns ``returned``. The generated function copies ``given``'s
    fields and replaces only what a read would give otherwise: a sent value
    not of its read class (through its ``written`` conversion), the
    timestamps, and the columns returned. A record whose fields are not the
    plain constructed ones (loaded associations), or a schema with a
    ``__post_init__`` of its own, takes ``_rebuild``. The source holds only
    generated names (``c0``, ``k0``); field names, classes and functions are
    in its namespace.
    """

    def slow(given: Any, params: tuple[Any, ...], row: tuple[Any, ...]) -> Any:
        return _rebuild(given, sent, dict(zip(names, params, strict=True)), returned, row)

    constructed, checked = _constructed(schema)
    if checked or not names:
        return slow
    namespace: dict[str, Any] = {
        "slow": slow,
        "new": object.__new__,
        "set_dict": object.__setattr__,
        "schema": schema,
        "WIDTH": len(constructed),
        "DATETIME": dt.datetime,
        "UTC": dt.UTC,
    }
    index = {name: i for i, name in enumerate(names)}
    stamped = set(_stamped(schema))
    kinds = {f.name: _base(f.dbtype).kind for f in schema_info(schema).fields}
    lines: list[str] = []
    for name, cls, convert in sent:
        i = index[name]
        c = f"c{i}"
        namespace[f"f{i}"], namespace[f"n{i}"] = convert, name
        if kinds[name] is Kind.DATETIME:
            # ``written``'s own shortcut for a datetime, without its call.
            usual = f"{c} is None or (type({c}) is DATETIME and {c}.tzinfo is UTC and not {c}.fold)"
        elif cls is None:
            usual = "False"
        else:
            namespace[f"k{i}"] = cls
            usual = f"{c} is None or type({c}) is k{i}"
        if name in stamped:  # given holds None: the value sent is set in any case
            lines.append(f"built[n{i}] = {c} if {usual} else f{i}({c})")
        elif usual == "False":
            lines.append(f"built[n{i}] = f{i}({c})")
        else:
            lines.append(f"if not ({usual}):\n        built[n{i}] = f{i}({c})")
    for j, name in enumerate(returned):
        namespace[f"m{j}"] = name
        lines.append(f"built[m{j}] = r{j}")
    unpack_row = f"{', '.join(f'r{j}' for j in range(len(returned)))}, = row" if returned else ""
    body = "\n    ".join(lines)
    source = f"""\
def rebuild(given, params, row):
    fields = given.__dict__
    if len(fields) != WIDTH:
        return slow(given, params, row)
    {", ".join(f"c{i}" for i in range(len(names)))}, = params
    {unpack_row}
    built = fields.copy()
    {body}
    record = new(schema)
    set_dict(record, "__dict__", built)
    return record
"""
    exec(compile(source, "<repodb insert rebuilder>", "exec"), namespace)
    rebuild: Callable[[Any, tuple[Any, ...], tuple[Any, ...]], Any] = namespace["rebuild"]
    return rebuild


def _base(t: DbType[Any]) -> DbType[Any]:
    """``t``, or the type an optional ``t`` holds."""
    return t.item if t.kind is Kind.OPTIONAL and t.item is not None else t


def _constructed(schema: type[Schema]) -> tuple[tuple[str, ...], bool]:
    """The schema's stored and virtual fields in constructor order; whether it has __post_init__."""
    found = _CONSTRUCTED.get(schema)
    if found is None:
        names = tuple(f.name for f in dataclasses.fields(schema))  # type: ignore[arg-type]
        found = _CONSTRUCTED[schema] = (names, hasattr(schema, "__post_init__"))
    return found


_CONSTRUCTED: dict[type[Any], tuple[tuple[str, ...], bool]] = {}


def _pick(names: list[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    get = itemgetter(*names)
    if len(names) > 1:
        return get
    return lambda values: (get(values),)


_INSERT_PLANS: dict[tuple[type[Any], tuple[str, ...], str, str | None, str], _InsertPlan] = {}
# An application has a few plans per schema; only schemas made at run time
# (a class per tenant, per test) reach this, and each plan keeps its class alive.
_MAX_INSERT_PLANS = 1024


def _insert_plan(
    schema: type[Schema], absent: tuple[str, ...], conn: AsyncConnection, dialect: Dialect
) -> _InsertPlan:
    key = (schema, absent, dialect.name, dialect.default_prefix, conn.codecs.name)
    plan = _INSERT_PLANS.get(key)
    if plan is None or not (plan.dialect is dialect or plan.dialect == dialect):
        if len(_INSERT_PLANS) >= _MAX_INSERT_PLANS:
            # Starting over costs a few compilations; an LRU would cost every insert.
            _INSERT_PLANS.clear()
        plan = _INSERT_PLANS[key] = _InsertPlan(schema, absent, dialect, conn.codecs)
    return plan


def _assigned(schema: type[Schema]) -> tuple[str, ...]:
    """The fields the database assigns while None: keys, ``read_after_writes`` (left out)."""
    found = _ASSIGNED.get(schema)
    if found is None:
        found = _ASSIGNED[schema] = tuple(
            f.name for f in schema_info(schema).fields if f.autogenerate or f.read_after_writes
        )
    return found


def _stamped(schema: type[Schema]) -> tuple[str, ...]:
    """The schema's timestamp fields (set by the AsyncRepo when None)."""
    found = _STAMPED.get(schema)
    if found is None:
        found = _STAMPED[schema] = tuple(
            f.name for f in schema_info(schema).fields if f.timestamp is not None
        )
    return found


_ASSIGNED: dict[type[Any], tuple[str, ...]] = {}
_STAMPED: dict[type[Any], tuple[str, ...]] = {}


async def _update_row(
    r: AsyncRepo,
    changeset: Changeset[S],
    applied: S,
    values: dict[str, Any],
    stale: StaleField | None = None,
) -> S:
    """UPDATE the changed ``values`` of the changeset's row, guarded by key and filters."""
    data = changeset.data
    info = schema_info(type(data))
    now: dt.datetime | None = None
    for f in info.fields:
        if f.timestamp == "updated" and f.name not in values:
            now = now or _now()
            values[f.name] = now
    assignments: dict[str | Column[Any], object] = dict(values.items())
    statement = update_all(_match(changeset, "update"), set=assignments, returning=True)
    try:
        rows = await _write_one(r, statement, changeset, "update")
    except IntegrityError as e:
        raise_constraint_error(e, changeset, "update")
    if not rows:
        raise _stale(changeset, "update", stale)
    stored: S = rows[0]
    return _with_virtual(stored, applied, info)


async def _delete_row(r: AsyncRepo, changeset: Changeset[S], stale: StaleField | None = None) -> S:
    """DELETE the changeset's row (key and filters) with RETURNING: the deleted record."""
    data = changeset.data
    info = schema_info(type(data))
    statement = delete_all(_match(changeset, "delete"), returning=True)
    try:
        rows = await _write_one(r, statement, changeset, "delete")
    except IntegrityError as e:
        raise_constraint_error(e, changeset, changeset.action or "delete")
    if not rows:
        raise _stale(changeset, "delete", stale)
    deleted: S = rows[0]
    return _attach(_with_virtual(deleted, data, info), _assoc_values(data, info))


async def _write_one(
    r: AsyncRepo, statement: Update | Delete, changeset: Changeset[Any], action: str
) -> list[Any]:
    """Run the UPDATE or DELETE ... RETURNING of one record: its row, or none; never several.

    Why: the primary key a schema declares may not be unique in the table
    (a table created without its constraint, a view). Like Ecto, a write of
    one record that matched several rows raises (``MultipleResults``);
    unlike Ecto, it changes nothing: it never writes rows it was not asked to.
    Where the dialect has writable CTEs (PostgreSQL) the statement itself
    fails after a second row: no more round trips, about 6 us more work on
    the server, where a transaction of its own would add two round trips
    (measured: about +150 us on a 350 us update). SQLite has none, and runs
    the statement in a transaction of its own: BEGIN and COMMIT are local
    calls, about 3 us. In an open transaction nothing is added: the write
    fails as any failed statement does, and the transaction can then only
    be rolled back, which undoes it.
    """
    return await r._on_connection("write", _write_one_on, r, statement, changeset, action)


async def _write_one_on(
    conn: AsyncConnection,
    checkout: float,
    r: AsyncRepo,
    statement: Update | Delete,
    changeset: Changeset[Any],
    action: str,
) -> list[Any]:
    dialect = r._dialect(conn)
    if isinstance(statement, Update) and not dialect.supports_update_returning:
        return await _update_then_read(conn, checkout, r, statement, changeset)
    if dialect.supports_writable_cte:
        try:
            return (
                await r._run(conn, compile_statement(_AtMostOne(statement), dialect), checkout)
            )[0]
        except QueryError as e:
            if e.sqlstate != _CARDINALITY_VIOLATION:
                raise
            raise _multiple(changeset, action) from e
    compiled = compile_statement(statement, dialect)
    if conn.in_transaction:
        rows: list[Any] = (await r._run(conn, compiled, checkout))[0]
        if len(rows) > 1:
            # As AsyncConnection marks a transaction after a failed statement:
            # its rollback undoes the write.
            conn._aborted = conn._depth > 0
            raise _multiple(changeset, action)
        return rows
    async with conn.transaction():
        rows = (await r._run(conn, compiled, checkout))[0]
        if len(rows) > 1:
            raise _multiple(changeset, action)
    return rows


async def _update_then_read(
    conn: AsyncConnection,
    checkout: float,
    r: AsyncRepo,
    statement: Update,
    changeset: Changeset[Any],
) -> list[Any]:
    """UPDATE one record, then read it back by its key: RETURNING where UPDATE has none (MariaDB).

    In a transaction, so the row read is the row written: the UPDATE keeps
    it locked until the end. The row count is the rows matched (the driver
    asks for found rows), so an update that changes no value still finds its
    row. Several rows matched: as ``_write_one_on`` does, the write is undone
    (its own transaction rolled back, or the caller's marked failed).
    """
    data = changeset.data
    info = schema_info(type(data))
    dialect = r._dialect(conn)
    plain = compile_statement(dataclasses.replace(statement, returning=None), dialect)
    key = {f.name: changeset.changes.get(f.name, getattr(data, f.name)) for f in info.primary_key}
    read = compile_statement(query(type(data)).where(**key), dialect)
    if conn.in_transaction:
        count = (await r._run(conn, plain, checkout))[1]
        if count > 1:
            conn._aborted = conn._depth > 0
            raise _multiple(changeset, "update")
        return (await r._run(conn, read, checkout))[0] if count else []
    async with conn.transaction():
        count = (await r._run(conn, plain, checkout))[1]
        if count > 1:
            raise _multiple(changeset, "update")
        rows: list[Any] = (await r._run(conn, read, checkout))[0] if count else []
    return rows


# A scalar subquery met more than one row: what _AtMostOne's check raises.
_CARDINALITY_VIOLATION = "21000"


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class _AtMostOne(Statement):
    """A write with RETURNING that fails, undone, when it wrote more than one row.

    ``WITH w AS (write) SELECT * FROM w WHERE (SELECT 1 FROM w) = 1``: the
    subquery raises cardinality_violation when ``w`` holds several rows, and
    the failed statement changes nothing.
    """

    statement: Update | Delete

    def emit(self, w: Writer) -> None:
        w.write("WITH repodb_written AS (")
        self.statement.emit(w)
        w.write(") SELECT * FROM repodb_written WHERE (SELECT 1 FROM repodb_written) = 1")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append(_AtMostOne)
        self.statement.walk(shape, values)


def _multiple(changeset: Changeset[Any], action: str) -> MultipleResults:
    name = type(changeset.data).__name__
    key = ", ".join(f.name for f in schema_info(type(changeset.data)).primary_key)
    return MultipleResults(
        f"could not {action} {name}: its {key} matched more than one row, so the table's"
        f" key is not unique; nothing was changed (declare the primary key in the table,"
        f" or use {action}_all)"
    )


def _match(changeset: Changeset[S], action: str) -> Query[S]:
    """The query of the changeset's row: its primary key, and the lock ``filters``."""
    data = changeset.data
    info = schema_info(type(data))
    if not info.primary_key:
        raise ValueError(f"cannot {action} a {type(data).__name__}: it has no primary key")
    key = {f.name: getattr(data, f.name) for f in info.primary_key}
    if any(v is None for v in key.values()):
        raise ValueError(f"cannot {action} a {type(data).__name__} without its primary key")
    return query(type(data)).where(**key).where(**changeset.filters)


def _stale(
    changeset: Changeset[Any], action: str, as_field: StaleField | None = None
) -> StaleEntryError | InvalidChangesetError:
    if as_field is not None:
        failed = changeset.add_error(as_field.field, as_field.message, validation="stale")
        return InvalidChangesetError(dataclasses.replace(failed, action=action))
    name = type(changeset.data).__name__
    if action == "insert":
        return StaleEntryError(
            f"could not insert {name}: it conflicts with a stored row that update_where kept"
            " from being updated (a newer version, say); nothing was written",
            schema=name,
            action=action,
        )
    guards = [f.name for f in schema_info(type(changeset.data)).primary_key]
    guards += [n for n in changeset.filters if n not in guards]
    return StaleEntryError(
        f"could not {action} {name}: no row has its {', '.join(guards)} any more"
        " (deleted, or changed by another writer)",
        schema=name,
        action=action,
    )


def _now() -> dt.datetime:
    # Both databases keep microseconds; one value serves every timestamp of a write.
    return dt.datetime.now(dt.UTC)


def _with_virtual(stored: S, given: S, info: SchemaInfo) -> S:
    """``stored`` holding the virtual fields' values of ``given`` (never in the table)."""
    if not info.virtual:
        return stored
    return stored.replace(**{name: getattr(given, name) for name in info.virtual})


# -- records with associations ----------------------------------------------------------


async def _insert(
    r: AsyncRepo,
    changeset: Changeset[S],
    on_conflict: OnConflict = "raise",
    conflict_target: ConflictTarget | None = None,
    *,
    update_where: Expr[Any] | None = None,
    stale: StaleField | None = None,
) -> S:
    changeset = _surface(changeset)
    info = schema_info(type(changeset.data))
    parents, keys, orphans = await _write_parents(r, changeset, new=True)
    applied = changeset.apply_changes()
    row = applied.replace(**keys) if keys else applied
    stored = await _insert_row(
        r, row, changeset, on_conflict, conflict_target, update_where=update_where, stale=stale
    )
    children = await _write_children(r, changeset, stored, new=True)
    for orphan in orphans:
        await _delete_row(r, orphan)
    return _attach(stored, {**_assoc_values(applied, info), **parents, **children})


async def _update(r: AsyncRepo, changeset: Changeset[S], stale: StaleField | None = None) -> S:
    info = schema_info(type(changeset.data))
    parents, keys, orphans = await _write_parents(r, changeset, new=False)
    applied = changeset.apply_changes()
    stored_names = {f.name for f in info.fields}
    values = {n: getattr(applied, n) for n in changeset.changes if n in stored_names}
    values.update({fk: v for fk, v in keys.items() if v != getattr(changeset.data, fk)})
    stored = await _update_row(r, changeset, applied, values, stale) if values else applied
    children = await _write_children(r, changeset, stored, new=False)
    for orphan in orphans:
        await _delete_row(r, orphan)
    return _attach(stored, {**_assoc_values(applied, info), **parents, **children})


async def _write_parents(
    r: AsyncRepo, changeset: Changeset[Any], *, new: bool
) -> tuple[dict[str, Any], dict[str, Any], list[Changeset[Any]]]:
    """Write ``belongs_to`` parents: their records, the foreign keys, parents to delete after.

    A replaced parent is deleted once nothing points at it any more, after
    this record's row is written.
    """
    parents: dict[str, Any] = {}
    keys: dict[str, Any] = {}
    orphans: list[Changeset[Any]] = []
    for assoc, value in _assoc_changes(changeset, parents=True):
        assert assoc.foreign_key is not None
        replaced = None if new else _replaced(changeset, assoc, value)
        if replaced is not None:
            orphans.append(replaced)
        if value is None or value.action == "replace":
            parents[assoc.name] = None
            keys[assoc.foreign_key] = None
            if value is not None:
                orphans.append(value)
            continue
        try:
            parent = (
                await _insert(r, value) if value.action == "insert" else await _update(r, value)
            )
        except InvalidChangesetError as e:
            raise InvalidChangesetError(_with_child(changeset, assoc.name, 0, e.changeset)) from e
        parents[assoc.name] = parent
        keys[assoc.foreign_key] = getattr(parent, assoc.references)
    return parents, keys, orphans


def _replaced(
    changeset: Changeset[Any], assoc: AssocInfo[Any], value: Any
) -> Changeset[Any] | None:
    """The loaded record a new one replaces (``has_one``/``belongs_to``), to delete.

    ``cast_assoc(on_replace="delete")`` keeps it in the data and holds the
    new record as the change (other ``on_replace`` choices never get here).
    """
    loaded = vars(changeset.data).get(assoc.name)
    if not (isinstance(loaded, Schema) and isinstance(value, Changeset)):
        return None
    # ``put_assoc`` replaces it with another stored record, to link: an update.
    if value.action == "insert" or (value.action == "update" and not _same_row(loaded, value.data)):
        return Changeset(loaded, action="replace")
    return None


def _same_row(a: Schema, b: Schema) -> bool:
    """Whether two records of one schema have the same primary key."""
    key = schema_info(type(a)).primary_key
    return all(getattr(a, f.name) == getattr(b, f.name) for f in key)


async def _write_children(
    r: AsyncRepo, changeset: Changeset[Any], stored: Schema, *, new: bool
) -> dict[str, Any]:
    """Write ``has_one``/``has_many``/``many_to_many`` children of the written ``stored``."""
    written: dict[str, Any] = {}
    for assoc, value in _assoc_changes(changeset, parents=False):
        children: tuple[Changeset[Any], ...] = (
            value if isinstance(value, tuple) else () if value is None else (value,)
        )
        replaced = None if new else _replaced(changeset, assoc, value)
        if replaced is not None and assoc.kind == "has_one":
            # Before its replacement is inserted: a unique foreign key allows one.
            await _delete_row(r, replaced)
        # Deletions first, so that a replacement never meets the row it replaces.
        order = sorted(range(len(children)), key=lambda i: children[i].action != "replace")
        results: dict[int, Any] = {}
        links: list[tuple[Any, Any]] = []
        unlinks: list[tuple[Any, Any]] = []
        linked = _linked(changeset, assoc) if assoc.join_keys and not new else frozenset()
        for i in order:
            child = children[i]
            try:
                if assoc.kind == "many_to_many":
                    results[i] = await _write_related(
                        r, child, stored, assoc, linked, links, unlinks
                    )
                else:
                    results[i] = await _write_child(r, child, stored, assoc)
            except InvalidChangesetError as e:
                raise InvalidChangesetError(
                    _with_child(changeset, assoc.name, i, e.changeset)
                ) from e
        if unlinks:
            await r._execute(_JoinRows.of(assoc, "delete", unlinks), "write")
        if links:
            try:
                await r._execute(_JoinRows.of(assoc, "insert", links), "write")
            except IntegrityError as e:
                # A link that exists already: put_assoc declares the join table's key.
                raise_constraint_error(e, changeset, "insert" if new else "update")
        records = [results[i] for i in range(len(children)) if results[i] is not None]
        written[assoc.name] = records if assoc.cardinality == "many" else next(iter(records), None)
    return written


async def _write_child(
    r: AsyncRepo, child: Changeset[Any], parent: Schema, assoc: AssocInfo[Any]
) -> Any:
    """Insert, update or delete one has_one/has_many child; the written record, or None."""
    if child.action == "replace":
        await _delete_row(r, child)
        return None
    assert assoc.foreign_key is not None
    child = child.put_change(assoc.foreign_key, getattr(parent, assoc.references))
    return await _insert(r, child) if child.action == "insert" else await _update(r, child)


async def _write_related(
    r: AsyncRepo,
    child: Changeset[Any],
    parent: Schema,
    assoc: AssocInfo[Any],
    linked: frozenset[Any],
    links: list[tuple[Any, Any]],
    unlinks: list[tuple[Any, Any]],
) -> Any:
    """Write one many_to_many record, collecting its join row to add or remove.

    A record not among the ``linked`` keys (the loaded ones) gets a join row:
    a new record, or a stored one ``put_assoc`` links.
    """
    assert assoc.join_keys is not None
    (_, owner_field), (_, related_field) = assoc.join_keys
    owner_key = getattr(parent, owner_field)
    if child.action == "replace":
        # As in Ecto, replacing removes the link only: the record may have other links.
        unlinks.append((owner_key, getattr(child.data, related_field)))
        return None
    related = await _insert(r, child) if child.action == "insert" else await _update(r, child)
    if child.action == "insert" or getattr(related, related_field) not in linked:
        links.append((owner_key, getattr(related, related_field)))
    return related


def _linked(changeset: Changeset[Any], assoc: AssocInfo[Any]) -> frozenset[Any]:
    """The related keys of the many_to_many records loaded on the changeset's data."""
    assert assoc.join_keys is not None
    related_field = assoc.join_keys[1][1]
    loaded = vars(changeset.data).get(assoc.name)
    if not isinstance(loaded, list | tuple):
        return frozenset()
    return frozenset(getattr(record, related_field) for record in loaded)


def _assoc_changes(changeset: Changeset[Any], *, parents: bool) -> list[tuple[AssocInfo[Any], Any]]:
    """The changeset's association changes: belongs_to ones, or the others."""
    associations = schema_info(type(changeset.data)).associations
    return [
        (associations[name], value)
        for name, value in changeset.changes.items()
        if name in associations and (associations[name].kind == "belongs_to") == parents
    ]


def _nested(changeset: Changeset[Any]) -> bool:
    """Whether writing the changeset writes more than its own row."""
    associations = schema_info(type(changeset.data)).associations
    return any(
        name in associations and value is not None and value != ()
        for name, value in changeset.changes.items()
    )


def _loaded(record: Schema) -> bool:
    """Whether any association of ``record`` is loaded (not NOT_LOADED)."""
    associations = schema_info(type(record)).associations
    return bool(associations) and not associations.keys().isdisjoint(vars(record))


def _assoc_values(record: Schema, info: SchemaInfo) -> dict[str, Any]:
    return {n: v for n, v in vars(record).items() if n in info.associations}


def _changeset(value: S | Changeset[S], action: str) -> Changeset[S]:
    """``value`` as a changeset; a TypeError for anything but a record or a changeset."""
    if isinstance(value, Changeset):
        return value
    if isinstance(value, Schema):
        return Changeset(value)
    raise TypeError(
        f"{action}() takes a record (a Schema instance) or a Changeset, not {describe(value)}"
    )


def _surface(changeset: Changeset[S]) -> Changeset[S]:
    """On insert, associated records loaded on the data become child changesets (as Ecto)."""
    info = schema_info(type(changeset.data))
    found: dict[str, Any] = {}
    for name, value in _assoc_values(changeset.data, info).items():
        if name in changeset.changes or value is None or isinstance(value, NotLoaded):
            continue
        if info.associations[name].cardinality == "many":
            found[name] = tuple(_as_child(c) for c in value)
        else:
            found[name] = _as_child(value)
    if not found:
        return changeset
    return dataclasses.replace(changeset, changes={**changeset.changes, **found})


def _as_child(record: Schema) -> Changeset[Any]:
    """A loaded associated record as a child changeset: stored ones are updated (linked)."""
    key = schema_info(type(record)).primary_key
    stored = any(f.autogenerate for f in key) and all(
        getattr(record, f.name) is not None for f in key
    )
    return Changeset(record, action="update" if stored else "insert")


def _with_child(
    changeset: Changeset[S], name: str, index: int, child: Changeset[Any]
) -> Changeset[S]:
    """The changeset holding ``child`` (with its errors) in place of its ``index``-th child."""
    value = changeset.changes.get(name)
    held = (*value[:index], child, *value[index + 1 :]) if isinstance(value, tuple) else child
    return dataclasses.replace(changeset, changes={**changeset.changes, name: held})


def _attach(record: S, associations: Mapping[str, Any]) -> S:
    """``record`` (a fresh instance, not yet shared) holding loaded ``associations``."""
    for name, value in associations.items():
        object.__setattr__(record, name, value)
    return record


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class _JoinRows(Statement):
    """INSERT or DELETE of rows in a many_to_many join table, which has no schema."""

    verb: Literal["insert", "delete"]
    prefix: str | None
    table: str
    columns: tuple[str, str]
    rows: tuple[tuple[Value[Any], Value[Any]], ...]

    @classmethod
    def of(
        cls, assoc: AssocInfo[Any], verb: Literal["insert", "delete"], pairs: list[tuple[Any, Any]]
    ) -> _JoinRows:
        assert assoc.join_keys is not None
        assert assoc.join_through is not None
        (owner_column, owner_field), (related_column, related_field) = assoc.join_keys
        owner_type = schema_info(assoc.owner).field(owner_field).dbtype
        related_type = schema_info(assoc.related).field(related_field).dbtype
        rows = tuple((Value(a, owner_type), Value(b, related_type)) for a, b in pairs)
        prefix = schema_info(assoc.owner).prefix
        return cls(verb, prefix, assoc.join_through, (owner_column, related_column), rows)

    def emit(self, w: Writer) -> None:
        first, second = (w.dialect.quote(c) for c in self.columns)
        if self.verb == "insert":
            w.write("INSERT INTO ")
            w.table(self.prefix, self.table)
            w.write(f" ({first}, {second}) VALUES ")
        else:
            w.write("DELETE FROM ")
            w.table(self.prefix, self.table)
            w.write(" WHERE ")
        for i, (a, b) in enumerate(self.rows):
            if self.verb == "insert":
                w.write(", (" if i else "(")
                a.emit(w)
                w.write(", ")
                b.emit(w)
                w.write(")")
            else:
                w.write(f" OR ({first} = " if i else f"({first} = ")
                a.emit(w)
                w.write(f" AND {second} = ")
                b.emit(w)
                w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        types = tuple(v.type_ for v in self.rows[0]) if self.rows else ()
        shape.append((_JoinRows, self.verb, self.prefix, self.table, self.columns, types))
        shape.append(len(self.rows))
        for a, b in self.rows:
            values.append(a.value)
            values.append(b.value)
