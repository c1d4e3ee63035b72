"""The SQL text builder that expression and query nodes write themselves into."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..dialect import Dialect
from ..types import DbType

if TYPE_CHECKING:
    from .result import Result

__all__ = ["OuterBinding", "Writer", "describe_binding"]


@dataclasses.dataclass(frozen=True, slots=True)
class OuterBinding:
    """The binding ``key`` of a query around the one being written (``parent_as``).

    A column of it names that query's source even where the inner query
    binds the same key (a correlated subquery of the same table).
    """

    key: object

    def __repr__(self) -> str:
        return f"parent_as({self.key!r})"


class Writer:
    """Accumulates SQL text and the bound parameters, in placeholder order.

    Identifiers are always quoted by the dialect; values never enter the text.
    Table aliases are numbered through the whole statement, so a subquery's
    aliases never hide the outer query's, and bindings are scoped: a
    subquery sees its own sources first, then those of the queries around it.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.parts: list[str] = []
        self.params: list[Any] = []
        self.types: list[DbType[Any] | None] = []
        # Per parameter: bound for a field declared redact=True (kept out of logs).
        self.hidden: list[bool] = []
        # How a binding (a schema class, an alias name) is written: its quoted
        # alias, or None for a bare column name (RETURNING, SET targets).
        self.aliases: dict[object, str | None] = {}
        # The source each binding names, to type columns given by name
        # (``ref("s").total``), and the bindings an outer join may leave NULL.
        self.sources: dict[object, Any] = {}
        self.nullable: frozenset[object] = frozenset()
        # How deep in subqueries the writer is: the outermost query's select
        # list is the statement's result.
        self.depth = 0
        # Per query being written, the bindings of the statement around it
        # (the first: none), innermost last: what ``OuterBinding`` columns name.
        self.enclosing: list[dict[object, str | None]] = []
        self.result: Result | None = None
        self._aliases_made = 0
        # Bindings written by a template instead of an alias (``{column}``:
        # the quoted name): MariaDB's VALUES(col) for an upsert's new row.
        self.column_templates: dict[object, str] = {}

    def write(self, text: str) -> None:
        """Append SQL text (never a value)."""
        self.parts.append(text)

    def bind(self, value: object, dbtype: DbType[Any] | None, hidden: bool = False) -> None:
        """Append a placeholder and remember its value, type and whether logs may show it."""
        self.params.append(value)
        self.types.append(dbtype)
        self.hidden.append(hidden)
        # Every parameter is bound once, in text order: the dialect's cheapest marker.
        self.parts.append(self.dialect.ordered_placeholder(len(self.params)))

    def identifier(self, name: str) -> None:
        """Append a quoted identifier."""
        self.parts.append(self.dialect.quote(name))

    def table(self, prefix: str | None, name: str) -> None:
        """Append a table name, qualified by its schema (prefix) when it has one."""
        self.parts.append(self.dialect.quote_table(name, prefix))

    def column(self, binding: object, name: str) -> None:
        """Append a column reference, qualified by its binding's alias."""
        if isinstance(binding, OuterBinding):
            self._outer_column(binding, name)
            return
        try:
            alias = self.aliases[binding]
        except KeyError:
            template = self.column_templates.get(binding)
            if template is not None:
                self.parts.append(template.format(column=self.dialect.quote(name)))
                return
            raise ValueError(
                f"{describe_binding(binding)} is not part of this query: "
                "select from it or join it first"
            ) from None
        quoted = self.dialect.quote(name)
        self.parts.append(f"{alias}.{quoted}" if alias is not None else quoted)

    def _outer_column(self, binding: OuterBinding, name: str) -> None:
        """A column of the nearest query around this one that binds ``binding.key``."""
        for aliases in reversed(self.enclosing):
            alias = aliases.get(binding.key)
            if alias is not None:
                self.parts.append(f"{alias}.{self.dialect.quote(name)}")
                return
        raise ValueError(
            f"{binding!r}: no query around this one has {describe_binding(binding.key)}"
            " (name it with as_=... in the outer query, and use parent_as in a subquery of it)"
        )

    def new_alias(self, letter: str) -> str:
        """A fresh quoted table alias such as ``"u0"``."""
        alias = self.dialect.quote(f"{letter}{self._aliases_made}")
        self._aliases_made += 1
        return alias

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Bindings added inside the block are forgotten after it."""
        saved = self.aliases, self.sources, self.nullable
        self.aliases = dict(saved[0])
        self.sources = dict(saved[1])
        try:
            yield
        finally:
            self.aliases, self.sources, self.nullable = saved

    @contextlib.contextmanager
    def nested(self) -> Iterator[None]:
        """Inside the block, queries are subqueries (their select lists are not the result)."""
        self.depth += 1
        self.enclosing.append(self.aliases)
        try:
            yield
        finally:
            self.enclosing.pop()
            self.depth -= 1

    @property
    def sql(self) -> str:
        return "".join(self.parts)


def describe_binding(binding: object) -> str:
    """A binding as an error message names it."""
    if isinstance(binding, type):
        return binding.__name__
    if isinstance(binding, str):
        return f"the binding {binding!r}"
    return repr(binding)
