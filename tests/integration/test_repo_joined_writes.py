"""``update_all`` and ``delete_all`` with joins, run on SQLite, PostgreSQL and MariaDB.

PostgreSQL runs ``UPDATE ... FROM`` and ``DELETE ... USING``; SQLite runs
``UPDATE ... FROM`` and a ``WHERE EXISTS`` rewrite of the delete, as MariaDB
does for the delete. MariaDB has neither ``UPDATE ... FROM`` nor ``UPDATE
... RETURNING``: a joined ``update_all`` is refused when it is compiled, and
nothing is written (docs/mariadb.md). The databases must write the same
rows: the seeded blog of ``test_repo_preload`` (Ada's four posts, Bob's one,
an orphan post, tags through ``post_tags``), read back with plain SQL.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import repodb
from repodb import Request
from repodb.query import query
from repodb.repo import Repo
from repodb.types import tup
from repodb.write import set_

from .blog_seed import seeded_repo
from .repo_models import Member, Post, Tag

pytestmark = pytest.mark.mariadb

POSTS = Request.many("SELECT id, title, score FROM posts ORDER BY id", row=tup(int, str, int))


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    return seeded_repo(conn)


def refused_on_mariadb(conn: repodb.Connection, write: Callable[[], object]) -> bool:
    """Whether the database refuses a joined update_all (MariaDB); if so, it wrote nothing."""
    if conn.dialect.supports_update_from:
        return False
    before = conn.all(POSTS)
    with pytest.raises(ValueError, match=r"mariadb has no UPDATE \.\.\. FROM"):
        write()
    assert conn.all(POSTS) == before
    return True


def test_update_all_sets_values_from_a_joined_row(repo: Repo, conn: repodb.Connection) -> None:
    joined = query(Post).join("member").where(Member.name == "ada", Post.score > 4)
    if refused_on_mariadb(conn, lambda: repo.update_all(joined, set_(Post.title, Member.email))):
        return
    done = repo.update_all(joined, set_(Post.title, Member.email), returning=[Post.id])
    assert done.count == 3
    assert sorted(done.rows) == [(10,), (11,), (12,)]
    assert conn.all(POSTS)[:4] == [
        (10, "ada@example.com", 5),
        (11, "ada@example.com", 9),
        (12, "ada@example.com", 9),
        (13, "a4", 1),
    ]


def test_update_all_through_many_to_many_returns_records(
    repo: Repo, conn: repodb.Connection
) -> None:
    joined = query(Post).join("tags").where(Tag.name == "sql")
    if refused_on_mariadb(conn, lambda: repo.update_all(joined, set={"score": Post.score + 100})):
        return
    done = repo.update_all(joined, set={"score": Post.score + 100}, returning=True)
    assert sorted((p.id, p.score) for p in done.rows) == [(10, 105), (14, 103)]
    assert [row[2] for row in conn.all(POSTS)] == [105, 9, 9, 1, 103, 0]


def test_delete_all_with_joins(repo: Repo, conn: repodb.Connection) -> None:
    # Posts tagged "py" whose member is Ada: 10 and 11; comments and tag
    # links go with them (ON DELETE CASCADE).
    done = repo.delete_all(
        query(Post).join("tags").join("member").where(Tag.name == "py", Member.name == "ada"),
        returning=["id"],
    )
    assert sorted(done.rows) == [(10,), (11,)]
    assert [row[0] for row in conn.all(POSTS)] == [12, 13, 14, 15]


def test_a_joined_delete_matching_a_row_twice_deletes_it_once(
    repo: Repo, conn: repodb.Connection
) -> None:
    # Post 10 has two tags: the join gives it twice, the delete removes it once.
    done = repo.delete_all(query(Post).join("tags"))
    assert done.count == 3
    assert [row[0] for row in conn.all(POSTS)] == [12, 13, 15]
