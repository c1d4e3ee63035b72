"""Queries as immutable, composable values (Ecto's ``Ecto.Query``).

Why: a query is data that can be built in steps, passed around, extended
and inspected before anything runs. Every step returns a new ``Query``;
nothing is written as SQL until the query is compiled (``to_sql`` for
inspection, the Repo to run it), and compiled SQL is cached by the query's
shape, so running the same query with other values does not compile again.

A ``Query[T]`` yields rows of type ``T``: ``query(User)`` gives ``User``
records, ``.select(User.id, User.name)`` gives ``tuple[int, str]``.

Bindings: the columns of a schema (``User.name``) refer to that schema's
first appearance in the query, the root or a join; ``alias(User, "u2")``
names another appearance (a self-join) and ``ref("s")`` a subquery.

Example::

    popular = (
        query(User)
        .where(User.age >= 18)
        .join("posts")
        .where(Post.views > 100)
        .select(User.name, Post.title)  # Query[tuple[str, str]]
        .order_by(User.name)
        .limit(20)
    )
    sql, params = to_sql(popular, SQLITE)

Statements that write (``insert_all``, ``update_all``, ``delete_all``) are in
``repodb.write``; ``to_sql`` compiles any statement. See ``docs/queries.md``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from ._compile import select
from ._compile.cache import (
    CacheInfo,
    Compiled,
    cache_info,
    clear_cache,
    compile_prepared,
    compile_statement,
)
from ._compile.writer import OuterBinding, Writer
from .dialect import SQLITE, Dialect
from .expr import (
    ORDER_TERMS,
    Binary,
    Column,
    Exists,
    Expr,
    Frame,
    Label,
    Ordering,
    Param,
    Row,
    Statement,
    Subquery,
    Value,
    WindowDef,
    describe,
    expect_expr,
    expect_frame,
    lift,
    ordering,
    several,
)
from .functions import and_, or_
from .schema import (
    AssocInfo,
    Schema,
    SchemaInfo,
    schema_info,
    through_chain,
)
from .table import Table
from .types import DbType, optional, to_dbtype

if TYPE_CHECKING:
    from .prepared import Prepared

__all__ = [
    "Alias",
    "BoundAssoc",
    "CacheInfo",
    "Compiled",
    "Cte",
    "Join",
    "Lock",
    "Parent",
    "Preload",
    "PreloadPath",
    "PreloadValue",
    "Query",
    "Ref",
    "SchemaItem",
    "Selection",
    "Source",
    "alias",
    "assoc",
    "cache_info",
    "clear_cache",
    "column",
    "compile_statement",
    "exists",
    "from_",
    "parent_as",
    "query",
    "ref",
    "replace_query",
    "subquery",
    "to_sql",
]

T = TypeVar("T")
SchemaT = TypeVar("SchemaT", bound=Schema)
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
E = TypeVar("E")
F = TypeVar("F")
G = TypeVar("G")
H = TypeVar("H")

Cond = Expr[bool] | Expr[bool | None]
_CONDITIONS = "conditions (expressions such as User.age >= 18)"
JoinKind = Literal["inner", "left", "right", "full", "cross"]
Clause = Literal[
    "where",
    "select",
    "join",
    "group_by",
    "having",
    "order_by",
    "limit",
    "offset",
    "distinct",
    "lock",
    "with_cte",
    "combinations",
    "preload",
]
KeepsResult = Literal[
    "where",
    "join",
    "group_by",
    "having",
    "order_by",
    "limit",
    "offset",
    "distinct",
    "lock",
    "with_cte",
    "combinations",
    "preload",
]


# -- named bindings ----------------------------------------------------------------


class Alias:
    """A schema under another name: a second appearance of a table, or a CTE read as it.

    ``alias(...)`` returns one, typed as the schema class so that
    ``u2.name`` is a ``Column[str]`` for the type checker. Its own
    attributes start with ``_`` so that they never hide a field.
    """

    __slots__ = ("_alias", "_schema", "_table")

    def __init__(self, schema: type[Schema], name: str, table: str | None) -> None:
        self._schema = schema
        self._alias = name
        self._table = table

    def __getattr__(self, attr: str) -> Any:
        info = schema_info(self._schema)
        if attr in info.associations:
            return BoundAssoc(info.associations[attr], self._alias)
        try:
            found = info.field(attr)
        except KeyError:
            raise AttributeError(f"{self!r} has no field {attr!r}") from None
        return Column(self._alias, found.source, found.name, found.dbtype)

    def __repr__(self) -> str:
        return f"alias({self._schema.__name__}, {self._alias!r})"


def alias(schema: type[SchemaT], name: str, *, table: str | None = None) -> type[SchemaT]:
    """``schema`` under the binding ``name``, optionally read from another table or a CTE.

    Example: a self-join, ``manager = alias(User, "manager")`` then
    ``query(User).join(manager, on=manager.id == User.manager_id)``.
    """
    return typing.cast(type[SchemaT], Alias(schema, name, table))


@dataclasses.dataclass(frozen=True, slots=True)
class BoundAssoc:
    """An association reached through an alias (``posts_alias.comments``), for joins."""

    info: AssocInfo[Any]
    binding: str


class Ref:
    """Columns of a named binding without a schema (a subquery, a CTE): ``ref("s").total``.

    ``ref("s")["name"]`` reaches a column whose name is also an attribute
    of this class.
    """

    __slots__ = ("_ref",)

    def __init__(self, name: str) -> None:
        self._ref = name

    def __getattr__(self, column_name: str) -> Column[Any]:
        if column_name.startswith("__"):
            raise AttributeError(column_name)
        return Column(self._ref, column_name)

    def __getitem__(self, column_name: str) -> Column[Any]:
        return Column(self._ref, column_name)

    def __repr__(self) -> str:
        return f"ref({self._ref!r})"


def ref(name: str) -> Ref:
    """The binding ``name``, whose columns are untyped: ``ref("s").total``."""
    return Ref(name)


class Parent:
    """The columns of a named binding of a query around this one; see ``parent_as``.

    Typed as its schema class by ``parent_as(name, Schema)``; its own
    attributes start with ``_`` so that they never hide a field.
    """

    __slots__ = ("_binding", "_schema")

    def __init__(self, name: str, schema: type[Schema] | None) -> None:
        self._binding = OuterBinding(name)
        self._schema = schema

    def __getattr__(self, attr: str) -> Column[Any]:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if self._schema is None:
            return Column(self._binding, attr)
        try:
            found = schema_info(self._schema).field(attr)
        except KeyError:
            raise AttributeError(f"{self!r} has no stored field {attr!r}") from None
        return Column(self._binding, found.source, found.name, found.dbtype)

    def __getitem__(self, column_name: str) -> Column[Any]:
        return Column(self._binding, column_name)

    def __repr__(self) -> str:
        return repr(self._binding)


@overload
def parent_as(name: str) -> Parent: ...
@overload
def parent_as(name: str, schema: type[SchemaT]) -> type[SchemaT]: ...
def parent_as(name: str, schema: type[Schema] | None = None) -> Any:
    """The binding ``name`` (``as_=``) of a query around this one (Ecto's ``parent_as``).

    Why: a correlated subquery compares its rows with the outer query's
    current row. A schema's columns (``Post.user_id``) name the innermost
    query that binds the schema, so a subquery of the same table cannot
    reach the outer row with them; ``parent_as("p").user_id`` can, in
    ``where``, ``order_by``, ``group_by``, ``select`` or ``having`` of a
    subquery at any depth (the nearest query around it binding ``name``).

    Options:
        schema: the binding's schema, to type its columns like the
            schema's own (``parent_as("p", Post).views`` is a
            ``Column[int]``); without it columns are untyped, as ``ref``'s.

    Example: the posts with more views than their author's average::

        p = parent_as("p", Post)
        average = query(Post).where(Post.user_id == p.user_id).select(avg(Post.views))
        query(Post, as_="p").where(Post.views > subquery(average))
    """
    if schema is not None and not (isinstance(schema, type) and issubclass(schema, Schema)):
        raise TypeError(f"parent_as() takes a schema class, not {describe(schema)}")
    return Parent(name, schema)


def column(source: type[Schema] | Ref, name: str) -> Column[Any]:
    """The column of field ``name``, chosen at run time (Ecto's ``field(u, ^name)``).

    Example: ``query(User).order_by(column(User, sort_field).desc())``.
    """
    if isinstance(source, Ref):
        return Column(source._ref, name)
    value = getattr(source, name, None)
    if not isinstance(value, Column):
        raise ValueError(f"{_name(source)} has no stored field {name!r}")
    return value


def _name(source: object) -> str:
    return source.__name__ if isinstance(source, type) else repr(source)


# -- the parts of a query ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Source:
    """A table, a CTE or a subquery in FROM or JOIN.

    Attributes:
        keys: the bindings whose columns refer to this source.
        letter: the first letter of its SQL alias.
        schema: the schema its rows are, when known.
        prefix, table: the table's schema (prefix) and name.
        query: the subquery, for a subquery source.
    """

    keys: tuple[object, ...]
    letter: str
    schema: type[Schema] | None = None
    prefix: str | None = None
    table: str = ""
    query: Query[Any] | None = None


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Join:
    """A join: its kind, source, condition, and a join table for many-to-many."""

    kind: JoinKind
    source: Source
    on: Expr[Any] | None
    through: Source | None = None
    through_on: Expr[Any] | None = None


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class SchemaItem:
    """A schema record in a select list: each field and the expression giving it."""

    cls: type[Schema]
    fields: tuple[tuple[str, Expr[Any]], ...]
    # Its shape and values, walked on first use by the compiler: the item
    # never changes, and the default select list of a schema is one item.
    _walked: tuple[object, tuple[object, ...]] | None = dataclasses.field(
        default=None, init=False, repr=False
    )

    def output_name(self, field: str) -> str:
        """The column name the field has in the result (its source, for stored fields)."""
        for f in schema_info(self.cls).fields:
            if f.name == field:
                return f.source
        return field


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Selection:
    """What a query selects: one value, a tuple, a dict, or a record."""

    kind: Literal["scalar", "tuple", "dict", "record"]
    items: tuple[Expr[Any] | SchemaItem, ...]
    keys: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Lock:
    """A row lock: ``FOR UPDATE`` and friends, optionally ``NOWAIT`` or ``SKIP LOCKED``."""

    strength: Literal["UPDATE", "NO KEY UPDATE", "SHARE", "KEY SHARE"]
    wait: Literal["", "NOWAIT", "SKIP LOCKED"] = ""


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Cte:
    """A common table expression: ``WITH name AS (query)``."""

    name: str
    query: Query[Any]
    recursive: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Preload:
    """An association the Repo loads with a query's results (see ``Query.preload``).

    Attributes:
        name: the association.
        nested: preloads of the loaded records.
        query: chooses, filters and orders the loaded records; its
            ``limit`` and ``offset`` count per parent (the top N of each
            parent, computed in SQL), not over all loaded rows.
        binding: for a join preload, the name (``as_``) of the query's join
            of this association: the loaded records come from its rows, in
            the same statement.
    """

    name: str
    nested: tuple[Preload, ...] = ()
    query: Query[Any] | None = None
    binding: str | None = None


# -- the query ---------------------------------------------------------------------


# Not slotted: every builder step copies the query, and copying an instance
# dict is a few times cheaper than setting fourteen slots (see ``replace_query``).
@dataclasses.dataclass(frozen=True, eq=False)
class Query(Statement, Generic[T]):
    """An immutable SELECT query whose rows are of type ``T``; build it with ``query(...)``.

    The attributes are the query's clauses, for the compiler and the Repo;
    the methods return new queries.
    """

    source: Source
    joins: tuple[Join, ...] = ()
    wheres: tuple[tuple[str, Expr[Any]], ...] = ()
    selected: Selection | None = None
    groups: tuple[Expr[Any], ...] = ()
    havings: tuple[tuple[str, Expr[Any]], ...] = ()
    orders: tuple[Ordering, ...] = ()
    limit_by: Expr[Any] | None = None
    offset_by: Expr[Any] | None = None
    # None: no DISTINCT; (): DISTINCT; expressions: DISTINCT ON (...).
    distinct_on: tuple[Expr[Any], ...] | None = None
    locking: Lock | None = None
    ctes: tuple[Cte, ...] = ()
    combinations: tuple[tuple[str, Query[Any]], ...] = ()
    preloads: tuple[Preload, ...] = ()
    # Named windows: WINDOW "name" AS (...), for ``func.over("name")``.
    windows: tuple[tuple[str, WindowDef], ...] = ()

    # -- node protocol ------------------------------------------------------

    def emit(self, w: Writer) -> None:
        select.emit_query(w, self)

    def walk(self, shape: list[object], values: list[object]) -> None:
        shape.append(Query)
        select.walk_query(self, shape, values)

    def __repr__(self) -> str:
        try:
            sql, params = to_sql(self, SQLITE)
        except (ValueError, TypeError) as e:
            return f"<Query (does not compile: {e})>"
        return f"<Query {sql} {params!r}>"

    # -- filtering ----------------------------------------------------------

    def where(self, *conditions: Cond, **fields: object) -> Query[T]:
        """Keep rows matching every condition (ANDed with earlier ``where``s).

        Keywords compare fields of the root schema for equality:
        ``where(name="Ada")``; ``None`` means ``IS NULL``.
        """
        checked = self._exprs(conditions, "where()", _CONDITIONS)
        steps = [("AND", c) for c in (*checked, *self._field_conditions(fields))]
        if not steps:
            return self
        return replace_query(self, wheres=self.wheres + tuple(steps))

    def or_where(self, *conditions: Cond, **fields: object) -> Query[T]:
        """``(everything so far) OR (all of these)``, as Ecto's ``or_where``."""
        checked = self._exprs(conditions, "or_where()", _CONDITIONS)
        both = (*checked, *self._field_conditions(fields))
        if not both:
            return self
        return replace_query(self, wheres=(*self.wheres, ("OR", and_(*both))))

    def _exprs(
        self, items: Iterable[object], where: str, expected: str = "expressions"
    ) -> tuple[Expr[Any], ...]:
        """``items``, each an expression, or a TypeError saying what ``where`` takes.

        A str naming a field of the root schema gets a hint: the typed DSL
        takes the column (``Post.title``), so the result types stay exact.
        """
        return tuple(
            item if isinstance(item, Expr) else self._expect(item, where, expected)
            for item in items
        )

    def _expect(self, item: object, where: str, expected: str) -> Expr[Any]:
        schema = self.source.schema
        if (
            isinstance(item, str)
            and schema is not None
            and self.source.query is None
            and any(f.name == item for f in schema_info(schema).fields)
        ):
            raise TypeError(
                f"{where} takes {expected}, not the field name {item!r}: "
                f"write {schema.__name__}.{item}"
            )
        return expect_expr(item, where, expected)

    def _field_conditions(self, fields: Mapping[str, object]) -> list[Expr[bool]]:
        if not fields:
            return []
        schema = self.source.schema
        if schema is None or self.source.query is not None:
            raise ValueError("keyword conditions need a schema as the query's source")
        key = self.source.keys[0]
        info = schema_info(schema)
        conditions: list[Expr[bool]] = []
        for name, value in fields.items():
            try:
                found = info.field(name)
            except KeyError:
                raise ValueError(f"{schema.__name__} has no stored field {name!r}") from None
            col: Column[Any] = Column(key, found.source, found.name, found.dbtype)
            conditions.append(col == value)
        return conditions

    # -- joins ----------------------------------------------------------------

    def join(
        self,
        target: type[Schema] | Table | Subquery[Any] | AssocInfo[Any] | str,
        on: Cond | None = None,
        *,
        kind: JoinKind = "inner",
        as_: str | None = None,
    ) -> Query[T]:
        """Join a schema, an alias, a subquery or an association.

        Options:
            target: a schema class or ``alias(...)`` (give ``on``); a
                subquery (give ``on`` and ``as_``); an association by name
                on the root schema (``"posts"``) or as a class attribute
                (``User.posts``, ``alias_of_post.comments``), whose keys
                give the condition (``on`` adds to it). A many-to-many
                association joins its join table too.
            kind: ``inner``, ``left``, ``right``, ``full`` or ``cross``.
            as_: a name for the joined source, for ``ref(as_)`` and
                ``alias``-free references.
        """
        if on is not None:
            on = self._expect(on, "join(on=...)", "a condition (an expression)")
        if isinstance(target, str | AssocInfo | BoundAssoc):
            return self._join_assoc(target, on, kind, as_)
        if not isinstance(target, Subquery | Alias | Table) and not (
            isinstance(target, type) and issubclass(target, Schema)
        ):
            raise TypeError(
                "join() takes a schema, an alias, a table(), a subquery or an association,"
                f" not {describe(target)}"
            )
        if kind == "cross":
            if on is not None:
                raise ValueError("a cross join has no condition")
        elif on is None:
            raise ValueError(f"joining {_name(target)} needs on=...; or join an association")
        source = _source(target, as_, self._bound(), len(self.joins) + 1)
        return replace_query(self, joins=(*self.joins, Join(kind, source, on)))

    def left_join(
        self,
        target: type[Schema] | Table | Subquery[Any] | AssocInfo[Any] | str,
        on: Cond | None = None,
        *,
        as_: str | None = None,
    ) -> Query[T]:
        """``join(..., kind="left")``: rows without a match keep NULL columns."""
        return self.join(target, on, kind="left", as_=as_)

    def right_join(
        self,
        target: type[Schema] | Table | Subquery[Any] | AssocInfo[Any] | str,
        on: Cond | None = None,
        *,
        as_: str | None = None,
    ) -> Query[T]:
        """``join(..., kind="right")``."""
        return self.join(target, on, kind="right", as_=as_)

    def full_join(
        self,
        target: type[Schema] | Table | Subquery[Any] | AssocInfo[Any] | str,
        on: Cond | None = None,
        *,
        as_: str | None = None,
    ) -> Query[T]:
        """``join(..., kind="full")``."""
        return self.join(target, on, kind="full", as_=as_)

    def cross_join(
        self, target: type[Schema] | Table | Subquery[Any], *, as_: str | None = None
    ) -> Query[T]:
        """Every row with every row of ``target``."""
        return self.join(target, kind="cross", as_=as_)

    def _bound(self) -> set[object]:
        keys = set(self.source.keys)
        for join in self.joins:
            keys.update(join.source.keys)
        return keys

    def _join_assoc(
        self,
        target: str | AssocInfo[Any] | BoundAssoc,
        extra: Cond | None,
        kind: JoinKind,
        as_: str | None,
    ) -> Query[T]:
        if kind == "cross":
            raise ValueError("an association join has a condition; it cannot be a cross join")
        owner_key: object
        if isinstance(target, str):
            root = self.source.schema
            if root is None:
                raise ValueError("joining an association by name needs a schema as the source")
            info = schema_info(root).associations.get(target)
            if info is None:
                raise ValueError(f"{root.__name__} has no association {target!r}")
            owner_key = self.source.keys[0]
        elif isinstance(target, BoundAssoc):
            info, owner_key = target.info, target.binding
        else:
            info, owner_key = target, target.owner
        bound = self._bound()
        if owner_key not in bound:
            raise ValueError(
                f"{_name(owner_key)} is not in the query: join it before joining {info.name!r}"
            )
        if info.through is not None:
            *hops, info = through_chain(info)
            q = self
            for hop in hops:
                # Each hop before the last is bound to a name of its own, so
                # its schema's columns keep naming the query's other joins.
                key = ("hop", len(q.joins) + 1, hop.name)
                table = schema_info(hop.related)
                source = Source(
                    (key,), table_alias(table.table), hop.related, table.prefix, table.table
                )
                q = replace_query(q, joins=(*q.joins, q._assoc_join(hop, owner_key, source, kind)))
                owner_key = key
            return q._add_assoc_join(info, owner_key, extra, kind, as_)
        return self._add_assoc_join(info, owner_key, extra, kind, as_)

    def _add_assoc_join(
        self,
        info: AssocInfo[Any],
        owner_key: object,
        extra: Cond | None,
        kind: JoinKind,
        as_: str | None,
    ) -> Query[T]:
        source = _source(info.related, as_, self._bound(), len(self.joins) + 1)
        join = self._assoc_join(info, owner_key, source, kind)
        if extra is not None:
            assert join.on is not None
            join = dataclasses.replace(join, on=and_(join.on, extra))
        return replace_query(self, joins=(*self.joins, join))

    def _assoc_join(
        self, info: AssocInfo[Any], owner_key: object, source: Source, kind: JoinKind
    ) -> Join:
        """The join of ``source``, the related rows of a plain association of ``owner_key``."""
        owner = schema_info(info.owner)
        related = schema_info(info.related)
        key = source.keys[0]

        def col(binding: object, schema: SchemaInfo, field: str) -> Column[Any]:
            found = schema.field(field)
            return Column(binding, found.source, found.name, found.dbtype)

        through = through_on = None
        if info.kind == "belongs_to":
            assert info.foreign_key is not None
            on: Expr[Any] = col(key, related, info.references) == col(
                owner_key, owner, info.foreign_key
            )
        elif info.kind == "many_to_many":
            assert info.join_through is not None
            assert info.join_keys is not None
            (owner_column, owner_field), (related_column, related_field) = info.join_keys
            through_key = ("through", len(self.joins), info.join_through)
            # The join table is in the owner's schema, as the rows linking
            # them are written (one rule for names: no dots split).
            table = info.join_through
            through = Source((through_key,), table_alias(table), None, owner.prefix, table)
            through_on = Column(through_key, owner_column) == col(owner_key, owner, owner_field)
            on = col(key, related, related_field) == Column(through_key, related_column)
        else:
            assert info.foreign_key is not None
            on = col(key, related, info.foreign_key) == col(owner_key, owner, info.references)
        return Join(kind, source, on, through, through_on)

    # -- the select list --------------------------------------------------------

    @overload
    def select(self, items: Mapping[str, Expr[Any]], /) -> Query[dict[str, Any]]: ...
    @overload
    def select(self, a: Expr[A] | type[A], /) -> Query[A]: ...
    @overload
    def select(self, a: Expr[A] | type[A], b: Expr[B] | type[B], /) -> Query[tuple[A, B]]: ...
    @overload
    def select(
        self, a: Expr[A] | type[A], b: Expr[B] | type[B], c: Expr[C] | type[C], /
    ) -> Query[tuple[A, B, C]]: ...
    @overload
    def select(
        self,
        a: Expr[A] | type[A],
        b: Expr[B] | type[B],
        c: Expr[C] | type[C],
        d: Expr[D] | type[D],
        /,
    ) -> Query[tuple[A, B, C, D]]: ...
    @overload
    def select(
        self,
        a: Expr[A] | type[A],
        b: Expr[B] | type[B],
        c: Expr[C] | type[C],
        d: Expr[D] | type[D],
        e: Expr[E] | type[E],
        /,
    ) -> Query[tuple[A, B, C, D, E]]: ...
    @overload
    def select(
        self,
        a: Expr[A] | type[A],
        b: Expr[B] | type[B],
        c: Expr[C] | type[C],
        d: Expr[D] | type[D],
        e: Expr[E] | type[E],
        f: Expr[F] | type[F],
        /,
    ) -> Query[tuple[A, B, C, D, E, F]]: ...
    @overload
    def select(
        self,
        a: Expr[A] | type[A],
        b: Expr[B] | type[B],
        c: Expr[C] | type[C],
        d: Expr[D] | type[D],
        e: Expr[E] | type[E],
        f: Expr[F] | type[F],
        g: Expr[G] | type[G],
        /,
    ) -> Query[tuple[A, B, C, D, E, F, G]]: ...
    @overload
    def select(
        self,
        a: Expr[A] | type[A],
        b: Expr[B] | type[B],
        c: Expr[C] | type[C],
        d: Expr[D] | type[D],
        e: Expr[E] | type[E],
        f: Expr[F] | type[F],
        g: Expr[G] | type[G],
        h: Expr[H] | type[H],
        /,
    ) -> Query[tuple[A, B, C, D, E, F, G, H]]: ...
    def select(self, *items: Any) -> Query[Any]:
        """Choose what each row is: one expression, a tuple, a dict, or a schema record.

        ``select(User.id, User.name)`` rows are ``tuple[int, str]`` (up to
        eight items are typed; select a dict for more);
        ``select(User.name)`` rows are ``str``; ``select(Post)`` rows are
        ``Post`` records (of a joined schema, here); ``select({"n":
        count()})`` rows are dicts. A query selects one thing: to change
        it, ``exclude("select")`` first.
        """
        if self.selected is not None:
            raise ValueError("the query already has a select; exclude('select') to replace it")
        if not items:
            raise ValueError("select() needs at least one expression or schema")
        if len(items) == 1 and isinstance(items[0], Mapping):
            mapping = items[0]
            keys = tuple(mapping)
            exprs = tuple(lift(mapping[k]) for k in keys)
            return self._with_selection(Selection("dict", exprs, keys))
        selected = tuple(self._select_item(item) for item in items)
        if len(selected) == 1:
            kind: Literal["scalar", "record"] = (
                "scalar" if isinstance(selected[0], Expr) else "record"
            )
            return self._with_selection(Selection(kind, selected))
        return self._with_selection(Selection("tuple", selected))

    def _with_selection(self, selection: Selection) -> Query[Any]:
        return replace_query(self, selected=selection)

    def _select_item(self, item: object) -> Expr[Any] | SchemaItem:
        if isinstance(item, Expr):
            return item
        if isinstance(item, Alias):
            return schema_item(item._schema, item._alias)
        if isinstance(item, type) and issubclass(item, Schema):
            if item not in self._bound():
                raise ValueError(f"{item.__name__} is not in the query: join it to select it")
            return schema_item(item, item)
        return self._expect(item, "select()", "expressions, schemas or aliases")

    def select_merge(
        self, fields: Mapping[str, object] | None = None, /, **more: object
    ) -> Query[T]:
        """Add or replace fields of the selected dict or record.

        Merging into a record (the default select of a schema) sets its
        fields (stored or virtual) from expressions, so the rows stay
        records of that schema; merging into a dict adds keys. The result
        type does not change. Example: ``query(User).select_merge(name=upper(User.name))``.
        """
        merged = {**(fields or {}), **more}
        selection = self.selection()
        if selection.kind == "dict":
            keys = list(selection.keys)
            exprs = list(selection.items)
            for key, value in merged.items():
                if key in keys:
                    exprs[keys.index(key)] = lift(value)
                else:
                    keys.append(key)
                    exprs.append(lift(value))
            return replace_query(self, selected=Selection("dict", tuple(exprs), tuple(keys)))
        if selection.kind != "record":
            raise ValueError("select_merge needs a query selecting a dict or a schema record")
        item = selection.items[0]
        assert isinstance(item, SchemaItem)
        info = schema_info(item.cls)
        allowed = {f.name for f in info.fields} | set(info.virtual)
        fields_now = dict(item.fields)
        for key, value in merged.items():
            if key not in allowed:
                raise ValueError(
                    f"{item.cls.__name__} has no field {key!r}; select a dict to add other keys"
                )
            like = fields_now.get(key)
            fields_now[key] = lift(value, like)
        record = SchemaItem(item.cls, tuple(fields_now.items()))
        return replace_query(self, selected=Selection("record", (record,)))

    def selection(self) -> Selection:
        """The select list: the explicit one, or the source's records by default."""
        if self.selected is not None:
            return self.selected
        source = self.source
        if source.query is None:
            if source.schema is None:
                raise ValueError(
                    f"a query of table({source.table!r}) has no schema, so no records:"
                    " select its columns (.select(t.col('name', str)), a tuple or a dict)"
                )
            return _records_of(source.schema, source.keys[0])
        inner = source.query.selection()
        key = source.keys[0]
        if inner.kind == "dict":
            columns: tuple[Expr[Any], ...] = tuple(
                Column(key, name, None, _dbtype(e))
                for name, e in zip(inner.keys, inner.items, strict=True)
            )
            return Selection("dict", columns, inner.keys)
        if inner.kind == "record":
            item = inner.items[0]
            assert isinstance(item, SchemaItem)
            fields: tuple[tuple[str, Expr[Any]], ...] = tuple(
                (name, Column(key, item.output_name(name), name, e.dbtype))
                for name, e in item.fields
            )
            return Selection("record", (SchemaItem(item.cls, fields),))
        raise ValueError("select from a subquery that selects a schema or a dict, or select()")

    # -- grouping ----------------------------------------------------------------

    def group_by(self, *exprs: Expr[Any]) -> Query[T]:
        """``GROUP BY`` these expressions (added to earlier ones)."""
        return replace_query(self, groups=self.groups + self._exprs(exprs, "group_by()"))

    def having(self, *conditions: Cond) -> Query[T]:
        """Keep groups matching every condition (``HAVING``)."""
        steps = tuple(("AND", c) for c in self._exprs(conditions, "having()", _CONDITIONS))
        return replace_query(self, havings=self.havings + steps)

    def or_having(self, *conditions: Cond) -> Query[T]:
        """``(earlier having) OR (all of these)``."""
        if not conditions:
            return self
        checked = self._exprs(conditions, "or_having()", _CONDITIONS)
        return replace_query(self, havings=(*self.havings, ("OR", and_(*checked))))

    # -- order, limit, distinct, lock ------------------------------------------------

    def order_by(self, *terms: Ordering | Expr[Any]) -> Query[T]:
        """Order rows by these terms (after earlier ones): ``User.name``, ``User.age.desc()``.

        ``.asc()``/``.desc()`` give the direction, ``.nulls_first()`` /
        ``.nulls_last()`` where NULLs go.
        """
        orders = tuple(
            ordering(t if isinstance(t, Ordering) else self._expect(t, "order_by()", ORDER_TERMS))
            for t in terms
        )
        return replace_query(self, orders=self.orders + orders)

    def limit(self, count: int | Expr[int]) -> Query[T]:
        """At most ``count`` rows; the number is a bound parameter."""
        return replace_query(self, limit_by=_count(count, "limit"))

    def offset(self, count: int | Expr[int]) -> Query[T]:
        """Skip the first ``count`` rows; the number is a bound parameter."""
        return replace_query(self, offset_by=_count(count, "offset"))

    def distinct(self, *, on: Expr[Any] | Sequence[Expr[Any]] | None = None) -> Query[T]:
        """``SELECT DISTINCT``; with ``on``, PostgreSQL's ``DISTINCT ON (...)``.

        ``DISTINCT ON`` keeps the first row of each group in the query's
        order, so order by the ``on`` expressions first.
        """
        exprs: tuple[Expr[Any], ...] = ()
        if on is not None:
            exprs = self._exprs(several(on), "distinct(on=...)")
            if not exprs:
                raise ValueError("distinct(on=...) needs at least one expression")
        return replace_query(self, distinct_on=exprs)

    def lock(
        self,
        strength: Literal["update", "no_key_update", "share", "key_share"] = "update",
        *,
        nowait: bool = False,
        skip_locked: bool = False,
    ) -> Query[T]:
        """Lock the selected rows until the transaction ends (``FOR UPDATE`` ...).

        PostgreSQL only: SQLite has no row locks, and compiling a locking
        query for it raises (a SQLite write transaction locks the whole
        database instead). ``nowait`` fails at once on a locked row;
        ``skip_locked`` leaves locked rows out (a job queue).
        """
        if nowait and skip_locked:
            raise ValueError("lock: choose nowait or skip_locked, not both")
        strengths: dict[str, Literal["UPDATE", "NO KEY UPDATE", "SHARE", "KEY SHARE"]] = {
            "update": "UPDATE",
            "no_key_update": "NO KEY UPDATE",
            "share": "SHARE",
            "key_share": "KEY SHARE",
        }
        if strength not in strengths:
            raise ValueError(f"unknown lock strength {strength!r}")
        wait: Literal["", "NOWAIT", "SKIP LOCKED"] = (
            "NOWAIT" if nowait else "SKIP LOCKED" if skip_locked else ""
        )
        return replace_query(self, locking=Lock(strengths[strength], wait))

    # -- CTEs and set operations --------------------------------------------------------

    def with_cte(self, name: str, cte: Query[Any], *, recursive: bool = False) -> Query[T]:
        """Define ``WITH name AS (cte)`` for this query; read it with ``alias(S, n, table=name)``.

        ``recursive=True`` allows ``cte`` to read its own rows (a
        ``union_all`` of a start query and a step that joins the CTE).
        """
        _expect_query(cte, "with_cte()")
        if any(c.name == name for c in self.ctes):
            raise ValueError(f"the query already has a CTE named {name!r}")
        return replace_query(self, ctes=(*self.ctes, Cte(name, cte, recursive)))

    def union(self, other: Query[T]) -> Query[T]:
        """Rows of either query, without duplicates.

        This query's ``order_by``, ``limit`` and ``offset`` apply to the
        whole result; order by selected columns or labels.
        """
        return self._combine("UNION", other)

    def union_all(self, other: Query[T]) -> Query[T]:
        """Rows of both queries, duplicates kept."""
        return self._combine("UNION ALL", other)

    def intersect(self, other: Query[T]) -> Query[T]:
        """Rows in both queries."""
        return self._combine("INTERSECT", other)

    def except_(self, other: Query[T]) -> Query[T]:
        """Rows of this query that are not in ``other``."""
        return self._combine("EXCEPT", other)

    def _combine(self, op: str, other: Query[Any]) -> Query[T]:
        _expect_query(other, f"{op.lower().replace(' ', '_')}()")
        return replace_query(self, combinations=(*self.combinations, (op, other)))

    # -- named windows ------------------------------------------------------------------

    def window(
        self,
        name: str,
        *,
        partition_by: Expr[Any] | Sequence[Expr[Any]] = (),
        order_by: Ordering | Expr[Any] | Sequence[Ordering | Expr[Any]] = (),
        frame: Frame | None = None,
    ) -> Query[T]:
        """Define the window ``name`` (``WINDOW "name" AS (...)``) for ``func.over(name)``.

        Why: several window functions over one window say it once, and the
        database computes that window once. Options as for ``Func.over``.

        Example: ``query(Post).window("w", partition_by=Post.user_id,
        order_by=Post.views.desc()).select(rank().over("w"), sum_(Post.views).over("w"))``.
        """
        if not isinstance(name, str):
            raise TypeError(f"window() takes a str name, not {describe(name)}")
        if any(known == name for known, _ in self.windows):
            raise ValueError(f"the query already has a window named {name!r}")
        parts = self._exprs(several(partition_by), "window(partition_by=...)")
        orders = tuple(ordering(o, "window(order_by=...)") for o in several(order_by))
        spec = WindowDef(parts, orders, expect_frame(frame, "window(frame=...)"))
        return replace_query(self, windows=(*self.windows, (name, spec)))

    # -- first, last, keyset pagination ----------------------------------------------------

    def first(self, *terms: Ordering | Expr[Any]) -> Query[T]:
        """The first row only: ordered by ``terms`` (after earlier orders), else the primary key.

        As Ecto's ``first``: a query without any order is ordered by the
        root schema's primary key, so "first" means the same on every run.
        Run it with ``repo.one_or_none``. Example: ``query(User).first(User.name)``.
        """
        ordered = self.order_by(*terms) if terms else self
        if not ordered.orders:
            ordered = replace_query(ordered, orders=self._key_order("first()"))
        return ordered.limit(1)

    def last(self, *terms: Ordering | Expr[Any]) -> Query[T]:
        """The last row only: ``first`` in the reversed order.

        Every ordering is turned around, NULLs included: on both databases
        the reversed order lists the rows exactly backwards.
        """
        ordered = self.order_by(*terms) if terms else self
        return ordered._reversed_order("last()").limit(1)

    def _key_order(self, where: str) -> tuple[Ordering, ...]:
        schema = self.source.schema
        key = schema_info(schema).primary_key if schema is not None else ()
        if schema is None or self.source.query is not None or not key:
            raise ValueError(f"{where} needs an order_by for a query without a primary key")
        binding = self.source.keys[0]
        return tuple(Ordering(Column(binding, f.source, f.name, f.dbtype)) for f in key)

    def keyset(self, *, after: object = None, before: object = None) -> Query[T]:
        """Rows after (or before) a cursor in this query's order: keyset pagination.

        Why: ``offset(10_000)`` makes the database read and skip 10,000 rows;
        a keyset condition starts at the cursor, from an index on the sort
        keys, and a row inserted meanwhile does not shift the pages.

        Options:
            after: the sort values of the last row seen: a tuple with one
                value per ``order_by`` term, a single value for one term, or
                a record of the root schema (its ordered fields are read).
            before: the same, for the rows before a cursor (``repo.page``
                with ``before=`` returns the page just before it).

        The order must end with a unique key (``User.id``), and its values
        must not be NULL: a NULL has no place in a keyset comparison.

        Example: ``query(User).order_by(User.name, User.id).keyset(after=last).limit(20)``.
        """
        if not self.orders:
            raise ValueError("keyset pagination needs an ordered query: add order_by(...)")
        if self.combinations:
            raise ValueError(
                "keyset pagination cannot filter a union; select from it as a subquery"
            )
        conditions = [
            _seek(self.orders, _cursor(self, cursor, name), forward)
            for name, cursor, forward in (("after", after, True), ("before", before, False))
            if cursor is not None
        ]
        return self.where(*conditions) if conditions else self

    def reverse_order(self) -> Query[T]:
        """This query in the opposite order (Ecto's ``reverse_order``), NULLs included.

        Each ordering changes direction and NULLS FIRST/LAST side; without
        any order, the root schema's primary key is reversed.
        """
        return self._reversed_order("reverse_order()")

    def _reversed_order(self, where: str) -> Query[T]:
        orders = self.orders or self._key_order(where)
        return replace_query(self, orders=tuple(_reversed(o) for o in orders))

    # -- removing clauses, preloads ------------------------------------------------------

    @overload
    def exclude(self, *clauses: KeepsResult) -> Query[T]: ...
    @overload
    def exclude(self, *clauses: Clause) -> Query[Any]: ...
    def exclude(self, *clauses: Clause) -> Query[Any]:
        """This query without the named clauses (Ecto's ``exclude``).

        Clauses: ``where`` (and ``or_where``), ``select`` (back to the
        default, so the result type changes), ``join``, ``group_by``,
        ``having``, ``order_by``, ``limit``, ``offset``, ``distinct``,
        ``lock``, ``with_cte``, ``combinations``, ``preload``.
        """
        reset = {
            "where": "wheres",
            "select": "selected",
            "join": "joins",
            "group_by": "groups",
            "having": "havings",
            "order_by": "orders",
            "limit": "limit_by",
            "offset": "offset_by",
            "distinct": "distinct_on",
            "lock": "locking",
            "with_cte": "ctes",
            "combinations": "combinations",
            "preload": "preloads",
        }
        changes: dict[str, Any] = {}
        for clause in clauses:
            name = reset.get(clause)
            if name is None:
                raise ValueError(f"unknown clause {clause!r}; one of {', '.join(reset)}")
            changes[name] = _EMPTY[name]
        return replace_query(self, **changes)

    def preload(self, *paths: PreloadPath, **with_values: PreloadValue) -> Query[T]:
        """Mark associations for the Repo to load with the results (one query per level).

        Paths: ``preload("posts", "posts__comments")`` (``__`` separates
        nested associations), ``preload(User.posts)``, ``preload({"posts":
        ["comments"]})``. A keyword (a path too: ``posts__comments=...``)
        says how to load it:

        - ``posts=query(Post).where(...).order_by(...)`` chooses and orders
          the loaded rows; its ``limit``/``offset`` count per parent, so
          ``posts=top(3, Post.score.desc())`` (``repodb.preload.top``)
          loads each user's three best posts, in SQL;
        - ``posts=ref("p")`` is a join preload: the posts come from this
          query's join named ``p`` (``.join("posts", as_="p")``), in the
          same statement. A ``limit`` then counts joined rows, and an inner
          join drops users without posts (``left_join`` keeps them);
        - ``posts=["comments"]`` (or ``"comments"``) preloads under it;
          ``posts=(query_or_ref, ["comments"])`` does both.

        Names are checked against the schemas' associations, and join
        bindings against the query's joins. The preloads go into the root's
        records: the query's default rows, or, with ``select(User, ...)``,
        the ``User`` of each tuple (with a join preload, one tuple per
        user, the other values from its first row).
        """
        root = self.source.schema
        if root is None or self.source.query is not None:
            raise ValueError("preload needs a schema as the query's source")
        found = preload_tree(root, self.preloads, paths, with_values)
        joined = {key: join.source for join in self.joins for key in join.source.keys}
        for spec in found:
            _check_binding(root, spec, joined, under_join=True)
        return replace_query(self, preloads=found)


_EMPTY: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(Query) if f.name != "source"
}
_FIELDS = frozenset(f.name for f in dataclasses.fields(Query))
_new = object.__new__


