"""Writing a ``Query`` as a SELECT statement, and walking its shape in the same order.

``emit_query`` and ``walk_query`` must visit bound values in the same order:
the compiled-SQL cache stores the SQL of the first query of a shape and
binds the values that ``walk_query`` collects from later ones. Each
``_emit_*`` function here has its ``_walk_*`` twin right below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..expr import Binary, Column, Expr, Label, Ordering
from ..schema import schema_info
from ..types import DbType, optional
from .cache import Shape
from .result import RecordShape, Result
from .writer import OuterBinding, Writer

if TYPE_CHECKING:
    from ..query import Join, Query, Selection, Source

__all__ = [
    "emit_ctes",
    "emit_query",
    "emit_selection",
    "fold",
    "walk_ctes",
    "walk_query",
    "walk_selection",
    "walk_steps",
]


def fold(conditions: tuple[tuple[str, Expr[Any]], ...]) -> Expr[Any] | None:
    """``where``/``or_where`` steps combined left to right: ``((a AND b) OR c)``."""
    if not conditions:
        return None
    result = conditions[0][1]
    for op, condition in conditions[1:]:
        result = Binary(op, result, condition)
    return result


def emit_query(w: Writer, q: Query[Any]) -> None:
    """Write ``q`` (with its CTEs and set operations) as one SELECT statement."""
    top = w.depth == 0
    with w.nested(), w.scope():
        emit_ctes(w, q)
        selection = q.selection()
        _emit_core(w, q, selection, top)
        for op, member in q.combinations:
            w.write(f" {op} ")
            _emit_member(w, member)
        _emit_tail(w, q, selection)


def walk_query(q: Query[Any], shape: list[object], values: list[object]) -> None:
    """The shape and values of ``q``, in ``emit_query``'s order."""
    walk_ctes(q, shape, values)
    _walk_core(q, shape, values)
    for op, member in q.combinations:
        shape.append(("combine", op))
        _walk_member(member, shape, values)
    _walk_tail(q, shape, values)


# -- WITH ---------------------------------------------------------------------


def emit_ctes(w: Writer, q: Query[Any]) -> None:
    if not q.ctes:
        return
    w.write("WITH RECURSIVE " if any(c.recursive for c in q.ctes) else "WITH ")
    for i, cte in enumerate(q.ctes):
        if i:
            w.write(", ")
        w.identifier(cte.name)
        w.write(" AS (")
        cte.query.emit(w)
        w.write(")")
    w.write(" ")


def walk_ctes(q: Query[Any], shape: list[object], values: list[object]) -> None:
    for cte in q.ctes:
        shape.append(("cte", cte.name, cte.recursive))
        cte.query.walk(shape, values)


# -- SELECT ... FROM ... WHERE ... GROUP BY ... HAVING -------------------------------


def _emit_core(w: Writer, q: Query[Any], selection: Selection, top: bool) -> None:
    # Aliases first: the select list, written before FROM, uses them.
    root = _bind(w, q.source)
    joined = [
        (join, _bind(w, join.through) if join.through is not None else None, _bind(w, join.source))
        for join in q.joins
    ]
    w.nullable = w.nullable | _outer_joined(q)
    w.write("SELECT ")
    if q.distinct_on is not None:
        if q.distinct_on:
            if not w.dialect.supports_distinct_on:
                raise ValueError(f"DISTINCT ON is not available on {w.dialect.name}")
            w.write("DISTINCT ON (")
            _emit_list(w, q.distinct_on)
            w.write(") ")
        else:
            w.write("DISTINCT ")
    emit_selection(w, selection, top)
    w.write(" FROM ")
    _emit_source(w, q.source, root)
    for join, through_alias, alias in joined:
        _emit_join(w, join, through_alias, alias)
    _emit_condition(w, " WHERE ", fold(q.wheres))
    if q.groups:
        _check_outer_groups(w, q.groups)
        w.write(" GROUP BY ")
        _emit_list(w, q.groups)
    _emit_condition(w, " HAVING ", fold(q.havings))
    _emit_windows(w, q)


