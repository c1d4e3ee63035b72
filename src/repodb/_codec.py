"""Turning Python values into driver values and back, per database.

Why here: checking that a value fits its declared type is the same on every
database and happens before anything is sent; only the storage form differs
(SQLite keeps a UUID as text, PostgreSQL as ``uuid``). Each driver therefore
supplies a ``Codecs`` table, which is data: per kind, an optional conversion
on the way in and on the way out. ``encoder`` and ``decoder`` combine the
check with the table once per request and database, so the per-row path is a
few plain function calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .errors import DecodeError, EncodeError
from .types import DbType, Kind

if TYPE_CHECKING:
    from ._compile.result import RecordFill

__all__ = [
    "Codecs",
    "ColumnBuilder",
    "ColumnConvert",
    "Convert",
    "bool_from_int",
    "column_decoder",
    "decoder",
    "encoder",
    "json_array_decoder",
    "json_text",
    "row_decoder",
    "run_encoder",
    "timedelta_micros",
    "utc",
    "written",
]

Convert = Callable[[Any], Any]
# A conversion builder receives the field type (for enums and arrays) and the
# table itself (for array items) and returns the conversion, or None when the
# driver takes or gives the Python value as it is.
Builder = Callable[[DbType[Any], "Codecs"], Convert | None]

ColumnConvert = Callable[[Sequence[Any]], Sequence[Any]]
ColumnBuilder = Callable[[DbType[Any], "Codecs"], ColumnConvert]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Codecs:
    """A driver's storage forms: per kind, how values go in and come out."""

    name: str
    encode: Mapping[Kind, Builder]
    decode: Mapping[Kind, Builder]
    # Whether every value of a result column has the column's type. True on
    # PostgreSQL; SQLite stores a type per value, so each row is checked.
    uniform_columns: bool = True
    # Per kind, optionally, a conversion of a whole result column at once
    # (a list of non-NULL driver values) that runs in C where ``decode``'s
    # runs a Python call per value. It may raise anything on a value it
    # cannot take: the rows are then decoded one by one, for the error.
    decode_column: Mapping[Kind, ColumnBuilder] = dataclasses.field(default_factory=dict)
    # Per kind, optionally, the class the driver most often gives and a C
    # function converting exactly that class (SQLite's Decimal text:
    # ``(str, Decimal)``), so a single row converts without a Python call.
    decode_exact: Mapping[Kind, tuple[type[Any], Convert]] = dataclasses.field(default_factory=dict)
    # Per kind, optionally, a C function giving what ``encode``'s conversion
    # gives for a value that passed ``fast_encoder``'s test of the kind's
    # usual class (SQLite's aware datetime in UTC: one ``isoformat`` call),
    # so a single insert encodes it without a Python call.
    encode_exact: Mapping[Kind, Convert] = dataclasses.field(default_factory=dict)
    # Kinds whose stored value may differ from the value written, beyond
    # what ``decode(encode(v))`` shows: a column's scale (``numeric(14, 2)``
    # keeps 1.50 for 1.5), jsonb's key order and number forms. A write
    # reads them back (``written``); the others it rebuilds from the values sent.
    readback: frozenset[Kind] = frozenset()


def _fail(t: DbType[Any], value: object, why: str = "") -> EncodeError:
    if why:
        return EncodeError(f"{t!r}: {why}")
    return EncodeError(f"expected {t!r}, got {type(value).__name__}")


def _check_bool(t: DbType[Any], v: object) -> object:
    if type(v) is not bool:
        raise _fail(t, v)
    return v


def _check_int(t: DbType[Any], v: object) -> object:
    if not isinstance(v, int) or isinstance(v, bool):
        raise _fail(t, v)
    if not INT64_MIN <= v <= INT64_MAX:
        raise _fail(t, v, "out of the 64-bit range")
    return int(v)


def _check_float(t: DbType[Any], v: object) -> object:
    if not isinstance(v, (float, int)) or isinstance(v, bool):
        raise _fail(t, v)
    return float(v)


def _check_decimal(t: DbType[Any], v: object) -> object:
    if not isinstance(v, (Decimal, int)) or isinstance(v, bool):
        raise _fail(t, v)
    return Decimal(v)


def _check_instance(
    cls: type[Any] | tuple[type[Any], ...],
) -> Callable[[DbType[Any], object], object]:
    def check(t: DbType[Any], v: object) -> object:
        if not isinstance(v, cls):
            raise _fail(t, v)
        return v

    return check


def _check_bytes(t: DbType[Any], v: object) -> object:
    if not isinstance(v, (bytes, bytearray, memoryview)):
        raise _fail(t, v)
    return bytes(v)


def _check_date(t: DbType[Any], v: object) -> object:
    if not isinstance(v, dt.date) or isinstance(v, dt.datetime):
        raise _fail(t, v)
    return v


def _check_datetime(t: DbType[Any], v: object) -> object:
    if not isinstance(v, dt.datetime):
        raise _fail(t, v)
    if v.utcoffset() is None:
        raise _fail(t, v, "a naive datetime is ambiguous; attach a timezone (e.g. UTC)")
    if v.year == 1 or v.year == 9999:  # only there can its UTC form fall out of range
        utc(v)
    return v


