"""Casting external input to a field's Python type, for changesets.

Why: a changeset's params come from outside (strings from an HTML form,
values decoded from JSON), and every field wants its own Python type. The
rules live here, one function per kind of field, so ``changeset.py`` only
decides what to cast and what to do with the result. A value that cannot be
converted yields ``INVALID``; nothing here raises on bad input.

Also here: the table of a record class's fields as changesets see them
(stored and virtual fields, embeds, redaction) and ``blank``, an instance
with every field at its default or ``None`` to cast new records onto.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, TypeVar

from ._codec import json_text
from .schema import (
    Embedded,
    Schema,
    embedded_type,
    field_annotations,
    field_options,
    schema_info,
)
from .types import DbType, Kind, to_dbtype

__all__ = ["INVALID", "RecordField", "blank", "cast_value", "record_fields"]

R = TypeVar("R", bound="Schema | Embedded")

INVALID: Final[Any] = object()

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
# Python's own str(timedelta) ("-1 day, 23:00:00") and clock time ("-01:30", "12:00:05.25").
_CLOCK = re.compile(
    r"(?:(?P<days>[+-]?[0-9]+) days?, )?(?P<sign>[+-])?"
    r"(?P<h>[0-9]+):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9](?:\.[0-9]{1,6})?))?",
    re.ASCII,
)
# ISO 8601 durations: "P1DT2H", "PT90M", "P2W", "-PT0.5S".
_ISO_DURATION = re.compile(
    r"(?P<sign>[+-])?P(?:(?P<w>[0-9]+)W)?(?:(?P<d>[0-9]+)D)?"
    r"(?:T(?:(?P<h>[0-9]+)H)?(?:(?P<m>[0-9]+)M)?(?:(?P<s>[0-9]+(?:\.[0-9]+)?)S)?)?",
    re.ASCII,
)
_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no"})


class _Invalid(ValueError):
    """Raised inside this module when a value does not convert."""


def cast_value(t: DbType[Any], value: object) -> Any:
    """``value`` converted to ``t``'s Python type, or ``INVALID``.

    ``None`` always casts to ``None`` (``validate_required`` decides whether
    it is allowed), as in Ecto.
    """
    if value is None:
        return None
    if t.kind is Kind.OPTIONAL:
        assert t.item is not None
        t = t.item
    try:
        return _cast(t, value)
    except (ValueError, TypeError, ArithmeticError, RecursionError):
        # ValueError covers _Invalid and bad ISO text, UUIDs, JSON and UTF-8
        # (lone surrogates); TypeError a JSON document no database stores
        # (EncodeError); ArithmeticError covers Decimal's InvalidOperation and
        # datetime and timedelta overflows; RecursionError deeply nested JSON
        # text.
        return INVALID


def _cast(t: DbType[Any], value: object) -> Any:
    if t.kind is Kind.ARRAY:
        assert t.item is not None
        if not isinstance(value, list | tuple):
            raise _Invalid
        items = [cast_value(t.item, v) for v in value]
        if any(i is INVALID for i in items):
            raise _Invalid
        if t.item.kind is not Kind.OPTIONAL and any(i is None for i in items):
            raise _Invalid
        return items
    if t.kind is Kind.ENUM:
        assert t.cls is not None
        return _enum(t.cls, value)
    caster = _CASTERS.get(t.kind)
    if caster is None:
        raise _Invalid
    return caster(value)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid
    return value.strip()


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Invalid


def _int(value: object) -> int:
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, int):
        number = value
    elif isinstance(value, float | Decimal):
        # JSON has one number type: 3.0 is the integer 3, 3.5 is not an integer.
        # The bound comes first: int(Decimal("1e999999999")) would take ages.
        # NaN and infinities raise, which cast_value reports as invalid.
        if not _INT_MIN <= value <= _INT_MAX:
            raise _Invalid
        number = int(value)
        if number != value:
            raise _Invalid
    else:
        text = _text(value)
        if not _INT.fullmatch(text):
            raise _Invalid
        number = int(text)
    if not _INT_MIN <= number <= _INT_MAX:
        raise _Invalid
    return number


def _float(value: object) -> float:
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, int | float | Decimal):
        number = float(value)
    else:
        text = _text(value)
        if not _NUMBER.fullmatch(text):
            raise _Invalid
        number = float(text)
    if not math.isfinite(number):
        raise _Invalid
    return number


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # repr gives the shortest text that round-trips: 0.1 -> Decimal("0.1").
        number = Decimal(repr(value))
    else:
        text = _text(value)
        if not _NUMBER.fullmatch(text):
            raise _Invalid
        number = Decimal(text)
    if not number.is_finite():
        raise _Invalid
    return number


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; form input never means it (Django
        # refuses it too), so an application behaves alike on every database.
        raise _Invalid
    if not value.isascii():
        # A lone surrogate ("\ud800") is no Unicode text: no database takes
        # it, and encoding says so (UnicodeEncodeError is a ValueError).
        value.encode("utf-8")
    return value


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise _Invalid


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        raise _Invalid
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(_text(value))


def _datetime(value: object) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromisoformat(_text(value))
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _time(value: object) -> dt.time:
    if not isinstance(value, dt.time):
        value = dt.time.fromisoformat(_text(value))
    if value.tzinfo is not None:
        # Times are stored without a zone; an offset cannot be kept honestly.
        raise _Invalid
    return value


def _timedelta(value: object) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, int | float | Decimal):
        return _seconds(float(value))
    text = _text(value)
    if _NUMBER.fullmatch(text):
        return _seconds(float(text))
    clock = _CLOCK.fullmatch(text)
    if clock:
        parts = clock.groupdict()
        span = dt.timedelta(
            hours=int(parts["h"]), minutes=int(parts["m"]), seconds=float(parts["s"] or 0)
        )
        span = -span if parts["sign"] == "-" else span
        return dt.timedelta(days=int(parts["days"] or 0)) + span
    iso = _ISO_DURATION.fullmatch(text)
    if iso and any(iso[unit] for unit in ("w", "d", "h", "m", "s")) and not text.endswith("T"):
        p = iso.groupdict()
        span = dt.timedelta(
            weeks=int(p["w"] or 0),
            days=int(p["d"] or 0),
            hours=int(p["h"] or 0),
            minutes=int(p["m"] or 0),
            seconds=float(p["s"] or 0),
        )
        return -span if p["sign"] == "-" else span
    raise _Invalid


def _seconds(seconds: float) -> dt.timedelta:
    if not math.isfinite(seconds):
        raise _Invalid
    return dt.timedelta(seconds=seconds)


def _uuid(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(_text(value))


def _json(value: object) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value, parse_constant=_reject_constant)
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _Invalid
    document = dict(value)
    # What the database would refuse is invalid here: values JSON has no
    # form for, a document nested too deeply or containing itself, and
    # text that is not Unicode (EncodeError is a TypeError).
    json_text(document)
    return document


def _reject_constant(name: str) -> Any:
    raise _Invalid(f"{name} is not JSON")


def _enum(cls: type[enum.Enum], value: object) -> enum.Enum:
    """A member by value, by name, or by its value's text (``"2"`` from a form)."""
    if isinstance(value, cls):
        return value
    members = list(cls)
    for member in members:
        # bool is an int in Python, not in JSON: True must not find the value 1.
        same_kind = isinstance(member.value, bool) == isinstance(value, bool)
        if same_kind and type(member.value) is type(value) and member.value == value:
            return member
    if isinstance(value, str):
        by_name = cls.__members__.get(value)
        if by_name is not None:
            return by_name
        for member in members:
            if not isinstance(member.value, str) and str(member.value) == value:
                return member
    raise _Invalid


