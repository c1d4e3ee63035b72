"""How a compiled statement's rows become Python values: scalars, tuples, dicts or records."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from ..types import DbType, tup

__all__ = ["RecordFill", "RecordShape", "Result", "ResultKind", "record_fill"]

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


@dataclasses.dataclass(frozen=True, slots=True)
class RecordFill:
    """How generated code fills a record's ``__dict__`` without its constructor.

    Attributes:
        cls: the record class (made with ``object.__new__``).
        stores: per field, in the class's field order (which keeps its
            shared dict keys), the field's name and where its value comes
            from: the index of the row value holding it, or the name of a
            default bound in ``constants`` (``x0``, ...), called when
            ``calls`` says it is a default factory.
        constants: the defaults, by their generated names.
    """

    cls: type[Any]
    stores: tuple[tuple[str, int | str, bool], ...]
    constants: dict[str, Any]

    def lines(self, value: Callable[[int], str], record: str = "r") -> list[str]:
        """The statements building the record as ``record``, row value ``i`` being ``value(i)``.

        Only generated names and ``repr()`` of field names (identifiers)
        reach the source; defaults are bound in ``constants``.
        """
        out = [f"{record} = new(cls)", "d = " + record + ".__dict__"]
        for name, source, call in self.stores:
            got = value(source) if isinstance(source, int) else source + ("()" if call else "")
            out.append(f"d[{name!r}] = {got}")
        return out


def record_fill(cls: type[Any], names: tuple[str, ...]) -> RecordFill | None:
    """How to build records of ``cls`` from values for ``names``; None: take the constructor.

    Why: building records is the Repo's per-row cost. A frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``; a record read
    from the database needs no checks, so its ``__dict__`` is filled directly,
    in field order, by code generated for the class as ``dataclasses`` does
    for ``__init__``: one store per field. Fields the row does not hold
    (virtual ones) get their defaults. A class with its own
    ``__post_init__`` or ``__init__`` logic, or a row that misses a field
    without a default, takes the constructor.
    """
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return None
    if "__init__" in vars(cls) and not _dataclass_init(cls):
        return None
    fields = dataclasses.fields(cls)
    if not names or not {f.name for f in fields}.issuperset(names):
        return None  # the constructor says what does not fit
    constants: dict[str, Any] = {}
    position = {name: i for i, name in enumerate(names)}
    stores: list[tuple[str, int | str, bool]] = []
    for f in fields:
        if f.name in position:
            stores.append((f.name, position[f.name], False))
        elif not f.init:
            continue
        elif f.default is not dataclasses.MISSING:
            constants[f"x{len(constants)}"] = f.default
            stores.append((f.name, f"x{len(constants) - 1}", False))
        elif f.default_factory is not dataclasses.MISSING:
            constants[f"x{len(constants)}"] = f.default_factory
            stores.append((f.name, f"x{len(constants) - 1}", True))
        else:
            return None
    return RecordFill(cls, tuple(stores), constants)


def _record_makers(
    cls: type[Any], names: tuple[str, ...]
) -> tuple[Callable[[Sequence[Any]], Any], Callable[[Iterable[Sequence[Any]]], list[Any]]]:
    """Functions from column values to records of ``cls``: for one row, and for a list.

    The records are built as ``record_fill`` describes; for a list, in one
    loop without a call per row.
    """

    def slow(values: Sequence[Any]) -> Any:
        return cls(**dict(zip(names, values, strict=True)))

    def slow_all(rows: Iterable[Sequence[Any]]) -> list[Any]:
        return list(map(slow, rows))

    fill = record_fill(cls, names)
    if fill is None:
        return slow, slow_all
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls, **fill.constants}
    values = "".join(f"v{i}, " for i in range(len(names)))
    lines = fill.lines(lambda i: f"v{i}")
    one = "".join(f"\n    {line}" for line in lines)
    each = "".join(f"\n        {line}" for line in lines)
    # A row of another width fails to unpack (ValueError).
    source = f"""
def make(row):
    {values}= row{one}
    return r

def make_all(rows):
    out = []
    append = out.append
    for {values}in rows:{each}
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

    def fill(self) -> RecordFill | None:
        """How a result's record is built in generated code; None unless it is one plain record.

        A record that may be None (an outer join's empty side) or that takes
        its constructor has none.
        """
        record = self.items[0] if self.kind == "record" else None
        if record is None or not record.plain:
            return None
        return record_fill(record.cls, record.names)

    def make(self, row: Sequence[Any]) -> Any:
        """The result value of one decoded row."""
        return self.maker()(row)