def utc(v: dt.datetime) -> dt.datetime:
    """``v`` in UTC; ``EncodeError`` when that instant is outside the years 1 to 9999.

    Why: ``datetime(1, 1, 1, tzinfo=+05:00)`` is a valid value whose UTC
    form is not, and ``astimezone`` raises a bare OverflowError for it.
    """
    try:
        return v.astimezone(dt.UTC)
    except OverflowError:
        raise EncodeError(
            f"datetime {v.isoformat()} is outside the years 1 to 9999 in UTC"
        ) from None


def _check_time(t: DbType[Any], v: object) -> object:
    if not isinstance(v, dt.time):
        raise _fail(t, v)
    if v.tzinfo is not None:
        raise _fail(t, v, "time with a timezone is not supported; use a naive time")
    return v


def _check_enum(t: DbType[Any], v: object) -> object:
    assert t.cls is not None
    if not isinstance(v, t.cls):
        raise _fail(t, v)
    return v


_CHECKS: dict[Kind, Callable[[DbType[Any], object], object]] = {
    Kind.BOOL: _check_bool,
    Kind.INT: _check_int,
    Kind.FLOAT: _check_float,
    Kind.DECIMAL: _check_decimal,
    Kind.STR: _check_instance(str),
    Kind.BYTES: _check_bytes,
    Kind.DATE: _check_date,
    Kind.DATETIME: _check_datetime,
    Kind.TIME: _check_time,
    Kind.TIMEDELTA: _check_instance(dt.timedelta),
    Kind.UUID: _check_instance(uuid.UUID),
    Kind.JSON: _check_instance((dict, list)),
    Kind.ENUM: _check_enum,
}


def encoder(t: DbType[Any], codecs: Codecs) -> Convert:
    """A function that checks a value against ``t`` and converts it for the driver."""
    if t.kind is Kind.OPTIONAL:
        assert t.item is not None
        inner = encoder(t.item, codecs)
        exact = _PASS_THROUGH.get(t.item.kind)
        if exact is not None and codecs.encode.get(t.item.kind) is None:
            # As ``encode_exact`` below, with None let through in the same test.
            def encode_optional_exact(v: object) -> object:
                if v is None or (
                    type(v) is exact and (exact is not int or INT64_MIN <= v <= INT64_MAX)  # type: ignore[operator]
                ):
                    return v
                return inner(v)

            return encode_optional_exact

        def encode_optional(v: object) -> object:
            return None if v is None else inner(v)

        return encode_optional
    if t.kind is Kind.ARRAY:
        assert t.item is not None
        item = encoder(t.item, codecs)
        build = codecs.encode.get(Kind.ARRAY)
        finish = build(t, codecs) if build else None

        def encode_array(v: object) -> object:
            if not isinstance(v, (list, tuple)):
                raise _fail(t, v)
            items = [item(x) for x in v]
            return finish(items) if finish else items

        return encode_array
    check = _CHECKS.get(t.kind)
    if check is None:
        raise TypeError(f"{t!r} is not a single-column type")
    build = codecs.encode.get(t.kind)
    convert = build(t, codecs) if build else None
    if t.kind is Kind.JSON and t.item is not None:
        # A document of a declared type (an embedded record): its JSON form
        # is checked and built first, then stored as any JSON value.
        from ._jsonform import dumper  # it builds on this module

        dump = dumper(t.item)
        check = lambda _, v: dump(v)  # noqa: E731

    def encode(v: object) -> object:
        if v is None:
            raise EncodeError(
                f"expected {t!r}, got None; None is only allowed for optional(...) types"
            )
        checked = check(t, v)
        return convert(checked) if convert else checked

    exact = _PASS_THROUGH.get(t.kind)
    if exact is not None and convert is None:
        # The common case in one class test; anything else takes the full path.
        def encode_exact(v: object) -> object:
            if type(v) is exact and (exact is not int or INT64_MIN <= v <= INT64_MAX):  # type: ignore[operator]
                return v
            return encode(v)

        return encode_exact
    return encode


# Kinds whose values most often arrive as exactly this class and go to the
# driver unchanged.
_PASS_THROUGH: dict[Kind, type[Any]] = {Kind.INT: int, Kind.STR: str, Kind.BYTES: bytes}


def run_encoder(t: DbType[Any], codecs: Codecs) -> Callable[[Sequence[Any]], list[Any]]:
    """A function encoding many values of ``t`` at once (an ``IN`` list of keys).

    Where the driver takes the kind's values unchanged, a set of the values'
    classes (and, for ints, their minimum and maximum), built in C, proves
    the whole run fits; anything else is encoded value by value, so the
    ``EncodeError`` is the one ``encoder`` gives.
    """
    each = encoder(t, codecs)
    optional = t.kind is Kind.OPTIONAL
    base = t.item if optional and t.item is not None else t
    exact = _PASS_THROUGH.get(base.kind)
    if exact is None or codecs.encode.get(base.kind) is not None:
        return lambda values: list(map(each, values))
    allowed = {exact, _NONE} if optional else {exact}

    def encode_run(values: Sequence[Any]) -> list[Any]:
        classes = set(map(type, values))
        if not classes <= allowed:
            return list(map(each, values))
        if exact is int:
            present = [v for v in values if v is not None] if _NONE in classes else values
            if present and not (min(present) >= INT64_MIN and max(present) <= INT64_MAX):
                return list(map(each, values))
        return list(values)

    return encode_run


