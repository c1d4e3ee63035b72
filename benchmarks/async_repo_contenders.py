"""The async contenders of ``bench_async_repo.py``: raw async drivers, the AsyncRepo, SQLAlchemy.

Why these: the async Repo is what an asyncio application calls, so it is
measured against what such an application would otherwise write: psycopg's
``AsyncConnection`` by hand (statements prepared on the server at once, the
ratio's base), asyncpg by hand (the other async PostgreSQL driver, which
prepares and caches every statement), the AsyncRepo on repodb's own asyncpg
driver (``postgresql+asyncpg://``), and SQLAlchemy 2's async ORM on asyncpg.
On SQLite the raw baseline is ``sqlite3`` through a single-thread executor,
as an async application must run it, and SQLAlchemy runs on aiosqlite (a
thread per connection too). On MariaDB the raw baseline is asyncmy by hand
(the client under repodb's async MariaDB driver), and SQLAlchemy's async
ORM runs on asyncmy too.

The contenders keep ``bench_repo.py``'s contract (``name``, ``ops()``,
``close()``) on the same tables and inputs (``repo_kit``), each operation a
coroutine function; set-up and ``close()`` run on the benchmark's event
loop through the ``asyncio.Runner`` they are given. Raw contenders return
rows as the driver gives them (tuples, asyncpg ``Record``s); the others
their records.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import json
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from async_contenders import _dollars, through_asyncpg
from repo_contenders import (
    GET,
    INSERT,
    LIST,
    POSTS_IN,
    BenchNewUser,
    BenchUser,
    RawContender,
    _mariadb_posts,
    _mariadb_users,
)
from repo_kit import (
    NEW_USER_COLUMNS,
    POST_COLUMNS,
    Contender,
    Database,
    NewRow,
    Op,
    Workload,
    mariadb_value,
)

import repodb
from repodb import AsyncRepo
from repodb.query import query

if TYPE_CHECKING:
    import psycopg

__all__ = ["contenders", "sqlalchemy_contender"]

AsyncOp = Callable[[int], Awaitable[object]]
Run = Callable[[Coroutine[Any, Any, Any]], Any]
Close = Callable[[], Coroutine[Any, Any, Any]]
POSTS_ANY = f"SELECT {POST_COLUMNS} FROM bench_posts WHERE user_id = ANY($1)"
COPY_COLUMNS = tuple(NEW_USER_COLUMNS.split(", "))


def _stamped(rows: Sequence[NewRow], document: Callable[[dict[str, Any]], object]) -> list[Any]:
    """New rows with both timestamps the time of the call, the JSON as ``document`` makes it."""
    now = dt.datetime.now(dt.UTC)
    return [(n, e, a, s, b, t, document(p), f, now, now) for n, e, a, s, b, t, p, f in rows]


def _grouped(users: list[Any], posts: list[Any]) -> list[tuple[Any, list[Any]]]:
    """``(user, posts)`` pairs, as the raw sync baseline groups them."""
    by_user: dict[int, list[Any]] = {u[0]: [] for u in users}
    for post in posts:
        by_user[post[1]].append(post)
    return [(u, by_user[u[0]]) for u in users]


class AsyncContender:
    """A name, coroutine operations by scenario key, and a close run on the loop."""

    def __init__(self, name: str, run: Run, ops: dict[str, AsyncOp], close: Close) -> None:
        self.name = name
        self._run = run
        self._ops = ops
        self._close = close

    def ops(self) -> dict[str, Op]:
        return dict(self._ops)

    def close(self) -> None:
        self._run(self._close())


def _repodb(
    run: Run, conn: repodb.AsyncConnection, work: Workload, name: str = "repodb async"
) -> AsyncContender:
    repo = AsyncRepo(conn)
    size = work.sizes.preload_users
    rows = work.dicts[: work.sizes.insert_all]

    async def page(k: int) -> list[BenchUser]:
        q = query(BenchUser).where(BenchUser.id > work.starts[k]).order_by(BenchUser.id)
        return await repo.all(q.limit(100))

    async def preload(k: int) -> list[BenchUser]:
        q = query(BenchUser).where(BenchUser.id > work.starts[k]).order_by(BenchUser.id)
        return await repo.all(q.limit(size).preload("posts"))

    ops: dict[str, AsyncOp] = {
        "get": lambda k: repo.get(BenchUser, work.ids[k]),
        "list": page,
        "insert_all": lambda k: repo.insert_all(BenchNewUser, rows),
        "insert": lambda k: repo.insert(BenchNewUser(**work.dicts[k])),
        "preload": preload,
    }
    return AsyncContender(name, run, ops, conn.close)


def _psycopg(run: Run, raw: psycopg.AsyncConnection[Any], work: Workload) -> AsyncContender:
    """psycopg's ``AsyncConnection``: an ``AsyncRawCursor``, every statement prepared at once."""
    import psycopg
    from psycopg.types.json import Jsonb

    cursor: psycopg.AsyncRawCursor[tuple[Any, ...]] = psycopg.AsyncRawCursor(raw)
    get, page, insert = _dollars(GET), _dollars(LIST), _dollars(INSERT) + " RETURNING id"
    size = work.sizes.preload_users
    rows = work.rows[: work.sizes.insert_all]

    async def fetch(sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        await cursor.execute(sql, args, prepare=True)
        return await cursor.fetchall()

    async def fetch_one(sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        await cursor.execute(sql, args, prepare=True)
        return await cursor.fetchone()

    async def insert_all(k: int) -> None:
        columns = ", ".join(COPY_COLUMNS)
        async with cursor.copy(f"COPY bench_new_users ({columns}) FROM STDIN") as copy:
            for row in _stamped(rows, Jsonb):
                await copy.write_row(row)

    async def preload(k: int) -> list[tuple[Any, list[Any]]]:
        users = await fetch(page, (work.starts[k], size))
        return _grouped(users, await fetch(POSTS_ANY, ([u[0] for u in users],)))

    ops: dict[str, AsyncOp] = {
        "get": lambda k: fetch_one(get, (work.ids[k],)),
        "list": lambda k: fetch(page, (work.starts[k], 100)),
        "insert_all": insert_all,
        "insert": lambda k: fetch_one(insert, _stamped([work.rows[k]], Jsonb)[0]),
        "preload": preload,
    }
    return AsyncContender("raw async", run, ops, _nothing)


def _asyncpg(run: Run, conn: Any, work: Workload) -> AsyncContender:
    """asyncpg as its docs show it: ``fetchrow``/``fetch`` (prepared and cached), ``COPY``.

    ``conn`` is the ``asyncpg.Connection`` under repodb's asyncpg driver (closed with it).
    """
    get, page, insert = _dollars(GET), _dollars(LIST), _dollars(INSERT) + " RETURNING id"
    size = work.sizes.preload_users
    rows = work.rows[: work.sizes.insert_all]

    async def preload(k: int) -> list[tuple[Any, list[Any]]]:
        users = await conn.fetch(page, work.starts[k], size)
        return _grouped(users, await conn.fetch(POSTS_ANY, [u[0] for u in users]))

    ops: dict[str, AsyncOp] = {
        "get": lambda k: conn.fetchrow(get, work.ids[k]),
        "list": lambda k: conn.fetch(page, work.starts[k], 100),
        "insert_all": lambda k: conn.copy_records_to_table(
            "bench_new_users", records=_stamped(rows, json.dumps), columns=COPY_COLUMNS
        ),
        "insert": lambda k: conn.fetchval(insert, *_stamped([work.rows[k]], json.dumps)[0]),
        "preload": preload,
    }
    return AsyncContender("raw asyncpg", run, ops, _nothing)


def _asyncmy(run: Run, raw: Any, work: Workload) -> AsyncContender:
    """asyncmy by hand: one reused cursor, ``%s`` marks, ``insert_all`` as multi-row INSERTs.

    ``raw`` is the ``asyncmy.Connection`` under repodb's async MariaDB driver
    (closed with it); ``executemany`` of an ``INSERT ... VALUES`` sends
    multi-row statements of up to ``max_allowed_packet``, in one transaction.
    Rows become the sync baseline's objects (``repo_contenders``), converted
    as there: asyncmy gives the UUIDs and JSON as text and the datetimes
    naive, where psycopg gives Python values, so returning its tuples would
    leave the raw side less work than the Repo's for the same result.
    """
    cursor = raw.cursor()
    get_sql, page_sql, insert = (sql.replace("?", "%s") for sql in (GET, LIST, INSERT))
    size = work.sizes.preload_users

    def stored(rows: Sequence[NewRow]) -> list[tuple[Any, ...]]:
        return [tuple(map(mariadb_value, row)) for row in _stamped(rows, dict)]

    async def fetch(sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        await cursor.execute(sql, args)
        rows: list[tuple[Any, ...]] = await cursor.fetchall()
        return rows

    async def fetch_one(sql: str, args: Sequence[Any]) -> tuple[Any, ...] | None:
        await cursor.execute(sql, args)
        row: tuple[Any, ...] | None = await cursor.fetchone()
        return row

    async def get(k: int) -> Any:
        return _mariadb_users(await fetch(get_sql, (work.ids[k],)))[0]

    async def page(k: int) -> list[Any]:
        return _mariadb_users(await fetch(page_sql, (work.starts[k], 100)))

    async def insert_all(k: int) -> None:
        rows = stored(work.rows[: work.sizes.insert_all])
        await cursor.execute("START TRANSACTION")
        await cursor.executemany(insert, rows)
        await cursor.execute("COMMIT")

    async def preload(k: int) -> list[tuple[Any, list[Any]]]:
        users = _mariadb_users(await fetch(page_sql, (work.starts[k], size)))
        ids = [u.id for u in users]
        posts = _mariadb_posts(await fetch(POSTS_IN.format(", ".join(["%s"] * len(ids))), ids))
        by_user: dict[int, list[Any]] = {i: [] for i in ids}
        for post in posts:
            by_user[post.user_id].append(post)
        return [(u, by_user[u.id]) for u in users]

    ops: dict[str, AsyncOp] = {
        "get": get,
        "list": page,
        "insert_all": insert_all,
        "insert": lambda k: fetch_one(insert + " RETURNING id", stored([work.rows[k]])[0]),
        "preload": preload,
    }
    return AsyncContender("raw async", run, ops, _nothing)


async def _sqlite_on_thread(run: Run, db: Database, work: Workload) -> AsyncContender:
    """``bench_repo``'s raw sqlite3 operations, each run by ``run_in_executor`` on one thread."""
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-sqlite")
    loop = asyncio.get_running_loop()
    # Made on the worker: a sqlite3 connection stays on the thread that opened it.
    raw = await loop.run_in_executor(worker, RawContender, db, work)

    def hop(op: Op) -> AsyncOp:
        return lambda k: loop.run_in_executor(worker, op, k)

    async def close() -> None:
        await loop.run_in_executor(worker, raw.close)
        worker.shutdown()

    ops = {key: hop(op) for key, op in raw.ops().items() if key != "preload_n1"}
    return AsyncContender("raw async", run, ops, close)


def sqlalchemy_contender(run: Run, db: Database, work: Workload) -> Contender:
    """SQLAlchemy 2's async ORM (asyncpg; aiosqlite on SQLite), as ``repo_sqlalchemy``'s ORM.

    The same mapped classes and the same set-up: an ``AsyncSession`` on an
    ``AUTOCOMMIT`` connection held for the run; bulk inserts in a session of
    their own, in one transaction.
    """
    from repo_sqlalchemy import NewUser, User
    from sqlalchemy import insert, select
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
    from sqlalchemy.orm import selectinload

    if db.kind == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{db.path}")
    elif db.kind == "mariadb":
        engine = create_async_engine(
            "mysql+asyncmy://" + db.conninfo.split("://", 1)[1],
            connect_args={"init_command": "SET time_zone = '+00:00'"},
        )
    else:
        schema = db.options.removeprefix("-c search_path=")
        engine = create_async_engine(
            "postgresql+asyncpg://" + db.conninfo.split("://", 1)[1],
            connect_args={"server_settings": {"search_path": schema}},
        )
    session = AsyncSession(engine.execution_options(isolation_level="AUTOCOMMIT"))
    size = work.sizes.preload_users
    rows = work.dicts[: work.sizes.insert_all]

    async def page(k: int) -> list[User]:
        q = select(User).where(User.id > work.starts[k]).order_by(User.id).limit(100)
        return list(await session.scalars(q))

    async def insert_all(k: int) -> None:
        async with AsyncSession(engine) as bulk, bulk.begin():
            await bulk.execute(insert(NewUser), rows)

    async def insert_one(k: int) -> NewUser:
        user = NewUser(**work.dicts[k])
        session.add(user)
        await session.commit()
        return user

    async def preload(k: int) -> list[User]:
        q = select(User).where(User.id > work.starts[k]).order_by(User.id).limit(size)
        return list(await session.scalars(q.options(selectinload(User.posts))))

    async def close() -> None:
        await session.close()
        await engine.dispose()

    ops: dict[str, AsyncOp] = {
        "get": lambda k: session.get(User, work.ids[k]),
        "list": page,
        "insert_all": insert_all,
        "insert": insert_one,
        "preload": preload,
    }
    return AsyncContender("SQLAlchemy async ORM", run, ops, close)


def contenders(run: Run, db: Database, work: Workload) -> list[Contender]:
    """The raw async drivers and repodb's AsyncRepo on the database ``db``.

    On PostgreSQL the raw psycopg baseline runs on the psycopg connection
    under repodb's, so that both run on one server process (see
    ``repo_contenders.RawContender``; on MariaDB raw asyncmy runs on the
    asyncmy connection under repodb's); raw asyncpg runs likewise on the
    asyncpg connection under the AsyncRepo on repodb's asyncpg driver.
    """
    conn: repodb.AsyncConnection = run(repodb.connect_async(db.url))
    ours = _repodb(run, conn, work)
    if db.kind == "sqlite":
        return [run(_sqlite_on_thread(run, db, work)), ours]
    if db.kind == "mariadb":
        from repodb.driver.mariadb_async import AsyncMariadbConnection

        maria = conn._driver
        assert isinstance(maria, AsyncMariadbConnection)
        return [_asyncmy(run, maria._raw, work), ours]
    from repodb.driver.postgresql_async import AsyncPostgresConnection

    driver = conn._driver
    assert isinstance(driver, AsyncPostgresConnection)
    made: list[Contender] = [_psycopg(run, driver._raw, work), ours]
    if importlib.util.find_spec("asyncpg") is not None:
        from repodb.driver.asyncpg_async import AsyncpgConnection

        on_asyncpg = run(repodb.connect_async(through_asyncpg(db.url)))
        raw = on_asyncpg._driver
        assert isinstance(raw, AsyncpgConnection)
        made.insert(1, _asyncpg(run, raw._raw, work))
        made.append(_repodb(run, on_asyncpg, work, "repodb async (asyncpg)"))
    return made


async def _nothing() -> None:
    return None  # repodb's connection closes the psycopg one under it
