"""Preloading associations through the Repo, on SQLite and PostgreSQL.

Every kind of association (belongs_to, has_one, has_many, many_to_many),
nested levels, preload queries (filter, order, top N per parent, offset),
``query(...).preload`` through ``all``/``one``, join preloads, and the
statements issued: one per association level, split when the parent set is
larger than the dialect's parameter limit. Rows are written with plain SQL,
so these tests depend on nothing but the read path.
"""

from __future__ import annotations

import math
from typing import LiteralString

import pytest

import repodb
from repodb import MultipleResults, Request
from repodb.preload import top
from repodb.query import query, ref
from repodb.repo import Repo
from repodb.schema import NOT_LOADED
from repodb.telemetry import QueryEvent

from .repo_models import Comment, Member, Post, Profile, Tag, create_tables

pytestmark = pytest.mark.mariadb

SEED: list[LiteralString] = [
    "INSERT INTO members (id, email, name) VALUES"
    " (1, 'ada@example.com', 'ada'), (2, 'bob@example.com', 'bob'), (3, 'cy@example.com', 'cy')",
    "INSERT INTO profiles (id, member_id, bio) VALUES (1, 1, 'ada bio'), (2, 2, 'bob bio')",
    # Ada's posts 11 and 12 tie on score; post 15 has no member.
    "INSERT INTO posts (id, member_id, title, score) VALUES (10, 1, 'a1', 5), (11, 1, 'a2', 9),"
    " (12, 1, 'a3', 9), (13, 1, 'a4', 1), (14, 2, 'b1', 3), (15, NULL, 'orphan', 0)",
    "INSERT INTO comments (id, post_id, body) VALUES (102, 14, 'c3'), (100, 10, 'c1'),"
    " (101, 10, 'c2')",
    "INSERT INTO tags (id, name) VALUES (1, 'sql'), (2, 'py'), (3, 'unused')",
    "INSERT INTO post_tags (post_id, tag_id) VALUES (10, 2), (10, 1), (11, 2), (14, 1)",
]


@pytest.fixture
def events() -> list[QueryEvent]:
    """The statements the ``repo`` fixture runs, with their parameters."""
    return []


@pytest.fixture
def repo(conn: repodb.Connection, events: list[QueryEvent]) -> Repo:
    """A repo on ``conn`` with the seeded blog, reporting to ``events``."""
    create_tables(conn)
    for sql in SEED:
        conn.exec(Request.exec(sql))
    return Repo(conn, on_event=events.append, log_params=True)


@pytest.fixture
def members(repo: Repo, events: list[QueryEvent]) -> list[Member]:
    """Ada, Bob and Cy, read before the test (their statement is not in ``events``)."""
    found = repo.all(query(Member).order_by(Member.id))
    events.clear()
    return found


def ids(records: list[Post] | list[Comment] | list[Tag]) -> list[int | None]:
    return [r.id for r in records]


# -- each kind of association -----------------------------------------------------------


def test_has_many_loads_every_parent_in_one_statement(
    repo: Repo, members: list[Member], events: list[QueryEvent]
) -> None:
    loaded = repo.preload(members, "posts")
    assert [ids(m.posts) for m in loaded] == [[10, 11, 12, 13], [14], []]
    assert len(events) == 1
    assert " IN (" in events[0].sql
    # New instances, equal field by field; the members are untouched.
    assert loaded == members
    assert all(new is not old for new, old in zip(loaded, members, strict=True))
    assert all(m.posts is NOT_LOADED for m in members)
    assert loaded[0].posts[0] == Post(id=10, member_id=1, title="a1", score=5)


def test_belongs_to_and_a_missing_parent(
    repo: Repo, members: list[Member], events: list[QueryEvent]
) -> None:
    posts = repo.preload(repo.all(query(Post).order_by(Post.id)), "member")
    assert [p.member.name if p.member else None for p in posts] == [
        "ada",
        "ada",
        "ada",
        "ada",
        "bob",
        None,
    ]
    # One query for the members, each member read once.
    assert len(events) == 2
    assert events[1].params == (1, 2)


def test_has_one(repo: Repo, members: list[Member]) -> None:
    loaded = repo.preload(members, "profile")
    assert [m.profile for m in loaded] == [
        Profile(id=1, member_id=1, bio="ada bio"),
        Profile(id=2, member_id=2, bio="bob bio"),
        None,
    ]


