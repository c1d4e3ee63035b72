"""SQL functions and expression builders: aggregates, windows, text, JSON, casts, raw fragments.

Why: the expression nodes live in ``repodb.expr``; this module holds the
functions that build them, as Ecto's ``Ecto.Query.API`` does. Each returns a
typed expression: ``count()`` is an ``Expr[int]``, ``lower(User.name)`` an
``Expr[str]``, ``max_(User.age)`` an ``Expr[int | None]``.

- Conditions built at run time: ``and_``, ``or_``, ``not_`` (an empty
  ``and_()`` is true, an empty ``or_()`` false).
- Values and types: ``coalesce``, ``case``, ``cast``.
- Aggregates: ``count``, ``count_distinct``, ``sum_``, ``avg``, ``min_``,
  ``max_``, each with ``.filter(condition)``; with ``.over(partition_by=...,
  order_by=..., frame=...)`` (or ``.over("name")`` of a ``Query.window``) they
  are window functions, as are ``row_number``, ``rank`` and ``dense_rank``;
  frames are ``rows_between`` and ``range_between``.
- Text and time: ``lower``, ``upper``, ``length``, ``now``, ``date_trunc``
  (PostgreSQL); date arithmetic ``datetime_add``, ``date_add``, ``ago``,
  ``from_now`` (and ``datetime_column + timedelta``), alike on both databases.
- JSON: ``json_get`` (``->``) and ``json_text`` (``->>``) at any depth,
  ``json_has_key`` (``?``) on both databases, ``json_contains`` (jsonb's
  ``@>``, PostgreSQL).
- Full-text search (PostgreSQL): ``to_tsvector``, ``to_tsquery``,
  ``ts_match`` (``@@``), ``ts_rank``; ``create_index(..., using="gin",
  search=config)`` in a migration indexes the same expression.
- Arrays (PostgreSQL arrays, JSON arrays on SQLite): ``array_has``,
  ``array_contains``, ``array_overlaps``, ``array_append``, ``array_remove``.
- ``fragment``: raw SQL from a ``LiteralString`` with ``?`` markers for
  values and expressions, never a formatted string.

Example::

    per_user = query(Post).select(Post.user_id, count()).group_by(Post.user_id)
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, LiteralString, TypeVar, overload

from ._placeholders import parse
from .types import DbType, Kind, json, optional, to_dbtype

if TYPE_CHECKING:
    pass

from .expr import (
    INT_TYPE,
    SHIFT_UNITS,
    TRUNC_UNITS,
    ArrayOp,
    Binary,
    Case,
    Cast,
    DateTrunc,
    Expr,
    Fragment,
    Frame,
    Func,
    JsonAccess,
    Now,
    SearchDocument,
    ShiftUnit,
    TemplateOp,
    TimeShift,
    TruncUnit,
    Truth,
    Unary,
    Value,
    base_type,
    describe,
    expect_expr,
    lift,
    nullable_type,
)

__all__ = [
    "TsQuery",
    "TsVector",
    "ago",
    "and_",
    "array_append",
    "array_contains",
    "array_has",
    "array_overlaps",
    "array_remove",
    "avg",
    "case",
    "cast",
    "coalesce",
    "count",
    "count_distinct",
    "date_add",
    "date_trunc",
    "datetime_add",
    "dense_rank",
    "fragment",
    "from_now",
    "json_contains",
    "json_get",
    "json_has_key",
    "json_text",
    "length",
    "lower",
    "max_",
    "min_",
    "not_",
    "now",
    "or_",
    "range_between",
    "rank",
    "row_number",
    "rows_between",
    "sum_",
    "to_tsquery",
    "to_tsvector",
    "ts_match",
    "ts_rank",
    "upper",
]

T = TypeVar("T")
U = TypeVar("U")
S = TypeVar("S", str, str | None)
D = TypeVar("D", dt.datetime, dt.datetime | None)
_BOOL_TYPE: DbType[bool] = to_dbtype(bool)
_FLOAT_TYPE: DbType[float] = to_dbtype(float)


# -- building conditions at run time --------------------------------------------

Cond = Expr[bool] | Expr[bool | None]
_CONDITIONS = "conditions (expressions such as User.age >= 18)"


def and_(*conditions: Cond) -> Expr[bool]:
    """All of ``conditions``; with none, true. For conditions collected at run time."""
    if not conditions:
        return Truth(True)
    result: Expr[Any] = expect_expr(conditions[0], "and_()", _CONDITIONS)
    for c in conditions[1:]:
        result = Binary("AND", result, expect_expr(c, "and_()", _CONDITIONS))
    return result


def or_(*conditions: Cond) -> Expr[bool]:
    """Any of ``conditions``; with none, false."""
    if not conditions:
        return Truth(False)
    result: Expr[Any] = expect_expr(conditions[0], "or_()", _CONDITIONS)
    for c in conditions[1:]:
        result = Binary("OR", result, expect_expr(c, "or_()", _CONDITIONS))
    return result


def not_(condition: Cond) -> Expr[bool]:
    """``NOT condition`` (the same as ``~condition``)."""
    return Unary("NOT", expect_expr(condition, "not_()", "a condition (an expression)"))


# -- values and types ----------------------------------------------------------


def coalesce(first: Expr[T | None], *rest: T | Expr[T] | Expr[T | None]) -> Expr[T]:
    """The first of the arguments that is not NULL: ``coalesce(User.age, 0)``."""
    expect_expr(first, "coalesce()", "an expression first")
    args = (first, *(lift(v, first) for v in rest))
    last = rest[-1] if rest else first
    base = base_type(first.dbtype)
    last_type = last.dbtype if isinstance(last, Expr) else None
    maybe_null = isinstance(last, Expr) and (last_type is None or last_type.kind is Kind.OPTIONAL)
    return Func("coalesce", args, nullable_type(base) if maybe_null else base)


# Expressions first: with ``T | Expr[T]`` alone mypy cannot tell T from Expr[T].
@overload
def case(*whens: tuple[Cond, Expr[T]], else_: T | Expr[T]) -> Expr[T]: ...
@overload
def case(*whens: tuple[Cond, Expr[T]]) -> Expr[T | None]: ...
@overload
def case(*whens: tuple[Cond, T | Expr[T]], else_: T | Expr[T]) -> Expr[T]: ...
@overload
def case(*whens: tuple[Cond, T | Expr[T]]) -> Expr[T | None]: ...
def case(*whens: tuple[Cond, Any], else_: Any = None) -> Expr[Any]:
    """``CASE WHEN cond THEN value ... ELSE else_ END``; without ``else_`` the rest is NULL.

    Example: ``case((User.age < 18, "minor"), else_="adult")``.
    """
    if not whens:
        raise ValueError("case() needs at least one (condition, value) pair")
    first = next((v for _, v in whens if isinstance(v, Expr)), None)
    results = [(expect_expr(c, "case()", _CONDITIONS), lift(v, first)) for c, v in whens]
    other = lift(else_, first) if else_ is not None else None
    base = results[0][1].dbtype
    return Case(tuple(results), other, base if other is not None else nullable_type(base))


def cast(value: Expr[Any], to: type[T] | DbType[T]) -> Expr[T]:
    """``CAST(value AS type)``, with each dialect's name for the type.

    A NULL stays NULL, so casting a nullable expression gives an optional
    result type at run time.
    """
    target = to_dbtype(to)
    source = expect_expr(value, "cast()", "an expression").dbtype
    if source is not None and source.kind is Kind.OPTIONAL:
        target = optional(target)
    return Cast(value, target)


# -- aggregates and window functions -------------------------------------------------


def count(value: Expr[Any] | None = None, *, distinct: bool = False) -> Func[int]:
    """``count(*)``, or ``count(value)`` (its non-NULL values), or ``count(DISTINCT value)``."""
    if value is None:
        return Func("count", (), INT_TYPE, star=True)
    return Func(
        "count", (expect_expr(value, "count()", "an expression"),), INT_TYPE, distinct=distinct
    )


def count_distinct(value: Expr[Any]) -> Func[int]:
    """``count(DISTINCT value)``."""
    return Func(
        "count", (expect_expr(value, "count_distinct()", "an expression"),), INT_TYPE, distinct=True
    )


# Two overloads so that a nullable column gives T | None, not a T that the
# surrounding call (a select) would force the argument to match.
@overload
def sum_(value: Expr[T | None]) -> Func[T | None]: ...
@overload
def sum_(value: Expr[T]) -> Func[T | None]: ...
def sum_(value: Expr[Any]) -> Func[Any]:
    """``sum(value)``; NULL over no rows. Integer sums stay integers on PostgreSQL."""
    expect_expr(value, "sum_()", "an expression")
    return Func("sum", (value,), nullable_type(base_type(value.dbtype)))


_FLOAT: DbType[float] = to_dbtype(float)
_DECIMAL: DbType[decimal.Decimal] = to_dbtype(decimal.Decimal)


# mypy sees Expr[Decimal | None] and Expr[int | None] overlap through None.
@overload
def avg(  # type: ignore[overload-overlap]
    value: Expr[decimal.Decimal] | Expr[decimal.Decimal | None],
) -> Func[decimal.Decimal | None]: ...
@overload
def avg(
    value: Expr[int] | Expr[int | None] | Expr[float] | Expr[float | None],
) -> Func[float | None]: ...
def avg(value: Expr[Any]) -> Func[Any]:
    """``avg(value)``: a float (a Decimal for Decimal values); NULL over no rows."""
    base = base_type(expect_expr(value, "avg()", "an expression").dbtype)
    result = _DECIMAL if base is not None and base.kind is Kind.DECIMAL else _FLOAT
    return Func("avg", (value,), optional(result))


# Two overloads so that a nullable column gives T | None, not a T that the
# surrounding call (a select) would force the argument to match.
@overload
def min_(value: Expr[T | None]) -> Func[T | None]: ...
@overload
def min_(value: Expr[T]) -> Func[T | None]: ...
def min_(value: Expr[Any]) -> Func[Any]:
    """``min(value)``; NULL over no rows."""
    expect_expr(value, "min_()", "an expression")
    return Func("min", (value,), nullable_type(base_type(value.dbtype)))


# Two overloads so that a nullable column gives T | None, not a T that the
# surrounding call (a select) would force the argument to match.
@overload
def max_(value: Expr[T | None]) -> Func[T | None]: ...
@overload
def max_(value: Expr[T]) -> Func[T | None]: ...
def max_(value: Expr[Any]) -> Func[Any]:
    """``max(value)``; NULL over no rows."""
    expect_expr(value, "max_()", "an expression")
    return Func("max", (value,), nullable_type(base_type(value.dbtype)))


def row_number() -> Func[int]:
    """The row's position in its window, from 1; use with ``.over(...)``."""
    return Func("row_number", (), INT_TYPE, window_only=True)