_NONE: type[Any] = type(None)


def named_encoder(
    types: Sequence[DbType[Any]], codecs: Codecs, names: Sequence[str]
) -> Callable[[Sequence[Any]], list[Any]]:
    """Encode one value per type in ``types``, an EncodeError naming the value that failed.

    ``names[i]`` says what the ``i``-th value is (``"Member.email"``); the
    error reads ``"Member.email: expected str, got None; ..."``, the message
    of ``encoder``'s error after the name.
    """
    encoders = [encoder(t, codecs) for t in types]
    each = tuple(zip(encoders, names, strict=True))

    def encode_named(values: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for (encode, name), value in zip(each, values, strict=True):
            try:
                out.append(encode(value))
            except EncodeError as e:
                raise EncodeError(f"{name}: {e.message}") from None
        return out

    return encode_named


def fast_encoder(
    types: Sequence[DbType[Any]],
    codecs: Codecs,
    checked: Callable[[Sequence[Any]], list[Any]],
) -> Callable[[Sequence[Any]], list[Any]]:
    """``checked`` (the values encoded for ``types``), generated without a call per check.

    Why: a single insert encodes ten values or so, and ``encoder``'s checking
    wrapper per value cost more than the conversions it calls. The
    generated function unpacks the values and, per value, tests its usual
    class (``type(v) is str``, an int in range, an aware datetime in UTC)
    and converts it directly (the driver's conversion, e.g. ``str`` of a
    UUID on SQLite); a value of another class goes through ``encoder``'s
    function. Consecutive values of one type that are one object (the
    ``inserted_at`` and ``updated_at`` a write fills with one ``now``) are
    encoded once. Any surprise (a count, a class, a conversion raising)
    hands the values to ``checked``, which gives the result or raises the
    EncodeError it always did. The source holds only generated names
    (``c0``, ``k0``): values, classes and functions are in its namespace.
    """
    namespace: dict[str, Any] = {"checked": checked, "MIN": INT64_MIN, "MAX": INT64_MAX}
    lines: list[str] = []
    done: list[tuple[DbType[Any], int]] = []
    for i, t in enumerate(types):
        c = f"c{i}"
        optional = t.kind is Kind.OPTIONAL
        base = t.item if optional and t.item is not None else t
        namespace[f"e{i}"] = encoder(t, codecs)
        expression = _exact_expression(i, base, codecs, namespace)
        if optional:
            expression = f"None if {c} is None else {expression}"
        same = next((j for u, j in done if u == t), None) if base.kind is Kind.DATETIME else None
        if same is not None:
            expression = f"x{same} if {c} is c{same} else {expression}"
        done.append((t, i))
        lines.append(f"x{i} = {expression}")
    if not types:
        return checked
    body = "\n        ".join(lines)
    source = f"""\
def encode(values):
    try:
        {", ".join(f"c{i}" for i in range(len(types)))}, = values
        {body}
        return [{", ".join(f"x{i}" for i in range(len(types)))}]
    except Exception:
        pass
    return checked(values)
"""
    exec(compile(source, "<repodb values encoder>", "exec"), namespace)
    fast: Callable[[Sequence[Any]], list[Any]] = namespace["encode"]
    return fast


def _exact_expression(i: int, t: DbType[Any], codecs: Codecs, namespace: dict[str, Any]) -> str:
    """The expression encoding ``c{i}`` of ``t`` (not optional): a shortcut for its usual class.

    The shortcut gives what ``encoder(t, codecs)`` gives for such a value:
    its check passes the value unchanged (an int in range, an aware
    datetime in UTC), then the driver's conversion runs (``g{i}``).
    """
    c, slow = f"c{i}", f"e{i}(c{i})"
    # The class whose values the kind's check passes unchanged (JSON: a dict,
    # or a list, tested apart).
    exact: type[Any] | None = dict if t.kind is Kind.JSON else PY_CLASS.get(t.kind)
    if t.kind is Kind.ENUM:
        exact = t.cls
    if exact is None or (t.kind is Kind.JSON and t.item is not None):
        return slow
    build = codecs.encode.get(t.kind)
    convert = build(t, codecs) if build else None
    namespace[f"k{i}"] = exact
    test = f"type({c}) is k{i}"
    if t.kind is Kind.JSON:
        test = f"(type({c}) is k{i} or type({c}) is list)"
    elif t.kind is Kind.INT:
        test += f" and MIN <= {c} <= MAX"
    elif t.kind is Kind.DATETIME:
        namespace["UTC"] = dt.UTC
        test += f" and {c}.tzinfo is UTC"
    elif t.kind is Kind.TIME:
        test += f" and {c}.tzinfo is None"
    fast = c
    convert = codecs.encode_exact.get(t.kind, convert)
    if convert is not None:
        namespace[f"g{i}"] = convert
        fast = f"g{i}({c})"
    return f"({fast} if {test} else {slow})"


def decoder(t: DbType[Any], codecs: Codecs) -> Convert | None:
    """A function turning a driver value into a value of ``t``; None if it is already one."""
    if t.kind is Kind.OPTIONAL:
        assert t.item is not None
        inner = decoder(t.item, codecs)
        if inner is None:
            return None
        present = inner

        def decode_optional(v: object) -> object:
            return None if v is None else present(v)

        return decode_optional
    convert = _conversion(t, codecs)
    if convert is None:
        return None
    known = convert

    def decode(v: object) -> object:
        if v is None:
            raise DecodeError(f"got NULL for non-optional {t!r}")
        try:
            return known(v)
        except DecodeError:
            raise
        except (ValueError, TypeError, KeyError, ArithmeticError, AttributeError) as e:
            # AttributeError: a value of another class where a conversion reads
            # an attribute (PostgreSQL's datetime ``tzinfo``, given text).
            raise DecodeError(f"cannot decode {type(v).__name__} as {t!r}: {e}") from e

    return decode


def _conversion(t: DbType[Any], codecs: Codecs) -> Convert | None:
    """The driver's conversion of a non-NULL value of ``t`` (not optional), without checks."""
    build = codecs.decode.get(t.kind)
    convert = build(t, codecs) if build else None
    if t.kind is Kind.JSON and t.item is not None:
        from ._jsonform import loader  # it builds on this module

        load = loader(t.item)
        parse = convert
        convert = load if parse is None else lambda v: load(parse(v))
    return convert


def written(t: DbType[Any], codecs: Codecs) -> tuple[type[Any] | None, Convert] | None:
    """How the value a read returns after ``v`` was written is found; None: read it back.

    Why: a write that reads its whole row back (``RETURNING *``) decodes
    every column again; for most kinds the stored value is exactly the one
    sent, so the value a read gives is ``decode(encode(v))``, computed here
    without the database (a UUID as text comes back a UUID, an aware
    datetime in UTC, a JSON tuple as a list). Kinds in ``codecs.readback``,
    alone or inside an array, may be stored otherwise: None.

    Returns ``(cls, convert)``: a value of exactly ``cls`` (every decoder
    gives that class), or None, is its own read form, kept without a call;
    any other goes through ``convert``. The value was checked when it was
    sent, and None is only sent for an optional type.
    """
    if _reads_back(t, codecs.readback):
        return None
    encode = encoder(t, codecs)
    decode = decoder(t, codecs)
    base = t.item if t.kind is Kind.OPTIONAL and t.item is not None else t
    exact = _EXACT.get(base.kind) if decode is None else None
    convert: Convert = encode if decode is None else lambda v: decode(encode(v))
    if exact is not None:
        # A subclass (a StrEnum or IntEnum member) is sent as its base
        # value, and a read gives that value's own class.
        def convert(v: Any) -> Any:
            return None if v is None else exact(encode(v))

    if base.kind is Kind.JSON and base.item is None:
        return None, _json_as_read(convert)
    if base.kind is Kind.DATETIME:

        def as_read_datetime(v: Any) -> Any:
            if v is None or (type(v) is dt.datetime and v.tzinfo is dt.UTC and not v.fold):
                return v
            read = convert(v)
            # A driver's datetime is made afresh (fold 0); psycopg sends an
            # aware one as it is, and decoding one in UTC keeps it.
            return read.replace(fold=0) if read.fold else read

        return None, as_read_datetime
    return (base.cls if base.kind is Kind.ENUM else _AS_READ.get(base.kind)), convert


def _json_as_read(convert: Convert) -> Convert:
    """``convert`` of a JSON document, with a shortcut for a flat one.

    JSON a write does not read back is stored as its text and read with
    ``json.loads`` (SQLite, MariaDB): a flat object of text keys, or a flat
    array, of text, numbers, booleans and nulls reads back as an equal copy
    (floats print exactly; NaN was refused when sent), without the text.
    """

    def as_read_json(v: Any) -> Any:
        if v is None:
            return v
        # The classes are tested in C (a set's ``issuperset`` of a ``map``).
        if type(v) is dict:
            if _TEXT_ONLY.issuperset(map(type, v)) and _FLAT_JSON.issuperset(map(type, v.values())):
                return dict(v)
        elif type(v) is list and _FLAT_JSON.issuperset(map(type, v)):
            return list(v)
        return convert(v)

    return as_read_json


_FLAT_JSON = frozenset({str, int, float, bool, type(None)})
_TEXT_ONLY = frozenset({str})


def _reads_back(t: DbType[Any], kinds: frozenset[Kind]) -> bool:
    if t.kind in kinds:
        return True
    if t.kind is Kind.OPTIONAL or t.kind is Kind.ARRAY:
        assert t.item is not None
        return _reads_back(t.item, kinds)
    return False


def column_decoder(t: DbType[Any], codecs: Codecs) -> ColumnConvert | None:
    """A function converting a whole result column of ``t``; None if the driver's values are final.

    Why: converting value by value costs a Python call per value, and a row
    with one such column would take every other column off the fast path
    with it. A column is converted in one pass instead, by the driver's
    column conversion where it has one (``Codecs.decode_column``, mostly a
    ``map`` of a C function), else by ``map`` of the value decoder. The
    function raises on any value it cannot take (a NULL where ``t`` is not
    optional included): the caller then decodes row by row for the error.
    """
    optional = t.kind is Kind.OPTIONAL
    base = t.item if optional and t.item is not None else t
    each = decoder(base, codecs)
    if each is None:
        return None
    # A document of a declared type (an embedded record) is loaded past the
    # driver's parse: the value decoder does both.
    build = codecs.decode_column.get(base.kind) if base.item is None else None
    convert: ColumnConvert = (
        build(base, codecs) if build else lambda column: list(map(each, column))
    )
    if not optional:

        def convert_column(column: Sequence[Any]) -> Sequence[Any]:
            if None in column:
                raise DecodeError(f"got NULL for non-optional {t!r}")
            return convert(column)

        return convert_column

    def convert_optional(column: Sequence[Any]) -> Sequence[Any]:
        if None not in column:
            return convert(column)
        present = [i for i, v in enumerate(column) if v is not None]
        values = convert([column[i] for i in present])
        out: list[Any] = [None] * len(column)
        for i, v in zip(present, values, strict=True):
            out[i] = v
        return out

    return convert_optional


RowDecoders = tuple[Callable[[tuple[Any, ...]], Any], Callable[[list[tuple[Any, ...]]], list[Any]]]
# What decoded rows become (records, ...): given the rows as they are decoded.
RowsBuilder = Callable[[Iterable[tuple[Any, ...]]], list[Any]]

# A long result is decoded column by column in slices of this many rows, so
# that its transposed and converted columns are never held whole beside the
# driver's rows (a slice's columns take about 100 KiB).
SLICE = 1000


# The Python class a driver must hand over for a kind it does not convert.
PY_CLASS: dict[Kind, type[Any]] = {
    Kind.BOOL: bool,
    Kind.INT: int,
    Kind.FLOAT: float,
    Kind.DECIMAL: Decimal,
    Kind.STR: str,
    Kind.BYTES: bytes,
    Kind.DATE: dt.date,
    Kind.DATETIME: dt.datetime,
    Kind.TIME: dt.time,
    Kind.TIMEDELTA: dt.timedelta,
    Kind.UUID: uuid.UUID,
}

# Per kind, the base class's own conversion: a value of a subclass as a
# value of exactly the class a read gives (the subclass's __str__ or __int__
# may say otherwise; the stored value is the base class's).
_EXACT: dict[Kind, Convert] = {
    Kind.STR: str.__str__,
    Kind.INT: int.__int__,
    Kind.FLOAT: float.__float__,
}

# Per kind, the class a read gives, where a value of that class reads back
# as itself (``written``). Not datetime (it also needs UTC) nor time (its
# ``fold`` is not stored).
_AS_READ: dict[Kind, type[Any]] = {
    k: cls for k, cls in PY_CLASS.items() if k not in (Kind.DATETIME, Kind.TIME)
}


def row_decoder(t: DbType[Any], codecs: Codecs, build: RowsBuilder | None = None) -> RowDecoders:
    """Functions building result values of type ``t``: from one driver row, and from a list.

    Columns the driver already gives as Python values are checked by class,
    so ``sum(bigint)`` (a PostgreSQL ``numeric``, hence a Decimal) read as
    ``int`` is a DecodeError rather than a silent type lie. Where a column has
    one type per result (``Codecs.uniform_columns``), a list is checked by
    class on its first row and for NULLs on every row; otherwise (or when
    there are NULLs) column by column.

    Options: ``build`` turns the decoded rows of a tuple type ``t`` into the
    list's results (a statement's records): it gets them as they are
    decoded, so a list of converted rows is never held beside the driver's
    (for 100,000 rows about 14 MiB less at the peak).
    """
    columns = t.fields if t.kind in (Kind.TUPLE, Kind.RECORD) else (t,)
    convs = [decoder(c, codecs) for c in columns]
    width = len(columns)
    steps = [(i, c) for i, c in enumerate(convs) if c is not None]
    direct = [i for i, c in enumerate(convs) if c is None]
    expected = _direct_classes(columns, codecs)
    nullable = [columns[i].kind is Kind.OPTIONAL for i in direct]
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    if len(direct) == width:
        pick = _same
    elif len(direct) == 1:
        only = direct[0]
        pick = lambda row: (row[only],)  # noqa: E731
    elif direct:
        pick = itemgetter(*direct)
    else:
        pick = lambda row: ()  # noqa: E731

    def check_width(row: tuple[Any, ...]) -> None:
        if len(row) != width:
            raise DecodeError(f"expected {width} columns for {t!r}, the query returned {len(row)}")

    def check_classes(row: tuple[Any, ...]) -> None:
        """Raise for the first direct column whose value is NULL or of another class."""
        for i, cls, may_be_null in zip(direct, expected, nullable, strict=True):
            value = row[i]
            if value is None:
                if not may_be_null:
                    raise DecodeError(f"column {i} is NULL but {columns[i]!r} is not optional")
            elif cls is not object and type(value) is not cls:
                raise DecodeError(
                    f"column {i} is declared {columns[i]!r} but the database returned "
                    f"{type(value).__name__}; cast it in the SQL "
                    "(e.g. sum(x)::bigint) or declare the matching type"
                )

    def checked(row: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(row) != width:
            check_width(row)
        if tuple(map(type, pick(row))) != expected:
            check_classes(row)
        if not steps:
            return row
        values = list(row)
        for i, c in steps:
            values[i] = c(values[i])
        return tuple(values)

    convert = _fast_convert(columns, expected, codecs, checked)

    one: Callable[[tuple[Any, ...]], Any]
    if t.kind is Kind.RECORD:
        cls = _record_builder(t)
        one = lambda row: cls(*convert(row))  # noqa: E731
    elif t.kind is Kind.TUPLE:
        one = convert
    else:
        one = lambda row: convert(row)[0]  # noqa: E731

    # When no column needs converting, a list of rows is checked in bulk and
    # the driver's rows are kept. Where every value of a column has one class
    # (PostgreSQL), a first row without NULLs proves each column's class, and
    # one C-level test per row then looks for NULLs. Otherwise (SQLite, or
    # NULLs met) the rows are checked column by column: a transposition and a
    # set of classes per column run in C and cost about half of a class test
    # per row.
    uniform = codecs.uniform_columns
    allowed = [
        frozenset({cls, type(None)} if may_be_null else {cls}) if cls is not object else None
        for cls, may_be_null in zip(expected, nullable, strict=True)
    ]
    # Columns of no known class that must not be NULL (JSON, ...).
    unchecked = [i for i, ok in enumerate(allowed) if ok is None and not nullable[i]]

    def check_rows(rows: list[tuple[Any, ...]]) -> None:
        convert(rows[0])
        if len(rows) == 1:
            return
        if uniform and None not in rows[0]:
            for row in rows:
                if None in row:
                    break
            else:
                return
        columns = list(zip(*rows, strict=True))
        if all(
            ok is None or ok.issuperset(map(type, column))
            for ok, column in zip(allowed, columns, strict=True)
        ) and not any(None in columns[i] for i in unchecked):
            return
        for row in rows:
            check_classes(row)

    # ``finish`` makes the results of rows in a list (kept as they are when
    # they are the results), ``results`` of rows as they are decoded, and
    # ``each_row`` of what ``one`` made of each row.
    finish: Callable[[list[tuple[Any, ...]]], list[Any]]
    results: RowsBuilder
    each_row: RowsBuilder = list
    if t.kind is Kind.TUPLE:
        finish, results = (build, build) if build is not None else (_same_rows, list)
        each_row = results
    elif t.kind is Kind.RECORD:
        record = _record_builder(t)
        finish = results = lambda rows: [record(*row) for row in rows]
    else:
        finish = results = lambda rows: [row[0] for row in rows]

    # Columns that need converting are converted a column at a time (see
    # ``column_decoder``); the others are checked by class, as above.
    by_column = [(i, column_decoder(columns[i], codecs)) for i, _ in steps]
    checks = [
        (i, ok, ok is None and not nullable[j])
        for j, (i, ok) in enumerate(zip(direct, allowed, strict=True))
    ]

    def by_columns(rows: list[tuple[Any, ...]]) -> list[Any] | None:
        """The results, decoded column by column; None when some value needs a closer look."""
        if len(rows[0]) != width:
            return None
        if len(rows) <= SLICE:
            return by_columns_of(rows)
        out: list[Any] = []
        for start in range(0, len(rows), SLICE):
            done = by_columns_of(rows[start : start + SLICE])
            if done is None:
                return None
            out += done
        return out

    def by_columns_of(rows: list[tuple[Any, ...]]) -> list[Any] | None:
        values: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for i, ok, not_null in checks:
            if not_null and None in values[i]:
                return None
            if ok is not None and not ok.issuperset(map(type, values[i])):
                return None
        changed = False
        try:
            for i, convert_column in by_column:
                assert convert_column is not None
                column = values[i]
                converted = convert_column(column)
                if converted is not column:
                    values[i] = converted
                    changed = True
        except Exception:  # the row-by-row path raises the DecodeError
            return None
        return results(zip(*values, strict=True)) if changed else finish(rows)

    def many(rows: list[tuple[Any, ...]]) -> list[Any]:
        if not rows:
            return []
        if steps:
            if len(rows) > 1:
                done = by_columns(rows)
                if done is not None:
                    return done
            return each_row(map(one, rows))
        check_rows(rows)
        return finish(rows)

    return one, many


def _fast_convert(
    columns: Sequence[DbType[Any]],
    expected: tuple[type[Any], ...],
    codecs: Codecs,
    checked: Callable[[tuple[Any, ...]], tuple[Any, ...]],
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """``checked`` for one row, without a Python call per check: generated for ``columns``.

    Why: a ``get`` decodes one row, where the column passes do not pay off;
    calling a checking wrapper per converted value cost more than the
    conversions. The generated function unpacks the row, tests each plain
    column's class and calls each conversion directly; any surprise (a
    width, a class, a NULL, a conversion raising) hands the row to
    ``checked``, which raises the DecodeError it always did.
    """
    if not any(_conversion(c.item or c, codecs) for c in columns):
        return checked
    namespace, unpack, test, values = _fast_parts(columns, expected, codecs)
    namespace["checked"] = checked
    source = f"""\
def convert(row):
    try:
        {unpack} = row
        if not ({test}):
            return ({", ".join(values)},)
    except Exception:
        pass
    return checked(row)
"""
    exec(compile(source, "<repodb row decoder>", "exec"), namespace)
    fast: Callable[[tuple[Any, ...]], tuple[Any, ...]] = namespace["convert"]
    return fast


def one_record_decoder(
    t: DbType[Any],
    codecs: Codecs,
    fill: RecordFill,
    decode: Callable[[list[tuple[Any, ...]]], list[Any]],
) -> Callable[[list[tuple[Any, ...]]], list[Any]]:
    """``decode`` (rows to records), a single row taking a path generated for ``t`` and ``fill``.

    Why: a ``get`` reads one row; decoding it into a tuple and building the
    record from that tuple (two generated functions, a tuple and a list
    between them) cost more than the raw driver's conversions and slotted
    object. The generated function unpacks the row, tests its plain
    columns' classes, converts the others with direct calls (as
    ``_fast_convert`` does) and stores each value straight into the new
    record's ``__dict__`` (as ``RecordFill`` describes). Any surprise (a
    width, a class, a NULL, a conversion raising), and any other number of
    rows, goes to ``decode``, which raises the DecodeError it always did.
    """
    columns = t.fields
    namespace, unpack, test, values = _fast_parts(columns, _direct_classes(columns, codecs), codecs)
    namespace.update(fill.constants, new=object.__new__, cls=fill.cls, decode=decode)
    lines = "".join(f"\n                {line}" for line in fill.lines(values.__getitem__))
    source = f"""\
def decode_one(rows):
    if len(rows) == 1:
        try:
            {unpack} = rows[0]
            if not ({test}):{lines}
                return [r]
        except Exception:
            pass
    return decode(rows)
"""
    exec(compile(source, "<repodb record decoder>", "exec"), namespace)
    fast: Callable[[list[tuple[Any, ...]]], list[Any]] = namespace["decode_one"]
    return fast


def _direct_classes(columns: Sequence[DbType[Any]], codecs: Codecs) -> tuple[type[Any], ...]:
    """The class a driver must hand over, per column it gives as is (``object``: any)."""
    return tuple(
        PY_CLASS.get((c.item or c).kind, object) for c in columns if decoder(c, codecs) is None
    )


def _fast_parts(
    columns: Sequence[DbType[Any]], expected: tuple[type[Any], ...], codecs: Codecs
) -> tuple[dict[str, Any], str, str, list[str]]:
    """The pieces of generated code decoding a row of ``columns`` without checking calls.

    Returns the namespace the code needs, the row's unpacking target
    (``c0, c1,``), the test that is true when some value needs the checking
    path, and per column the expression of its decoded value. Only
    generated names reach the source (``c0``, ``k0``, ``f0``, ...): the
    classes and conversions are bound in the namespace.
    """
    names = [f"c{i}" for i in range(len(columns))]
    namespace: dict[str, Any] = {}
    tests: list[str] = []
    values: list[str] = []
    classes = iter(expected)
    for i, column in enumerate(columns):
        name = names[i]
        optional = column.kind is Kind.OPTIONAL
        base = column.item if optional and column.item is not None else column
        convert = _conversion(base, codecs)
        if convert is None:
            cls = next(classes)
            namespace[f"k{i}"] = cls
            if cls is object:
                if not optional:
                    tests.append(f"{name} is None")
            elif optional:
                tests.append(f"({name} is not None and type({name}) is not k{i})")
            else:
                tests.append(f"type({name}) is not k{i}")
            values.append(name)
            continue
        namespace[f"f{i}"] = convert
        call = f"f{i}({name})"
        exact = codecs.decode_exact.get(base.kind) if base.item is None else None
        if exact is not None:
            namespace[f"t{i}"], namespace[f"e{i}"] = exact
            call = f"(e{i}({name}) if type({name}) is t{i} else {call})"
        if optional:
            values.append(f"None if {name} is None else {call}")
        else:
            tests.append(f"{name} is None")
            values.append(call)
    unpack = ", ".join(names) + ","
    return namespace, unpack, " or ".join(tests) or "False", values


def _same(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row


def _same_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return rows


def _record_builder(t: DbType[Any]) -> Callable[..., Any]:
    """The record class, or a wrapper passing keywords to a ``kw_only`` dataclass."""
    cls = t.cls
    assert cls is not None
    if not dataclasses.is_dataclass(cls) or not any(
        f.kw_only for f in dataclasses.fields(cls) if f.init
    ):
        return cls
    names = t.names

    def build(*values: Any) -> Any:
        return cls(**dict(zip(names, values, strict=True)))

    return build


# Conversions shared by the drivers' tables.


def as_isoformat(t: DbType[Any], c: Codecs) -> Convert:
    return lambda v: v.isoformat()


def enum_by_name(t: DbType[Any], c: Codecs) -> Convert:
    return lambda v: v.name


def enum_from_name(t: DbType[Any], c: Codecs) -> Convert:
    cls = t.cls
    assert cls is not None

    def decode(v: object) -> object:
        if isinstance(v, cls):
            return v
        try:
            return cls[v]
        except KeyError:
            raise DecodeError(f"{v!r} is not a member name of {cls.__name__}") from None

    return decode


def reject_nan(t: DbType[Any], c: Codecs) -> Convert:
    def encode(v: float) -> float:
        if math.isnan(v):
            raise EncodeError("NaN cannot be stored in this database (SQLite turns it into NULL)")
        return v

    return encode


def timedelta_micros(t: DbType[Any], c: Codecs) -> Convert:
    """A timedelta as 64-bit microseconds: where the database has no interval type."""

    def encode(v: dt.timedelta) -> int:
        micros = (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds
        if not INT64_MIN <= micros <= INT64_MAX:
            raise EncodeError(
                f"timedelta too large for {c.name} (about +/- 292,000 years as microseconds)"
            )
        return micros

    return encode


def bool_from_int(t: DbType[Any], c: Codecs) -> Convert:
    """A boolean stored as 0 or 1: where the database has no boolean type."""

    def decode(v: object) -> bool:
        if v == 1:
            return True
        if v == 0:
            return False
        raise ValueError("not 0 or 1")

    return decode


def json_array_decoder(load: Convert) -> Builder:
    """An array kept as JSON text, read by ``load``, each item decoded as its type."""

    def build(t: DbType[Any], c: Codecs) -> Convert:
        assert t.item is not None
        item = decoder(t.item, c)

        def decode(v: object) -> list[Any]:
            values = load(v)
            if not isinstance(values, list):
                raise ValueError("not a JSON array")
            return [item(x) for x in values] if item else values

        return decode

    return build


# One encoder for every document: ``json.dumps`` with options builds a new
# one per call, which costs as much as encoding a small document.
_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def _c_json() -> Callable[[object], str] | None:
    """``_JSON.encode`` without its two Python calls and its C encoder built per call.

    Why: ``JSONEncoder.encode`` builds json's C encoder for each document;
    this one is built once. It shares one dict of the containers being
    encoded (for cycles) between calls, which may leave entries behind after
    a failure or see another thread's: any exception sends the document to
    ``_JSON.encode``, so a success is always the same text and a failure the
    same error (a failure clears the dict). None where json has no C encoder
    or its arguments differ (checked on a sample document).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    markers: dict[int, object] = {}
    try:
        encode = make(
            markers, _JSON.default, json.encoder.encode_basestring_ascii, None, ":", ",",
            False, False, False,
        )  # fmt: skip
        sample = {"a": [1, 2.5, None, True, "\u00e9"], "b": {"c": -0.0}}
        if "".join(encode(sample, 0)) != _JSON.encode(sample):
            return None
    except Exception:  # another signature: json's own path
        return None
    join = "".join

    def encode_fast(value: object) -> str:
        try:
            return join(encode(value, 0))
        except BaseException:
            markers.clear()  # what the failed document left behind
            raise

    return encode_fast


_C_JSON = _c_json()


def json_text(value: object) -> str:
    """The compact JSON text of a document; ``EncodeError`` for what no database stores.

    Refused: values JSON has no form for (NaN, a set, any object), a
    document nested deeper than Python's recursion limit or containing
    itself, and a string holding a lone surrogate (not Unicode text).
    """
    text = None
    if _C_JSON is not None and (type(value) is dict or type(value) is list):
        with contextlib.suppress(Exception):  # json's own path below gives the error
            text = _C_JSON(value)
    try:
        if text is None:
            text = _JSON.encode(value)
    except RecursionError:
        raise EncodeError("not valid JSON: nested too deeply") from None
    except (TypeError, ValueError) as e:
        raise EncodeError(f"not valid JSON: {e}") from None
    if "\\ud" in text:
        # The ASCII text escapes every character past U+FFFF as a surrogate
        # pair and a lone surrogate as one escape; only then look closer.
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise EncodeError("not valid JSON: a string holds a lone surrogate") from None
    return text