def replace_query(q: Query[T], **changes: Any) -> Query[T]:
    """``dataclasses.replace`` for a query, a few times cheaper: every builder step makes one.

    A query has no ``__post_init__`` to rerun, so the copy takes the fields
    as they are, in one dict update, and then the changed ones.
    """
    if not _FIELDS.issuperset(changes):
        raise TypeError(f"Query has no field {sorted(changes.keys() - _FIELDS)[0]!r}")
    new: Query[T] = _new(Query)
    fields = new.__dict__
    fields.update(q.__dict__)
    fields.update(changes)
    return new


def _reversed(o: Ordering) -> Ordering:
    """``o`` turned around: the other direction, NULLs on the other side.

    An ordering without NULLS FIRST/LAST reverses to one without it, since
    each database puts NULLs at opposite ends for ASC and DESC.
    """
    nulls: Literal["FIRST", "LAST"] | None = (
        None if o.nulls is None else "LAST" if o.nulls == "FIRST" else "FIRST"
    )
    return Ordering(o.expr, not o.descending, nulls)


def _cursor(q: Query[Any], cursor: object, name: str) -> tuple[object, ...]:
    """The cursor's values, one per ordering of ``q``."""
    orders = q.orders
    if isinstance(cursor, Schema):
        values: list[object] = []
        for o in orders:
            expr = o.expr
            own = isinstance(expr, Column) and expr.binding in q.source.keys
            if not own or not isinstance(expr, Column) or expr.field is None:
                raise ValueError(
                    f"keyset({name}=record) reads the ordered fields of the root schema; "
                    "this order has another expression: give a tuple of values"
                )
            values.append(getattr(cursor, expr.field))
        found: tuple[object, ...] = tuple(values)
    elif isinstance(cursor, tuple):
        found = cursor
    elif len(orders) == 1:
        found = (cursor,)
    else:
        raise TypeError(
            f"keyset({name}=...) takes a tuple of {len(orders)} values (one per order_by term)"
            f" or a record, not {describe(cursor)}"
        )
    if len(found) != len(orders):
        raise ValueError(
            f"keyset({name}=...) has {len(found)} value(s) for {len(orders)} order_by term(s)"
        )
    if any(v is None for v in found):
        raise ValueError(
            f"keyset({name}=...) has a NULL sort value: order by non-NULL expressions"
            " (coalesce(...)) to paginate by them"
        )
    return found


