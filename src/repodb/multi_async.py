"""AsyncMulti: named database steps that run in one transaction, all or nothing (Ecto.Multi).

Why: an operation that writes several rows (an account and its first
membership, an order and its stock moves) should be declared as one value
that can be built in pieces, inspected, tested and then run in a single
transaction, with a precise answer when it fails: which step, what went
wrong (a changeset with field errors, or an exception), and what the steps
before it had produced (all of it rolled back).

A ``AsyncMulti`` is immutable: every builder returns a new one. Each step has a
name, unique in the AsyncMulti (a repeated name is a ``ValueError`` when the
AsyncMulti is built). Where a step takes a record, a changeset, rows or a query,
it also takes a function of the results so far (a read-only mapping of step
name to result) that builds it when the step runs.

Steps:
    ``insert``, ``update``, ``delete``, ``insert_all``, ``update_all``,
    ``delete_all``: the AsyncRepo operation of the same name, on the transaction.
    ``run(name, fn)``: ``fn(tx, results)``; its return value is the step's
    result. A run step fails by raising (any exception): unlike Ecto, there
    is no ``{:error, value}`` to return. ``tx.rollback()`` in it fails the
    AsyncMulti too, with the ``Rollback`` as the error.
    ``merge(fn)``: ``fn(results)`` returns another AsyncMulti whose steps run
    next, for steps that depend on data (its names must be new too).

``repo.transaction(multi)`` runs the steps in order on one connection (a
savepoint inside an open transaction) and returns the ``Results``: a
read-only mapping of step name to result, in step order. A step named by a
``Key`` (``USER = Key[User]("user")``) has a typed result: the step must
produce a ``User`` (a type checker holds it to that), and ``results[USER]``
is a ``User``, where ``results["user"]`` is ``Any``. When a step fails, everything is rolled
back and ``MultiError`` says which step failed, its error and the results of
the steps before it. Changesets given as values are validated before the
transaction starts: an invalid one fails its step without touching the
database.

Example::

    multi = (
        AsyncMulti()
        .insert("user", cast(User, params, ["name", "email"]))
        .insert("welcome", lambda r: Post(user_id=r["user"].id, title="Hello"))
        .run("count", lambda tx, r: tx.aggregate(query(Post), "count"))
    )
    try:
        results = repo.transaction(multi)
    except MultiError as e:
        print(e.step, e.changeset or e.error)
    else:
        user = results["user"]

With typed keys::

    USER = Key[User]("user")
    multi = AsyncMulti().insert(USER, changeset).run(
        "greeting", lambda tx, r: f"Hello {r[USER].name}"
    )
    user = repo.transaction(multi)[USER]  # a User to mypy
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._acompat_async import resolve_async
from ._multi import Key, MultiError, Results, Step
from .changeset import Changeset, InvalidChangesetError
from .connection_async import Rollback
from .query import Query
from .schema import Schema

if TYPE_CHECKING:
    from .expr import Column
    from .repo_async import AsyncRepoTransaction, AsyncTransactionRepo, WriteResult
    from .write import Assignment, ConflictTarget, OnConflict

__all__ = ["AsyncMulti", "Key", "MultiError", "Results", "Step"]

S = TypeVar("S", bound=Schema)
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class AsyncMulti:
    """An immutable, ordered list of named steps to run in one transaction.

    Build it with the step methods (each returns a new AsyncMulti) and run it with
    ``repo.transaction(multi)``; see the module documentation.
    """

    _steps: tuple[Step, ...] = ()
    _names: frozenset[str] = frozenset()

    # -- steps ----------------------------------------------------------------------

    def insert(
        self,
        name: str | Key[S],
        value: S | Changeset[S] | Callable[[Results], S | Changeset[S]],
        *,
        on_conflict: OnConflict = "raise",
        conflict_target: ConflictTarget | None = None,
    ) -> AsyncMulti:
        """Insert a record or a changeset (``repo.insert``); the result is the stored record."""
        name = _name(name)
        _expect(name, value, (Schema, Changeset), "a record, a changeset or a function")
        options = {"on_conflict": on_conflict, "conflict_target": conflict_target}
        return self._add(Step(name, "insert", (value,), options))

    def update(
        self, name: str | Key[S], changeset: Changeset[S] | Callable[[Results], Changeset[S]]
    ) -> AsyncMulti:
        """Write a changeset's changes (``repo.update``); the result is the updated record."""
        name = _name(name)
        _expect(name, changeset, (Changeset,), "a changeset or a function")
        return self._add(Step(name, "update", (changeset,)))

    def delete(
        self,
        name: str | Key[S],
        value: S | Changeset[S] | Callable[[Results], S | Changeset[S]],
    ) -> AsyncMulti:
        """Delete a record (``repo.delete``); the result is the deleted record."""
        name = _name(name)
        _expect(name, value, (Schema, Changeset), "a record, a changeset or a function")
        return self._add(Step(name, "delete", (value,)))

    def insert_all(
        self,
        name: str | Key[WriteResult[Any]],
        schema: type[S],
        rows: Sequence[Mapping[str, Any] | S]
        | Callable[[Results], Sequence[Mapping[str, Any] | S]],
        *,
        on_conflict: OnConflict = "raise",
        conflict_target: ConflictTarget | None = None,
        returning: bool | Sequence[str | Column[Any]] = False,
    ) -> AsyncMulti:
        """Insert many rows (``repo.insert_all``); the result is its ``WriteResult``."""
        name = _name(name)
        if not (isinstance(schema, type) and issubclass(schema, Schema)):
            raise TypeError(f"step {name!r}: insert_all needs a schema class, not {schema!r}")
        _expect(name, rows, (Sequence,), "rows or a function")
        options = {
            "on_conflict": on_conflict,
            "conflict_target": conflict_target,
            "returning": returning,
        }
        return self._add(Step(name, "insert_all", (schema, rows), options))

    def update_all(
        self,
        name: str | Key[WriteResult[Any]],
        q: Query[Any] | Callable[[Results], Query[Any]],
        *assignments: Assignment,
        set: Mapping[str | Column[Any], object] | None = None,  # Ecto's name
        returning: bool | Sequence[str | Column[Any]] = False,
    ) -> AsyncMulti:
        """Update the rows a query matches (``repo.update_all``); the result: a ``WriteResult``."""
        name = _name(name)
        _expect(name, q, (Query,), "a query or a function")
        options = {"set": set, "returning": returning}
        return self._add(Step(name, "update_all", (q, *assignments), options))

    def delete_all(
        self,
        name: str | Key[WriteResult[Any]],
        q: Query[Any] | Callable[[Results], Query[Any]],
        *,
        returning: bool | Sequence[str | Column[Any]] = False,
    ) -> AsyncMulti:
        """Delete the rows a query matches (``repo.delete_all``); the result: a ``WriteResult``."""
        name = _name(name)
        _expect(name, q, (Query,), "a query or a function")
        return self._add(Step(name, "delete_all", (q,), {"returning": returning}))

    def run(
        self, name: str | Key[T], fn: Callable[[AsyncTransactionRepo, Results], Awaitable[T]]
    ) -> AsyncMulti:
        """Call ``fn(tx, results)`` in the transaction; the result is what it returns.

        The function fails the step by raising; it may use ``tx`` for
        anything (queries, writes, typed requests, a nested savepoint).

        Example: ``multi.run("total", lambda tx, r: tx.aggregate(query(Post), "count"))``.
        """
        name = _name(name)
        _expect(name, fn, (), "a function")
        return self._add(Step(name, "run", (fn,)))

    def merge(self, fn: Callable[[Results], AsyncMulti]) -> AsyncMulti:
        """Run the steps of the AsyncMulti that ``fn(results)`` returns, at this point.

        For steps that depend on earlier results (one step per row read).
        Its step names must not repeat any other (``ValueError``, raised in
        the transaction, which rolls back); an exception from ``fn`` itself
        rolls back and propagates unchanged.
        """
        if not callable(fn):
            raise TypeError(f"merge needs a function returning a AsyncMulti, not {fn!r}")
        return dataclasses.replace(self, _steps=(*self._steps, Step(None, "merge", (fn,))))

    def append(self, other: AsyncMulti) -> AsyncMulti:
        """This AsyncMulti's steps, then ``other``'s (names must not repeat)."""
        return _joined(self, other)

    def prepend(self, other: AsyncMulti) -> AsyncMulti:
        """``other``'s steps, then this AsyncMulti's (names must not repeat)."""
        return _joined(other, self)

    # -- inspection -----------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The step names, in order (merges, which have none, left out)."""
        return tuple(s.name for s in self._steps if s.name is not None)

    def to_list(self) -> list[Step]:
        """The steps, in order."""
        return list(self._steps)

    def __repr__(self) -> str:
        steps = ", ".join(
            s.action if s.name is None else f"{s.action} {s.name!r}" for s in self._steps
        )
        return f"<AsyncMulti {steps}>" if steps else "<AsyncMulti (empty)>"

    # -- running (for AsyncRepo.transaction) -----------------------------------------------

    def _add(self, step: Step) -> AsyncMulti:
        assert step.name is not None
        if step.name in self._names:
            raise ValueError(f"the AsyncMulti already has a step named {step.name!r}")
        return AsyncMulti((*self._steps, step), self._names | {step.name})

    async def _run(self, block: AsyncRepoTransaction) -> Results:
        """Run the steps in ``block``: the results by name, or ``MultiError``."""
        _check_changesets(self._steps, {})
        results: dict[str, Any] = {}
        stopped: list[tuple[str, Rollback]] = []
        async with block as tx:
            await _run_steps(self._steps, tx, results, set(self._names), stopped)
        if stopped:
            # A step called tx.rollback(): the block rolled back quietly.
            name, request = stopped[0]
            raise MultiError(name, request, results) from request
        return Results(results)


