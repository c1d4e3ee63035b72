"""SQL expressions as immutable Python values.

Why: a condition such as ``User.age >= 18`` should be a value that can be
stored, combined, inspected and compiled for any dialect, with the value 18
kept as a bound parameter and never pasted into SQL text. Expressions are
typed: ``User.age`` is a ``Column[int]``, comparing it to a ``str`` is a type
error, and ``User.age >= 18`` is an ``Expr[bool]``.

Operators: ``== != < <= > >=`` compare, ``& | ~`` combine conditions, ``+ - *
/ %`` compute. Methods: ``in_``, ``not_in``, ``like``, ``ilike``, ``is_null``,
``is_not_null``, ``between``, ``asc``, ``desc``, ``label``. Python's ``and``,
``or``, ``not`` and ``in`` cannot be overloaded: use ``&``, ``|``, ``~`` and
``in_``. SQL functions (``count``, ``lower``, ``case``, ``fragment``, ...)
are in ``repodb.functions``.

Every node knows two things: how to write itself as SQL (``emit``), and its
*shape* (``walk``): the node structure with parameter values left out, which
the compiler uses as a cache key, collecting the values on the way, in the
order ``emit`` binds them. A shape holds everything the compiled statement
depends on, field types included; only the values are left out.

Example::

    adult = (User.age >= 18) & User.email.is_not_null()
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import string
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from .types import DbType, Kind, json, optional, to_dbtype

if TYPE_CHECKING:
    from ._compile.writer import Writer
    from .dialect import Dialect
    from .query import Query

__all__ = [
    "ArrayOp",
    "Between",
    "Binary",
    "Case",
    "Cast",
    "Column",
    "Exists",
    "Expr",
    "Fragment",
    "Frame",
    "Func",
    "InList",
    "InQuery",
    "InValues",
    "InsertedFlag",
    "JsonAccess",
    "Label",
    "Like",
    "Ordering",
    "Param",
    "Row",
    "SearchDocument",
    "Statement",
    "Subquery",
    "TemplateOp",
    "TimeShift",
    "Truth",
    "Unary",
    "Value",
    "Window",
    "WindowDef",
    "expect_expr",
    "expect_frame",
    "infer_dbtype",
    "lift",
    "ordering",
    "param",
]

T = TypeVar("T")
U = TypeVar("U")

_BOOL: DbType[bool] = to_dbtype(bool)
INT_TYPE: DbType[int] = to_dbtype(int)
# Operators whose result is a truth value whatever their operands are.
_PREDICATES = frozenset({"=", "<>", "<", "<=", ">", ">=", "AND", "OR", "NOT", "IS NULL"})


class Statement:
    """A whole statement (a query), which expressions may embed as a subquery."""

    __slots__ = ()

    def emit(self, w: Writer) -> None:
        """Write the statement's SQL to ``w``, binding its values."""
        raise NotImplementedError

    def walk(self, shape: list[object], values: list[object]) -> None:
        """Append the statement's shape to ``shape`` and its values to ``values``."""
        raise NotImplementedError


