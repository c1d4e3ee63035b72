"""Linking existing records with ``put_assoc``; ``assoc_constraint``; ``unsafe_validate_unique``.

On SQLite, PostgreSQL and MariaDB: a new post linked to stored tags (join rows only,
no tag written), tags added to and removed from a stored post, a join row
that exists already or a tag given twice as the field error "has already
been taken" with nothing written, stored posts moved to a member (their
foreign key set), a belongs_to parent given as a record or a dict, a has_one
replaced with ``on_replace="delete"``; a missing parent as the field error
of ``assoc_constraint``; and ``unsafe_validate_unique`` finding a duplicate,
ignoring the record's own row, and reading nothing when the field did not
change. Table contents are read back with separate SQL.
"""

from __future__ import annotations

import pytest

import repodb
from repodb import Request
from repodb.changeset import InvalidChangesetError, cast, change
from repodb.repo import Repo
from repodb.telemetry import QueryEvent
from repodb.types import optional, tup

from .repo_models import Member, Post, Profile, Tag, create_tables

pytestmark = pytest.mark.mariadb

POST_TAGS = Request.many(
    "SELECT p.title, t.name FROM post_tags pt JOIN posts p ON p.id = pt.post_id"
    " JOIN tags t ON t.id = pt.tag_id ORDER BY p.title, t.name",
    row=tup(str, str),
)
TAGS = Request.many("SELECT name FROM tags ORDER BY id", row=str)
POSTS = Request.many("SELECT member_id, title FROM posts ORDER BY id", row=tup(optional(int), str))
PROFILES = Request.many(
    "SELECT member_id, bio FROM profiles ORDER BY id", row=tup(optional(int), str)
)


@pytest.fixture
def repo(conn: repodb.Connection) -> Repo:
    create_tables(conn)
    return Repo(conn)


@pytest.fixture
def tags(repo: Repo) -> list[Tag]:
    return [repo.insert(Tag(name=n)) for n in ("elixir", "python", "sql")]


def test_a_new_post_links_stored_tags(repo: Repo, conn: repodb.Connection, tags: list[Tag]) -> None:
    elixir, python, _ = tags
    post = repo.insert(change(Post(title="Hi")).put_assoc("tags", [elixir, python, {"name": "go"}]))
    assert [t.name for t in post.tags] == ["elixir", "python", "go"]
    assert conn.all(POST_TAGS) == [("Hi", "elixir"), ("Hi", "go"), ("Hi", "python")]
    assert conn.all(TAGS) == ["elixir", "python", "sql", "go"]


def test_tags_added_to_and_removed_from_a_stored_post(
    repo: Repo, conn: repodb.Connection, tags: list[Tag]
) -> None:
    elixir, python, sql = tags
    post = repo.insert(change(Post(title="Hi")).put_assoc("tags", [elixir, python]))
    post = repo.preload(repo.get(Post, post.id), "tags")
    updated = repo.update(change(post).put_assoc("tags", [python, sql], on_replace="delete"))
    assert [t.name for t in updated.tags] == ["python", "sql"]
    assert conn.all(POST_TAGS) == [("Hi", "python"), ("Hi", "sql")]
    # Unlinking never deletes the tag.
    assert conn.all(TAGS) == ["elixir", "python", "sql"]


def test_a_link_that_exists_is_a_field_error_and_writes_nothing(
    repo: Repo, conn: repodb.Connection, tags: list[Tag]
) -> None:
    elixir, python, _ = tags
    post = repo.insert(change(Post(title="Hi")).put_assoc("tags", [elixir]))
    stale = repo.preload(repo.get(Post, post.id), "tags")
    # Another writer linked python meanwhile; this copy loaded the tags before.
    repo.update(change(stale).put_assoc("tags", [elixir, python]))
    with pytest.raises(InvalidChangesetError) as raised:
        repo.update(change(stale, title="Renamed").put_assoc("tags", [elixir, python]))
    assert raised.value.changeset.traverse_errors() == {"tags": ["has already been taken"]}
    assert conn.all(POSTS) == [(None, "Hi")]
    with pytest.raises(InvalidChangesetError) as twice:
        repo.insert(change(Post(title="Twice")).put_assoc("tags", [python, python]))
    assert twice.value.changeset.traverse_errors() == {"tags": ["has already been taken"]}
    assert conn.all(POSTS) == [(None, "Hi")]
    assert conn.all(POST_TAGS) == [("Hi", "elixir"), ("Hi", "python")]