def _name(name: str | Key[Any]) -> str:
    return name.name if isinstance(name, Key) else name


def _expect(name: str, value: object, kinds: tuple[type, ...], what: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"a step name is a str, not {name!r}")
    # A class is callable but is never the function of a step.
    if not (isinstance(value, kinds) or (callable(value) and not isinstance(value, type))):
        raise TypeError(f"step {name!r} needs {what}, not {type(value).__name__}")


def _joined(first: AsyncMulti, second: AsyncMulti) -> AsyncMulti:
    repeated = first._names & second._names
    if repeated:
        raise ValueError(f"both Multis have steps named {', '.join(sorted(repeated))}")
    return AsyncMulti((*first._steps, *second._steps), first._names | second._names)


def _check_changesets(steps: Sequence[Step], results: Mapping[str, Any]) -> None:
    """Fail on the first invalid changeset given as a value, before it runs."""
    for step in steps:
        value = step.args[0] if step.args else None
        if isinstance(value, Changeset) and not value.valid:
            assert step.name is not None
            error = InvalidChangesetError(dataclasses.replace(value, action=step.action))
            raise MultiError(step.name, error, results) from error


async def _resolve(value: Any, results: Results) -> Any:
    """A step's argument: the value itself, or what its function builds from the results."""
    return await resolve_async(value(results)) if callable(value) else value


