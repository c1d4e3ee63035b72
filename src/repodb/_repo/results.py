"""What the Repo and the AsyncRepo share: ``WriteResult`` and ``Intent``.

Why a module of its own: ``repo.py`` is generated from ``repo_async.py``; a
result both sides return must be one class, so it lives here, where nothing
waits on I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Generic, Literal, TypeVar

__all__ = ["Intent", "StaleField", "WriteResult"]

T = TypeVar("T")

# What a connection is checked out for: a read (a replica may serve it), a
# write (the primary) or a transaction (the primary, held for the block).
Intent = Literal["read", "write", "transaction"]


@dataclasses.dataclass(frozen=True, slots=True)
class WriteResult(Generic[T]):
    """What a bulk write did.

    Attributes:
        count: rows written (inserted, updated or deleted).
        rows: the returned rows, with ``returning`` (else empty).
        inserted / updated: with ``on_conflict`` other than ``"raise"``,
            how many rows were new and how many existed (``"nothing"``:
            the rows written, and 0); None otherwise, and when the
            database computed the rows (from a query, or expressions in
            them): then which rows an upsert updated is not known.
        actions: with such an ``on_conflict`` and ``returning``,
            ``"inserted"`` or ``"updated"`` for each returned row, in order;
            None otherwise.
    """

    count: int
    rows: list[T] = dataclasses.field(default_factory=list)
    inserted: int | None = None
    updated: int | None = None
    actions: tuple[Literal["inserted", "updated"], ...] | None = None


# Shown where the sync side exports it (reprs, tracebacks, pickles).
WriteResult.__module__ = "repodb.repo"


@dataclasses.dataclass(frozen=True, slots=True)
class StaleField:
    """Where a stale write puts its error instead of raising (``stale_error_field``)."""

    field: str
    message: str = "is stale"