class Expr(Generic[T]):
    """A SQL expression whose value, in a row, is of type ``T``."""

    __slots__ = ()
    # Comparison operators build expressions, so equality of Expr objects is
    # not Python equality; they hash by identity.
    __hash__ = object.__hash__

    # -- what subclasses implement ---------------------------------------

    def emit(self, w: Writer) -> None:
        """Write this expression's SQL to ``w``, binding its values."""
        raise NotImplementedError

    def walk(self, shape: list[object], values: list[object]) -> None:
        """Append this node's shape key parts to ``shape`` and its bound values to ``values``."""
        raise NotImplementedError

    @property
    def dbtype(self) -> DbType[Any] | None:
        """The field type of the expression's value, when known."""
        return None

    # -- comparisons -------------------------------------------------------
    #
    # Each operator takes a value or expression of the same type, nullable or
    # not on either side (``Post.user_id == User.id`` where one may be NULL);
    # the second overload covers a nullable left side and a non-null right.
    @overload  # type: ignore[override]
    def __eq__(self, other: T | Expr[T] | Expr[T | None]) -> Expr[bool]: ...
    @overload
    def __eq__(self: Expr[U | None], other: Expr[U]) -> Expr[bool]: ...
    def __eq__(self, other: object) -> Expr[bool]:
        if other is None:
            return Unary("IS NULL", self, postfix=True)
        return Binary("=", self, lift(other, self))

    @overload  # type: ignore[override]
    def __ne__(self, other: T | Expr[T] | Expr[T | None]) -> Expr[bool]: ...
    @overload
    def __ne__(self: Expr[U | None], other: Expr[U]) -> Expr[bool]: ...
    def __ne__(self, other: object) -> Expr[bool]:
        if other is None:
            return Unary("IS NOT NULL", self, postfix=True)
        return Binary("<>", self, lift(other, self))

    @overload
    def __lt__(self, other: T | Expr[T] | Expr[T | None]) -> Expr[bool]: ...
    @overload
    def __lt__(self: Expr[U | None], other: Expr[U]) -> Expr[bool]: ...
    def __lt__(self, other: object) -> Expr[bool]:
        return Binary("<", self, lift(other, self))

    @overload
    def __le__(self, other: T | Expr[T] | Expr[T | None]) -> Expr[bool]: ...
    @overload
    def __le__(self: Expr[U | None], other: Expr[U]) -> Expr[bool]: ...
    def __le__(self, other: object) -> Expr[bool]:
        return Binary("<=", self, lift(other, self))

    @overload
    def __gt__(self, other: T | Expr[T] | Expr[T | None]) -> Expr[bool]: ...
    @overload
    def __gt__(self: Expr[U | None], other: Expr[U]) -> Expr[bool]: ...
    def __gt__(self, other: object) -> Expr[bool]:
        return Binary(">", self, lift(other, self))

    @overload
    def __ge__(self, other: T | Expr[T] | Expr[T | None]) -> Expr[bool]: ...
    @overload
    def __ge__(self: Expr[U | None], other: Expr[U]) -> Expr[bool]: ...
    def __ge__(self, other: object) -> Expr[bool]:
        return Binary(">=", self, lift(other, self))

    # -- boolean logic -------------------------------------------------------

    def __and__(self: Expr[bool], other: Expr[bool] | bool) -> Expr[bool]:
        return Binary("AND", self, lift(other, self))

    def __or__(self: Expr[bool], other: Expr[bool] | bool) -> Expr[bool]:
        return Binary("OR", self, lift(other, self))

    def __invert__(self: Expr[bool]) -> Expr[bool]:
        return Unary("NOT", self)

    # -- arithmetic ----------------------------------------------------------
    #
    # The result may be NULL when either operand may be. A datetime plus or
    # minus a timedelta is a datetime (see ``TimeShift``).
    @overload
    def __add__(
        self: Expr[dt.datetime], other: dt.timedelta | Expr[dt.timedelta]
    ) -> Expr[dt.datetime]: ...
    @overload
    def __add__(
        self: Expr[dt.datetime] | Expr[dt.datetime | None],
        other: dt.timedelta | Expr[dt.timedelta] | Expr[dt.timedelta | None],
    ) -> Expr[dt.datetime | None]: ...
    @overload
    def __add__(self, other: T | Expr[T]) -> Expr[T]: ...
    @overload
    def __add__(self, other: Expr[T | None]) -> Expr[T | None]: ...
    @overload
    def __add__(self: Expr[U | None], other: Expr[U]) -> Expr[T]: ...
    def __add__(self, other: object) -> Expr[Any]:
        shifted = time_shift(self, other, negate=False)
        if shifted is not None:
            return shifted
        return Binary("+", self, lift(other, self))

    @overload
    def __sub__(
        self: Expr[dt.datetime], other: dt.timedelta | Expr[dt.timedelta]
    ) -> Expr[dt.datetime]: ...
    @overload
    def __sub__(
        self: Expr[dt.datetime] | Expr[dt.datetime | None],
        other: dt.timedelta | Expr[dt.timedelta] | Expr[dt.timedelta | None],
    ) -> Expr[dt.datetime | None]: ...
    @overload
    def __sub__(self, other: T | Expr[T]) -> Expr[T]: ...
    @overload
    def __sub__(self, other: Expr[T | None]) -> Expr[T | None]: ...
    @overload
    def __sub__(self: Expr[U | None], other: Expr[U]) -> Expr[T]: ...
    def __sub__(self, other: object) -> Expr[Any]:
        shifted = time_shift(self, other, negate=True)
        if shifted is not None:
            return shifted
        return Binary("-", self, lift(other, self))

    @overload
    def __mul__(self, other: T | Expr[T]) -> Expr[T]: ...
    @overload
    def __mul__(self, other: Expr[T | None]) -> Expr[T | None]: ...
    @overload
    def __mul__(self: Expr[U | None], other: Expr[U]) -> Expr[T]: ...
    def __mul__(self, other: object) -> Expr[Any]:
        return Binary("*", self, lift(other, self))

    @overload
    def __truediv__(self, other: T | Expr[T]) -> Expr[T]: ...
    @overload
    def __truediv__(self, other: Expr[T | None]) -> Expr[T | None]: ...
    @overload
    def __truediv__(self: Expr[U | None], other: Expr[U]) -> Expr[T]: ...
    def __truediv__(self, other: object) -> Expr[Any]:
        return Binary("/", self, lift(other, self))

    @overload
    def __mod__(self, other: T | Expr[T]) -> Expr[T]: ...
    @overload
    def __mod__(self, other: Expr[T | None]) -> Expr[T | None]: ...
    @overload
    def __mod__(self: Expr[U | None], other: Expr[U]) -> Expr[T]: ...
    def __mod__(self, other: object) -> Expr[Any]:
        return Binary("%", self, lift(other, self))

    def __neg__(self) -> Expr[T]:
        return Unary("-", self)

    # -- predicates ------------------------------------------------------------

    def is_null(self) -> Expr[bool]:
        """``expr IS NULL``."""
        return Unary("IS NULL", self, postfix=True)

    def is_not_null(self) -> Expr[bool]:
        """``expr IS NOT NULL``."""
        return Unary("IS NOT NULL", self, postfix=True)

    def in_(self, items: Iterable[T] | Subquery[T] | Query[T]) -> Expr[bool]:
        """``expr IN (...)`` over values or a one-column query; an empty list is always false."""
        if isinstance(items, Statement | Subquery):
            return InQuery(self, _statement(items), negated=False)
        return _in_list(self, items, negated=False)

    def not_in(self, items: Iterable[T] | Subquery[T] | Query[T]) -> Expr[bool]:
        """``expr NOT IN (...)``; an empty list is always true.

        As in SQL, ``NOT IN`` a query that returns a NULL is never true.
        """
        if isinstance(items, Statement | Subquery):
            return InQuery(self, _statement(items), negated=True)
        return _in_list(self, items, negated=True)

    def between(self, low: T | Expr[T], high: T | Expr[T]) -> Expr[bool]:
        """``expr BETWEEN low AND high`` (both ends included)."""
        return Between(self, lift(low, self), lift(high, self))

    def like(self: Expr[str] | Expr[str | None], pattern: str | Expr[str]) -> Expr[bool]:
        """``expr LIKE pattern`` (``%`` any text, ``_`` one character).

        SQLite's ``LIKE`` ignores ASCII case; PostgreSQL's does not, and it
        treats ``\\`` as an escape character where SQLite has none.
        """
        return Like(self, lift(pattern, self), insensitive=False)

    def ilike(self: Expr[str] | Expr[str | None], pattern: str | Expr[str]) -> Expr[bool]:
        """Case-insensitive ``LIKE``: ``ILIKE`` on PostgreSQL, ``LIKE`` on SQLite.

        SQLite's ``LIKE`` folds ASCII letters only, so ``'É' LIKE 'é'`` is
        false there; compare ``lower(...)`` values to fold more.
        """
        return Like(self, lift(pattern, self), insensitive=True)

    # -- naming and ordering -----------------------------------------------------

    def label(self, name: str) -> Expr[T]:
        """The expression named ``name`` in the select list (``expr AS "name"``).

        Elsewhere (``order_by``, ``group_by``) the label refers to that
        selected column by its name.
        """
        if not isinstance(name, str):
            raise TypeError(f"label() takes a str name, not {describe(name)}")
        return Label(self, name)

    def asc(self) -> Ordering:
        """Ascending order, for ``order_by``."""
        return Ordering(self, descending=False)

    def desc(self) -> Ordering:
        """Descending order, for ``order_by``."""
        return Ordering(self, descending=True)


def infer_dbtype(value: object) -> DbType[Any]:
    """The field type of a value bound without a column to take it from.

    ``None`` binds as an optional text; JSON (dicts and lists) as JSON.
    """
    if value is None:
        return optional(str)
    if isinstance(value, dict | list):
        return json()
    return to_dbtype(type(value))