def _walk_core(q: Query[Any], shape: list[object], values: list[object]) -> None:
    shape.append(("select", q.distinct_on is not None, len(q.distinct_on or ())))
    for e in q.distinct_on or ():
        e.walk(shape, values)
    walk_selection(q.selection(), shape, values)
    _walk_source(q.source, shape, values)
    for join in q.joins:
        _walk_join(join, shape, values)
    walk_steps("where", q.wheres, shape, values)
    shape.append(("group", len(q.groups)))
    for e in q.groups:
        e.walk(shape, values)
    walk_steps("having", q.havings, shape, values)
    _walk_windows(q, shape, values)


def _emit_windows(w: Writer, q: Query[Any]) -> None:
    """``WINDOW "a" AS (...), "b" AS (...)``: the query's named windows."""
    for i, (name, window) in enumerate(q.windows):
        w.write(", " if i else " WINDOW ")
        w.identifier(name)
        w.write(" AS (")
        window.emit(w)
        w.write(")")


def _walk_windows(q: Query[Any], shape: list[object], values: list[object]) -> None:
    shape.append(("windows", tuple(name for name, _ in q.windows)))
    for _, window in q.windows:
        window.walk(shape, values)


def _check_outer_groups(w: Writer, groups: tuple[Expr[Any], ...]) -> None:
    """Refuse a GROUP BY naming an outer query's column where the dialect cannot resolve it."""
    if w.dialect.groups_by_outer_columns:
        return
    shape: list[object] = []
    for e in groups:
        e.walk(shape, [])
    # A column walks as (Column, binding, name, type).
    if any(
        isinstance(part, tuple)
        and len(part) == 4
        and part[0] is Column
        and isinstance(part[1], OuterBinding)
        for part in shape
    ):
        raise ValueError(
            f"{w.dialect.name} cannot group a subquery by a column of the query around it"
            " (parent_as): it looks GROUP BY names up in the subquery's own tables only;"
            " group the outer query, or leave the constant out of group_by"
        )


def _emit_list(w: Writer, items: Sequence[Expr[Any] | Ordering]) -> None:
    for i, item in enumerate(items):
        if i:
            w.write(", ")
        item.emit(w)


def _emit_condition(w: Writer, keyword: str, condition: Expr[Any] | None) -> None:
    if condition is not None:
        w.write(keyword)
        condition.emit(w)


def walk_steps(
    clause: str,
    steps: tuple[tuple[str, Expr[Any]], ...],
    shape: list[object],
    values: list[object],
) -> None:
    """The shape of ``where``/``having`` steps, as ``fold`` of them would walk."""
    shape.append((clause, len(steps)))
    for op, condition in steps:
        shape.append(op)
        condition.walk(shape, values)


def _walk_condition(
    clause: str, condition: Expr[Any] | None, shape: list[object], values: list[object]
) -> None:
    shape.append((clause, condition is not None))
    if condition is not None:
        condition.walk(shape, values)


# -- the select list ---------------------------------------------------------------


def emit_selection(w: Writer, selection: Selection, top: bool) -> None:
    """Write the select list; for the outermost query, record how rows become results."""
    columns: list[Any] = []
    shapes: list[RecordShape | None] = []
    first = True
    for position, item in enumerate(selection.items):
        if isinstance(item, Expr):
            if not first:
                w.write(", ")
            first = False
            key = selection.keys[position] if selection.keys else None
            _emit_selected(w, item, key)
            columns.append(_selected_type(w, item))
            shapes.append(None)
            continue
        for name, expr in item.fields:
            if not first:
                w.write(", ")
            first = False
            _emit_selected(w, expr, item.output_name(name))
            columns.append(_selected_type(w, expr))
        # A record from the empty side of an outer join is None.
        missing = any(isinstance(e, Column) and e.binding in w.nullable for _, e in item.fields)
        names = tuple(n for n, _ in item.fields)
        shapes.append(RecordShape(item.cls, names, missing))
    if top:
        w.result = Result(selection.kind, tuple(columns), tuple(shapes), selection.keys)


def walk_selection(selection: Selection, shape: list[object], values: list[object]) -> None:
    """The select list's shape and values, in ``emit_selection``'s order."""
    shape.append((selection.kind, selection.keys))
    for item in selection.items:
        if isinstance(item, Expr):
            _walk_selected(item, shape, values)
            continue
        walked = item._walked
        if walked is None:
            parts: list[object] = [(item.cls, tuple(name for name, _ in item.fields))]
            found: list[object] = []
            for _, expr in item.fields:
                _walk_selected(expr, parts, found)
            walked = (Shape(tuple(parts)), tuple(found))
            object.__setattr__(item, "_walked", walked)
        shape.append(walked[0])
        values.extend(walked[1])


