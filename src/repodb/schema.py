"""Schemas: tables declared as Python classes whose instances are immutable records.

Why: Ecto keeps data plain and immutable and describes the table once; so do
we. A schema class declares its table, typed fields and associations. Its
instances are frozen dataclasses (typed keyword constructor, equality,
``replace``); the class's attributes are typed column expressions for
queries, so ``User.age >= 18`` is an ``Expr[bool]`` and ``User.age > "x"`` a
type error.

Declare fields as ``Col[T]`` (a column holding ``T``; ``Col[T | None]`` for a
nullable one) and associations as ``ClassVar[Assoc[T]]`` (the Repo loads
them; they are not constructor arguments). Field options go through
``field(...)``: ``primary_key`` (several fields make a composite key; a key
defaulting to None is assigned by the database), ``default`` /
``default_factory``, ``source`` (the column name when it differs),
``virtual`` (never stored), ``redact`` (hidden in reprs and logs),
``timestamp`` (``"inserted"``/``"updated"``, filled by the Repo),
``read_after_writes`` (the database sets or changes it: read back after
every write). A field
whose type is an ``Embedded`` record, or a list of them, is stored as JSON
(Ecto's ``embeds_one`` / ``embeds_many``).

Example::

    class User(Schema, table="users"):
        id: Col[int | None] = field(primary_key=True, default=None)
        name: Col[str]
        age: Col[int | None] = field(default=None)
        password: Col[str | None] = field(default=None, virtual=True, redact=True)
        inserted_at: Col[datetime | None] = field(default=None, timestamp="inserted")
        posts: ClassVar[Assoc[list[Post]]] = has_many("Post", foreign_key="user_id")

    ada = User(name="Ada")
    older = ada.replace(age=37)
    adults = query(User).where(User.age >= 18)
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Callable, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    Self,
    TypeVar,
    dataclass_transform,
    overload,
)

from ._jsonform import dumper, loader
from ._migration.ops import default_index_name
from .dialect import check_identifier
from .expr import Column
from .types import DbType, Kind, optional, to_dbtype

__all__ = [
    "NOT_LOADED",
    "Assoc",
    "AssocInfo",
    "Col",
    "Embedded",
    "FieldInfo",
    "IndexDef",
    "NotLoaded",
    "Schema",
    "SchemaInfo",
    "belongs_to",
    "dump_embedded",
    "field",
    "has_many",
    "has_one",
    "index",
    "is_loaded",
    "load_embedded",
    "many_to_many",
    "schema_info",
    "through_chain",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class NotLoaded:
    """The value of an association that was not preloaded.

    Using it as a collection raises a clear error instead of looking empty.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "<not loaded>"

    def __iter__(self) -> Any:
        raise RuntimeError("this association is not loaded; preload it first")

    def __len__(self) -> int:
        raise RuntimeError("this association is not loaded; preload it first")

    def __bool__(self) -> bool:
        raise RuntimeError("this association is not loaded; preload it first")


NOT_LOADED: Any = NotLoaded()


def is_loaded(record: Schema, association: str) -> bool:
    """Whether ``record``'s association ``association`` was preloaded (or set by a write).

    Why: a not-loaded association is ``NOT_LOADED``, which refuses to be
    iterated or tested for truth so that it can never pass for "no rows";
    code that serialises or renders a record asks this instead.
    ``ValueError`` when the schema declares no such association.

    Example::

        user = repo.get(User, 1, preload=["posts"])
        assert is_loaded(user, "posts") and not is_loaded(user, "profile")
    """
    if association not in schema_info(type(record)).associations:
        raise ValueError(f"{type(record).__name__} has no association {association!r}")
    return record.__dict__.get(association, NOT_LOADED) is not NOT_LOADED


class Col(Generic[T]):
    """The annotation of a column field: ``name: Col[str]``.

    On an instance the attribute is the value (``str``); on the class it is
    the column expression (``Column[str]``) for queries.
    """

    @overload
    def __get__(self, obj: None, owner: Any) -> Column[T]: ...
    @overload
    def __get__(self, obj: object, owner: Any) -> T: ...
    def __get__(self, obj: object, owner: Any) -> Any:
        raise NotImplementedError  # pragma: no cover - replaced per field at class creation

    if TYPE_CHECKING:

        def __set__(self, obj: object, value: T) -> None: ...