_CASTERS: dict[Kind, Callable[[object], Any]] = {
    Kind.BOOL: _bool,
    Kind.INT: _int,
    Kind.FLOAT: _float,
    Kind.DECIMAL: _decimal,
    Kind.STR: _str,
    Kind.BYTES: _bytes,
    Kind.DATE: _date,
    Kind.DATETIME: _datetime,
    Kind.TIME: _time,
    Kind.TIMEDELTA: _timedelta,
    Kind.UUID: _uuid,
    Kind.JSON: _json,
}


@dataclasses.dataclass(frozen=True)
class RecordField:
    """A field of a schema or embedded record, as changesets see it.

    ``dbtype`` is None for an embedded record field (cast with ``cast_embed``)
    and for a virtual field whose type repodb cannot cast.
    """

    name: str
    dbtype: DbType[Any] | None
    redact: bool = False
    primary_key: bool = False
    timestamp: str | None = None
    embed: type[Embedded] | None = None
    embed_many: bool = False

    @property
    def type_name(self) -> str:
        """The field's type for error options: ``int``, ``array(str)``, ``Role``."""
        t = self.dbtype
        if t is not None and t.kind is Kind.OPTIONAL:
            t = t.item
        return repr(t)


_FIELDS: dict[type[Any], Mapping[str, RecordField]] = {}


def record_fields(cls: type[Any]) -> Mapping[str, RecordField]:
    """Every field of a record class by name: stored, virtual and embedded (computed once)."""
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = MappingProxyType(_build_fields(cls))
    return found


def _build_fields(cls: type[Any]) -> dict[str, RecordField]:
    stored = {f.name: f for f in schema_info(cls).fields} if issubclass(cls, Schema) else {}
    hints: dict[str, Any] | None = None
    out: dict[str, RecordField] = {}
    for f in dataclasses.fields(cls):
        info = stored.get(f.name)
        if info is not None:
            dbtype = None if info.embed is not None else info.dbtype
            out[f.name] = RecordField(
                f.name,
                dbtype,
                info.redact,
                info.primary_key,
                info.timestamp,
                info.embed,
                info.embed_many,
            )
            continue
        # A virtual field of a schema, or any field of an embedded record.
        if hints is None:
            hints = field_annotations(cls)
        annotation = hints[f.name]
        opts = field_options(f)
        embed, many = embedded_type(annotation)
        out[f.name] = RecordField(
            f.name,
            None if embed is not None else _dbtype_or_none(annotation),
            opts.redact,
            opts.primary_key,
            opts.timestamp,
            embed,
            many,
        )
    return out


def _dbtype_or_none(annotation: Any) -> DbType[Any] | None:
    try:
        return to_dbtype(annotation)
    except (TypeError, ValueError):
        return None


def blank(cls: type[R]) -> R:
    """An instance with each field at its default, or ``None`` when it has none.

    Ecto's ``%User{}``: new records are cast onto it, so a required field that
    the params leave out is ``None`` until ``validate_required`` reports it.
    """
    record = object.__new__(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            value = None
        object.__setattr__(record, f.name, value)
    return record
