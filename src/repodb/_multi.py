"""What a Multi and an AsyncMulti share: typed step names, results, steps and ``MultiError``.

Why a module of its own: ``multi.py`` is generated from ``multi_async.py``;
the classes an application catches or looks results up with must be the
same on both sides, so they live here, where nothing waits on I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar, overload

from .changeset import Changeset, InvalidChangesetError
from .errors import Error

__all__ = ["Action", "Key", "MultiError", "Results", "Step"]

T = TypeVar("T")


class Key(Generic[T]):
    """A step name that carries the type of the step's result: ``Key[User]("user")``.

    Why: results are looked up by name, and a name alone says nothing of
    what its step produced. Name a step with a key and a type checker
    checks that the step produces a ``T``, and ``results[key]`` is a ``T``.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"a step name is a str, not {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


class Results(Mapping[str, Any]):
    """The results of the steps run so far, by step name, in step order (read-only).

    ``results["user"]`` is ``Any``; ``results[USER]`` for a
    ``USER = Key[User]("user")`` is a ``User`` to a type checker.
    """

    __slots__ = ("_results",)

    def __init__(self, results: Mapping[str, Any]) -> None:
        self._results = dict(results)

    @overload
    def __getitem__(self, key: Key[T]) -> T: ...
    @overload
    def __getitem__(self, key: str) -> Any: ...
    def __getitem__(self, key: Key[Any] | str) -> Any:
        return self._results[key.name if isinstance(key, Key) else key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    def __repr__(self) -> str:
        return f"Results({self._results!r})"


Action = Literal[
    "insert", "update", "delete", "insert_all", "update_all", "delete_all", "run", "merge"
]


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One step of a Multi, as ``Multi.to_list()`` shows it.

    Attributes:
        name: the step's name; None for a ``merge``.
        action: ``insert``, ``update``, ..., ``run`` or ``merge``.
        args: what the step was given (a record, changeset, query, rows or
            function; ``insert_all`` has the schema first, ``update_all``
            its assignments after the query).
        options: the keyword options passed on to the Repo operation.
    """

    name: str | None
    action: Action
    args: tuple[Any, ...]
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        # A read-only copy: a step listed by to_list() cannot change the Multi.
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


class MultiError(Error):
    """A step of a Multi failed; the whole transaction was rolled back.

    Attributes:
        step: the failed step's name.
        error: the invalid changeset for a validation or declared
            constraint failure, else the exception the step raised (also
            this error's ``__cause__``).
        changeset: the invalid changeset, or None when the step failed
            otherwise.
        results: the results of the steps before it, by name (rolled back:
            they describe writes the database no longer holds).
    """

    def __init__(self, step: str, error: BaseException, results: Mapping[str, Any]) -> None:
        self.step = step
        self.changeset: Changeset[Any] | None = (
            error.changeset if isinstance(error, InvalidChangesetError) else None
        )
        self.error: BaseException | Changeset[Any] = (
            self.changeset if self.changeset is not None else error
        )
        self.results = Results(results)
        super().__init__(f"Multi step {step!r} failed: {type(error).__name__}: {error}")


# Shown where the sync side exports them (reprs, tracebacks, pickles).
for _cls in (Key, Results, Step, MultiError):
    _cls.__module__ = "repodb.multi"
