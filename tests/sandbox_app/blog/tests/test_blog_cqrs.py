"""CQRS in the sandbox: reads routed to replicas see the test's writes."""

from __future__ import annotations

from repodb import Connection, Repo, Request, Rollback
from repodb.cqrs import Cqrs
from repodb.query import query
from repodb.types import tup

from ..schema import Post
from ..service import Blog

_INSERT = Request.exec("INSERT INTO posts (slug, title) VALUES (?, ?)", params=tup(str, str))
_SLUGS = Request.many("SELECT slug FROM posts ORDER BY id", row=str)


def test_replica_reads_see_the_tests_writes(repodb_cqrs: Cqrs) -> None:
    with repodb_cqrs.write() as conn:
        conn.exec(_INSERT, ("written", "Written"))
    with repodb_cqrs.read() as conn:
        assert conn.all(_SLUGS) == ["written"]
    assert repodb_cqrs.with_read(lambda conn: conn.all(_SLUGS)) == ["written"]
    assert [p.slug for p in Repo(repodb_cqrs).all(query(Post))] == ["written"]


def test_a_session_reads_its_writes(blog: Blog) -> None:
    post = blog.publish_and_show({"slug": "s", "title": "Session"})
    assert post.slug == "s"


def test_a_cqrs_transaction_commits_into_the_test(repodb_cqrs: Cqrs) -> None:
    with repodb_cqrs.transaction() as conn:
        conn.exec(_INSERT, ("in-tx", "In a transaction"))
    assert repodb_cqrs.with_read(lambda conn: conn.all(_SLUGS)) == ["in-tx"]


def test_a_cqrs_transaction_rolled_back(repodb_cqrs: Cqrs) -> None:
    def write_then_undo(conn: Connection) -> None:
        conn.exec(_INSERT, ("undone", "Undone"))
        raise Rollback()

    assert repodb_cqrs.transaction(write_then_undo) is None
    assert repodb_cqrs.with_read(lambda conn: conn.all(_SLUGS)) == []


def test_the_router_is_a_cqrs_without_replicas(repodb_cqrs: Cqrs) -> None:
    assert isinstance(repodb_cqrs, Cqrs)
    assert repodb_cqrs.stats().healthy_replica_count == 0
