"""Changesets: constraint declarations, matching database errors, optimistic locking.

Covers the default constraint names (PostgreSQL's own: ``{table}_{column}_key``,
``_fkey``, ``_excl``; the related table's foreign key for
``no_assoc_constraint``), custom names and ``match`` modes; and
``constraint_error_for`` turning hand-built ``IntegrityError`` values into
field errors in both styles: PostgreSQL (the constraint's name) and SQLite
(table and columns for unique violations, the name for CHECK, nothing for
foreign keys), plus what it leaves alone. One test feeds it the errors a real
in-memory SQLite database raises. Also ``optimistic_lock``.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

import repodb
from repodb import Request
from repodb.changeset import Changeset, Constraint, cast, change
from repodb.errors import (
    CheckViolation,
    ExclusionViolation,
    ForeignKeyViolation,
    IntegrityError,
    NotNullViolation,
    UniqueViolation,
)
from repodb.schema import (
    Assoc,
    Col,
    Embedded,
    Schema,
    field,
    has_many,
    has_one,
    many_to_many,
)
from repodb.types import optional, tup


class Member(Schema, table="members", prefix="club"):
    id: Col[int] = field(primary_key=True, default=None)
    email: Col[str] = field(source="email_address")
    team: Col[str] = field(default="")
    number: Col[int | None] = field(default=None)
    age: Col[int | None] = field(default=None)
    club_id: Col[int | None] = field(default=None)
    lock_version: Col[int] = field(default=1)
    badges: ClassVar[Assoc[list[Badge]]] = has_many("Badge", foreign_key="member_id")
    locker: ClassVar[Assoc[Locker | None]] = has_one("Locker", foreign_key="owner")
    groups: ClassVar[Assoc[list[Group]]] = many_to_many(
        "Group", join_through="member_groups", join_keys=(("member_id", "id"), ("group_id", "id"))
    )


class Badge(Schema, table="badges"):
    id: Col[int] = field(primary_key=True, default=None)
    member_id: Col[int] = field(source="holder_id")


class Locker(Schema, table="lockers"):
    id: Col[int] = field(primary_key=True, default=None)
    owner: Col[int]


class Group(Schema, table="groups"):
    id: Col[int] = field(primary_key=True, default=None)


class Place(Embedded):
    city: str


def member() -> Changeset[Member]:
    return cast(Member, {"email": "a@example.com", "team": "red", "number": "7"}, ["email"])


def test_default_names_follow_postgresql() -> None:
    changeset = (
        member()
        .unique_constraint("email")
        .unique_constraint(["team", "number"])
        .foreign_key_constraint("club_id")
        .check_constraint("age", name="age_positive")
        .exclusion_constraint("number")
        .no_assoc_constraint("badges")
        .no_assoc_constraint("locker")
        .no_assoc_constraint("groups")
    )
    many, one = "are still associated with this entry", "is still associated with this entry"
    assert [(c.kind, c.name, c.field, c.error_type) for c in changeset.constraints] == [
        ("unique", "members_email_address_key", "email", "unique"),
        ("unique", "members_team_number_key", "team", "unique"),
        ("foreign_key", "members_club_id_fkey", "club_id", "foreign"),
        ("check", "age_positive", "age", "check"),
        ("exclusion", "members_number_excl", "number", "exclusion"),
        ("foreign_key", "badges_holder_id_fkey", "badges", "no_assoc"),
        ("foreign_key", "lockers_owner_fkey", "locker", "no_assoc"),
        ("foreign_key", "member_groups_member_id_fkey", "groups", "no_assoc"),
    ]
    assert [c.message for c in changeset.constraints] == [
        "has already been taken",
        "has already been taken",
        "does not exist",
        "is invalid",
        "violates an exclusion constraint",
        many,
        one,
        many,
    ]
    assert changeset.constraints[0].columns == ("email_address",)
    assert changeset.constraints[1].columns == ("team", "number")
    assert changeset.constraints[0].table == "members"


def test_names_messages_and_match_can_be_given() -> None:
    constraint = (
        member()
        .unique_constraint("email", name="members_email_index", message="taken", match="suffix")
        .constraints[0]
    )
    assert constraint == Constraint(
        "unique",
        "members_email_index",
        "email",
        "taken",
        "unique",
        "suffix",
        "members",
        ("email_address",),
    )


def test_declaring_constraints_checks_names() -> None:
    with pytest.raises(ValueError, match="no stored field 'nope'"):
        member().unique_constraint("nope")
    with pytest.raises(ValueError, match="at least one field"):
        member().unique_constraint([])
    with pytest.raises(ValueError, match="no has_one/has_many/many_to_many 'nope'"):
        member().no_assoc_constraint("nope")
    with pytest.raises(TypeError, match="Place is not a table schema"):
        cast(Place, {}, ["city"]).unique_constraint("city")


def test_postgresql_errors_match_by_constraint_name() -> None:
    changeset = member().unique_constraint("email").foreign_key_constraint("club_id")
    error = UniqueViolation(
        "duplicate key value violates unique constraint",
        sqlstate="23505",
        constraint="members_email_address_key",
        table="members",
        columns=("email_address",),
    )
    failed = changeset.constraint_error_for(error)
    assert failed is not None
    assert not failed.valid
    assert failed.traverse_errors() == {"email": ["has already been taken"]}
    assert dict(failed.errors[0].options) == {
        "validation": "unique",
        "constraint_name": "members_email_address_key",
    }
    assert failed.changes == changeset.changes
    fk = ForeignKeyViolation("fk", sqlstate="23503", constraint="members_club_id_fkey")
    assert changeset.constraint_error_for(fk) is not None
    other = UniqueViolation("dup", sqlstate="23505", constraint="members_team_key")
    assert changeset.constraint_error_for(other) is None


def test_the_violation_class_must_match_the_constraint_kind() -> None:
    changeset = member().unique_constraint("email")
    wrong = CheckViolation("check", constraint="members_email_address_key")
    assert changeset.constraint_error_for(wrong) is None


def test_match_modes() -> None:
    reported = UniqueViolation("dup", constraint="club_members_email_idx")
    for match, name, hit in [
        ("exact", "club_members_email_idx", True),
        ("exact", "members_email_idx", False),
        ("suffix", "members_email_idx", True),
        ("suffix", "club_members", False),
        ("prefix", "club_members", True),
        ("prefix", "members", False),
    ]:
        changeset = member().unique_constraint("email", name=name, match=match)  # type: ignore[arg-type]
        assert (changeset.constraint_error_for(reported) is not None) is hit, (match, name)


def test_sqlite_unique_errors_match_by_table_and_columns() -> None:
    changeset = member().unique_constraint("email").unique_constraint(["team", "number"])
    email = UniqueViolation(
        "UNIQUE constraint failed: members.email_address",
        code="SQLITE_CONSTRAINT_UNIQUE",
        table="members",
        columns=("email_address",),
    )
    failed = changeset.constraint_error_for(email)
    assert failed is not None
    assert failed.traverse_errors() == {"email": ["has already been taken"]}
    pair = UniqueViolation("dup", table="members", columns=("number", "team"))
    by_pair = changeset.constraint_error_for(pair)
    assert by_pair is not None
    assert by_pair.traverse_errors() == {"team": ["has already been taken"]}
    assert (
        changeset.constraint_error_for(UniqueViolation("dup", columns=("email_address",)))
        is not None
    )
    for unmatched in (
        UniqueViolation("dup", table="other", columns=("email_address",)),
        UniqueViolation("dup", table="members", columns=("team",)),
        UniqueViolation("dup", table="members", columns=("email_address", "team")),
    ):
        assert changeset.constraint_error_for(unmatched) is None


def test_sqlite_check_errors_carry_the_constraint_name() -> None:
    changeset = member().check_constraint("age", name="age_positive", message="must be positive")
    error = CheckViolation("CHECK constraint failed: age_positive", constraint="age_positive")
    failed = changeset.constraint_error_for(error)
    assert failed is not None
    assert failed.traverse_errors() == {"age": ["must be positive"]}
    assert failed.errors[0].validation == "check"


def test_sqlite_foreign_key_errors_match_the_only_declared_foreign_key() -> None:
    unnamed = ForeignKeyViolation(
        "FOREIGN KEY constraint failed", code="SQLITE_CONSTRAINT_FOREIGNKEY"
    )
    one = member().foreign_key_constraint("club_id")
    failed = one.constraint_error_for(unnamed)
    assert failed is not None
    assert failed.traverse_errors() == {"club_id": ["does not exist"]}
    assert failed.errors[0].validation == "foreign"
    assert member().constraint_error_for(unnamed) is None
    two = one.no_assoc_constraint("badges")
    assert two.constraint_error_for(unnamed) is None
    on_delete = change(Member(id=1, email="a")).no_assoc_constraint("badges")
    deleted = on_delete.constraint_error_for(unnamed)
    assert deleted is not None
    assert deleted.traverse_errors() == {"badges": ["are still associated with this entry"]}
    assert deleted.errors[0].validation == "no_assoc"


def test_exclusion_and_no_assoc_on_postgresql() -> None:
    changeset = member().exclusion_constraint("number").no_assoc_constraint("badges")
    excl = ExclusionViolation("conflicting key", sqlstate="23P01", constraint="members_number_excl")
    failed = changeset.constraint_error_for(excl)
    assert failed is not None
    assert failed.traverse_errors() == {"number": ["violates an exclusion constraint"]}
    fk = ForeignKeyViolation("still referenced", constraint="badges_holder_id_fkey")
    referenced = changeset.constraint_error_for(fk)
    assert referenced is not None
    assert referenced.traverse_errors() == {"badges": ["are still associated with this entry"]}


def test_errors_without_a_declaration_are_left_to_the_repo() -> None:
    changeset = member().unique_constraint("email").foreign_key_constraint("club_id")
    not_null = NotNullViolation(
        "NOT NULL constraint failed", table="members", columns=("email_address",)
    )
    assert changeset.constraint_error_for(not_null) is None
    assert changeset.constraint_error_for(IntegrityError("constraint failed")) is None


def test_errors_from_a_real_sqlite_database_match() -> None:
    with repodb.connect("sqlite::memory:") as conn:
        conn.exec(Request.exec("PRAGMA foreign_keys = ON"))
        conn.exec(Request.exec("CREATE TABLE clubs (id INTEGER PRIMARY KEY)"))
        conn.exec(
            Request.exec(
                "CREATE TABLE members (id INTEGER PRIMARY KEY,"
                " email_address TEXT NOT NULL UNIQUE, team TEXT, number INTEGER,"
                " age INTEGER CONSTRAINT age_positive CHECK (age > 0),"
                " club_id INTEGER REFERENCES clubs (id), UNIQUE (team, number))"
            )
        )
        insert = Request.exec(
            "INSERT INTO members (email_address, team, number, age, club_id)"
            " VALUES (?, ?, ?, ?, ?)",
            params=tup(str, str, int, int, optional(int)),
        )
        conn.exec(insert, ("a@example.com", "red", 7, 30, None))
        changeset = (
            member()
            .unique_constraint("email")
            .unique_constraint(["team", "number"])
            .check_constraint("age", name="age_positive")
            .foreign_key_constraint("club_id")
        )
        expected = {
            ("a@example.com", "blue", 1, 30, None): {"email": ["has already been taken"]},
            ("b@example.com", "red", 7, 30, None): {"team": ["has already been taken"]},
            ("b@example.com", "red", 8, -1, None): {"age": ["is invalid"]},
            ("b@example.com", "red", 8, 30, 99): {"club_id": ["does not exist"]},
        }
        for row, errors in expected.items():
            with pytest.raises(IntegrityError) as raised:
                conn.exec(insert, row)
            failed = changeset.constraint_error_for(raised.value)
            assert failed is not None, raised.value
            assert failed.traverse_errors() == errors


def test_optimistic_lock() -> None:
    data = Member(id=1, email="a@example.com", lock_version=4)
    locked = change(data, team="blue").optimistic_lock("lock_version")
    assert locked.changes == {"team": "blue", "lock_version": 5}
    assert locked.filters == {"lock_version": 4}
    assert locked.apply_changes().lock_version == 5
    tens = change(data).optimistic_lock("lock_version", lambda v: v + 10)
    assert (tens.changes, tens.filters) == ({"lock_version": 14}, {"lock_version": 4})
    with pytest.raises(ValueError, match="no field"):
        change(data).optimistic_lock("version")
