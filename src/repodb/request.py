"""Typed SQL requests: SQL text with its parameter type, row type and row count.

Why: Caqti's ``int ->! string`` request type makes the row count part of the
request, so that asking for exactly one row of a many-row query is a type
error rather than a surprise in production. A ``Request[P, R, M]`` carries
the parameter type ``P``, the row type ``R`` and the multiplicity ``M``:

========================  =========  ===========================================
constructor               Caqti      runs with
========================  =========  ===========================================
``Request.exec``          ``->.``    ``exec`` (no rows)
``Request.one``           ``->!``    ``one``, ``one_or_none``, ``all``, ...
``Request.one_or_none``   ``->?``    ``one_or_none``, ``all``, ``stream``, ``fold``
``Request.many``          ``->*``    ``all``, ``stream``, ``fold``
========================  =========  ===========================================

SQL is a ``LiteralString`` (values are always bound, never pasted in) with
``?`` markers in order or numbered ``$1..$n`` markers, which may repeat or
come in any order; each driver renders its own style (SQLite gets a bare
``?`` per marker, its values repeated and reordered to match).

Options:
    params: the parameter type: a class (``int``), a ``DbType``, ``tup(...)``
        for several, or a dataclass/NamedTuple whose fields are the
        parameters. Omit it for a request without parameters.
    row: the row type: a class for one column, ``tup(...)`` for several, or a
        dataclass/NamedTuple built from the columns in order.
    oneshot: do not prepare the statement on the server (for SQL that is
        generated once and never run again).
    read_only: the request only reads: a Repo over a router may run it on a
        replica, and runs it once more if its connection is lost.

Example::

    find_user = Request.one(
        "SELECT id, name FROM users WHERE id = ?", params=int, row=tup(int, str)
    )
    user_id, name = conn.one(find_user, 42)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Generic, LiteralString, TypeVar, overload

from . import _codec
from ._placeholders import Template, parse
from .dialect import Dialect
from .errors import EncodeError
from .types import DbType, Kind, to_dbtype

__all__ = ["Many", "One", "Request", "Zero", "ZeroOrOne"]

P = TypeVar("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
M_co = TypeVar("M_co", bound="Many", covariant=True)


class Many:
    """Multiplicity: any number of rows (Caqti's ``->*``)."""


class ZeroOrOne(Many):
    """Multiplicity: at most one row (``->?``)."""


class One(ZeroOrOne):
    """Multiplicity: exactly one row (``->!``)."""


class Zero(ZeroOrOne):
    """Multiplicity: no rows (``->.``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """A request made ready for one driver: SQL text and value converters."""

    sql: str
    encode: Callable[[Any], Sequence[Any]]
    decode: Callable[[tuple[Any, ...]], Any]
    decode_all: Callable[[list[tuple[Any, ...]]], list[Any]]
    prepare: bool


class Request(Generic[P, R_co, M_co]):
    """A typed SQL request; build one with ``exec``, ``one``, ``one_or_none`` or ``many``."""

    __slots__ = (
        "_plans",
        "_template",
        "multiplicity",
        "oneshot",
        "param_type",
        "read_only",
        "row_type",
        "sql",
    )

    sql: str
    param_type: DbType[Any] | None
    row_type: DbType[Any] | None
    multiplicity: type[Many]
    oneshot: bool
    read_only: bool
    _template: Template
    _plans: dict[str, Plan]

    def __init__(
        self,
        sql: LiteralString,
        param_type: DbType[Any] | None,
        row_type: DbType[Any] | None,
        multiplicity: type[Many],
        *,
        oneshot: bool = False,
        read_only: bool = False,
    ) -> None:
        template = parse(sql)
        width = param_type.width if param_type is not None else 0
        if template.count != width:
            raise ValueError(
                f"the SQL has {template.count} parameter(s) but the request declares {width}: {sql}"
            )
        object.__setattr__(self, "sql", sql)
        object.__setattr__(self, "param_type", param_type)
        object.__setattr__(self, "row_type", row_type)
        object.__setattr__(self, "multiplicity", multiplicity)
        object.__setattr__(self, "oneshot", oneshot)
        object.__setattr__(self, "read_only", read_only)
        object.__setattr__(self, "_template", template)
        object.__setattr__(self, "_plans", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise dataclasses.FrozenInstanceError(f"Request is immutable; cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"Request is immutable; cannot delete {name}")

    def __repr__(self) -> str:
        arrow = {Zero: "->.", One: "->!", ZeroOrOne: "->?", Many: "->*"}[self.multiplicity]
        return f"Request({self.param_type!r} {arrow} {self.row_type!r}: {self.sql!r})"

    # Constructors -------------------------------------------------------

    @overload
    @staticmethod
    def exec(sql: LiteralString, *, oneshot: bool = ...) -> Request[None, None, Zero]: ...
    @overload
    @staticmethod
    def exec(
        sql: LiteralString, *, params: type[P] | DbType[P], oneshot: bool = ...
    ) -> Request[P, None, Zero]: ...
    @staticmethod
    def exec(
        sql: LiteralString, *, params: object = None, oneshot: bool = False
    ) -> Request[Any, None, Zero]:
        """A statement returning no rows (DDL, INSERT, UPDATE, DELETE)."""
        return Request(sql, _params(params), None, Zero, oneshot=oneshot)

    @overload
    @staticmethod
    def one(
        sql: LiteralString, *, row: type[R] | DbType[R], oneshot: bool = ..., read_only: bool = ...
    ) -> Request[None, R, One]: ...
    @overload
    @staticmethod
    def one(
        sql: LiteralString,
        *,
        params: type[P] | DbType[P],
        row: type[R] | DbType[R],
        oneshot: bool = ...,
        read_only: bool = ...,
    ) -> Request[P, R, One]: ...
    @staticmethod
    def one(
        sql: LiteralString,
        *,
        params: object = None,
        row: object,
        oneshot: bool = False,
        read_only: bool = False,
    ) -> Request[Any, Any, One]:
        """A query returning exactly one row."""
        return Request(
            sql, _params(params), to_dbtype(row), One, oneshot=oneshot, read_only=read_only
        )

    @overload
    @staticmethod
    def one_or_none(
        sql: LiteralString, *, row: type[R] | DbType[R], oneshot: bool = ..., read_only: bool = ...
    ) -> Request[None, R, ZeroOrOne]: ...
    @overload
    @staticmethod
    def one_or_none(
        sql: LiteralString,
        *,
        params: type[P] | DbType[P],
        row: type[R] | DbType[R],
        oneshot: bool = ...,
        read_only: bool = ...,
    ) -> Request[P, R, ZeroOrOne]: ...
    @staticmethod
    def one_or_none(
        sql: LiteralString,
        *,
        params: object = None,
        row: object,
        oneshot: bool = False,
        read_only: bool = False,
    ) -> Request[Any, Any, ZeroOrOne]:
        """A query returning zero or one row."""
        return Request(
            sql, _params(params), to_dbtype(row), ZeroOrOne, oneshot=oneshot, read_only=read_only
        )

    @overload
    @staticmethod
    def many(
        sql: LiteralString, *, row: type[R] | DbType[R], oneshot: bool = ..., read_only: bool = ...
    ) -> Request[None, R, Many]: ...
    @overload
    @staticmethod
    def many(
        sql: LiteralString,
        *,
        params: type[P] | DbType[P],
        row: type[R] | DbType[R],
        oneshot: bool = ...,
        read_only: bool = ...,
    ) -> Request[P, R, Many]: ...
    @staticmethod
    def many(
        sql: LiteralString,
        *,
        params: object = None,
        row: object,
        oneshot: bool = False,
        read_only: bool = False,
    ) -> Request[Any, Any, Many]:
        """A query returning any number of rows."""
        return Request(
            sql, _params(params), to_dbtype(row), Many, oneshot=oneshot, read_only=read_only
        )

    # Used by connections -----------------------------------------------

    def plan(self, dialect: Dialect, codecs: _codec.Codecs) -> Plan:
        """The request rendered for one driver (cached per codec table)."""
        plan: Plan | None = self._plans.get(codecs.name)
        if plan is None:
            decode, decode_all = (
                _codec.row_decoder(self.row_type, codecs)
                if self.row_type is not None
                else (_no_row, _no_rows)
            )
            template = self._template
            numbered = dialect.numbered_placeholders
            encode = params_encoder(self.param_type, codecs)
            if not (numbered or template.binds_in_order):
                encode = _in_marker_order(encode, template.indices)
            plan = Plan(
                sql=template.render(dialect.placeholder_prefix, numbered=numbered),
                encode=encode,
                decode=decode,
                decode_all=decode_all,
                prepare=not self.oneshot,
            )
            self._plans[codecs.name] = plan
        return plan


def _params(spec: object) -> DbType[Any] | None:
    return None if spec is None else to_dbtype(spec)


def _in_marker_order(
    encode: Callable[[Any], Sequence[Any]], indices: tuple[int, ...]
) -> Callable[[Any], Sequence[Any]]:
    """``encode`` with its values repeated and reordered to follow bare markers."""

    def encode_in_order(value: Any) -> list[Any]:
        values = encode(value)
        return [values[i] for i in indices]

    return encode_in_order


def _no_row(row: tuple[Any, ...]) -> None:
    return None


def _no_rows(rows: list[tuple[Any, ...]]) -> list[None]:
    return [None] * len(rows)


def params_encoder(t: DbType[Any] | None, codecs: _codec.Codecs) -> Callable[[Any], Sequence[Any]]:
    """A function turning a parameter value into the driver's parameter tuple."""
    if t is None:

        def encode_none(value: object) -> tuple[()]:
            if value is not None and value != ():
                raise EncodeError("this request takes no parameters")
            return ()

        return encode_none
    if t.kind is Kind.TUPLE or t.kind is Kind.RECORD:
        encoders = [_codec.encoder(f, codecs) for f in t.fields]
        width = len(encoders)
        getters = None
        if t.kind is Kind.RECORD and not issubclass(t.cls or object, tuple):
            getters = t.names

        def encode_many(value: Any) -> tuple[Any, ...]:
            if getters is not None:
                if not isinstance(value, t.cls or object):
                    raise EncodeError(f"expected a {t!r} as parameters, got {type(value).__name__}")
                value = tuple(getattr(value, name) for name in getters)
            elif not isinstance(value, (tuple, list)) or len(value) != width:
                raise EncodeError(
                    f"expected {width} parameters as a tuple for {t!r}, got {value!r:.60}"
                )
            try:
                return tuple([enc(v) for enc, v in zip(encoders, value, strict=True)])
            except EncodeError as e:
                raise EncodeError(f"parameter {_which(encoders, value)}: {e.message}") from None

        return encode_many
    single = _codec.encoder(t, codecs)

    def encode_one(value: object) -> tuple[Any]:
        return (single(value),)

    return encode_one


def _which(encoders: Sequence[_codec.Convert], values: Sequence[Any]) -> int:
    """The 1-based position of the first value its encoder rejects."""
    for position, (enc, v) in enumerate(zip(encoders, values, strict=True), start=1):
        try:
            enc(v)
        except EncodeError:
            return position
    return 0
