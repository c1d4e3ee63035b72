"""The fixture that runs a CQRS test on PostgreSQL's replicas and on MariaDB's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cqrs.topology import Topology, make_topology


@pytest.fixture(params=["postgresql", pytest.param("mariadb", marks=pytest.mark.mariadb_server)])
def topology(request: pytest.FixtureRequest) -> Iterator[Topology]:
    """A primary and two replicas of each kind, on a fresh schema (see tests/cqrs/topology.py)."""
    with make_topology(request.param) as topology:
        yield topology