def _seek(orders: tuple[Ordering, ...], values: tuple[object, ...], forward: bool) -> Expr[bool]:
    """The rows past ``values`` in the order ``orders`` (before them when not ``forward``).

    One row comparison when every term goes one way, which an index on the
    sort keys answers; else ``a > x OR (a = x AND b < y) ...``.
    """
    for o in orders:
        if isinstance(o.expr, Label):
            raise ValueError("keyset pagination orders by expressions, not by select labels")
    lifted = [lift(v, o.expr) for o, v in zip(orders, values, strict=True)]
    directions = {o.descending for o in orders}
    if len(directions) == 1:
        op = ">" if forward != orders[0].descending else "<"
        if len(orders) == 1:
            return Binary(op, orders[0].expr, lifted[0])
        return Binary(op, Row(tuple(o.expr for o in orders)), Row(tuple(lifted)))
    alternatives: list[Expr[bool]] = []
    for i, o in enumerate(orders):
        op = ">" if forward != o.descending else "<"
        equal = [Binary("=", orders[j].expr, lifted[j]) for j in range(i)]
        alternatives.append(and_(*equal, Binary(op, o.expr, lifted[i])))
    return or_(*alternatives)


def _dbtype(item: Expr[Any] | SchemaItem) -> DbType[Any] | None:
    assert isinstance(item, Expr)
    return item.dbtype


