"""Schemas: frozen records, field options, metadata, associations, embeds, typed columns."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from repodb.errors import DecodeError, EncodeError
from repodb.expr import Binary, Column, Value
from repodb.schema import (
    NOT_LOADED,
    Assoc,
    Col,
    Embedded,
    Schema,
    belongs_to,
    dump_embedded,
    field,
    has_many,
    has_one,
    index,
    load_embedded,
    many_to_many,
    schema_info,
)
from repodb.types import Kind, json, optional


class Role(enum.Enum):
    ADMIN = "admin"
    MEMBER = "member"


class Address(Embedded):
    street: str
    city: str


class Tag(Embedded):
    label: str


class Account(Schema, table="accounts"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    email: Col[str] = field(source="email_address", default="")
    age: Col[int | None] = field(default=None)
    role: Col[Role] = field(default=Role.MEMBER)
    password: Col[str | None] = field(default=None, virtual=True, redact=True)
    token: Col[str] = field(default="", redact=True)
    address: Col[Address | None] = field(default=None)
    tags: Col[list[Tag]] = field(default_factory=list)
    inserted_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")
    updated_at: Col[dt.datetime | None] = field(default=None, timestamp="updated")
    posts: ClassVar[Assoc[list[Article]]] = has_many("Article", foreign_key="account_id")
    profile: ClassVar[Assoc[Profile | None]] = has_one("Profile", foreign_key="account_id")


class Article(Schema, table="articles", prefix="blog"):
    id: Col[uuid.UUID] = field(primary_key=True, default_factory=uuid.uuid4)
    account_id: Col[int]
    title: Col[str]
    account: ClassVar[Assoc[Account | None]] = belongs_to(Account, foreign_key="account_id")
    labels: ClassVar[Assoc[list[Label]]] = many_to_many(
        lambda: Label,
        join_through="article_labels",
        join_keys=(("article_id", "id"), ("label_id", "id")),
    )


class Label(Schema, table="labels"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]


class Profile(Schema, table="profiles"):
    id: Col[int] = field(primary_key=True, default=None)
    account_id: Col[int]


class Membership(Schema, table="memberships"):
    account_id: Col[int] = field(primary_key=True)
    group_id: Col[int] = field(primary_key=True)


def test_instances_are_frozen_records_with_replace_and_equality() -> None:
    ada = Account(name="Ada")
    assert ada.id is None
    assert ada.role is Role.MEMBER
    assert ada.tags == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        ada.name = "Grace"
    older = ada.replace(age=37)
    assert older.age == 37
    assert ada.age is None
    assert older != ada
    assert older.replace(age=None) == ada


def test_constructor_is_keyword_only_and_requires_fields_without_defaults() -> None:
    build: Any = Account
    with pytest.raises(TypeError):
        build("Ada")
    with pytest.raises(TypeError):
        Account()  # type: ignore[call-arg]


def test_repr_hides_redacted_fields() -> None:
    ada = Account(name="Ada", password="s3cret", token="t0ken")
    text = repr(ada)
    assert "s3cret" not in text
    assert "t0ken" not in text
    assert "password=**redacted**" in text
    assert "name='Ada'" in text


def test_metadata_describes_table_columns_and_types() -> None:
    info = schema_info(Account)
    assert info.table == "accounts"
    assert info.prefix is None
    assert Article.__schema_prefix__ == "blog"
    assert (schema_info(Article).prefix, schema_info(Article).table) == ("blog", "articles")
    names = [f.name for f in info.fields]
    assert "password" not in names
    assert info.virtual == ("password",)
    assert info.field("email").source == "email_address"
    assert info.field("age").dbtype == optional(int)
    assert info.field("role").dbtype.kind is Kind.ENUM
    assert info.field("token").redact
    # The database assigns the id and the timestamps: unknown before insert.
    assert info.field("id").autogenerate
    assert info.field("id").dbtype == optional(int)
    assert info.field("inserted_at").timestamp == "inserted"
    assert info.field("updated_at").timestamp == "updated"
    assert [f.name for f in info.primary_key] == ["id"]
    with pytest.raises(KeyError):
        info.field("password")


def test_primary_keys_can_be_composite_or_non_integer() -> None:
    assert [f.name for f in schema_info(Membership).primary_key] == ["account_id", "group_id"]
    assert not any(f.autogenerate for f in schema_info(Membership).fields)
    key = schema_info(Article).field("id")
    assert key.primary_key
    assert not key.autogenerate
    assert isinstance(Article(account_id=1, title="x").id, uuid.UUID)


def test_embedded_fields_are_json_columns() -> None:
    info = schema_info(Account)
    address = info.field("address")
    assert address.embed is Address
    assert not address.embed_many
    # JSON of the declared record type, so the column's codec writes and reads it.
    assert repr(address.dbtype) == "optional(json(Address))"
    assert address.dbtype != optional(json())
    tags = info.field("tags")
    assert tags.embed is Tag
    assert tags.embed_many
    assert repr(tags.dbtype) == "json(array(Tag))"


def test_embedded_records_dump_and_load() -> None:
    home = Address(street="1 Main St", city="Springfield")
    data = dump_embedded(home)
    assert data == {"street": "1 Main St", "city": "Springfield"}
    assert load_embedded(Address, {**data, "ignored": 1}) == home


class Swatch(Embedded):
    name: str
    role: Role | None = None


class Sample(Embedded):
    on: dt.date
    at: dt.datetime
    price: Decimal
    key: uuid.UUID
    blob: bytes
    lasts: dt.timedelta
    main: Swatch
    others: list[Swatch]
    spare: Swatch | None = None


def test_embedded_fields_take_their_declared_types_to_json_and_back() -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    sample = Sample(
        on=dt.date(2024, 2, 29),
        at=dt.datetime(2024, 1, 1, 12, tzinfo=paris),
        price=Decimal("1.50"),
        key=uuid.UUID(int=1),
        blob=b"\x00\xff",
        lasts=dt.timedelta(days=1, microseconds=1),
        main=Swatch(name="red", role=Role.ADMIN),
        others=[Swatch(name="blue")],
    )
    data = dump_embedded(sample)
    assert data == {
        "on": "2024-02-29",
        "at": "2024-01-01T10:00:00+00:00",
        "price": "1.50",
        "key": "00000000-0000-0000-0000-000000000001",
        "blob": "AP8=",
        "lasts": 86_400_000_001,
        "main": {"name": "red", "role": "ADMIN"},
        "others": [{"name": "blue", "role": None}],
        "spare": None,
    }
    back = load_embedded(Sample, data)
    assert back == sample
    assert back.at.utcoffset() == dt.timedelta(0)
    assert type(back.main) is Swatch
    assert type(back.others[0]) is Swatch


def test_embedded_fields_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(EncodeError, match=r"Sample\.main: expected Swatch, got dict"):
        dump_embedded(
            Sample(
                on=dt.date(2024, 1, 1),
                at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                price=Decimal(1),
                key=uuid.UUID(int=1),
                blob=b"",
                lasts=dt.timedelta(0),
                main={"name": "red"},  # type: ignore[arg-type]
                others=[],
            )
        )
    with pytest.raises(DecodeError, match=r"Swatch\.role"):
        load_embedded(Swatch, {"name": "red", "role": "NOBODY"})
    with pytest.raises(DecodeError, match="date"):
        load_embedded(Sample, {"on": 20240101})


class Loop(Embedded):
    name: str
    next: Loop | None = None


def test_an_embedded_record_containing_itself_is_refused() -> None:
    with pytest.raises(TypeError, match="Loop -> Loop"):
        dump_embedded(Loop(name="a"))


def test_class_attributes_are_typed_column_expressions() -> None:
    column = Account.email
    assert isinstance(column, Column)
    assert (column.binding, column.name, column.field) == (Account, "email_address", "email")
    assert Account.email is column  # built once
    condition = Account.age >= 18
    assert isinstance(condition, Binary)
    assert isinstance(condition.right, Value)
    assert condition.right.type_ == optional(int)
    with pytest.raises(AttributeError, match="virtual"):
        _ = Account.password


def test_instance_attributes_are_values() -> None:
    ada = Account(name="Ada", email="ada@example.com")
    assert ada.email == "ada@example.com"
    assert ada.name == "Ada"


def test_associations_describe_keys_and_resolve_lazily() -> None:
    posts = Account.posts
    assert posts.kind == "has_many"
    assert posts.cardinality == "many"
    assert posts.related is Article
    assert (posts.foreign_key, posts.references) == ("account_id", "id")
    assert Article.account.kind == "belongs_to"
    assert Article.account.related is Account
    assert Article.account.cardinality == "one"
    assert Account.profile.related is Profile
    labels = Article.labels
    assert labels.related is Label
    assert labels.join_through == "article_labels"
    assert labels.join_keys == (("article_id", "id"), ("label_id", "id"))
    assert set(schema_info(Account).associations) == {"posts", "profile"}


def test_unloaded_associations_refuse_to_look_empty() -> None:
    ada = Account(name="Ada")
    assert ada.posts is NOT_LOADED
    assert repr(ada.posts) == "<not loaded>"
    with pytest.raises(RuntimeError, match="not loaded"):
        list(ada.posts)
    with pytest.raises(RuntimeError, match="not loaded"):
        bool(ada.posts)


def test_unknown_related_schema_is_a_clear_error() -> None:
    class Orphan(Schema, table="orphans"):
        id: Col[int] = field(primary_key=True, default=None)
        ghosts: ClassVar[Assoc[list[Account]]] = has_many("Ghost", foreign_key="orphan_id")

    with pytest.raises(NameError, match="Ghost"):
        _ = Orphan.ghosts.related


def test_a_schema_needs_a_table() -> None:
    with pytest.raises(TypeError, match="table"):

        class Nameless(Schema):
            id: Col[int]


# 63 bytes: the longest name PostgreSQL keeps; "é" is two bytes in UTF-8.
LONGEST = "t" * 61 + "é"


def test_a_name_longer_than_every_database_keeps_is_refused_at_definition() -> None:
    class Longest(Schema, table=LONGEST, prefix=LONGEST):
        id: Col[int] = field(primary_key=True, default=None, source=LONGEST)

    assert schema_info(Longest).table == LONGEST
    with pytest.raises(ValueError, match=r"TooLong, table=: .* is 64 bytes long in UTF-8"):

        class TooLong(Schema, table="é" * 32):  # 32 characters, 64 bytes
            id: Col[int] = field(primary_key=True, default=None)

    with pytest.raises(ValueError, match="TooLong, prefix="):

        class TooLong(Schema, table="t", prefix=LONGEST + "x"):  # type: ignore[no-redef]
            id: Col[int] = field(primary_key=True, default=None)

    with pytest.raises(ValueError, match=r"TooLong, field 'name' \(its column: source=...\)"):

        class TooLong(Schema, table="t"):  # type: ignore[no-redef]
            id: Col[int] = field(primary_key=True, default=None)
            name: Col[str] = field(source=LONGEST + "x")

    # The name repodb makes for an index: <table>_<columns>_index.
    with pytest.raises(ValueError, match=r"index\('label'\) \(give it a shorter name=\)"):

        class TooLong(Schema, table="t" * 52, indexes=(index("label"),)):  # type: ignore[no-redef]
            id: Col[int] = field(primary_key=True, default=None)
            label: Col[str]

    class Named(Schema, table="t" * 52, indexes=(index("label", name="t_label"),)):
        id: Col[int] = field(primary_key=True, default=None)
        label: Col[str]


def test_names_resolve_in_the_owners_module_first() -> None:
    # Another module (here: a function) defining its own "Article" must not
    # capture this module's string reference.
    class Article(Schema, table="other_articles"):
        id: Col[int] = field(primary_key=True, default=None)

    assert Account.posts.related is globals()["Article"]
    assert Account.posts.related is not Article


def test_read_after_writes_is_a_stored_fields_option() -> None:
    class Stamped(Schema, table="stamped"):
        id: Col[int | None] = field(primary_key=True, default=None)
        status: Col[str | None] = field(default=None, read_after_writes=True)

    info = schema_info(Stamped)
    assert [f.read_after_writes for f in info.fields] == [False, True]
    with pytest.raises(TypeError, match="virtual field is never stored"):
        field(default=None, virtual=True, read_after_writes=True)