def rank() -> Func[int]:
    """The row's rank in its window, with gaps after ties; use with ``.over(...)``."""
    return Func("rank", (), INT_TYPE, window_only=True)


def dense_rank() -> Func[int]:
    """The row's rank in its window, without gaps; use with ``.over(...)``."""
    return Func("dense_rank", (), INT_TYPE, window_only=True)


# -- common functions ------------------------------------------------------------


def lower(value: Expr[S]) -> Func[S]:
    """``lower(text)``."""
    return Func("lower", (value,), expect_expr(value, "lower()", "an expression").dbtype)


def upper(value: Expr[S]) -> Func[S]:
    """``upper(text)``."""
    return Func("upper", (value,), expect_expr(value, "upper()", "an expression").dbtype)


@overload
def length(value: Expr[str] | Expr[bytes]) -> Func[int]: ...
@overload
def length(value: Expr[str | None] | Expr[bytes | None]) -> Func[int | None]: ...
def length(value: Expr[Any]) -> Func[Any]:
    """``length(text)`` in characters (bytes for bytes)."""
    source = expect_expr(value, "length()", "an expression").dbtype
    nullable = source is not None and source.kind is Kind.OPTIONAL
    return Func("length", (value,), optional(INT_TYPE) if nullable else INT_TYPE)