def _expect_query(q: object, where: str) -> None:
    if not isinstance(q, Query):
        raise TypeError(f"{where} takes a query, not {describe(q)}")


def _count(count: int | Expr[int], clause: str) -> Expr[int]:
    if isinstance(count, Expr):
        if isinstance(count, Param) and count.type_ is None:
            return count.typed(_INT)
        return count
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"{clause}() takes an int or an expression, not {describe(count)}")
    if count < 0:
        raise ValueError(f"{clause} takes a non-negative int, not {count!r}")
    return Value(count, _INT)


_INT: DbType[int] = to_dbtype(int)


def table_alias(table: str) -> str:
    first = table[:1].lower()
    return first if first.isascii() and first.isalpha() else "t"


def schema_item(cls: type[Schema], key: object) -> SchemaItem:
    """The record of ``cls`` read through the binding ``key``: every stored field.

    Memoized, since every query of a schema selects it by default; the memo
    is emptied when it grows past its bound (alias names are the user's).
    """
    item = _SCHEMA_ITEMS.get((cls, key))
    if item is None:
        info = schema_info(cls)
        fields: tuple[tuple[str, Expr[Any]], ...] = tuple(
            (f.name, Column(key, f.source, f.name, f.dbtype)) for f in info.fields
        )
        item = SchemaItem(cls, fields)
        if len(_SCHEMA_ITEMS) >= 4096:
            _SCHEMA_ITEMS.clear()
        _SCHEMA_ITEMS[(cls, key)] = item
    return item