def test_many_to_many_in_related_key_order(
    conn: repodb.Connection, repo: Repo, events: list[QueryEvent]
) -> None:
    posts = repo.preload(repo.all(query(Post).order_by(Post.id)), Post.tags)
    assert {p.id: [t.name for t in p.tags] for p in posts} == {
        10: ["sql", "py"],
        11: ["py"],
        12: [],
        13: [],
        14: ["sql"],
        15: [],
    }
    assert len(events) == 2
    assert conn.dialect.quote("post_tags") in events[1].sql


def test_a_tag_shared_by_posts_is_attached_to_each(repo: Repo) -> None:
    post10, post11 = repo.preload(repo.all(query(Post).where(Post.id.in_([10, 11]))), "tags")
    assert post10.tags[1] == post11.tags[0] == Tag(id=2, name="py")


# -- nested levels -----------------------------------------------------------------------


def test_nested_levels_take_one_statement_each(
    repo: Repo, members: list[Member], events: list[QueryEvent]
) -> None:
    loaded = repo.preload(members, "posts__comments")
    assert len(events) == 2
    comments = {p.id: [c.body for c in p.comments] for m in loaded for p in m.posts}
    assert comments == {10: ["c1", "c2"], 11: [], 12: [], 13: [], 14: ["c3"]}


def test_sibling_nested_associations(
    repo: Repo, members: list[Member], events: list[QueryEvent]
) -> None:
    loaded = repo.preload(members, {"posts": ["comments", "tags"]}, "profile")
    assert len(events) == 4
    first = loaded[0].posts[0]
    assert ([c.id for c in first.comments], [t.id for t in first.tags]) == ([100, 101], [1, 2])
    assert loaded[1].profile is not None


def test_earlier_preloads_stay_loaded(repo: Repo, members: list[Member]) -> None:
    ada = repo.preload(members[0], "profile")
    again = repo.preload(ada, "posts")
    assert again.profile == Profile(id=1, member_id=1, bio="ada bio")
    assert ids(again.posts) == [10, 11, 12, 13]
    assert ada.posts is NOT_LOADED


def test_force_false_keeps_loaded_associations(
    repo: Repo, conn: repodb.Connection, members: list[Member], events: list[QueryEvent]
) -> None:
    with_posts = repo.preload(members, "posts", "profile")
    conn.exec(Request.exec("INSERT INTO posts (id, member_id, title) VALUES (16, 3, 'c1')"))
    events.clear()
    kept = repo.preload(with_posts, "posts", "profile", force=False)
    assert events == []
    assert [ids(m.posts) for m in kept] == [[10, 11, 12, 13], [14], []]
    assert [m.profile.id if m.profile else None for m in kept] == [1, 2, None]
    # The default (force=True) reads them again.
    assert [ids(m.posts) for m in repo.preload(with_posts, "posts")] == [
        [10, 11, 12, 13],
        [14],
        [16],
    ]
    # Only the records where it is not loaded are read.
    events.clear()
    mixed = repo.preload([with_posts[0], members[2]], "posts", force=False)
    assert [ids(m.posts) for m in mixed] == [[10, 11, 12, 13], [16]]
    assert len(events) == 1
    assert events[0].params == (3,)


def test_force_false_loads_nested_paths_under_kept_associations(
    repo: Repo, members: list[Member], events: list[QueryEvent]
) -> None:
    with_posts = repo.preload(members, "posts")
    events.clear()
    nested = repo.preload(with_posts, "posts__comments", force=False)
    assert len(events) == 1  # the comments only
    assert [ids(p.comments) for p in nested[0].posts] == [[100, 101], [], [], []]
    # The kept posts are copies: the records passed in are unchanged.
    assert with_posts[0].posts[0].comments is NOT_LOADED
    assert nested[0].posts == with_posts[0].posts


# -- preload queries ------------------------------------------------------------------


def test_a_preload_query_filters_and_orders(repo: Repo, members: list[Member]) -> None:
    by_score = query(Post).where(Post.score > 2).order_by(Post.score.desc())
    loaded = repo.preload(members, posts=by_score)
    # The tie between 11 and 12 breaks by primary key.
    assert [ids(m.posts) for m in loaded] == [[11, 12, 10], [14], []]