def now() -> Expr[dt.datetime]:
    """The current time (UTC). On SQLite it compares with stored datetimes as text."""
    return Now()


def date_trunc(unit: TruncUnit, value: Expr[D]) -> Expr[D]:
    """``date_trunc('day', x)``: a datetime truncated to ``unit`` (PostgreSQL only)."""
    if unit not in TRUNC_UNITS:
        raise ValueError(f"unknown date_trunc unit {unit!r}")
    return DateTrunc(unit, expect_expr(value, "date_trunc()", "an expression"))


def _json_path(path: tuple[str | int, ...]) -> tuple[Value[str] | Value[int], ...]:
    if not path:
        raise ValueError("a JSON access needs at least one key or index")
    keys: list[Value[Any]] = []
    for key in path:
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise TypeError(f"a JSON key is a str or an int index, not {type(key).__name__}")
        keys.append(Value(key))
    return tuple(keys)


def json_get(value: Expr[Any], *path: str | int) -> Expr[Any]:
    """The JSON value at ``path`` (object keys and array indices): ``->``.

    ``json_get(Event.data, "user", "tags", 0)``; missing keys give NULL.
    """
    return JsonAccess(
        expect_expr(value, "json_get()", "an expression"), _json_path(path), text=False
    )


def json_text(value: Expr[Any], *path: str | int) -> Expr[str | None]:
    """The value at ``path`` as text: ``->>`` (a JSON string without its quotes)."""
    return JsonAccess(
        expect_expr(value, "json_text()", "an expression"), _json_path(path), text=True
    )