_SCHEMA_ITEMS: dict[tuple[type[Schema], object], SchemaItem] = {}


def _records_of(cls: type[Schema], key: object) -> Selection:
    """The default selection of a query of ``cls``: its records, read through ``key``.

    Memoized as ``schema_item`` is: every run of a query asks for it.
    """
    selection = _RECORD_SELECTIONS.get((cls, key))
    if selection is None:
        selection = Selection("record", (schema_item(cls, key),))
        if len(_RECORD_SELECTIONS) >= 4096:
            _RECORD_SELECTIONS.clear()
        _RECORD_SELECTIONS[(cls, key)] = selection
    return selection


_RECORD_SELECTIONS: dict[tuple[type[Schema], object], Selection] = {}


def _source(target: object, as_: str | None, bound: set[object], position: int) -> Source:
    """The source of a FROM or JOIN target, with the bindings it answers to.

    A subquery without a name answers to its position among the sources,
    so that its key, which is part of the query's shape, is not an object
    identity.
    """
    if isinstance(target, Subquery):
        if not isinstance(target.query, Query):
            raise TypeError("a subquery source must wrap a query")
        keys: tuple[object, ...] = (("source", position),) if as_ is None else (as_,)
        return Source(_new_keys(keys, bound), "s", query=target.query)
    if isinstance(target, Table):
        # No schema: its columns bind to the table's record class, and it has no records.
        keys = () if as_ is None else (as_,)
        if target._record not in bound:
            keys = (*keys, target._record)
        letter = table_alias(target._name)
        return Source(_new_keys(keys, bound), letter, None, target._prefix, target._name)
    schema: type[Schema]
    table: str | None = None
    keys = ()
    if isinstance(target, Alias):
        schema, table = target._schema, target._table
        keys = (target._alias,)
    elif isinstance(target, type) and issubclass(target, Schema):
        schema = target
    else:
        raise TypeError(f"cannot select from {target!r}: give a schema, an alias or a subquery")
    if as_ is not None:
        keys = (*keys, as_)
    if schema not in bound:
        keys = (*keys, schema)
    info = schema_info(schema)
    if table is None:
        prefix, name = info.prefix, info.table
    else:
        prefix, name = None, table
    return Source(_new_keys(keys, bound), table_alias(name), schema, prefix, name)


