"""What a pool reports: ``PoolStats`` and the pool's errors (one set for both pools)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..errors import Error

__all__ = [
    "PoolClosed",
    "PoolError",
    "PoolStats",
    "PoolTimeout",
    "PoolTooManyWaiters",
    "SessionReset",
]

#: What a connection given back to a pool goes through: ``DISCARD ALL`` or
#: ``RESET ALL`` (see the pool's ``session_reset`` option).
SessionReset = Literal["discard", "reset"]


@dataclasses.dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of a pool; ``str(stats)`` lists every field.

    Attributes:
        total: connections open or being opened.
        in_use: connections lent out.
        available: idle connections ready to lend.
        waiting: checkouts queued for a connection.
        max_size: the limit on ``total``.
        server_down: the last connect attempt failed.
        created: connections opened so far.
        failed_connects: connect attempts that failed.
        timeouts: checkouts that gave up waiting (``PoolTimeout``).
        discarded: connections closed because they were broken, failed
            validation or could not be reset.
        returns_bad: connections given back inside a transaction.
        expired: connections closed for age (``max_lifetime``) or idleness (``max_idle``).
    """

    total: int
    in_use: int
    available: int
    waiting: int
    max_size: int
    server_down: bool
    created: int
    failed_connects: int
    timeouts: int
    discarded: int
    returns_bad: int
    expired: int

    def __str__(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))


class PoolError(Error):
    """An error of the pool itself; ``stats`` is the pool's state when it happened."""

    def __init__(self, message: str, stats: PoolStats) -> None:
        super().__init__(f"{message} ({stats})")
        self.stats = stats


class PoolTimeout(PoolError):
    """No connection became free within the checkout timeout.

    When the server was down meanwhile, the last connect error is the cause.
    """


class PoolTooManyWaiters(PoolError):
    """``max_waiting`` checkouts were already queued, so this one failed at once."""


class PoolClosed(PoolError):
    """The pool was shut down."""
