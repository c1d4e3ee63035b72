"""Static types of the Repo's API, pinned with ``typing.assert_type``.

Not a test module (nothing here runs): mypy checks it with the rest of
``tests/``, so ``repo.all(query(User))`` stays ``list[User]`` to a type
checker, and so on for every read, aggregate, bulk write, transaction
handle, typed request and Multi result.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, assert_type

from repodb import Prepared, Request, param, prepare
from repodb.functions import count
from repodb.multi import Key, Multi, Results
from repodb.query import query
from repodb.repo import Repo, RepoStream, RepoTransaction, TransactionRepo, WriteResult
from repodb.types import tup
from tests.integration.query_models import Author
from tests.integration.repo_models import Badge, Member, Post


def reads(repo: Repo) -> None:
    assert_type(repo.all(query(Member)), list[Member])
    assert_type(repo.all(query(Member).select(Member.name)), list[str])
    assert_type(
        repo.all(query(Member).select(Member.name, Member.age)), list[tuple[str, int | None]]
    )
    assert_type(repo.one(query(Post)), Post)
    assert_type(repo.one_or_none(query(Post)), Post | None)
    assert_type(repo.get(Member, 1), Member)
    assert_type(repo.get_or_none(Badge, (1, "gold")), Badge | None)
    assert_type(repo.get_by(Member, email="x"), Member)
    assert_type(repo.get_by_or_none(Member, email="x"), Member | None)
    assert_type(repo.exists(query(Member)), bool)
    by_email = prepare(query(Member).where(Member.email == param("email")))
    assert_type(by_email, Prepared[Member])
    assert_type(repo.all(by_email, {"email": "x"}), list[Member])
    assert_type(repo.one(by_email, {"email": "x"}), Member)
    assert_type(repo.one_or_none(by_email, {"email": "x"}), Member | None)
    names = prepare(query(Member).where(Member.age > param("age")).select(Member.name))
    assert_type(repo.all(names, {"age": 1}, prefix="t"), list[str])
    assert_type(repo.aggregate(query(Member), "count"), int)
    assert_type(repo.stream(query(Member)), RepoStream[Member])
    assert_type(repo.stream(by_email, {"email": "x"}, batch_size=10), RepoStream[Member])
    assert_type(repo.stream(names, {"age": 1}), RepoStream[str])
    assert_type(repo.exists(by_email, {"email": "x"}), bool)
    assert_type(repo.explain(by_email, {"email": "x"}, analyze=True), str)
    assert_type(repo.reload(Member(email="x", name="x")), Member)
    assert_type(repo.reload([Member(email="x", name="x")]), list[Member])
    assert_type(repo.one(query(Member).select(count())), int)


def aggregates(repo: Repo) -> None:
    # What both databases return (tests/integration/test_repo_read.py checks the classes).
    authors = query(Author)
    assert_type(repo.aggregate(authors, "count"), int)
    assert_type(repo.aggregate(authors, "count", Author.age), int)
    assert_type(repo.aggregate(authors, "count", "age"), int)
    assert_type(repo.aggregate(authors, "sum", Author.id), int | None)
    assert_type(repo.aggregate(authors, "sum", Author.age), int | None)
    assert_type(repo.aggregate(authors, "sum", Author.score), float | None)
    assert_type(repo.aggregate(authors, "sum", Author.balance), Decimal | None)
    assert_type(repo.aggregate(authors, "avg", Author.id), float | None)
    assert_type(repo.aggregate(authors, "avg", Author.age), float | None)
    assert_type(repo.aggregate(authors, "avg", Author.score), float | None)
    assert_type(repo.aggregate(authors, "avg", Author.balance), Decimal | None)
    assert_type(repo.aggregate(authors, "min", Author.name), str | None)
    assert_type(repo.aggregate(authors, "max", Author.age), int | None)
    assert_type(repo.aggregate(authors, "max", Author.joined_at), dt.datetime | None)
    # A field named by a string has no static type.
    assert_type(repo.aggregate(authors, "max", "age"), object)
    # A prepared query, its parameters' values next: the same types.
    older = prepare(query(Author).where(Author.age > param("age")))
    values = {"age": 30}
    assert_type(repo.aggregate(older, values, "count"), int)
    assert_type(repo.aggregate(older, values, "count", Author.age), int)
    assert_type(repo.aggregate(older, None, "sum", Author.id), int | None)
    assert_type(repo.aggregate(older, values, "sum", Author.age), int | None)
    assert_type(repo.aggregate(older, values, "sum", Author.balance), Decimal | None)
    assert_type(repo.aggregate(older, values, "avg", Author.age), float | None)
    assert_type(repo.aggregate(older, values, "avg", Author.balance), Decimal | None)
    assert_type(repo.aggregate(older, values, "min", Author.name), str | None)
    assert_type(repo.aggregate(older, values, "max", Author.joined_at), dt.datetime | None)
    assert_type(repo.aggregate(older, values, "max", "age"), object)


def requests(repo: Repo) -> None:
    many = Request.many("SELECT name FROM members WHERE age > ?", params=int, row=str)
    one = Request.one("SELECT count(*) FROM members", row=int)
    maybe = Request.one_or_none(
        "SELECT name, age FROM members WHERE id = ?", params=int, row=tup(str, int)
    )
    assert_type(repo.all(many, 3), list[str])
    assert_type(repo.one(one), int)
    assert_type(repo.one_or_none(maybe, 1), tuple[str, int] | None)
    assert_type(repo.exec(Request.exec("DELETE FROM members")), int)


def transactions(repo: Repo) -> None:
    assert_type(repo.transaction(), RepoTransaction)
    with repo.transaction() as tx:
        assert_type(tx, TransactionRepo)
        assert_type(tx.all(query(Member)), list[Member])
    # None after tx.rollback() in the function.
    assert_type(repo.transaction(lambda tx: tx.get(Member, 1)), Member | None)


def writes(repo: Repo) -> None:
    assert_type(repo.insert_all(Member, [{"email": "x", "name": "x"}]), WriteResult[None])
    assert_type(
        repo.insert_all(Member, [{"email": "x", "name": "x"}], returning=True), WriteResult[Member]
    )
    assert_type(
        repo.insert_all(Member, [{"email": "x", "name": "x"}], returning=["id"]),
        WriteResult[tuple[Any, ...]],
    )
    members = query(Member).where(Member.age > 30)
    assert_type(repo.update_all(members, set={"age": 31}), WriteResult[None])
    assert_type(repo.update_all(members, set={"age": 31}, returning=True), WriteResult[Member])
    assert_type(repo.update_all(members, set={"age": 31}).count, int)
    assert_type(repo.update_all(members, set={"age": 31}, returning=True).rows, list[Member])
    assert_type(
        repo.update_all(members, set={"age": 31}, returning=["id"]), WriteResult[tuple[Any, ...]]
    )
    assert_type(repo.delete_all(members), WriteResult[None])
    assert_type(repo.delete_all(members, returning=True).rows, list[Member])
    assert_type(repo.delete_all(members, returning=[Member.id]), WriteResult[tuple[Any, ...]])


MEMBER = Key[Member]("member")
COUNT = Key[int]("count")
POSTS = Key[WriteResult[Post]]("posts")


def multis(repo: Repo) -> None:
    multi = (
        Multi()
        .insert(MEMBER, Member(email="x", name="x"))
        .insert_all(
            POSTS, Post, lambda r: [Post(member_id=r[MEMBER].id, title="t")], returning=True
        )
        .run(COUNT, lambda tx, r: tx.aggregate(query(Post), "count"))
    )
    results = repo.transaction(multi)
    assert_type(results, Results)
    assert_type(results[MEMBER], Member)
    assert_type(results[COUNT], int)
    assert_type(results[POSTS].rows, list[Post])
    # A step named by a str has no static type.
    assert_type(results["member"], Any)


def reloads_and_preloads(repo: Repo) -> None:
    member = Member(email="x", name="x")
    assert_type(repo.reload_or_none(member), Member | None)
    assert_type(repo.reload_or_none([member]), list[Member | None])
    assert_type(repo.preload(member, "posts", force=False), Member)
    assert_type(repo.preload([member], "posts", force=False), list[Member])