def _new_keys(keys: tuple[object, ...], bound: set[object]) -> tuple[object, ...]:
    for key in keys:
        if isinstance(key, str) and key in bound:
            raise ValueError(f"the binding {key!r} is already used in this query")
    return keys


PreloadPath = str | AssocInfo[Any] | Mapping[str, Any]
PreloadValue = Query[Any] | Ref | str | Sequence[Any] | Mapping[str, Any]


def preload_tree(
    schema: type[Schema],
    existing: tuple[Preload, ...],
    paths: Iterable[PreloadPath],
    with_values: Mapping[str, PreloadValue],
) -> tuple[Preload, ...]:
    """``existing`` preloads with ``paths`` and keyword ones merged in, checked against ``schema``.

    Shared by ``Query.preload`` and ``Repo.preload``, which read paths the same way.
    """
    found = list(existing)
    for path in paths:
        for spec in _preload_specs(path):
            found = _merge_preload(found, spec)
    for path, value in with_values.items():
        found = _merge_preload(found, _keyed(path, value))
    for spec in found:
        _check_preload(schema, spec)
    return tuple(found)


def _preload_specs(path: object) -> list[Preload]:
    if isinstance(path, AssocInfo):
        return [Preload(path.name)]
    if isinstance(path, str):
        return [_keyed(path, ())]
    if isinstance(path, Mapping):
        return [_keyed(name, value) for name, value in path.items()]
    raise TypeError(f"cannot preload {path!r}: give a name, an association or a mapping")


