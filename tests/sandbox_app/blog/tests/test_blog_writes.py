"""The blog's writes, each test in its own sandbox: transactions work, nothing stays."""

from __future__ import annotations

import pytest

from repodb import InvalidChangesetError, Repo
from repodb.changeset import cast
from repodb.query import query

from ..schema import Post
from ..service import Blog


def test_a_published_post_is_listed(blog: Blog) -> None:
    post = blog.publish({"slug": "hello", "title": "Hello"})
    assert post.id is not None
    assert [p.slug for p in blog.posts()] == ["hello"]


def test_a_taken_slug_is_a_field_error_and_the_test_carries_on(blog: Blog) -> None:
    blog.publish({"slug": "hello", "title": "Hello"})
    with pytest.raises(InvalidChangesetError) as error:
        blog.publish({"slug": "hello", "title": "Again"})
    assert error.value.changeset.traverse_errors() == {"slug": ["has already been taken"]}
    # The failed insert left the test's transaction usable, also on PostgreSQL.
    blog.publish({"slug": "other", "title": "Other"})
    assert [p.slug for p in blog.posts()] == ["hello", "other"]


def test_the_apps_transaction_commits_into_the_test(blog: Blog) -> None:
    post = blog.publish_with_comments({"slug": "p", "title": "P"}, ["first", "second"])
    assert post.id is not None
    assert blog.comment_count(post.id) == 2


def test_the_apps_failed_transaction_rolls_back_only_itself(blog: Blog) -> None:
    blog.publish({"slug": "kept", "title": "Kept"})
    with pytest.raises(InvalidChangesetError):
        blog.publish_with_comments({"slug": "gone", "title": "Gone"}, ["fine", ""])
    assert [p.slug for p in blog.posts()] == ["kept"]


def test_a_transaction_rolled_back_inside_the_test(repodb_repo: Repo) -> None:
    with repodb_repo.transaction() as tx:
        tx.insert(cast(Post, {"slug": "draft", "title": "Draft"}, ["slug", "title"]))
        assert tx.exists(query(Post).where(Post.slug == "draft"))
        tx.rollback()
    assert not repodb_repo.exists(query(Post))


def test_savepoints_inside_the_apps_transaction(blog: Blog) -> None:
    blog.publish({"slug": "taken", "title": "Taken"})
    rows = [
        {"slug": "a", "title": "A"},
        {"slug": "taken", "title": "T"},
        {"slug": "b", "title": "B"},
    ]
    assert blog.import_posts(rows) == ["taken"]
    assert [p.slug for p in blog.posts()] == ["taken", "a", "b"]


def test_run_transaction_works_in_the_sandbox(blog: Blog) -> None:
    blog.publish({"slug": "p", "title": "Old"})
    assert blog.retitle("p", "New") == 1
    assert [p.title for p in blog.posts()] == ["New"]


@pytest.mark.xfail(raises=RuntimeError, strict=True, reason="a test that fails after writing")
def test_a_test_that_raises_after_writing(blog: Blog) -> None:
    blog.publish({"slug": "left-behind", "title": "Left behind?"})
    raise RuntimeError("the test fails after its write")


def test_the_raising_tests_write_is_gone(blog: Blog) -> None:
    assert blog.posts() == []