def json_has_key(value: Expr[Any], key: str | Expr[str]) -> Expr[bool]:
    """Whether the JSON object ``value`` has the key ``key`` (jsonb's ``?``).

    A key holding JSON ``null`` exists; a NULL ``value`` gives NULL. For a
    key deeper down, test the object at its path:
    ``json_has_key(json_get(Event.data, "user"), "email")``. On PostgreSQL a
    string element of a top-level array counts too (jsonb's rule); SQLite
    reads ``value`` with ``json_type``.
    """
    document = expect_expr(value, "json_has_key()", "a JSON expression first")
    if not isinstance(key, Expr | str):
        raise TypeError(f"json_has_key() takes a str key, not {describe(key)}")
    return TemplateOp("json", "has_key", (("j", document), ("k", lift(key))), _BOOL_TYPE)


def json_contains(value: Expr[Any], other: object) -> Expr[bool]:
    """Whether the JSON ``value`` contains ``other`` (jsonb's ``@>``; PostgreSQL only).

    Why jsonb's rule: ``{"tags": ["a"]}`` is contained in
    ``{"tags": ["a", "b"], "x": 1}``; an object matches the keys it names,
    at any depth, and an array the elements it lists, in any order. A GIN
    index on the column (``create_index(table, [column], using="gin")``)
    answers it. ``other`` is a dict, list or scalar bound as JSON, or a JSON
    expression. SQLite has no containment: it refuses the query with a
    ValueError, at compile time.

    Example: ``query(Event).where(json_contains(Event.data, {"user": {"id": 42}}))``.
    """
    document = expect_expr(value, "json_contains()", "a JSON expression first")
    operand = other if isinstance(other, Expr) else Value(other, json())
    return TemplateOp("json", "contains", (("j", document), ("x", operand)), _BOOL_TYPE)


# -- full-text search (PostgreSQL) -------------------------------------------------------


class TsVector:
    """The type of ``to_tsvector(...)``: PostgreSQL's ``tsvector``, searched, never selected."""


class TsQuery:
    """The type of ``to_tsquery(...)``: PostgreSQL's ``tsquery``."""


_CONFIG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
QuerySyntax = Literal["plain", "raw", "phrase", "web"]
_SYNTAXES = frozenset(typing.get_args(QuerySyntax))


def _config(config: object, where: str) -> str:
    """``config``, a text-search configuration's name, checked: it is written in place."""
    if not isinstance(config, str) or not _CONFIG.fullmatch(config):
        raise ValueError(
            f"{where} takes a text-search configuration name such as 'english' or"
            f" 'simple', not {config!r}"
        )
    return config


