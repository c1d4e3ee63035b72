"""The replication records: reading, comparing and carrying positions, without a server.

PostgreSQL's positions are WAL byte offsets; MariaDB's are GTID lists, where
a replica has a transaction once its sequence number in that transaction's
domain has reached it, whatever happens in other domains. The router's
logic reads only the record, so these cases pin down each database's rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from repodb._cqrs.replication import (
    MARIADB_REPLICATION,
    POSTGRESQL_REPLICATION,
    REPLICATION,
    Replication,
    parse_gtids,
)
from repodb._cqrs.token import make_token, read_token
from repodb.cqrs import Cqrs, CqrsConfig

maria = MARIADB_REPLICATION
pg = POSTGRESQL_REPLICATION


def test_gtid_lists_parse_in_any_order_and_empty_is_the_start() -> None:
    assert parse_gtids("0-1-100") == ((0, 1, 100),)
    assert parse_gtids("1-2-5,0-1-100") == ((0, 1, 100), (1, 2, 5))
    # @@gtid_slave_pos may wrap long lists over lines.
    assert parse_gtids("0-1-100,\n1-2-5") == ((0, 1, 100), (1, 2, 5))
    assert parse_gtids("") == ()


@pytest.mark.parametrize("text", ["0-1", "a-b-c", "0-1-2;DROP", "0-1-2,,"])
def test_a_malformed_gtid_list_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="not a GTID position"):
        parse_gtids(text)


def test_a_replica_covers_a_write_per_domain() -> None:
    applied = maria.parse("0-1-100,1-2-5")
    assert maria.covers(applied, maria.parse("0-1-100"))
    assert maria.covers(applied, maria.parse("0-3-99"))  # another server id, same domain
    assert not maria.covers(applied, maria.parse("0-1-101"))
    assert not maria.covers(applied, maria.parse("1-2-6"))
    # A domain the replica has never seen: not applied.
    assert not maria.covers(applied, maria.parse("2-1-1"))
    # Ahead in one domain does not make up for behind in another.
    assert not maria.covers(maria.parse("0-1-500,1-2-1"), maria.parse("0-1-1,1-2-2"))
    assert maria.covers(applied, ())


def test_merging_keeps_the_later_sequence_of_each_domain() -> None:
    merged = maria.merge(maria.parse("0-1-100,1-2-5"), maria.parse("0-1-90,2-1-7"))
    assert merged == ((0, 1, 100), (1, 2, 5), (2, 1, 7))
    assert pg.merge(5, 9) == 9


def test_the_distance_counts_transactions_on_mariadb_and_bytes_on_postgresql() -> None:
    assert (
        maria.distance(maria.parse("0-1-100,1-2-5")) - maria.distance(maria.parse("0-1-97,1-2-5"))
        == 3
    )
    assert (maria.distance_unit, pg.distance_unit) == ("transactions", "bytes")
    assert pg.distance(pg.parse("0/3000148")) == 0x3000148


def test_positions_round_trip_through_tokens() -> None:
    cases: list[tuple[Replication[Any], str]] = [
        (maria, "0-1-100,1-2-5"),
        (maria, ""),
        (pg, "16/B374D848"),
    ]
    for record, text in cases:
        position = record.parse(text)
        token = make_token(record.kind, record.token_position(position))
        found = read_token(token, record.kind)
        assert found is not None
        assert record.read_token_position(found) == position
    assert make_token("mariadb", maria.token_position(maria.parse("0-1-100,1-2-5"))) == (
        "rw1.mariadb.0-1-100_1-2-5"
    )
    assert make_token("postgresql", pg.token_position(pg.parse("16/B374D848"))) == (
        "rw1.postgresql.16B374D848"
    )


def test_a_token_position_of_the_wrong_shape_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        maria.read_token_position("0-1")
    with pytest.raises(ValueError):
        pg.read_token_position("0-1-100")


def test_only_databases_whose_replicas_lag_have_a_record() -> None:
    assert sorted(REPLICATION) == ["mariadb", "postgresql"]
    assert REPLICATION["mariadb"] is maria


@pytest.mark.parametrize(
    ("config", "refused"),
    [
        (
            CqrsConfig(
                "mariadb://app@db1/shop",
                replica_conninfos=["mariadb://app@db2/shop"],
                max_replica_lag_bytes=1024,
            ),
            "max_replica_lag_bytes does not apply to mariadb.*counted in transactions",
        ),
        (
            CqrsConfig(
                "postgresql://app@db1/shop",
                replica_conninfos=["postgresql://app@db2/shop"],
                max_replica_lag_transactions=5,
            ),
            "max_replica_lag_transactions does not apply to postgresql.*counted in bytes",
        ),
    ],
)
def test_a_lag_limit_in_another_unit_is_refused(config: CqrsConfig, refused: str) -> None:
    """Not ignored: a limit the router cannot check would leave lagging replicas serving."""
    with pytest.raises(ValueError, match=refused):
        Cqrs(config)


def test_sqlite_replicas_never_lag_so_any_limit_is_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    for config in (
        CqrsConfig(url, replica_conninfos=[url], max_replica_lag_bytes=0),
        CqrsConfig(url, replica_conninfos=[url], max_replica_lag_transactions=0),
    ):
        with Cqrs(config) as cqrs:
            assert [r.lagging for r in cqrs.stats().replicas] == [False]
