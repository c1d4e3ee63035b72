"""Changesets: changes, validators, results, errors, redaction and immutability.

Covers ``change``/``put_change``/``force_change``/``delete_change``/
``get_change``/``get_field``/``add_error``; every validator passing and
failing, with its default message, options and a custom message, and that
validators look only at changes (``validate_required`` at the field's
value); ``apply_changes``/``apply_action`` (raising
``InvalidChangesetError`` with the changeset); ``traverse_errors``
interpolation; redaction of ``redact=True`` fields in reprs and errors;
immutability; and the static types (``assert_type``, checked by mypy).
Casting itself is in ``test_changeset_cast``, constraints in
``test_changeset_constraints``, nested changesets in ``test_changeset_nested``.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any, assert_type

import pytest

import repodb
from repodb.changeset import Changeset, FieldError, InvalidChangesetError, cast, change
from repodb.schema import Col, Schema, field


class Person(Schema, table="people"):
    id: Col[int] = field(primary_key=True, default=None)
    name: Col[str]
    email: Col[str] = field(default="")
    age: Col[int | None] = field(default=None)
    score: Col[float | None] = field(default=None)
    price: Col[Decimal | None] = field(default=None)
    tags: Col[list[str]] = field(default_factory=list)
    avatar: Col[bytes | None] = field(default=None)
    role: Col[str] = field(default="member")
    password: Col[str | None] = field(default=None, virtual=True, redact=True)
    token: Col[str] = field(default="", redact=True)


ADA = Person(id=1, name="Ada", email="ada@example.com", age=36)
FIELDS = ["name", "email", "age", "score", "price", "tags", "avatar", "role", "password"]


def person(**params: Any) -> Changeset[Person]:
    return cast(Person, params, FIELDS)


def errors_of(changeset: Changeset[Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.field, e.message, dict(e.options)) for e in changeset.errors]


# -- changes -------------------------------------------------------------------


def test_change_takes_trusted_values_and_drops_unchanged_ones() -> None:
    changeset = change(ADA, age=37, name="Ada")
    assert changeset.changes == {"age": 37}
    assert changeset.params is None
    assert changeset.valid
    assert change(ADA).changes == {}
    with pytest.raises(ValueError, match="Person has no field 'nope'"):
        change(ADA, nope=1)


def test_put_force_and_delete_change() -> None:
    changeset = change(ADA).put_change("age", 40)
    assert changeset.changes == {"age": 40}
    # Putting the data's value back removes the change; forcing keeps it.
    assert changeset.put_change("age", 36).changes == {}
    assert changeset.force_change("age", 36).changes == {"age": 36}
    assert changeset.delete_change("age").changes == {}
    assert changeset.delete_change("name").changes == {"age": 40}


def test_get_change_and_get_field() -> None:
    changeset = change(ADA, age=40)
    assert changeset.get_change("age") == 40
    assert changeset.get_change("name") is None
    assert changeset.get_change("name", "none") == "none"
    assert changeset.get_field("age") == 40
    assert changeset.get_field("name") == "Ada"
    assert changeset.get_field("score", 0.0) == 0.0
    with pytest.raises(ValueError, match="no field"):
        changeset.get_field("nope")


def test_add_error_keeps_options_for_interpolation() -> None:
    changeset = change(ADA).add_error("name", "is {what}", what="odd", validation="custom")
    assert not changeset.valid
    (error,) = changeset.errors
    assert error == FieldError("name", "is {what}", {"what": "odd", "validation": "custom"})
    assert (error.text, str(error), error.validation) == ("is odd", "name is odd", "custom")
    # Errors may name any key (a param that is not a field, say); unknown placeholders stay.
    other = changeset.add_error("base", "{missing} stays")
    assert other.traverse_errors() == {"name": ["is odd"], "base": ["{missing} stays"]}


# -- validators ----------------------------------------------------------------


def test_validate_required() -> None:
    for params in ({}, {"name": ""}, {"name": "   "}, {"name": None}):
        changeset = person(**params).validate_required(["name", "role"])
        assert errors_of(changeset) == [("name", "can't be blank", {"validation": "required"})]
        assert changeset.required == ("name", "role")
    assert person(name="Ada").validate_required("name").valid
    # It looks at the field's value: the data counts when nothing changed.
    assert cast(ADA, {}, ["name"]).validate_required("name").valid
    assert not cast(ADA, {"name": " "}, ["name"]).validate_required("name").valid
    custom = person().validate_required("name", message="is required")
    assert custom.traverse_errors() == {"name": ["is required"]}


def test_validate_required_skips_fields_with_errors_and_unknown_fields_raise() -> None:
    changeset = person(name="Ada", age="x").validate_required(["age"])
    assert errors_of(changeset) == [("age", "is invalid", {"validation": "cast", "type": "int"})]
    with pytest.raises(ValueError, match="no field"):
        person().validate_required(["nope"])


def test_validators_only_look_at_changes() -> None:
    untouched = cast(ADA.replace(name="A", email="bad"), {}, FIELDS)
    checked = (
        untouched.validate_length("name", min=2)
        .validate_format("email", "@")
        .validate_number("age", less_than=0)
        .validate_inclusion("role", ["admin"])
        .validate_change("name", lambda f, v: ["always"])
    )
    assert checked.valid
    # A change to None is not checked either (validate_required is for that).
    assert person(age=None).validate_number("age", greater_than=0).valid


def test_validate_format() -> None:
    assert person(email="ada@example.com").validate_format("email", r"@").valid
    assert person(email="x@y").validate_format("email", re.compile(r"^\S+@\S+$")).valid
    failed = person(email="ada").validate_format("email", r"@")
    assert errors_of(failed) == [("email", "has invalid format", {"validation": "format"})]
    custom = person(email="ada").validate_format("email", "@", message="needs an @")
    assert custom.traverse_errors() == {"email": ["needs an @"]}
    with pytest.raises(TypeError, match="not str"):
        person(age="3").validate_format("age", "3")


@pytest.mark.parametrize(
    ("value", "options", "message", "extra"),
    [
        ("Al", {"min": 3}, "should be at least {count} character(s)", {"kind": "min", "count": 3}),
        (
            "Alice",
            {"max": 4},
            "should be at most {count} character(s)",
            {"kind": "max", "count": 4},
        ),
        ("Al", {"is_": 3}, "should be {count} character(s)", {"kind": "is", "count": 3}),
    ],
)
def test_validate_length_of_strings(
    value: str, options: dict[str, Any], message: str, extra: dict[str, Any]
) -> None:
    failed = person(name=value).validate_length("name", **options)
    expected = {"validation": "length", "type": "string", **extra}
    assert errors_of(failed) == [("name", message, expected)]
    assert failed.traverse_errors() == {"name": [message.format(count=extra["count"])]}


def test_validate_length_passes_counts_characters_and_reports_the_first_failure() -> None:
    assert person(name="日本語").validate_length("name", is_=3, min=1, max=3).valid
    # is_ is checked first, then min, then max; only one error is added.
    both = person(name="A").validate_length("name", is_=5, min=2)
    assert [e.options["kind"] for e in both.errors] == ["is"]


def test_validate_length_of_lists_and_bytes() -> None:
    few = person(tags=["a"]).validate_length("tags", min=2)
    assert few.traverse_errors() == {"tags": ["should have at least 2 item(s)"]}
    assert few.errors[0].options["type"] == "list"
    many = person(tags=["a", "b", "c"]).validate_length("tags", max=2)
    assert many.traverse_errors() == {"tags": ["should have at most 2 item(s)"]}
    exact = person(tags=["a"]).validate_length("tags", is_=2)
    assert exact.traverse_errors() == {"tags": ["should have 2 item(s)"]}
    blob = person(avatar="ab").validate_length("avatar", max=1)
    assert blob.traverse_errors() == {"avatar": ["should be at most 1 byte(s)"]}
    custom = person(name="A").validate_length("name", min=2, message="{count}+ please")
    assert custom.traverse_errors() == {"name": ["2+ please"]}
    with pytest.raises(TypeError):
        person(age="3").validate_length("age", min=1)


@pytest.mark.parametrize(
    ("kind", "bound", "passing", "failing", "message"),
    [
        ("less_than", 10, 9, 10, "must be less than 10"),
        ("greater_than", 0, 1, 0, "must be greater than 0"),
        ("less_than_or_equal_to", 10, 10, 11, "must be less than or equal to 10"),
        ("greater_than_or_equal_to", 18, 18, 17, "must be greater than or equal to 18"),
        ("equal_to", 42, 42, 41, "must be equal to 42"),
        ("not_equal_to", 13, 12, 13, "must be not equal to 13"),
    ],
)
def test_validate_number(kind: str, bound: int, passing: int, failing: int, message: str) -> None:
    options: dict[str, Any] = {kind: bound}
    assert person(age=passing).validate_number("age", **options).valid
    failed = person(age=failing).validate_number("age", **options)
    assert failed.traverse_errors() == {"age": [message]}
    assert dict(failed.errors[0].options) == {"validation": "number", "kind": kind, "number": bound}


def test_validate_number_with_floats_decimals_custom_messages_and_several_bounds() -> None:
    assert person(score="0.5").validate_number("score", greater_than=0, less_than=1).valid
    price = person(price="10.01").validate_number("price", less_than_or_equal_to=Decimal("10"))
    assert price.traverse_errors() == {"price": ["must be less than or equal to 10"]}
    first = person(age=-5).validate_number("age", greater_than=0, equal_to=1, message="bad {kind}")
    assert first.traverse_errors() == {"age": ["bad greater_than"]}
    with pytest.raises(TypeError):
        person(name="x").validate_number("name", less_than=1)


def test_validate_inclusion_exclusion_and_subset() -> None:
    roles = ["admin", "member"]
    assert person(role="admin").validate_inclusion("role", roles).valid
    out = person(role="root").validate_inclusion("role", roles)
    assert errors_of(out) == [("role", "is invalid", {"validation": "inclusion", "enum": roles})]
    assert person(name="Ada").validate_exclusion("name", {"admin", "root"}).valid
    reserved = person(name="root").validate_exclusion("name", ["admin", "root"], message="taken")
    assert reserved.traverse_errors() == {"name": ["taken"]}
    assert reserved.errors[0].validation == "exclusion"
    assert person(tags=["a", "b"]).validate_subset("tags", ["a", "b", "c"]).valid
    subset = person(tags=["a", "z"]).validate_subset("tags", ["a", "b"])
    assert errors_of(subset) == [
        ("tags", "has an invalid entry", {"validation": "subset", "enum": ["a", "b"]})
    ]
    with pytest.raises(TypeError, match="not a list"):
        person(name="a").validate_subset("name", ["a"])


def test_validate_acceptance_reads_the_params() -> None:
    for accepted in ("true", "on", "1", True):
        assert person(terms=accepted).validate_acceptance("terms").valid
    for refused in ({"terms": "false"}, {"terms": "nonsense"}, {}):
        failed = person(**refused).validate_acceptance("terms")
        assert errors_of(failed) == [("terms", "must be accepted", {"validation": "acceptance"})]
    custom = person().validate_acceptance("terms", message="please accept")
    assert custom.traverse_errors() == {"terms": ["please accept"]}
    # Without params (built by change) there is nothing to accept.
    assert change(ADA).validate_acceptance("terms").valid


def test_validate_confirmation() -> None:
    same = person(password="s3cret", password_confirmation="s3cret")
    assert same.validate_confirmation("password").valid
    assert person(password="s3cret").validate_confirmation("password").valid
    differs = person(password="s3cret", password_confirmation="other")
    failed = differs.validate_confirmation("password")
    assert errors_of(failed) == [
        ("password_confirmation", "does not match confirmation", {"validation": "confirmation"})
    ]
    custom = differs.validate_confirmation("password", message="mismatch")
    assert custom.traverse_errors() == {"password_confirmation": ["mismatch"]}
    required = person(password="s3cret").validate_confirmation("password", required=True)
    assert required.traverse_errors() == {"password_confirmation": ["can't be blank"]}
    assert change(ADA, password="x").validate_confirmation("password", required=True).valid


def test_validate_change_runs_a_function_on_the_change() -> None:
    def no_spaces(name: str, value: Any) -> list[str | tuple[str, str]]:
        if " " in value:
            return ["has spaces", ("role", f"cannot be set while {name} has spaces")]
        return []

    assert person(name="Ada").validate_change("name", no_spaces).valid
    failed = person(name="Ada L").validate_change("name", no_spaces)
    assert failed.traverse_errors() == {
        "name": ["has spaces"],
        "role": ["cannot be set while name has spaces"],
    }
    assert {e.validation for e in failed.errors} == {"change"}


# -- results -------------------------------------------------------------------


def test_apply_changes_builds_a_new_record() -> None:
    changeset = cast(ADA, {"age": "37", "name": "Ada L."}, ["age", "name"])
    updated = changeset.apply_changes()
    assert updated == ADA.replace(age=37, name="Ada L.")
    assert ADA.age == 36
    # Invalid or not, apply_changes applies what converted.
    assert cast(ADA, {"age": "x", "name": "B"}, ["age", "name"]).apply_changes().name == "B"


def test_apply_action_returns_the_record_or_raises_with_the_changeset() -> None:
    assert person(name="Ada").apply_action("insert") == Person(name="Ada")
    changeset = person(age="x", password="hunter2").validate_required("name")
    with pytest.raises(InvalidChangesetError) as raised:
        changeset.apply_action("insert")
    error = raised.value
    assert isinstance(error, repodb.Error)
    assert error.changeset.action == "insert"
    assert error.changeset.errors == changeset.errors
    assert changeset.action is None
    assert str(error) == "could not insert Person: age is invalid; name can't be blank"


def test_traverse_errors_interpolates_or_uses_a_function() -> None:
    changeset = person(name="A", age="x").validate_length("name", min=2)
    assert changeset.traverse_errors() == {
        "age": ["is invalid"],
        "name": ["should be at least 2 character(s)"],
    }
    raw = changeset.traverse_errors(lambda e: e.message)
    assert raw["name"] == ["should be at least {count} character(s)"]
    tagged = changeset.traverse_errors(lambda e: f"{e.validation}:{e.text}")
    assert tagged["age"] == ["cast:is invalid"]
    several = changeset.add_error("name", "again")
    assert several.traverse_errors()["name"] == ["should be at least 2 character(s)", "again"]
    assert person(name="Ada").traverse_errors() == {}


# -- redaction and immutability -------------------------------------------------


def test_redacted_values_never_show() -> None:
    data = Person(name="Ada", password="old-secret", token="tok-secret")
    changeset = cast(
        data,
        {"password": "new-secret", "password_confirmation": "new-secreT", "name": ""},
        ["password", "name"],
    )
    changeset = changeset.validate_confirmation("password").validate_required("name")
    shown = [repr(changeset), str(changeset), repr(changeset.errors)]
    with pytest.raises(InvalidChangesetError) as raised:
        changeset.apply_action("update")
    shown.append(str(raised.value))
    for text in shown:
        for secret in ("old-secret", "tok-secret", "new-secret", "new-secreT"):
            assert secret not in text
    assert "'password': **redacted**" in repr(changeset)
    assert "'password_confirmation': **redacted**" in repr(changeset)
    assert "name: can't be blank" in repr(changeset)


def test_changesets_are_immutable() -> None:
    params: dict[str, Any] = {"name": "Ada"}
    changeset = person(**params)
    params["name"] = "Eve"
    assert changeset.params == {"name": "Ada"}
    with pytest.raises(TypeError):
        changeset.changes["name"] = "Eve"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        changeset.action = "insert"  # type: ignore[misc]
    with pytest.raises(TypeError):
        changeset.add_error("name", "x").errors[0].options["x"] = 1  # type: ignore[index]
    later = changeset.put_change("age", 3).validate_required("email").add_error("name", "x")
    assert later is not changeset
    assert changeset.changes == {"name": "Ada"}
    assert changeset.errors == ()
    assert changeset.required == ()


def test_static_types() -> None:
    assert_type(cast(ADA, {}, ["name"]), Changeset[Person])
    assert_type(cast(Person, {}, ["name"]), Changeset[Person])
    assert_type(cast(change(ADA), {}, ["name"]), Changeset[Person])
    assert_type(change(ADA, age=1).validate_required("name"), Changeset[Person])
    assert_type(person(name="x").apply_changes(), Person)
    assert_type(person(name="x").apply_action("insert").name, str)
