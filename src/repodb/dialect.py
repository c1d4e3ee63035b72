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
    >>> print(MARIADB.quote("order"), MARIADB.ordered_placeholder(2))
    `order` ?
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .types import Kind

__all__ = [
    "MARIADB",
    "PORTABLE_IDENTIFIER_BYTES",
    "POSTGRESQL",
    "SQLITE",
    "Dialect",
    "check_identifier",
]


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
        ilike_template: the case-insensitive ``LIKE`` as a template of the
            operand ``{x}`` and the pattern ``{p}``, where no operator is
            case-insensitive whatever the collation (MariaDB's ``LIKE``
            follows it), or None.
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
        explain_sql: the prefix that makes a statement show its plan.
        explain_analyze_sql: the prefix that runs the statement and shows
            its plan with the actual times and rows, or None without one.
        explain_tree: the plan comes as ``(id, parent, _, detail)`` rows of
            a tree (SQLite's ``EXPLAIN QUERY PLAN``); else as one line of
            text per row.
        time_shifts: ``(form, template)``: how a date or datetime moves by
            an amount of a unit (``date_add``, ``datetime_add``, ``+
            timedelta``), per form: ``datetime_micros`` (units up to a
            week), ``datetime_months`` (months, years), ``date_days``,
            ``date_months``, ``datetime_interval`` (a timedelta). A template
            names the value ``{v}`` once, then the amount ``{n}`` once
            (values are bound in that order on every dialect), and may use
            the unit's name ``{unit}`` and its size ``{factor}`` (in
            microseconds, days or months, by form).
        array_ops: ``(form, template)``: array operations, on native arrays
            or on JSON array text: ``has`` (membership), ``contains`` (has
            every one of some values), ``overlaps`` (has any), ``append``,
            ``remove`` (every element equal to a value). The template names
            the array ``{a}`` and the value (or values) ``{x}`` once each:
            ``{x}`` first for the three tests, ``{a}`` first to append or
            remove (values are bound in that order on every dialect).
        json_ops: ``(form, template)``: JSON tests: ``contains`` (``{j}``
            holds ``{x}``, PostgreSQL's jsonb ``@>``) and ``has_key`` (the
            object ``{j}`` has the key ``{k}``), each naming ``{j}`` first.
            A form a database lacks is left out, and refused by name.
        default_prefix: the schema (PostgreSQL) or attached database
            (SQLite) of every table without a ``prefix`` of its own: a
            tenant's. Not a fact of the database: ``Repo(source,
            prefix=...)`` compiles with a copy of the dialect that carries it
            (``with_prefix``), so that the prefix is part of every cache key
            the dialect is, and of every table name the dialect quotes.
        supports_nulls_order: ``ORDER BY x NULLS FIRST/LAST``. Without it, an
            ordering asking for NULLs where the database does not put them
            (``nulls_sort_first``) is written ``(x IS NULL) ASC|DESC, x``: the
            same order, with ``x`` written twice (so an ``x`` that binds a
            value is refused).
        nulls_sort_first: whether NULLs come first in ascending order (and
            so last in descending order) when an ordering says nothing.
        supports_full_join: ``FULL [OUTER] JOIN``.
        aggregate_filter: the template of an aggregate's argument that keeps
            only the rows of its ``filter()``, where the database has no
            ``FILTER (WHERE ...)``: ``{x}`` the argument, then ``{c}`` the
            condition (in this order, the order they bind in everywhere).
        int_division: the operator dividing two integers to an integer
            (truncating toward zero, as PostgreSQL's and SQLite's ``/``).
        lock_clauses: ``(strength, clause)``: the row-lock clause per
            strength (``UPDATE``, ``SHARE``, ...), where it is not ``FOR
            strength``; with any, a strength left out is refused.
        update_on_duplicate: the upsert is ``ON DUPLICATE KEY UPDATE``
            (MariaDB, MySQL) rather than ``ON CONFLICT``: it fires on a
            conflict with any unique key, has no conflict target, no ``DO
            NOTHING`` and no ``WHERE``; the new row's value is
            ``excluded_sql`` (with ``{column}``).
        excluded_sql: how an upsert's assignment names the new row's value
            of ``{column}`` (a quoted name) where the dialect has no
            ``excluded`` row.
        inserted_flag_sql: an expression of an upsert's RETURNING that is
            true for a row the statement inserted, false for one it found
            (PostgreSQL's ``xmax = 0``), or None.
        upsert_marker: with ``update_on_duplicate``, the first assignment of
            every ``ON DUPLICATE KEY UPDATE`` (``{column}``: the first inserted
            column, set to itself): it records that the row was found, for
            ``inserted_flag_sql`` to read, and is the whole update of
            ``on_conflict="nothing"``.
        inserted_flag_reset: the statement run before an upsert whose
            ``inserted_flag_sql`` is read, so that a failed statement's record
            cannot leak into the next one.
        search_ops: ``(form, template)``: full-text search: ``vector``
            (``{config}``, ``{document}``), ``query_plain``, ``query_raw``,
            ``query_phrase``, ``query_web`` (``{config}``, ``{q}``),
            ``match`` and ``rank`` (``{v}`` then ``{q}``), and the
            ``document_part`` (``{d}``) and ``document_join`` that make one
            document of several columns; none on SQLite (FTS5 is a virtual
            table, not a function of a column).

        The JSON access of ``json_get``/``json_text`` (and ``->``, ``->>``)
        is a template too, where ``json_ops`` has ``get`` and ``text``
        (``{j}``, then ``{path}``: a JSON path built from ``json_key`` and
        ``json_index`` parts); else the ``->``/``->>`` operators.
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
    explain_sql: str = "EXPLAIN "
    explain_analyze_sql: str | None = None
    explain_tree: bool = False
    time_shifts: tuple[tuple[str, str], ...] = ()
    array_ops: tuple[tuple[str, str], ...] = ()
    identifier_quote: str = '"'
    supports_update_returning: bool = True
    supports_on_conflict: bool = True
    supports_update_from: bool = True
    aliases_delete_target: bool = True
    default_values_sql: str = " DEFAULT VALUES"
    json_ops: tuple[tuple[str, str], ...] = ()
    search_ops: tuple[tuple[str, str], ...] = ()
    default_prefix: str | None = None
    supports_nulls_order: bool = True
    nulls_sort_first: bool = False
    supports_full_join: bool = True
    aggregate_filter: str | None = None
    int_division: str = "/"
    lock_clauses: tuple[tuple[str, str], ...] = ()
    update_on_duplicate: bool = False
    excluded_sql: str | None = None
    inserted_flag_sql: str | None = None
    ilike_template: str | None = None
    upsert_marker: str | None = None
    inserted_flag_reset: str | None = None

    def ordered_placeholder(self, n: int) -> str:
        """The marker of the n-th parameter (from 1) of a statement binding each once, in order."""
        prefix = self.placeholder_prefix
        return f"{prefix}{n}" if self.numbered_placeholders else prefix

    def quote(self, identifier: str) -> str:
        """An identifier quoted so that any name is safe in SQL text."""
        if "\x00" in identifier:
            raise ValueError("an identifier cannot contain NUL")
        check_identifier(identifier, self.max_identifier_bytes, self.name)
        q = self.identifier_quote
        return q + identifier.replace(q, q + q) + q

    def quote_table(self, name: str, prefix: str | None = None) -> str:
        """A table's name, qualified by its schema (``prefix``) when it has one.

        A name is one identifier, dots included (``"a.b"`` is the table
        ``a.b``): a schema is only ever given as ``prefix``, so every path
        (queries, COPY, migrations) names the same table.
        """
        table = self.quote(name)
        prefix = prefix or self.default_prefix
        return f"{self.quote(prefix)}.{table}" if prefix else table

    def insert_sql(self, table: str, columns: Sequence[str], prefix: str | None = None) -> str:
        """``INSERT INTO table (columns) VALUES (?, ...)``: one row, every value bound in order.

        What a driver without a bulk-load command runs once per row (or
        batches) for ``copy_in``.
        """
        marks = ", ".join(self.ordered_placeholder(n + 1) for n in range(len(columns)))
        names = ", ".join(map(self.quote, columns))
        return f"INSERT INTO {self.quote_table(table, prefix)} ({names}) VALUES ({marks})"

    def with_prefix(self, prefix: str | None) -> Dialect:
        """This dialect writing tables without a prefix of their own in ``prefix``.

        Why a copy of the dialect: everything that compiles SQL (queries,
        writes, preloads, bulk loads, DDL) already takes one, and caches by
        it. Copies are kept, one per dialect and prefix, so a tenant's
        statements hit the compiled-SQL cache as anyone's do.

        >>> print(POSTGRESQL.with_prefix("tenant_42").quote_table("users"))
        "tenant_42"."users"
        """
        if prefix is None or prefix == self.default_prefix:
            return self
        found = _PREFIXED.get((id(self), prefix))
        if found is not None and found[0] is self:
            return found[1]
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"a prefix is a schema's name, not {prefix!r}")
        check_identifier(prefix, self.max_identifier_bytes, self.name)
        made = dataclasses.replace(self, default_prefix=prefix)
        _PREFIXED[(id(self), prefix)] = (self, made)
        return made

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

    def array_op(self, form: str) -> str:
        """The template of the array operation ``form`` (see ``array_ops``)."""
        for known, template in self.array_ops:
            if known == form:
                return template
        hint = _MISSING_HINTS.get((self.name, "array"), "")
        raise ValueError(f"{self.name} has no array operation {form!r}{hint}")

    def template(self, family: str, form: str) -> str:
        """The template of ``form`` among the ``json_ops`` or ``search_ops`` (``family``)."""
        for known, template in self.json_ops if family == "json" else self.search_ops:
            if known == form:
                return template
        what = "full-text search" if family == "search" else f"JSON operation {form!r}"
        hint = _MISSING_HINTS.get((self.name, family), "")
        raise ValueError(f"{self.name} has no {what}{hint}")

    def has_template(self, family: str, form: str) -> bool:
        """Whether ``form`` is among the ``json_ops`` or ``search_ops`` (``family``)."""
        ops = self.json_ops if family == "json" else self.search_ops
        return any(known == form for known, _ in ops)

    def lock_clause(self, strength: str) -> str:
        """The row-lock clause of ``strength``: ``FOR UPDATE``, MariaDB's ``LOCK IN SHARE MODE``."""
        if not self.supports_row_locks:
            raise ValueError(
                f"{self.name} has no row locks (FOR UPDATE/FOR SHARE); "
                "remove .lock() for it (a write transaction already excludes other writers)"
            )
        if not self.lock_clauses:
            return f"FOR {strength}"
        for known, clause in self.lock_clauses:
            if known == strength:
                return clause
        have = ", ".join(repr(k.lower().replace(" ", "_")) for k, _ in self.lock_clauses)
        raise ValueError(
            f"{self.name} has no FOR {strength} lock (PostgreSQL's); its row locks are {have}:"
            " lock(strength='update') excludes the same writers and more"
        )

    def time_shift(self, form: str) -> str:
        """The template moving a date or datetime in ``form`` (see ``time_shifts``)."""
        for known, template in self.time_shifts:
            if known == form:
                return template
        raise ValueError(f"{self.name} has no date arithmetic of the form {form!r}")