class Assoc(Generic[T]):
    """The annotation of an association: ``posts: ClassVar[Assoc[list[Post]]]``.

    On an instance the attribute is the loaded value (or ``NOT_LOADED``); on
    the class it is the association's ``AssocInfo``, usable in joins.
    """

    @overload
    def __get__(self, obj: None, owner: Any) -> AssocInfo[T]: ...
    @overload
    def __get__(self, obj: object, owner: Any) -> T: ...
    def __get__(self, obj: object, owner: Any) -> Any:
        raise NotImplementedError  # pragma: no cover - the declaration is an _AssocAccess


@dataclasses.dataclass(frozen=True)
class _FieldOptions:
    primary_key: bool = False
    source: str | None = None
    virtual: bool = False
    redact: bool = False
    autogenerate: bool = False
    timestamp: Literal["inserted", "updated"] | None = None
    read_after_writes: bool = False


AssocKind = Literal["belongs_to", "has_one", "has_many", "many_to_many"]


@dataclasses.dataclass(frozen=True)
class AssocInfo(Generic[T_co]):
    """An association: how a schema's rows relate to another schema's.

    Attributes:
        kind: ``belongs_to``, ``has_one``, ``has_many`` or ``many_to_many``.
        name: the attribute name on the owner.
        owner: the schema declaring it.
        related: the related schema (resolved lazily from a name).
        foreign_key: the field holding the key (on the owner for
            ``belongs_to``, on the related schema otherwise).
        references: the referenced field (on the related schema for
            ``belongs_to``, on the owner otherwise).
        join_through: the join table of a ``many_to_many`` (in the owner's ``prefix``).
        join_keys: ``((join_column, owner_field), (join_column, related_field))``.
        through: for a ``has_many``/``has_one`` through other associations
            (Ecto's ``through:``), their names from the owner on; see
            ``through_chain``. Its keys are the hops'.
        preload_order: how a ``has_many``/``many_to_many`` orders the
            records it preloads: field names of the related schema, ``-``
            before a name for descending (Ecto's ``preload_order``).
    """

    kind: AssocKind
    name: str
    owner: type[Schema]
    related_ref: type[Schema] | str | Callable[[], type[Schema]]
    foreign_key: str | None = None
    references: str = "id"
    join_through: str | None = None
    join_keys: tuple[tuple[str, str], tuple[str, str]] | None = None
    through: tuple[str, ...] | None = None
    preload_order: tuple[str, ...] = ()

    @property
    def related(self) -> type[Schema]:
        """The related schema class."""
        found: type[Schema] = _resolve(self.related_ref, self.owner)
        return found

    @property
    def cardinality(self) -> Literal["one", "many"]:
        """Whether the association holds one record or a list."""
        return "many" if self.kind in ("has_many", "many_to_many") else "one"


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """A stored field of a schema: its column and type, for the compiler and the Repo."""

    name: str
    source: str
    dbtype: DbType[Any]
    python_type: Any
    primary_key: bool = False
    autogenerate: bool = False
    timestamp: Literal["inserted", "updated"] | None = None
    redact: bool = False
    embed: type[Embedded] | None = None
    embed_many: bool = False
    read_after_writes: bool = False


@dataclasses.dataclass(frozen=True)
class IndexDef:
    """An index a schema declares (``indexes=(index("email", unique=True),)``); see ``index``."""

    columns: tuple[str, ...]
    unique: bool = False
    name: str | None = None
    where: str | None = None


def index(
    *columns: str, unique: bool = False, name: str | None = None, where: str | None = None
) -> IndexDef:
    """An index of a schema's table, declared with the class option ``indexes=``.

    Why: ``repodb diff`` compares the declared schemas with the database; the
    indexes an application relies on (a unique email, a lookup by author)
    belong in that declaration too.

    Options:
        columns: the indexed fields, in order (a field's ``source`` column is
            used when it differs; a name that is no field is taken as a column).
        unique: a unique index.
        name: the index name; by default ``<table>_<columns>_index``.
        where: SQL text of a predicate, making a partial index.

    Example::

        class User(Schema, table="users", indexes=(index("email", unique=True),)):
            id: Col[int | None] = field(primary_key=True, default=None)
            email: Col[str]
    """
    if not columns:
        raise TypeError("index() needs at least one column")
    return IndexDef(tuple(columns), unique, name, where)


