"""A failure logged once per cause, not once per call.

Why: a broken callback, or a statement that cannot work on this server, fails
the same way on every call. Logging each failure floods the log; logging none,
or only at DEBUG, hides a bug behind a silent fallback. ``CauseLog`` logs at
WARNING, with the traceback, the first time a cause (the exception's type and
message) is seen, and again only when the cause changes.

Example::

    checks = CauseLog(logging.getLogger("repodb.pool"))
    try:
        validate(conn)
    except Exception as e:
        checks.warning(e, "%s: the connection check raised", label)
"""

from __future__ import annotations

import logging
import threading

__all__ = ["CauseLog"]


class CauseLog:
    """Log failures at WARNING with their traceback, skipping repeats of the last cause."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        self._last: tuple[type[BaseException], str] | None = None

    def warning(self, error: BaseException, message: str, *args: object) -> None:
        """Log ``message % args`` with ``error``, unless ``error`` repeats the last cause."""
        cause = (type(error), str(error))
        with self._lock:
            if cause == self._last:
                return
            self._last = cause
        self._logger.warning(message, *args, exc_info=error)