# Dialect.with_prefix's copies, by (id of the dialect, prefix); the dialect
# itself is kept too, so that a reused id never finds another's copy.
_PREFIXED: dict[tuple[int, str], tuple[Dialect, Dialect]] = {}

# What to use instead, where a dialect lacks a family of templates.
_MISSING_HINTS = {
    ("sqlite", "json"): (
        " (json_contains is jsonb's @>): compare json_get(...) or json_text(...) with a value"
    ),
    ("sqlite", "search"): (
        " (to_tsvector and its siblings are PostgreSQL's; on SQLite use an FTS5 virtual table"
        " through fragment())"
    ),
    ("mariadb", "search"): (
        " (to_tsvector and its siblings are PostgreSQL's; MariaDB searches a FULLTEXT index"
        " with MATCH (columns) AGAINST (?): write it with fragment())"
    ),
    ("mariadb", "array"): (
        ": arrays are JSON text on mariadb, stored and read back whole; test their elements"
        " in SQL with fragment() (JSON_CONTAINS, JSON_SEARCH), or keep them in a table of their own"
    ),
}

# Datetimes are text in their storage form ("YYYY-MM-DD HH:MM:SS.ffffff+00:00",
# UTC; older text has no offset) on SQLite. strftime keeps milliseconds only
# (and rounds them), so the seconds move by strftime and the microseconds
# are carried here. Each operand is read once, through a derived table, so that it binds once.
_SQLITE_SHIFT_MICROS = (
    "(SELECT strftime('%Y-%m-%d %H:%M:%S', substr(\"_v\", 1, 19),"
    ' (("_t" - "_f") / 1000000) || \' seconds\') || printf(\'.%06d+00:00\', "_f")'
    ' FROM (SELECT "_v", "_t", ("_t" % 1000000 + 1000000) % 1000000 AS "_f"'
    ' FROM (SELECT "_v", CAST(substr("_v", 21, 6) AS INTEGER) + "_n" * {factor} AS "_t"'
    ' FROM (SELECT {v} AS "_v", {n} AS "_n"))))'
)
# SQLite's '+1 months' overflows (January 31 becomes March 2): the day is
# clamped to the month's last, as PostgreSQL does. The time of day (nothing,
# for a date) is kept as it is.
_SQLITE_SHIFT_MONTHS = (
    "(SELECT min(date(\"_v\", 'start of month', \"_n\" || ' months',"
    " (CAST(substr(\"_v\", 9, 2) AS INTEGER) - 1) || ' days'),"
    " date(\"_v\", 'start of month', (\"_n\" + 1) || ' months', '-1 day'))"
    ' || substr("_v", 11) FROM (SELECT {v} AS "_v", {n} * {factor} AS "_n"))'
)
_PG_SHIFT = "({v} + CAST({n} AS bigint) * INTERVAL '1 {unit}')"
_PG_SHIFT_DATE = "CAST({v} + CAST({n} AS bigint) * INTERVAL '1 {unit}' AS date)"

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
    now_sql="strftime('%Y-%m-%d %H:%M:%f000+00:00', 'now')",
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
    explain_sql="EXPLAIN QUERY PLAN ",
    explain_analyze_sql=None,
    explain_tree=True,
    time_shifts=(
        ("datetime_micros", _SQLITE_SHIFT_MICROS),
        ("datetime_interval", _SQLITE_SHIFT_MICROS),
        ("datetime_months", _SQLITE_SHIFT_MONTHS),
        ("date_months", _SQLITE_SHIFT_MONTHS),
        ("date_days", "date({v}, ({n} * {factor}) || ' days')"),
    ),
    # Arrays are JSON text: elements are read with json_each, whose values
    # are SQL values (a JSON string is text), as bound values are. A NULL
    # array gives NULL, as on PostgreSQL; each operand is read once, through
    # a derived table, so that it binds once.
    array_ops=(
        (
            "has",
            '(SELECT CASE WHEN "_a" IS NULL THEN NULL ELSE'
            ' "_x" IN (SELECT "value" FROM json_each("_a")) END'
            ' FROM (SELECT {x} AS "_x", {a} AS "_a"))',
        ),
        (
            "contains",
            '(SELECT CASE WHEN "_a" IS NULL OR "_x" IS NULL THEN NULL ELSE'
            ' NOT EXISTS (SELECT 1 FROM json_each("_x") WHERE "value" NOT IN'
            ' (SELECT "value" FROM json_each("_a"))) END'
            ' FROM (SELECT {x} AS "_x", {a} AS "_a"))',
        ),
        (
            "overlaps",
            '(SELECT CASE WHEN "_a" IS NULL OR "_x" IS NULL THEN NULL ELSE'
            ' EXISTS (SELECT 1 FROM json_each("_x") WHERE "value" IN'
            ' (SELECT "value" FROM json_each("_a"))) END'
            ' FROM (SELECT {x} AS "_x", {a} AS "_a"))',
        ),
        ("append", "json_insert(coalesce({a}, '[]'), '$[#]', {x})"),
        # NULL stays NULL, as PostgreSQL's array_remove has it; NULL elements stay.
        (
            "remove",
            '(SELECT CASE WHEN "_a" IS NULL THEN NULL ELSE'
            ' (SELECT json_group_array("value") FROM json_each("_a")'
            ' WHERE "value" IS NOT "_x") END FROM (SELECT {a} AS "_a", {x} AS "_x"))',
        ),
    ),
    # A key whose value is JSON null exists (json_type gives 'null'), as with
    # jsonb's ?; a NULL document gives NULL. Each operand binds once.
    json_ops=(
        (
            "has_key",
            '(SELECT CASE WHEN "_j" IS NULL THEN NULL ELSE'
            ' json_type("_j", \'$."\' || "_k" || \'"\') IS NOT NULL END'
            ' FROM (SELECT {j} AS "_j", {k} AS "_k"))',
        ),
    ),
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
    explain_sql="EXPLAIN ",
    explain_analyze_sql="EXPLAIN ANALYZE ",
    explain_tree=False,
    # The session runs in UTC, so a day is 24 hours and months move in UTC,
    # as on SQLite; a month past the 28th is clamped to the month's last day.
    time_shifts=(
        ("datetime_micros", _PG_SHIFT),
        ("datetime_months", _PG_SHIFT),
        ("datetime_interval", "({v} + {n})"),
        ("date_days", _PG_SHIFT_DATE),
        ("date_months", _PG_SHIFT_DATE),
    ),
    array_ops=(
        ("has", "({x} = ANY({a}))"),
        ("contains", "({x} <@ {a})"),
        ("overlaps", "({x} && {a})"),
        ("append", "array_append({a}, {x})"),
        ("remove", "array_remove({a}, {x})"),
    ),
    inserted_flag_sql="(xmax = 0)",
    json_ops=(
        ("contains", "({j} @> CAST({x} AS jsonb))"),
        ("has_key", "({j} ? CAST({k} AS text))"),
    ),
    # The configuration is a checked name written in place, so that a query's
    # to_tsvector is the very expression of create_index(..., search=config).
    search_ops=(
        ("vector", "to_tsvector('{config}', {document})"),
        ("document_part", "coalesce({d}, '')"),
        ("document_join", " || ' ' || "),
        ("query_plain", "plainto_tsquery('{config}', {q})"),
        ("query_raw", "to_tsquery('{config}', {q})"),
        ("query_phrase", "phraseto_tsquery('{config}', {q})"),
        ("query_web", "websearch_to_tsquery('{config}', {q})"),
        ("match", "({v} @@ {q})"),
        ("rank", "ts_rank({v}, {q})"),
    ),
)

