"""Statements that write: ``insert_all``, ``update_all`` and ``delete_all``.

Why: like queries, writes are immutable values compiled per dialect with
bound values, so an upsert can be built in one place, inspected with
``to_sql`` and run by the Repo. ``update_all`` and ``delete_all`` take a
``Query`` for their WHERE; ``insert_all`` takes rows (dicts or schema
records) and the upsert options Ecto has: ``on_conflict`` (``"nothing"``,
``"replace_all"``, fields to replace, or assignments) with a
``conflict_target``, and ``returning``.

Example::

    stmt = insert_all(
        User,
        [{"email": "ada@example.com", "name": "Ada"}],
        on_conflict=["name"],
        conflict_target=[User.email],
        returning=True,
    )
    sql, params = to_sql(stmt, POSTGRESQL)
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from ._compile import write
from ._compile.writer import Writer
from .expr import (
    Column,
    Expr,
    Statement,
    Value,
    describe,
    lift,
    several,
)
from .functions import array_append, array_remove
from .query import Query, Selection, column, schema_item, subquery, table_alias
from .schema import (
    FieldInfo,
    Schema,
    SchemaInfo,
    schema_info,
)
from .table import Table, is_table_record, record_class
from .types import DbType, Kind

__all__ = [
    "EXCLUDED",
    "Assignment",
    "ConflictTarget",
    "ConstraintName",
    "Delete",
    "Insert",
    "OnConflict",
    "ReplaceAllExcept",
    "Update",
    "constraint",
    "delete_all",
    "excluded",
    "insert_all",
    "pull",
    "push",
    "replace_all_except",
    "set_",
    "update_all",
]

T = TypeVar("T")
SchemaT = TypeVar("SchemaT", bound=Schema)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Assignment:
    """``column = value`` in an UPDATE or an upsert's ``DO UPDATE SET``."""

    column: Column[Any]
    value: Expr[Any]


def set_(column: Column[T], value: T | Expr[T]) -> Assignment:
    """``SET column = value``, type-checked: ``set_(User.name, "Ada")``.

    The value may be an expression of the row: ``set_(User.visits, User.visits + 1)``.
    """
    if not isinstance(column, Column):
        raise TypeError(f"set_ takes a column, not {column!r}")
    return Assignment(column, lift(value, column))


def push(column: Column[list[T]] | Column[list[T] | None], value: T | Expr[T]) -> Assignment:
    """``SET column = column with value appended`` (Ecto's ``update push:``).

    Example: ``repo.update_all(query(Post).where(Post.id == 1), push(Post.tags, "sql"))``.
    """
    if not isinstance(column, Column):
        raise TypeError(f"push takes an array column, not {column!r}")
    return Assignment(column, array_append(column, value))


def pull(column: Column[list[T]] | Column[list[T] | None], value: T | Expr[T]) -> Assignment:
    """``SET column = column without the elements equal to value`` (Ecto's ``update pull:``)."""
    if not isinstance(column, Column):
        raise TypeError(f"pull takes an array column, not {column!r}")
    return Assignment(column, array_remove(column, value))