def lift(value: object, like: Expr[Any] | None = None) -> Expr[Any]:
    """``value`` as an expression: itself if it is one, else a bound parameter.

    The parameter takes its field type from ``like`` (the expression it is
    compared with), so ``User.created_at > some_datetime`` binds a datetime
    with the column's codec; without one the type follows the value's class.
    A value compared with or assigned to a ``redact=True`` field is marked
    hidden, so telemetry never shows it.
    """
    if isinstance(value, Expr):
        if type(value) is Param and value.type_ is None and like is not None:
            return value.typed(like.dbtype, _redacted(like))
        return value
    dbtype = like.dbtype if like is not None else None
    return Value(value, dbtype if dbtype is not None else infer_dbtype(value), _redacted(like))


def _in_list(operand: Expr[Any], items: Iterable[object], negated: bool) -> Expr[bool]:
    """``operand [NOT] IN (items)``: plain values share one node, type and redaction.

    Why: a preload binds hundreds of keys in one list; a ``Value`` node per
    key, each looking up its type and redaction, cost almost as much as
    running the query on SQLite, and walking them for the compiled-SQL cache
    more still. A list holding expressions, or compared with an untyped
    operand (each value then has its own type), keeps a node per item.
    """
    if isinstance(items, Param):
        raise TypeError(
            f"in_() takes a list of values, not the parameter {items.name!r}: a prepared"
            " query's IN list has a fixed length, so give one param() per item"
        )
    values = tuple(items)
    dbtype = operand.dbtype
    if dbtype is None or any(issubclass(cls, Expr) for cls in set(map(type, values))):
        return InList(operand, tuple(lift(v, operand) for v in values), negated)
    return InValues(operand, values, dbtype, _redacted(operand), negated)


# (schema class, field name) -> declared redact=True. A schema's fields never
# change once declared, and comparisons look this up for every bound value.
_REDACTED: dict[tuple[type[Any], str], bool] = {}


def _redacted(like: Expr[Any] | None) -> bool:
    """Whether ``like`` is the column of a schema field declared ``redact=True``.

    Only a column bound to the schema class itself (``User.password``, or a
    keyword condition of ``query(User)``) says which schema it belongs to; a
    column of a named binding (an alias) does not.
    """
    if not isinstance(like, Column) or like.field is None or not isinstance(like.binding, type):
        return False
    key = (like.binding, like.field)
    found = _REDACTED.get(key)
    if found is None:
        from .schema import Schema, schema_info  # schema.py imports this module

        found = (
            issubclass(like.binding, Schema) and schema_info(like.binding).field(like.field).redact
        )
        _REDACTED[key] = found
    return found


def _statement(items: object) -> Statement:
    if isinstance(items, Subquery):
        return items.query
    assert isinstance(items, Statement)
    return items


def _emit_list(w: Writer, items: Iterable[Expr[Any] | Ordering]) -> None:
    for i, item in enumerate(items):
        if i:
            w.write(", ")
        item.emit(w)


def base_type(t: DbType[Any] | None) -> DbType[Any] | None:
    """A type without its ``optional``."""
    if t is not None and t.kind is Kind.OPTIONAL:
        return t.item
    return t


def emit_ordered(expr: Expr[Any], w: Writer) -> None:
    """Write ``expr`` where it is compared or sorted.

    SQLite keeps Decimals as text, which compares as text ("10.5" < "2.5");
    the dialect names the type that makes such values compare as numbers.
    """
    base = base_type(expr.dbtype)
    numeric = w.dialect.decimal_compare_as
    if numeric and base is not None and base.kind is Kind.DECIMAL:
        w.write("CAST(")
        expr.emit(w)
        w.write(f" AS {numeric})")
    else:
        expr.emit(w)


_COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})


def nullable_type(t: DbType[Any] | None) -> DbType[Any] | None:
    return optional(t) if t is not None else None


def _maybe_null(t: DbType[Any] | None) -> bool:
    return t is None or t.kind is Kind.OPTIONAL


def _truth(*operands: Expr[Any]) -> DbType[Any]:
    """The type of a predicate: NULL when an operand may be NULL, as SQL has it."""
    if any(_maybe_null(o.dbtype) for o in operands):
        return optional(_BOOL)
    return _BOOL


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Value(Expr[T]):
    """A value bound as a parameter, never written into the SQL text.

    ``hidden`` marks a value bound for a field declared ``redact=True``:
    telemetry and logs show it as ``**redacted**`` even with ``log_params``.
    """

    value: T
    type_: DbType[Any] | None = None
    hidden: bool = False

    def __post_init__(self) -> None:
        if self.type_ is None:
            object.__setattr__(self, "type_", infer_dbtype(self.value))

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.type_

    def emit(self, w: Writer) -> None:
        w.bind(self.value, self.type_, self.hidden)

    def walk(self, shape: list[object], values: list[object]) -> None:
        # The type and the hidden flag are part of the shape: the compiled
        # statement carries both.
        shape.append((Value, self.type_, self.hidden))
        values.append(self.value)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Param(Expr[T]):
    """A named parameter, given its value when a prepared query runs (``repodb.prepared``).

    Its type comes from what it is compared with (``User.email ==
    param("email")`` binds a ``str`` with the column's codec), or from
    ``param(name, type_)``; a parameter compared with a ``redact=True``
    field is hidden from telemetry like any value bound for it.
    """

    name: str
    type_: DbType[Any] | None = None
    hidden: bool = False

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.type_

    def __repr__(self) -> str:
        # As written in a query: where ``to_sql`` shows the parameter's value goes.
        return f"param({self.name!r})"

    def typed(self, dbtype: DbType[Any] | None, hidden: bool = False) -> Param[T]:
        """This parameter taking ``dbtype`` (the type of what it is compared with)."""
        return Param(self.name, dbtype, hidden)

    def emit(self, w: Writer) -> None:
        # The parameter stands in for its value until the query runs.
        w.bind(self, self.type_, self.hidden)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Param, self.type_, self.hidden))
        values.append(self)


