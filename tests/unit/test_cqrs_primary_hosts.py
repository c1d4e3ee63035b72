"""The router's primary address: several hosts, of which it uses the writable one.

``writable_target`` adds ``target_session_attrs=read-write`` to an address
listing several hosts (URL or conninfo form), so that libpq keeps the first
host that takes writes; it leaves one host, SQLite and an explicit writable
choice alone, and refuses an address that asks for a standby.
"""

from __future__ import annotations

import pytest

from repodb._cqrs.config import writable_target
from repodb.cqrs import Cqrs, CqrsConfig


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgresql://app@db1,db2:5433/shop",
            "postgresql://app@db1,db2:5433/shop?target_session_attrs=read-write",
        ),
        (
            "postgresql://app:pw@db1,db2/shop?sslmode=require",
            "postgresql://app:pw@db1,db2/shop?sslmode=require&target_session_attrs=read-write",
        ),
        ("host=db1,db2 dbname=shop", "host=db1,db2 dbname=shop target_session_attrs=read-write"),
        (
            "hostaddr=10.0.0.1,10.0.0.2 dbname=shop",
            "hostaddr=10.0.0.1,10.0.0.2 dbname=shop target_session_attrs=read-write",
        ),
        ("postgresql://app@db1/shop", None),
        ("host=db1 dbname=shop", None),
        ("postgresql://app@db1,db2/shop?target_session_attrs=primary", None),
        ("sqlite:///app.db", None),
    ],
)
def test_several_hosts_get_the_writable_one(given: str, used: str | None) -> None:
    assert writable_target(given) == (used or given)


@pytest.mark.parametrize("attrs", ["standby", "prefer-standby", "read-only", "any"])
def test_a_primary_address_that_asks_for_a_standby_is_refused(attrs: str) -> None:
    url = f"postgresql://app@db1,db2/shop?target_session_attrs={attrs}"
    with pytest.raises(ValueError, match="read-write or primary"):
        writable_target(url)
    with pytest.raises(ValueError, match="read-write or primary"):
        Cqrs(CqrsConfig(url))
