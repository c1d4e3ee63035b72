"""Static types of the query DSL, pinned with ``typing.assert_type``.

Not a test module (pytest does not collect it and nothing here runs): mypy
checks it with the rest of ``tests/``, so a change that loosens or breaks the
inferred types of queries, selects and expressions fails the type check.
``test_query_typing.py`` checks what mypy rejects.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar, assert_type

from repodb.expr import Column, Expr, Func, Subquery
from repodb.functions import (
    avg,
    case,
    cast,
    coalesce,
    count,
    date_trunc,
    fragment,
    json_get,
    json_text,
    length,
    lower,
    max_,
    min_,
    now,
    row_number,
    sum_,
    upper,
)
from repodb.query import (
    Parent,
    Query,
    Ref,
    alias,
    assoc,
    exists,
    from_,
    parent_as,
    query,
    ref,
    subquery,
)
from repodb.schema import Assoc, AssocInfo, Col, Schema, belongs_to, field, has_many
from repodb.write import Assignment, set_


class Account(Schema, table="accounts"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    nick: Col[str | None] = field(default=None)
    age: Col[int | None] = field(default=None)
    balance: Col[Decimal]
    score: Col[float]
    seen: Col[dt.datetime | None] = field(default=None)
    orders: ClassVar[Assoc[list[Order]]] = has_many(lambda: Order, foreign_key="account_id")


class Order(Schema, table="orders"):
    id: Col[int] = field(primary_key=True, default=None)
    account_id: Col[int]
    total: Col[Decimal]
    account: ClassVar[Assoc[Account | None]] = belongs_to(Account, foreign_key="account_id")


def check_queries() -> None:
    assert_type(query(Account), Query[Account])
    assert_type(from_(Account), Query[Account])
    assert_type(query(Account).where(Account.age >= 18).order_by(Account.name), Query[Account])
    assert_type(query(Account).where(name="x").limit(3).offset(1), Query[Account])
    assert_type(query(Account).join("orders").left_join(Order, Order.id == 1), Query[Account])
    assert_type(query(Account).exclude("where", "order_by"), Query[Account])
    assert_type(query(Account).exclude("select"), Query[Any])


def check_select() -> None:
    q = query(Account)
    assert_type(q.select(Account.id, Account.name), Query[tuple[int, str]])
    assert_type(q.select(Account.name), Query[str])
    assert_type(q.select(Account.age), Query[int | None])
    assert_type(q.select(Account), Query[Account])
    assert_type(q.join("orders").select(Order), Query[Order])
    assert_type(q.select(Account, Account.age), Query[tuple[Account, int | None]])
    assert_type(q.select({"n": count()}), Query[dict[str, Any]])
    assert_type(q.select(count()), Query[int])
    assert_type(
        q.select(Account.id, Account.name, Account.age, Account.balance),
        Query[tuple[int, str, int | None, Decimal]],
    )
    assert_type(
        q.select(
            Account.id,
            Account.name,
            Account.nick,
            Account.age,
            Account.balance,
            Account.score,
            Account.seen,
            Account.id,
        ),
        Query[tuple[int, str, str | None, int | None, Decimal, float, dt.datetime | None, int]],
    )
    assert_type(q.select_merge(name=upper(Account.name)), Query[Account])


def check_bindings() -> None:
    other = alias(Account, "other")
    assert_type(other, type[Account])
    assert_type(other.name, Column[str])
    assert_type(query(other), Query[Account])
    assert_type(ref("s"), Ref)
    assert_type(ref("s").total, Column[Any])
    assert_type(Account.orders, AssocInfo[list[Order]])
    outer = parent_as("a", Account)
    assert_type(outer, type[Account])
    assert_type(outer.age, Column[int | None])
    assert_type(parent_as("a"), Parent)
    assert_type(parent_as("a").total, Column[Any])
    assert_type(assoc(Account(name="a", balance=Decimal(0), score=0.0), "orders"), Query[Any])
    account = Account(name="a", balance=Decimal(0), score=0.0)
    assert_type(assoc(account, Account.orders), Query[Order])
    assert_type(assoc([account, account], Account.orders), Query[Order])
    assert_type(assoc(Order(account_id=1, total=Decimal(1)), Order.account), Query[Account])


def check_subqueries() -> None:
    ids = query(Order).select(Order.account_id)
    assert_type(subquery(ids), Subquery[int])
    assert_type(query(subquery(query(Account)), as_="s"), Query[Account])
    assert_type(Account.id.in_(ids), Expr[bool])
    assert_type(Account.id.in_([1, 2]), Expr[bool])
    assert_type(exists(ids), Expr[bool])


def check_expressions() -> None:
    assert_type(Account.age >= 18, Expr[bool])
    assert_type((Account.age >= 18) & (Account.name == "x"), Expr[bool])
    assert_type(~(Account.age >= 18), Expr[bool])
    assert_type(Account.age + 1, Expr[int | None])
    assert_type(Account.name.like("a%"), Expr[bool])
    assert_type(Account.nick.ilike("a%"), Expr[bool])
    assert_type(Account.age.between(1, 2), Expr[bool])
    assert_type(Account.name.label("n"), Expr[str])
    assert_type(coalesce(Account.age, 0), Expr[int])
    assert_type(coalesce(Account.nick, Account.name), Expr[str])
    assert_type(case((Account.age < 18, "minor"), else_="adult"), Expr[str])
    assert_type(case((Account.age < 18, "minor")), Expr[str | None])
    assert_type(cast(Account.age, str), Expr[str])
    assert_type(fragment("lower(?)", Account.name), Expr[Any])
    assert_type(fragment("length(?)", Account.name, type_=int), Expr[int])
    assert_type(json_get(Account.name, "a"), Expr[Any])
    assert_type(json_text(Account.name, "a", 0), Expr[str | None])


def check_functions() -> None:
    assert_type(count(), Func[int])
    assert_type(count(Account.age, distinct=True), Func[int])
    assert_type(sum_(Account.balance), Func[Decimal | None])
    assert_type(sum_(Account.age), Func[int | None])
    assert_type(avg(Account.age), Func[float | None])
    assert_type(avg(Account.score), Func[float | None])
    assert_type(avg(Account.balance), Func[Decimal | None])
    assert_type(min_(Account.name), Func[str | None])
    assert_type(max_(Account.seen), Func[dt.datetime | None])
    assert_type(lower(Account.name), Func[str])
    assert_type(upper(Account.nick), Func[str | None])
    assert_type(length(Account.name), Func[int])
    assert_type(length(Account.nick), Func[int | None])
    assert_type(now(), Expr[dt.datetime])
    assert_type(date_trunc("day", Account.seen), Expr[dt.datetime | None])
    assert_type(row_number().over(partition_by=Account.name), Expr[int])
    assert_type(sum_(Account.age).over(order_by=Account.id.desc()), Expr[int | None])


def check_writes() -> None:
    assert_type(set_(Account.name, "x"), Assignment)
    assert_type(set_(Account.age, Account.age + 1), Assignment)
    assert_type(set_(Account.age, None), Assignment)


def check_aggregates_of_nullable_columns_in_select() -> None:
    # The aggregate's type comes from its argument, not from select's context.
    assert_type(query(Account).select(max_(Account.age)), Query[int | None])
    assert_type(query(Account).select(min_(Account.nick)), Query[str | None])
    assert_type(
        query(Account).select(sum_(Account.age), max_(Account.balance)),
        Query[tuple[int | None, Decimal | None]],
    )
