"""What the migrator reports: files, status rows, runs, and its errors.

Why a module of its own: the runner produces these and ``repodb.migration``
(and the command line) show them; neither should import the other for them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Literal

from ..errors import Error

__all__ = ["MigrationError", "MigrationFile", "MigrationLocked", "MigrationStatus", "Ran"]


@dataclasses.dataclass(frozen=True)
class MigrationFile:
    """A migration file: ``<version>_<name>.py`` in the migrations directory.

    ``transaction`` is False when the file sets ``transaction = False``.
    """

    version: int
    name: str
    path: Path
    transaction: bool


@dataclasses.dataclass(frozen=True)
class MigrationStatus:
    """One version: applied or pending, and whether its file still exists.

    ``incomplete`` is the state of a migration that started and did not
    finish where DDL is not transactional (MariaDB): ``"migrating"`` (under
    way, or stopped by a crash), ``"failed"``, ``"rolling back"`` or
    ``"rollback failed"``; ``steps`` the operations it completed, which
    running it again skips. None everywhere else.
    """

    version: int
    name: str
    applied: bool
    applied_at: dt.datetime | None
    file_missing: bool
    incomplete: str | None = None
    steps: int = 0


@dataclasses.dataclass(frozen=True)
class Ran:
    """A migration run in one direction, and how long it took."""

    version: int
    name: str
    direction: Literal["up", "down"]
    seconds: float


class MigrationError(Error):
    """A migration failed (and was rolled back), or the migrations cannot run.

    Attributes: ``version`` and ``name`` of the migration (None when the
    error is not about one), ``statement`` (the SQL that failed, or None when
    Python code failed) and ``cause`` (the underlying error, also
    ``__cause__``).
    """

    def __init__(
        self,
        message: str,
        *,
        version: int | None = None,
        name: str | None = None,
        statement: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, sql=statement)
        self.version = version
        self.name = name
        self.statement = statement
        self.cause = cause

    def __str__(self) -> str:
        text = self.message
        if self.cause is not None:
            # The cause's own SQL line repeats the statement shown below.
            why = str(self.cause).split("\n  SQL:", 1)[0]
            text += f": {type(self.cause).__name__}: {why}"
        if self.statement:
            text += f"\n  statement: {self.statement}"
        return text


class MigrationLocked(MigrationError):
    """Another migrator held the migrations lock for longer than ``lock_timeout``."""


for _cls in (MigrationFile, MigrationStatus, Ran, MigrationError, MigrationLocked):
    _cls.__module__ = "repodb.migration"
