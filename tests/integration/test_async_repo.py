"""The asyncio Repo, end to end, on every database and over both async sources.

``AsyncRepo`` is the source the sync ``Repo`` is generated from, so the
Repo's own tests cover its logic through the generated twin; these tests
run each operation once on the async side, over an ``AsyncConnection`` and
over an ``AsyncPool``: reads (all, one, get, get_by, exists, aggregate),
writes with changesets and has_many children, insert_all (by COPY on
PostgreSQL), update_all, delete_all and an upsert, preloads (nested, and
joined by a query), ``stream`` as an async iterator, reload, a transaction
with a rollback (a function and an ``async with`` block), a Multi whose
``run`` steps are ``async def`` functions, and its ``MultiError``. Each test
is a plain function running ``asyncio.run`` (no pytest plugin), every wait
bounded by ``asyncio.timeout``. A transaction whose task is cancelled while
its statement runs rolls back and leaves the source serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, assert_type

import pytest

import repodb
from repodb import AsyncRepo, MultiError, Request, WriteResult
from repodb.changeset import cast, change
from repodb.multi import Key, Results
from repodb.multi_async import AsyncMulti
from repodb.pool_async import AsyncPool
from repodb.query import query
from repodb.repo_async import AsyncRepoStream, AsyncTransactionRepo
from repodb.telemetry import QueryEvent
from tests.conftest import CONNECT_TIMEOUT, STATEMENT_TIMEOUT, dialect_of, open_conn, sync_twin
from tests.integration.repo_models import Comment, Member, Post, create_tables
from tests.integration.test_async_pool import SLOW

# Every test here runs on PostgreSQL through both async drivers, psycopg and asyncpg.
# MariaDB too (asyncmy), as the sync suites marked so.
pytestmark = pytest.mark.mariadb


@pytest.fixture
def db_url(async_db_url: str) -> str:
    return async_db_url


# Every test body is bounded by this, well under pytest-timeout's 120 s.
BOUND = 30.0

Body = Callable[[AsyncRepo, list[QueryEvent]], Awaitable[None]]


@asynccontextmanager
async def async_repo(url: str, source: str, events: list[QueryEvent]) -> AsyncIterator[AsyncRepo]:
    """An AsyncRepo over ``source`` ("connection" or "pool") on ``url``."""
    if source == "connection":
        async with await repodb.connect_async(
            url, connect_timeout=CONNECT_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT
        ) as conn:
            yield AsyncRepo(conn, on_event=events.append)
    else:
        async with AsyncPool(
            url, max_size=3, connect_timeout=CONNECT_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT
        ) as pool:
            yield AsyncRepo(pool, on_event=events.append)


def run(url: str, source: str, body: Body) -> None:
    """Create the blog tables on ``url``, then run ``body`` on an AsyncRepo, bounded."""
    with open_conn(sync_twin(url)) as conn:
        create_tables(conn)

    async def bounded() -> None:
        async with asyncio.timeout(BOUND):
            events: list[QueryEvent] = []
            async with async_repo(url, source, events) as repo:
                await body(repo, events)

    asyncio.run(bounded())


SOURCES = pytest.mark.parametrize("source", ["connection", "pool"])


def member_form(email: str, name: str, **more: Any) -> repodb.Changeset[Member]:
    params = {"email": email, "name": name, **more}
    return cast(Member, params, ["email", "name", "age"]).unique_constraint("email")


async def seed(repo: AsyncRepo) -> list[Member]:
    """Two members, each with two posts; the first post of each has a comment."""
    members = []
    for i, name in enumerate(["ada", "bob"]):
        form = member_form(f"{name}@example.com", name, age=30 + i)
        member = await repo.insert(form)
        assert member.id is not None
        for title in ("first", "second"):
            post = await repo.insert(Post(member_id=member.id, title=f"{name} {title}", score=i))
            if title == "first":
                await repo.insert(Comment(post_id=post.id, body=f"on {name}"))
        members.append(member)
    return members


@SOURCES
def test_reads(db_url: str, source: str) -> None:
    async def body(repo: AsyncRepo, events: list[QueryEvent]) -> None:
        ada, bob = await seed(repo)
        members = await repo.all(query(Member).order_by(Member.id))
        assert [m.name for m in members] == ["ada", "bob"]
        assert (await repo.one(query(Member).where(Member.name == "bob"))).id == bob.id
        assert await repo.one_or_none(query(Member).where(Member.name == "eve")) is None
        assert (await repo.get(Member, ada.id)).email == "ada@example.com"
        assert await repo.get_or_none(Member, -1) is None
        assert (await repo.get_by(Member, email="bob@example.com")).id == bob.id
        assert await repo.exists(query(Post).where(Post.title == "ada first"))
        assert not await repo.exists(query(Post).where(Post.title == "nothing"))
        assert await repo.aggregate(query(Post), "count") == 4
        assert await repo.aggregate(query(Post), "sum", Post.score) == 2
        with pytest.raises(repodb.NotFound):
            await repo.get(Member, -1)
        assert events
        assert all(e.error is None for e in events)

    run(db_url, source, body)


@SOURCES
def test_writes_with_changesets_and_children(db_url: str, source: str) -> None:
    async def body(repo: AsyncRepo, events: list[QueryEvent]) -> None:
        form = cast(
            Member,
            {"email": "ada@example.com", "name": "Ada", "posts": [{"title": "a"}]},
            ["email", "name"],
        ).cast_assoc("posts")
        ada = await repo.insert(form)
        assert ada.id is not None
        assert [p.title for p in ada.posts] == ["a"]
        assert ada.posts[0].member_id == ada.id
        renamed = await repo.update(change(ada, name="Ada L."))
        assert renamed.name == "Ada L."
        assert renamed.updated_at is not None
        duplicate = member_form("ada@example.com", "twin")
        with pytest.raises(repodb.InvalidChangesetError) as info:
            await repo.insert(duplicate)
        assert "email" in {e.field for e in info.value.changeset.errors}
        for post in await repo.all(query(Post)):
            await repo.delete(post)
        await repo.delete(renamed)
        assert await repo.all(query(Member)) == []

    run(db_url, source, body)


@SOURCES
def test_bulk_writes_and_upsert(db_url: str, source: str) -> None:
    async def body(repo: AsyncRepo, events: list[QueryEvent]) -> None:
        rows = [{"email": f"m{i}@example.com", "name": f"m{i}"} for i in range(50)]
        added = await repo.insert_all(Member, rows)
        assert added.count == 50
        # PostgreSQL takes plain rows by COPY; SQLite by multi-row VALUES.
        assert events[-1].sql.startswith("COPY") == db_url.startswith("postgresql")
        updated = await repo.update_all(query(Member).where(Member.name == "m1"), set={"age": 7})
        assert updated.count == 1
        assert (await repo.get_by(Member, name="m1")).age == 7
        upserted = await repo.insert_all(
            Member,
            [{"email": "m2@example.com", "name": "two"}, {"email": "new@example.com", "name": "n"}],
            on_conflict=["name"],
            conflict_target=["email"],
            returning=True,
        )
        assert (upserted.inserted, upserted.updated) == (1, 1)
        assert sorted(m.name for m in upserted.rows) == ["n", "two"]
        deleted = await repo.delete_all(query(Member).where(Member.name.like("m%")))
        assert deleted.count == 49
        assert await repo.aggregate(query(Member), "count") == 2

    run(db_url, source, body)


@SOURCES
def test_preload_stream_reload(db_url: str, source: str) -> None:
    async def body(repo: AsyncRepo, events: list[QueryEvent]) -> None:
        ada, bob = await seed(repo)
        loaded = await repo.preload([ada, bob], "posts__comments")
        assert [len(m.posts) for m in loaded] == [2, 2]
        assert sorted(len(p.comments) for p in loaded[0].posts) == [0, 1]
        by_query = await repo.all(query(Member).order_by(Member.id).preload("posts__comments"))
        assert [sorted(p.title for p in m.posts) for m in by_query] == [
            ["ada first", "ada second"],
            ["bob first", "bob second"],
        ]
        single = await repo.preload(ada, "posts")
        assert len(single.posts) == 2
        async with repo.stream(query(Post).order_by(Post.id), batch_size=3) as posts:
            titles = [p.title async for p in posts]
        assert titles == ["ada first", "ada second", "bob first", "bob second"]
        stream = repo.stream(query(Post), batch_size=1)
        assert (await anext(stream)).title
        await stream.close()
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
        # A stream never iterated holds no connection.
        await repo.stream(query(Post)).close()
        await repo.update_all(query(Member), set={"age": 99})
        assert (await repo.reload(ada)).age == 99
        assert [m.age for m in await repo.reload([ada, bob])] == [99, 99]
        await repo.delete_all(query(Comment))
        await repo.delete_all(query(Post))
        await repo.delete(bob)
        assert await repo.reload_or_none(bob) is None

    run(db_url, source, body)


@SOURCES
def test_transactions(db_url: str, source: str) -> None:
    async def body(repo: AsyncRepo, events: list[QueryEvent]) -> None:
        async def add_two(tx: AsyncTransactionRepo) -> int:
            await tx.insert(member_form("a@example.com", "a"))
            await tx.insert(member_form("b@example.com", "b"))
            return await tx.aggregate(query(Member), "count")

        assert await repo.transaction(add_two) == 2

        async def undone(tx: AsyncTransactionRepo) -> int:
            await tx.insert(member_form("c@example.com", "c"))
            tx.rollback()
            return 0

        assert await repo.transaction(undone) is None

        async def failing() -> None:
            async with repo.transaction() as tx:
                await tx.insert(member_form("d@example.com", "d"))
                raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await failing()
        async with repo.transaction() as tx:
            await tx.insert(member_form("e@example.com", "e"))
            # A nested block is a savepoint.
            async with tx.transaction() as inner:
                await inner.insert(member_form("f@example.com", "f"))
                inner.rollback()
        names = await repo.all(query(Member).order_by(Member.name).select(Member.name))
        assert names == ["a", "b", "e"]

    run(db_url, source, body)


ADA: Key[Member] = Key("ada")
NAMES: Key[list[str]] = Key("names")


@SOURCES
def test_multi_with_async_steps(db_url: str, source: str) -> None:
    async def body(repo: AsyncRepo, events: list[QueryEvent]) -> None:
        async def names(tx: AsyncTransactionRepo, results: Results) -> list[str]:
            return [m.name for m in await tx.all(query(Member).order_by(Member.name))]

        async def fail(tx: AsyncTransactionRepo, results: Results) -> None:
            raise RuntimeError("step failed")

        multi = (
            AsyncMulti()
            .insert(ADA, member_form("ada@example.com", "ada"))
            .update("renamed", lambda r: change(r[ADA], name="ada l."))
            .run(NAMES, names)
        )
        results = await repo.transaction(multi)
        assert results[NAMES] == ["ada l."]
        with pytest.raises(MultiError) as info:
            await repo.transaction(
                AsyncMulti().insert("bob", member_form("bob@example.com", "bob")).run("fail", fail)
            )
        assert info.value.step == "fail"
        assert isinstance(info.value.error, RuntimeError)
        assert info.value.results["bob"].id is not None
        with pytest.raises(MultiError) as invalid:
            await repo.transaction(AsyncMulti().insert("twin", member_form("ada@example.com", "t")))
        assert invalid.value.changeset is not None
        assert await repo.all(query(Member).select(Member.name)) == ["ada l."]

    run(db_url, source, body)


@SOURCES
def test_a_cancelled_transaction_rolls_back_and_gives_its_connection_back(
    db_url: str, source: str
) -> None:
    slow_sql = SLOW[dialect_of(db_url)]

    async def body(repo: AsyncRepo, events: list[QueryEvent]) -> None:
        async def slow(tx: AsyncTransactionRepo) -> None:
            await tx.insert(member_form("a@example.com", "a"))
            await tx.exec(Request.exec(slow_sql))

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await repo.transaction(slow)
        if isinstance(repo.source, repodb.AsyncConnection) and repo.source.closed:
            # MariaDB: the interrupted statement closed its connection (a
            # pool opens another); the rest runs on a new one.
            assert db_url.startswith("mariadb")
            async with async_repo(db_url, source, events) as fresh:
                await afterwards(fresh)
            return
        await afterwards(repo)

    async def afterwards(repo: AsyncRepo) -> None:
        assert await repo.all(query(Member)) == []
        await repo.insert(member_form("b@example.com", "b"))
        assert await repo.all(query(Member).select(Member.name)) == ["b"]
        if isinstance(repo.source, AsyncPool):
            assert repo.source.stats().in_use == 0

    run(db_url, source, body)


def test_async_repo_takes_only_a_source() -> None:
    with pytest.raises(TypeError, match="AsyncRepo takes"):
        AsyncRepo(object())  # type: ignore[arg-type]


async def _static_types(repo: AsyncRepo) -> None:
    """Not run: mypy checks that the async Repo is typed as the sync one."""
    assert_type(await repo.all(query(Member)), list[Member])
    assert_type(await repo.all(query(Member).select(Member.name)), list[str])
    assert_type(await repo.one(query(Post)), Post)
    assert_type(await repo.one_or_none(query(Post)), Post | None)
    assert_type(await repo.get(Member, 1), Member)
    assert_type(await repo.get_by_or_none(Member, email="x"), Member | None)
    assert_type(await repo.exists(query(Member)), bool)
    assert_type(await repo.aggregate(query(Member), "count"), int)
    assert_type(repo.stream(query(Member)), AsyncRepoStream[Member])
    assert_type(await repo.insert_all(Member, [], returning=True), WriteResult[Member])
    assert_type(await repo.reload([Member(email="x", name="x")]), list[Member])

    async def count(tx: AsyncTransactionRepo) -> int:
        return await tx.aggregate(query(Member), "count")

    assert_type(await repo.transaction(count), int | None)

    async def names(tx: AsyncTransactionRepo, results: Results) -> list[str]:
        return ["x"]

    assert_type((await repo.transaction(AsyncMulti().run(NAMES, names)))[NAMES], list[str])
