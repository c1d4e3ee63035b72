"""The Repo's Ecto conveniences on SQLite and PostgreSQL.

``all_by``, ``first``/``last``, ``exists`` on any query, ``load`` (records
from raw rows), keyset pages (``page`` with ``after``/``before``) and
``explain`` give the same results on both databases.
"""

from __future__ import annotations

import datetime as dt

import pytest

import repodb
from repodb import Request
from repodb.query import query
from repodb.repo import Repo
from repodb.repo_async import AsyncRepo
from repodb.telemetry import QueryEvent

from .repo_models import Member, Post, create_tables
from .test_async_repo import run, seed

pytestmark = pytest.mark.mariadb

WHEN = dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=dt.UTC)


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    """Members a..g (ages 30, 31, None, 30, 34, None, 30) and two posts of a's."""
    create_tables(conn)
    repo = Repo(conn)
    for i, (name, age) in enumerate(zip("abcdefg", [30, 31, None, 30, 34, None, 30], strict=True)):
        repo.insert(Member(email=f"{name}@example.com", name=name, age=age, version=i + 1))
    ada = repo.get_by(Member, name="a")
    repo.insert(Post(member_id=ada.id, title="one", score=3))
    repo.insert(Post(member_id=ada.id, title="two", score=9))
    return repo


def names(members: list[Member]) -> list[str]:
    return [m.name for m in members]


def test_all_by(repo: Repo) -> None:
    assert sorted(names(repo.all_by(Member, age=30))) == ["a", "d", "g"]
    assert sorted(names(repo.all_by(Member, age=None))) == ["c", "f"]
    assert repo.all_by(Member, name="nobody") == []


def test_first_and_last(repo: Repo) -> None:
    first = repo.one(query(Member).first())
    last = repo.one(query(Member).last())
    assert (first.name, last.name) == ("a", "g")
    assert repo.one(query(Member).where(Member.age == 30).last(Member.name)).name == "g"
    oldest = query(Member).where(Member.age.is_not_null()).order_by(Member.age.desc())
    assert repo.one(oldest.first()).name == "e"
    assert repo.one_or_none(query(Member).where(Member.name == "zz").first()) is None


def test_exists_on_any_query(repo: Repo) -> None:
    by_age = query(Member).group_by(Member.age).select(Member.age)
    assert repo.exists(by_age.having(repodb.functions.count() > 2))
    assert not repo.exists(by_age.having(repodb.functions.count() > 3))
    # A union's members keep their select lists: the probe reads the union as a whole.
    nobody = query(Member).where(Member.name == "zz")
    assert repo.exists(nobody.union(query(Member).where(Member.name == "a")))
    assert not repo.exists(nobody.union(nobody))
    assert repo.exists(query(Member).distinct().select(Member.age))


def test_keyset_pages_walk_forwards_and_backwards(repo: Repo) -> None:
    ordered = query(Member).order_by(Member.version.desc())
    pages: list[list[str]] = []
    cursor: Member | None = None
    while True:
        page = repo.page(ordered, 3, after=cursor)
        if not page:
            break
        pages.append(names(page))
        cursor = page[-1]
    assert pages == [["g", "f", "e"], ["d", "c", "b"], ["a"]]
    # The page just before "c" (read backwards, returned in the query's order).
    c = repo.get_by(Member, name="c")
    assert names(repo.page(ordered, 2, before=c)) == ["e", "d"]
    assert names(repo.page(ordered, 5, before=c)) == ["g", "f", "e", "d"]
    mixed = query(Member).where(Member.age.is_not_null()).order_by(Member.age, Member.name.desc())
    assert names(repo.page(mixed, 10, after=(30, "d"))) == ["a", "b", "e"]
    assert names(repo.page(mixed, 2, before=(34, "e"))) == ["a", "b"]
    assert names(repo.page(mixed, 10, after=(30, "g"), before=(31, "b"))) == ["d", "a"]


def test_load_builds_records_from_raw_rows(repo: Repo, conn: repodb.Connection) -> None:
    stored = "2024-02-29 23:59:58.123456" if conn.dialect.name == "sqlite" else WHEN
    post = repo.load(Post, {"id": 7, "member_id": 1, "title": "raw", "inserted_at": stored})
    assert post == Post(id=7, member_id=1, title="raw", score=0, inserted_at=WHEN)
    # A row of values named by columns (column names, as SELECT * gives them).
    raw = conn.one(
        Request.one(
            "SELECT id, title, score FROM posts WHERE title = 'two'",
            row=repodb.types.tup(int, str, int),
        )
    )
    loaded = repo.load(Post, raw, columns=["id", "title", "score"])
    assert (loaded.title, loaded.score, loaded.member_id) == ("two", 9, None)
    with pytest.raises(ValueError, match="Post has no stored field or column 'nope'"):
        repo.load(Post, {"title": "x", "nope": 1})
    with pytest.raises(TypeError, match="needs columns"):
        repo.load(Post, (1, "x"))
    with pytest.raises(repodb.DecodeError):
        repo.load(Post, {"title": 5})


def test_explain_returns_the_plan(repo: Repo, conn: repodb.Connection) -> None:
    plan = repo.explain(query(Post).where(Post.title == "one").select(Post.score))
    assert isinstance(plan, str)
    if conn.dialect.name == "sqlite":
        assert plan.splitlines() == ["SCAN p0"]
        with pytest.raises(ValueError, match="no EXPLAIN ANALYZE"):
            repo.explain(query(Post), analyze=True)
    elif conn.dialect.name == "mariadb":
        # EXPLAIN FORMAT=JSON: the plan as one JSON document.
        assert '"table_name": "p0"' in plan
        assert '"attached_condition": "p0.title = \'one\'"' in plan
        analyzed = repo.explain(query(Post).where(Post.score > 5), analyze=True)
        assert '"r_loops": 1' in analyzed
    else:
        assert plan.startswith("Seq Scan on posts p0")
        assert "Filter: (title = 'one'::text)" in plan
        analyzed = repo.explain(query(Post).where(Post.score > 5), analyze=True)
        assert "actual time=" in analyzed
        assert "rows=1 loops=1" in analyzed


@pytest.mark.mariadb(absent="no asyncio MariaDB driver yet")
@pytest.mark.parametrize("source", ["connection", "pool"])
def test_the_async_repo_has_them_too(db_url: str, source: str) -> None:
    """The AsyncRepo, the source of the sync one, over a connection and a pool."""

    async def body(repo: AsyncRepo, events: list[QueryEvent]) -> None:
        await seed(repo)
        assert [m.name for m in await repo.all_by(Member, age=31)] == ["bob"]
        posts = query(Post).order_by(Post.score.desc(), Post.id)
        first = await repo.page(posts, 3)
        assert [p.title for p in first] == ["bob first", "bob second", "ada first"]
        assert [p.title for p in await repo.page(posts, 3, after=first[-1])] == ["ada second"]
        assert [p.title for p in await repo.page(posts, 1, before=first[1])] == ["bob first"]
        loaded = await repo.load(Post, (7, "raw"), columns=["id", "title"])
        assert (loaded.id, loaded.title, loaded.score) == (7, "raw", 0)
        plan = await repo.explain(query(Post).where(Post.score == 1))
        assert plan.startswith(("SCAN p0", "Seq Scan on posts p0"))
        events.clear()
        await repo.explain(query(Post))
        assert [e.sql.split()[0] for e in events] == ["EXPLAIN"]

    run(db_url, source, body)