def _walk_selected(expr: Expr[Any], shape: list[object], values: list[object]) -> None:
    """Like ``_emit_selected``: a label in the select list is its operand, named."""
    expr.walk(shape, values)
    if isinstance(expr, Label):
        expr.operand.walk(shape, values)


def _selected_type(w: Writer, expr: Expr[Any]) -> DbType[Any] | None:
    """The type of a selected column, as far as the compiler knows it.

    A column given by name (``ref("s").total``) takes its type from its
    source; a column of an outer-joined source may be NULL.
    """
    target = expr.operand if isinstance(expr, Label) else expr
    if not isinstance(target, Column):
        return expr.dbtype
    dbtype = target.dbtype or _source_type(w.sources.get(target.binding), target.name)
    if dbtype is not None and target.binding in w.nullable:
        return optional(dbtype)
    return dbtype


def _source_type(source: Source | None, name: str) -> DbType[Any] | None:
    """The type of the column ``name`` of a table or subquery source."""
    if source is None:
        return None
    if source.query is None:
        if source.schema is None:
            return None
        found = [f.dbtype for f in schema_info(source.schema).fields if f.source == name]
        return found[0] if found else None
    selection = source.query.selection()
    for position, item in enumerate(selection.items):
        if isinstance(item, Expr):
            key = selection.keys[position] if selection.keys else None
            if _selected_name(item, key)[1] == name:
                return item.dbtype
        else:
            for field, e in item.fields:
                if item.output_name(field) == name:
                    return e.dbtype
    return None


def _emit_selected(w: Writer, expr: Expr[Any], name: str | None) -> None:
    """``expr`` in a select list, named ``name`` (or its label) unless it already is."""
    if isinstance(expr, Label):
        name = name or expr.name
        expr = expr.operand
    expr.emit(w)
    if name is not None and not (isinstance(expr, Column) and expr.name == name):
        w.write(" AS ")
        w.identifier(name)


# -- FROM and JOIN ---------------------------------------------------------------------


def _bind(w: Writer, source: Source) -> str:
    alias = w.new_alias(source.letter)
    for key in source.keys:
        w.aliases[key] = alias
        w.sources[key] = source
    return alias


def _outer_joined(q: Query[Any]) -> frozenset[object]:
    """The bindings whose columns an outer join may fill with NULLs."""
    nullable: set[object] = set()
    before: list[object] = list(q.source.keys)
    for join in q.joins:
        joined = list(join.source.keys)
        if join.through is not None:
            joined.extend(join.through.keys)
        if join.kind in ("left", "full"):
            nullable.update(joined)
        if join.kind in ("right", "full"):
            nullable.update(before)
        before.extend(joined)
    return frozenset(nullable)


def _emit_source(w: Writer, source: Source, alias: str) -> None:
    if source.query is not None:
        w.write("(")
        source.query.emit(w)
        w.write(")")
    else:
        w.table(source.prefix, source.table)
    w.write(f" AS {alias}")


def _walk_source(source: Source, shape: list[object], values: list[object]) -> None:
    shape.append(("source", source.keys, source.letter, source.schema, source.prefix, source.table))
    if source.query is not None:
        source.query.walk(shape, values)


_JOINS = {
    "inner": " INNER JOIN ",
    "left": " LEFT JOIN ",
    "right": " RIGHT JOIN ",
    "full": " FULL JOIN ",
    "cross": " CROSS JOIN ",
}


def _emit_join(w: Writer, join: Join, through_alias: str | None, alias: str) -> None:
    if join.kind == "full" and not w.dialect.supports_full_join:
        raise ValueError(
            f"{w.dialect.name} has no FULL JOIN: union_all a left_join with the right_join's"
            " rows that have no match on the left (a right_join(...) whose where() says"
            " the left side's key is_null())"
        )
    keyword = _JOINS[join.kind]
    if join.through is not None:
        assert through_alias is not None
        w.write(keyword)
        _emit_source(w, join.through, through_alias)
        _emit_condition(w, " ON ", join.through_on)
    w.write(keyword)
    _emit_source(w, join.source, alias)
    _emit_condition(w, " ON ", join.on)