# MariaDB keeps datetimes as DATETIME(6) in UTC (the session's time zone is
# UTC), timedeltas as BIGINT microseconds, arrays as JSON text. Its sessions run
# with sql_mode ANSI_QUOTES,PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES (see
# driver/_mariadb.py), so portable SQL text means what it means elsewhere.
MARIADB = Dialect(
    name="mariadb",
    placeholder_prefix="?",
    numbered_placeholders=False,
    dollar_quotes=False,
    max_params=65535,
    # INSERT ... RETURNING and DELETE ... RETURNING (10.5+), not UPDATE's.
    supports_returning=True,
    supports_update_returning=False,
    supports_arrays=False,
    supports_distinct_on=False,
    supports_row_locks=True,
    supports_date_trunc=False,
    supports_conflict_constraint=False,
    # ON DUPLICATE KEY UPDATE: fires on any unique key (no target), names the
    # new row by VALUES(col) (10.3.3+; MariaDB has no INSERT ... AS alias).
    supports_on_conflict=False,
    update_on_duplicate=True,
    excluded_sql="VALUES({column})",
    # A session variable: set to 1 by the update of a found row, read and set
    # back to 0 by that row's RETURNING (rows are returned one by one, as
    # written); set to 0 before each statement that reads it.
    upsert_marker="{column} = IF((@repodb_found := 1), {column}, {column})",
    inserted_flag_sql="IF(@repodb_found, (@repodb_found := 0), TRUE)",
    inserted_flag_reset="SET @repodb_found = 0",
    supports_writable_cte=False,
    upsert_update_needs_target=False,
    upsert_select_wrap=None,
    supports_delete_using=False,
    supports_update_from=False,
    aliases_delete_target=False,
    default_values_sql=" VALUES ()",
    qualifies_returning=False,
    groups_by_outer_columns=False,
    # LIKE follows the collation: case-insensitive under MariaDB's default
    # utf8mb4_general_ci, case-sensitive under utf8mb4_bin (the test
    # databases'); ilike lowers both sides, so it ignores case under either.
    ilike_operator="LIKE",
    ilike_template="(LOWER({x}) LIKE LOWER({p}))",
    offset_without_limit="LIMIT 18446744073709551615 ",
    now_sql="CURRENT_TIMESTAMP(6)",
    cast_types=(
        (Kind.BOOL, "SIGNED"),
        (Kind.INT, "SIGNED"),
        (Kind.FLOAT, "DOUBLE"),
        (Kind.DECIMAL, "DECIMAL(65, 30)"),
        (Kind.STR, "CHAR"),
        (Kind.BYTES, "BINARY"),
        (Kind.DATE, "DATE"),
        (Kind.DATETIME, "DATETIME(6)"),
        (Kind.TIME, "TIME(6)"),
        (Kind.TIMEDELTA, "SIGNED"),
        (Kind.UUID, "CHAR(36)"),
        (Kind.JSON, "CHAR"),
        (Kind.ENUM, "CHAR"),
    ),
    # sum() of integers is DECIMAL and avg() DECIMAL on MariaDB.
    aggregate_casts=(
        ("sum", Kind.INT, "SIGNED"),
        ("avg", Kind.INT, "DOUBLE"),
    ),
    # Parts of a JSON path: CONCAT('$', '."', ?, '"', '[', ?, ']').
    json_key=("'.\"', ", ", '\"'"),
    json_index=("'[', ", ", ']'"),
    json_text_cast=None,
    casts_via=(),
    decimal_compare_as=None,
    max_identifier_bytes=64,
    # One row of one column, the plan as JSON text (plain EXPLAIN has ten columns).
    explain_sql="EXPLAIN FORMAT=JSON ",
    explain_analyze_sql="ANALYZE FORMAT=JSON ",
    explain_tree=False,
    # A month past the 28th is clamped to the month's last day, as on PostgreSQL.
    time_shifts=(
        ("datetime_micros", "({v} + INTERVAL ({n} * {factor}) MICROSECOND)"),
        ("datetime_interval", "({v} + INTERVAL {n} MICROSECOND)"),
        ("datetime_months", "({v} + INTERVAL ({n} * {factor}) MONTH)"),
        ("date_days", "({v} + INTERVAL ({n} * {factor}) DAY)"),
        ("date_months", "({v} + INTERVAL ({n} * {factor}) MONTH)"),
    ),
    identifier_quote="`",
    # NULLs sort first ascending, last descending; no NULLS FIRST/LAST.
    supports_nulls_order=False,
    nulls_sort_first=True,
    supports_full_join=False,
    # A scalar subquery without FROM: the argument where the condition holds,
    # else NULL, which every aggregate skips (count(*) counts the 1s). Not
    # CASE WHEN {c} THEN {x}: that names the condition first, and values bind
    # in the order of the text.
    aggregate_filter="(SELECT {x} FROM DUAL WHERE {c})",
    int_division="DIV",
    lock_clauses=(("UPDATE", "FOR UPDATE"), ("SHARE", "LOCK IN SHARE MODE")),
    json_ops=(
        ("get", "JSON_EXTRACT({j}, {path})"),
        # JSON null is SQL NULL, as with PostgreSQL's ->> (CONCAT makes the
        # JSON text plain text, so the string "null" stays a string).
        ("text", "JSON_UNQUOTE(NULLIF(CONCAT(JSON_EXTRACT({j}, {path})), 'null'))"),
        ("contains", "JSON_CONTAINS({j}, {x})"),
        ("has_key", "JSON_CONTAINS_PATH({j}, 'one', CONCAT('$.\"', {k}, '\"'))"),
    ),
)

PORTABLE_IDENTIFIER_BYTES = min(
    limit for d in (SQLITE, POSTGRESQL, MARIADB) if (limit := d.max_identifier_bytes) is not None
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
