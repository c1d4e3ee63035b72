"""Compiling statements, with the SQL cached by (dialect, shape).

Why: building SQL text walks the whole query and formats every identifier;
the Repo runs the same few query shapes over and over with other values. A
statement's *shape* (``walk``) is its structure without the values, so two
queries that differ only in values share one compiled SQL text, and a cache
hit costs one walk that collects the values. The cache is a bounded LRU.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Callable, Sequence
from operator import call as _call
from typing import Any

from .. import _codec
from ..dialect import Dialect
from ..errors import EncodeError
from ..expr import Param, Statement
from ..types import DbType
from .result import Result
from .writer import Writer

__all__ = [
    "CacheInfo",
    "Compiled",
    "Shape",
    "cache_info",
    "clear_cache",
    "compile_prepared",
    "compile_statement",
    "compile_uncached",
]

MAX_ENTRIES = 1024


@dataclasses.dataclass(slots=True)
class _Entry:
    dialect: Dialect
    sql: str
    types: tuple[DbType[Any] | None, ...]
    result: Result | None
    hidden: tuple[bool, ...]
    # A prepared statement's parameter names, per placeholder (None for a
    # value the query holds): an encoding error names the parameter.
    names: tuple[str | None, ...] = ()
    # Parameter encoders and row decoders per codec table, built on first use.
    encoders: dict[str, ParamsEncoder] = dataclasses.field(default_factory=dict)
    decoders: dict[str, RowsDecoder] = dataclasses.field(default_factory=dict)


class Shape:
    """A part of a shape, hashed once: hashing a shape walks all of it.

    A node whose shape never changes (a memoized select list) walks into one
    of these once and appends it to the shapes it is part of, so that later
    walks neither rebuild nor rehash that part.
    """

    __slots__ = ("_hash", "shape")

    def __init__(self, shape: tuple[object, ...]) -> None:
        self.shape = shape
        self._hash = hash(shape)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shape) and self._hash == other._hash and self.shape == other.shape


@dataclasses.dataclass(frozen=True, slots=True)
class Compiled:
    """A statement ready to run: SQL text, parameters with their types, and the result shape.

    Attributes:
        sql: the text, with the dialect's numbered placeholders.
        params: the values, in placeholder order.
        types: the field type of each parameter (for its codec).
        result: how rows become values; None when the statement returns none.
    """

    sql: str
    params: tuple[Any, ...]
    types: tuple[DbType[Any] | None, ...]
    result: Result | None
    _entry: _Entry = dataclasses.field(repr=False, compare=False)

    def encode(self, codecs: _codec.Codecs) -> list[Any]:
        """The parameters checked and converted for a driver (EncodeError when one does not fit).

        Parameters without a known type go to the driver as they are.
        """
        return self.encoder(codecs)(self.params)

    def encoder(self, codecs: _codec.Codecs) -> ParamsEncoder:
        """A function from the statement's values to the driver's (``encode`` of other values)."""
        encode = self._entry.encoders.get(codecs.name)
        if encode is None:
            encode = self._entry.encoders[codecs.name] = params_encoder(
                self.types, codecs, self._entry.names
            )
        return encode

    def with_params(self, params: tuple[Any, ...]) -> Compiled:
        """The same statement with other values, one per parameter, of the same types.

        Why: a statement whose shape is known in advance (the Repo's insert of
        one record) can skip building and walking it; only the values change.
        """
        if len(params) != len(self.types):
            raise ValueError(f"the statement has {len(self.types)} parameters, not {len(params)}")
        return Compiled(self.sql, params, self.types, self.result, self._entry)

    @property
    def hidden(self) -> tuple[bool, ...]:
        """Per parameter, whether it was bound for a ``redact=True`` field (never logged)."""
        return self._entry.hidden

    def decoder(self, codecs: _codec.Codecs) -> RowsDecoder:
        """A function from the driver's rows to the statement's results (checked, decoded)."""
        decode = self._entry.decoders.get(codecs.name)
        if decode is None:
            decode = self._entry.decoders[codecs.name] = rows_decoder(self.result, codecs)
        return decode


RowsDecoder = Callable[[list[tuple[Any, ...]]], list[Any]]
ParamsEncoder = Callable[[tuple[Any, ...]], list[Any]]

# Runs of this many parameters of one type or more (an IN list of keys) are
# encoded as a whole.
LONG_RUN = 32


def params_encoder(
    types: tuple[DbType[Any] | None, ...],
    codecs: _codec.Codecs,
    names: tuple[str | None, ...] = (),
) -> ParamsEncoder:
    """A function encoding a statement's parameters, whose types are ``types``, for a driver.

    Each parameter goes through its type's encoder, called from C; a long
    run of one type is encoded at once (``_codec.run_encoder``). Parameters
    without a known type go to the driver as they are. With ``names`` (a
    prepared statement's), an EncodeError names the parameter that failed.
    """
    spans: list[tuple[int, int, DbType[Any] | None]] = []
    for i, t in enumerate(types):
        if spans and spans[-1][2] is t:
            spans[-1] = (spans[-1][0], i + 1, t)
        else:
            spans.append((i, i + 1, t))
    if all(end - start < LONG_RUN or t is None for start, end, t in spans):
        encoders = [_codec.encoder(t, codecs) if t is not None else _same for t in types]
        if not names:
            return lambda params: list(map(_call, encoders, params))

        def encode_named(params: tuple[Any, ...]) -> list[Any]:
            try:
                return list(map(_call, encoders, params))
            except EncodeError as e:
                raise _named(e, encoders, params, names) from None

        return encode_named
    parts: list[tuple[int, int, Callable[[Sequence[Any]], list[Any]]]] = []
    for start, end, t in spans:
        if t is None:
            parts.append((start, end, list))
        elif end - start >= LONG_RUN:
            parts.append((start, end, _codec.run_encoder(t, codecs)))
        else:
            parts.append((start, end, _one_by_one(_codec.encoder(t, codecs))))

    def encode(params: tuple[Any, ...]) -> list[Any]:
        out: list[Any] = []
        for start, end, run in parts:
            out += run(params[start:end])
        return out

    if not names:
        return encode
    each = [_codec.encoder(t, codecs) if t is not None else _same for t in types]

    def encode_all_named(params: tuple[Any, ...]) -> list[Any]:
        try:
            return encode(params)
        except EncodeError as e:
            raise _named(e, each, params, names) from None

    return encode_all_named


def _named(
    error: EncodeError,
    encoders: Sequence[_codec.Convert],
    params: tuple[Any, ...],
    names: tuple[str | None, ...],
) -> EncodeError:
    """``error`` naming the prepared statement's parameter whose value failed."""
    for encode, value, name in zip(encoders, params, names, strict=True):
        try:
            encode(value)
        except EncodeError as each:
            where = f"parameter {name!r}" if name else "a value of the query"
            return EncodeError(f"{where}: {each.message}")
    return error


def rows_decoder(result: Result | None, codecs: _codec.Codecs) -> RowsDecoder:
    """Rows -> results for ``result``; a statement without results must return no rows."""
    if result is None:
        return _no_rows
    build = result.rows_maker()
    one, decode_all = _codec.row_decoder(result.row_type, codecs, build)
    if build is None:
        return decode_all

    def decode(rows: list[tuple[Any, ...]]) -> list[Any]:
        # One row (a get) skips the list's column passes.
        if len(rows) == 1:
            return build([one(rows[0])])
        return decode_all(rows)

    return decode


def _one_by_one(encode: _codec.Convert) -> Callable[[Sequence[Any]], list[Any]]:
    return lambda values: list(map(encode, values))


def _no_rows(rows: list[tuple[Any, ...]]) -> list[Any]:
    return []


def _same(value: Any) -> Any:
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class CacheInfo:
    """How the compiled-SQL cache has been doing since it was last cleared."""

    hits: int
    misses: int
    size: int


_lock = threading.Lock()
# Keyed by the shape's hash, an int (cheap to look up again), holding the
# shape itself, which a hit must equal.
_entries: collections.OrderedDict[int, tuple[tuple[object, ...], _Entry]] = (
    collections.OrderedDict()
)
_hits = 0
_misses = 0


def compile_statement(statement: Statement, dialect: Dialect) -> Compiled:
    """``statement`` compiled for ``dialect``, from the cache when its shape was seen before."""
    global _hits, _misses
    # The dialect's name (and a tenant's prefix) stands for it in the key (a
    # Dialect is slow to hash); the entry keeps the dialect itself, checked on a hit.
    shape: list[object] = [dialect.name, dialect.default_prefix]
    values: list[object] = []
    statement.walk(shape, values)
    key = tuple(shape)
    digest = hash(key)
    entry: _Entry | None = None
    with _lock:
        found = _entries.get(digest)
        if found is not None and found[0] == key:
            entry = found[1]
            if entry.dialect is dialect or entry.dialect == dialect:
                _entries.move_to_end(digest)
                _hits += 1
            else:
                entry = None
    if entry is None:
        # Another shape of the same hash, if any, makes room (the cache is
        # only ever a shortcut).
        entry = _build(statement, dialect, len(values))
        with _lock:
            _misses += 1
            _entries[digest] = (key, entry)
            _entries.move_to_end(digest)
            if len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
    return Compiled(entry.sql, tuple(values), entry.types, entry.result, entry)


def _build(statement: Statement, dialect: Dialect, expected: int) -> _Entry:
    w = Writer(dialect)
    statement.emit(w)
    if len(w.params) != expected:  # pragma: no cover - a walk/emit mismatch is a bug
        raise AssertionError(
            f"{type(statement).__name__}: emit bound {len(w.params)} values, walk found {expected}"
        )
    named = [p.name for p in w.params if isinstance(p, Param)]
    if named:
        raise EncodeError(
            f"this statement has parameters ({', '.join(dict.fromkeys(named))}): a query with"
            " parameters runs prepared, prepare(q), with their values (to_sql shows where they"
            " go); a write takes values, not param()"
        )
    return _Entry(dialect, w.sql, tuple(w.types), w.result, tuple(w.hidden))


def compile_prepared(statement: Statement, dialect: Dialect) -> Compiled:
    """``statement`` compiled for ``dialect`` with its ``Param`` placeholders, never cached.

    The result's ``params`` hold the query's own values and, where a
    parameter goes, its ``Param``; ``with_params`` gives it the values to run.
    Its encoding errors name the parameter that failed.
    """
    w = Writer(dialect)
    statement.emit(w)
    names = tuple(p.name if isinstance(p, Param) else None for p in w.params)
    entry = _Entry(dialect, w.sql, tuple(w.types), w.result, tuple(w.hidden), names)
    return Compiled(w.sql, tuple(w.params), entry.types, entry.result, entry)


def compile_uncached(statement: Statement, dialect: Dialect) -> Compiled:
    """``statement`` compiled afresh, bypassing the cache (for tests of the cache itself)."""
    w = Writer(dialect)
    statement.emit(w)
    entry = _Entry(dialect, w.sql, tuple(w.types), w.result, tuple(w.hidden))
    return Compiled(w.sql, tuple(w.params), entry.types, entry.result, entry)


def cache_info() -> CacheInfo:
    """Hits, misses and size of the compiled-SQL cache."""
    with _lock:
        return CacheInfo(_hits, _misses, len(_entries))


def clear_cache() -> None:
    """Empty the cache and reset its counters."""
    global _hits, _misses
    with _lock:
        _entries.clear()
        _hits = _misses = 0
