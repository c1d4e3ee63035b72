"""Prepared queries: compiled once, run again with new values for their named parameters.

Why: a query built and compiled on every call costs more than the database
call itself on SQLite (building the query, walking it for the compiled-SQL
cache, hashing its shape). A prepared query is walked once and compiled
once per dialect; running it only puts the given values in place
(SQLAlchemy's ``bindparam`` with a prebuilt statement, Ecto's prepared
queries). It is an immutable value, safe to keep at module level and to
share between threads and tasks; the Repo's ``get`` and ``get_by`` run on
prepared queries of their own.

``param(name)`` marks where a value goes; it takes the type of what it is
compared with (or ``param(name, int)``). The Repo's ``all``, ``one`` and
``one_or_none`` run a prepared query with a mapping of its parameters'
values. A missing or unknown parameter, or a value that does not fit its
type, is an ``EncodeError`` that names it; nothing is sent.

Example::

    by_email = prepare(query(User).where(User.email == param("email")))
    ada = repo.one(by_email, {"email": "ada@example.com"})   # a User
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

from ._compile.cache import Compiled, compile_prepared
from .errors import EncodeError
from .expr import Param, describe, param
from .query import Query

if TYPE_CHECKING:
    from ._codec import Codecs
    from .dialect import Dialect

__all__ = ["Params", "Plan", "Prepared", "param", "prepare"]

T = TypeVar("T")
# A prepared query's parameters' values, by name (None: it takes none).
Params: TypeAlias = Mapping[str, object] | None


class Prepared(Generic[T]):
    """A query walked once, compiled once per dialect, run with its parameters' values.

    Attributes:
        query: the query it was prepared from (its parameters unbound).
        names: the names of its parameters.
    """

    __slots__ = (
        "_derived",
        "_fixed",
        "_plans",
        "_slots",
        "last",
        "names",
        "query",
        "read_only",
    )

    def __init__(self, q: Query[T], *, takes: frozenset[str] | None = None) -> None:
        if not isinstance(q, Query):
            raise TypeError(f"prepare() takes a query (query(User)...), not {describe(q)}")
        if q.preloads:
            raise ValueError(
                "prepare() takes a query without preloads: run the prepared query, then"
                " repo.preload(records, ...)"
            )
        shape: list[object] = []
        values: list[object] = []
        q.walk(shape, values)
        slots: list[tuple[int, str]] = []
        for i, value in enumerate(values):
            if isinstance(value, Param):
                if value.type_ is None:
                    raise TypeError(
                        f"param({value.name!r}) has no type: compare it with a column"
                        f" (User.age == param({value.name!r})) or give one"
                        f" (param({value.name!r}, int))"
                    )
                slots.append((i, value.name))
        self.query = q
        found = frozenset(name for _, name in slots)
        # A query derived from a prepared one (``derived``) takes the same
        # parameters, even those its derivation left out (an ORDER BY's).
        self.names = found if takes is None else takes | found
        # Whether it may run on a replica: a locking query (FOR UPDATE) reads the primary.
        self.read_only = q.locking is None
        self._fixed = values
        self._slots = tuple(slots)
        # Per dialect (by name and tenant prefix) and codec table.
        self._plans: dict[tuple[str, str | None, str], Plan] = {}
        # The plan ``plan`` returned last: a Repo on one kind of connection
        # finds it here without building a key.
        self.last: Plan | None = None
        # Queries derived from this one, prepared once each (see ``derived``).
        self._derived: dict[Hashable, Prepared[Any]] = {}

    def __repr__(self) -> str:
        return f"<repodb.Prepared {sorted(self.names)} of {self.query!r}>"

    def values(self, params: object) -> tuple[Any, ...]:
        """The statement's values with ``params`` (parameter name -> value) in place.

        An ``EncodeError`` names any missing or unknown parameter.
        """
        if params is None:
            params = {}
        elif not isinstance(params, Mapping):
            raise TypeError(
                "a prepared query takes its parameters as a mapping"
                f" ({{'name': value}}), not {describe(params)}"
            )
        if params.keys() != self.names:
            missing = sorted(self.names.difference(params))
            unknown = sorted(str(k) for k in params if k not in self.names)
            said = [f"missing {', '.join(map(repr, missing))}"] if missing else []
            said += [f"unknown {', '.join(map(repr, unknown))}"] if unknown else []
            takes = ", ".join(map(repr, sorted(self.names))) or "none"
            raise EncodeError(f"prepared query parameters: {'; '.join(said)} (it takes {takes})")
        values = self._fixed.copy()
        for i, name in self._slots:
            values[i] = params[name]
        return tuple(values)

    def derived(self, key: Hashable, build: Callable[[Query[T]], Query[Any]]) -> Prepared[Any]:
        """``build(self.query)`` prepared, once per ``key``: it takes this query's parameters.

        Why: ``repo.exists`` and ``repo.aggregate`` of a prepared query run a
        query made from it (``SELECT 1 ... LIMIT 1``, ``SELECT count(*)``);
        made and prepared on the first call only, they cost no more than it
        on the next. ``key`` names the derivation (``"exists"``).
        """
        found = self._derived.get(key)
        if found is None:
            # Two threads may both build it: the same value, one kept.
            found = self._derived.setdefault(key, Prepared(build(self.query), takes=self.names))
        return found

    def plan(self, dialect: Dialect, codecs: Codecs) -> Plan:
        """The statement for ``dialect``, with its encoder and decoder for ``codecs``."""
        key = (dialect.name, dialect.default_prefix, codecs.name)
        found = self._plans.get(key)
        # The name stands for the dialect in the key, as in the compiled-SQL cache.
        if found is None or not (found.dialect is dialect or found.dialect == dialect):
            found = self._plans[key] = Plan(dialect, compile_prepared(self.query, dialect), codecs)
        self.last = found
        return found


class Plan:
    """A prepared query ready to run on one kind of connection: SQL, encoder, decoder."""

    __slots__ = ("codecs", "decode", "dialect", "encode", "hidden", "sql")

    def __init__(self, dialect: Dialect, compiled: Compiled, codecs: Codecs) -> None:
        self.dialect = dialect
        self.codecs = codecs
        self.sql = compiled.sql
        self.hidden = compiled.hidden
        self.encode = compiled.encoder(codecs)
        self.decode = compiled.decoder(codecs)


def prepare(q: Query[T]) -> Prepared[T]:
    """``q`` prepared: walked and compiled once, run again with new parameter values.

    Options: the query's ``param(name)`` placeholders are its parameters;
    a query without any is prepared too (it then skips the per-call walk).
    A query with preloads is refused (prepare the query; preload its
    results with ``repo.preload``).

    Example::

        recent = prepare(
            query(Post).where(Post.user_id == param("user")).order_by(Post.id.desc()).limit(10)
        )
        posts = repo.all(recent, {"user": 7})   # list[Post]
    """
    return Prepared(q)