def to_tsvector(
    config: str, document: Expr[S], /, *documents: Expr[str] | Expr[str | None]
) -> Expr[TsVector]:
    """``to_tsvector('config', document)``: text as searchable lexemes (PostgreSQL).

    Why the configuration is named here: it says which language's stemming
    and stop words apply, and it is written into the SQL (checked, never
    bound) so that the expression is the one ``create_index(table, columns,
    using="gin", search=config)`` indexes. Several documents are searched as
    one text, each NULL read as empty.

    Example: ``ts_match(to_tsvector("english", Post.title, Post.body), to_tsquery("english", q))``.
    """
    name = _config(config, "to_tsvector()")
    parts = tuple(
        expect_expr(d, "to_tsvector()", "text expressions") for d in (document, *documents)
    )
    return TemplateOp(
        "search", "vector", (("document", SearchDocument(parts)),), None, (("config", name),)
    )


def to_tsquery(
    config: str, text: str | Expr[str], *, syntax: QuerySyntax = "plain"
) -> Expr[TsQuery]:
    """A search query from ``text`` (PostgreSQL), read by ``syntax``.

    Options:
        syntax: ``plain`` (``plainto_tsquery``: every word, the default and
            safe for what users type), ``web`` (``websearch_to_tsquery``:
            ``"quoted phrases"``, ``or``, ``-excluded``), ``phrase``
            (``phraseto_tsquery``: the words in order) or ``raw``
            (``to_tsquery``: its own ``&``, ``|``, ``!`` and ``<->`` syntax,
            where a stray operator is an error).
    """
    name = _config(config, "to_tsquery()")
    if syntax not in _SYNTAXES:
        raise ValueError(f"unknown to_tsquery syntax {syntax!r}; one of plain, raw, phrase, web")
    return TemplateOp("search", f"query_{syntax}", (("q", lift(text)),), None, (("config", name),))


def ts_match(vector: Expr[TsVector], search: Expr[TsQuery]) -> Expr[bool]:
    """Whether ``vector`` matches ``search``: ``@@``.

    Example: ``query(Post).where(ts_match(to_tsvector("english", Post.body),
    to_tsquery("english", "cats")))``.
    """
    return TemplateOp("search", "match", _search_slots(vector, search, "ts_match()"), _BOOL_TYPE)


def ts_rank(vector: Expr[TsVector], search: Expr[TsQuery]) -> Expr[float]:
    """How well ``vector`` matches ``search``: ``ts_rank``, to order results by (higher first)."""
    return TemplateOp("search", "rank", _search_slots(vector, search, "ts_rank()"), _FLOAT_TYPE)


def _search_slots(vector: object, search: object, where: str) -> tuple[tuple[str, Expr[Any]], ...]:
    return (
        ("v", expect_expr(vector, where, "to_tsvector(...) first")),
        ("q", expect_expr(search, where, "to_tsquery(...) second")),
    )


@overload
def fragment(sql: LiteralString, *args: object) -> Expr[Any]: ...
@overload
def fragment(sql: LiteralString, *args: object, type_: type[T] | DbType[T]) -> Expr[T]: ...
def fragment(sql: LiteralString, *args: object, type_: object = None) -> Expr[Any]:
    """Raw SQL for what the DSL lacks, with ``?`` markers (or ``$1..$n``) for arguments.

    Each argument is an expression (written in place) or a value (bound as
    a parameter). ``sql`` must be a literal in the program: values never
    go into the text. Give ``type_`` to select the fragment's value.

    Example: ``fragment("lower(?) = ?", User.name, "ada")``.
    """
    template = parse(sql)
    if template.count != len(args):
        raise ValueError(f"the fragment has {template.count} marker(s) but {len(args)} argument(s)")
    dbtype = to_dbtype(type_) if type_ is not None else None
    return Fragment(template.pieces, template.indices, tuple(lift(a) for a in args), dbtype)


# -- date and time arithmetic ----------------------------------------------------------

DD = TypeVar("DD", dt.date, dt.date | None)
DateUnit = Literal["year", "month", "week", "day"]
_DATE_UNITS = frozenset(typing.get_args(DateUnit))