@overload
def param(name: str, type_: None = None) -> Param[Any]: ...
@overload
def param(name: str, type_: type[T] | DbType[T]) -> Param[T]: ...
def param(name: str, type_: type[Any] | DbType[Any] | None = None) -> Param[Any]:
    """A named parameter of a prepared query (SQLAlchemy's ``bindparam``).

    Why: a query prepared once (``repodb.prepared.prepare``) runs again with
    new values and is never rebuilt or compiled again; ``param`` marks where
    those values go. Without ``type_`` the parameter takes the type of what
    it is compared with; give one where nothing says it (``param("n", int)``).

    Example: ``prepare(query(User).where(User.email == param("email")))``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a parameter's name is an identifier, not {name!r}")
    return Param(name, None if type_ is None else to_dbtype(type_))


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Column(Expr[T]):
    """A column of a table or of a named binding (a join, an alias, a subquery).

    Attributes:
        binding: the source the column belongs to: a schema class, or the
            name of a join or alias.
        name: the column's name in SQL (a field's ``source``).
        field: the schema field's name, when it comes from a schema.
        type_: the field type.
    """

    binding: object
    name: str
    field: str | None = None
    type_: DbType[Any] | None = None

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.type_

    def emit(self, w: Writer) -> None:
        w.column(self.binding, self.name)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Column, self.binding, self.name, self.type_))


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Truth(Expr[bool]):
    """A constant condition: ``and_()`` of nothing is true, ``or_()`` of nothing false."""

    value: bool

    @property
    def dbtype(self) -> DbType[Any] | None:
        return _BOOL

    def emit(self, w: Writer) -> None:
        w.write("(1 = 1)" if self.value else "(1 = 0)")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Truth, self.value))


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Binary(Expr[Any]):
    """``left op right``, always parenthesised so precedence never surprises."""

    op: str
    left: Expr[Any]
    right: Expr[Any]

    def emit(self, w: Writer) -> None:
        w.write("(")
        if self.op in _COMPARISONS:
            emit_ordered(self.left, w)
            w.write(f" {self.op} ")
            emit_ordered(self.right, w)
        else:
            self.left.emit(w)
            op = self.op
            if op == "/" and _integers(self.left, self.right):
                op = w.dialect.int_division
            w.write(f" {op} ")
            self.right.emit(w)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Binary, self.op))
        self.left.walk(shape, values)
        self.right.walk(shape, values)

    @property
    def dbtype(self) -> DbType[Any] | None:
        if self.op in _PREDICATES:
            return _truth(self.left, self.right)
        left = self.left.dbtype
        return nullable_type(base_type(left)) if _maybe_null(self.right.dbtype) else left


def _integers(left: Expr[Any], right: Expr[Any]) -> bool:
    """Whether both operands are integers (their quotient is an integer, truncated)."""
    a, b = base_type(left.dbtype), base_type(right.dbtype)
    return a is not None and b is not None and a.kind is Kind.INT and b.kind is Kind.INT


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Unary(Expr[Any]):
    """A prefix (``NOT x``, ``-x``) or postfix (``x IS NULL``) operator."""

    op: str
    operand: Expr[Any]
    postfix: bool = False

    def emit(self, w: Writer) -> None:
        w.write("(")
        if self.postfix:
            self.operand.emit(w)
            w.write(f" {self.op}")
        else:
            w.write(f"{self.op} ")
            self.operand.emit(w)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Unary, self.op, self.postfix))
        self.operand.walk(shape, values)

    @property
    def dbtype(self) -> DbType[Any] | None:
        if self.op == "-":
            return self.operand.dbtype
        return _truth(self.operand) if self.op == "NOT" else _BOOL


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class InList(Expr[bool]):
    """``x IN (a, b, ...)`` or ``x NOT IN (...)``."""

    operand: Expr[Any]
    items: tuple[Expr[Any], ...]
    negated: bool

    @property
    def dbtype(self) -> DbType[Any] | None:
        return _truth(self.operand, *self.items)

    def emit(self, w: Writer) -> None:
        if not self.items:
            # IN () is not SQL; the truth value of an empty list is known.
            w.write("(1 = 1)" if self.negated else "(1 = 0)")
            return
        w.write("(")
        self.operand.emit(w)
        w.write(" NOT IN (" if self.negated else " IN (")
        _emit_list(w, self.items)
        w.write("))")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((InList, self.negated, len(self.items)))
        self.operand.walk(shape, values)
        for item in self.items:
            item.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class InValues(Expr[bool]):
    """``x IN (?, ?, ...)`` or ``x NOT IN (...)`` of plain values, all bound as ``type_``.

    What ``in_`` makes of a list of values compared with a typed expression:
    one node for the whole list, whose shape is its length, type and
    redaction, and whose values are bound as they are.
    """

    operand: Expr[Any]
    values: tuple[Any, ...]
    type_: DbType[Any]
    hidden: bool
    negated: bool

    @property
    def dbtype(self) -> DbType[Any] | None:
        if self.values and self.type_.kind is Kind.OPTIONAL:
            return optional(_BOOL)
        return _truth(self.operand)

    def emit(self, w: Writer) -> None:
        if not self.values:
            # IN () is not SQL; the truth value of an empty list is known.
            w.write("(1 = 1)" if self.negated else "(1 = 0)")
            return
        w.write("(")
        self.operand.emit(w)
        w.write(" NOT IN (" if self.negated else " IN (")
        dbtype, hidden = self.type_, self.hidden
        for i, value in enumerate(self.values):
            if i:
                w.write(", ")
            w.bind(value, dbtype, hidden)
        w.write("))")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((InValues, self.negated, len(self.values), self.type_, self.hidden))
        self.operand.walk(shape, values)
        values.extend(self.values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class InQuery(Expr[bool]):
    """``x IN (SELECT ...)`` or ``x NOT IN (SELECT ...)``."""

    operand: Expr[Any]
    query: Statement
    negated: bool

    @property
    def dbtype(self) -> DbType[Any] | None:
        return optional(_BOOL)

    def emit(self, w: Writer) -> None:
        w.write("(")
        self.operand.emit(w)
        w.write(" NOT IN (" if self.negated else " IN (")
        self.query.emit(w)
        w.write("))")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((InQuery, self.negated))
        self.operand.walk(shape, values)
        self.query.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Subquery(Expr[T]):
    """A query used as a value: a scalar subquery, ``IN`` its rows, or a ``FROM`` source.

    Build one with ``repodb.query.subquery(q)``.
    """

    query: Statement
    type_: DbType[Any] | None = None

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.type_

    def emit(self, w: Writer) -> None:
        w.write("(")
        self.query.emit(w)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Subquery, self.type_))
        self.query.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Exists(Expr[bool]):
    """``EXISTS (SELECT ...)``; build it with ``repodb.query.exists(q)``."""

    query: Statement

    @property
    def dbtype(self) -> DbType[Any] | None:
        return _BOOL

    def emit(self, w: Writer) -> None:
        w.write("EXISTS (")
        self.query.emit(w)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append(Exists)
        self.query.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Between(Expr[bool]):
    """``x BETWEEN low AND high``."""

    operand: Expr[Any]
    low: Expr[Any]
    high: Expr[Any]

    @property
    def dbtype(self) -> DbType[Any] | None:
        return _truth(self.operand, self.low, self.high)

    def emit(self, w: Writer) -> None:
        w.write("(")
        self.operand.emit(w)
        w.write(" BETWEEN ")
        self.low.emit(w)
        w.write(" AND ")
        self.high.emit(w)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append(Between)
        self.operand.walk(shape, values)
        self.low.walk(shape, values)
        self.high.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Like(Expr[bool]):
    """``x LIKE pattern``; the case-insensitive form is the dialect's ``ilike_operator``."""

    operand: Expr[Any]
    pattern: Expr[Any]
    insensitive: bool

    @property
    def dbtype(self) -> DbType[Any] | None:
        return _truth(self.operand, self.pattern)

    def emit(self, w: Writer) -> None:
        lowered = w.dialect.ilike_template if self.insensitive else None
        if lowered is not None:
            emit_template(w, lowered, {"x": self.operand, "p": self.pattern})
            return
        w.write("(")
        self.operand.emit(w)
        w.write(f" {w.dialect.ilike_operator} " if self.insensitive else " LIKE ")
        self.pattern.emit(w)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Like, self.insensitive))
        self.operand.walk(shape, values)
        self.pattern.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Label(Expr[T]):
    """An expression named in the select list; elsewhere, a reference to that name."""

    operand: Expr[T]
    name: str

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.operand.dbtype

    def emit(self, w: Writer) -> None:
        w.identifier(self.name)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Label, self.name))


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Ordering:
    """An ``ORDER BY`` term: an expression, a direction, and where NULLs go."""

    expr: Expr[Any]
    descending: bool = False
    nulls: Literal["FIRST", "LAST"] | None = None

    def nulls_first(self) -> Ordering:
        """NULLs before other values."""
        return dataclasses.replace(self, nulls="FIRST")

    def nulls_last(self) -> Ordering:
        """NULLs after other values."""
        return dataclasses.replace(self, nulls="LAST")

    def emit(self, w: Writer) -> None:
        clause = w.dialect.supports_nulls_order
        if not clause and self.needs_nulls_term(w.dialect):
            # (x IS NULL) sorts false (0) before true (1).
            values: list[object] = []
            self.expr.walk([], values)
            if values:
                raise ValueError(
                    f"{w.dialect.name} has no NULLS {self.nulls}: repodb writes it as"
                    " ORDER BY (x IS NULL), x, which would bind this expression's values twice;"
                    " order by a column or a label of the select list instead"
                )
            w.write("(")
            self.expr.emit(w)
            w.write(" IS NULL) DESC, " if self.nulls == "FIRST" else " IS NULL) ASC, ")
        emit_ordered(self.expr, w)
        w.write(" DESC" if self.descending else " ASC")
        if self.nulls and clause:
            w.write(f" NULLS {self.nulls}")

    def needs_nulls_term(self, dialect: Dialect) -> bool:
        """Whether, without NULLS FIRST/LAST, NULLs need a sort term of their own.

        Only when asked for where the dialect does not put them anyway
        (MariaDB: first ascending, last descending).
        """
        if self.nulls is None:
            return False
        first_by_default = dialect.nulls_sort_first != self.descending
        return first_by_default != (self.nulls == "FIRST")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Ordering, self.descending, self.nulls))
        self.expr.walk(shape, values)


