"""Field types: what a parameter or a result column holds.

Why: a request declares the Python type of each parameter and column once, so
values are checked before they are sent and rows are decoded into the right
Python objects on every database. A plain Python class is a type spec
(``int``, ``str``, ``datetime``, ``UUID``, an ``Enum`` subclass, a dataclass or
``NamedTuple`` for a whole row); the functions here build the rest:
``optional``, ``array``, ``json`` and ``tup`` (several values in a row).

Supported: bool, int (64-bit), float, Decimal, str, bytes, date, datetime
(timezone-aware, stored as UTC), time, timedelta, UUID, JSON (dict or list),
Enum (stored as the member's name), optional of any of these, and arrays of a
base type.

Example::

    from repodb.types import optional, tup
    row = tup(int, str, optional(datetime))   # DbType[tuple[int, str, datetime | None]]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
import uuid
from decimal import Decimal
from typing import Any, Generic, TypeAlias, TypeVar, overload

__all__ = [
    "DbType",
    "Json",
    "Kind",
    "Spec",
    "array",
    "json",
    "optional",
    "to_dbtype",
    "tup",
]

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
E = TypeVar("E")
F = TypeVar("F")
G = TypeVar("G")
H = TypeVar("H")

Json: TypeAlias = dict[str, Any] | list[Any]


class Kind(enum.Enum):
    """What a field holds; drivers key their codec tables on it."""

    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    DECIMAL = "decimal"
    STR = "str"
    BYTES = "bytes"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    TIMEDELTA = "timedelta"
    UUID = "uuid"
    JSON = "json"
    ENUM = "enum"
    OPTIONAL = "optional"
    ARRAY = "array"
    TUPLE = "tuple"
    RECORD = "record"


@dataclasses.dataclass(frozen=True, slots=True)
class DbType(Generic[T]):
    """A field type whose Python values are of type ``T``.

    Build them with the module's functions or let a request turn a Python
    class into one; the constructor is for the library.
    """

    kind: Kind
    # The Enum or record class, for those kinds.
    cls: type[Any] | None = None
    # The element of an optional or an array; for JSON, the declared type of
    # the document when there is one (embedded records, a record type).
    item: DbType[Any] | None = None
    # The members of a tuple or a record, in column order.
    fields: tuple[DbType[Any], ...] = ()
    names: tuple[str, ...] = ()
    # Types are hashed for every cached query shape; computing it once keeps
    # a cache hit cheap.
    _hash: int = dataclasses.field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        key = (self.kind, self.cls, self.item, self.fields, self.names)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    @property
    def width(self) -> int:
        """How many columns or parameters the type spans."""
        return len(self.fields) if self.kind in (Kind.TUPLE, Kind.RECORD) else 1

    def __repr__(self) -> str:
        if self.kind is Kind.OPTIONAL or self.kind is Kind.ARRAY:
            return f"{self.kind.value}({self.item!r})"
        if self.kind is Kind.JSON and self.item is not None:
            return f"json({self.item!r})"
        if self.kind is Kind.TUPLE:
            return "tup(" + ", ".join(map(repr, self.fields)) + ")"
        if self.cls is not None:
            return self.cls.__name__
        return str(self.kind.value)


Spec: TypeAlias = "type[T] | DbType[T]"

_SCALARS: dict[type[Any], Kind] = {
    bool: Kind.BOOL,
    int: Kind.INT,
    float: Kind.FLOAT,
    Decimal: Kind.DECIMAL,
    str: Kind.STR,
    bytes: Kind.BYTES,
    dt.date: Kind.DATE,
    dt.datetime: Kind.DATETIME,
    dt.time: Kind.TIME,
    dt.timedelta: Kind.TIMEDELTA,
    uuid.UUID: Kind.UUID,
    dict: Kind.JSON,
}
_SCALAR_TYPES: dict[Kind, DbType[Any]] = {kind: DbType(kind) for kind in _SCALARS.values()}


def to_dbtype(spec: object) -> DbType[Any]:
    """The DbType for a spec: a DbType, a Python class, or an annotation.

    Annotations (as read from a dataclass) may be ``X | None``,
    ``Optional[X]``, ``list[X]`` (an array) or ``dict[...]`` (JSON).
    """
    if isinstance(spec, DbType):
        return spec
    origin = typing.get_origin(spec)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(spec) if a is not type(None)]
        if len(members) == 1 and len(typing.get_args(spec)) == 2:
            return optional(to_dbtype(members[0]))
        raise TypeError(f"unsupported union type {spec!r}: only X | None is allowed")
    if origin is list:
        (item,) = typing.get_args(spec)
        return array(to_dbtype(item))
    if origin is dict:
        return _SCALAR_TYPES[Kind.JSON]
    if isinstance(spec, type):
        kind = _SCALARS.get(spec)
        if kind is not None:
            return _SCALAR_TYPES[kind]
        if issubclass(spec, enum.Enum):
            return DbType(Kind.ENUM, cls=spec)
        if dataclasses.is_dataclass(spec) or _is_namedtuple(spec):
            return _record(spec)
    raise TypeError(f"{spec!r} is not a repodb type: use a supported class or repodb.types")


def _is_namedtuple(cls: type[Any]) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields")


def _record(cls: type[Any]) -> DbType[Any]:
    hints = typing.get_type_hints(cls)
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    else:
        names = tuple(cls._fields)
    fields = tuple(_column(to_dbtype(hints[name]), f"{cls.__name__}.{name}") for name in names)
    return DbType(Kind.RECORD, cls=cls, fields=fields, names=names)


def _column(t: DbType[Any], where: str) -> DbType[Any]:
    if t.kind in (Kind.TUPLE, Kind.RECORD):
        raise TypeError(f"{where}: a row member must be a single column, not {t!r}")
    return t


def optional(spec: type[T] | DbType[T]) -> DbType[T | None]:
    """A value that may be NULL (``None``)."""
    item = to_dbtype(spec)
    if item.kind is Kind.OPTIONAL:
        return item
    return DbType(Kind.OPTIONAL, item=_column(item, "optional"))


def array(spec: type[T] | DbType[T]) -> DbType[list[T]]:
    """A list of one base type: a PostgreSQL array; JSON text on SQLite."""
    item = to_dbtype(spec)
    inner = item.item if item.kind is Kind.OPTIONAL else item
    if inner is None or inner.kind in (Kind.ARRAY, Kind.TUPLE, Kind.RECORD):
        raise TypeError(f"array items must be a base type, not {item!r}")
    return DbType(Kind.ARRAY, item=item)


def json() -> DbType[Json]:
    """A JSON document (a dict or a list): ``jsonb`` on PostgreSQL, text on SQLite."""
    return _SCALAR_TYPES[Kind.JSON]


@overload
def tup(a: type[A] | DbType[A], /) -> DbType[tuple[A]]: ...
@overload
def tup(a: type[A] | DbType[A], b: type[B] | DbType[B], /) -> DbType[tuple[A, B]]: ...
@overload
def tup(
    a: type[A] | DbType[A], b: type[B] | DbType[B], c: type[C] | DbType[C], /
) -> DbType[tuple[A, B, C]]: ...
@overload
def tup(
    a: type[A] | DbType[A],
    b: type[B] | DbType[B],
    c: type[C] | DbType[C],
    d: type[D] | DbType[D],
    /,
) -> DbType[tuple[A, B, C, D]]: ...
@overload
def tup(
    a: type[A] | DbType[A],
    b: type[B] | DbType[B],
    c: type[C] | DbType[C],
    d: type[D] | DbType[D],
    e: type[E] | DbType[E],
    /,
) -> DbType[tuple[A, B, C, D, E]]: ...
@overload
def tup(
    a: type[A] | DbType[A],
    b: type[B] | DbType[B],
    c: type[C] | DbType[C],
    d: type[D] | DbType[D],
    e: type[E] | DbType[E],
    f: type[F] | DbType[F],
    /,
) -> DbType[tuple[A, B, C, D, E, F]]: ...
@overload
def tup(
    a: type[A] | DbType[A],
    b: type[B] | DbType[B],
    c: type[C] | DbType[C],
    d: type[D] | DbType[D],
    e: type[E] | DbType[E],
    f: type[F] | DbType[F],
    g: type[G] | DbType[G],
    /,
) -> DbType[tuple[A, B, C, D, E, F, G]]: ...
@overload
def tup(
    a: type[A] | DbType[A],
    b: type[B] | DbType[B],
    c: type[C] | DbType[C],
    d: type[D] | DbType[D],
    e: type[E] | DbType[E],
    f: type[F] | DbType[F],
    g: type[G] | DbType[G],
    h: type[H] | DbType[H],
    /,
) -> DbType[tuple[A, B, C, D, E, F, G, H]]: ...
@overload
def tup(*specs: type[Any] | DbType[Any]) -> DbType[tuple[Any, ...]]: ...
def tup(*specs: type[Any] | DbType[Any]) -> DbType[tuple[Any, ...]]:
    """Several columns or parameters, as a tuple (Caqti's ``t2``, ``t3``, ...)."""
    fields = tuple(_column(to_dbtype(s), f"tup member {i}") for i, s in enumerate(specs))
    return DbType(Kind.TUPLE, fields=fields)
