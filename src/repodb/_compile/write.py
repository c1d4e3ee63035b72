"""Writing INSERT, UPDATE and DELETE statements, and walking their shapes in the same order.

As in ``select``, each ``emit_*`` binds values in the order its ``walk_*``
twin collects them. RETURNING names columns without a table alias: SQLite
does not accept qualified names there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..expr import Binary, Column, Expr, InsertedFlag, Value
from ..schema import Schema, schema_info
from .select import (
    _bind,
    _emit_source,
    _walk_source,
    emit_ctes,
    emit_selection,
    fold,
    walk_ctes,
    walk_selection,
    walk_steps,
)
from .writer import Writer

if TYPE_CHECKING:
    from ..query import Join, Query, Selection, Source
    from ..write import Assignment, Delete, Insert, Update

__all__ = [
    "emit_delete",
    "emit_insert",
    "emit_update",
    "walk_delete",
    "walk_insert",
    "walk_update",
]


def emit_insert(w: Writer, ins: Insert) -> None:
    """``INSERT INTO ... VALUES ... [ON CONFLICT ...] [RETURNING ...]``.

    Values of ``redact=True`` fields are bound hidden, so logs never show them.
    """
    info = ins.info
    width = len(ins.columns)
    if width * len(ins.rows) > w.dialect.max_params:
        per_batch = max(1, w.dialect.max_params // max(width, 1))
        raise ValueError(
            f"{len(ins.rows)} rows of {width} values exceed {w.dialect.name}'s "
            f"{w.dialect.max_params} parameters; insert at most {per_batch} rows at a time"
        )
    duplicate = w.dialect.update_on_duplicate and ins.on_conflict != "raise"
    with w.scope(), w.nested():
        w.write("INSERT INTO ")
        w.table(info.prefix, info.table)
        if duplicate:
            # ON DUPLICATE KEY UPDATE names the stored row's columns by the
            # table (MariaDB's INSERT takes no alias; a bare name would be
            # ambiguous with an INSERT ... SELECT's), the new row's by a template.
            w.aliases[ins.schema] = w.dialect.quote_table(info.table, info.prefix)
            w.column_templates[ins.excluded_key] = w.dialect.excluded_sql or "{column}"
        elif ins.updates:
            # The existing row is named in DO UPDATE SET expressions.
            alias = w.new_alias(ins.letter)
            w.aliases[ins.schema] = alias
            w.write(f" AS {alias}")
        if not duplicate:
            w.aliases[ins.excluded_key] = w.dialect.quote("excluded")
        if ins.source is not None:
            _emit_insert_select(w, ins, ins.source)
        elif width:
            w.write(" (")
            for i, f in enumerate(ins.columns):
                w.write(", " if i else "")
                w.identifier(f.source)
            w.write(") VALUES ")
            hidden = [f.redact for f in ins.columns]
            for r, row in enumerate(ins.rows):
                w.write(", (" if r else "(")
                for i, value in enumerate(row):
                    w.write(", " if i else "")
                    if isinstance(value, Value):
                        w.bind(value.value, value.type_, hidden[i])
                    else:
                        value.emit(w)
                w.write(")")
        else:
            w.write(w.dialect.default_values_sql)
        if ins.on_conflict != "raise":
            _emit_conflict(w, ins)
        _emit_returning(w, ins.returning, ins.schema)


def walk_insert(ins: Insert, shape: list[object], values: list[object]) -> None:
    shape.append(
        (
            "insert",
            ins.schema,
            tuple(f.name for f in ins.columns),
            len(ins.rows),
            ins.on_conflict if isinstance(ins.on_conflict, str) else "update",
            ins.conflict_target,
        )
    )
    if ins.source is not None:
        shape.append("select")
        ins.source.walk(shape, values)
    for row in ins.rows:
        for value in row:
            value.walk(shape, values)
    _walk_assignments(ins.updates, shape, values)
    shape.append(("update_where", ins.update_where is not None))
    if ins.update_where is not None:
        ins.update_where.walk(shape, values)
    _walk_returning(ins.returning, shape, values)


def _emit_insert_select(w: Writer, ins: Insert, source: Query[Any]) -> None:
    """``(columns) SELECT ...``: the rows of ``source`` are inserted, in its select's order."""
    w.write(" (")
    for i, f in enumerate(ins.columns):
        w.write(", " if i else "")
        w.identifier(f.source)
    w.write(") ")
    wrap = w.dialect.upsert_select_wrap if ins.on_conflict != "raise" else None
    if wrap is not None:
        w.write(wrap[0])
    with w.scope():
        source.emit(w)
    if wrap is not None:
        w.write(wrap[1])


