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
``in_``.

Every node knows two things: how to write itself as SQL (``emit``), and its
*shape* (``walk``): the node structure with parameter values left out, which
the compiler uses as a cache key, collecting the values on the way.

Example::

    adult = (User.age >= 18) & User.email.is_not_null()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .types import DbType

if TYPE_CHECKING:
    from ._compile.writer import Writer

__all__ = [
    "Binary",
    "Column",
    "Expr",
    "Ordering",
    "Unary",
    "Value",
    "lift",
]

T = TypeVar("T")
U = TypeVar("U")


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

    def __eq__(self, other: T | Expr[T]) -> Expr[bool]:  # type: ignore[override]
        if other is None:
            return Unary("IS NULL", self, postfix=True)
        return Binary("=", self, lift(other, self))

    def __ne__(self, other: T | Expr[T]) -> Expr[bool]:  # type: ignore[override]
        if other is None:
            return Unary("IS NOT NULL", self, postfix=True)
        return Binary("<>", self, lift(other, self))

    def __lt__(self, other: T | Expr[T]) -> Expr[bool]:
        return Binary("<", self, lift(other, self))

    def __le__(self, other: T | Expr[T]) -> Expr[bool]:
        return Binary("<=", self, lift(other, self))

    def __gt__(self, other: T | Expr[T]) -> Expr[bool]:
        return Binary(">", self, lift(other, self))

    def __ge__(self, other: T | Expr[T]) -> Expr[bool]:
        return Binary(">=", self, lift(other, self))

    # -- boolean logic -------------------------------------------------------

    def __and__(self: Expr[bool], other: Expr[bool] | bool) -> Expr[bool]:
        return Binary("AND", self, lift(other, self))

    def __or__(self: Expr[bool], other: Expr[bool] | bool) -> Expr[bool]:
        return Binary("OR", self, lift(other, self))

    def __invert__(self: Expr[bool]) -> Expr[bool]:
        return Unary("NOT", self)

    # -- arithmetic ----------------------------------------------------------

    def __add__(self, other: T | Expr[T]) -> Expr[T]:
        return Binary("+", self, lift(other, self))

    def __sub__(self, other: T | Expr[T]) -> Expr[T]:
        return Binary("-", self, lift(other, self))

    def __mul__(self, other: T | Expr[T]) -> Expr[T]:
        return Binary("*", self, lift(other, self))

    def __truediv__(self, other: T | Expr[T]) -> Expr[T]:
        return Binary("/", self, lift(other, self))

    def __mod__(self, other: T | Expr[T]) -> Expr[T]:
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

    # -- ordering --------------------------------------------------------------

    def asc(self) -> Ordering:
        """Ascending order, for ``order_by``."""
        return Ordering(self, descending=False)

    def desc(self) -> Ordering:
        """Descending order, for ``order_by``."""
        return Ordering(self, descending=True)


def lift(value: object, like: Expr[Any] | None = None) -> Expr[Any]:
    """``value`` as an expression: itself if it is one, else a bound parameter.

    The parameter takes its field type from ``like`` (the expression it is
    compared with), so ``User.created_at > some_datetime`` binds a datetime
    with the column's codec.
    """
    if isinstance(value, Expr):
        return value
    return Value(value, like.dbtype if like is not None else None)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Value(Expr[T]):
    """A value bound as a parameter, never written into the SQL text."""

    value: T
    type_: DbType[Any] | None = None

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.type_

    def emit(self, w: Writer) -> None:
        w.bind(self.value, self.type_)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append(Value)
        values.append(self.value)


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
        shape.append((Column, self.binding, self.name))

    def in_(self, items: Iterable[T]) -> Expr[bool]:
        """``column IN (...)``; an empty collection is always false."""
        return InList(self, tuple(lift(v, self) for v in items), negated=False)

    def not_in(self, items: Iterable[T]) -> Expr[bool]:
        """``column NOT IN (...)``; an empty collection is always true."""
        return InList(self, tuple(lift(v, self) for v in items), negated=True)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Binary(Expr[Any]):
    """``left op right``, always parenthesised so precedence never surprises."""

    op: str
    left: Expr[Any]
    right: Expr[Any]

    def emit(self, w: Writer) -> None:
        w.write("(")
        self.left.emit(w)
        w.write(f" {self.op} ")
        self.right.emit(w)
        w.write(")")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Binary, self.op))
        self.left.walk(shape, values)
        self.right.walk(shape, values)

    @property
    def dbtype(self) -> DbType[Any] | None:
        return self.left.dbtype


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


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class InList(Expr[bool]):
    """``x IN (a, b, ...)`` or ``x NOT IN (...)``."""

    operand: Expr[Any]
    items: tuple[Expr[Any], ...]
    negated: bool

    def emit(self, w: Writer) -> None:
        if not self.items:
            # IN () is not SQL; the truth value of an empty list is known.
            w.write("(1 = 1)" if self.negated else "(1 = 0)")
            return
        w.write("(")
        self.operand.emit(w)
        w.write(" NOT IN (" if self.negated else " IN (")
        for i, item in enumerate(self.items):
            if i:
                w.write(", ")
            item.emit(w)
        w.write("))")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((InList, self.negated, len(self.items)))
        self.operand.walk(shape, values)
        for item in self.items:
            item.walk(shape, values)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Ordering:
    """An ``ORDER BY`` term: an expression, a direction, and where NULLs go."""

    expr: Expr[Any]
    descending: bool = False
    nulls: str | None = None

    def nulls_first(self) -> Ordering:
        return dataclasses.replace(self, nulls="FIRST")

    def nulls_last(self) -> Ordering:
        return dataclasses.replace(self, nulls="LAST")

    def emit(self, w: Writer) -> None:
        self.expr.emit(w)
        w.write(" DESC" if self.descending else " ASC")
        if self.nulls:
            w.write(f" NULLS {self.nulls}")

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Ordering, self.descending, self.nulls))
        self.expr.walk(shape, values)