ORDER_TERMS = "expressions or orderings (User.name, User.name.desc())"


def ordering(item: object, where: str = "order_by()") -> Ordering:
    """An ``order_by`` term: an Ordering as it is, an expression ascending, else a TypeError."""
    if isinstance(item, Ordering):
        return item
    return Ordering(expect_expr(item, where, ORDER_TERMS))


def expect_expr(value: object, where: str, expected: str = "expressions") -> Expr[Any]:
    """``value`` if it is an expression; else a TypeError saying what ``where`` takes.

    Why: a string or a Python value where an expression belongs
    (``order_by("title")``) would otherwise reach the compiler and fail
    there, with an AttributeError far from the mistake.
    """
    if isinstance(value, Expr):
        return value
    raise TypeError(f"{where} takes {expected}, not {describe(value)}")


def several(items: object) -> tuple[object, ...]:
    """An option taking one item or a sequence of them, as a tuple (a str is one item)."""
    if isinstance(items, Sequence) and not isinstance(items, str | bytes):
        return tuple(items)
    return (items,)


def describe(value: object) -> str:
    """A wrong argument named for an error message: its type, and the text of a str."""
    if isinstance(value, str):
        return f"the str {value[:40]!r}"
    return type(value).__name__


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Func(Expr[T]):
    """A SQL function call such as ``lower(x)`` or the aggregate ``count(DISTINCT x)``.

    Only the library builds these (``name`` is written into the SQL); use
    ``fragment`` for other functions.
    """

    name: str
    args: tuple[Expr[Any], ...]
    type_: DbType[Any] | None
    distinct: bool = False
    star: bool = False
    window_only: bool = False
    # An aggregate's FILTER (WHERE ...) condition: the rows it takes.
    filter_by: Expr[Any] | None = None

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.type_

    def over(
        self,
        window: str | None = None,
        /,
        *,
        partition_by: Expr[Any] | Sequence[Expr[Any]] = (),
        order_by: Ordering | Expr[Any] | Sequence[Ordering | Expr[Any]] = (),
        frame: Frame | None = None,
    ) -> Expr[T]:
        """This function computed over a window of rows (``... OVER (...)``).

        Options:
            window: the name of a window the query defines
                (``Query.window``): ``OVER "w"``; with ``order_by`` or
                ``frame`` they refine it (``OVER ("w" ORDER BY ...)``).
            partition_by, order_by: the window's groups and order.
            frame: the rows of the window around each row
                (``rows_between(-2, 0)``, ``range_between(None, 0)``).

        Example: ``row_number().over(partition_by=Post.user_id, order_by=Post.id.desc())``.
        """
        parts = tuple(expect_expr(p, "over(partition_by=...)") for p in several(partition_by))
        orders = tuple(ordering(o, "over(order_by=...)") for o in several(order_by))
        if window is not None:
            if not isinstance(window, str):
                raise TypeError(f"over() takes the name of a window, not {describe(window)}")
            if parts:
                raise ValueError(
                    f"over({window!r}) cannot add partition_by: the named window has its own"
                )
        return Window(self, parts, orders, expect_frame(frame, "over(frame=...)"), window)

    def filter(self, *conditions: Expr[bool] | Expr[bool | None]) -> Func[T]:
        """This aggregate over the rows matching ``conditions`` only: ``FILTER (WHERE ...)``.

        Why: several counts or sums over different subsets in one pass
        (``count().filter(Post.views > 100)`` next to ``count()``), where a
        ``where`` would filter them all. Conditions are ANDed, and added to an
        earlier filter. Aggregates only (``count``, ``sum_``, ``avg``,
        ``min_``, ``max_``); it works under ``.over(...)`` too.

        Example: ``query(Post).select(count(), count().filter(Post.views > 100))``.
        """
        if self.name not in _AGGREGATES or self.window_only:
            raise ValueError(
                f"filter() is for aggregates ({', '.join(sorted(_AGGREGATES))}), not {self.name}()"
            )
        if not conditions:
            raise ValueError("filter() needs at least one condition")
        checked = [
            expect_expr(c, "filter()", "conditions (expressions such as Post.views > 100)")
            for c in conditions
        ]
        condition: Expr[Any] = (
            checked[0] if self.filter_by is None else Binary("AND", self.filter_by, checked[0])
        )
        for c in checked[1:]:
            condition = Binary("AND", condition, c)
        return dataclasses.replace(self, filter_by=condition)

    def emit(self, w: Writer) -> None:
        if self.window_only:
            raise ValueError(f"{self.name}() is a window function: call .over(...) on it")
        self.emit_cast(w, self.emit_call)

    def emit_call(self, w: Writer) -> None:
        """Write ``name(args)`` alone, without the dialect's result cast."""
        w.write(f"{self.name}(")
        if self.distinct:
            w.write("DISTINCT ")
        filtered = w.dialect.aggregate_filter if self.filter_by is not None else None
        if filtered is not None:
            # count(*) counts the rows where the argument, 1, is not NULL.
            argument = "1" if self.star else self._emit_arguments
            assert self.filter_by is not None
            emit_template(w, filtered, {"x": argument, "c": self.filter_by})
            w.write(")")
            return
        if self.star:
            w.write("*")
        self._emit_arguments(w)
        w.write(")")
        if self.filter_by is not None:
            w.write(" FILTER (WHERE ")
            self.filter_by.emit(w)
            w.write(")")

    def _emit_arguments(self, w: Writer) -> None:
        if self.name in ("min", "max"):
            emit_ordered(self.args[0], w)
        else:
            _emit_list(w, self.args)

    def emit_cast(self, w: Writer, body: Callable[[Writer], None]) -> None:
        """Write ``body``, cast back to the argument's type where the dialect needs it."""
        target = base_type(self.args[0].dbtype) if self.args else None
        cast_to = w.dialect.aggregate_cast(self.name, target.kind) if target else None
        if cast_to is None:
            body(w)
            return
        w.write("CAST(")
        body(w)
        w.write(f" AS {cast_to})")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Func, self.name, self.type_, self.distinct, self.star, self.window_only))
        for arg in self.args:
            arg.walk(shape, values)
        if self.filter_by is not None:
            shape.append("filter")
            self.filter_by.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Window(Expr[T]):
    """``function OVER (PARTITION BY ... ORDER BY ...)``."""

    function: Func[T]
    partition_by: tuple[Expr[Any], ...]
    order_by: tuple[Ordering, ...]
    frame: Frame | None = None
    # A window the query defines (``WINDOW "name" AS (...)``), which this one uses.
    base: str | None = None

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.function.dbtype

    def emit(self, w: Writer) -> None:
        self.function.emit_cast(w, self.emit_window)

    def emit_window(self, w: Writer) -> None:
        self.function.emit_call(w)
        if self.base is not None and not (self.order_by or self.frame):
            # OVER "w", not OVER ("w"): PostgreSQL refuses to copy a window with a frame.
            w.write(" OVER ")
            w.identifier(self.base)
            return
        w.write(" OVER (")
        emit_window_body(w, self.base, self.partition_by, self.order_by, self.frame)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Window, len(self.partition_by), len(self.order_by), self.frame, self.base))
        self.function.walk(shape, values)
        for e in self.partition_by:
            e.walk(shape, values)
        for o in self.order_by:
            o.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Case(Expr[T]):
    """``CASE WHEN c1 THEN v1 ... ELSE e END``."""

    whens: tuple[tuple[Expr[Any], Expr[Any]], ...]
    else_: Expr[Any] | None
    type_: DbType[Any] | None

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.type_

    def emit(self, w: Writer) -> None:
        w.write("CASE")
        for condition, result in self.whens:
            w.write(" WHEN ")
            condition.emit(w)
            w.write(" THEN ")
            result.emit(w)
        if self.else_ is not None:
            w.write(" ELSE ")
            self.else_.emit(w)
        w.write(" END")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Case, self.type_, len(self.whens), self.else_ is not None))
        for condition, result in self.whens:
            condition.walk(shape, values)
            result.walk(shape, values)
        if self.else_ is not None:
            self.else_.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Cast(Expr[T]):
    """``CAST(x AS type)``, the type named per dialect."""

    operand: Expr[Any]
    type_: DbType[Any]

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.type_

    def emit(self, w: Writer) -> None:
        target = base_type(self.type_)
        assert target is not None
        source = base_type(self.operand.dbtype)
        via = w.dialect.cast_via(source.kind, target.kind) if source is not None else None
        w.write("CAST(CAST(" if via else "CAST(")
        self.operand.emit(w)
        if via:
            w.write(f" AS {via})")
        w.write(f" AS {w.dialect.cast_type(target.kind)})")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Cast, self.type_))
        self.operand.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Now(Expr[dt.datetime]):
    """The current time, as the dialect stores datetimes."""

    @property
    def dbtype(self) -> DbType[Any] | None:
        return to_dbtype(dt.datetime)

    def emit(self, w: Writer) -> None:
        w.write(w.dialect.now_sql)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append(Now)


