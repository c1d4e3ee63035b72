"""Multis run by ``repo.transaction(multi)`` on SQLite and PostgreSQL.

Every outcome is checked in the database through a second connection: a
successful Multi committed every step; a failed one left nothing behind.
Covered: every step kind (insert of a record and of a changeset, update,
delete, insert_all, update_all, delete_all, run, merge) with the results by
name in step order; steps built by functions of earlier results; a failure
at the third step (an exception, a database error, ``tx.rollback()``)
rolling back the first two; an invalid changeset failing before the
transaction starts (no statement at all is sent) and one built by a
function failing in it; a declared unique constraint coming back as a
changeset error; a merge repeating a name; and a Multi inside an open
transaction, which runs in a savepoint of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import repodb
from repodb import Request, Rollback, UniqueViolation
from repodb.changeset import cast, change
from repodb.multi import Key, Multi, MultiError, Results
from repodb.query import query
from repodb.repo import Repo, TransactionRepo, WriteResult
from repodb.telemetry import QueryEvent
from repodb.types import tup
from tests.conftest import open_conn

from .repo_models import Member, Post, Tag, create_tables

pytestmark = pytest.mark.mariadb

ADD_MEMBER = Request.one(
    "INSERT INTO members (email, name) VALUES (?, ?) RETURNING id", params=tup(str, str), row=int
)
ADD_POST = Request.exec("INSERT INTO posts (member_id, title) VALUES (?, ?)", params=tup(int, str))
MEMBER_NAMES = Request.many("SELECT name FROM members ORDER BY name", row=str)
POST_TITLES = Request.many("SELECT title FROM posts ORDER BY title", row=str)
TAG_NAMES = Request.many("SELECT name FROM tags ORDER BY name", row=str)


@pytest.fixture
def events() -> list[QueryEvent]:
    return []


@pytest.fixture
def repo(conn: repodb.Connection, events: list[QueryEvent]) -> Repo:
    """A repo on ``conn`` with the blog tables, empty; its statements go to ``events``."""
    create_tables(conn)
    return Repo(conn, on_event=events.append)


@pytest.fixture
def other(db_url: str) -> Iterator[repodb.Connection]:
    """A second connection, to see what the database holds after a Multi."""
    with open_conn(db_url) as c:
        yield c


def member_changeset(name: str, email: str) -> repodb.Changeset[Member]:
    return cast(Member, {"name": name, "email": email}, ["name", "email"]).validate_required(
        ["name", "email"]
    )


def add_member(name: str) -> Callable[[TransactionRepo, Results], int]:
    """A run step adding a member with a typed request; its result is the new id."""

    def step(tx: TransactionRepo, results: Results) -> int:
        return tx.one(ADD_MEMBER, (f"{name}@example.com", name))

    return step


def fail(tx: TransactionRepo, results: Results) -> None:
    raise RuntimeError("the third step broke")


# -- success ------------------------------------------------------------------------


def test_every_step_kind_runs_and_results_come_by_name_in_order(
    repo: Repo, other: repodb.Connection
) -> None:
    multi = (
        Multi()
        .insert("ada", member_changeset("ada", "ada@example.com"))
        .insert("bob", Member(name="bob", email="bob@example.com"))
        .insert("post", lambda r: Post(member_id=r["ada"].id, title="first"))
        .insert("draft", lambda r: Post(member_id=r["bob"].id, title="draft"))
        .update("rename", lambda r: change(r["ada"], name="ada l."))
        .insert_all("tags", Tag, [{"name": "python"}, {"name": "sql"}], returning=True)
        .update_all("score", lambda r: query(Post).where(member_id=r["ada"].id), set={"score": 5})
        .delete("unpublish", lambda r: r["draft"])
        .delete_all("untag", query(Tag).where(name="sql"), returning=["name"])
        .run("counts", lambda tx, r: (tx.aggregate(query(Post), "count"), len(r)))
    )
    results = repo.transaction(multi)
    assert list(results) == list(multi.names)
    ada = results["ada"]
    assert type(ada) is Member
    assert ada.id is not None
    assert results["rename"].name == "ada l."
    assert results["rename"].id == ada.id
    assert results["post"].member_id == ada.id
    tags = results["tags"]
    assert isinstance(tags, WriteResult)
    assert tags.count == 2
    assert sorted(t.name for t in tags.rows) == ["python", "sql"]
    assert results["score"].count == 1
    assert results["unpublish"].title == "draft"
    assert results["untag"].rows == [("sql",)]
    # The run step saw one post left and the nine results before it.
    assert results["counts"] == (1, 9)
    with pytest.raises(TypeError):
        results["extra"] = 1  # type: ignore[index]
    # Committed: the other connection sees every write.
    assert other.all(MEMBER_NAMES) == ["ada l.", "bob"]
    assert other.all(POST_TITLES) == ["first"]
    assert other.all(TAG_NAMES) == ["python"]
    assert other.one(Request.one("SELECT score FROM posts", row=int)) == 5


ADA = Key[Member]("ada")
RENAMED = Key[Member]("renamed")
POSTS = Key[WriteResult[Post]]("posts")
NAMES = Key[list[str]]("names")


def test_steps_named_by_keys_give_their_results_typed(repo: Repo, other: repodb.Connection) -> None:
    # tests/unit/repo_typing_checks.py pins the static types; here the keys run.
    multi = (
        Multi()
        .insert(ADA, member_changeset("ada", "ada@example.com"))
        .update(RENAMED, lambda r: change(r[ADA], name="ada l."))
        .insert_all(POSTS, Post, lambda r: [Post(member_id=r[ADA].id, title="a")], returning=True)
        .run(NAMES, lambda tx, r: [r[RENAMED].name, *(p.title for p in r[POSTS].rows)])
        .run("fail", fail)
    )
    with pytest.raises(MultiError) as info:
        repo.transaction(multi)
    assert info.value.results[NAMES] == ["ada l.", "a"]
    assert info.value.results[ADA].id is not None
    assert other.all(MEMBER_NAMES) == []
    results = repo.transaction(Multi().insert(ADA, member_changeset("ada", "ada@example.com")))
    assert results[ADA] is results["ada"]
    assert list(results) == ["ada"]
    assert other.all(MEMBER_NAMES) == ["ada"]


def test_run_and_merge_steps_see_the_results_before_them(
    repo: Repo, other: repodb.Connection
) -> None:
    seen: list[list[str]] = []

    def add_post(owner: int, title: str) -> Callable[[TransactionRepo, Results], int]:
        return lambda tx, r: tx.exec(ADD_POST, (owner, title))

    def posts_for(results: Results) -> Multi:
        seen.append(list(results))
        merged = Multi()
        for i in range(3):
            merged = merged.run(f"post_{i}", add_post(results["owner"], f"p{i}"))
        return merged

    multi = (
        Multi()
        .run("owner", add_member("ada"))
        .merge(posts_for)
        .run("titles", lambda tx, r: (sorted(r), tx.all(POST_TITLES)))
    )
    results = repo.transaction(multi)
    assert seen == [["owner"]]
    assert list(results) == ["owner", "post_0", "post_1", "post_2", "titles"]
    assert [results[f"post_{i}"] for i in range(3)] == [1, 1, 1]
    assert results["titles"] == (["owner", "post_0", "post_1", "post_2"], ["p0", "p1", "p2"])
    assert other.all(POST_TITLES) == ["p0", "p1", "p2"]


def test_an_empty_multi_gives_an_empty_mapping(repo: Repo) -> None:
    assert dict(repo.transaction(Multi())) == {}


# -- failure ------------------------------------------------------------------------


def test_an_exception_at_step_three_rolls_back_steps_one_and_two(
    repo: Repo, other: repodb.Connection
) -> None:
    multi = Multi().run("ada", add_member("ada")).run("bob", add_member("bob")).run("boom", fail)
    with pytest.raises(MultiError) as raised:
        repo.transaction(multi)
    error = raised.value
    assert error.step == "boom"
    assert isinstance(error.error, RuntimeError)
    assert error.__cause__ is error.error
    assert error.changeset is None
    assert list(error.results) == ["ada", "bob"]
    assert all(isinstance(v, int) for v in error.results.values())
    assert "Multi step 'boom' failed: RuntimeError: the third step broke" in str(error)
    assert other.all(MEMBER_NAMES) == []
    # The connection is usable again, outside any transaction.
    assert repo.all(query(Member)) == []


def test_a_database_error_at_step_three_rolls_back_the_inserts_before_it(
    repo: Repo, other: repodb.Connection
) -> None:
    multi = (
        Multi()
        .insert("ada", Member(name="ada", email="ada@example.com"))
        .insert("post", lambda r: Post(member_id=r["ada"].id, title="hello"))
        # No unique_constraint declared: the violation stays a database error.
        .insert("twin", Member(name="twin", email="ada@example.com"))
    )
    with pytest.raises(MultiError) as raised:
        repo.transaction(multi)
    assert raised.value.step == "twin"
    assert isinstance(raised.value.error, UniqueViolation)
    assert raised.value.changeset is None
    assert list(raised.value.results) == ["ada", "post"]
    assert other.all(MEMBER_NAMES) == []
    assert other.all(POST_TITLES) == []


def test_rollback_in_a_run_step_fails_the_multi(repo: Repo, other: repodb.Connection) -> None:
    multi = Multi().run("ada", add_member("ada")).run("stop", lambda tx, r: tx.rollback())
    with pytest.raises(MultiError) as raised:
        repo.transaction(multi)
    assert raised.value.step == "stop"
    assert isinstance(raised.value.error, Rollback)
    assert list(raised.value.results) == ["ada"]
    assert other.all(MEMBER_NAMES) == []


def test_an_invalid_changeset_fails_before_the_transaction_starts(
    repo: Repo, other: repodb.Connection, events: list[QueryEvent]
) -> None:
    ran: list[str] = []
    invalid = member_changeset("", "cy@example.com")
    multi = (
        Multi()
        .run("first", lambda tx, r: ran.append("first"))
        .insert("cy", invalid)
        .run("last", lambda tx, r: ran.append("last"))
    )
    with pytest.raises(MultiError) as raised:
        repo.transaction(multi)
    error = raised.value
    assert error.step == "cy"
    assert error.changeset is error.error
    assert error.changeset is not None
    assert error.changeset.action == "insert"
    assert error.changeset.traverse_errors() == {"name": ["can't be blank"]}
    assert error.results == {}
    # Nothing ran and nothing was sent: not even a statement of the first step.
    assert ran == []
    assert events == []
    assert other.all(MEMBER_NAMES) == []


def test_an_invalid_changeset_built_by_a_function_rolls_back_the_steps_before(
    repo: Repo, other: repodb.Connection
) -> None:
    multi = (
        Multi()
        .insert("ada", Member(name="ada", email="ada@example.com"))
        .update("blank", lambda r: change(r["ada"], name="").validate_required("name"))
    )
    with pytest.raises(MultiError) as raised:
        repo.transaction(multi)
    assert raised.value.step == "blank"
    assert raised.value.changeset is not None
    assert raised.value.error is raised.value.changeset
    assert list(raised.value.results) == ["ada"]
    assert other.all(MEMBER_NAMES) == []


def test_a_declared_unique_constraint_fails_the_step_with_a_changeset_error(
    repo: Repo, other: repodb.Connection
) -> None:
    other.one(ADD_MEMBER, ("ada@example.com", "ada"))
    multi = (
        Multi()
        .run("bob", add_member("bob"))
        .insert("ada", member_changeset("ada again", "ada@example.com").unique_constraint("email"))
    )
    with pytest.raises(MultiError) as raised:
        repo.transaction(multi)
    error = raised.value
    assert error.step == "ada"
    assert error.changeset is not None
    assert error.error is error.changeset
    assert error.changeset.traverse_errors() == {"email": ["has already been taken"]}
    assert isinstance(error.__cause__, repodb.InvalidChangesetError)
    assert list(error.results) == ["bob"]
    assert other.all(MEMBER_NAMES) == ["ada"]


def test_a_merge_repeating_a_step_name_rolls_back(repo: Repo, other: repodb.Connection) -> None:
    multi = (
        Multi().run("ada", add_member("ada")).merge(lambda r: Multi().run("ada", add_member("x")))
    )
    with pytest.raises(ValueError, match="a merged Multi repeats step names ada"):
        repo.transaction(multi)
    # A merged step may not take a name that a later step of the outer Multi has.
    later = Multi().merge(lambda r: Multi().run("b", add_member("b"))).run("b", add_member("c"))
    with pytest.raises(ValueError, match="repeats step names b"):
        repo.transaction(later)
    assert other.all(MEMBER_NAMES) == []


# -- inside a transaction -----------------------------------------------------------


def test_a_multi_inside_a_transaction_runs_in_a_savepoint(
    repo: Repo, other: repodb.Connection
) -> None:
    with repo.transaction() as outer:
        outer.one(ADD_MEMBER, ("ada@example.com", "ada"))

        def same_transaction(tx: TransactionRepo, r: Results) -> list[str]:
            assert tx.connection is outer.connection
            return tx.all(MEMBER_NAMES)

        failing = Multi().run("seen", same_transaction).run("bob", add_member("bob")).run("x", fail)
        with pytest.raises(MultiError) as raised:
            outer.transaction(failing)
        # The step saw the outer transaction's uncommitted row.
        assert raised.value.results["seen"] == ["ada"]
        # Only the savepoint was rolled back: the outer transaction goes on.
        assert outer.all(MEMBER_NAMES) == ["ada"]
        results = outer.transaction(Multi().run("cy", add_member("cy")))
        assert isinstance(results["cy"], int)
    assert other.all(MEMBER_NAMES) == ["ada", "cy"]


def test_a_multi_inside_a_transaction_is_undone_with_it(
    repo: Repo, other: repodb.Connection
) -> None:
    with repo.transaction() as outer:
        outer.transaction(Multi().run("ada", add_member("ada")))
        assert outer.all(MEMBER_NAMES) == ["ada"]
        outer.rollback()
    assert other.all(MEMBER_NAMES) == []
