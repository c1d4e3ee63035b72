"""Static types of the Repo's API, pinned with ``typing.assert_type``.

Not a test module (nothing here runs): mypy checks it with the rest of
``tests/``, so ``repo.all(query(User))`` stays ``list[User]`` to a type
checker, and so on for every read, transaction handle and typed request.
"""

from __future__ import annotations

from typing import Any, assert_type

from repodb import Request
from repodb.functions import count
from repodb.query import query
from repodb.repo import Repo, RepoStream, RepoTransaction, TransactionRepo, WriteResult
from repodb.types import tup
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
    assert_type(repo.aggregate(query(Member), "count"), Any)
    assert_type(repo.stream(query(Member)), RepoStream[Member])
    assert_type(repo.reload(Member(email="x", name="x")), Member)
    assert_type(repo.reload([Member(email="x", name="x")]), list[Member])
    assert_type(repo.one(query(Member).select(count())), int)


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
