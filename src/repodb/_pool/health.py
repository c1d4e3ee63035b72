"""Whether a pool's server answers, and when to try connecting again.

Why: while a server is down, every checkout that tries to connect costs a
refused (or, for a hung server, a timed-out) connection attempt. ``Health``
turns the first failure into a "down" state: checkouts fail fast with the last
connect error until the next attempt is due, attempts are spaced by a capped,
jittered exponential backoff, and only one attempt (a probe) runs at a time
while the server is down. The first good connection ends the outage and
resets the backoff to its minimum.

Not thread-safe: the pool calls it under its lock.
"""

from __future__ import annotations

import random

__all__ = ["Health"]


class Health:
    """Backoff and outage state of one server.

    Options:
        backoff_min: the delay after the first failure, in seconds.
        backoff_max: the cap; the delay doubles from ``backoff_min`` up to it.
        reconnect_timeout: seconds of outage after which ``alert_due`` says so, once.
    """

    def __init__(self, backoff_min: float, backoff_max: float, reconnect_timeout: float) -> None:
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.reconnect_timeout = reconnect_timeout
        self.failures = 0
        self.retry_at = 0.0
        self.down_since: float | None = None
        self.last_error: Exception | None = None
        self.probing = False
        self.alerted = False

    @property
    def down(self) -> bool:
        """Whether the last connect attempt failed."""
        return self.down_since is not None

    def blocks(self, now: float) -> bool:
        """Whether a checkout must fail fast now instead of connecting."""
        return self.down_since is not None and (self.probing or now < self.retry_at)

    def attempt(self) -> bool:
        """Note that a connect attempt starts; return whether it probes a down server."""
        if self.down_since is None:
            return False
        self.probing = True
        return True

    def failed(self, now: float, error: Exception, probe: bool) -> float | None:
        """Record a failed attempt; return the delay before the next one, if it changed.

        An attempt that started before the outage was known (not a probe)
        does not double the delay: several connects that fail together count
        as one failure.
        """
        self.last_error = error
        if probe:
            self.probing = False
        elif self.down_since is not None:
            return None
        if self.down_since is None:
            self.down_since = now
        base = min(self.backoff_max, self.backoff_min * 2.0**self.failures)
        self.failures += 1
        # "Equal jitter": somewhere in the upper half of the doubled delay, so
        # that many clients of one server do not retry in step.
        delay = max(self.backoff_min, random.uniform(base / 2, base))
        self.retry_at = now + delay
        return delay

    def succeeded(self, now: float, probe: bool) -> float | None:
        """Record a good connection; return how long the server was down, if it was."""
        if probe:
            self.probing = False
        if self.down_since is None:
            return None
        downtime = now - self.down_since
        self.failures = 0
        self.retry_at = 0.0
        self.down_since = None
        self.last_error = None
        self.alerted = False
        return downtime

    def alert_at(self) -> float | None:
        """When the outage reaches ``reconnect_timeout``, unless already reported."""
        if self.down_since is None or self.alerted:
            return None
        return self.down_since + self.reconnect_timeout

    def alert_due(self, now: float) -> bool:
        """Whether the outage just reached ``reconnect_timeout``; true once per outage."""
        at = self.alert_at()
        if at is None or now < at:
            return False
        self.alerted = True
        return True
