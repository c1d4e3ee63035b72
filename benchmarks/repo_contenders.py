"""The raw drivers and repodb's Repo as contenders of ``bench_repo.py``.

Why these baselines: the raw driver is written the way a careful user of it
writes each operation (one reused connection in autocommit mode, the
driver's fastest bulk path: ``COPY`` on PostgreSQL, ``executemany`` in one
transaction on SQLite), so the ratio to it is repodb's true overhead.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from json import dumps, loads
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from repo_kit import (
    NEW_USER_COLUMNS,
    POST_COLUMNS,
    USER_COLUMNS,
    Contender,
    Database,
    NewRow,
    Op,
    Workload,
)

import repodb
from repodb import Repo
from repodb.query import query
from repodb.schema import Assoc, Col, Schema, field, has_many

if TYPE_CHECKING:
    pass

__all__ = [
    "BenchNewUser",
    "BenchPost",
    "BenchUser",
    "RawContender",
    "RawPost",
    "RawUser",
    "RepodbContender",
    "raw_and_repodb",
]


class BenchUser(Schema, table="bench_users"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    email: Col[str]
    age: Col[int]
    score: Col[int | None]
    balance: Col[Decimal]
    token: Col[uuid.UUID]
    prefs: Col[dict[str, Any]]
    active: Col[bool]
    inserted_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")
    updated_at: Col[dt.datetime | None] = field(default=None, timestamp="updated")
    posts: ClassVar[Assoc[list[BenchPost]]] = has_many(lambda: BenchPost, foreign_key="user_id")


class BenchPost(Schema, table="bench_posts"):
    id: Col[int] = field(primary_key=True, default=None)
    user_id: Col[int]
    title: Col[str]
    views: Col[int]
    rating: Col[int | None]
    price: Col[Decimal]
    token: Col[uuid.UUID]
    meta: Col[dict[str, Any]]
    published: Col[bool]
    inserted_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")
    updated_at: Col[dt.datetime | None] = field(default=None, timestamp="updated")


class BenchNewUser(Schema, table="bench_new_users"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    email: Col[str]
    age: Col[int]
    score: Col[int | None]
    balance: Col[Decimal]
    token: Col[uuid.UUID]
    prefs: Col[dict[str, Any]]
    active: Col[bool]
    inserted_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")
    updated_at: Col[dt.datetime | None] = field(default=None, timestamp="updated")


def _slotted(name: str, columns: str) -> type[Any]:
    """A class with ``__slots__`` and a positional ``__init__``, as one writes it by hand.

    Why generated: the raw users and posts have eleven fields each; written
    out, the two classes would be the same twenty lines twice.
    """
    fields = columns.split(", ")
    stores = "".join(f"\n    self.{f} = {f}" for f in fields)
    namespace: dict[str, Any] = {}
    exec(f"def __init__(self, {', '.join(fields)}):{stores}", namespace)
    doc = f"A row of {name[3:].lower()}s as a careful raw-driver user holds it: Python values."
    return type(name, (), {"__slots__": fields, "__init__": namespace["__init__"], "__doc__": doc})


RawUser = _slotted("RawUser", USER_COLUMNS)
RawPost = _slotted("RawPost", POST_COLUMNS)


GET = f"SELECT {USER_COLUMNS} FROM bench_users WHERE id = ?"
LIST = f"SELECT {USER_COLUMNS} FROM bench_users WHERE id > ? ORDER BY id LIMIT ?"
POSTS_OF = f"SELECT {POST_COLUMNS} FROM bench_posts WHERE user_id = ?"
POSTS_IN = f"SELECT {POST_COLUMNS} FROM bench_posts WHERE user_id IN ({{}})"
INSERT = f"INSERT INTO bench_new_users ({NEW_USER_COLUMNS}) VALUES ({', '.join('?' * 10)})"

Rows = list[tuple[Any, ...]]
_from_iso = dt.datetime.fromisoformat


def _sqlite_users(rows: Rows) -> list[Any]:
    """SQLite rows as users: the text columns parsed, as a raw user must."""
    return [
        RawUser(i, n, e, a, s, Decimal(b), UUID(t), loads(p), bool(f), _from_iso(c), _from_iso(u))
        for i, n, e, a, s, b, t, p, f, c, u in rows
    ]


def _sqlite_posts(rows: Rows) -> list[Any]:
    return [
        RawPost(i, w, t, v, r, Decimal(p), UUID(k), loads(m), bool(f), _from_iso(c), _from_iso(u))
        for i, w, t, v, r, p, k, m, f, c, u in rows
    ]


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC)


def _mariadb_users(rows: Rows) -> list[Any]:
    """MariaDB rows as users: PyMySQL gives Decimals and naive UTC datetimes, the rest as text."""
    return [
        RawUser(i, n, e, a, s, b, UUID(t), loads(p), bool(f), _utc(c), _utc(u))
        for i, n, e, a, s, b, t, p, f, c, u in rows
    ]


def _mariadb_posts(rows: Rows) -> list[Any]:
    return [
        RawPost(i, w, t, v, r, p, UUID(k), loads(m), bool(f), _utc(c), _utc(u))
        for i, w, t, v, r, p, k, m, f, c, u in rows
    ]


def _pg_users(rows: Rows) -> list[Any]:
    """PostgreSQL rows as users: psycopg gives every column as its Python value."""
    return [RawUser(*row) for row in rows]


def _pg_posts(rows: Rows) -> list[Any]:
    return [RawPost(*row) for row in rows]


class RawContender:
    """sqlite3, psycopg 3 or PyMySQL, as a careful user writes each operation.

    All run in autocommit mode, so a single statement is its own
    transaction. psycopg uses one reused cursor and its default automatic
    preparation; ``insert_all`` is one ``COPY`` on PostgreSQL and one
    ``executemany`` between ``BEGIN`` and ``COMMIT`` on SQLite and MariaDB
    (PyMySQL sends it as multi-row ``INSERT`` statements of up to
    ``max_allowed_packet``). Preloading is
    two queries, the second with ``user_id IN (...)``, grouped in a dict.
    Rows become slotted objects (``RawUser``, ``RawPost``) holding Python
    values; on SQLite the user parses the text columns (one C call per
    datetime, in repodb's storage form) and encodes them on the way in,
    filling the timestamps with one ``now``.

    ``session``: on PostgreSQL, the psycopg connection under repodb's, shared
    so that both run on one server process (on MariaDB, the PyMySQL one: one
    server thread). On a small machine the time of a
    round trip depends on where the scheduler puts the server process of each
    connection (two connections running the same statement differ by up to
    15 µs here), which would otherwise blur the ratio. The cursor is a plain
    ``psycopg.Cursor`` (``%s`` placeholders), as a raw user has.
    """

    name = "raw"

    def __init__(self, db: Database, work: Workload, session: Any = None) -> None:
        self._work = work
        self._kind = db.kind
        self._close: Callable[[], None]
        self._fetch: Callable[[str, Sequence[Any]], Rows]
        self._fetch_one: Callable[[str, Sequence[Any]], Any]
        if db.kind == "sqlite":
            lite = sqlite3.connect(db.path, isolation_level=None)
            lite.execute("PRAGMA foreign_keys = ON")
            self._lite = lite
            self._fetch = lambda sql, args: lite.execute(sql, args).fetchall()
            self._fetch_one = lambda sql, args: lite.execute(sql, args).fetchone()
            self._close = lite.close
            self._mark = "?"
            self._users, self._posts = _sqlite_users, _sqlite_posts
        else:
            if db.kind == "mariadb":
                assert session is not None, "the PyMySQL connection under repodb's"
                cursor: Any = session.cursor()
                self._maria = cursor
                self._users, self._posts = _mariadb_users, _mariadb_posts
            else:
                import psycopg

                pg = session
                if pg is None:
                    pg = psycopg.connect(db.conninfo, autocommit=True, options=db.options)
                cursor = psycopg.Cursor(pg)
                self._cursor = cursor
                self._users, self._posts = _pg_users, _pg_posts
            # repodb's connection closes the one under it; one of the raw's own, this.
            self._close = _nothing if session is not None else cursor.connection.close

            def fetch(sql: str, args: Sequence[Any]) -> Rows:
                cursor.execute(sql, args)
                rows: Rows = cursor.fetchall()  # a tuple from PyMySQL: only iterated
                return rows

            def fetch_one(sql: str, args: Sequence[Any]) -> Any:
                cursor.execute(sql, args)
                return cursor.fetchone()

            self._fetch, self._fetch_one = fetch, fetch_one
            self._mark = "%s"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._mark)

    def ops(self) -> dict[str, Op]:
        work, fetch, fetch_one = self._work, self._fetch, self._fetch_one
        users_of, posts_of_rows = self._users, self._posts
        get, page, insert = self._sql(GET), self._sql(LIST), self._sql(INSERT)
        returning = insert + " RETURNING id"
        posts_of = self._sql(POSTS_OF)
        size = work.sizes.preload_users

        def preload(k: int) -> list[tuple[Any, list[Any]]]:
            found = users_of(fetch(page, (work.starts[k], size)))
            ids = [u.id for u in found]
            posts = fetch(POSTS_IN.format(", ".join([self._mark] * len(ids))), ids)
            by_user: dict[int, list[Any]] = {i: [] for i in ids}
            for post in posts_of_rows(posts):
                by_user[post.user_id].append(post)
            return [(u, by_user[u.id]) for u in found]

        def preload_n1(k: int) -> list[tuple[Any, list[Any]]]:
            found = users_of(fetch(page, (work.starts[k], size)))
            return [(u, posts_of_rows(fetch(posts_of, (u.id,)))) for u in found]

        def get_one(k: int) -> Any:
            return users_of([fetch_one(get, (work.ids[k],))])[0]

        def insert_one(k: int) -> int:
            found: int = fetch_one(returning, self._encoded([work.rows[k]])[0])[0]
            return found

        return {
            "get": get_one,
            "list": lambda k: users_of(fetch(page, (work.starts[k], 100))),
            "insert_all": lambda k: self._insert_all(insert),
            "insert": insert_one,
            "preload": preload,
            "preload_n1": preload_n1,
        }

    def _encoded(self, rows: Sequence[NewRow]) -> list[tuple[Any, ...]]:
        """New rows as the driver takes them, both timestamps the time of the call."""
        now = dt.datetime.now(dt.UTC)
        if self._kind == "sqlite":
            at = now.isoformat(" ", "microseconds")
            return [
                (n, e, a, s, str(b), str(t), dumps(p, separators=(",", ":")), int(f), at, at)
                for n, e, a, s, b, t, p, f in rows
            ]
        if self._kind == "mariadb":
            naive = now.replace(tzinfo=None)
            return [
                (n, e, a, s, b, str(t), dumps(p, separators=(",", ":")), f, naive, naive)
                for n, e, a, s, b, t, p, f in rows
            ]
        from psycopg.types.json import Jsonb

        return [(n, e, a, s, b, t, Jsonb(p), f, now, now) for n, e, a, s, b, t, p, f in rows]

    def _insert_all(self, insert: str) -> None:
        rows = self._encoded(self._work.rows[: self._work.sizes.insert_all])
        if self._kind == "sqlite":
            self._lite.execute("BEGIN")
            self._lite.executemany(insert, rows)
            self._lite.execute("COMMIT")
            return
        if self._kind == "mariadb":
            self._maria.execute("START TRANSACTION")
            self._maria.executemany(insert, rows)
            self._maria.execute("COMMIT")
            return
        with self._cursor.copy(f"COPY bench_new_users ({NEW_USER_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def close(self) -> None:
        self._close()


class RepodbContender:
    """repodb's Repo on one connection: reads, writes and preloads as its docs show them."""

    name = "repodb"

    def __init__(self, db: Database, work: Workload) -> None:
        self._work = work
        self._conn = repodb.connect(db.url)
        self._repo = Repo(self._conn)

    def session(self) -> Any:
        """The psycopg or PyMySQL connection under repodb's (None on SQLite)."""
        driver = self._conn._driver
        if self._conn.dialect.name == "mariadb":
            from repodb.driver.mariadb import MariadbConnection

            assert isinstance(driver, MariadbConnection)
            return driver._raw
        if self._conn.dialect.name != "postgresql":
            return None
        from repodb.driver.postgresql import PostgresConnection

        assert isinstance(driver, PostgresConnection)
        return driver._raw

    def ops(self) -> dict[str, Op]:
        repo, work = self._repo, self._work
        size = work.sizes.preload_users
        rows = work.dicts[: work.sizes.insert_all]

        def page(k: int) -> list[BenchUser]:
            return repo.all(
                query(BenchUser)
                .where(BenchUser.id > work.starts[k])
                .order_by(BenchUser.id)
                .limit(100)
            )

        def preload(k: int) -> list[BenchUser]:
            q = query(BenchUser).where(BenchUser.id > work.starts[k]).order_by(BenchUser.id)
            return repo.all(q.limit(size).preload("posts"))

        return {
            "get": lambda k: repo.get(BenchUser, work.ids[k]),
            "list": page,
            "insert_all": lambda k: repo.insert_all(BenchNewUser, rows),
            "insert": lambda k: repo.insert(BenchNewUser(**work.dicts[k])),
            "preload": preload,
        }

    def close(self) -> None:
        self._conn.close()


def raw_and_repodb(db: Database, work: Workload) -> list[Contender]:
    """The raw driver and repodb, sharing one server session (see ``RawContender``)."""
    ours = RepodbContender(db, work)
    return [RawContender(db, work, ours.session()), ours]


def _nothing() -> None:
    return None
