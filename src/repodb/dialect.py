"""What differs between SQL dialects, as data.

Why: code above the drivers (requests now, the query compiler later) reads a
``Dialect`` record instead of branching on the driver's name. Adding a
database means adding a record, not editing every ``if``.

Example::

    >>> from repodb.dialect import POSTGRESQL, SQLITE
    >>> SQLITE.placeholder(2), POSTGRESQL.placeholder(2)
    ('?2', '$2')
    >>> print(POSTGRESQL.quote("order"), POSTGRESQL.quote_qualified("app.users"))
    "order" "app"."users"
"""

from __future__ import annotations

import dataclasses

__all__ = ["POSTGRESQL", "SQLITE", "Dialect"]


@dataclasses.dataclass(frozen=True)
class Dialect:
    """The syntax facts of one SQL dialect.

    Options:
        name: short name, also the URL scheme.
        placeholder_prefix: the numbered parameter marker (``?`` gives ``?1``,
            ``$`` gives ``$1``); both keep parameters in place, so a request
            written with ``$2 ... $1`` needs no reordering.
        dollar_quotes: whether ``$tag$ ... $tag$`` string literals exist.
        max_params: the most bound parameters one statement may carry.
        supports_returning: ``INSERT ... RETURNING``.
        supports_arrays: native array columns.
    """

    name: str
    placeholder_prefix: str
    dollar_quotes: bool
    max_params: int
    supports_returning: bool
    supports_arrays: bool

    def placeholder(self, n: int) -> str:
        """The marker of the n-th parameter, counting from 1."""
        return f"{self.placeholder_prefix}{n}"

    def quote(self, identifier: str) -> str:
        """An identifier quoted so that any name is safe in SQL text."""
        if "\x00" in identifier:
            raise ValueError("an identifier cannot contain NUL")
        return '"' + identifier.replace('"', '""') + '"'

    def quote_qualified(self, name: str) -> str:
        """A possibly schema-qualified name (``schema.table``), each part quoted."""
        return ".".join(self.quote(part) for part in name.split("."))


SQLITE = Dialect(
    name="sqlite",
    placeholder_prefix="?",
    dollar_quotes=False,
    max_params=32766,
    supports_returning=True,
    supports_arrays=False,
)

POSTGRESQL = Dialect(
    name="postgresql",
    placeholder_prefix="$",
    dollar_quotes=True,
    max_params=65535,
    supports_returning=True,
    supports_arrays=True,
)