def test_a_preload_query_nested_under_a_path(repo: Repo, members: list[Member]) -> None:
    newest_first = query(Comment).order_by(Comment.id.desc())
    loaded = repo.preload(members, posts__comments=newest_first)
    assert ids(loaded[0].posts[0].comments) == [101, 100]


def test_top_n_per_parent_in_sql(
    repo: Repo, members: list[Member], events: list[QueryEvent]
) -> None:
    loaded = repo.preload(members, posts=top(2, Post.score.desc()))
    # Ada's top two tie on score (by id); Bob has fewer than two; Cy none.
    assert [ids(m.posts) for m in loaded] == [[11, 12], [14], []]
    assert len(events) == 1
    assert "row_number() OVER (PARTITION BY" in events[0].sql
    assert events[0].rows == 3


def test_top_n_with_a_filter_and_an_offset(repo: Repo, members: list[Member]) -> None:
    loaded = repo.preload(members, posts=top(2, Post.score.desc()).where(Post.score < 9))
    assert [ids(m.posts) for m in loaded] == [[10, 13], [14], []]
    second_page = query(Post).order_by(Post.id).offset(1).limit(2)
    loaded = repo.preload(members, posts=second_page)
    assert [ids(m.posts) for m in loaded] == [[11, 12], [], []]


def test_top_n_of_a_many_to_many(repo: Repo) -> None:
    posts = repo.preload(repo.all(query(Post).order_by(Post.id)), tags=top(1, Tag.name))
    assert {p.id: [t.name for t in p.tags] for p in posts if p.tags} == {
        10: ["py"],
        11: ["py"],
        14: ["sql"],
    }


def test_top_n_with_nested_preloads(
    repo: Repo, members: list[Member], events: list[QueryEvent]
) -> None:
    loaded = repo.preload(members, posts=(top(1, Post.id), ["comments"]))
    assert [[c.body for c in m.posts[0].comments] for m in loaded[:2]] == [["c1", "c2"], ["c3"]]
    assert len(events) == 2


def test_top_needs_a_schema_column() -> None:
    with pytest.raises(ValueError, match="orders by a schema's column"):
        top(3)


# -- query(...).preload ---------------------------------------------------------------


def test_query_preload_through_all_and_one(repo: Repo, events: list[QueryEvent]) -> None:
    loaded = repo.all(query(Member).order_by(Member.id).preload("posts__comments", "profile"))
    assert len(events) == 4
    assert [len(m.posts) for m in loaded] == [4, 1, 0]
    events.clear()
    bob = repo.one(query(Member).where(name="bob").preload(posts=query(Post).where(Post.id > 0)))
    assert len(events) == 2
    assert ids(bob.posts) == [14]


def test_query_preload_of_no_rows_runs_one_statement(repo: Repo, events: list[QueryEvent]) -> None:
    assert repo.all(query(Member).where(name="nobody").preload("posts")) == []
    assert len(events) == 1


def test_query_preload_needs_records(repo: Repo) -> None:
    q = query(Member).preload("posts").select(Member.id)
    with pytest.raises(TypeError, match="schema records, not int"):
        repo.all(q)


def test_a_preload_query_must_be_of_the_related_schema(repo: Repo, members: list[Member]) -> None:
    with pytest.raises(ValueError, match="give a query of Post"):
        repo.preload(members, posts=query(Comment))
    with pytest.raises(ValueError, match="must select Post records"):
        repo.preload(members, posts=query(Post).select(Post.id))


# -- join preloads --------------------------------------------------------------------


def test_join_preload_reads_parents_and_children_in_one_statement(
    repo: Repo, events: list[QueryEvent]
) -> None:
    q = (
        query(Member)
        .left_join("posts", as_="p")
        .order_by(Member.id, ref("p").id)
        .preload(posts=ref("p"))
    )
    loaded = repo.all(q)
    assert [(m.name, ids(m.posts)) for m in loaded] == [
        ("ada", [10, 11, 12, 13]),
        ("bob", [14]),
        ("cy", []),
    ]
    assert len(events) == 1


