"""The Repo's reads, typed requests, streams and transactions, on SQLite and PostgreSQL.

Rows are written with plain typed requests here, so these tests depend on
nothing but the read path and the transaction handle.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest

import repodb
from repodb import MultipleResults, NotFound, Request, UniqueViolation
from repodb.functions import count, max_
from repodb.query import query
from repodb.repo import Repo, TransactionRepo
from repodb.types import tup
from tests.conftest import open_conn

from .repo_models import Badge, Member, Post, create_tables

pytestmark = pytest.mark.mariadb

ADD_MEMBER = Request.one(
    "INSERT INTO members (email, name, age) VALUES (?, ?, ?) RETURNING id",
    params=tup(str, str, int),
    row=int,
)
ADD_POST = Request.exec(
    "INSERT INTO posts (member_id, title, score) VALUES (?, ?, ?)", params=tup(int, str, int)
)
COUNT_MEMBERS = Request.one("SELECT count(*) FROM members", row=int)


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    """A repo on ``conn`` with the blog tables: ada (36, 3 posts), bob (40, 1), cy (no age)."""
    create_tables(conn)
    ada = conn.one(ADD_MEMBER, ("ada@example.com", "ada", 36))
    bob = conn.one(ADD_MEMBER, ("bob@example.com", "bob", 40))
    conn.exec(Request.exec("INSERT INTO members (email, name) VALUES ('cy@example.com', 'cy')"))
    for title, score in [("a1", 5), ("a2", 7), ("a3", 7)]:
        conn.exec(ADD_POST, (ada, title, score))
    conn.exec(ADD_POST, (bob, "b1", 1))
    return Repo(conn)


def names(members: list[Member]) -> list[str]:
    return [m.name for m in members]


def test_all_decodes_schema_instances_in_order(repo: Repo) -> None:
    members = repo.all(query(Member).order_by(Member.name))
    assert names(members) == ["ada", "bob", "cy"]
    assert all(type(m) is Member for m in members)
    ada = members[0]
    assert (ada.email, ada.age, ada.version, ada.password) == ("ada@example.com", 36, 1, None)
    assert ada.id is not None
    # An association that was not preloaded says so instead of looking empty.
    with pytest.raises(RuntimeError, match="not loaded"):
        len(ada.posts)


def test_all_returns_what_the_query_selects(repo: Repo) -> None:
    assert repo.all(query(Member).order_by(Member.name).select(Member.name)) == ["ada", "bob", "cy"]
    pairs = repo.all(
        query(Post)
        .join("member")
        .group_by(Member.name)
        .order_by(Member.name)
        .select(Member.name, count())
    )
    assert pairs == [("ada", 3), ("bob", 1)]
    dicts = repo.all(query(Member).where(name="bob").select({"n": Member.name, "a": Member.age}))
    assert dicts == [{"n": "bob", "a": 40}]


def test_one_and_one_or_none(repo: Repo) -> None:
    assert repo.one(query(Member).where(name="bob")).age == 40
    assert repo.one_or_none(query(Member).where(name="nobody")) is None
    with pytest.raises(NotFound):
        repo.one(query(Member).where(name="nobody"))
    with pytest.raises(MultipleResults):
        repo.one(query(Member))
    with pytest.raises(MultipleResults):
        repo.one_or_none(query(Member))


def test_get_and_get_by(repo: Repo) -> None:
    bob = repo.get_by(Member, email="bob@example.com")
    assert bob.id is not None
    assert repo.get(Member, bob.id) == bob
    assert repo.get_or_none(Member, 10_000) is None
    with pytest.raises(NotFound, match="Member with primary key 10000"):
        repo.get(Member, 10_000)
    assert repo.get_by_or_none(Member, email="nobody@example.com") is None
    with pytest.raises(MultipleResults):
        repo.get_by(Member, version=1)


def test_get_with_a_composite_key(repo: Repo, conn: repodb.Connection) -> None:
    bob = repo.get_by(Member, name="bob")
    assert bob.id is not None
    conn.exec(
        Request.exec(
            "INSERT INTO badges (member_id, kind, level) VALUES (?, 'gold', 3)", params=int
        ),
        bob.id,
    )
    assert repo.get(Badge, (bob.id, "gold")) == Badge(member_id=bob.id, kind="gold", level=3)
    assert repo.get_or_none(Badge, (bob.id, "silver")) is None
    with pytest.raises(TypeError, match="2-field primary key"):
        repo.get(Badge, bob.id)


def test_a_key_of_the_wrong_type_is_an_encode_error(repo: Repo) -> None:
    with pytest.raises(repodb.EncodeError):
        repo.get(Member, "1")


# Called through Any: these are the mistakes mypy reports, made by code it does not check.
ANY_REPO: Any = Repo
MISUSES: dict[str, tuple[Callable[[Any, Any], object], str]] = {
    "Repo(object)": (lambda r, c: ANY_REPO(object()), "Repo takes a Connection"),
    "all(str)": (lambda r, c: r.all("SELECT 1"), "all() takes a query"),
    "one(object)": (lambda r, c: r.one(object()), "one() takes a query"),
    "one_or_none(None)": (lambda r, c: r.one_or_none(None), "one_or_none() takes a query"),
    "exists(schema)": (lambda r, c: r.exists(Member), "exists() takes a query"),
    "stream(str)": (lambda r, c: r.stream("posts"), "stream() takes a query"),
    "aggregate(object)": (lambda r, c: r.aggregate(object(), "count"), "aggregate() takes"),
    "get(object)": (lambda r, c: r.get(object(), 1), "expected a Schema class"),
    "insert_all(str)": (lambda r, c: r.insert_all("members", []), "expected a Schema class"),
    "insert(object)": (lambda r, c: r.insert(object()), "insert() takes a record"),
    "insert(schema class)": (lambda r, c: r.insert(Member), "insert() takes a record"),
    "update(record)": (lambda r, c: r.update(r.get(Member, 1)), "update() takes a Changeset"),
    "delete(dict)": (lambda r, c: r.delete({"id": 1}), "delete() takes a record"),
    "insert_or_update(1)": (lambda r, c: r.insert_or_update(1), "insert_or_update() takes"),
    "conn.one(str)": (lambda r, c: c.one("SELECT 1"), "expected a typed Request"),
    "conn.all(object)": (lambda r, c: c.all(object()), "expected a typed Request"),
}


@pytest.mark.parametrize("misuse", list(MISUSES))
def test_a_wrong_argument_is_a_type_error_saying_what_is_expected(
    repo: Repo, conn: repodb.Connection, misuse: str
) -> None:
    # Not an AttributeError from deep inside: the call names what it takes,
    # and nothing reached the database.
    call, message = MISUSES[misuse]
    with pytest.raises(TypeError, match=re.escape(message)):
        call(repo, conn)
    assert conn.one(COUNT_MEMBERS) == 3
    assert not conn.in_transaction


def test_exists(repo: Repo) -> None:
    assert repo.exists(query(Member).where(Member.age > 39))
    assert not repo.exists(query(Member).where(Member.age > 40))
    assert repo.exists(query(Member).order_by(Member.name).limit(1))
    assert not repo.exists(query(Member).order_by(Member.name).offset(3))


def test_aggregate(repo: Repo) -> None:
    assert repo.aggregate(query(Member), "count") == 3
    assert repo.aggregate(query(Member), "count", Member.age) == 2
    assert repo.aggregate(query(Member), "sum", Member.age) == 76
    assert repo.aggregate(query(Member), "max", "age") == 40
    assert repo.aggregate(query(Member), "min", Member.age) == 36
    assert repo.aggregate(query(Member), "avg", Member.age) == pytest.approx(38.0)
    assert repo.aggregate(query(Member).where(name="nobody"), "sum", Member.age) is None


def test_aggregate_over_limit_and_distinct_uses_a_subquery(repo: Repo) -> None:
    by_score = query(Post).order_by(Post.score.desc(), Post.id)
    # The two best scores are 7 and 7: the limit applies before the sum.
    assert repo.aggregate(by_score.limit(2), "sum", Post.score) == 14
    assert repo.aggregate(by_score.limit(2), "count") == 2
    assert repo.aggregate(by_score.offset(3), "count") == 1
    distinct_scores = query(Post).select(Post.score).distinct()
    assert repo.aggregate(distinct_scores, "count") == 3
    grouped = query(Post).group_by(Post.member_id).select(Post.member_id, max_(Post.score))
    assert repo.aggregate(grouped, "count") == 2
    with pytest.raises(ValueError, match="unknown aggregate"):
        repo.aggregate(query(Post), "median", Post.score)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="needs a field"):
        repo.aggregate(query(Post), "sum")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="Post has no stored field 'nope'"):
        repo.aggregate(query(Post), "max", "nope")
    with pytest.raises(TypeError, match="aggregate takes a column or a field name, not int"):
        repo.aggregate(query(Post), "max", 3)  # type: ignore[call-overload]


def test_stream_yields_every_row_in_batches(repo: Repo, conn: repodb.Connection) -> None:
    rows = [(f"s{i}", i) for i in range(1, 251)]
    ada = repo.get_by(Member, name="ada").id
    assert ada is not None
    conn.execute_many(ADD_POST, [(ada, title, score) for title, score in rows])
    with repo.stream(query(Post).where(Post.score > 10).order_by(Post.score), batch_size=64) as s:
        got = [(p.title, p.score) for p in s]
    assert got == rows[10:]
    # The connection is free again: a normal read works after the stream.
    assert repo.aggregate(query(Post), "count") == 254


def test_stream_closed_early_releases_the_connection(repo: Repo) -> None:
    stream = repo.stream(query(Member).order_by(Member.name), batch_size=1)
    assert next(stream).name == "ada"
    stream.close()
    assert list(stream) == []
    assert names(repo.all(query(Member).order_by(Member.name))) == ["ada", "bob", "cy"]


def test_stream_refuses_preloads(repo: Repo) -> None:
    with pytest.raises(ValueError, match="does not preload"):
        repo.stream(query(Member).preload("posts"))


def test_stream_outside_a_transaction_survives_writes_on_the_connection(
    repo: Repo, conn: repodb.Connection
) -> None:
    # On PostgreSQL the cursor is WITH HOLD: other statements (and their
    # commits) on the same connection do not end it.
    seen = []
    with repo.stream(query(Member).order_by(Member.name), batch_size=1) as members:
        for member in members:
            seen.append(member.name)
            conn.exec(Request.exec("UPDATE members SET version = version + 1"))
    assert seen == ["ada", "bob", "cy"]
    assert repo.aggregate(query(Member), "min", Member.version) == 4


def test_reload_reads_the_current_row(repo: Repo, conn: repodb.Connection) -> None:
    bob = repo.get_by(Member, name="bob")
    conn.exec(Request.exec("UPDATE members SET age = 41 WHERE name = 'bob'"))
    assert repo.reload(bob).age == 41
    assert [m.age for m in repo.reload([bob, bob])] == [41, 41]
    conn.exec(Request.exec("DELETE FROM members WHERE name = 'cy'"))
    with pytest.raises(NotFound):
        repo.reload(Member(id=10_000, email="x", name="x"))
    with pytest.raises(ValueError, match="no primary key value"):
        repo.reload(Member(email="x", name="x"))


def test_reload_or_none_gives_none_for_a_deleted_row(repo: Repo, conn: repodb.Connection) -> None:
    bob, cy = repo.get_by(Member, name="bob"), repo.get_by(Member, name="cy")
    conn.exec(Request.exec("UPDATE members SET age = 41 WHERE name = 'bob'"))
    conn.exec(Request.exec("DELETE FROM members WHERE name = 'cy'"))
    reloaded = repo.reload_or_none(bob)
    assert reloaded is not None
    assert reloaded.age == 41
    assert repo.reload_or_none(cy) is None
    assert [m.age if m else None for m in repo.reload_or_none([cy, bob])] == [None, 41]
    with pytest.raises(NotFound):
        repo.reload(cy)


def test_typed_requests_run_through_the_repo(repo: Repo) -> None:
    assert repo.one(COUNT_MEMBERS) == 3
    assert (
        repo.one_or_none(
            Request.one_or_none("SELECT age FROM members WHERE name = ?", params=str, row=int),
            "bob",
        )
        == 40
    )
    ages = Request.many("SELECT age FROM members WHERE age IS NOT NULL ORDER BY age", row=int)
    assert repo.all(ages) == [36, 40]
    assert repo.exec(Request.exec("UPDATE members SET age = 1 WHERE age IS NULL")) == 1


# -- transactions ---------------------------------------------------------------------


def test_transaction_commits_at_the_end_of_the_block(repo: Repo, db_url: str) -> None:
    with repo.transaction() as tx:
        assert isinstance(tx, TransactionRepo)
        tx.one(ADD_MEMBER, ("dan@example.com", "dan", 20))
        assert tx.aggregate(query(Member), "count") == 4
    with open_conn(db_url) as other:
        assert other.one(COUNT_MEMBERS) == 4


def test_an_exception_rolls_back_and_propagates(repo: Repo, db_url: str) -> None:
    def add_twice() -> None:
        with repo.transaction() as tx:
            tx.one(ADD_MEMBER, ("dan@example.com", "dan", 20))
            tx.one(ADD_MEMBER, ("dan@example.com", "dan again", 21))

    with pytest.raises(UniqueViolation):
        add_twice()
    with open_conn(db_url) as other:
        assert other.one(COUNT_MEMBERS) == 3
    # The connection is usable again.
    assert repo.aggregate(query(Member), "count") == 3


def test_rollback_leaves_the_block_quietly(repo: Repo) -> None:
    with repo.transaction() as tx:
        tx.one(ADD_MEMBER, ("dan@example.com", "dan", 20))
        tx.rollback()
        raise AssertionError("rollback() leaves the block")  # pragma: no cover
    assert repo.aggregate(query(Member), "count") == 3


def test_nested_transactions_are_savepoints(repo: Repo) -> None:
    with repo.transaction() as tx:
        tx.one(ADD_MEMBER, ("dan@example.com", "dan", 20))

        def add_twice() -> None:
            with tx.transaction() as inner:
                inner.one(ADD_MEMBER, ("eve@example.com", "eve", 20))
                inner.one(ADD_MEMBER, ("eve@example.com", "eve", 20))

        with pytest.raises(UniqueViolation):
            add_twice()
        with tx.transaction() as inner:
            inner.one(ADD_MEMBER, ("fay@example.com", "fay", 20))
            inner.rollback()
        with tx.transaction() as inner:
            inner.one(ADD_MEMBER, ("gus@example.com", "gus", 20))
    assert names(repo.all(query(Member).order_by(Member.name))) == [
        "ada",
        "bob",
        "cy",
        "dan",
        "gus",
    ]


def test_outer_rollback_from_an_inner_block(repo: Repo) -> None:
    with repo.transaction() as outer:
        outer.one(ADD_MEMBER, ("dan@example.com", "dan", 20))
        with outer.transaction() as inner:
            inner.one(ADD_MEMBER, ("eve@example.com", "eve", 20))
            outer.rollback()
    assert repo.aggregate(query(Member), "count") == 3


def test_transaction_with_a_function(repo: Repo) -> None:
    def add(tx: TransactionRepo) -> int:
        return tx.one(ADD_MEMBER, ("dan@example.com", "dan", 20))

    new_id = repo.transaction(add)
    assert repo.get(Member, new_id).name == "dan"

    def give_up(tx: TransactionRepo) -> int:
        tx.one(ADD_MEMBER, ("eve@example.com", "eve", 20))
        tx.rollback()
        return 1  # pragma: no cover

    assert repo.transaction(give_up) is None
    assert repo.get_by_or_none(Member, name="eve") is None


def test_read_only_transaction_refuses_writes(repo: Repo) -> None:
    def write_in_read_only() -> None:
        with repo.transaction(read_only=True) as tx:
            assert tx.aggregate(query(Member), "count") == 3
            tx.one(ADD_MEMBER, ("dan@example.com", "dan", 20))

    with pytest.raises(repodb.ReadOnlyError):
        write_in_read_only()
    assert repo.aggregate(query(Member), "count") == 3


def test_a_transaction_block_cannot_be_entered_twice(repo: Repo) -> None:
    block = repo.transaction()
    with block:
        pass
    with pytest.raises(RuntimeError, match="entered twice"), block:
        pass  # pragma: no cover


def test_datetimes_come_back_aware(repo: Repo, conn: repodb.Connection) -> None:
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    conn.exec(
        Request.exec("UPDATE members SET inserted_at = ? WHERE name = 'ada'", params=dt.datetime),
        stamp,
    )
    assert repo.get_by(Member, name="ada").inserted_at == stamp
