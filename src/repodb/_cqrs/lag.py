"""Replica lag from WAL positions: how far, in bytes and in seconds, a replica is behind.

Why not ``now() - pg_last_xact_replay_timestamp()``: on an idle primary that
grows forever although the replica has everything (checklist D4). Why not
the primary's ``pg_stat_replication``: it is only as fresh as the standby's
last status message. Instead the router samples the primary's WAL position
(``WalHistory``) and each replica's replay position on a timer, and compares
them: bytes are what the replica has not replayed, seconds are how long ago
the primary first went past the replica's position. A replica that has
replayed everything is 0 bytes and 0 seconds behind, however idle the
primary. The primary sample used is the last one taken no later than the
replica's, so the figures are lower bounds, exact to one check interval.

The same history serves MariaDB, whose positions are GTID lists: there a
position is counted as the sum of its sequence numbers (one per
transaction), and the distance is in transactions, not bytes (see
``repodb._cqrs.replication``). MariaDB's ``Seconds_Behind_Master`` has the
same flaw as the replay timestamp: NULL while replay is stopped, 0 when idle.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import deque

__all__ = ["Lag", "WalHistory", "parse_lsn"]


def parse_lsn(text: str) -> int:
    """A PostgreSQL LSN (``"16/B374D848"``) as an integer byte position.

    Example::

        >>> parse_lsn("1/0")
        4294967296
    """
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclasses.dataclass(frozen=True, slots=True)
class Lag:
    """How far a replica was behind the primary when last measured.

    ``distance`` is in the unit of the database's positions: WAL bytes on
    PostgreSQL, transactions (GTID sequence numbers) on MariaDB.
    """

    distance: int
    seconds: float


class WalHistory:
    """Recent samples of the primary's WAL position, oldest first.

    Options:
        keep: seconds of samples kept; a replica further behind than that is
            reported as behind since the oldest sample.

    Not thread-safe: the router calls it under its lock.
    """

    def __init__(self, keep: float) -> None:
        self._keep = keep
        self._times: deque[float] = deque()
        self._lsns: deque[int] = deque()

    def add(self, at: float, lsn: int) -> None:
        """Record that the primary had written up to ``lsn`` at monotonic time ``at``."""
        if self._times and at <= self._times[-1]:
            return
        if self._lsns and lsn < self._lsns[-1]:
            # Another server is the primary (a failover), and it had not
            # received all the old one wrote: positions from then on are its.
            self._times.clear()
            self._lsns.clear()
        self._times.append(at)
        self._lsns.append(lsn)
        while self._times[0] < at - self._keep:
            self._times.popleft()
            self._lsns.popleft()

    def lag(self, replayed: int, at: float) -> Lag | None:
        """The lag of a replica that had replayed up to ``replayed`` at time ``at``.

        None when the primary was not sampled before ``at``.
        """
        times, lsns = self._times, self._lsns
        last = bisect.bisect_right(times, at) - 1
        if last < 0:
            return None
        if replayed >= lsns[last]:
            return Lag(0, 0.0)
        # The first sample past the replica's position: the primary has been
        # ahead of the replica since then, at least.
        first = last
        while first > 0 and lsns[first - 1] > replayed:
            first -= 1
        return Lag(lsns[last] - replayed, max(0.0, at - times[first]))