TruncUnit = Literal[
    "microseconds",
    "milliseconds",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "quarter",
    "year",
    "decade",
    "century",
    "millennium",
]
TRUNC_UNITS = frozenset(typing.get_args(TruncUnit))


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class DateTrunc(Expr[T]):
    """``date_trunc('unit', x)`` (PostgreSQL); the unit is a checked keyword, not a value."""

    unit: str
    operand: Expr[Any]

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.operand.dbtype

    def emit(self, w: Writer) -> None:
        if not w.dialect.supports_date_trunc:
            raise ValueError(f"date_trunc is not available on {w.dialect.name}")
        w.write(f"date_trunc('{self.unit}', ")
        self.operand.emit(w)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((DateTrunc, self.unit))
        self.operand.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class JsonAccess(Expr[T]):
    """``x -> key -> ...`` (a JSON value) or ``x -> ... ->> key`` (text), keys bound."""

    operand: Expr[Any]
    path: tuple[Value[str] | Value[int], ...]
    text: bool

    @property
    def dbtype(self) -> DbType[Any] | None:
        return optional(str) if self.text else optional(json())

    def emit(self, w: Writer) -> None:
        d = w.dialect
        form = "text" if self.text else "get"
        if d.has_template("json", form):
            emit_template(w, d.template("json", form), {"j": self.operand, "path": self._emit_path})
            return
        cast = self.text and d.json_text_cast
        w.write("CAST(" if cast else "")
        w.write("(" * len(self.path))
        self.operand.emit(w)
        last = len(self.path) - 1
        for i, key in enumerate(self.path):
            w.write(" ->> " if self.text and i == last else " -> ")
            before, after = d.json_index if isinstance(key.value, int) else d.json_key
            w.write(before)
            key.emit(w)
            w.write(after + ")")
        if cast:
            w.write(f" AS {cast})")

    def _emit_path(self, w: Writer) -> None:
        """The keys as one JSON path, ``CONCAT('$', '."', ?, '"', '[', ?, ']')``."""
        w.write("CONCAT('$'")
        d = w.dialect
        for key in self.path:
            before, after = d.json_index if isinstance(key.value, int) else d.json_key
            w.write(", " + before)
            key.emit(w)
            w.write(after)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((JsonAccess, self.text, len(self.path)))
        self.operand.walk(shape, values)
        for key in self.path:
            key.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Fragment(Expr[T]):
    """Raw SQL with ``?`` markers for bound values or embedded expressions.

    Build it with ``fragment``. The SQL pieces come from a ``LiteralString``
    in the program, never from data.
    """

    pieces: tuple[str, ...]
    indices: tuple[int, ...]
    args: tuple[Expr[Any], ...]
    type_: DbType[Any] | None

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.type_

    def emit(self, w: Writer) -> None:
        w.write(self.pieces[0])
        for index, piece in zip(self.indices, self.pieces[1:], strict=True):
            self.args[index].emit(w)
            w.write(piece)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Fragment, self.type_, self.pieces, self.indices))
        for index in self.indices:
            self.args[index].walk(shape, values)