def _emit_conflict(w: Writer, ins: Insert) -> None:
    if w.dialect.update_on_duplicate:
        _emit_on_duplicate(w, ins)
        return
    if not w.dialect.supports_on_conflict:
        raise ValueError(
            f"{w.dialect.name} upserts (on_conflict) are not supported yet: its ON DUPLICATE"
            " KEY UPDATE fires on any unique key, not a conflict target"
        )
    w.write(" ON CONFLICT")
    target = ins.conflict_target
    if isinstance(target, str):
        if not w.dialect.supports_conflict_constraint:
            raise ValueError(
                f"{w.dialect.name} cannot name a constraint in ON CONFLICT; "
                "give the conflict_target columns"
            )
        w.write(" ON CONSTRAINT ")
        w.identifier(target)
    elif target:
        w.write(" (")
        for i, name in enumerate(target):
            w.write(", " if i else "")
            w.identifier(name)
        w.write(")")
    if ins.updates:
        if not target and w.dialect.upsert_update_needs_target:
            raise ValueError(
                f"{w.dialect.name} cannot update on conflict without a conflict_target"
                " (its ON CONFLICT DO UPDATE must name the unique columns or constraint(name));"
                " give conflict_target, or use on_conflict='nothing'"
            )
        w.write(" DO UPDATE SET ")
        _emit_assignments(w, ins.updates, ins.schema)
        if ins.update_where is not None:
            w.write(" WHERE ")
            ins.update_where.emit(w)
    else:
        w.write(" DO NOTHING")


def _emit_on_duplicate(w: Writer, ins: Insert) -> None:
    """MariaDB's upsert: ``ON DUPLICATE KEY UPDATE marker, assignments``, where it is exact.

    It fires on a duplicate in any unique key, so a conflict target is taken
    only when it is the one unique key (as the schema declares them) that the
    inserted columns can collide on. It has no WHERE, and it assigns left to
    right, each value seeing the columns already assigned (PostgreSQL's see
    the stored row): an assignment reading a column set before it is refused.
    A RETURNING of ``on_conflict="nothing"`` would also return the rows found,
    so it is refused unless it carries the inserted flag (the Repo's).
    """
    d = w.dialect
    name = d.name
    if ins.update_where is not None:
        raise ValueError(
            f"{name} cannot upsert with update_where: its ON DUPLICATE KEY UPDATE has no WHERE"
            " (update only where a condition holds with set_(col, case(...)) values, or read"
            " and write in a transaction)"
        )
    _check_duplicate_target(name, ins)
    if not ins.columns:
        raise ValueError(f"{name} cannot upsert a row of defaults: name at least one column")
    returning = ins.returning
    flagged = returning is not None and any(isinstance(i, InsertedFlag) for i in returning.items)
    if ins.on_conflict == "nothing" and returning is not None and not flagged:
        raise ValueError(
            f"{name} cannot return the rows of on_conflict='nothing': its RETURNING also"
            " returns each conflicting row as it is stored, where PostgreSQL and SQLite"
            " return only the rows inserted (repo.insert and repo.insert_all tell them"
            " apart themselves); drop returning, or read the rows afterwards"
        )
    _check_assignment_order(name, ins)
    w.write(" ON DUPLICATE KEY UPDATE ")
    table = d.quote_table(ins.info.table, ins.info.prefix)
    marker = d.upsert_marker or "{column} = {column}"
    w.write(marker.format(column=f"{table}.{d.quote(ins.columns[0].source)}"))
    if ins.updates:
        w.write(", ")
        _emit_assignments(w, ins.updates, ins.schema, table)


def _check_duplicate_target(name: str, ins: Insert) -> None:
    """Refuse a conflict target unless it is the only unique key the insert can collide on."""
    target = ins.conflict_target
    if target is None:
        return
    why = (
        f"{name}'s ON DUPLICATE KEY UPDATE has no conflict target: it acts on a duplicate in"
        " any unique key"
    )
    if isinstance(target, str):
        raise ValueError(f"{why}, and cannot name a constraint; leave conflict_target out")
    info = ins.info
    given = {f.source for f in ins.columns}
    sources = {f.name: f.source for f in info.fields}
    keys: list[frozenset[str]] = []
    if info.primary_key:
        keys.append(frozenset(f.source for f in info.primary_key))
    keys.extend(
        frozenset(sources.get(c, c) for c in declared.columns)
        for declared in info.indexes
        if declared.unique and declared.where is None
    )
    # A key with a column the statement does not give (a database-assigned
    # id) cannot collide: that column gets a new value.
    reachable = [k for k in dict.fromkeys(keys) if k <= given]
    wanted = frozenset(target)
    if wanted not in reachable:
        raise ValueError(
            f"{why}, so repodb takes conflict_target={list(target)} on {name} only when it is"
            f" the one unique key {ins.schema.__name__} declares among the inserted columns;"
            " it is not a declared key: declare it (indexes=(index(..., unique=True),) or the"
            " primary key), or leave conflict_target out to act on any unique key"
        )
    others = [sorted(k) for k in reachable if k != wanted]
    if others:
        raise ValueError(
            f"{why}: {ins.schema.__name__} also declares the unique key(s) {others} among the"
            f" inserted columns, where a duplicate would update the row too, not raise as"
            f" with conflict_target={list(target)}; leave conflict_target out to act on any"
            " unique key, or insert without those columns"
        )


