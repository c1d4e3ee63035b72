"""repodb quickstart: connect, create a table, run typed requests, use a transaction.

Runs on SQLite with no server (a file in a temporary directory). Pass
``--url postgresql://user@host:port/db`` to run the same steps on PostgreSQL
(it creates and drops a table named ``quickstart_users``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import tempfile
from pathlib import Path

import repodb
from repodb import Request
from repodb.types import optional, tup


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    name: str
    email: str
    joined_at: dt.datetime
    karma: int | None


# Requests are declared once, with their parameter and row types. The SQL is a
# literal: values are always bound, never pasted into the text.
create_users = Request.exec(
    "CREATE TABLE quickstart_users ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " email TEXT NOT NULL UNIQUE,"
    " joined_at TEXT NOT NULL,"
    " karma INTEGER CHECK (karma >= 0))"
)
create_users_pg = Request.exec(
    "CREATE TABLE quickstart_users ("
    " id bigserial PRIMARY KEY,"
    " name text NOT NULL,"
    " email text NOT NULL UNIQUE,"
    " joined_at timestamptz NOT NULL,"
    " karma bigint CHECK (karma >= 0))"
)
drop_users = Request.exec("DROP TABLE IF EXISTS quickstart_users")
insert_user = Request.one(
    "INSERT INTO quickstart_users (name, email, joined_at, karma) VALUES (?, ?, ?, ?) RETURNING id",
    params=tup(str, str, dt.datetime, optional(int)),
    row=int,
)
add_karma = Request.exec(
    "UPDATE quickstart_users SET karma = coalesce(karma, 0) + $2 WHERE id = $1",
    params=tup(int, int),
)
user_by_email = Request.one_or_none(
    "SELECT id, name, email, joined_at, karma FROM quickstart_users WHERE email = ?",
    params=str,
    row=User,
)
all_names = Request.many("SELECT name FROM quickstart_users ORDER BY id", row=str)
count_users = Request.one("SELECT count(*) FROM quickstart_users", row=int)


def run(url: str) -> None:
    print(f"1. Connecting to {repodb.parse_url(url).redacted}")
    with repodb.connect(url) as conn:
        conn.exec(drop_users)
        is_pg = conn.dialect.name == "postgresql"
        conn.exec(create_users_pg if is_pg else create_users)
        print("2. Created table quickstart_users")

        now = dt.datetime.now(dt.UTC)
        ada = conn.one(insert_user, ("Ada Lovelace", "ada@example.com", now, 10))
        grace = conn.one(insert_user, ("Grace Hopper", "grace@example.com", now, None))
        print(f"3. Inserted two users with typed requests: ids {ada} and {grace}")

        found = conn.one_or_none(user_by_email, "grace@example.com")
        print(f"4. Read back a typed row: {found}")
        print(f"   All names: {conn.all(all_names)}")

        print("5. A transaction: both updates commit together, or neither does")
        with conn.transaction():
            conn.exec(add_karma, (ada, 5))
            conn.exec(add_karma, (grace, 3))
        print(
            f"   karma now: ada={_karma(conn, 'ada@example.com')}, "
            f"grace={_karma(conn, 'grace@example.com')}"
        )

        print("6. A transaction that fails half-way leaves nothing behind:")
        try:
            with conn.transaction():
                conn.exec(add_karma, (ada, 100))
                conn.one(insert_user, ("Ada Again", "ada@example.com", now, None))
        except repodb.UniqueViolation as error:
            print(f"   repodb.{type(error).__name__}: {error}")
            print(f"   -> table={error.table!r} column={error.column!r}")
        print(
            f"   karma of ada is still {_karma(conn, 'ada@example.com')}, "
            f"users: {conn.one(count_users)}"
        )

        print("7. A value of the wrong type is refused before anything is sent:")
        try:
            conn.one(insert_user, ("Bob", "bob@example.com", "yesterday", None))  # type: ignore[misc]
        except repodb.EncodeError as error:
            print(f"   repodb.{type(error).__name__}: {error}")

        conn.exec(drop_users)
    print("Done.")


def _karma(conn: repodb.Connection, email: str) -> int | None:
    user = conn.one_or_none(user_by_email, email)
    return user.karma if user else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="a database URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    if args.url:
        run(args.url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'quickstart.db'}")


if __name__ == "__main__":
    main()