@dataclasses.dataclass(frozen=True)
class SchemaInfo:
    """A schema's table, stored fields, virtual fields, associations and declared indexes."""

    cls: type[Schema]
    table: str
    prefix: str | None
    fields: tuple[FieldInfo, ...]
    virtual: tuple[str, ...]
    associations: dict[str, AssocInfo[Any]]
    indexes: tuple[IndexDef, ...] = ()

    @property
    def primary_key(self) -> tuple[FieldInfo, ...]:
        return tuple(f for f in self.fields if f.primary_key)

    def field(self, name: str) -> FieldInfo:
        """The stored field called ``name``; KeyError if there is none."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.cls.__name__} has no stored field {name!r}")


_MISSING: Any = dataclasses.MISSING


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    primary_key: bool = False,
    source: str | None = None,
    virtual: bool = False,
    redact: bool = False,
    timestamp: Literal["inserted", "updated"] | None = None,
    read_after_writes: bool = False,
) -> Any:
    """Options of one field.

    Options:
        default / default_factory: the value when the constructor omits it.
        primary_key: part of the primary key (several make a composite key).
            A primary key whose default is None is assigned by the database
            (a serial id) and read back after insert.
        source: the column's name, when it differs from the field's.
        virtual: kept on the instance, never read from or written to the table.
        redact: shown as ``**redacted**`` in reprs, error messages and logs.
        timestamp: ``"inserted"`` (set by the Repo at insert) or ``"updated"``
            (set at insert and at every update); declare it
            ``Col[datetime | None] = field(default=None, timestamp="inserted")``.
        read_after_writes: the database sets or changes the column (a
            default, a trigger, a generated column, a type that rounds what
            it stores): an insert leaves it out while it is None, so the
            column's default applies, and every insert and update reads it
            back into the record returned (Ecto's ``read_after_writes``).
            Other fields are not read back: the record returned holds the
            values written, as a read would give them.
    """
    if read_after_writes and virtual:
        raise TypeError("a virtual field is never stored, so it cannot be read_after_writes")
    autogenerate = primary_key and default is None
    options = _FieldOptions(
        primary_key, source, virtual, redact, autogenerate, timestamp, read_after_writes
    )
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata={"repodb": options})
    return dataclasses.field(default=default, metadata={"repodb": options})


@dataclasses.dataclass(frozen=True)
class _AssocOptions:
    kind: AssocKind
    # None for a ``through`` association: the last hop's, resolved when first read.
    related: type[Schema] | str | Callable[[], type[Schema]] | None
    foreign_key: str | None
    references: str
    join_through: str | None = None
    join_keys: tuple[tuple[str, str], tuple[str, str]] | None = None
    through: tuple[str, ...] | None = None
    preload_order: tuple[str, ...] = ()


def belongs_to(
    related: type[Schema] | str | Callable[[], type[Schema]],
    *,
    foreign_key: str,
    references: str = "id",
) -> Any:
    """This row points at one ``related`` row: ``self.<foreign_key> = related.<references>``.

    The foreign-key field itself is declared separately, as a ``Col``.
    """
    return _AssocAccess(_AssocOptions("belongs_to", related, foreign_key, references))


@overload
def has_one(
    related: type[Schema] | str | Callable[[], type[Schema]],
    *,
    foreign_key: str,
    references: str = "id",
) -> Any: ...
@overload
def has_one(*, through: Sequence[str]) -> Any: ...
def has_one(
    related: type[Schema] | str | Callable[[], type[Schema]] | None = None,
    *,
    foreign_key: str | None = None,
    references: str = "id",
    through: Sequence[str] | None = None,
) -> Any:
    """One ``related`` row points at this one: ``related.<foreign_key> = self.<references>``.

    ``through=["profile", "avatar"]`` instead: the row reached through
    other associations, as ``has_many(through=...)``.
    """
    return _AssocAccess(_options("has_one", related, foreign_key, references, through))


@overload
def has_many(
    related: type[Schema] | str | Callable[[], type[Schema]],
    *,
    foreign_key: str,
    references: str = "id",
    preload_order: Sequence[str] = (),
) -> Any: ...
@overload
def has_many(*, through: Sequence[str]) -> Any: ...
def has_many(
    related: type[Schema] | str | Callable[[], type[Schema]] | None = None,
    *,
    foreign_key: str | None = None,
    references: str = "id",
    through: Sequence[str] | None = None,
    preload_order: Sequence[str] = (),
) -> Any:
    """Many ``related`` rows point at this one: ``related.<foreign_key> = self.<references>``.

    ``through=["posts", "comments"]`` instead (Ecto's ``has_many :through``):
    the rows reached by following this schema's ``posts``, then their
    ``comments``; each name is an association of the schema the previous
    one reaches, of any kind (another ``through`` too). Such an
    association is read-only: joins, preloads and ``assoc`` follow it, and
    changesets refuse to cast it. Its related schema is the last hop's.

    ``preload_order=["-score", "id"]`` orders each record's preloaded list
    (field names of the related schema, ``-`` for descending; Ecto's
    ``preload_order``); a preload query with an ``order_by`` of its own
    orders it instead. A through association takes the order of its hops.
    """
    options = _options("has_many", related, foreign_key, references, through)
    if preload_order:
        if through is not None:
            raise TypeError(
                "has_many(through=...) takes no preload_order: give it to the associations"
                " it goes through"
            )
        options = dataclasses.replace(options, preload_order=_order_names(preload_order))
    return _AssocAccess(options)


def _order_names(names: Sequence[str]) -> tuple[str, ...]:
    """``preload_order``'s names, checked for form (the fields are checked when loading)."""
    if isinstance(names, str) or not all(isinstance(n, str) and n.lstrip("-") for n in names):
        raise TypeError(
            f"preload_order takes a list of field names ('-name' for descending), not {names!r}"
        )
    return tuple(names)


def _options(
    kind: AssocKind,
    related: type[Schema] | str | Callable[[], type[Schema]] | None,
    foreign_key: str | None,
    references: str,
    through: Sequence[str] | None,
) -> _AssocOptions:
    """The options of a ``has_*`` association: a related schema and its key, or a path."""
    if through is None:
        if related is None or foreign_key is None:
            raise TypeError(f"{kind} needs the related schema and foreign_key=, or through=")
        return _AssocOptions(kind, related, foreign_key, references)
    path = (through,) if isinstance(through, str) else tuple(through)
    if related is not None or foreign_key is not None or len(path) < 2:
        raise TypeError(f"{kind}(through=...) takes only the path: two or more association names")
    return _AssocOptions(kind, None, None, references, through=path)


def through_chain(info: AssocInfo[Any]) -> tuple[AssocInfo[Any], ...]:
    """The plain associations a ``through`` association follows, from its owner on.

    Nested ``through`` associations are expanded; a name that is not an
    association of the schema reached so far raises ValueError.
    """
    if info.through is None:
        return (info,)
    hops: list[AssocInfo[Any]] = []
    schema = info.owner
    for name in info.through:
        hop = schema_info(schema).associations.get(name)
        if hop is None:
            raise ValueError(
                f"{info.owner.__name__}.{info.name} goes through {schema.__name__}.{name},"
                f" which is not an association of {schema.__name__}"
            )
        hops.extend(through_chain(hop))
        schema = hop.related
    return tuple(hops)


def many_to_many(
    related: type[Schema] | str | Callable[[], type[Schema]],
    *,
    join_through: str,
    join_keys: tuple[tuple[str, str], tuple[str, str]],
    preload_order: Sequence[str] = (),
) -> Any:
    """Rows linked through a join table.

    ``join_keys=(("post_id", "id"), ("tag_id", "id"))`` reads: the join
    table's ``post_id`` holds this schema's ``id``, its ``tag_id`` the related
    schema's ``id``. ``preload_order`` as in ``has_many``.
    """
    options = _AssocOptions(
        "many_to_many",
        related,
        None,
        "id",
        join_through,
        join_keys,
        preload_order=_order_names(preload_order),
    )
    return _AssocAccess(options)


_REGISTRY: dict[str, type[Any]] = {}


def _module_names(cls: type[Any]) -> dict[str, Any]:
    module = sys.modules.get(cls.__module__)
    return vars(module) if module is not None else {}


def _resolve(ref: object, owner: type[Any]) -> Any:
    if isinstance(ref, type):
        return ref
    if isinstance(ref, str):
        # The owner's module first: another module may define a schema of the
        # same name; the registry serves classes defined outside a module's
        # top level (in a function, in exec'd code).
        found = _module_names(owner).get(ref) or _REGISTRY.get(ref)
        if not isinstance(found, type):
            raise NameError(f"{owner.__name__}: no schema named {ref!r} is defined")
        return found
    if callable(ref):
        return ref()
    raise TypeError(f"cannot resolve {ref!r} to a schema")


class _ColumnAccess:
    """The class-level attribute of a column field: the column expression.

    A non-data descriptor: instances keep their values in ``__dict__``, which
    wins over it, so reading a field on an instance stays a plain lookup.
    """

    __slots__ = ("_column", "_field", "_owner")

    def __init__(self, owner: type[Schema], name: str) -> None:
        self._owner = owner
        self._field = name
        self._column: Column[Any] | None = None

    def __get__(self, obj: object, owner: type[Any] | None = None) -> Any:
        if obj is not None:  # pragma: no cover - the instance dict answers first
            return obj.__dict__[self._field]
        if self._column is None:
            info = schema_info(self._owner)
            if self._field in info.virtual:
                name = f"{self._owner.__name__}.{self._field}"
                raise AttributeError(f"{name} is virtual: it has no column")
            stored = info.field(self._field)
            self._column = Column(self._owner, stored.source, stored.name, stored.dbtype)
        return self._column


class _AssocAccess:
    """An association declared on a schema class.

    On the class it is the association's ``AssocInfo``; on an instance it is
    the loaded value, which preloading stores in the instance's ``__dict__``
    (that lookup wins over this non-data descriptor), or ``NOT_LOADED``.
    """

    __slots__ = ("_info", "_name", "_options", "_owner")

    def __init__(self, options: _AssocOptions) -> None:
        self._options = options
        self._owner: type[Schema] | None = None
        self._name = ""
        self._info: AssocInfo[Any] | None = None

    def __set_name__(self, owner: type[Schema], name: str) -> None:
        self._owner = owner
        self._name = name

    @property
    def info(self) -> AssocInfo[Any]:
        if self._info is None:
            o = self._options
            assert self._owner is not None
            self._info = AssocInfo(
                o.kind,
                self._name,
                self._owner,
                self._last_hop if o.related is None else o.related,
                o.foreign_key,
                o.references,
                o.join_through,
                o.join_keys,
                o.through,
                o.preload_order,
            )
        return self._info

    def _last_hop(self) -> type[Schema]:
        """The related schema of a ``through`` association: its last hop's."""
        return through_chain(self.info)[-1].related

    def __get__(self, obj: object, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self.info
        return NOT_LOADED


def _repr(self: Any) -> str:
    parts = []
    for f in dataclasses.fields(self):
        if not f.repr:
            continue
        options = f.metadata.get("repodb")
        if isinstance(options, _FieldOptions) and options.redact:
            parts.append(f"{f.name}=**redacted**")
        else:
            parts.append(f"{f.name}={getattr(self, f.name)!r}")
    return f"{type(self).__name__}({', '.join(parts)})"


class _Record:
    """What schemas and embedded schemas share: frozen, keyword-built, redacting."""

    __repr__ = _repr

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (the instance itself never changes)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """The record as a pydantic type (``TypeAdapter(User)``, FastAPI's ``response_model``).

        Only pydantic calls this, so pydantic is imported only by an
        application that uses it; see ``repodb._pydantic``.
        """
        from ._pydantic import record_schema

        return record_schema(cls, handler)


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Schema(_Record):
    """Base class of table schemas; see the module documentation.

    Class keywords: ``table`` (required), ``prefix`` (a PostgreSQL schema),
    ``indexes`` (``index(...)`` declarations, for migrations' ``diff``).
    """

    __schema_table__: ClassVar[str]
    __schema_prefix__: ClassVar[str | None]
    __schema_indexes__: ClassVar[tuple[IndexDef, ...]] = ()

    def __init_subclass__(
        cls,
        *,
        table: str | None = None,
        prefix: str | None = None,
        indexes: Sequence[IndexDef] = (),
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if table is None:
            name = cls.__name__
            raise TypeError(f"{name}: declare its table: class {name}(Schema, table=...)")
        for declared in indexes:
            if not isinstance(declared, IndexDef):
                raise TypeError(
                    f"{cls.__name__}: indexes= takes index(...) values, not {declared!r}"
                )
        cls.__schema_table__ = table
        cls.__schema_prefix__ = prefix
        cls.__schema_indexes__ = tuple(indexes)
        dataclasses.dataclass(frozen=True, kw_only=True, repr=False)(cls)
        _check_names(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            setattr(cls, f.name, _ColumnAccess(cls, f.name))
        _REGISTRY[cls.__name__] = cls
        _INFO.pop(cls, None)


def _check_names(cls: type[Schema]) -> None:
    """Refuse a name some database would cut short: table, prefix, columns, indexes.

    Checked with the limit every database keeps (PostgreSQL's 63 bytes)
    when the class is defined, before any dialect is known: a schema is
    meant to work on each, and a name is cheaper to fix before it is a table.
    """
    table = cls.__schema_table__
    sources = {}
    names = [("table=", table)]
    if cls.__schema_prefix__ is not None:
        names.append(("prefix=", cls.__schema_prefix__))
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        options = field_options(f)
        if not options.virtual:
            sources[f.name] = options.source or f.name
            names.append((f"field {f.name!r} (its column: source=...)", sources[f.name]))
    for declared in cls.__schema_indexes__:
        columns = tuple(sources.get(c, c) for c in declared.columns)
        name = declared.name or default_index_name(table, columns)
        shown = ", ".join(map(repr, declared.columns))
        names.append((f"index({shown}) (give it a shorter name=)", name))
    for what, name in names:
        try:
            check_identifier(name)
        except ValueError as e:
            raise ValueError(f"{cls.__name__}, {what}: {e}") from None


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Embedded(_Record):
    """Base class of embedded records, stored as JSON inside a schema's column.

    Declare plain annotations (``street: str``); ``dump_embedded`` and
    ``load_embedded`` convert to and from JSON objects.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, kw_only=True, repr=False)(cls)
        _REGISTRY[cls.__name__] = cls


_INFO: dict[type[Any], SchemaInfo] = {}


def schema_info(cls: type[Schema]) -> SchemaInfo:
    """The table and field metadata of a schema class (computed once, on first use)."""
    info = _INFO.get(cls)
    if info is None:
        if not (isinstance(cls, type) and issubclass(cls, Schema)):
            raise TypeError(f"expected a Schema class (class User(Schema, ...)), not {cls!r}")
        info = _INFO[cls] = _build_info(cls)
    return info


def _inner(annotation: Any, wrapper: type[Any]) -> Any:
    if typing.get_origin(annotation) is wrapper:
        return typing.get_args(annotation)[0]
    return annotation


def _build_info(cls: type[Schema]) -> SchemaInfo:
    annotations = field_annotations(cls)
    fields: list[FieldInfo] = []
    virtual: list[str] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        opts = field_options(f)
        if opts.virtual:
            virtual.append(f.name)
            continue
        python_type = annotations[f.name]
        embed, many = _embedded(python_type)
        dbtype: DbType[Any]
        dbtype = _embed_column(python_type) if embed is not None else to_dbtype(python_type)
        if (opts.autogenerate or opts.timestamp) and not _is_optional(python_type):
            # Unknown until the database has written the row.
            dbtype = optional(dbtype)
        fields.append(
            FieldInfo(
                name=f.name,
                source=opts.source or f.name,
                dbtype=dbtype,
                python_type=python_type,
                primary_key=opts.primary_key,
                autogenerate=opts.autogenerate,
                timestamp=opts.timestamp,
                redact=opts.redact,
                embed=embed,
                embed_many=many,
                read_after_writes=opts.read_after_writes,
            )
        )
    associations = {
        name: value.info
        for klass in reversed(cls.__mro__)
        for name, value in vars(klass).items()
        if isinstance(value, _AssocAccess)
    }
    return SchemaInfo(
        cls=cls,
        table=cls.__schema_table__,
        prefix=cls.__schema_prefix__,
        fields=tuple(fields),
        virtual=tuple(virtual),
        associations=associations,
        indexes=cls.__schema_indexes__,
    )


def field_annotations(cls: type[Any]) -> dict[str, Any]:
    """The resolved annotation of each constructor field of a record class, ``Col[T]`` as ``T``.

    For the package's own use (casting needs the types of virtual fields and
    of embedded records, which ``schema_info`` does not describe).
    """
    hints = typing.get_type_hints(cls, localns={**_REGISTRY, **_module_names(cls)})
    return {f.name: _inner(hints[f.name], Col) for f in dataclasses.fields(cls)}


def field_options(f: dataclasses.Field[Any]) -> _FieldOptions:
    """The repodb options given to a field with ``field(...)`` (defaults otherwise)."""
    options = f.metadata.get("repodb")
    return options if isinstance(options, _FieldOptions) else _FieldOptions()


def embedded_type(annotation: Any) -> tuple[type[Embedded] | None, bool]:
    """The embedded record type an annotation holds (``E``, ``E | None``, ``list[E]``)."""
    return _embedded(annotation)


def _is_optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _embedded(annotation: Any) -> tuple[type[Embedded] | None, bool]:
    """The embedded record type an annotation holds (``E``, ``E | None``, ``list[E]``)."""
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    candidate = members[0] if _is_optional(annotation) and len(members) == 1 else annotation
    many = typing.get_origin(candidate) is list
    if many:
        candidate = typing.get_args(candidate)[0]
    if isinstance(candidate, type) and issubclass(candidate, Embedded):
        return candidate, many
    return None, False


def _embed_column(annotation: Any) -> DbType[Any]:
    """The type of a column holding embedded records: JSON of their declared type."""
    document = _document_type(annotation, ())
    if document.kind is Kind.OPTIONAL:
        assert document.item is not None
        return optional(DbType(Kind.JSON, item=document.item))
    return DbType(Kind.JSON, item=document)


def _document_type(annotation: Any, within: tuple[type[Any], ...]) -> DbType[Any]:
    """The type of a value inside JSON: an embedded record by its fields' types."""
    embed, many = _embedded(annotation)
    if embed is None:
        return to_dbtype(annotation)
    t = _embedded_record(embed, within)
    if many:
        t = DbType(Kind.ARRAY, item=t)
    return DbType(Kind.OPTIONAL, item=t) if _is_optional(annotation) else t


_EMBEDDED: dict[type[Any], DbType[Any]] = {}


def _embedded_record(cls: type[Embedded], within: tuple[type[Any], ...] = ()) -> DbType[Any]:
    """An embedded record class as a record type of its fields (computed once)."""
    found = _EMBEDDED.get(cls)
    if found is not None:
        return found
    if cls in within:
        chain = " -> ".join(c.__name__ for c in (*within, cls))
        raise TypeError(f"embedded records cannot contain themselves: {chain}")
    hints = field_annotations(cls)
    names = tuple(f.name for f in dataclasses.fields(cls) if f.init)  # type: ignore[arg-type]
    fields = []
    for name in names:
        try:
            fields.append(_document_type(hints[name], (*within, cls)))
        except TypeError as e:
            raise TypeError(f"{cls.__name__}.{name}: {e}") from None
    found = _EMBEDDED[cls] = DbType(Kind.RECORD, cls=cls, fields=tuple(fields), names=names)
    return found


def dump_embedded(value: Embedded) -> dict[str, Any]:
    """An embedded record as its JSON object, each field in its type's JSON form.

    Dates, times and datetimes (in UTC) become ISO 8601 text, Decimal and
    UUID their text, bytes base64 text, a timedelta its microseconds, an
    Enum its member's name; nested records are objects. ``EncodeError`` when
    a field does not hold its declared type.
    """
    dumped: dict[str, Any] = dumper(_embedded_record(type(value)))(value)
    return dumped


def load_embedded(cls: type[T], data: dict[str, Any]) -> T:
    """An embedded record built from its JSON object; unknown keys are ignored.

    Each field, nested records included, is read back into its declared
    type; ``DecodeError`` when a value does not fit it.
    """
    loaded: T = loader(_embedded_record(cls))(data)  # type: ignore[arg-type]
    return loaded
