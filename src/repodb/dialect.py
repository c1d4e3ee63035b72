"""What differs between SQL dialects, as data.

Why: code above the drivers (requests now, the query compiler later) reads a
``Dialect`` record instead of branching on the driver's name. Adding a
database means adding a record, not editing every ``if``.

Example::

    >>> from repodb.dialect import POSTGRESQL, SQLITE
    >>> SQLITE.ordered_placeholder(2), POSTGRESQL.ordered_placeholder(2)
    ('?', '$2')
    >>> print(POSTGRESQL.quote("order"), POSTGRESQL.quote_qualified("app.users"))
    "order" "app"."users"
"""

from __future__ import annotations

import dataclasses

from .types import Kind

__all__ = ["POSTGRESQL", "SQLITE", "Dialect"]


@dataclasses.dataclass(frozen=True)
class Dialect:
    """The syntax facts of one SQL dialect.

    Options:
        name: short name, also the URL scheme.
        placeholder_prefix: the parameter marker (``?``, ``$``).
        numbered_placeholders: whether markers carry the parameter's number
            (``$1``; a request written with ``$2 ... $1`` binds its values
            in place); else every marker is the bare prefix and binds the
            next value, so a request whose numbered markers repeat or come
            out of order has its values reordered and repeated to match.
            SQLite is not numbered: its ``?NNN`` is a named parameter to
            Python's sqlite3 (3.12.0-3.12.3 warn on binding it by position),
            and SQLite prepares it in time quadratic in their number (32,766
            ``?NNN`` take about 1.6 s, as many ``?`` about 8 ms).
        dollar_quotes: whether ``$tag$ ... $tag$`` string literals exist.
        max_params: the most bound parameters one statement may carry.
        supports_returning: ``INSERT ... RETURNING``.
        supports_arrays: native array columns.
        supports_distinct_on: ``SELECT DISTINCT ON (...)``.
        supports_row_locks: ``FOR UPDATE`` / ``FOR SHARE`` row locks.
        supports_date_trunc: a ``date_trunc(unit, x)`` function.
        supports_conflict_constraint: ``ON CONFLICT ON CONSTRAINT name``.
        supports_writable_cte: ``UPDATE``/``DELETE ... RETURNING`` inside
            ``WITH``, whose rows the outer query reads.
        ilike_operator: the case-insensitive ``LIKE``; SQLite's ``LIKE``
            already ignores ASCII case.
        offset_without_limit: what must precede ``OFFSET`` when a query has
            no limit (SQLite's grammar wants a ``LIMIT``).
        now_sql: the current time in the form datetimes are stored in.
        cast_types: the type name ``CAST(x AS ...)`` uses, per field kind.
        aggregate_casts: ``(function, argument kind, type)``: aggregates
            whose natural result type is not the argument's (PostgreSQL's
            ``sum(bigint)`` is ``numeric``), cast back to it.
        json_key, json_index: the text around a bound object key or array
            index on the right of ``->`` / ``->>``.
        json_text_cast: the type ``->>`` results are cast to, when the
            operator does not always give text.
        casts_via: ``(from kind, to kind, type)``: casts the database only
            makes through an intermediate type (PostgreSQL casts boolean to
            integer but not to bigint).
        decimal_compare_as: the type Decimal values are cast to where they
            are compared, sorted or take min/max, when their storage form
            does not compare as numbers (SQLite keeps them as text).
    """

    name: str
    placeholder_prefix: str
    numbered_placeholders: bool
    dollar_quotes: bool
    max_params: int
    supports_returning: bool
    supports_arrays: bool
    supports_distinct_on: bool
    supports_row_locks: bool
    supports_date_trunc: bool
    supports_conflict_constraint: bool
    supports_writable_cte: bool
    ilike_operator: str
    offset_without_limit: str
    now_sql: str
    cast_types: tuple[tuple[Kind, str], ...]
    aggregate_casts: tuple[tuple[str, Kind, str], ...]
    json_key: tuple[str, str]
    json_index: tuple[str, str]
    json_text_cast: str | None
    casts_via: tuple[tuple[Kind, Kind, str], ...]
    decimal_compare_as: str | None

    def ordered_placeholder(self, n: int) -> str:
        """The marker of the n-th parameter (from 1) of a statement binding each once, in order."""
        prefix = self.placeholder_prefix
        return f"{prefix}{n}" if self.numbered_placeholders else prefix

    def quote(self, identifier: str) -> str:
        """An identifier quoted so that any name is safe in SQL text."""
        if "\x00" in identifier:
            raise ValueError("an identifier cannot contain NUL")
        return '"' + identifier.replace('"', '""') + '"'

    def quote_qualified(self, name: str) -> str:
        """A possibly schema-qualified name (``schema.table``), each part quoted."""
        return ".".join(self.quote(part) for part in name.split("."))

    def cast_type(self, kind: Kind) -> str:
        """The SQL type name a value of ``kind`` is cast to."""
        for known, name in self.cast_types:
            if known is kind:
                return name
        raise TypeError(f"{self.name} has no cast to a {kind.value} value")

    def cast_via(self, source: Kind, target: Kind) -> str | None:
        """The intermediate type a cast from ``source`` to ``target`` goes through, if any."""
        for known_source, known_target, via in self.casts_via:
            if known_source is source and known_target is target:
                return via
        return None

    def aggregate_cast(self, function: str, kind: Kind) -> str | None:
        """The type an aggregate over ``kind`` values is cast back to, if any."""
        for name, known, type_name in self.aggregate_casts:
            if name == function and known is kind:
                return type_name
        return None


