"""How a compiled statement's rows become Python values: scalars, tuples, dicts or records."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from ..types import DbType, tup

__all__ = ["RecordShape", "Result", "ResultKind"]

ResultKind = Literal["scalar", "tuple", "dict", "record"]


@dataclasses.dataclass(frozen=True, slots=True)
class RecordShape:
    """A schema record read from consecutive columns.

    Attributes:
        cls: the schema class.
        names: the field names, in column order (each column decoded to
            its field's type, embedded records included).
        optional: the record comes from the empty side of an outer join
            when all its columns are NULL; it is None then.
    """

    cls: type[Any]
    names: tuple[str, ...]
    optional: bool = False
    _make: Callable[[Sequence[Any]], Any] = dataclasses.field(init=False, repr=False, compare=False)
    _make_all: Callable[[Iterable[Sequence[Any]]], list[Any]] = dataclasses.field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        make, make_all = _record_makers(self.cls, self.names)
        object.__setattr__(self, "_make", make)
        object.__setattr__(self, "_make_all", make_all)

    def build(self, values: Sequence[Any]) -> Any:
        """The record holding ``values`` (one per name)."""
        if self.optional and all(v is None for v in values):
            return None
        return self._make(values)

    @property
    def plain(self) -> bool:
        """Whether ``build`` is just ``make`` (the record is never None)."""
        return not self.optional


def _record_makers(
    cls: type[Any], names: tuple[str, ...]
) -> tuple[Callable[[Sequence[Any]], Any], Callable[[Iterable[Sequence[Any]]], list[Any]]]:
    """Functions from column values to records of ``cls``: for one row, and for a list.

    Why: building records is the Repo's per-row cost. A frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``; a record read
    from the database needs no checks, so its ``__dict__`` is filled directly,
    in field order (which keeps the class's shared dict keys), by code
    generated for the class as ``dataclasses`` does for ``__init__``: one
    store per field, and for a list one loop without a call per row. Fields
    the row does not hold (virtual ones) get their defaults. A class with its
    own ``__post_init__`` or ``__init__`` logic, or a row that misses a field
    without a default, takes the constructor.
    """

    def slow(values: Sequence[Any]) -> Any:
        return cls(**dict(zip(names, values, strict=True)))

    def slow_all(rows: Iterable[Sequence[Any]]) -> list[Any]:
        return list(map(slow, rows))

    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return slow, slow_all
    if "__init__" in vars(cls) and not _dataclass_init(cls):
        return slow, slow_all
    fields = dataclasses.fields(cls)
    if not names or not {f.name for f in fields}.issuperset(names):
        return slow, slow_all  # the constructor says what does not fit
    # Only names built here and repr() of field names (identifiers) reach the
    # generated source; default values are bound in its namespace.
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    position = {name: i for i, name in enumerate(names)}
    stores: list[str] = []
    for f in fields:
        if f.name in position:
            stores.append(f"d[{f.name!r}] = v{position[f.name]}")
        elif not f.init:
            continue
        elif f.default is not dataclasses.MISSING:
            namespace[f"c{len(stores)}"] = f.default
            stores.append(f"d[{f.name!r}] = c{len(stores)}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"c{len(stores)}"] = f.default_factory
            stores.append(f"d[{f.name!r}] = c{len(stores)}()")
        else:
            return slow, slow_all
    values = "".join(f"v{i}, " for i in range(len(names)))
    one = "".join(f"\n    {store}" for store in stores)
    each = "".join(f"\n        {store}" for store in stores)
    # A row of another width fails to unpack (ValueError).
    source = f"""
def make(row):
    {values}= row
    r = new(cls)
    d = r.__dict__{one}
    return r

def make_all(rows):
    out = []
    append = out.append
    for {values}in rows:
        r = new(cls)
        d = r.__dict__{each}
        append(r)
    return out
"""
    exec(compile(source, f"<repodb records of {cls.__qualname__}>", "exec"), namespace)
    return namespace["make"], namespace["make_all"]


def _dataclass_init(cls: type[Any]) -> bool:
    """Whether ``cls.__init__`` is the one ``dataclasses`` wrote (its code has no file)."""
    code = getattr(vars(cls)["__init__"], "__code__", None)
    return code is not None and code.co_filename == "<string>"


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
            return record._make if record.plain else record.build
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

    def rows_maker(self) -> Callable[[Iterable[Sequence[Any]]], list[Any]] | None:
        """A function from decoded rows to their result values; None when the rows are the values.

        Records that are never None are built in one generated loop, so a list of
        them costs no Python call per row.
        """
        if self.kind == "record":
            record = self.items[0]
            assert record is not None
            if record.plain:
                return record._make_all
        if self.kind == "scalar" and self.items == (None,):
            return lambda rows: [row[0] for row in rows]
        make = self.maker()
        if make is tuple:
            return None
        return lambda rows: list(map(make, rows))

    def make(self, row: Sequence[Any]) -> Any:
        """The result value of one decoded row."""
        return self.maker()(row)
