"""What the commands print: lines on stdout, migration progress, counts, times, tables.

Why: every command reports through ``say``, so that a reader who goes away
(a closed pipe) never stops a command half-way, and the formats of
durations, counts and timestamps are written once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Sequence

from ..migration import MigrationFile, Ran

__all__ = ["Progress", "count", "duration", "say", "say_table", "timestamp"]


class Progress:
    """Prints ``== VERSION NAME ... up (12.3 ms)`` as each migration starts and ends.

    ``note`` is printed once on stderr, before the first migration starts.
    """

    def __init__(self) -> None:
        self.open = False
        self.note: str | None = None

    def start(self, migration: MigrationFile, direction: str) -> None:
        if self.note is not None:
            # On stderr: a warning, apart from the progress lines scripts read.
            print(self.note, file=sys.stderr)
            self.note = None
        say(f"== {migration.version} {migration.name} ... ", end="")
        self.open = True

    def done(self, ran: Ran) -> None:
        say(f"{ran.direction} ({duration(ran.seconds)})")
        self.open = False

    def failed(self) -> None:
        if self.open:
            say("failed")
            self.open = False


def say(text: str, end: str = "\n") -> None:
    """Write ``text`` on stdout; if its reader went away, the command carries on without it.

    Why: ``repodb migrate | head -1``, or a deploy's log collector that
    dies, closes the pipe. What the command does must not depend on
    whether anyone reads about it: a migration run stopped half-way by a
    ``BrokenPipeError`` is worse than lost output.
    """
    try:
        sys.stdout.write(text + end)
        sys.stdout.flush()
    except BrokenPipeError:
        # Later writes, and the interpreter's last flush, go nowhere instead.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def say_table(table: Sequence[Sequence[str]]) -> None:
    """Print rows of cells in columns as wide as their widest cell, without trailing spaces."""
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        say("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def count(n: int, done: str) -> str:
    return f"{n} migration{'' if n == 1 else 's'} {done}"


def timestamp(at: dt.datetime | None) -> str:
    if at is None:
        return ""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if at.tzinfo is not None else "")