async def _perform(tx: AsyncTransactionRepo, step: Step, results: Results) -> Any:
    args, options = step.args, step.options
    match step.action:
        case "insert":
            return await tx.insert(await _resolve(args[0], results), **options)
        case "update":
            return await tx.update(await _resolve(args[0], results))
        case "delete":
            return await tx.delete(await _resolve(args[0], results))
        case "insert_all":
            return await tx.insert_all(args[0], await _resolve(args[1], results), **options)
        case "update_all":
            return await tx.update_all(await _resolve(args[0], results), *args[1:], **options)
        case "delete_all":
            return await tx.delete_all(await _resolve(args[0], results), **options)
        case "run":
            return await resolve_async(args[0](tx, results))
    raise AssertionError(f"unknown step action {step.action!r}")  # pragma: no cover


async def _run_steps(
    steps: Sequence[Step],
    tx: AsyncTransactionRepo,
    results: dict[str, Any],
    taken: set[str],
    stopped: list[tuple[str, Rollback]],
) -> None:
    for step in steps:
        # Each function sees a snapshot: a result mapping it keeps never changes.
        seen = Results(results)
        if step.name is None:
            merged = await resolve_async(step.args[0](seen))
            if not isinstance(merged, AsyncMulti):
                raise TypeError(f"a merge function must return a AsyncMulti, not {merged!r}")
            repeated = taken & merged._names
            if repeated:
                raise ValueError(
                    f"a merged AsyncMulti repeats step names {', '.join(sorted(repeated))}"
                )
            taken |= merged._names
            _check_changesets(merged._steps, results)
            await _run_steps(merged._steps, tx, results, taken, stopped)
            continue
        try:
            results[step.name] = await _perform(tx, step, seen)
        except Rollback as request:
            stopped.append((step.name, request))
            raise
        except Exception as e:  # a step runs the application's functions: anything
            raise MultiError(step.name, e, results) from e