def test_join_preload_belongs_to_with_a_nested_query_preload(
    repo: Repo, events: list[QueryEvent]
) -> None:
    q = (
        query(Post)
        .join("member", as_="m")
        .where(Post.score >= 5)
        .order_by(Post.id)
        .preload(member=(ref("m"), ["profile"]))
    )
    posts = repo.all(q)
    assert [(p.id, p.member.name if p.member else None) for p in posts] == [
        (10, "ada"),
        (11, "ada"),
        (12, "ada"),
    ]
    assert all(p.member and p.member.profile and p.member.profile.bio == "ada bio" for p in posts)
    assert len(events) == 2


def test_outer_join_rows_without_a_record_stay_none(repo: Repo) -> None:
    # Post 15 has no member: a right join gives its row no Member record.
    q = query(Member).right_join("posts").order_by(Post.id).preload("profile", "posts__comments")
    found = repo.all(q)
    rows: list[Member | None] = list(found)
    assert [m.name if m else None for m in rows] == ["ada"] * 4 + ["bob", None]
    assert [m.profile.bio if m and m.profile else None for m in rows] == ["ada bio"] * 4 + [
        "bob bio",
        None,
    ]
    bob = rows[4]
    assert bob is not None
    assert [ids(p.comments) for p in bob.posts] == [[102]]


def test_a_join_preload_of_a_missing_record_skips_its_nested_preloads(repo: Repo) -> None:
    q = (
        query(Post)
        .left_join("member", as_="m")
        .where(Post.score <= 0)
        .preload(member=(ref("m"), ["profile"]))
    )
    (orphan,) = repo.all(q)
    assert (orphan.id, orphan.member) == (15, None)


def test_join_preload_needs_a_query(repo: Repo, members: list[Member]) -> None:
    with pytest.raises(ValueError, match="reads the rows of a query"):
        repo.preload(members, posts=ref("p"))


# -- sizes, None, typing -----------------------------------------------------------------


def test_none_and_empty_inputs_run_nothing(repo: Repo, events: list[QueryEvent]) -> None:
    assert repo.preload(None, "posts") is None
    assert repo.preload([], "posts") == []
    assert events == []


def test_unsaved_parents_get_empty_associations_without_a_statement(
    repo: Repo, events: list[QueryEvent]
) -> None:
    new = Member(email="new@example.com", name="new")
    loaded = repo.preload(new, "posts", "profile")
    assert (loaded.posts, loaded.profile) == ([], None)
    assert events == []


def test_records_of_several_schemas_are_refused(repo: Repo, members: list[Member]) -> None:
    mixed: list[object] = [*members, Post(title="x")]
    with pytest.raises(TypeError, match="records of one schema"):
        repo.preload(mixed, "posts")  # type: ignore[type-var]


def test_preload_returns_the_input_type(repo: Repo, members: list[Member]) -> None:
    # Checked by mypy: the same type comes back, one record or a list.
    one: Member = repo.preload(members[0], "posts")
    many: list[Member] = repo.preload(members, "posts")
    assert (one.name, [m.name for m in many]) == ("ada", ["ada", "bob", "cy"])


@pytest.mark.parametrize("custom", [False, True], ids=["plain", "with-query-params"])
def test_a_parent_set_beyond_the_parameter_limit_is_split(
    repo: Repo, conn: repodb.Connection, custom: bool, events: list[QueryEvent]
) -> None:
    """More parents than one statement may carry: several statements, each under the limit.

    The parents need not exist: only their keys go to the database.
    """
    limit = conn.dialect.max_params
    count = limit + limit // 3
    parents = [Member(id=i, email=f"{i}@x", name="m") for i in range(1, count + 1)]
    filtered = query(Post).where(Post.score >= 0, Post.title != "none")
    loaded = repo.preload(parents, posts=filtered) if custom else repo.preload(parents, "posts")
    own = 2 if custom else 0
    assert len(events) == math.ceil(count / (limit - own)) == 2
    assert all(e.params is not None and len(e.params) <= limit for e in events)
    assert [ids(m.posts) for m in loaded[:3]] == [[10, 11, 12, 13], [14], []]
    assert all(m.posts == [] for m in loaded[3:])


def test_many_matches_for_a_single_association_are_an_error(repo: Repo) -> None:
    # A preload query yielding a post twice (joined to its two comments)
    # gives the belongs_to two matches for one key.
    weird = query(Post).join("comments", as_="c").select(Post)
    with pytest.raises(MultipleResults, match=r"Comment\.post found 2 Post records"):
        repo.preload(repo.all(query(Comment).where(Comment.post_id == 10)), post=weird)
