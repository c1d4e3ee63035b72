"""How a compiled statement's rows become Python values: scalars, tuples, dicts or records."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ..schema import load_embedded
from ..types import DbType, tup

__all__ = ["RecordShape", "Result", "ResultKind"]

ResultKind = Literal["scalar", "tuple", "dict", "record"]


@dataclasses.dataclass(frozen=True, slots=True)
class RecordShape:
    """A schema record read from consecutive columns.

    Attributes:
        cls: the schema class.
        names: the field names, in column order.
        embeds: ``(position, embedded class, is a list)`` for fields stored
            as JSON that hold embedded records.
        optional: the record comes from the empty side of an outer join
            when all its columns are NULL; it is None then.
    """

    cls: type[Any]
    names: tuple[str, ...]
    embeds: tuple[tuple[int, type[Any], bool], ...] = ()
    optional: bool = False

    def build(self, values: Sequence[Any]) -> Any:
        """The record holding ``values`` (one per name)."""
        if self.optional and all(v is None for v in values):
            return None
        if self.embeds:
            values = list(values)
            for position, embed, many in self.embeds:
                data = values[position]
                if data is None:
                    continue
                if many:
                    values[position] = [load_embedded(embed, item) for item in data]
                else:
                    values[position] = load_embedded(embed, data)
        return self.cls(**dict(zip(self.names, values, strict=True)))


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    """What a statement's rows hold and how to build each result from a decoded row.

    Attributes:
        kind: ``scalar`` (one value per row), ``tuple``, ``dict`` (keyed by
            ``keys``) or ``record`` (a schema instance).
        columns: the field type of each SQL column, in order; None where
            the compiler cannot know it (an untyped ``fragment``).
        items: per result item, the record it builds, or None for a single column.
        keys: the dict keys, for ``dict`` results.
    """

    kind: ResultKind
    columns: tuple[DbType[Any] | None, ...]
    items: tuple[RecordShape | None, ...]
    keys: tuple[str, ...] = ()

    @property
    def row_type(self) -> DbType[tuple[Any, ...]]:
        """The decoded row: a tuple of the column types."""
        for i, column in enumerate(self.columns):
            if column is None:
                raise TypeError(
                    f"the type of selected column {i + 1} is unknown: give "
                    "fragment(..., type_=...) or wrap it in cast(...)"
                )
        return tup(*(c for c in self.columns if c is not None))

    def maker(self) -> Callable[[Sequence[Any]], Any]:
        """A function from a decoded row (a tuple of column values) to the result value."""
        items = self.items
        if all(item is None for item in items):
            if self.kind == "scalar":
                return lambda row: row[0]
            if self.kind == "tuple":
                return tuple
            keys = self.keys
            return lambda row: dict(zip(keys, row, strict=True))
        if self.kind == "record":
            record = items[0]
            assert record is not None
            return record.build
        spans: list[tuple[int, int, RecordShape | None]] = []
        start = 0
        for item in items:
            width = len(item.names) if item is not None else 1
            spans.append((start, start + width, item))
            start += width

        def make(row: Sequence[Any]) -> Any:
            values = [
                item.build(row[begin:end]) if item is not None else row[begin]
                for begin, end, item in spans
            ]
            return tuple(values)

        return make

    def make(self, row: Sequence[Any]) -> Any:
        """The result value of one decoded row."""
        return self.maker()(row)