# -- row values (keyset pagination) ----------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Row(Expr[Any]):
    """A row value ``(a, b, ...)``, compared as a whole: ``(a, b) > (x, y)``.

    Why: keyset pagination over several sort keys in one direction is one
    row comparison, which both databases answer from an index on those keys.
    """

    items: tuple[Expr[Any], ...]

    def emit(self, w: Writer) -> None:
        w.write("(")
        for i, item in enumerate(self.items):
            if i:
                w.write(", ")
            emit_ordered(item, w)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Row, len(self.items)))
        for item in self.items:
            item.walk(shape, values)


# -- date and time arithmetic ------------------------------------------------------------

ShiftUnit = Literal[
    "year", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond"
]
SHIFT_UNITS = frozenset(typing.get_args(ShiftUnit))
# The size of each unit, in the measure of the form that moves by it.
_MONTHS = {"year": 12, "month": 1}
_DAYS = {"week": 7, "day": 1}
_MICROSECONDS = {
    "week": 604_800_000_000,
    "day": 86_400_000_000,
    "hour": 3_600_000_000,
    "minute": 60_000_000,
    "second": 1_000_000,
    "millisecond": 1_000,
    "microsecond": 1,
}
_INTERVAL = "interval"


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class TimeShift(Expr[T]):
    """A date or datetime moved by an amount of a unit, or by a timedelta.

    What ``date_add``, ``datetime_add``, ``ago``, ``from_now`` and
    ``datetime + timedelta`` build. The SQL is the dialect's template for
    the form (``Dialect.time_shifts``); on both databases the result is a
    value of the operand's type, in its storage form, so it compares with
    stored values and decodes as the column does.
    """

    value: Expr[Any]
    amount: Expr[Any]
    # A ShiftUnit, or "interval" when the amount is a timedelta.
    unit: str

    @property
    def dbtype(self) -> DbType[Any] | None:
        if _maybe_null(self.amount.dbtype):
            return nullable_type(base_type(self.value.dbtype))
        return self.value.dbtype

    def _form(self) -> tuple[str, int]:
        """The dialect's form for this shift, and the unit's size in that form's measure."""
        base = base_type(self.value.dbtype)
        date = base is not None and base.kind is Kind.DATE
        if self.unit == _INTERVAL:
            return "datetime_interval", 1
        if self.unit in _MONTHS:
            return ("date_months" if date else "datetime_months"), _MONTHS[self.unit]
        if date:
            return "date_days", _DAYS[self.unit]
        return "datetime_micros", _MICROSECONDS[self.unit]

    def emit(self, w: Writer) -> None:
        form, factor = self._form()
        slots: dict[str, Expr[Any] | str] = {
            "v": self.value,
            "n": self.amount,
            "unit": self.unit,
            "factor": str(factor),
        }
        emit_template(w, w.dialect.time_shift(form), slots)

    def walk(self, shape: list[object], values: list[object]) -> None:
        # Every template names the value, then the amount, once each.
        shape.append((TimeShift, self.unit))
        self.value.walk(shape, values)
        self.amount.walk(shape, values)


_TEMPLATE = string.Formatter()


def emit_template(
    w: Writer, template: str, slots: Mapping[str, Expr[Any] | str | Callable[[Writer], None]]
) -> None:
    """Write a dialect's template: ``{name}`` is that slot's expression (emitted), text, or writer.

    The templates are the dialect's own text; only expressions bind values,
    in the order the template names them.
    """
    for literal, name, _, _ in _TEMPLATE.parse(template):
        w.write(literal)
        if name is None:
            continue
        slot = slots.get(name)
        if slot is None:
            raise ValueError(f"unknown field {{{name}}} in a {w.dialect.name} template")
        if isinstance(slot, str):
            w.write(slot)
        elif isinstance(slot, Expr):
            slot.emit(w)
        else:
            slot(w)


def time_shift(value: Expr[Any], other: object, negate: bool) -> Expr[Any] | None:
    """``value + other`` (``-`` when ``negate``) as a ``TimeShift``: a datetime and a timedelta.

    None for any other pair: the operator is then plain SQL arithmetic.
    """
    base = base_type(value.dbtype)
    if base is None or base.kind is not Kind.DATETIME:
        return None
    if isinstance(other, dt.timedelta):
        return TimeShift(value, Value(-other if negate else other), _INTERVAL)
    if isinstance(other, Expr):
        kind = base_type(other.dbtype)
        if kind is not None and kind.kind is Kind.TIMEDELTA:
            return TimeShift(value, Unary("-", other) if negate else other, _INTERVAL)
    return None


# -- window frames and named windows -----------------------------------------------------