def datetime_add(value: Expr[D], amount: int | Expr[int], unit: ShiftUnit) -> Expr[D]:
    """``value`` moved by ``amount`` units (negative: back), computed by the database.

    Why: "due within 3 days" belongs in the query, next to the index, and
    must mean the same on every database. Units: ``year``, ``month``,
    ``week``, ``day``, ``hour``, ``minute``, ``second``, ``millisecond``,
    ``microsecond``. Both databases count in UTC (a day is 24 hours), keep
    microseconds, and clamp a month step to the month's last day (January
    31 plus a month is February 28 or 29), so SQLite and PostgreSQL give
    identical results.

    Example: ``query(Task).where(Task.due_at < datetime_add(Task.created_at, 3, "day"))``.
    """
    _expect_kind(value, Kind.DATETIME, "datetime_add()", "date_add() for a date")
    if unit not in SHIFT_UNITS:
        units = ", ".join(typing.get_args(ShiftUnit))
        raise ValueError(f"unknown datetime_add unit {unit!r}; one of {units}")
    return TimeShift(value, _amount(amount, "datetime_add()"), unit)


def date_add(value: Expr[DD], amount: int | Expr[int], unit: DateUnit) -> Expr[DD]:
    """``value`` (a date) moved by ``amount`` years, months, weeks or days.

    A month step past the end of the month is clamped to its last day, on
    both databases. Example: ``date_add(Invoice.issued_on, 1, "month")``.
    """
    _expect_kind(value, Kind.DATE, "date_add()", "datetime_add() for a datetime")
    if unit not in _DATE_UNITS:
        raise ValueError(f"unknown date_add unit {unit!r}; one of year, month, week, day")
    return TimeShift(value, _amount(amount, "date_add()"), unit)


def ago(amount: int | Expr[int], unit: ShiftUnit) -> Expr[dt.datetime]:
    """The current time minus ``amount`` units: ``where(Post.inserted_at > ago(7, "day"))``."""
    counted = _amount(amount, "ago()")
    negated = Value(-counted.value, INT_TYPE) if isinstance(counted, Value) else Unary("-", counted)
    return datetime_add(Now(), negated, unit)


def from_now(amount: int | Expr[int], unit: ShiftUnit) -> Expr[dt.datetime]:
    """The current time plus ``amount`` units: ``where(Token.expires_at < from_now(1, "hour"))``."""
    return datetime_add(Now(), amount, unit)


def _amount(amount: object, where: str) -> Expr[Any]:
    if isinstance(amount, Expr):
        base = base_type(amount.dbtype)
        if base is not None and base.kind is not Kind.INT:
            raise TypeError(f"{where} takes an int amount, not an expression of {base!r}")
        return amount
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"{where} takes an int amount or an int expression, not {describe(amount)}")
    return Value(amount, INT_TYPE)


def _expect_kind(value: object, kind: Kind, where: str, instead: str) -> None:
    base = base_type(expect_expr(value, where, "a date or datetime expression").dbtype)
    if base is None:
        raise TypeError(f"{where} needs a typed expression: wrap it in cast(..., {kind.value})")
    if base.kind is not kind:
        hint = f"; use {instead}" if base.kind in (Kind.DATE, Kind.DATETIME) else ""
        raise TypeError(
            f"{where} moves a {kind.value}; this expression is a {base.kind.value}{hint}"
        )


# -- window frames -----------------------------------------------------------------------


def rows_between(start: int | None, end: int | None = 0) -> Frame:
    """``ROWS BETWEEN ... AND ...``: a window frame counted in rows around the current one.

    A bound is None (unbounded: the partition's first or last row), 0 (the
    current row), ``-n`` (n rows before) or ``n`` (n rows after).

    Example: a moving sum of the last three rows,
    ``sum_(Sale.amount).over(order_by=Sale.day, frame=rows_between(-2, 0))``.
    """
    return _frame("ROWS", start, end)


def range_between(start: int | None, end: int | None = 0) -> Frame:
    """``RANGE BETWEEN ... AND ...``: a frame of the rows whose sort value is within reach.

    Bounds as for ``rows_between``, but an offset is a distance in the one
    ``order_by`` value (numbers only), and 0 means the current row and its
    peers (rows with an equal sort value).
    """
    return _frame("RANGE", start, end)