def _check_assignment_order(name: str, ins: Insert) -> None:
    """Refuse an assignment that reads a column an earlier one sets (MariaDB assigns in order)."""
    assigned: set[str] = set()
    for a in ins.updates:
        shape: list[object] = []
        a.value.walk(shape, [])
        # A column walks as (Column, binding, name, type).
        read = {
            part[2]
            for part in shape
            if isinstance(part, tuple)
            and len(part) == 4
            and part[0] is Column
            and part[1] is ins.schema
        }
        stale = sorted(read & assigned)
        if stale:
            raise ValueError(
                f"{name}'s ON DUPLICATE KEY UPDATE assigns left to right: the value of"
                f" {a.column.name} reads {', '.join(stale)}, already changed by an earlier"
                " assignment (PostgreSQL and SQLite read the stored row); put that assignment"
                " first, or compute it from excluded(...) values"
            )
        assigned.add(a.column.name)


def emit_update(w: Writer, upd: Update) -> None:
    """``[WITH ...] UPDATE ... AS alias SET ... [FROM ...] [WHERE ...] [RETURNING ...]``.

    The query's joins become the FROM list (both databases have ``UPDATE
    ... FROM``), so SET values may read joined columns.
    """
    q = upd.query
    if upd.returning is not None and not w.dialect.supports_update_returning:
        raise ValueError(
            f"{w.dialect.name} has no UPDATE ... RETURNING: update without returning, then"
            " read the rows (the Repo's update of one record does so itself)"
        )
    if q.joins and not w.dialect.supports_update_from:
        raise ValueError(
            f"{w.dialect.name} has no UPDATE ... FROM: an update_all cannot join; filter with a"
            " subquery instead (where(col.in_(subquery(...))) or exists(...)), with values"
            " that read only the updated table"
        )
    with w.scope(), w.nested():
        _emit_target(w, q, "UPDATE ")
        joined = _bind_joins(w, q.joins)
        w.write(" SET ")
        assert q.source.schema is not None
        _emit_assignments(w, upd.assignments, q.source.schema)
        if joined:
            w.write(" FROM ")
            _emit_joined_where(w, q, joined)
        else:
            _emit_where(w, q)
        _emit_returning(w, upd.returning, *q.source.keys, joined=bool(joined))


def walk_update(upd: Update, shape: list[object], values: list[object]) -> None:
    q = upd.query
    walk_ctes(q, shape, values)
    shape.append(("update", q.source.keys, q.source.prefix, q.source.table))
    _walk_assignments(upd.assignments, shape, values)
    _walk_joined_where(q, shape, values)
    _walk_returning(upd.returning, shape, values)


def emit_delete(w: Writer, dlt: Delete) -> None:
    """``[WITH ...] DELETE FROM ... AS alias [USING ...] [WHERE ...] [RETURNING ...]``.

    The query's joins become the USING list, or, where the dialect has no
    ``DELETE ... USING`` (SQLite), ``WHERE EXISTS (SELECT 1 FROM the
    joins WHERE ...)``: the same rows, with the values bound in the same order.
    """
    q = dlt.query
    with w.scope(), w.nested():
        _emit_target(w, q, "DELETE FROM ")
        if not q.joins:
            _emit_where(w, q)
        elif w.dialect.supports_delete_using:
            w.write(" USING ")
            _emit_joined_where(w, q, _bind_joins(w, q.joins))
        else:
            with w.scope():
                joined = _bind_joins(w, q.joins)
                w.write(" WHERE EXISTS (SELECT 1 FROM ")
                _emit_joined_where(w, q, joined)
                w.write(")")
        _emit_returning(w, dlt.returning, *q.source.keys, joined=bool(q.joins))


def _emit_target(w: Writer, q: Query[Any], verb: str) -> None:
    """The CTEs, then ``verb table AS alias``, binding the query's source to that alias.

    A dialect whose DELETE takes no alias (MariaDB) names the table's
    columns by the table itself.
    """
    source = q.source
    emit_ctes(w, q)
    by_table = verb == "DELETE FROM " and not w.dialect.aliases_delete_target
    if by_table:
        alias = w.dialect.quote_table(source.table, source.prefix)
    else:
        alias = w.new_alias(source.letter)
    for key in source.keys:
        w.aliases[key] = alias
    w.write(verb)
    w.table(source.prefix, source.table)
    if not by_table:
        w.write(f" AS {alias}")


