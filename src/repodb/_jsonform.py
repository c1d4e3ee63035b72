"""Typed values inside JSON documents (embedded records), and back.

Why: an embedded record is stored as one JSON object, but its fields are
declared with repodb types (a date, a Decimal, a nested record, a list of
them). Each type has one JSON form here, so a record is written with the
declared types and read back into them, the same way on every database:

- bool, int, float, str, JSON: themselves (a float must be finite);
- Decimal, UUID: their text (``"1.50"`` keeps its digits);
- bytes: base64 text;
- date, time: ISO 8601 text; datetime: ISO 8601 text in UTC;
- timedelta: an integer count of microseconds (exact, as on SQLite);
- Enum: the member's name (as in a column);
- a record: an object keyed by field name; a list: an array; None: null.

Values are checked as a column's are (``EncodeError``); a JSON value that
does not fit the declared type is a ``DecodeError``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import _codec
from .errors import DecodeError, EncodeError
from .types import DbType, Kind

__all__ = ["dumper", "loader"]

Convert = Callable[[Any], Any]


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise EncodeError("a float inside JSON must be finite (JSON has no NaN or infinities)")
    return v


def _utc_text(v: dt.datetime) -> str:
    return _codec.utc(v).isoformat()


def _micros(v: dt.timedelta) -> int:
    return (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds


def _plain(convert: Convert) -> _codec.Builder:
    return lambda t, c: convert


_TO_JSON = _codec.Codecs(
    name="json",
    encode={
        Kind.FLOAT: _plain(_finite),
        Kind.DECIMAL: _plain(str),
        Kind.BYTES: _plain(lambda v: base64.b64encode(v).decode("ascii")),
        Kind.DATE: _codec.as_isoformat,
        Kind.DATETIME: _plain(_utc_text),
        Kind.TIME: _codec.as_isoformat,
        Kind.TIMEDELTA: _plain(_micros),
        Kind.UUID: _plain(str),
        Kind.ENUM: _codec.enum_by_name,
    },
    decode={},
)


@functools.cache
def dumper(t: DbType[Any]) -> Convert:
    """A value of ``t`` to its JSON form, checked (``EncodeError`` if it does not fit)."""
    if t.kind is Kind.OPTIONAL:
        assert t.item is not None
        inner = dumper(t.item)
        return lambda v: None if v is None else inner(v)
    if t.kind is Kind.ARRAY:
        assert t.item is not None
        item = dumper(t.item)

        def dump_list(v: object) -> list[Any]:
            if not isinstance(v, (list, tuple)):
                raise EncodeError(f"expected a list for {t!r}, got {type(v).__name__}")
            return [item(x) for x in v]

        return dump_list
    if t.kind is Kind.RECORD:
        return _record_dumper(t)
    return _codec.encoder(t, _TO_JSON)


def _record_dumper(t: DbType[Any]) -> Convert:
    cls = t.cls
    assert cls is not None
    fields = [(name, dumper(f)) for name, f in zip(t.names, t.fields, strict=True)]

    def dump(v: object) -> dict[str, Any]:
        if not isinstance(v, cls):
            raise EncodeError(f"expected {cls.__name__}, got {type(v).__name__}")
        out = {}
        for name, dump_field in fields:
            try:
                out[name] = dump_field(getattr(v, name))
            except EncodeError as e:
                raise EncodeError(f"{cls.__name__}.{name}: {e.message}") from None
        return out

    return dump


class _Mismatch(TypeError):
    """A JSON value of another class than the type's JSON form."""


def _expect(cls: type[Any] | tuple[type[Any], ...], then: Convert) -> Convert:
    """``then`` of a JSON value of class ``cls``; ``_Mismatch`` for any other."""

    def load(v: object) -> object:
        # JSON's true is a Python bool, which is an int: only bool takes it.
        if not isinstance(v, cls) or isinstance(v, bool) is not (cls is bool):
            raise _Mismatch(f"got JSON {type(v).__name__}")
        return then(v)

    return load


def _decimal(v: str | int | float) -> Decimal:
    # A float written by another program is read by its shortest repr: 0.1 -> "0.1".
    return Decimal(repr(v) if isinstance(v, float) else v)


def _utc(v: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(v)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _same(v: object) -> object:
    return v


_FROM_JSON: dict[Kind, Convert] = {
    Kind.BOOL: _expect(bool, _same),
    Kind.INT: _expect(int, _same),
    Kind.FLOAT: _expect((int, float), float),
    Kind.DECIMAL: _expect((str, int, float), _decimal),
    Kind.STR: _expect(str, _same),
    Kind.BYTES: _expect(str, lambda v: base64.b64decode(v, validate=True)),
    Kind.DATE: _expect(str, dt.date.fromisoformat),
    Kind.DATETIME: _expect(str, _utc),
    Kind.TIME: _expect(str, dt.time.fromisoformat),
    Kind.TIMEDELTA: _expect(int, lambda v: dt.timedelta(microseconds=v)),
    Kind.UUID: _expect(str, uuid.UUID),
    Kind.JSON: _expect((dict, list), _same),
}


@functools.cache
def loader(t: DbType[Any]) -> Convert:
    """A JSON value to a value of ``t`` (``DecodeError`` if it does not fit)."""
    if t.kind is Kind.OPTIONAL:
        assert t.item is not None
        inner = loader(t.item)
        return lambda v: None if v is None else inner(v)
    convert: Convert
    if t.kind is Kind.ARRAY:
        assert t.item is not None
        convert = _expect(list, functools.partial(_load_list, loader(t.item)))
    elif t.kind is Kind.RECORD:
        convert = _record_loader(t)
    elif t.kind is Kind.ENUM:
        convert = _expect(str, _codec.enum_from_name(t, _TO_JSON))
    else:
        convert = _FROM_JSON[t.kind]

    def load(v: object) -> object:
        if v is None:
            raise DecodeError(f"got null for non-optional {t!r}")
        try:
            return convert(v)
        except DecodeError:
            raise
        except (ValueError, TypeError, ArithmeticError) as e:
            # binascii.Error (bad base64) is a ValueError.
            raise DecodeError(f"cannot read {t!r} from JSON: {e}") from None

    return load


def _load_list(item: Convert, values: list[Any]) -> list[Any]:
    return [item(v) for v in values]


def _record_loader(t: DbType[Any]) -> Convert:
    cls = t.cls
    assert cls is not None
    fields = [(name, loader(f)) for name, f in zip(t.names, t.fields, strict=True)]

    def load(v: object) -> object:
        if not isinstance(v, dict):
            raise _Mismatch(f"got JSON {type(v).__name__}, not an object")
        values = {}
        # Keys the record does not declare are ignored; a missing one takes
        # the field's default (the constructor says when there is none).
        for name, load_field in fields:
            if name in v:
                try:
                    values[name] = load_field(v[name])
                except DecodeError as e:
                    raise DecodeError(f"{cls.__name__}.{name}: {e.message}") from None
        try:
            return cls(**values)
        except TypeError as e:
            raise DecodeError(f"cannot build {cls.__name__} from its JSON object: {e}") from None

    return load