def _frame(unit: Literal["ROWS", "RANGE"], start: int | None, end: int | None) -> Frame:
    where = f"{unit.lower()}_between()"
    for bound in (start, end):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
            raise TypeError(f"{where} takes int offsets or None, not {describe(bound)}")
    if start is not None and end is not None and start > end:
        raise ValueError(f"{where}: the frame starts after it ends ({start} > {end})")
    return Frame(unit, start, end)


# -- arrays ------------------------------------------------------------------------------


def array_has(array: Expr[list[T]] | Expr[list[T] | None], value: T | Expr[T]) -> Expr[bool]:
    """Whether ``value`` is an element of ``array`` (Ecto's ``value in p.tags``).

    ``value = ANY(array)`` on PostgreSQL; on SQLite, where arrays are JSON
    text, ``value IN (SELECT value FROM json_each(array))``.

    Example: ``query(Post).where(array_has(Post.tags, "sql"))``.
    """
    item = _array_item(array, "array_has()")
    return ArrayOp("has", array, _element(value, item))


def array_contains(
    array: Expr[list[T]] | Expr[list[T] | None], values: Sequence[T] | Expr[list[T]]
) -> Expr[bool]:
    """Whether ``array`` has every one of ``values`` (PostgreSQL's ``values <@ array``).

    An empty ``values`` is contained in every array that is not NULL.
    """
    _array_item(array, "array_contains()")
    return ArrayOp("contains", array, _array_value(values, array, "array_contains()"))


def array_overlaps(
    array: Expr[list[T]] | Expr[list[T] | None], values: Sequence[T] | Expr[list[T]]
) -> Expr[bool]:
    """Whether ``array`` has any of ``values`` (PostgreSQL's ``&&``)."""
    _array_item(array, "array_overlaps()")
    return ArrayOp("overlaps", array, _array_value(values, array, "array_overlaps()"))


@overload
def array_append(array: Expr[list[T]], value: T | Expr[T]) -> Expr[list[T]]: ...
@overload
def array_append(array: Expr[list[T] | None], value: T | Expr[T]) -> Expr[list[T] | None]: ...
def array_append(array: Expr[Any], value: object) -> Expr[Any]:
    """``array`` with ``value`` added at its end; a NULL array becomes ``[value]``.

    In ``update_all``, ``repodb.write.push(column, value)`` says it shorter.
    """
    item = _array_item(array, "array_append()")
    return ArrayOp("append", array, _element(value, item))


@overload
def array_remove(array: Expr[list[T]], value: T | Expr[T]) -> Expr[list[T]]: ...
@overload
def array_remove(array: Expr[list[T] | None], value: T | Expr[T]) -> Expr[list[T] | None]: ...
def array_remove(array: Expr[Any], value: object) -> Expr[Any]:
    """``array`` without the elements equal to ``value``; a NULL array stays NULL.

    In ``update_all``, ``repodb.write.pull(column, value)`` says it shorter.
    """
    item = _array_item(array, "array_remove()")
    return ArrayOp("remove", array, _element(value, item))


def _array_item(array: object, where: str) -> DbType[Any]:
    """The element type of ``array``, an array expression; else a TypeError."""
    base = base_type(expect_expr(array, where, "an array expression first").dbtype)
    if base is None or base.kind is not Kind.ARRAY or base.item is None:
        got = "an untyped expression" if base is None else f"a {base.kind.value}"
        raise TypeError(f"{where} takes an array column (Col[list[...]]) first, not {got}")
    return base.item


def _element(value: object, item: DbType[Any]) -> Expr[Any]:
    """``value`` as an array element: itself if an expression, else bound with the element type."""
    return value if isinstance(value, Expr) else Value(value, item)


def _array_value(values: object, array: Expr[Any], where: str) -> Expr[Any]:
    if isinstance(values, Expr):
        return values
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise TypeError(f"{where} takes a list of values, not {describe(values)}")
    return Value(list(values), base_type(array.dbtype))
