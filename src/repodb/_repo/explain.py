"""``EXPLAIN`` of a query as a statement of its own, and its rows as readable plan text.

Why: ``repo.explain(q)`` should run through the Repo's one path for
statements (compiled-SQL cache, routing by intent, telemetry), so the plan
request is a ``Statement`` like any other; what differs by database (the
prefix, whether the plan is a tree of rows or lines of text) is data in the
dialect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._compile.result import Result
from ..dialect import Dialect
from ..expr import Statement
from ..types import DbType, to_dbtype

if TYPE_CHECKING:
    from .._compile.writer import Writer
    from ..query import Query

__all__ = ["Explain", "plan_text"]

_INT: DbType[int] = to_dbtype(int)
_TEXT: DbType[str] = to_dbtype(str)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Explain(Statement):
    """``EXPLAIN [ANALYZE] <query>``: the database's plan for ``query``, as rows.

    ``analyze`` runs the query (PostgreSQL's ``EXPLAIN ANALYZE``); a dialect
    without it refuses when the statement is compiled.
    """

    query: Query[Any]
    analyze: bool = False

    def emit(self, w: Writer) -> None:
        d = w.dialect
        if self.analyze and d.explain_analyze_sql is None:
            raise ValueError(
                f"{d.name} cannot run a query to explain it (it has no EXPLAIN ANALYZE);"
                " call explain without analyze=True"
            )
        w.write(d.explain_analyze_sql if self.analyze and d.explain_analyze_sql else d.explain_sql)
        # The query inside is not the statement's result: the plan rows are.
        with w.nested():
            self.query.emit(w)
        columns = (_INT, _INT, _INT, _TEXT) if d.explain_tree else (_TEXT,)
        w.result = Result("tuple", columns, (None,) * len(columns))

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append((Explain, self.analyze))
        self.query.walk(shape, values)


def plan_text(rows: Sequence[tuple[Any, ...]], dialect: Dialect) -> str:
    """The plan rows as text: PostgreSQL's lines as they are, SQLite's tree indented.

    SQLite gives ``(id, parent, _, detail)`` rows; each line is a detail,
    indented two spaces per level, as its command-line shell shows them.
    """
    if not dialect.explain_tree:
        return "\n".join(str(row[0]) for row in rows)
    depth: dict[int, int] = {0: -1}
    lines: list[str] = []
    for node, parent, _, detail in rows:
        level = depth.get(parent, -1) + 1
        depth[node] = level
        lines.append("  " * level + str(detail))
    return "\n".join(lines)