def _keyed(path: str, value: object) -> Preload:
    """The association at ``path`` (``a__b``), loaded as ``value`` says, under its parents."""
    *parents, name = path.split("__")
    spec = _valued(name, value)
    for parent in reversed(parents):
        spec = Preload(parent, (spec,))
    return spec


def _valued(name: str, value: object) -> Preload:
    if isinstance(value, Query):
        # Preloads of the preload query load under this association.
        nested = value.preloads
        loaded = value.exclude("preload") if nested else value
        return Preload(name, nested, loaded)
    if isinstance(value, Ref):
        return Preload(name, binding=value._ref)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], Query | Ref):
        head = _valued(name, value[0])
        merged = list(head.nested)
        for spec in _nested(value[1]):
            merged = _merge_preload(merged, spec)
        return dataclasses.replace(head, nested=tuple(merged))
    return Preload(name, _nested(value))


def _nested(value: object) -> tuple[Preload, ...]:
    if isinstance(value, str | Mapping | AssocInfo):
        value = [value]
    if not isinstance(value, Iterable):
        raise TypeError(f"cannot preload {value!r}: give names, a mapping, a query or a ref")
    out: list[Preload] = []
    for item in value:
        for spec in _preload_specs(item):
            out = _merge_preload(out, spec)
    return tuple(out)


def _merge_preload(found: list[Preload], spec: Preload) -> list[Preload]:
    for i, existing in enumerate(found):
        if existing.name == spec.name:
            nested = list(existing.nested)
            for child in spec.nested:
                nested = _merge_preload(nested, child)
            merged = Preload(
                spec.name,
                tuple(nested),
                spec.query or existing.query,
                spec.binding or existing.binding,
            )
            return [*found[:i], merged, *found[i + 1 :]]
    return [*found, spec]


def _check_preload(schema: type[Schema], spec: Preload) -> None:
    info = schema_info(schema).associations.get(spec.name)
    if info is None:
        raise ValueError(f"{schema.__name__} has no association {spec.name!r} to preload")
    where = f"{schema.__name__}.{spec.name}"
    if spec.query is not None:
        if spec.binding is not None:
            raise ValueError(f"preload {where}: a join preload takes no query")
        if spec.query.source.schema is not info.related or spec.query.source.query is not None:
            raise ValueError(f"preload {where}: give a query of {info.related.__name__}")
    for child in spec.nested:
        _check_preload(info.related, child)


def _check_binding(
    schema: type[Schema], spec: Preload, joined: Mapping[object, Source], under_join: bool
) -> None:
    """A join preload must name a join of its association's schema, under a joined parent."""
    info = schema_info(schema).associations[spec.name]
    if spec.binding is not None:
        where = f"{schema.__name__}.{spec.name}"
        if info.through is not None:
            raise ValueError(
                f"join preload {where}: it goes through {', '.join(info.through)}, whose rows"
                " the join repeats; preload it without ref() (one query per hop)"
            )
        if not under_join:
            raise ValueError(f"join preload {where}: its parent is not join-preloaded too")
        source = joined.get(spec.binding)
        if source is None:
            raise ValueError(f"join preload {where}: the query has no join named {spec.binding!r}")
        if source.schema is not info.related or source.query is not None:
            raise ValueError(
                f"join preload {where}: the join {spec.binding!r} is not of {info.related.__name__}"
            )
    for child in spec.nested:
        _check_binding(info.related, child, joined, spec.binding is not None)


# -- starting a query ---------------------------------------------------------------


@overload
def query(source: type[SchemaT], *, as_: str | None = None) -> Query[SchemaT]: ...
@overload
def query(source: Subquery[T], *, as_: str | None = None) -> Query[T]: ...
@overload
def query(source: Table, *, as_: str | None = None) -> Query[Any]: ...
def query(source: object, *, as_: str | None = None) -> Query[Any]:
    """A query of all rows of a schema, an ``alias`` (another table or a CTE), or a subquery.

    ``as_`` names the root binding (for ``ref``); a subquery's rows are the
    records or dicts it selects. A ``table(...)`` (schemaless) is a source
    too; its query selects explicit columns (``repodb.table``).
    """
    if not isinstance(source, type):
        return Query(_source(source, as_, set(), 0))
    # A query is immutable, so every query of a schema can start from one.
    found = _ROOTS.get((source, as_))
    if found is None:
        found = Query(_source(source, as_, set(), 0))
        if len(_ROOTS) >= 4096:
            _ROOTS.clear()
        _ROOTS[(source, as_)] = found
    return found


