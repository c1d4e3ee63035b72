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
from collections.abc import Callable
from typing import Any

from .. import _codec
from ..dialect import Dialect
from ..expr import Statement
from ..types import DbType
from .result import Result
from .writer import Writer

__all__ = [
    "CacheInfo",
    "Compiled",
    "cache_info",
    "clear_cache",
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
    # Parameter encoders and row decoders per codec table, built on first use.
    encoders: dict[str, list[_codec.Convert]] = dataclasses.field(default_factory=dict)
    decoders: dict[str, RowsDecoder] = dataclasses.field(default_factory=dict)


class _Key:
    """A shape as a dict key, hashed once: hashing a shape walks all of it."""

    __slots__ = ("_hash", "shape")

    def __init__(self, shape: tuple[object, ...]) -> None:
        self.shape = shape
        self._hash = hash(shape)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self._hash == other._hash and self.shape == other.shape


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
        encoders = self._entry.encoders.get(codecs.name)
        if encoders is None:
            encoders = [
                _codec.encoder(t, codecs) if t is not None else _same for t in self._entry.types
            ]
            self._entry.encoders[codecs.name] = encoders
        return [encode(v) for encode, v in zip(encoders, self.params, strict=True)]

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


def rows_decoder(result: Result | None, codecs: _codec.Codecs) -> RowsDecoder:
    """Rows -> results for ``result``; a statement without results must return no rows."""
    if result is None:
        return _no_rows
    _, decode_all = _codec.row_decoder(result.row_type, codecs)
    build = result.rows_maker()
    if build is None:
        return decode_all
    return lambda rows: build(decode_all(rows))


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
_entries: collections.OrderedDict[_Key, _Entry] = collections.OrderedDict()
_hits = 0
_misses = 0


def compile_statement(statement: Statement, dialect: Dialect) -> Compiled:
    """``statement`` compiled for ``dialect``, from the cache when its shape was seen before."""
    global _hits, _misses
    # The dialect's name stands for it in the key (a Dialect is slow to
    # hash); the entry keeps the dialect itself, checked on a hit.
    shape: list[object] = [dialect.name]
    values: list[object] = []
    statement.walk(shape, values)
    key = _Key(tuple(shape))
    with _lock:
        entry = _entries.get(key)
        if entry is not None and (entry.dialect is dialect or entry.dialect == dialect):
            _entries.move_to_end(key)
            _hits += 1
        else:
            entry = None
    if entry is None:
        entry = _build(statement, dialect, len(values))
        with _lock:
            _misses += 1
            _entries[key] = entry
            _entries.move_to_end(key)
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
    return _Entry(dialect, w.sql, tuple(w.types), w.result, tuple(w.hidden))


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
