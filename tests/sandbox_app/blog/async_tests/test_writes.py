"""The async blog's writes, each test in its own sandbox: transactions work, nothing stays."""

from __future__ import annotations

import pytest

from repodb import AsyncRepo, InvalidChangesetError
from repodb.changeset import cast
from repodb.query import query

from ..async_service import AsyncBlog
from ..schema import Post


async def slugs(blog: AsyncBlog) -> list[str]:
    return [p.slug for p in await blog.posts()]


async def test_a_published_post_is_listed(blog: AsyncBlog) -> None:
    post = await blog.publish({"slug": "hello", "title": "Hello"})
    assert post.id is not None
    assert await slugs(blog) == ["hello"]


async def test_a_taken_slug_is_a_field_error_and_the_test_carries_on(blog: AsyncBlog) -> None:
    await blog.publish({"slug": "hello", "title": "Hello"})
    with pytest.raises(InvalidChangesetError) as error:
        await blog.publish({"slug": "hello", "title": "Again"})
    assert error.value.changeset.traverse_errors() == {"slug": ["has already been taken"]}
    # The failed insert left the test's transaction usable, also on PostgreSQL.
    await blog.publish({"slug": "other", "title": "Other"})
    assert await slugs(blog) == ["hello", "other"]


async def test_the_apps_transaction_commits_into_the_test(blog: AsyncBlog) -> None:
    post = await blog.publish_with_comments({"slug": "p", "title": "P"}, ["first", "second"])
    assert post.id is not None
    assert await blog.comment_count(post.id) == 2


async def test_the_apps_failed_transaction_rolls_back_only_itself(blog: AsyncBlog) -> None:
    await blog.publish({"slug": "kept", "title": "Kept"})
    with pytest.raises(InvalidChangesetError):
        await blog.publish_with_comments({"slug": "gone", "title": "Gone"}, ["fine", ""])
    assert await slugs(blog) == ["kept"]


async def test_savepoints_inside_the_apps_transaction(blog: AsyncBlog) -> None:
    await blog.publish({"slug": "taken", "title": "Taken"})
    rows = [
        {"slug": "a", "title": "A"},
        {"slug": "taken", "title": "T"},
        {"slug": "b", "title": "B"},
    ]
    assert await blog.import_posts(rows) == ["taken"]
    assert await slugs(blog) == ["taken", "a", "b"]


async def test_a_transaction_rolled_back_inside_the_test(repodb_async_repo: AsyncRepo) -> None:
    async with repodb_async_repo.transaction() as tx:
        await tx.insert(cast(Post, {"slug": "draft", "title": "Draft"}, ["slug", "title"]))
        assert await tx.exists(query(Post).where(Post.slug == "draft"))
        tx.rollback()
    assert not await repodb_async_repo.exists(query(Post))


@pytest.mark.xfail(raises=RuntimeError, strict=True, reason="a test that fails after writing")
async def test_a_test_that_raises_after_writing(blog: AsyncBlog) -> None:
    await blog.publish({"slug": "left-behind", "title": "Left behind?"})
    raise RuntimeError("the test fails after its write")


async def test_the_raising_tests_write_is_gone(blog: AsyncBlog) -> None:
    assert await blog.posts() == []
