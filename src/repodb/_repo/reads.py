"""Ready-made reads for the Repo: get by primary key, aggregates, records from raw rows.

Why: ``get`` is the hottest read, and building plus compiling its query on
every call would cost more than the database call on SQLite; ``get`` and
``get_by`` run prepared queries (``repodb.prepared``), built once. ``aggregate`` has Ecto's rule
for limited or distinct queries (aggregate over a subquery), kept here so
repo.py stays the API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _codec
from .._compile.result import RecordShape
from ..expr import Column, Expr, Value, describe, param
from ..functions import and_, avg, count, fragment, max_, min_, not_, sum_
from ..prepared import Prepared, prepare
from ..query import Query, query, subquery
from ..query import column as column_of
from ..schema import Schema, schema_info
from ..types import tup

if TYPE_CHECKING:
    from .._codec import Codecs
    from ..changeset import Changeset

__all__ = [
    "KEY_QUERIES",
    "ONE",
    "KeyQuery",
    "aggregate_key",
    "aggregate_query",
    "exists_query",
    "fields_query",
    "key_of",
    "key_query",
    "load_record",
    "unique_probe",
]

S = TypeVar("S", bound=Schema)


def key_of(record: Schema) -> object:
    key = schema_info(type(record)).primary_key
    if not key:
        raise ValueError(f"{type(record).__name__} has no primary key")
    values = tuple(getattr(record, f.name) for f in key)
    if any(v is None for v in values):
        raise ValueError(f"this {type(record).__name__} has no primary key value yet")
    return values[0] if len(values) == 1 else values


class KeyQuery:
    """``get``'s prepared query for one schema: ``WHERE pk = :key``, and how a key binds.

    Why: ``get`` is the hottest read; building and compiling its query each
    time would cost more than the database call on SQLite.
    """

    __slots__ = ("prepared", "schema", "width")

    def __init__(self, schema: type[Schema]) -> None:
        key = schema_info(schema).primary_key
        if not key:
            raise ValueError(f"{schema.__name__} has no primary key: use get_by")
        self.schema = schema
        self.width = len(key)
        # Its values are the key's, in field order: the order of the conditions.
        self.prepared = prepare(
            query(schema).where(*[getattr(schema, f.name) == param(f.name) for f in key])
        )

    def values(self, key: object) -> tuple[Any, ...]:
        """The prepared query's values for ``key`` (a tuple for a composite key)."""
        if self.width == 1:
            return (key,)
        if not isinstance(key, tuple) or len(key) != self.width:
            raise TypeError(
                f"{self.schema.__name__} has a {self.width}-field primary key: give a tuple"
            )
        return key


# schema -> its get query, filled by ``key_query``.
KEY_QUERIES: dict[type[Any], KeyQuery] = {}


def key_query(schema: type[Schema]) -> KeyQuery:
    """The ``get`` query of ``schema``, prepared on first use."""
    found = KEY_QUERIES.get(schema)
    if found is None:
        found = KEY_QUERIES[schema] = KeyQuery(schema)
    return found


# (schema, field names, which are None) -> the prepared query of get_by/all_by.
_BY_FIELDS: dict[tuple[type[Any], tuple[tuple[str, bool], ...]], Prepared[Any]] = {}
_MAX_BY_FIELDS = 1024


def fields_query(
    schema: type[S], fields: Mapping[str, object]
) -> tuple[Prepared[S], dict[str, object]] | None:
    """``query(schema).where(**fields)`` prepared, and its parameters; None for expressions.

    A field given None is ``IS NULL`` in the query itself; a value that is an
    expression (another column) is left to the plain query.
    """
    shape = tuple((name, value is None) for name, value in fields.items())
    key = (schema, shape)
    found = _BY_FIELDS.get(key)
    if found is None:
        if any(isinstance(v, Expr) for v in fields.values()):
            return None
        where = {name: None if empty else param(name) for name, empty in shape}
        found = prepare(query(schema).where(**where))
        if len(_BY_FIELDS) >= _MAX_BY_FIELDS:
            _BY_FIELDS.clear()
        _BY_FIELDS[key] = found
    return found, {name: value for name, value in fields.items() if value is not None}


_AGGREGATES: dict[str, Callable[[Expr[Any]], Expr[Any]]] = {
    "sum": sum_,
    "avg": avg,
    "min": min_,
    "max": max_,
    "count": lambda e: count(e),
}


# What an existence probe selects: the literal 1, not a bound 1, whose type
# the server could not infer (asyncpg, which binds by the inferred type,
# would take it for text).
ONE = fragment("1", type_=int)


def exists_query(q: Query[Any]) -> Query[int]:
    """``SELECT 1 ... LIMIT 1`` over ``q``'s rows: whether it has any (``repo.exists``)."""
    if (
        q.limit_by is not None
        or q.offset_by is not None
        or q.distinct_on is not None
        or q.combinations
    ):
        # A union's members must keep their select lists, so the whole is a subquery.
        return query(subquery(q.exclude("preload"))).select(ONE).limit(1)
    return q.exclude("select", "order_by", "preload").select(ONE).limit(1)


