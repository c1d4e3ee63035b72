"""Each test sees none of another test's writes, in whatever order they run."""

from __future__ import annotations

import threading

from ..service import Blog


def test_first_sees_nothing_of_the_second(blog: Blog) -> None:
    assert blog.posts() == []
    blog.publish({"slug": "first", "title": "First"})


def test_second_sees_nothing_of_the_first(blog: Blog) -> None:
    assert blog.posts() == []
    blog.publish({"slug": "second", "title": "Second"})


def test_threads_share_the_tests_transaction(blog: Blog) -> None:
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            blog.publish({"slug": "from-a-thread", "title": "Threaded"})
        except BaseException as e:
            errors.append(e)

    worker = threading.Thread(target=publish)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert errors == []
    assert [p.slug for p in blog.posts()] == ["from-a-thread"]
