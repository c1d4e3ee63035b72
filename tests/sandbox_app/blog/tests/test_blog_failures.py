"""A test that leaves its transaction unusable does not harm the next one."""

from __future__ import annotations

import pytest

from repodb import QueryError, Request
from repodb.sandbox import Sandbox

from ..service import Blog

# A query that fails after its first rows: on PostgreSQL, outside any
# savepoint, it aborts the test's whole transaction.
_FAILS_MIDWAY = {
    "sqlite": "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 5)"
    " SELECT CASE WHEN x < 3 THEN x ELSE abs(-9223372036854775807 - 1) END FROM s",
    "postgresql": "SELECT 1 / (3 - x) FROM generate_series(1, 5) AS x",
    # BIGINT overflow (1690) on the third row; a division by zero is only a warning here.
    "mariadb": "SELECT IF(seq < 3, seq, CAST(seq AS SIGNED) * 9223372036854775807) FROM seq_1_to_5",
}


def test_a_stream_that_fails_midway(blog: Blog, repodb_sandbox: Sandbox) -> None:
    blog.publish({"slug": "before", "title": "Before the failure"})
    conn = repodb_sandbox.connection
    failing = Request.many(_FAILS_MIDWAY[conn.dialect.name], row=int)
    with pytest.raises(QueryError), conn.stream(failing, batch_size=1) as rows:
        list(rows)


def test_the_next_test_starts_clean(blog: Blog) -> None:
    assert blog.posts() == []
    blog.publish({"slug": "after", "title": "After the failure"})
    assert [p.slug for p in blog.posts()] == ["after"]
