"""The SQL text builder that expression and query nodes write themselves into."""

from __future__ import annotations

from typing import Any

from ..dialect import Dialect
from ..types import DbType

__all__ = ["Writer"]


class Writer:
    """Accumulates SQL text and the bound parameters, in placeholder order.

    Identifiers are always quoted by the dialect; values never enter the text.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.parts: list[str] = []
        self.params: list[Any] = []
        self.types: list[DbType[Any] | None] = []
        # How a binding (a schema class, an alias name) is written: its alias.
        self.aliases: dict[object, str] = {}

    def write(self, text: str) -> None:
        """Append SQL text (never a value)."""
        self.parts.append(text)

    def bind(self, value: object, dbtype: DbType[Any] | None) -> None:
        """Append a placeholder and remember its value and type."""
        self.params.append(value)
        self.types.append(dbtype)
        self.parts.append(self.dialect.placeholder(len(self.params)))

    def column(self, binding: object, name: str) -> None:
        """Append a column reference, qualified by its binding's alias when there is one."""
        alias = self.aliases.get(binding)
        quoted = self.dialect.quote(name)
        self.parts.append(f"{self.dialect.quote(alias)}.{quoted}" if alias else quoted)

    @property
    def sql(self) -> str:
        return "".join(self.parts)
