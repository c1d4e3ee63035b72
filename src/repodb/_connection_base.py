"""What the sync and the async connection share: ``Rollback`` and error helpers.

Why a module of its own: ``connection.py`` is generated from
``connection_async.py``; a class defined in both would be two classes, and
``except Rollback`` must catch the one either side raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import EncodeError, InFailedTransaction

if TYPE_CHECKING:
    from .connection import Transaction
    from .connection_async import AsyncTransaction

__all__ = ["Rollback"]


class Rollback(Exception):
    """Raise inside ``with conn.transaction()`` to roll it back quietly.

    ``raise Rollback()`` ends the innermost transaction; ``tx.rollback()``
    (which raises ``Rollback(tx)``) ends ``tx`` and any transaction inside it.
    """

    def __init__(self, transaction: Transaction | AsyncTransaction | None = None) -> None:
        super().__init__("rollback requested")
        self.transaction = transaction


def unencodable(
    exc: UnicodeEncodeError, sql: str | None, args: Sequence[Any] | None
) -> EncodeError:
    """The ``EncodeError`` for text the driver could not encode, naming the parameter."""
    where = next(
        (f"parameter {i}: " for i, value in enumerate(args or (), 1) if not _encodable(value)),
        "",
    )
    # Only the offending characters are shown: the value may be a secret.
    bad = exc.object[exc.start : exc.end]
    return EncodeError(
        f"{where}text holding {bad!r} (a lone surrogate, not Unicode) cannot be sent", sql=sql
    )


def _encodable(value: object) -> bool:
    """Whether the driver can encode ``value``'s text (in an array, each item's)."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
    elif isinstance(value, list):
        return all(map(_encodable, value))
    return True


def aborted_error(sql: str | None) -> InFailedTransaction:
    return InFailedTransaction(
        "a statement failed earlier in this transaction, which now can only be rolled back; "
        "run statements that may fail in a nested conn.transaction() to carry on after them",
        sql=sql,
        sqlstate="25P02",
    )
