"""Span names and server attributes, without a database.

Covered: the OpenTelemetry conventions' ``{operation} {collection}`` summary
taken from the SQL text (quoted, schema-qualified and backtick names, a
function or subquery after FROM naming no table, unknown statements), and the
server attributes for each database, including a multi-host primary whose URL
``urllib`` cannot give a port for.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from repodb._observe import _server_attributes, _summary
from repodb.dialect import MARIADB, POSTGRESQL, SQLITE, Dialect
from repodb.url import parse_url


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('SELECT "u0"."id" FROM "users" AS "u0" WHERE "u0"."id" = $1', ("SELECT", "users")),
        ("select count(*) from members", ("SELECT", "members")),
        ("INSERT INTO members (email) VALUES (?)", ("INSERT", "members")),
        ("INSERT INTO m(a) VALUES (1)", ("INSERT", "m")),
        ("UPDATE `orders` SET `n` = %s", ("UPDATE", "orders")),
        ('DELETE FROM "tenant_a"."posts" WHERE 1 = 1', ("DELETE", "tenant_a.posts")),
        ('SELECT a FROM "we""ird"', ("SELECT", 'we"ird')),
        ("SELECT * FROM generate_series(1, 3)", ("SELECT", None)),
        ("SELECT * FROM (SELECT 1) AS t", ("SELECT", None)),
        ("SELECT 1", ("SELECT", None)),
        ("WITH x AS (SELECT 1) SELECT * FROM x", ("WITH", None)),
        ("BEGIN", ("BEGIN", None)),
        ("  ", (None, None)),
        ("LISTEN jobs", (None, None)),
    ],
)
def test_summary_names_the_operation_and_first_table(
    sql: str, expected: tuple[str | None, str | None]
) -> None:
    assert _summary(sql) == expected


def attributes_for(url: str, dialect: Dialect) -> dict[str, Any]:
    conn: Any = types.SimpleNamespace(_url=parse_url(url), dialect=dialect)
    return _server_attributes(conn)


def test_each_database_names_its_own_system() -> None:
    assert attributes_for("sqlite:///app.db", SQLITE) == {
        "db.system.name": "sqlite",
        "db.namespace": "app.db",
    }
    assert attributes_for("postgresql://u@db.internal:6432/shop", POSTGRESQL) == {
        "db.system.name": "postgresql",
        "db.namespace": "shop",
        "server.address": "db.internal",
        "server.port": 6432,
    }
    # A default port is left out, as the conventions ask.
    assert attributes_for("mariadb://u@maria/shop", MARIADB) == {
        "db.system.name": "mariadb",
        "db.namespace": "shop",
        "server.address": "maria",
    }


def test_a_multi_host_primary_names_its_first_host() -> None:
    found = attributes_for("postgresql://u@h1:5432,h2:5433/shop", POSTGRESQL)
    assert (found["server.address"], found["server.port"]) == ("h1", 5432)
    found = attributes_for("host=h1,h2 port=5433,5434 dbname=shop", POSTGRESQL)
    assert (found["server.address"], found["server.port"], found["db.namespace"]) == (
        "h1",
        5433,
        "shop",
    )