_AGGREGATES = frozenset({"count", "sum", "avg", "min", "max"})


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """A window frame: ``ROWS`` or ``RANGE BETWEEN start AND end``.

    Build one with ``repodb.functions.rows_between`` or ``range_between``.
    A bound is None (unbounded), 0 (the current row), a negative offset
    (that many rows, or that much less, before) or a positive one (after);
    offsets are ints checked when the frame is built, written as numbers.
    """

    unit: Literal["ROWS", "RANGE"]
    start: int | None
    end: int | None

    def emit(self, w: Writer) -> None:
        w.write(f"{self.unit} BETWEEN {_bound(self.start, 'PRECEDING')} AND ")
        w.write(_bound(self.end, "FOLLOWING"))


def _bound(offset: int | None, unbounded: str) -> str:
    if offset is None:
        return f"UNBOUNDED {unbounded}"
    if offset == 0:
        return "CURRENT ROW"
    return f"{-offset} PRECEDING" if offset < 0 else f"{offset} FOLLOWING"


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class WindowDef:
    """A named window of a query (``WINDOW "name" AS (...)``); see ``Query.window``."""

    partition_by: tuple[Expr[Any], ...]
    order_by: tuple[Ordering, ...]
    frame: Frame | None

    def emit(self, w: Writer) -> None:
        emit_window_body(w, None, self.partition_by, self.order_by, self.frame)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((WindowDef, len(self.partition_by), len(self.order_by), self.frame))
        for e in self.partition_by:
            e.walk(shape, values)
        for o in self.order_by:
            o.walk(shape, values)


def expect_frame(frame: object, where: str) -> Frame | None:
    """``frame`` if it is a frame (or None); else a TypeError saying what ``where`` takes."""
    if frame is None or isinstance(frame, Frame):
        return frame
    raise TypeError(f"{where} takes rows_between(...) or range_between(...), not {describe(frame)}")


def emit_window_body(
    w: Writer,
    base: str | None,
    partition_by: tuple[Expr[Any], ...],
    order_by: tuple[Ordering, ...],
    frame: Frame | None,
) -> None:
    """The inside of ``OVER (...)`` or ``WINDOW name AS (...)``: base, partition, order, frame."""
    gap = ""
    if base is not None:
        w.identifier(base)
        gap = " "
    if partition_by:
        w.write(f"{gap}PARTITION BY ")
        _emit_list(w, partition_by)
        gap = " "
    if order_by:
        w.write(f"{gap}ORDER BY ")
        _emit_list(w, order_by)
        gap = " "
    if frame is not None:
        w.write(gap)
        frame.emit(w)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class InsertedFlag(Expr[bool]):
    """In an upsert's RETURNING: true for a row it inserted, false for one it found.

    The dialect's ``inserted_flag_sql`` (PostgreSQL's ``xmax = 0``); the
    Repo adds it to tell inserted from updated rows.
    """

    @property
    def dbtype(self) -> DbType[Any] | None:
        return to_dbtype(bool)

    def emit(self, w: Writer) -> None:
        sql = w.dialect.inserted_flag_sql
        if sql is None:
            raise ValueError(f"{w.dialect.name} has no flag of the rows an upsert inserted")
        w.write(sql)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append(InsertedFlag)


# -- arrays ------------------------------------------------------------------------------

ArrayForm = Literal["has", "contains", "overlaps", "append", "remove"]
# The forms whose template names the array before the value.
_ARRAY_FIRST = frozenset({"append", "remove"})


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class ArrayOp(Expr[T]):
    """An array test or change: ``has``, ``contains``, ``overlaps``, ``append``, ``remove``.

    Build one with ``repodb.functions.array_has`` and its siblings. The SQL
    is the dialect's template (``Dialect.array_ops``): native arrays on
    PostgreSQL, JSON array text read with ``json_each`` on SQLite.
    """

    form: ArrayForm
    array: Expr[Any]
    operand: Expr[Any]

    @property
    def dbtype(self) -> DbType[Any] | None:
        if self.form in _ARRAY_FIRST:
            return self.array.dbtype
        return _truth(self.array, self.operand)

    def emit(self, w: Writer) -> None:
        emit_template(w, w.dialect.array_op(self.form), {"a": self.array, "x": self.operand})

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((ArrayOp, self.form))
        first, second = (
            (self.array, self.operand) if self.form in _ARRAY_FIRST else (self.operand, self.array)
        )
        first.walk(shape, values)
        second.walk(shape, values)


# -- JSON tests and full-text search ------------------------------------------------------

TemplateFamily = Literal["json", "search"]


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class TemplateOp(Expr[T]):
    """An operation written by a dialect's template: JSON tests, full-text search.

    Build one with ``repodb.functions.json_contains``, ``json_has_key``,
    ``to_tsvector``, ``to_tsquery``, ``ts_match``, ``ts_rank``. ``family``
    picks the dialect's table (``Dialect.json_ops`` or ``search_ops``) and
    ``form`` the template in it; a dialect without the form refuses it by
    name. ``slots`` are the expressions the template names, in the order
    every dialect's template names them (so values bind in that order);
    ``words`` are text checked when the node is built and written in place
    (a text-search configuration, which an expression index must see as a
    constant, not a parameter).
    """

    family: TemplateFamily
    form: str
    slots: tuple[tuple[str, Expr[Any]], ...]
    type_: DbType[Any] | None
    words: tuple[tuple[str, str], ...] = ()

    @property
    def dbtype(self) -> DbType[Any] | None:
        if self.type_ is not None and self.type_.kind is Kind.BOOL:
            return _truth(*(e for _, e in self.slots))
        return self.type_

    def emit(self, w: Writer) -> None:
        slots: dict[str, Expr[Any] | str] = dict(self.words)
        slots.update(self.slots)
        emit_template(w, w.dialect.template(self.family, self.form), slots)

    def walk(self, shape: list[object], values: list[object]) -> None:
        names = tuple(name for name, _ in self.slots)
        shape.append((TemplateOp, self.family, self.form, names, self.words, self.type_))
        for _, e in self.slots:
            e.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class SearchDocument(Expr[str]):
    """The text ``to_tsvector`` reads: one column as it is, several joined by spaces.

    Several columns are each ``coalesce``d to ``''`` (a NULL one must not
    blank the rest) and joined with ``' '``, literals written in place, by
    the dialect's ``document_part`` and ``document_join`` templates, which
    ``create_index(..., search=config)`` uses too: the planner matches an
    expression index only to the very same expression.
    """

    parts: tuple[Expr[Any], ...]

    def emit(self, w: Writer) -> None:
        if len(self.parts) == 1:
            self.parts[0].emit(w)
            return
        part = w.dialect.template("search", "document_part")
        for i, e in enumerate(self.parts):
            if i:
                w.write(w.dialect.template("search", "document_join"))
            emit_template(w, part, {"d": e})

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((SearchDocument, len(self.parts)))
        for e in self.parts:
            e.walk(shape, values)
