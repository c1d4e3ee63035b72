"""Preloading associations: one query per association level, never one per record.

Why: loading each user's posts with a query per user (N+1) is the classic
slowdown of data layers. ``preload`` loads an association for all the
parents with one query, ``WHERE key IN (...)``, then the next level for all
the loaded children at once, and attaches the results to new copies of the
caller's records (records are immutable; the originals keep ``NOT_LOADED``;
records that a query or a level of the preload has just built, which no one
holds yet, take them directly):

- ``belongs_to``: the related rows whose referenced key is among the
  parents' foreign keys;
- ``has_one`` / ``has_many``: the related rows whose foreign key is among
  the parents' keys (``has_many`` in the preload query's order, else by
  primary key; a parent without rows gets ``[]``, without a row ``None``);
- ``many_to_many``: the related rows joined to the join table, whose owner
  column is among the parents' keys and is selected with each row.

Records that are ``None`` (the empty side of an outer join, such as a
right join's root) stay ``None``. Keys are distinct and ``None`` keys are
skipped; the loaded rows come
ordered by key (then by the preload query's order), so that each parent's
records are collected in one run. A large parent set is split
so that no statement carries more parameters than its connection's dialect
allows (``max_params``, less the preload query's own parameters); every
statement of one ``preload`` runs on one checked-out connection, so all the
levels read the same server (one replica, or the pinned transaction).

A preload query's ``limit`` and ``offset`` count per parent: ``top(3,
Post.score.desc())`` loads each user's three best posts with
``row_number() OVER (PARTITION BY key ORDER BY ...)`` in a subquery, never by
loading every post. Orderings end with the related primary key, so ties
always break the same way.

A join preload (``query(User).join("posts", as_="p").preload(posts=ref("p"))``)
reads parents and children from the rows of one statement; ``run_query``
runs it.

Example::

    users = repo.preload(users, "posts__comments", "profile")
    users = repo.preload(users, posts=top(3, Post.score.desc()))
    users = repo.all(query(User).preload(posts=query(Post).where(Post.public)))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._compile.cache import compile_statement
from .errors import MultipleResults
from .expr import Column, Expr, Ordering, Statement, ordering
from .functions import row_number
from .query import (
    Join,
    Preload,
    PreloadPath,
    PreloadValue,
    Query,
    SchemaItem,
    Selection,
    Source,
    preload_tree,
    query,
    replace_query,
    schema_item,
    subquery,
)
from .schema import NOT_LOADED, AssocInfo, NotLoaded, Schema, schema_info, through_chain
from .types import to_dbtype

if TYPE_CHECKING:
    from .connection_async import AsyncConnection
    from .repo_async import AsyncRepo, Intent

__all__ = ["preload", "preload_specs", "run_query", "top"]

S = TypeVar("S", bound=Schema)

# Names the preload statements give their own bindings and columns.
_THROUGH = ("repodb_preload", "through")
_RANKED = "repodb_ranked"
_RANK = "repodb_rank"
_OWNER = "repodb_owner"
_INT = to_dbtype(int)


@overload
async def preload(
    repo: AsyncRepo, records: S, /, *paths: PreloadPath, force: bool = ..., **queries: PreloadValue
) -> S: ...
@overload
async def preload(
    repo: AsyncRepo,
    records: Sequence[S],
    /,
    *paths: PreloadPath,
    force: bool = ...,
    **queries: PreloadValue,
) -> list[S]: ...
@overload
async def preload(
    repo: AsyncRepo,
    records: None,
    /,
    *paths: PreloadPath,
    force: bool = ...,
    **queries: PreloadValue,
) -> None: ...
async def preload(
    repo: AsyncRepo,
    records: Any,
    /,
    *paths: PreloadPath,
    force: bool = True,
    **queries: PreloadValue,
) -> Any:
    """Load associations into new copies of ``records``: one record, a list, or None.

    Paths and keywords as for ``Query.preload``: ``"posts"``,
    ``"posts__comments"``, ``{"posts": ["comments"]}``, ``User.posts``;
    ``posts=query(Post).where(...).order_by(...)`` chooses and orders the
    rows, and its ``limit``/``offset`` count per parent (``posts=top(3,
    Post.score.desc())``). The result has the input's shape; associations
    loaded before stay loaded, the named ones are read afresh; with
    ``force=False`` (Ecto's default) a named association already loaded on a
    record is kept as it is, and only its nested paths are loaded.

    Example: ``user = await preload(repo, user, "posts__comments")``.
    """
    if records is None:
        return None
    single = isinstance(records, Schema)
    parents: list[Schema] = [records] if single else list(records)
    schema = _schema_of(parents, "preload")
    if schema is None:
        return parents
    specs = preload_tree(schema, (), paths, queries)
    if not specs:
        return records if single else parents
    if _any_joined(specs):
        raise ValueError(
            "a join preload (ref(...)) reads the rows of a query: use"
            " repo.all(query(...).join(..., as_=name).preload(assoc=ref(name)))"
        )
    loaded = await _load(repo, parents, specs, force=force)
    return loaded[0] if single else loaded


async def preload_specs(repo: AsyncRepo, rows: list[Any], specs: tuple[Preload, ...]) -> list[Any]:
    """``rows`` (records of one schema, from a query) with ``specs`` loaded, each level one query.

    Raises ``TypeError`` when the query selected something other than
    records (``select(User.id)`` rows have nothing to attach to).
    """
    return await _preload_rows(repo, rows, specs, fresh=False)


async def _preload_rows(
    repo: AsyncRepo, rows: list[Any], specs: tuple[Preload, ...], *, fresh: bool
) -> list[Any]:
    """``preload_specs``; with ``fresh``, ``rows`` are just decoded and get the associations."""
    if not specs:
        return rows
    schema = _schema_of(rows, "query(...).preload")
    if schema is None:
        return rows
    missing = [s.name for s in specs if s.name not in schema_info(schema).associations]
    if missing:
        raise TypeError(
            f"the query selects {schema.__name__} records, which have no {missing[0]!r} to preload"
        )
    if _any_joined(specs):
        raise ValueError("join preloads come from the query's own rows: run it with run_query")
    return await _load(repo, rows, specs, fresh=fresh)


async def run_query(repo: AsyncRepo, q: Query[Any], intent: Intent) -> list[Any]:
    """The results of ``q`` with its preloads: join preloads from its rows, others by query.

    A join preload selects the joined records along with the root's, in the
    same statement; the rows are then folded: each root record once (by
    primary key, in order of first appearance) holding its joined children.
    """
    positions = _root_positions(q)
    if positions is not None:
        return await _run_selecting(repo, q, intent, positions)
    if not _any_joined(q.preloads):
        return await _preload_rows(
            repo, (await repo._execute(q, intent))[0], q.preloads, fresh=True
        )
    root = q.source.schema
    selection = q.selection()
    item = selection.items[0]
    if root is None or selection.kind != "record" or not isinstance(item, SchemaItem):
        raise TypeError("a join preload needs the query to select its root schema's records")
    items: list[Any] = [item]
    layout = _layout(root, q.preloads, items, 0)
    rows = await repo._execute(replace_query(q, selected=Selection("tuple", tuple(items))), intent)
    parents = _fold(rows[0], layout)
    if not parents or not _needs_queries(q.preloads):
        return parents
    return await _load(repo, parents, q.preloads, fresh=True)


def _root_positions(q: Query[Any]) -> list[int] | None:
    """Where a tuple select list holds the root's records; None when it is not a tuple.

    Preloads load associations of the root's records, wherever the select
    list has them (Ecto's preloads with a custom select).
    """
    selection = q.selection()
    if selection.kind != "tuple" or not q.preloads:
        return None
    root = q.source.keys
    return [
        position
        for position, item in enumerate(selection.items)
        if isinstance(item, SchemaItem)
        and item.cls is q.source.schema
        and item.fields
        and isinstance(item.fields[0][1], Column)
        and item.fields[0][1].binding in root
    ]


async def _run_selecting(
    repo: AsyncRepo, q: Query[Any], intent: Intent, positions: list[int]
) -> list[Any]:
    """The tuples ``q`` selects, their root records holding the preloads.

    Join preloads add the joined records to the select list and fold the
    rows as for a query of records: one tuple per root record, the other
    values from its first row.
    """
    root = q.source.schema
    if root is None or not positions:
        raise TypeError(
            "preloads load associations of the query's root records: select them too,"
            " as in select(User, ...)"
        )
    width = len(q.selection().items)
    if _any_joined(q.preloads):
        items = list(q.selection().items)
        layout = _layout(root, q.preloads, items, positions[0])
        selected = replace_query(q, selected=Selection("tuple", tuple(items)))
        rows = (await repo._execute(selected, intent))[0]
        firsts: dict[object, tuple[Any, ...]] = {}
        for row in rows:
            if row[positions[0]] is not None:
                firsts.setdefault(layout.identity(row[positions[0]]), row)
        records = _fold(rows, layout)
        rows = [row[:width] for row in firsts.values()]
    else:
        rows = (await repo._execute(q, intent))[0]
        records = [row[positions[0]] for row in rows]
    if _needs_queries(q.preloads):
        records = await _load(repo, records, q.preloads, fresh=True)
    return [
        tuple(record if i in positions else value for i, value in enumerate(row))
        for row, record in zip(rows, records, strict=True)
    ]


def top(count: int, *order_by: Ordering | Expr[Any]) -> Query[Any]:
    """A preload query loading at most ``count`` records per parent, in ``order_by`` order.

    The schema is the one ``order_by``'s first column belongs to; chain
    ``where`` to filter: ``posts=top(3, Post.score.desc()).where(Post.public)``.
    It is ``query(Post).order_by(...).limit(count)``: in a preload query the
    limit counts per parent.
    """
    schema = None
    for term in order_by:
        target = ordering(term).expr
        binding = target.binding if isinstance(target, Column) else None
        if isinstance(binding, type) and issubclass(binding, Schema):
            schema = binding
            break
    if schema is None:
        raise ValueError("top(n, ...) orders by a schema's column, e.g. top(3, Post.score.desc())")
    return query(schema).order_by(*order_by).limit(count)


# -- loading level by level ---------------------------------------------------------


class _Loader:
    """Runs the statements of one preload on one checked-out connection.

    ``force``: whether associations already loaded on a record are read again.
    """

    def __init__(
        self, repo: AsyncRepo, conn: AsyncConnection, checkout: float, force: bool
    ) -> None:
        self.repo = repo
        self.conn = conn
        self.checkout = checkout
        self.force = force

    async def run(self, statement: Statement) -> list[Any]:
        compiled = compile_statement(statement, self.repo._dialect(self.conn))
        results = (await self.repo._run(self.conn, compiled, self.checkout))[0]
        # The checkout wait belongs to the first statement only.
        self.checkout = 0.0
        return results


async def _load(
    repo: AsyncRepo,
    parents: list[Any],
    specs: tuple[Preload, ...],
    *,
    fresh: bool = False,
    force: bool = True,
) -> list[Any]:
    # The empty side of an outer join (a right join's root records) is None,
    # and stays None.
    present = [parent for parent in parents if parent is not None]
    loaded = await repo._on_connection("read", _load_on, repo, present, specs, fresh, force)
    if len(present) == len(parents):
        return loaded
    records = iter(loaded)
    return [None if parent is None else next(records) for parent in parents]


async def _load_on(
    conn: AsyncConnection,
    checkout: float,
    repo: AsyncRepo,
    parents: list[Any],
    specs: tuple[Preload, ...],
    fresh: bool,
    force: bool,
) -> list[Any]:
    return await _attach(_Loader(repo, conn, checkout, force), parents, specs, fresh)


async def _attach(
    loader: _Loader, parents: list[Any], specs: tuple[Preload, ...], fresh: bool
) -> list[Any]:
    """``parents`` (records of one schema) holding the ``specs`` associations.

    Records are immutable once the caller has them: the caller's records get
    new copies. ``fresh`` records (just decoded by this preload or its
    query, seen by no one yet) get the associations themselves, which spares
    a copy per record.
    """
    info = schema_info(type(parents[0]))
    loaded: list[tuple[str, list[Any]]] = []
    for spec in specs:
        assoc = info.associations[spec.name]
        # Whether the values are records this preload built (no one holds them yet).
        new = True
        if spec.binding is not None:
            values = [parent.__dict__[spec.name] for parent in parents]
        elif loader.force:
            values = await _fetch(loader, assoc, spec.query, parents)
        else:
            values, new = await _fetch_missing(loader, assoc, spec, parents)
        if spec.nested:
            many = assoc.cardinality == "many"
            values = await _attach_nested(loader, values, many, spec.nested, fresh=new)
        loaded.append((spec.name, values))
    if fresh:
        for i, parent in enumerate(parents):
            fields = parent.__dict__
            for name, values in loaded:
                fields[name] = values[i]
        return parents
    copies = []
    for i, parent in enumerate(parents):
        clone = _copy(parent)
        fields = clone.__dict__
        for name, values in loaded:
            fields[name] = values[i]
        copies.append(clone)
    return copies


async def _attach_nested(
    loader: _Loader, values: list[Any], many: bool, nested: tuple[Preload, ...], *, fresh: bool
) -> list[Any]:
    """Per-parent ``values`` whose records hold ``nested``, loaded for all of them at once.

    ``fresh`` records were just loaded (by a query of this preload, or from
    the rows of a join preload), so they take the nested associations
    themselves; others (loaded before, kept by ``force=False``) are copied.
    """
    children: dict[int, Any] = {}
    for value in values:
        for child in value if many else (() if value is None else (value,)):
            children[id(child)] = child
    if not children:
        return values
    attached = await _attach(loader, list(children.values()), nested, fresh=fresh)
    if fresh:
        return values
    copies = dict(zip(children, attached, strict=True))
    if many:
        return [[copies[id(child)] for child in value] for value in values]
    return [None if value is None else copies[id(value)] for value in values]


async def _fetch_missing(
    loader: _Loader, assoc: AssocInfo[Any], spec: Preload, parents: list[Any]
) -> tuple[list[Any], bool]:
    """Per parent, its associated records, read only for parents where they are not loaded.

    Also whether every value was read now (none was loaded before).
    """
    kept = [parent.__dict__.get(spec.name, NOT_LOADED) for parent in parents]
    missing = [i for i, value in enumerate(kept) if isinstance(value, NotLoaded)]
    if len(missing) == len(parents):
        return await _fetch(loader, assoc, spec.query, parents), True
    if missing:
        found = await _fetch(loader, assoc, spec.query, [parents[i] for i in missing])
        for i, value in zip(missing, found, strict=True):
            kept[i] = value
    return kept, False


async def _fetch(
    loader: _Loader, assoc: AssocInfo[Any], custom: Query[Any] | None, parents: list[Any]
) -> list[Any]:
    """Per parent, its associated records (a list) or record (or None)."""
    if assoc.through is not None:
        return await _fetch_through(loader, assoc, custom, parents)
    plan = _plan(assoc, custom)
    owner_keys = [parent.__dict__[plan.owner_field] for parent in parents]
    distinct = dict.fromkeys(owner_keys)
    distinct.pop(None, None)
    keys = list(distinct)
    found: dict[Any, list[Any]] = {}
    if keys:
        # The parameters of the query itself (filters, limit) come first.
        room = loader.conn.dialect.max_params - plan.own_params
        if room < 1:
            raise ValueError(f"the preload query of {_where(assoc)} has too many parameters")
        for start in range(0, len(keys), room):
            chunk = _padded(keys[start : start + room], room)
            plan.collect(await loader.run(plan.statement(chunk)), found)
    if assoc.cardinality == "many":
        if len(keys) == len(owner_keys):
            # One parent per key: each takes its list as collected.
            return [found.get(key) or [] for key in owner_keys]
        return [list(found.get(key, ())) for key in owner_keys]
    return [_one(assoc, key, found.get(key)) for key in owner_keys]


async def _fetch_through(
    loader: _Loader, assoc: AssocInfo[Any], custom: Query[Any] | None, parents: list[Any]
) -> list[Any]:
    """Per parent, the records of a ``through`` association: one query per hop, as Ecto does.

    Each hop is loaded for the distinct records the previous one reached;
    a record reached along several paths is kept once per parent (the
    first time it is reached), and ``custom`` chooses and orders the last
    hop's rows (per record of the hop before it).
    """
    if custom is not None and (custom.limit_by is not None or custom.offset_by is not None):
        raise ValueError(
            f"the preload query of {_where(assoc)} cannot limit or offset: it goes through"
            " other associations, so there is no one list per parent to count in"
        )
    chain = through_chain(assoc)
    reached: list[list[Any]] = [[parent] for parent in parents]
    level = parents
    for position, hop in enumerate(chain):
        last = position == len(chain) - 1
        values = await _fetch(loader, hop, custom if last else None, level)
        children = {
            id(record): _as_list(value) for record, value in zip(level, values, strict=True)
        }
        reached = [[child for r in found for child in children[id(r)]] for found in reached]
        level = list({id(child): child for found in reached for child in found}.values())
        if not level:
            break
    unique = [_distinct(found) for found in reached]
    if assoc.cardinality == "many":
        return unique
    owner_key = _keyed_by(assoc.owner)
    return [_one(assoc, owner_key(p), found) for p, found in zip(parents, unique, strict=True)]


def _keyed_by(schema: type[Schema]) -> Callable[[Any], object]:
    """A record's primary key (its identity, for a schema without one)."""
    names = [f.name for f in schema_info(schema).primary_key]
    return _identity(names) if names else id


def _distinct(records: list[Any]) -> list[Any]:
    """``records`` without repeats of a row, in the order first reached."""
    if not records:
        return records
    key = _keyed_by(type(records[0]))
    seen: set[object] = set()
    out = []
    for record in records:
        k = key(record)
        if k not in seen:
            seen.add(k)
            out.append(record)
    return out


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _plan(assoc: AssocInfo[Any], custom: Query[Any] | None) -> _Plan:
    """The plan loading ``assoc``; the default one (no preload query) is made once."""
    if custom is not None:
        return _Plan(assoc, custom)
    # The related schema is part of the key: a name resolves to the schema
    # defined under it when it is read.
    key = (assoc.owner, assoc.name, assoc.related)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _Plan(assoc, None)
    return plan


_PLANS: dict[tuple[type[Schema], str, type[Schema]], _Plan] = {}


def _one(assoc: AssocInfo[Any], key: object, records: list[Any] | None) -> Any:
    if not records:
        return None
    if len(records) > 1:
        raise MultipleResults(
            f"preloading {_where(assoc)} found {len(records)} {assoc.related.__name__}"
            f" records for key {key!r}; it holds one"
        )
    return records[0]


class _Plan:
    """The statement loading one association for a list of keys, and how to read its rows."""

    def __init__(self, assoc: AssocInfo[Any], custom: Query[Any] | None) -> None:
        related = assoc.related
        base = custom if custom is not None else query(related)
        selection = base.selection()
        item = selection.items[0]
        if (
            selection.kind != "record"
            or not isinstance(item, SchemaItem)
            or item.cls is not related
        ):
            raise ValueError(
                f"the preload query of {_where(assoc)} must select {related.__name__} records"
            )
        if base.combinations:
            # The key condition would filter only the first member of a union.
            raise ValueError(f"the preload query of {_where(assoc)} cannot be a set operation")
        binding = base.source.keys[0]
        info = schema_info(related)

        def column(name: str) -> Column[Any]:
            found = info.field(name)
            return Column(binding, found.source, found.name, found.dbtype)

        if assoc.preload_order and not base.orders:
            base = base.order_by(*_preload_order(assoc, column))
        self.item = item
        self.through = assoc.kind == "many_to_many"
        if self.through:
            assert assoc.join_keys is not None
            assert assoc.join_through is not None
            (owner_column, self.owner_field), (related_column, related_field) = assoc.join_keys
            owner_type = schema_info(assoc.owner).field(self.owner_field).dbtype
            self.key: Column[Any] = Column(_THROUGH, owner_column, None, owner_type)
            # The join table is in the owner's schema, as the rows linking
            # them are written (one rule for names: no dots split).
            prefix = schema_info(assoc.owner).prefix
            source = Source((_THROUGH,), "j", None, prefix, assoc.join_through)
            on = Column(_THROUGH, related_column) == column(related_field)
            base = replace_query(base, joins=(*base.joins, Join("inner", source, on)))
        elif assoc.kind == "belongs_to":
            assert assoc.foreign_key is not None
            self.owner_field = assoc.foreign_key
            self.key = column(assoc.references)
        else:
            assert assoc.foreign_key is not None
            self.owner_field = assoc.references
            self.key = column(assoc.foreign_key)
        self.limit = base.limit_by
        self.offset = base.offset_by
        self.orders = base.orders
        if assoc.cardinality == "many" or self.limit is not None or self.offset is not None:
            # The primary key breaks ties, so equal sort keys always come out the same way.
            self.orders += tuple(ordering(column(f.name)) for f in info.primary_key)
        # The rows of one key come together, in the query's order: collecting
        # them takes a slice per key, and where an index on the key serves
        # the lookup (SQLite's), the database reads them in that order
        # without sorting.
        self.grouped = (ordering(self.key), *self.orders) if self.orders else ()
        self.base = replace_query(base, orders=(), limit_by=None, offset_by=None)
        self.key_name = None if self.through else self.key.field
        self.own_params = _param_count(self.statement([]))

    def statement(self, keys: list[Any]) -> Query[Any]:
        """The query for ``keys``: plain, or ranked per key when it has a limit or offset."""
        if self.limit is None and self.offset is None:
            selection = (
                Selection("tuple", (self.key, self.item))
                if self.through
                else Selection("record", (self.item,))
            )
            return replace_query(
                self.base.where(self.key.in_(keys)), selected=selection, orders=self.grouped
            )
        return self._ranked(keys)

    def _ranked(self, keys: list[Any]) -> Query[Any]:
        """``row_number()`` per key in a subquery, the rows whose number is in the window."""
        names = [self.item.output_name(name) for name, _ in self.item.fields]
        exprs: list[Expr[Any]] = [expr for _, expr in self.item.fields]
        if self.through:
            names.append(_OWNER)
            exprs.append(self.key)
        names.append(_RANK)
        exprs.append(row_number().over(partition_by=self.key, order_by=self.orders))
        inner = replace_query(
            self.base.where(self.key.in_(keys)),
            selected=Selection("dict", tuple(exprs), tuple(names)),
        )
        rank: Column[int] = Column(_RANKED, _RANK, None, _INT)
        outer = query(subquery(inner), as_=_RANKED)
        if self.offset is not None:
            outer = outer.where(rank > self.offset)
        if self.limit is not None:
            last = self.limit if self.offset is None else self.offset + self.limit
            outer = outer.where(rank <= last)
        fields: tuple[tuple[str, Expr[Any]], ...] = tuple(
            (name, Column(_RANKED, self.item.output_name(name), name, expr.dbtype))
            for name, expr in self.item.fields
        )
        record = SchemaItem(self.item.cls, fields)
        if self.through:
            owner: Column[Any] = Column(_RANKED, _OWNER, None, self.key.dbtype)
            selection = Selection("tuple", (owner, record))
        else:
            selection = Selection("record", (record,))
        return replace_query(outer, selected=selection).order_by(rank)

    def collect(self, results: list[Any], found: dict[Any, list[Any]]) -> None:
        """Add each result's record to the list of its owner key in ``found``.

        Results come grouped by key (see ``grouped``), so each key's run is
        taken at once; runs of a key that come apart are joined in order.
        """
        if self.through:
            for key, run in groupby(results, itemgetter(0)):
                found.setdefault(key, []).extend(map(itemgetter(1), run))
            return
        assert self.key_name is not None
        for key, run in groupby(results, attrgetter(self.key_name)):
            found.setdefault(key, []).extend(run)


def _preload_order(assoc: AssocInfo[Any], column: Callable[[str], Column[Any]]) -> list[Ordering]:
    """The orderings of ``assoc``'s ``preload_order``, its fields read by ``column``."""
    orders = []
    for name in assoc.preload_order:
        field = name.removeprefix("-")
        try:
            found = column(field)
        except KeyError:
            raise ValueError(
                f"the preload_order of {_where(assoc)} names {field!r},"
                f" which is not a stored field of {assoc.related.__name__}"
            ) from None
        orders.append(found.desc() if name.startswith("-") else found.asc())
    return orders


def _padded(keys: list[Any], room: int) -> list[Any]:
    """``keys`` repeated up to a power of two (at most ``room``).

    Why: each length of an ``IN`` list is another statement shape to compile
    and cache; parent sets of any size then share a handful of shapes. A
    repeated key matches no extra row.
    """
    size = min(1 << (len(keys) - 1).bit_length(), room)
    return keys + [keys[-1]] * (size - len(keys))


def _param_count(statement: Statement) -> int:
    values: list[object] = []
    statement.walk([], values)
    return len(values)


# -- join preloads ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Node:
    """Where a join-preloaded schema's records are in each row, and its joined children."""

    column: int
    identity: Callable[[Any], object]
    children: tuple[tuple[str, bool, _Node], ...]


def _layout(
    schema: type[Schema], specs: tuple[Preload, ...], items: list[Any], column: int
) -> _Node:
    """The node of ``schema`` at ``column``; adds its join-preloaded records to ``items``."""
    info = schema_info(schema)
    key = info.primary_key
    if not key:
        raise ValueError(f"a join preload tells {schema.__name__} rows apart by primary key")
    names = [f.name for f in key]
    children = []
    for spec in specs:
        if spec.binding is None:
            continue
        assoc = info.associations[spec.name]
        items.append(schema_item(assoc.related, spec.binding))
        child = _layout(assoc.related, spec.nested, items, len(items) - 1)
        children.append((spec.name, assoc.cardinality == "many", child))
    return _Node(column, _identity(names), tuple(children))


def _identity(names: list[str]) -> Callable[[Any], object]:
    if len(names) == 1:
        only = names[0]
        return lambda record: record.__dict__[only]
    return lambda record: tuple(record.__dict__[n] for n in names)


def _fold(rows: list[tuple[Any, ...]], node: _Node) -> list[Any]:
    """The distinct records at ``node.column`` (first appearance first), children attached."""
    groups: dict[object, list[tuple[Any, ...]]] = {}
    firsts: dict[object, Any] = {}
    for row in rows:
        record = row[node.column]
        if record is None:  # the empty side of an outer join
            continue
        key = node.identity(record)
        group = groups.get(key)
        if group is None:
            groups[key] = [row]
            firsts[key] = record
        else:
            group.append(row)
    if not node.children:
        return list(firsts.values())
    out = []
    for key, group in groups.items():
        clone = _copy(firsts[key])
        for name, many, child in node.children:
            found = _fold(group, child)
            clone.__dict__[name] = found if many else (found[0] if found else None)
        out.append(clone)
    return out


# -- helpers -----------------------------------------------------------------------


def _copy(record: Any) -> Any:
    """A shallow copy, loaded associations included (``replace`` would drop them)."""
    clone = object.__new__(type(record))
    clone.__dict__.update(record.__dict__)
    return clone


def _schema_of(records: list[Any], what: str) -> type[Schema] | None:
    """The one schema of ``records``, None ones aside; None when there is none."""
    first = next((record for record in records if record is not None), None)
    if first is None:
        return None
    schema = type(first)
    if not issubclass(schema, Schema):
        raise TypeError(f"{what} loads associations of schema records, not {schema.__name__}")
    for record in records:
        if type(record) is not schema and record is not None:
            raise TypeError(
                f"{what} needs records of one schema: {schema.__name__} and {type(record).__name__}"
            )
    return schema


def _any_joined(specs: tuple[Preload, ...]) -> bool:
    return any(spec.binding is not None or _any_joined(spec.nested) for spec in specs)


def _needs_queries(specs: tuple[Preload, ...]) -> bool:
    return any(spec.binding is None or _needs_queries(spec.nested) for spec in specs)


def _where(assoc: AssocInfo[Any]) -> str:
    return f"{assoc.owner.__name__}.{assoc.name}"