def _walk_join(join: Join, shape: list[object], values: list[object]) -> None:
    shape.append(("join", join.kind, join.through is not None))
    if join.through is not None:
        _walk_source(join.through, shape, values)
        _walk_condition("on", join.through_on, shape, values)
    _walk_source(join.source, shape, values)
    _walk_condition("on", join.on, shape, values)


# -- set operations -----------------------------------------------------------------


def _wrapped(member: Query[Any]) -> bool:
    """Whether a set operation's member needs its own SELECT around it.

    SQLite does not allow parentheses around a member, nor ORDER BY or
    LIMIT inside one; a member that has them becomes ``SELECT * FROM (...)``.
    """
    return bool(
        member.ctes
        or member.orders
        or member.limit_by is not None
        or member.offset_by is not None
        or member.locking is not None
        or member.combinations
    )


def _emit_member(w: Writer, member: Query[Any]) -> None:
    if _wrapped(member):
        w.write("SELECT * FROM (")
        member.emit(w)
        w.write(f") AS {w.new_alias('s')}")
        return
    with w.scope():
        _emit_core(w, member, member.selection(), top=False)


def _walk_member(member: Query[Any], shape: list[object], values: list[object]) -> None:
    wrapped = _wrapped(member)
    shape.append(("member", wrapped))
    if wrapped:
        member.walk(shape, values)
    else:
        _walk_core(member, shape, values)


# -- ORDER BY, LIMIT, OFFSET, FOR UPDATE ------------------------------------------------


def _emit_tail(w: Writer, q: Query[Any], selection: Selection) -> None:
    if q.orders:
        w.write(" ORDER BY ")
        if q.combinations:
            _emit_ordinals(w, q.orders, selection)
        else:
            _emit_list(w, q.orders)
    if q.limit_by is not None:
        w.write(" LIMIT ")
        q.limit_by.emit(w)
    if q.offset_by is not None:
        w.write(" " if q.limit_by is not None else " " + w.dialect.offset_without_limit)
        w.write("OFFSET ")
        q.offset_by.emit(w)
    if q.locking is not None:
        w.write(" " + w.dialect.lock_clause(q.locking.strength))
        if q.locking.wait:
            w.write(f" {q.locking.wait}")


def _walk_tail(q: Query[Any], shape: list[object], values: list[object]) -> None:
    shape.append(("order", len(q.orders)))
    for o in q.orders:
        o.walk(shape, values)
    shape.append(("limit", q.limit_by is not None, q.offset_by is not None))
    if q.limit_by is not None:
        q.limit_by.walk(shape, values)
    if q.offset_by is not None:
        q.offset_by.walk(shape, values)
    shape.append(("lock", q.locking))


def _emit_ordinals(w: Writer, orders: tuple[Ordering, ...], selection: Selection) -> None:
    """ORDER BY of a set operation, by position in the select list.

    Both databases order a UNION only by its result columns; positions name
    them whatever the members' aliases are.
    """
    names: list[tuple[object, str]] = []
    for position, item in enumerate(selection.items):
        if isinstance(item, Expr):
            key = selection.keys[position] if selection.keys else None
            names.append(_selected_name(item, key))
        else:
            names.extend(_selected_name(expr, item.output_name(n)) for n, expr in item.fields)
    for i, o in enumerate(orders):
        if i:
            w.write(", ")
        wanted = _selected_name(o.expr, None)
        try:
            position = names.index(wanted) + 1
        except ValueError:
            raise ValueError(
                "a union's order_by must name selected columns or labels"
                " (select a label and order by it)"
            ) from None
        if not w.dialect.supports_nulls_order and o.needs_nulls_term(w.dialect):
            raise ValueError(
                f"{w.dialect.name} has no NULLS {o.nulls}, and a union's order_by names its"
                " columns by position, which (x IS NULL) cannot take: select the union as a"
                " subquery and order that"
            )
        w.write(str(position))
        w.write(" DESC" if o.descending else " ASC")
        if o.nulls and w.dialect.supports_nulls_order:
            w.write(f" NULLS {o.nulls}")


def _selected_name(expr: Expr[Any], name: str | None) -> tuple[object, str]:
    if isinstance(expr, Label):
        return ("label", name or expr.name)
    if isinstance(expr, Column):
        return (expr.binding, expr.name) if name is None or name == expr.name else ("label", name)
    return ("label", name) if name is not None else ("expr", str(id(expr)))
