"""What the CQRS router asks a database about its replication, per database kind, as data.

Why a record per kind: the router's logic (probe the primary's position and
each replica's, compare them into a lag, remember a session's last write and
read only where it has been applied, check every server's role) is the same
on PostgreSQL and MariaDB; only the questions and the shape of a position
differ. PostgreSQL's position is a WAL byte offset (one integer); MariaDB's
is a GTID list, one ``domain-server-sequence`` per replication domain, where
a replica has applied a transaction once its sequence number in that domain
has reached it. A ``Replication`` holds the SQL of each question and the
functions that read, compare and merge positions; ``REPLICATION`` maps a
driver's name to its record. SQLite has none: its "replicas" read the
primary's file and cannot lag.

Example::

    >>> r = REPLICATION["mariadb"]
    >>> p = r.parse("0-1-100,1-2-5")
    >>> r.covers(p, r.parse("0-1-99")), r.covers(p, r.parse("1-2-6"))
    (True, False)
    >>> r.token_position(p)
    '0-1-100_1-2-5'
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..request import One, Request
from ..types import optional
from .lag import parse_lsn

__all__ = ["MARIADB_REPLICATION", "POSTGRESQL_REPLICATION", "REPLICATION", "Gtids", "Replication"]

P = TypeVar("P")

#: A MariaDB GTID position: ``(domain, server, sequence)`` per domain, sorted by domain.
Gtids = tuple[tuple[int, int, int], ...]


@dataclasses.dataclass(frozen=True)
class Replication(Generic[P]):
    """How one kind of database tells where its primary and replicas are.

    Attributes:
        kind: the driver's name, also the kind written in tokens.
        primary_position: the primary's position now (text), sampled by the
            router's probe for lag.
        replica_position: a replica's applied position (text), or NULL once
            the server is no replica (promoted), by its probe and by a
            read-your-writes check on the connection about to serve.
        write_position: after a session's write block, on the same
            connection: a position covering what it wrote (text; empty when
            the connection wrote nothing yet).
        is_replica: whether the server is a replica (in recovery; read-only).
        parse: a position's text as a value (ValueError when it is not one).
        covers: ``covers(applied, needed)``: a server at ``applied`` has
            everything up to ``needed``.
        merge: the later of two positions (per domain for GTIDs).
        distance: a position as a number that only grows on one primary,
            for lag (WAL bytes; the sum of GTID sequence numbers).
        distance_unit: what a difference of ``distance`` counts: the
            ``max_replica_lag_<unit>`` setting that limits it.
        token_position, read_token_position: a position in a token's
            alphabet (letters, digits, ``_``, ``-``), and back.
        bare_position: an older untokened form ``cqrs.session(after=)``
            still takes (with a DeprecationWarning), or None.
        not_replica_hint: why a server out of the replica role gets no reads.
    """

    kind: str
    primary_position: Request[None, str, One]
    replica_position: Request[None, str | None, One]
    write_position: Request[None, str, One]
    is_replica: Request[None, bool, One]
    parse: Callable[[str], P]
    covers: Callable[[P, P], bool]
    merge: Callable[[P, P], P]
    distance: Callable[[P], int]
    distance_unit: str
    token_position: Callable[[P], str]
    read_token_position: Callable[[str], P]
    bare_position: re.Pattern[str] | None
    not_replica_hint: str


# PostgreSQL ------------------------------------------------------------------

# A WAL position as pg_current_wal_lsn() prints it: two 32-bit halves in hex.
_LSN = re.compile(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")
# The same position in a token: one 64-bit number.
_HEX = re.compile(r"[0-9A-F]{1,16}")


def _lsn_from_token(text: str) -> int:
    if not _HEX.fullmatch(text):
        raise ValueError(f"not a WAL position: {text[:40]!r}")
    return int(text, 16)


def _later(a: int, b: int) -> int:
    return max(a, b)


def _at_least(applied: int, needed: int) -> bool:
    return applied >= needed


POSTGRESQL_REPLICATION: Replication[int] = Replication(
    kind="postgresql",
    primary_position=Request.one("SELECT pg_current_wal_lsn()::text", row=str),
    # NULL once out of recovery: pg_last_wal_replay_lsn() alone keeps its
    # last value after a promotion.
    replica_position=Request.one(
        "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text END",
        row=optional(str),
    ),
    # The insert position, not the write position: a commit record can sit
    # unwritten in WAL buffers for a moment after COMMIT returns.
    write_position=Request.one("SELECT pg_current_wal_insert_lsn()::text", row=str),
    is_replica=Request.one("SELECT pg_is_in_recovery()", row=bool),
    parse=parse_lsn,
    covers=_at_least,
    merge=_later,
    distance=int,
    distance_unit="bytes",
    token_position=lambda lsn: f"{lsn:X}",
    read_token_position=_lsn_from_token,
    bare_position=_LSN,
    not_replica_hint="the server is not in recovery (it was promoted, or is a primary)",
)


# MariaDB ---------------------------------------------------------------------

_GTID = re.compile(r"(\d{1,10})-(\d{1,10})-(\d{1,20})")


def parse_gtids(text: str, separator: str = ",") -> Gtids:
    """A GTID list (``"0-1-100,1-2-5"``, as ``@@gtid_binlog_pos`` prints it) as a value.

    Empty text is the empty position (a server that has logged nothing).

    Example::

        >>> parse_gtids("1-2-5,0-1-100")
        ((0, 1, 100), (1, 2, 5))
    """
    found: dict[int, tuple[int, int, int]] = {}
    for part in text.replace("\n", "").split(separator) if text.strip() else ():
        matched = _GTID.fullmatch(part.strip())
        if matched is None:
            raise ValueError(f"not a GTID position: {text[:80]!r}")
        domain, server, sequence = (int(g) for g in matched.groups())
        found[domain] = (domain, server, sequence)
    return tuple(sorted(found.values()))


def _gtids_cover(applied: Gtids, needed: Gtids) -> bool:
    have = {domain: sequence for domain, _, sequence in applied}
    return all(have.get(domain, -1) >= sequence for domain, _, sequence in needed)


def _gtids_merge(a: Gtids, b: Gtids) -> Gtids:
    merged = {gtid[0]: gtid for gtid in a}
    for gtid in b:
        if gtid[0] not in merged or merged[gtid[0]][2] < gtid[2]:
            merged[gtid[0]] = gtid
    return tuple(sorted(merged.values()))


def _gtids_distance(position: Gtids) -> int:
    # Each domain's sequence grows by one per transaction: a sum counts them.
    return sum(sequence for _, _, sequence in position)


def _gtids_token(position: Gtids) -> str:
    return "_".join(f"{d}-{s}-{n}" for d, s, n in position) or "none"


def _gtids_from_token(text: str) -> Gtids:
    return () if text == "none" else parse_gtids(text, "_")


MARIADB_REPLICATION: Replication[Gtids] = Replication(
    kind="mariadb",
    primary_position=Request.one("SELECT @@gtid_binlog_pos", row=str),
    # A replica must run read_only (a local write there would stop
    # replication, error 1950, under gtid_strict_mode): one that does not
    # was promoted, or is a primary.
    replica_position=Request.one(
        "SELECT CASE WHEN @@read_only <> 0 THEN @@gtid_slave_pos END", row=optional(str)
    ),
    # The session's own last commit. Empty on a connection that never
    # wrote; a pooled connection may show an earlier borrower's, which is
    # older than the primary's position and so only asks for less.
    write_position=Request.one("SELECT @@last_gtid", row=str),
    is_replica=Request.one("SELECT @@read_only <> 0", row=bool),
    parse=parse_gtids,
    covers=_gtids_cover,
    merge=_gtids_merge,
    distance=_gtids_distance,
    distance_unit="transactions",
    token_position=_gtids_token,
    read_token_position=_gtids_from_token,
    bare_position=None,
    not_replica_hint="the server is not read_only (it was promoted, or is a primary)",
)

#: The record of each driver whose replicas can lag.
REPLICATION: dict[str, Replication[Any]] = {
    "postgresql": POSTGRESQL_REPLICATION,
    "mariadb": MARIADB_REPLICATION,
}
