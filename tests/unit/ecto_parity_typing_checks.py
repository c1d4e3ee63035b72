"""Static types of the Ecto-parity additions of issue 13 (items 5, 10, 11, 13).

Not a test module (nothing here runs): mypy checks it with the rest of
``tests/``, so ``query(Member).first()`` stays a ``Query[Member]``,
``repo.page(...)`` a ``list`` of the query's rows, and so on.
"""

from __future__ import annotations

import datetime as dt
from typing import assert_type

from repodb.expr import Expr, Func
from repodb.functions import (
    ago,
    array_append,
    array_contains,
    array_has,
    array_overlaps,
    array_remove,
    count,
    date_add,
    datetime_add,
    from_now,
    max_,
    range_between,
    rank,
    rows_between,
    sum_,
)
from repodb.query import Query, query
from repodb.repo import Repo
from repodb.repo_async import AsyncRepo
from repodb.write import Assignment, pull, push
from tests.integration.repo_models import Member, Post
from tests.integration.test_arrays import Doc


def conveniences(repo: Repo) -> None:
    assert_type(query(Member).first(), Query[Member])
    assert_type(query(Member).select(Member.name).last(Member.id), Query[str])
    assert_type(query(Member).order_by(Member.id).reverse_order(), Query[Member])
    assert_type(query(Member).order_by(Member.id).keyset(after=3, before=9), Query[Member])
    assert_type(repo.all_by(Member, name="a"), list[Member])
    assert_type(repo.page(query(Post).order_by(Post.id), 20, after=3), list[Post])
    assert_type(repo.page(query(Post).select(Post.title).order_by(Post.id), 2), list[str])
    assert_type(repo.load(Post, {"title": "x"}), Post)
    assert_type(repo.load(Post, ("x",), columns=["title"]), Post)
    assert_type(repo.explain(query(Post)), str)


async def conveniences_async(repo: AsyncRepo) -> None:
    assert_type(await repo.all_by(Member, name="a"), list[Member])
    assert_type(await repo.page(query(Post).order_by(Post.id), 20, before=3), list[Post])
    assert_type(await repo.load(Post, {"title": "x"}), Post)
    assert_type(await repo.explain(query(Post), analyze=True), str)


def date_arithmetic(
    at: Expr[dt.datetime],
    maybe: Expr[dt.datetime | None],
    day: Expr[dt.date],
    span: Expr[dt.timedelta],
) -> None:
    assert_type(datetime_add(at, 3, "day"), Expr[dt.datetime])
    assert_type(datetime_add(maybe, 3, "month"), Expr[dt.datetime | None])
    assert_type(date_add(day, 1, "year"), Expr[dt.date])
    assert_type(ago(7, "day"), Expr[dt.datetime])
    assert_type(from_now(1, "hour"), Expr[dt.datetime])
    assert_type(at + dt.timedelta(days=1), Expr[dt.datetime])
    assert_type(at - dt.timedelta(days=1), Expr[dt.datetime])
    assert_type(maybe + dt.timedelta(days=1), Expr[dt.datetime | None])
    assert_type(at + span, Expr[dt.datetime])
    assert_type(query(Post).where(Post.inserted_at > ago(1, "week")), Query[Post])


def windows_and_filters() -> None:
    assert_type(count().filter(Post.score > 3), Func[int])
    assert_type(max_(Post.title).filter(Post.score > 3), Func[str | None])
    assert_type(sum_(Post.score).over("w", frame=rows_between(-2, 0)), Expr[int | None])
    assert_type(rank().over(order_by=Post.id, frame=range_between(None, 0)), Expr[int])
    windowed = query(Post).window("w", partition_by=Post.member_id, order_by=Post.score)
    assert_type(windowed, Query[Post])
    assert_type(windowed.select(Post.title, rank().over("w")), Query[tuple[str, int]])


def arrays(tags: Expr[list[str]], nums: Expr[list[int] | None], name: Expr[str]) -> None:
    assert_type(array_has(tags, "x"), Expr[bool])
    assert_type(array_has(tags, name), Expr[bool])
    assert_type(array_has(nums, 3), Expr[bool])
    assert_type(array_contains(tags, ["a", "b"]), Expr[bool])
    assert_type(array_overlaps(nums, [1, 2]), Expr[bool])
    assert_type(array_append(tags, "x"), Expr[list[str]])
    assert_type(array_remove(nums, 1), Expr[list[int] | None])
    assert_type(push(Doc.tags, "x"), Assignment)
    assert_type(pull(Doc.nums, 2), Assignment)
    # What mypy rejects (an unneeded ignore would fail the type check):
    array_has(tags, 3)  # type: ignore[misc]
    array_append(nums, "x")  # type: ignore[misc, arg-type]
    push(Doc.label, "x")  # type: ignore[arg-type]
