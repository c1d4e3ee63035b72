"""Changesets: nested params with ``cast_embed`` and ``cast_assoc``.

Covers embedded records (one, a list, an embed inside an embed) and
associations (``has_many``, ``has_one``, ``belongs_to``): nested params
becoming child changesets with their actions, the default child builder
(which leaves out keys, timestamps and the parent's foreign key) and custom
``with_`` builders, form-style ``{"0": ..., "1": ...}`` lists, an invalid
child making the parent invalid, nested ``traverse_errors`` and error
messages, ``apply_changes`` building nested records, matching loaded
children by primary key, ``on_replace``, required nested values, bad nested
params as "is invalid" (never an exception, shown by hypothesis), and
redaction of nested params.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repodb.changeset import Changeset, InvalidChangesetError, cast
from repodb.schema import (
    NOT_LOADED,
    Assoc,
    Col,
    Embedded,
    Schema,
    belongs_to,
    field,
    has_many,
    has_one,
)


class Geo(Embedded):
    lat: float
    lng: float


class Address(Embedded):
    street: str
    city: str = "Paris"
    door_code: str | None = field(default=None, redact=True)
    geo: Geo | None = None


class Tag(Embedded):
    label: str


class Writer(Schema, table="writers"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    address: Col[Address | None] = field(default=None)
    tags: Col[list[Tag]] = field(default_factory=list)
    posts: ClassVar[Assoc[list[Article]]] = has_many("Article", foreign_key="writer_id")
    bio: ClassVar[Assoc[Bio | None]] = has_one("Bio", foreign_key="writer_id")


class Article(Schema, table="articles"):
    id: Col[int] = field(primary_key=True, default=None)
    writer_id: Col[int | None] = field(default=None)
    title: Col[str]
    secret: Col[str | None] = field(default=None, redact=True)
    inserted_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")
    writer: ClassVar[Assoc[Writer | None]] = belongs_to(Writer, foreign_key="writer_id")


class Bio(Schema, table="bios"):
    id: Col[int] = field(primary_key=True, default=None)
    writer_id: Col[int | None] = field(default=None)
    text: Col[str]


def address_changeset(address: Address, params: Mapping[str, Any]) -> Changeset[Address]:
    return cast(address, params, ["street", "city"]).validate_required("street")


def article_changeset(article: Article, params: Mapping[str, Any]) -> Changeset[Article]:
    return cast(article, params, ["title"]).validate_required("title")


def loaded(writer: Writer, **associations: Any) -> Writer:
    """The writer as the Repo returns it after preloading ``associations``."""
    for name, value in associations.items():
        object.__setattr__(writer, name, value)
    return writer


def writer(**params: Any) -> Changeset[Writer]:
    return cast(Writer, params, ["name"])


# -- embeds ------------------------------------------------------------------


def test_cast_embed_one_builds_a_child_changeset() -> None:
    changeset = writer(name="Ada", address={"street": "1 Rue", "city": "Lyon"}).cast_embed(
        "address", with_=address_changeset
    )
    child = changeset.changes["address"]
    assert isinstance(child, Changeset)
    assert (child.action, dict(child.changes)) == ("insert", {"street": "1 Rue", "city": "Lyon"})
    assert changeset.valid
    assert changeset.get_field("address") == Address(street="1 Rue", city="Lyon")
    assert changeset.apply_changes() == Writer(
        name="Ada", address=Address(street="1 Rue", city="Lyon")
    )


def test_an_invalid_embed_makes_the_parent_invalid() -> None:
    changeset = writer(name="Ada", address={"street": ""}).cast_embed(
        "address", with_=address_changeset
    )
    assert changeset.errors == ()
    assert not changeset.valid
    assert changeset.traverse_errors() == {"address": {"street": ["can't be blank"]}}
    with pytest.raises(InvalidChangesetError, match=r"address\.street can't be blank"):
        changeset.apply_action("insert")


def test_cast_embed_updates_the_current_embed_and_drops_no_op_changes() -> None:
    data = Writer(name="Ada", address=Address(street="1 Rue", city="Lyon"))
    moved = cast(data, {"address": {"street": "2 Rue"}}, []).cast_embed("address")
    child = moved.changes["address"]
    assert (child.action, dict(child.changes)) == ("update", {"street": "2 Rue"})
    assert moved.apply_changes().address == Address(street="2 Rue", city="Lyon")
    same = cast(data, {"address": {"street": "1 Rue", "city": "Lyon"}}, []).cast_embed("address")
    assert same.changes == {}
    removed = cast(data, {"address": None}, []).cast_embed("address")
    assert removed.changes == {"address": None}
    assert removed.apply_changes().address is None


def test_the_default_builder_casts_every_field_and_nested_embeds() -> None:
    params = {"address": {"street": "1 Rue", "geo": {"lat": "48.85", "lng": "x"}}}
    changeset = writer(name="Ada", **params).cast_embed("address")
    assert changeset.traverse_errors() == {"address": {"geo": {"lng": ["is invalid"]}}}
    fixed = writer(name="Ada", address={"geo": {"lat": 1, "lng": "2.35"}}).cast_embed("address")
    assert fixed.apply_changes().address == Address(street=None, geo=Geo(lat=1.0, lng=2.35))  # type: ignore[arg-type]


def test_cast_embed_many_replaces_the_list() -> None:
    data = Writer(name="Ada", tags=[Tag(label="old")])
    changeset = cast(data, {"tags": [{"label": "a"}, {"label": "b"}]}, []).cast_embed("tags")
    children = changeset.changes["tags"]
    assert [c.action for c in children] == ["insert", "insert"]
    assert changeset.apply_changes().tags == [Tag(label="a"), Tag(label="b")]
    # A form sends lists as numbered keys; they are ordered by number.
    form = cast(
        data, {"tags": {"1": {"label": "b"}, "0": {"label": "a"}, "10": {"label": "c"}}}, []
    )
    assert form.cast_embed("tags").get_field("tags") == [Tag(label=x) for x in "abc"]
    same = cast(data, {"tags": [{"label": "old"}]}, []).cast_embed("tags")
    assert same.changes == {}
    emptied = cast(data, {"tags": []}, []).cast_embed("tags")
    assert emptied.apply_changes().tags == []


def test_invalid_list_children_show_by_position() -> None:
    def tag_changeset(tag: Tag, params: Mapping[str, Any]) -> Changeset[Tag]:
        return cast(tag, params, ["label"]).validate_length("label", max=3)

    changeset = writer(name="Ada", tags=[{"label": "ok"}, {"label": "too long"}]).cast_embed(
        "tags", with_=tag_changeset
    )
    assert not changeset.valid
    assert changeset.traverse_errors() == {
        "tags": [{}, {"label": ["should be at most 3 character(s)"]}]
    }
    with pytest.raises(InvalidChangesetError, match=r"tags\[1\]\.label should be at most 3"):
        changeset.apply_action("insert")


@pytest.mark.parametrize(
    ("name", "value", "type_name"),
    [
        ("address", "1 Rue", "dict"),
        ("address", ["1 Rue"], "dict"),
        ("tags", {"label": "a"}, "list[dict]"),
        ("tags", ["a"], "list[dict]"),
        ("tags", "a,b", "list[dict]"),
        ("tags", None, "list[dict]"),
    ],
)
def test_bad_nested_params_are_invalid(name: str, value: object, type_name: str) -> None:
    changeset = writer(name="Ada", **{name: value}).cast_embed(name)
    assert [(e.field, e.message, dict(e.options)) for e in changeset.errors] == [
        (name, "is invalid", {"validation": "embed", "type": type_name})
    ]
    assert name not in changeset.changes


def test_required_embeds() -> None:
    missing = writer(name="Ada").cast_embed("address", required=True)
    assert missing.traverse_errors() == {"address": ["can't be blank"]}
    assert missing.required == ("address",)
    assert writer(name="Ada", address=None).cast_embed("address", required=True).errors
    assert writer(name="Ada", tags=[]).cast_embed("tags", required=True).errors
    present = Writer(name="Ada", address=Address(street="x"))
    assert cast(present, {}, []).cast_embed("address", required=True).valid


def test_cast_embed_misuse_raises() -> None:
    with pytest.raises(ValueError, match="not an embedded field"):
        writer(name="Ada").cast_embed("name")
    with pytest.raises(ValueError, match="call cast first"):
        Changeset(Writer(name="Ada")).cast_embed("address")
    with pytest.raises(TypeError, match="must return a Changeset"):
        writer(address={}).cast_embed("address", with_=lambda d, p: d)


# -- associations --------------------------------------------------------------


def test_cast_assoc_has_many_on_a_new_record() -> None:
    params = {"posts": [{"title": "One", "id": "5", "writer_id": "9"}, {"title": "Two"}]}
    changeset = writer(name="Ada", **params).cast_assoc("posts")
    children = changeset.changes["posts"]
    assert isinstance(children, tuple)
    # The default builder leaves out the key, timestamps and the parent's foreign key.
    assert [(c.action, dict(c.changes)) for c in children] == [
        ("insert", {"title": "One"}),
        ("insert", {"title": "Two"}),
    ]
    applied = changeset.apply_changes()
    assert applied.posts == [Article(title="One"), Article(title="Two")]
    assert applied.name == "Ada"


def test_an_invalid_child_makes_the_parent_invalid() -> None:
    changeset = writer(name="Ada", posts=[{"title": "One"}, {"title": ""}]).cast_assoc(
        "posts", with_=article_changeset
    )
    assert not changeset.valid
    assert changeset.traverse_errors() == {"posts": [{}, {"title": ["can't be blank"]}]}
    with pytest.raises(InvalidChangesetError, match=r"posts\[1\]\.title can't be blank"):
        changeset.apply_action("insert")


def test_loaded_children_are_matched_by_primary_key() -> None:
    one, two = Article(id=1, title="One", writer_id=7), Article(id=2, title="Two", writer_id=7)
    data = loaded(Writer(id=7, name="Ada"), posts=[one, two])
    params = {"posts": [{"id": "2", "title": "Two!"}, {"id": 1, "title": "One"}, {"title": "New"}]}
    changeset = cast(data, params, []).cast_assoc("posts")
    children = changeset.changes["posts"]
    assert [(c.action, c.data, dict(c.changes)) for c in children] == [
        ("update", two, {"title": "Two!"}),
        ("update", one, {}),
        ("insert", Article(title=None), {"title": "New"}),  # type: ignore[arg-type]
    ]
    assert changeset.apply_changes().posts == [
        two.replace(title="Two!"),
        one,
        Article(title="New"),
    ]


def test_unchanged_children_make_no_change() -> None:
    one = Article(id=1, title="One", writer_id=7)
    data = loaded(Writer(id=7, name="Ada"), posts=[one])
    assert cast(data, {"posts": [{"id": 1, "title": "One"}]}, []).cast_assoc("posts").changes == {}


def test_no_children_on_a_new_record_is_a_change() -> None:
    # The association is not loaded on a new record: [] or None loads it, as in Ecto.
    changeset = writer(name="Ada", posts=[], bio=None).cast_assoc("posts").cast_assoc("bio")
    assert changeset.changes == {"name": "Ada", "posts": (), "bio": None}
    applied = changeset.apply_changes()
    assert (applied.posts, applied.bio) == ([], None)
    tagged = writer(name="Ada", tags=[]).cast_embed("tags").apply_changes()
    assert tagged.tags == []


def test_on_replace_decides_what_happens_to_children_left_out() -> None:
    one, two = Article(id=1, title="One"), Article(id=2, title="Two")
    data = loaded(Writer(id=7, name="Ada"), posts=[one, two])
    params = {"posts": [{"id": 1, "title": "One"}]}
    with pytest.raises(ValueError, match="on_replace"):
        cast(data, params, []).cast_assoc("posts")
    marked = cast(data, params, []).cast_assoc("posts", on_replace="mark_as_invalid")
    assert marked.traverse_errors() == {"posts": ["is invalid"]}
    deleted = cast(data, params, []).cast_assoc("posts", on_replace="delete")
    assert deleted.valid
    assert [(c.action, c.data) for c in deleted.changes["posts"]] == [
        ("update", one),
        ("replace", two),
    ]
    assert deleted.apply_changes().posts == [one]


def test_an_unloaded_association_must_be_preloaded_on_a_stored_record() -> None:
    stored = Writer(id=7, name="Ada")
    assert stored.posts is NOT_LOADED
    with pytest.raises(ValueError, match="preload it"):
        cast(stored, {"posts": []}, []).cast_assoc("posts")
    assert cast(Writer(name="Ada"), {"posts": [{"title": "x"}]}, []).cast_assoc("posts").valid


def test_has_one() -> None:
    new = writer(name="Ada", bio={"text": "Hi", "writer_id": 3}).cast_assoc("bio")
    child = new.changes["bio"]
    assert (child.action, dict(child.changes)) == ("insert", {"text": "Hi"})
    assert new.apply_changes().bio == Bio(text="Hi")
    assert writer(name="Ada", bio=None).cast_assoc("bio").changes == {"name": "Ada", "bio": None}
    old = Bio(id=3, writer_id=7, text="Old")
    data = loaded(Writer(id=7, name="Ada"), bio=old)
    updated = cast(data, {"bio": {"id": "3", "text": "New"}}, []).cast_assoc("bio")
    assert updated.apply_changes().bio == old.replace(text="New")
    with pytest.raises(ValueError, match="on_replace"):
        cast(data, {"bio": {"text": "Other"}}, []).cast_assoc("bio")
    replaced = cast(data, {"bio": {"text": "Other"}}, []).cast_assoc("bio", on_replace="delete")
    assert replaced.changes["bio"].action == "insert"
    removed = cast(data, {"bio": None}, []).cast_assoc("bio", on_replace="delete")
    assert (removed.changes["bio"].action, removed.changes["bio"].data) == ("replace", old)
    assert removed.apply_changes().bio is None


def test_belongs_to() -> None:
    changeset = cast(Article, {"title": "T", "writer": {"name": "Ada"}}, ["title"]).cast_assoc(
        "writer"
    )
    child = changeset.changes["writer"]
    assert (child.action, dict(child.changes)) == ("insert", {"name": "Ada"})
    assert changeset.apply_changes().writer == Writer(name="Ada")


def test_bad_association_params_and_required() -> None:
    bad = writer(name="Ada", posts="nope").cast_assoc("posts")
    assert [dict(e.options) for e in bad.errors] == [{"validation": "assoc", "type": "list[dict]"}]
    assert writer(name="Ada").cast_assoc("posts", required=True).traverse_errors() == {
        "posts": ["can't be blank"]
    }
    assert writer(name="Ada", posts=[]).cast_assoc("posts", required=True).errors
    with pytest.raises(ValueError, match="no association 'name'"):
        writer(name="Ada").cast_assoc("name")
    with pytest.raises(ValueError, match="use cast_assoc"):
        writer(name="Ada").put_change("posts", [])


def test_loaded_associations_carry_over_and_nested_params_are_redacted() -> None:
    posts = [Article(id=1, title="One")]
    data = loaded(Writer(id=7, name="Ada"), posts=posts)
    renamed = cast(data, {"name": "Ada L."}, ["name"])
    assert vars(renamed.apply_changes())["posts"] == posts
    params = {
        "address": {"street": "x", "door_code": "1234A"},
        "posts": {"0": {"title": "t", "secret": "s3cr3t"}},
        "bio": "not a dict",
    }
    shown = repr(writer(name="Ada", **params).cast_embed("address").cast_assoc("posts"))
    for secret in ("1234A", "s3cr3t", "not a dict"):
        assert secret not in shown
    assert "'door_code': **redacted**" in shown


def test_children_are_changesets_of_their_own() -> None:
    changeset = writer(name="Ada", posts=[{"title": "One"}]).cast_assoc("posts")
    (child,) = changeset.changes["posts"]
    assert dataclasses.replace(child, action=None) == cast(Article, {"title": "One"}, ["title"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["street", "city", "geo", "lat", "label", "title", "id", "0", "1"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@given(name=st.sampled_from(["address", "tags", "posts", "bio"]), raw=json_values)
def test_nested_casts_never_raise_on_a_new_record(name: str, raw: object) -> None:
    changeset = writer(name="Ada", **{name: raw})
    changeset = (
        changeset.cast_embed(name) if name in ("address", "tags") else changeset.cast_assoc(name)
    )
    errors = changeset.traverse_errors()
    assert changeset.valid == (errors == {})
    if changeset.valid:
        changeset.apply_action("insert")