SQLITE = Dialect(
    name="sqlite",
    placeholder_prefix="?",
    numbered_placeholders=False,
    dollar_quotes=False,
    max_params=32766,
    supports_returning=True,
    supports_arrays=False,
    supports_distinct_on=False,
    supports_row_locks=False,
    supports_date_trunc=False,
    supports_conflict_constraint=False,
    supports_writable_cte=False,
    ilike_operator="LIKE",
    offset_without_limit="LIMIT -1 ",
    # The storage form of datetimes (UTC, microseconds, a space), so that
    # now() compares with stored values as text.
    now_sql="strftime('%Y-%m-%d %H:%M:%f000', 'now')",
    cast_types=(
        (Kind.BOOL, "INTEGER"),
        (Kind.INT, "INTEGER"),
        (Kind.FLOAT, "REAL"),
        (Kind.DECIMAL, "TEXT"),
        (Kind.STR, "TEXT"),
        (Kind.BYTES, "BLOB"),
        (Kind.DATE, "TEXT"),
        (Kind.DATETIME, "TEXT"),
        (Kind.TIME, "TEXT"),
        (Kind.TIMEDELTA, "INTEGER"),
        (Kind.UUID, "TEXT"),
        (Kind.JSON, "TEXT"),
        (Kind.ENUM, "TEXT"),
    ),
    aggregate_casts=(),
    # A quoted JSON path, so keys containing dots or brackets are one key.
    json_key=("('$.\"' || ", " || '\"')"),
    json_index=("('$[' || ", " || ']')"),
    json_text_cast="TEXT",
    casts_via=(),
    decimal_compare_as="REAL",
)

POSTGRESQL = Dialect(
    name="postgresql",
    placeholder_prefix="$",
    numbered_placeholders=True,
    dollar_quotes=True,
    max_params=65535,
    supports_returning=True,
    supports_arrays=True,
    supports_distinct_on=True,
    supports_row_locks=True,
    supports_date_trunc=True,
    supports_conflict_constraint=True,
    supports_writable_cte=True,
    ilike_operator="ILIKE",
    offset_without_limit="",
    now_sql="now()",
    cast_types=(
        (Kind.BOOL, "boolean"),
        (Kind.INT, "bigint"),
        (Kind.FLOAT, "double precision"),
        (Kind.DECIMAL, "numeric"),
        (Kind.STR, "text"),
        (Kind.BYTES, "bytea"),
        (Kind.DATE, "date"),
        (Kind.DATETIME, "timestamptz"),
        (Kind.TIME, "time"),
        (Kind.TIMEDELTA, "interval"),
        (Kind.UUID, "uuid"),
        (Kind.JSON, "jsonb"),
        (Kind.ENUM, "text"),
    ),
    aggregate_casts=(
        ("sum", Kind.INT, "bigint"),
        ("avg", Kind.INT, "double precision"),
    ),
    json_key=("CAST(", " AS text)"),
    json_index=("CAST(", " AS integer)"),
    json_text_cast=None,
    casts_via=((Kind.BOOL, Kind.INT, "integer"),),
    decimal_compare_as=None,
)