def aggregate_key(function: str, field: Column[Any] | str | None) -> tuple[object, ...]:
    """What names an aggregate of a prepared query among those derived from it."""
    if not isinstance(field, Column):
        return ("aggregate", function, field)
    # A column compares by building a condition: its walk is its identity.
    shape: list[object] = ["aggregate", function]
    field.walk(shape, [])
    return tuple(shape)


def aggregate_query(q: Query[Any], function: str, field: Column[Any] | str | None) -> Query[Any]:
    if function not in _AGGREGATES:
        raise ValueError(f"unknown aggregate {function!r}; one of {', '.join(_AGGREGATES)}")
    if field is None and function != "count":
        raise ValueError(f"{function} needs a field")
    column: Column[Any] | None
    if isinstance(field, str):
        schema = q.source.schema
        if schema is None:
            raise ValueError("name the field as a column (Post.views) for this query")
        column = column_of(schema, field)
    elif field is None or isinstance(field, Column):
        column = field
    else:
        raise TypeError(f"aggregate takes a column or a field name, not {describe(field)}")
    wrapped = (
        q.limit_by is not None
        or q.offset_by is not None
        or q.distinct_on is not None
        or bool(q.groups)
        or bool(q.combinations)
    )
    base = q.exclude("preload")
    if not wrapped:
        base = base.exclude("select", "order_by")
        if column is None:
            return base.select(count())
        return base.select(_AGGREGATES[function](column))
    # The subquery returns exactly q's rows (its selection decides what
    # DISTINCT compares); the outer query aggregates over them.
    selection = base.selected
    if selection is not None and selection.kind in ("scalar", "tuple"):
        items = {f"c{i}": item for i, item in enumerate(selection.items)}
        base = base.exclude("select").select(items)  # type: ignore[arg-type]
    rows = query(subquery(base), as_="agg")
    if column is None:
        return rows.select(count())
    if selection is not None and selection.kind != "record":
        raise ValueError(
            "to aggregate a field over a limited or distinct query, let the query select"
            " its records (no select), so the field is one of its columns"
        )
    outer: Column[Any] = Column("agg", column.name, None, column.dbtype)
    return rows.select(_AGGREGATES[function](outer))


def load_record(
    schema: type[S],
    data: Mapping[str, object] | Sequence[object],
    columns: Sequence[str] | None,
    codecs: Codecs,
) -> S:
    """A record of ``schema`` from one raw row, decoded from the database's storage forms.

    ``data`` maps column or field names to values, or is a row of values
    named by ``columns``; the values are in the form the driver returns them
    (SQLite's datetimes are text), decoded and checked as a query's are.
    Fields the row does not hold take their defaults.
    """
    if isinstance(data, Mapping):
        if columns is not None:
            raise TypeError("load(): give columns only with a row of values, not a mapping")
        pairs = list(data.items())
    elif isinstance(data, str | bytes) or not isinstance(data, Sequence):
        raise TypeError(f"load() takes a mapping or a row of values, not {describe(data)}")
    elif columns is None:
        raise TypeError("load(): a row of values needs columns=[...] naming them")
    elif len(columns) != len(data):
        raise ValueError(f"load(): {len(data)} values for {len(columns)} columns")
    else:
        pairs = list(zip(columns, data, strict=True))
    info = schema_info(schema)
    by_name = {f.source: f for f in info.fields} | {f.name: f for f in info.fields}
    fields = []
    for name, _ in pairs:
        found = by_name.get(name)
        if found is None:
            raise ValueError(f"{schema.__name__} has no stored field or column {name!r}")
        fields.append(found)
    decode, _ = _codec.row_decoder(tup(*(f.dbtype for f in fields)), codecs)
    values = decode(tuple(value for _, value in pairs))
    shape = RecordShape(schema, tuple(f.name for f in fields))
    record: S = shape.build(values)
    return record


def unique_probe(changeset: Changeset[Any], fields: tuple[str, ...]) -> Query[Any] | None:
    """The query of another row holding the changeset's ``fields`` values, or None to skip.

    As Ecto's ``unsafe_validate_unique``: skipped when none of the fields
    changes, one has no value, or one has an error already. The record's
    own row (by primary key, when it has one) does not count.
    """
    schema = type(changeset.data)
    if not isinstance(changeset.data, Schema):
        raise TypeError(f"unsafe_validate_unique: {schema.__name__} is not a table schema")
    if not fields:
        raise ValueError("unsafe_validate_unique needs at least one field")
    columns = [column_of(schema, name) for name in fields]
    values = {name: changeset.get_field(name) for name in fields}
    has_error = {e.field for e in changeset.errors}
    if (
        not any(name in changeset.changes for name in fields)
        or any(v is None for v in values.values())
        or not has_error.isdisjoint(fields)
    ):
        return None
    probe = query(schema).where(*[c == Value(values[c.field or ""], c.dbtype) for c in columns])
    key = schema_info(schema).primary_key
    own = [getattr(changeset.data, f.name) for f in key]
    if key and all(v is not None for v in own):
        itself = [
            getattr(schema, f.name) == Value(v, f.dbtype) for f, v in zip(key, own, strict=True)
        ]
        probe = probe.where(not_(and_(*itself)))
    return probe
