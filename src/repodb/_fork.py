"""What must happen in a child process after ``os.fork()``: pools and probes start afresh.

Why one hook: a pool or a health probe made before a fork (gunicorn's
``--preload``, ``multiprocessing``) holds the parent's connections, whose
sockets the child shares, and relies on a background thread the child does
not inherit. Each registers here, and in the child its ``_after_fork()``
runs while the child still has one thread.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["ForkAware", "track"]


class ForkAware(Protocol):
    """An object that puts itself right in a child process (``_after_fork``)."""

    def _after_fork(self) -> None: ...


_tracked: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def track(obj: ForkAware) -> None:
    """Call ``obj._after_fork()`` in every child forked while ``obj`` lives."""
    _tracked.add(obj)


def _forked() -> None:
    for obj in list(_tracked):
        obj._after_fork()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forked)
