"""What differs between SQL dialects, as data.

Why: code above the drivers (requests now, the query compiler later) reads a
``Dialect`` record instead of branching on the driver's name. Adding a
database means adding a record, not editing every ``if``.

Example::

    >>> from repodb.dialect import POSTGRESQL, SQLITE
    >>> SQLITE.ordered_placeholder(2), POSTGRESQL.ordered_placeholder(2)
    ('?', '$2')
    >>> print(POSTGRESQL.quote("order"), POSTGRESQL.quote_table("users", "app"))
    "order" "app"."users"
    >>> print(POSTGRESQL.quote_table("a.b"))
    "a.b"
"""

from __future__ import annotations

import dataclasses

from .types import Kind

__all__ = ["PORTABLE_IDENTIFIER_BYTES", "POSTGRESQL", "SQLITE", "Dialect", "check_identifier"]


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
        upsert_update_needs_target: whether ``ON CONFLICT DO UPDATE`` must
            name its conflict target (SQLite 3.35 and later infer any).
        upsert_select_wrap: the text around the SELECT of an ``INSERT ...
            SELECT ... ON CONFLICT``, where the grammar needs it: SQLite
            reads ``ON`` after a FROM as a join's unless a WHERE comes first.
        supports_delete_using: ``DELETE ... USING`` joins other tables;
            without it, a ``delete_all`` with joins is written as
            ``WHERE EXISTS (SELECT 1 FROM the joins ...)``.
        groups_by_outer_columns: whether a subquery's GROUP BY may name a
            column of a query around it (``parent_as``); SQLite resolves
            GROUP BY terms only among the subquery's own tables.
        qualifies_returning: whether RETURNING may name columns by table
            alias. SQLite's takes bare names (and only the written table's
            columns), PostgreSQL's needs the alias when an ``UPDATE ...
            FROM`` joins a table with a column of the same name.
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
        max_identifier_bytes: the longest identifier in UTF-8 bytes, or None
            for no limit. PostgreSQL silently truncates a longer one (to
            NAMEDATALEN - 1), so two long names could become one: ``quote``
            refuses it instead.
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
    upsert_update_needs_target: bool
    upsert_select_wrap: tuple[str, str] | None
    supports_delete_using: bool
    qualifies_returning: bool
    groups_by_outer_columns: bool
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
    max_identifier_bytes: int | None

    def ordered_placeholder(self, n: int) -> str:
        """The marker of the n-th parameter (from 1) of a statement binding each once, in order."""
        prefix = self.placeholder_prefix
        return f"{prefix}{n}" if self.numbered_placeholders else prefix

    def quote(self, identifier: str) -> str:
        """An identifier quoted so that any name is safe in SQL text."""
        if "\x00" in identifier:
            raise ValueError("an identifier cannot contain NUL")
        check_identifier(identifier, self.max_identifier_bytes, self.name)
        return '"' + identifier.replace('"', '""') + '"'

    def quote_table(self, name: str, prefix: str | None = None) -> str:
        """A table's name, qualified by its schema (``prefix``) when it has one.

        A name is one identifier, dots included (``"a.b"`` is the table
        ``a.b``): a schema is only ever given as ``prefix``, so every path
        (queries, COPY, migrations) names the same table.
        """
        table = self.quote(name)
        return f"{self.quote(prefix)}.{table}" if prefix else table

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
    upsert_update_needs_target=False,
    upsert_select_wrap=("SELECT * FROM (", ") WHERE true"),
    supports_delete_using=False,
    qualifies_returning=False,
    groups_by_outer_columns=False,
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
    max_identifier_bytes=None,
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
    upsert_update_needs_target=True,
    upsert_select_wrap=None,
    supports_delete_using=True,
    qualifies_returning=True,
    groups_by_outer_columns=True,
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
    max_identifier_bytes=63,
)

PORTABLE_IDENTIFIER_BYTES = min(
    limit for d in (SQLITE, POSTGRESQL) if (limit := d.max_identifier_bytes) is not None
)
"""The longest identifier every dialect keeps whole: what a schema may declare."""


def check_identifier(
    name: str, limit: int | None = PORTABLE_IDENTIFIER_BYTES, where: str = "every database"
) -> None:
    """Refuse an identifier longer than ``limit`` UTF-8 bytes (None: no limit).

    Why: PostgreSQL cuts longer names to 63 bytes with only a notice, so two
    names sharing their first 63 bytes would name one table, column or index.

    >>> check_identifier("é" * 32)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: the identifier '...' is 64 bytes long in UTF-8; every database keeps at most 63 ...
    """
    size = len(name.encode("utf-8", "surrogatepass"))
    if limit is not None and size > limit:
        raise ValueError(
            f"the identifier {name!r} is {size} bytes long in UTF-8; {where} keeps at most"
            f" {limit} (PostgreSQL would silently cut it, so two long names could collide):"
            " shorten it"
        )