def walk_delete(dlt: Delete, shape: list[object], values: list[object]) -> None:
    q = dlt.query
    walk_ctes(q, shape, values)
    shape.append(("delete", q.source.keys, q.source.prefix, q.source.table))
    _walk_joined_where(q, shape, values)
    _walk_returning(dlt.returning, shape, values)


# -- the joins of an UPDATE or a DELETE -----------------------------------------------------

_Bound = tuple["Join", str | None, str]


def _bind_joins(w: Writer, joins: tuple[Join, ...]) -> list[_Bound]:
    """Each join with the aliases of its join table (many-to-many) and of its source."""
    return [
        (join, _bind(w, join.through) if join.through is not None else None, _bind(w, join.source))
        for join in joins
    ]


def _emit_joined_where(w: Writer, q: Query[Any], joined: list[_Bound]) -> None:
    """The joined sources as a FROM list, then WHERE: the joins' conditions AND the query's.

    A FROM list of an UPDATE or a DELETE cannot name the written table in
    an ON (PostgreSQL refuses it), so every source is an item of its own
    and every join condition moves to WHERE: for inner joins, the same rows.
    """
    sources: list[tuple[Source, str]] = []
    conditions: list[Expr[Any]] = []
    for join, through_alias, alias in joined:
        if join.through is not None:
            assert through_alias is not None
            assert join.through_on is not None
            sources.append((join.through, through_alias))
            conditions.append(join.through_on)
        sources.append((join.source, alias))
        if join.on is not None:
            conditions.append(join.on)
    for position, (source, alias) in enumerate(sources):
        w.write(", " if position else "")
        _emit_source(w, source, alias)
    where = fold(q.wheres)
    if where is not None:
        conditions.append(where)
    if conditions:
        w.write(" WHERE ")
        combined = conditions[0]
        for condition in conditions[1:]:
            combined = Binary("AND", combined, condition)
        combined.emit(w)


def _walk_joined_where(q: Query[Any], shape: list[object], values: list[object]) -> None:
    """The shape of the joins and the WHERE clause, in ``_emit_joined_where``'s order."""
    shape.append(("joins", len(q.joins)))
    for join in q.joins:
        shape.append(("join", join.through is not None, join.on is not None))
        if join.through is not None:
            _walk_source(join.through, shape, values)
        _walk_source(join.source, shape, values)
    for join in q.joins:
        if join.through_on is not None:
            join.through_on.walk(shape, values)
        if join.on is not None:
            join.on.walk(shape, values)
    walk_steps("where", q.wheres, shape, values)


def _emit_where(w: Writer, q: Any) -> None:
    condition = fold(q.wheres)
    if condition is not None:
        w.write(" WHERE ")
        condition.emit(w)


def _emit_assignments(
    w: Writer, assignments: tuple[Assignment, ...], schema: type[Schema], table: str = ""
) -> None:
    """``col = value, ...``; targets qualified by ``table`` when given (MariaDB's upserts)."""
    # A value set on a redact=True field is bound hidden: logs never show it.
    redacted = {f.source for f in schema_info(schema).fields if f.redact}
    for i, a in enumerate(assignments):
        w.write(", " if i else "")
        # SET targets are bare column names, except in ON DUPLICATE KEY UPDATE.
        if table:
            w.write(table + ".")
        w.identifier(a.column.name)
        w.write(" = ")
        if isinstance(a.value, Value) and a.column.name in redacted:
            w.bind(a.value.value, a.value.type_, True)
        else:
            a.value.emit(w)


def _walk_assignments(
    assignments: tuple[Assignment, ...], shape: list[object], values: list[object]
) -> None:
    shape.append(("set", tuple(a.column.name for a in assignments)))
    for a in assignments:
        a.value.walk(shape, values)


def _emit_returning(
    w: Writer, returning: Selection | None, *keys: object, joined: bool = False
) -> None:
    if returning is None:
        return
    if not w.dialect.supports_returning:  # pragma: no cover - every dialect has it on INSERT
        raise ValueError(f"{w.dialect.name} has no RETURNING")
    with w.scope():
        # Bare names, unless a joined table could make one ambiguous.
        if not (joined and w.dialect.qualifies_returning):
            for key in keys:
                w.aliases[key] = None
        w.write(" RETURNING ")
        emit_selection(w, returning, top=True)


def _walk_returning(returning: Selection | None, shape: list[object], values: list[object]) -> None:
    shape.append(("returning", returning is not None))
    if returning is not None:
        walk_selection(returning, shape, values)