_ROOTS: dict[tuple[type[Any], str | None], Query[Any]] = {}


from_ = query


def subquery(q: Query[T]) -> Subquery[T]:
    """``q`` as a value: in ``from_``/``join``, ``x.in_(...)``, or a scalar in an expression.

    A scalar subquery must select one column; its type is that column's.
    """
    _expect_query(q, "subquery()")
    selection = q.selected
    dbtype = None
    if selection is not None and selection.kind == "scalar":
        item = selection.items[0]
        assert isinstance(item, Expr)
        # No row is NULL.
        dbtype = optional(item.dbtype) if item.dbtype is not None else None
    return Subquery(q, dbtype)


def exists(q: Query[Any]) -> Expr[bool]:
    """``EXISTS (q)``: whether ``q`` has rows; ``~exists(q)`` for ``NOT EXISTS``."""
    _expect_query(q, "exists()")
    return Exists(q)


# -- the query of records' associated rows ----------------------------------------------


@overload
def assoc(
    records: Schema | Sequence[Schema], association: AssocInfo[list[SchemaT]]
) -> Query[SchemaT]: ...
@overload
def assoc(
    records: Schema | Sequence[Schema], association: AssocInfo[SchemaT | None]
) -> Query[SchemaT]: ...
@overload
def assoc(records: Schema | Sequence[Schema], association: str) -> Query[Any]: ...
def assoc(records: Schema | Sequence[Schema], association: str | AssocInfo[Any]) -> Query[Any]:
    """The query of the rows associated with ``records`` (Ecto's ``Ecto.assoc``).

    Why: a record's posts are a query like any other, to filter, order,
    count, update or delete before anything is loaded, where ``preload``
    loads them all. ``records`` is one record or a list of records of the
    association's owner; their keys are bound values, read now.

    The query selects the related records, each once: ``belongs_to`` and
    ``has_*`` compare the related key with the records' keys (``=`` for one
    key, ``IN`` for several; records without a key match nothing), and a
    ``many_to_many`` reads the join table in a subquery, so a row linked to
    two of the records is not repeated; a ``through`` association nests
    one such subquery per hop. Given the association itself
    (``User.posts``), the query is typed by its declaration
    (``Query[Post]`` for ``Assoc[list[Post]]``); given its name, ``Any``.

    Example: ``repo.all(assoc(user, "posts").where(Post.views > 10))``, or
    ``repo.delete_all(assoc(users, User.posts))``.
    """
    found: Sequence[Schema] = [records] if isinstance(records, Schema) else records
    first, *hops = through_chain(_owned_assoc(found, association))
    owner_field = _owner_field(first)
    keys = list(dict.fromkeys(r.__dict__[owner_field] for r in found))
    q = _related_query(first, [key for key in keys if key is not None])
    for hop in hops:
        # Each hop's keys are a subquery of the previous hop's rows.
        q = _related_query(hop, q.select(column(hop.owner, _owner_field(hop))))
    return q


def _owned_assoc(records: Sequence[Schema], association: str | AssocInfo[Any]) -> AssocInfo[Any]:
    """The association, checked against the records' schema."""
    if not isinstance(records, Sequence):
        raise TypeError(f"assoc() takes a record or a list of records, not {describe(records)}")
    if not records:
        if isinstance(association, AssocInfo):
            return association
        raise ValueError(
            "assoc() of no records needs the association itself (User.posts), not its name"
        )
    owner = type(records[0])
    if not all(type(r) is owner for r in records):
        raise TypeError(f"assoc() takes records of one schema; the first is {owner.__name__}")
    if isinstance(association, AssocInfo):
        if association.owner is not owner:
            raise ValueError(
                f"{association.owner.__name__}.{association.name} is not an association of "
                f"{owner.__name__}"
            )
        return association
    info = schema_info(owner).associations.get(association)
    if info is None:
        raise ValueError(f"{owner.__name__} has no association {association!r}")
    return info


def _owner_field(info: AssocInfo[Any]) -> str:
    """The owner's field whose values the related rows' key is compared with."""
    if info.kind == "belongs_to":
        assert info.foreign_key is not None
        return info.foreign_key
    if info.kind == "many_to_many":
        assert info.join_keys is not None
        return info.join_keys[0][1]
    return info.references


def _related_query(info: AssocInfo[Any], keys: list[Any] | Query[Any]) -> Query[Any]:
    """The related rows of ``info`` whose owner-side key is among ``keys``.

    ``keys`` are values, or a query selecting them (a hop of a chain).
    """
    target = query(info.related)
    if info.kind == "many_to_many":
        assert info.join_keys is not None
        assert info.join_through is not None
        (owner_column, owner_field), (related_column, field) = info.join_keys
        owner = schema_info(info.owner)
        through: tuple[object, ...] = ("assoc", info.owner, info.name)
        # The join table is in the owner's schema, as the rows linking them are written.
        table = info.join_through
        linked: Query[Any] = Query(
            Source((through,), table_alias(table), None, owner.prefix, table),
            selected=Selection("scalar", (Column(through, related_column),)),
        )
        owner_key: Column[Any] = Column(
            through, owner_column, None, owner.field(owner_field).dbtype
        )
        keys = linked.where(_among(owner_key, keys))
    else:
        found = info.references if info.kind == "belongs_to" else info.foreign_key
        assert found is not None
        field = found
    key = schema_info(info.related).field(field)
    compared: Column[Any] = Column(target.source.keys[0], key.source, key.name, key.dbtype)
    return target.where(_among(compared, keys))


def _among(column: Column[Any], keys: list[Any] | Query[Any]) -> Expr[bool]:
    if isinstance(keys, Query):
        return column.in_(keys)
    # One key compares with "=", as a query of one record is usually written.
    return column == keys[0] if len(keys) == 1 else column.in_(keys)


def to_sql(
    statement: Statement | Prepared[Any],
    dialect: Dialect,
    params: Mapping[str, object] | None = None,
) -> tuple[str, list[Any]]:
    """The SQL text and parameter values of a query, a write statement or a prepared query.

    A query with parameters (``param(name)``), prepared or not, shows each
    parameter where its value goes, as ``param('name')``; with ``params``
    (name -> value, as a Repo runs it) the values it would be sent with,
    a missing or unknown one refused as when it runs.

    Example: ``to_sql(query(User).where(User.id == 1), SQLITE)`` is
    ``('SELECT ... WHERE ("u0"."id" = ?)', [1])``; ``to_sql(by_id, SQLITE,
    {"id": 1})`` the same for ``by_id = prepare(query(User).where(User.id ==
    param("id")))``.
    """
    from .prepared import Prepared

    if isinstance(statement, Prepared):
        prepared: Prepared[Any] | None = statement
        statement = statement.query
    elif params is not None:
        prepared = Prepared(_query_for_params(statement))
    else:
        values: list[object] = []
        statement.walk([], values)
        if not any(isinstance(v, Param) for v in values):
            compiled = compile_statement(statement, dialect)
            return compiled.sql, list(compiled.params)
        prepared = None
    compiled = compile_prepared(statement, dialect)
    if prepared is None or params is None:
        return compiled.sql, list(compiled.params)
    return compiled.sql, list(prepared.values(params))


def _query_for_params(statement: Statement) -> Query[Any]:
    if not isinstance(statement, Query):
        raise TypeError(
            "to_sql takes parameters' values with a query or a prepared query, not"
            f" {describe(statement)}"
        )
    return statement
