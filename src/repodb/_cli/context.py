"""What every command is given, and the error that ends one with a message.

Why: the commands share the URL they act on, the migrations folder and one
way to refuse; defining them once here lets each command module depend on
this one and not on ``cli.py``, which depends on all of them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..url import DatabaseUrl

__all__ = ["CONNECT_TIMEOUT", "CommandError", "Context", "missing_sqlite_file"]

# How long the commands wait for a server to answer before giving up.
CONNECT_TIMEOUT = 10.0


class CommandError(Exception):
    """A command cannot do what was asked; the message says why."""


@dataclasses.dataclass(frozen=True)
class Context:
    url: str
    parsed: DatabaseUrl
    migrations: Path
    table: str = "schema_migrations"


def missing_sqlite_file(ctx: Context) -> Path | None:
    """The SQLite file the URL names when it does not exist yet, else None."""
    if ctx.parsed.driver != "sqlite" or ctx.parsed.target == ":memory:":
        return None
    path = Path(ctx.parsed.target)
    return None if path.exists() else path
