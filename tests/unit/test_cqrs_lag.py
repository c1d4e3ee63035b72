"""Replica lag arithmetic and probe backoff, without a server.

The lag of a replica is computed from samples of the primary's WAL position
and the replica's replay position. These tests pin down the cases the
reliability checklist cares about: an idle primary does not make a caught-up
replica look behind (D4), a replica that stopped replaying grows older in
seconds while the primary writes, and a measurement taken before the primary
was ever sampled is unknown rather than zero.
"""

from __future__ import annotations

import pytest

from repodb._cqrs.lag import Lag, WalHistory, parse_lsn
from repodb._cqrs.probe import backoff


def test_parse_lsn_reads_both_halves_in_hex() -> None:
    assert parse_lsn("0/0") == 0
    assert parse_lsn("0/3000148") == 0x3000148
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")


def test_a_caught_up_replica_of_an_idle_primary_is_not_behind() -> None:
    history = WalHistory(keep=60)
    # The primary wrote once at t=0 and has been idle for 100 s since.
    for t in range(0, 101, 10):
        history.add(float(t), 5000)
    assert history.lag(5000, 100.0) == Lag(0, 0.0)
    # A replica that is ahead of the sample it is compared with is not behind either.
    assert history.lag(6000, 100.0) == Lag(0, 0.0)


def test_a_stalled_replica_grows_older_while_the_primary_writes() -> None:
    history = WalHistory(keep=60)
    for t in range(11):
        history.add(float(t), 1000 + 100 * t)
    # The replica replayed up to 1250: the primary went past it at t=3.
    assert history.lag(1250, 10.0) == Lag(2000 - 1250, 7.0)
    assert history.lag(1250, 5.0) == Lag(1500 - 1250, 2.0)
    # Just one sample behind: as old as that sample.
    assert history.lag(1900, 10.0) == Lag(100, 0.0)


def test_only_primary_samples_taken_before_the_replica_count() -> None:
    history = WalHistory(keep=60)
    history.add(5.0, 1000)
    history.add(6.0, 9000)
    # Measured at 5.5: the replica is compared with the primary as of 5.0.
    assert history.lag(1000, 5.5) == Lag(0, 0.0)
    # Measured before any primary sample: unknown.
    assert history.lag(0, 4.0) is None


def test_old_samples_are_dropped_and_out_of_order_ones_ignored() -> None:
    history = WalHistory(keep=10)
    for t in range(0, 31, 5):
        history.add(float(t), t * 10)
    history.add(20.0, 0)
    # Samples older than 10 s before the last one are gone: a replica far
    # behind is reported as behind since the oldest sample kept (t=20).
    assert history.lag(0, 30.0) == Lag(300, 10.0)


@pytest.mark.parametrize("failures", [1, 2, 3, 5, 10, 50])
def test_backoff_doubles_within_its_bounds_with_jitter(failures: int) -> None:
    low, high = 0.05, 1.0
    base = min(high, low * 2 ** (failures - 1))
    delays = [backoff(failures, low, high) for _ in range(200)]
    assert all(max(low, base / 2) <= d <= max(low, base) for d in delays)
    if base / 2 > low:
        # Jittered: not all the same.
        assert len(set(delays)) > 1


def test_a_new_primary_behind_the_old_one_starts_a_new_history() -> None:
    history = WalHistory(keep=60)
    for t in range(5):
        history.add(float(t), 9000 + 100 * t)
    # A failover: the promoted replica had received up to 9150 only.
    history.add(5.0, 9150)
    history.add(6.0, 9250)
    # A replica at 9150 is 100 bytes behind since t=6, not since the old primary's t=2.
    assert history.lag(9150, 6.0) == Lag(100, 0.0)
    assert history.lag(9250, 6.0) == Lag(0, 0.0)