def test_stored_posts_move_to_a_member(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    bob = repo.insert(Member(email="bob@example.com", name="Bob"))
    first = repo.insert(Post(title="First", member_id=bob.id))
    second = repo.insert(Post(title="Second"))
    ada = repo.preload(ada, "posts")
    ada = repo.update(change(ada).put_assoc("posts", [first, second, {"title": "Third"}]))
    assert [(p.member_id, p.title) for p in ada.posts] == [
        (ada.id, "First"),
        (ada.id, "Second"),
        (ada.id, "Third"),
    ]
    assert conn.all(POSTS) == [(ada.id, "First"), (ada.id, "Second"), (ada.id, "Third")]


def test_a_parent_given_as_a_record_or_a_dict(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    post = repo.insert(change(Post(title="By Ada")).put_assoc("member", ada))
    assert (post.member_id, post.member) == (ada.id, ada)
    other = repo.insert(
        change(Post(title="By Bob")).put_assoc(
            "member", {"email": "bob@example.com", "name": "Bob"}
        )
    )
    assert other.member is not None
    assert other.member_id == other.member.id != ada.id
    assert conn.all(POSTS) == [(ada.id, "By Ada"), (other.member_id, "By Bob")]


def test_a_has_one_replaced_by_a_stored_record(repo: Repo, conn: repodb.Connection) -> None:
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    repo.insert(Profile(member_id=ada.id, bio="old"))
    spare = repo.insert(Profile(bio="spare"))
    ada = repo.preload(ada, "profile")
    with pytest.raises(ValueError, match="leave out loaded children"):
        change(ada).put_assoc("profile", spare)
    ada = repo.update(change(ada).put_assoc("profile", spare, on_replace="delete"))
    assert ada.profile is not None
    assert ada.profile.bio == "spare"
    assert conn.all(PROFILES) == [(ada.id, "spare")]


def test_assoc_constraint_reports_a_missing_parent(repo: Repo, conn: repodb.Connection) -> None:
    form = cast(Post, {"title": "Orphan", "member_id": "4242"}, ["title", "member_id"])
    with pytest.raises(InvalidChangesetError) as raised:
        repo.insert(form.assoc_constraint("member"))
    assert raised.value.changeset.traverse_errors() == {"member": ["does not exist"]}
    assert conn.all(POSTS) == []


def test_unsafe_validate_unique(repo: Repo, conn: repodb.Connection) -> None:
    events: list[QueryEvent] = []
    repo = Repo(conn, on_event=events.append)
    ada = repo.insert(Member(email="ada@example.com", name="Ada"))
    taken = cast(Member, {"email": "ada@example.com", "name": "Eve"}, ["email", "name"])
    checked = repo.unsafe_validate_unique(taken, "email")
    assert checked.traverse_errors() == {"email": ["has already been taken"]}
    (error,) = checked.errors
    assert dict(error.options) == {"validation": "unsafe_unique", "fields": ("email",)}
    free = cast(Member, {"email": "eve@example.com", "name": "Eve"}, ["email", "name"])
    assert repo.unsafe_validate_unique(free, "email").valid
    # Its own row does not count; nor are rows read when the field did not change.
    assert repo.unsafe_validate_unique(
        change(ada, email="ada@example.com", name="A"), ["email", "name"]
    ).valid
    before = len(events)
    assert repo.unsafe_validate_unique(change(ada, name="Ada L."), "email").valid
    assert len(events) == before
    keyed = repo.unsafe_validate_unique(taken, ["email"], message="is used", error_key="name")
    assert keyed.traverse_errors() == {"name": ["is used"]}
