"""Static types of the public API, pinned with ``typing.assert_type``.

Not a test module (pytest does not collect it and nothing here runs): mypy
checks it with the rest of ``tests/``, so a change that loosens or breaks the
inferred types of requests and connection methods fails the type check.
"""

from __future__ import annotations

import dataclasses
from typing import assert_type

from repodb import Connection, DbType, Many, One, Request, Zero, ZeroOrOne
from repodb.types import Json, array, json, optional, tup


@dataclasses.dataclass
class User:
    id: int
    name: str


def check_type_builders() -> None:
    assert_type(optional(int), DbType[int | None])
    assert_type(array(str), DbType[list[str]])
    assert_type(json(), DbType[Json])
    assert_type(tup(int, str), DbType[tuple[int, str]])
    assert_type(tup(int, optional(str), array(int)), DbType[tuple[int, str | None, list[int]]])


def check_request_types() -> None:
    assert_type(Request.exec("DELETE FROM t"), Request[None, None, Zero])
    assert_type(Request.exec("DELETE FROM t WHERE id = ?", params=int), Request[int, None, Zero])
    assert_type(
        Request.one("SELECT a, b FROM t WHERE id = ?", params=int, row=tup(int, str)),
        Request[int, tuple[int, str], One],
    )
    assert_type(Request.one_or_none("SELECT 1", row=int), Request[None, int, ZeroOrOne])
    assert_type(Request.many("SELECT id, name FROM users", row=User), Request[None, User, Many])


def check_connection_results(conn: Connection) -> None:
    pairs = Request.many("SELECT a, b FROM t", row=tup(int, str))
    assert_type(conn.all(pairs), list[tuple[int, str]])

    by_id = Request.one("SELECT name FROM users WHERE id = ?", params=int, row=str)
    assert_type(conn.one(by_id, 42), str)
    assert_type(conn.one_or_none(by_id, 42), str | None)
    assert_type(conn.all(by_id, 42), list[str])

    maybe = Request.one_or_none("SELECT id, name FROM users WHERE id = ?", params=int, row=User)
    assert_type(conn.one_or_none(maybe, 1), User | None)

    users = Request.many("SELECT id, name FROM users", row=User)
    assert_type(conn.all(users), list[User])
    assert_type(next(conn.stream(users)), User)
    assert_type(conn.fold(users, lambda n, u: n + u.id, 0), int)

    insert = Request.exec("INSERT INTO users (name) VALUES (?)", params=str)
    assert_type(conn.exec(insert, "Ada"), int)
    assert_type(conn.execute_many(insert, ["Ada", "Grace"]), int)

    span = Request.many(
        "SELECT id FROM users WHERE id BETWEEN ? AND ?", params=tup(int, int), row=int
    )
    assert_type(conn.all(span, (1, 9)), list[int])

    # None after a Rollback raised in the function, so None is in the type.
    assert_type(conn.run_transaction(lambda c: c.all(span, (1, 9))), list[int] | None)