class _Excluded:
    """The binding of the row an upsert tried to insert (``excluded``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "excluded"


EXCLUDED: Any = _Excluded()


def excluded(column: Column[T]) -> Column[T]:
    """The value ``column`` would have had in the row an upsert tried to insert.

    Example: ``on_conflict=[set_(Stock.count, Stock.count + excluded(Stock.count))]``.
    """
    if not isinstance(column, Column):
        raise TypeError(f"excluded() takes a column, not {describe(column)}")
    return Column(EXCLUDED, column.name, column.field, column.type_)


@dataclasses.dataclass(frozen=True, slots=True)
class ConstraintName:
    """A named constraint as an upsert's conflict target (PostgreSQL's ``ON CONSTRAINT``)."""

    name: str


def constraint(name: str) -> ConstraintName:
    """``conflict_target=constraint("users_email_key")`` (PostgreSQL only)."""
    return ConstraintName(name)


def _assignments(
    schema: type[Schema], key: object, changes: Mapping[str | Column[Any], object]
) -> list[Assignment]:
    info = schema_info(schema)
    out = []
    for target, value in changes.items():
        if not isinstance(target, str | Column):
            raise TypeError(f"set takes field names or columns as keys, not {describe(target)}")
        name = target.field if isinstance(target, Column) else target
        try:
            found = info.field(name) if name is not None else None
        except KeyError:
            raise ValueError(f"{schema.__name__} has no stored field {name!r}") from None
        if isinstance(target, Column):
            col = target
        else:
            assert found is not None
            col = Column(key, found.source, found.name, found.dbtype)
        out.append(Assignment(col, lift(value, col)))
    return out


def _returning(
    schema: type[Schema], key: object, returning: bool | Sequence[str | Column[Any]]
) -> Selection | None:
    if returning is False:
        return None
    if returning is True and is_table_record(schema):
        fields = schema_info(schema).fields
        items: tuple[Expr[Any], ...] = tuple(
            Column(key, f.source, f.name, f.dbtype) for f in fields
        )
        return Selection("dict", items, tuple(f.name for f in fields))
    if returning is True:
        return Selection("record", (schema_item(schema, key),))
    columns = tuple(_field_column(schema, r, "returning") for r in several(returning))
    if not columns:
        raise ValueError("returning needs True or at least one field")
    return Selection("tuple", columns)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Insert(Statement):
    """An ``INSERT`` of one or more rows; build it with ``insert_all``."""

    schema: type[Schema]
    columns: tuple[FieldInfo, ...]
    # Bound values, or expressions (a scalar subquery) written into the VALUES.
    rows: tuple[tuple[Expr[Any], ...], ...]
    on_conflict: Literal["raise", "nothing", "update"] = "raise"
    updates: tuple[Assignment, ...] = ()
    # Column names, or a constraint's name (a str), or None.
    conflict_target: tuple[str, ...] | str | None = None
    returning: Selection | None = None
    # INSERT ... SELECT: the query whose rows are inserted (``rows`` is then empty).
    source: Query[Any] | None = None
    # DO UPDATE SET ... WHERE: a conflicting row is updated only where this holds.
    update_where: Expr[Any] | None = None

    @property
    def info(self) -> SchemaInfo:
        return schema_info(self.schema)

    @property
    def letter(self) -> str:
        return table_alias(self.info.table)

    @property
    def excluded_key(self) -> object:
        return EXCLUDED

    def emit(self, w: Writer) -> None:
        write.emit_insert(w, self)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append(Insert)
        write.walk_insert(self, shape, values)


ConflictTarget = Sequence[str | Column[Any]] | Column[Any] | ConstraintName


@dataclasses.dataclass(frozen=True, slots=True)
class ReplaceAllExcept:
    """An ``on_conflict`` overwriting every inserted column but some: ``replace_all_except``."""

    fields: tuple[str | Column[Any], ...]


def replace_all_except(*fields: str | Column[Any]) -> ReplaceAllExcept:
    """``on_conflict=replace_all_except("inserted_at")``: ``replace_all`` keeping ``fields``.

    Why: an upsert that refreshes a row should keep what only the first
    insert sets, such as its ``inserted_at`` or a generated key (Ecto's
    ``{:replace_all_except, fields}``). The conflict target's columns are
    kept too.

    Example::

        keep = replace_all_except("inserted_at")
        insert_all(User, rows, on_conflict=keep, conflict_target=["email"])
    """
    if not fields:
        raise ValueError("replace_all_except needs the fields to keep (or use 'replace_all')")
    return ReplaceAllExcept(fields)


OnConflict = (
    Literal["raise", "nothing", "replace_all"]
    | ReplaceAllExcept
    | Sequence[str | Column[Any] | Assignment]
    | Mapping[str | Column[Any], object]
)


def insert_all(
    schema: type[SchemaT] | Table,
    rows: Sequence[Mapping[str, Any] | SchemaT] | Query[Any],
    *,
    on_conflict: OnConflict = "raise",
    conflict_target: ConflictTarget | None = None,
    returning: bool | Sequence[str | Column[Any]] = False,
    update_where: Expr[bool] | Expr[bool | None] | None = None,
) -> Insert:
    """An INSERT of many rows in one statement (Ecto's ``insert_all``).

    Rows are dicts of field names (every row with the same keys) or schema
    instances (every stored field, except a database-assigned key left at
    None). Embedded records are stored as JSON. Timestamps are not filled
    in here: the Repo does that. A value in a row may be an expression
    instead of a value, typically a query of one column (``subquery(q)``, or
    the ``Query`` itself), evaluated by the database as the row is inserted.

    ``schema`` may be a ``table(...)`` of declared columns (schemaless):
    rows are then dicts of those columns, and ``returning=True`` gives
    dicts of every declared column.

    ``rows`` may also be a query selecting a dict whose keys are the fields
    to fill (``INSERT ... SELECT``): the rows it selects are inserted, by
    the database, without coming to Python. Each selected expression must
    have its field's type.

    Options:
        on_conflict: ``"raise"`` (the default: a conflict is an error),
            ``"nothing"`` (skip conflicting rows), ``"replace_all"``
            (overwrite every inserted column but the conflict target), a
            list of fields to overwrite from the new row, or ``set_(...)``
            assignments / a ``{field: value}`` dict (``excluded(col)`` is the
            new row's value), or ``replace_all_except(fields)``.
        conflict_target: the unique columns that conflict, or
            ``constraint(name)`` (PostgreSQL). Without one, any unique
            constraint's conflict counts: ``"nothing"`` on both databases,
            an update on SQLite only (PostgreSQL's ``DO UPDATE`` needs a
            target, and compiling for it says so).
        returning: True for the inserted records, or fields for tuples.
        update_where: a condition on the stored row (its columns) and the
            new one (``excluded(col)``): a conflicting row is updated only
            where it holds, else left as it is and not returned (a
            conditional upsert: ``Doc.version < excluded(Doc.version)``).
    """
    if isinstance(schema, Table):
        return insert_all(
            record_class(schema),
            typing.cast(Any, rows),
            on_conflict=on_conflict,
            conflict_target=conflict_target,
            returning=returning,
            update_where=update_where,
        )
    if not (isinstance(schema, type) and issubclass(schema, Schema)):
        raise TypeError(
            f"insert_all takes a schema class or a table(), not {describe(schema)}"
            " (a table without a schema: table('name', column=type, ...) from repodb.table)"
        )
    info = schema_info(schema)
    source: Query[Any] | None = None
    table: tuple[tuple[Expr[Any], ...], ...] = ()
    if isinstance(rows, Query):
        source = rows
        columns = _selected_columns(schema, info, rows)
    elif not rows:
        raise ValueError("insert_all needs at least one row")
    else:
        columns, table = _insert_rows(schema, info, rows)
    updates: list[Assignment] = []
    action: Literal["raise", "nothing", "update"]
    target = _conflict_target(schema, conflict_target)
    if isinstance(on_conflict, str):
        actions: dict[str, Literal["raise", "nothing", "update"]] = {
            "raise": "raise",
            "nothing": "nothing",
            "replace_all": "update",
        }
        if on_conflict not in actions:
            raise ValueError(f"unknown on_conflict {on_conflict!r}")
        action = actions[on_conflict]
        if on_conflict == "replace_all":
            keep = set(target) if isinstance(target, tuple) else set()
            updates = [_replace(schema, f.name) for f in columns if f.source not in keep]
    elif isinstance(on_conflict, ReplaceAllExcept):
        action = "update"
        kept = {_field_column(schema, f, "replace_all_except").field for f in on_conflict.fields}
        keep = set(target) if isinstance(target, tuple) else set()
        updates = [
            _replace(schema, f.name) for f in columns if f.source not in keep and f.name not in kept
        ]
    else:
        action = "update"
        if isinstance(on_conflict, Mapping):
            updates = _assignments(schema, schema, on_conflict)
        else:
            updates = [
                item if isinstance(item, Assignment) else _replace(schema, item)
                for item in on_conflict
            ]
    if action == "update" and not updates:
        raise ValueError("on_conflict names nothing to update")
    if action == "raise" and target:
        raise ValueError("conflict_target needs an on_conflict action")
    if update_where is not None:
        if action != "update":
            raise ValueError("update_where needs an on_conflict that updates")
        if not isinstance(update_where, Expr):
            raise TypeError(f"update_where takes a condition, not {describe(update_where)}")
    return Insert(
        schema,
        columns,
        table,
        action,
        tuple(updates),
        target,
        _returning(schema, schema, returning),
        source,
        update_where,
    )


def _selected_columns(
    schema: type[Schema], info: SchemaInfo, q: Query[Any]
) -> tuple[FieldInfo, ...]:
    """The fields an ``INSERT ... SELECT`` fills: the keys of the query's dict select."""
    selection = q.selection()
    if selection.kind != "dict":
        raise ValueError(
            "insert_all from a query needs it to select a dict of field names to expressions:"
            f" .select({{'title': ...}}), so that each value names its {schema.__name__} field"
        )
    columns = []
    for name, item in zip(selection.keys, selection.items, strict=True):
        try:
            f = info.field(name)
        except KeyError:
            raise ValueError(f"{schema.__name__} has no stored field {name!r}") from None
        assert isinstance(item, Expr)
        if not _fits(item.dbtype, f.dbtype):
            raise TypeError(
                f"insert_all: the query selects {item.dbtype!r} for {schema.__name__}.{name},"
                f" a {f.dbtype!r} field"
            )
        columns.append(f)
    return tuple(columns)


def _fits(given: DbType[Any] | None, field: DbType[Any]) -> bool:
    """Whether a value of type ``given`` may go to a field of type ``field`` (unknown fits)."""
    if given is None or given == field:
        return True
    return _kind(given) is _kind(field)


def _kind(t: DbType[Any]) -> Kind:
    return t.item.kind if t.kind is Kind.OPTIONAL and t.item is not None else t.kind


def _row_value(value: object, f: FieldInfo) -> Expr[Any]:
    """A row's value for ``f``: bound, or an expression the database evaluates (a query)."""
    if isinstance(value, Query):
        value = subquery(value)
    if isinstance(value, Expr):
        if not _fits(value.dbtype, f.dbtype):
            raise TypeError(f"insert_all: {describe(value)} for {f.name} is not a {f.dbtype!r}")
        return value
    return Value(value, f.dbtype, f.redact)


def _replace(schema: type[Schema], item: str | Column[Any]) -> Assignment:
    col = _field_column(schema, item, "on_conflict")
    return Assignment(col, excluded(col))


def _field_column(schema: type[Schema], item: object, where: str) -> Column[Any]:
    """A field given by name or as its column; a TypeError saying what ``where`` takes if not."""
    if isinstance(item, str):
        return column(schema, item)
    if isinstance(item, Column):
        return item
    raise TypeError(
        f"{where} takes field names or columns ({schema.__name__}.f), not {describe(item)}"
    )


def _conflict_target(
    schema: type[Schema],
    target: Sequence[str | Column[Any]] | Column[Any] | ConstraintName | None,
) -> tuple[str, ...] | str | None:
    if target is None:
        return None
    if isinstance(target, ConstraintName):
        return target.name
    return tuple(_field_column(schema, t, "conflict_target").name for t in several(target))


def _insert_rows(
    schema: type[Schema], info: SchemaInfo, rows: Sequence[Mapping[str, Any] | Schema]
) -> tuple[tuple[FieldInfo, ...], tuple[tuple[Expr[Any], ...], ...]]:
    """The inserted columns and, per row, the values bound for them."""
    if all(isinstance(r, Mapping) for r in rows):
        names = set(typing.cast(Mapping[str, Any], rows[0]))
        unknown = names - {f.name for f in info.fields}
        if unknown:
            raise ValueError(f"{schema.__name__} has no stored field(s) {sorted(unknown)}")
        columns = tuple(f for f in info.fields if f.name in names)
        for r in rows:
            if set(typing.cast(Mapping[str, Any], r)) != names:
                raise ValueError("insert_all: every row must have the same keys")
        values = [typing.cast(Mapping[str, Any], r) for r in rows]
    elif all(isinstance(r, schema) for r in rows):
        values = [{f.name: getattr(r, f.name) for f in info.fields} for r in rows]
        # Names, not FieldInfo: membership tests then hash a string instead of
        # comparing dataclasses field by field.
        assigned = {
            f.name for f in info.fields if f.autogenerate and all(v[f.name] is None for v in values)
        }
        for f in info.fields:
            if f.autogenerate and f.name not in assigned and any(v[f.name] is None for v in values):
                raise ValueError(f"insert_all: {f.name} is None in some rows and set in others")
        columns = tuple(f for f in info.fields if f.name not in assigned)
    else:
        raise TypeError(f"insert_all rows must be dicts or {schema.__name__} instances")
    table = tuple(tuple(_row_value(row[f.name], f) for f in columns) for row in values)
    return columns, table


def _writable(q: Query[Any], what: str) -> None:
    """Raise unless ``q`` is a plain filter of one table (all UPDATE/DELETE can use)."""
    if not isinstance(q, Query):
        from .prepared import Prepared

        if isinstance(q, Prepared):
            raise TypeError(
                f"{what} takes a query, not a prepared query: a write is built from its query"
                " on each call (the compiled-SQL cache skips compiling a shape seen before);"
                " put the values in the query where it has param()"
            )
        raise TypeError(f"{what} takes a query, not {describe(q)}")
    extra = [
        name
        for name, present in (
            ("select", q.selected),
            ("group_by", q.groups),
            ("having", q.havings),
            ("order_by", q.orders),
            ("limit", q.limit_by is not None),
            ("offset", q.offset_by is not None),
            ("distinct", q.distinct_on is not None),
            ("lock", q.locking),
            ("combinations", q.combinations),
        )
        if present
    ]
    if extra:
        raise ValueError(
            f"{what} uses only the query's where, joins and with_cte; remove {', '.join(extra)}"
        )
    if q.source.schema is None or q.source.query is not None:
        raise ValueError(f"{what} needs a schema's table as the query's source")
    _check_joins(q, what)


def _check_joins(q: Query[Any], what: str) -> None:
    """Raise unless every join is an inner (or cross) join, as Ecto's PostgreSQL adapter does.

    The joined sources become an UPDATE's FROM list or a DELETE's USING list,
    where the written table itself is not a source: an outer join to it
    cannot be written, and its conditions move to WHERE.
    """
    for join in q.joins:
        if join.kind not in ("inner", "cross"):
            raise ValueError(
                f"{what} takes inner (and cross) joins only, not a {join.kind} join: the joined "
                "tables become a FROM list beside the written table, which cannot be outer-joined"
                " to it (filter with exists(...) in where instead)"
            )


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Update(Statement):
    """An ``UPDATE`` of the rows a query matches; build it with ``update_all``."""

    query: Query[Any]
    assignments: tuple[Assignment, ...]
    returning: Selection | None = None

    def emit(self, w: Writer) -> None:
        write.emit_update(w, self)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append(Update)
        write.walk_update(self, shape, values)


def update_all(
    q: Query[Any],
    *assignments: Assignment,
    set: Mapping[str | Column[Any], object] | None = None,  # Ecto's name
    returning: bool | Sequence[str | Column[Any]] = False,
) -> Update:
    """``UPDATE`` every row ``q`` matches (its ``where``, joins and ``with_cte`` only).

    Give ``set_(column, value)`` assignments (type-checked) and/or
    ``set={"field": value}``; values may be expressions of the row
    (``User.visits + 1``) and of joined rows. ``returning`` as in
    ``insert_all``; it returns the updated table's columns.

    Joins become ``UPDATE ... FROM`` (Ecto's ``update_all`` with joins):
    ``update_all(query(Post).join("user").where(User.banned),
    set_(Post.title, User.name))``. Joins are inner (or cross) joins; when
    a row matches several joined rows, which one sets it is up to the
    database, as in SQL.
    """
    _writable(q, "update_all")
    schema = q.source.schema
    assert schema is not None
    for item in assignments:
        if not isinstance(item, Assignment):
            raise TypeError(
                f"update_all takes set_(column, value) assignments, not {describe(item)}"
            )
    changes = [*assignments, *_assignments(schema, q.source.keys[0], set or {})]
    if not changes:
        raise ValueError("update_all needs something to set")
    return Update(q, tuple(changes), _returning(schema, q.source.keys[0], returning))


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Delete(Statement):
    """A ``DELETE`` of the rows a query matches; build it with ``delete_all``."""

    query: Query[Any]
    returning: Selection | None = None

    def emit(self, w: Writer) -> None:
        write.emit_delete(w, self)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append(Delete)
        write.walk_delete(self, shape, values)


def delete_all(q: Query[Any], *, returning: bool | Sequence[str | Column[Any]] = False) -> Delete:
    """``DELETE`` every row ``q`` matches (its ``where``, joins and ``with_cte`` only).

    Joins become ``DELETE ... USING`` on PostgreSQL and ``WHERE EXISTS
    (SELECT 1 FROM the joins ...)`` on SQLite, which has no USING: the same
    rows either way. Joins are inner (or cross) joins.
    """
    _writable(q, "delete_all")
    schema = q.source.schema
    assert schema is not None
    return Delete(q, _returning(schema, q.source.keys[0], returning))
