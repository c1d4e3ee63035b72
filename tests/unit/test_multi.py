"""Building a Multi: step order, names, immutability, merges, inspection, MultiError.

Nothing here runs: ``tests/integration/test_repo_multi.py`` runs Multis on
both databases. Covered: every step kind recorded with its arguments and
options in order; a repeated name rejected by every builder, by ``append``
and by ``prepend``; builders returning new Multis and leaving the old one
alone; steps and their options read-only; merges kept in place without a
name; arguments of the wrong kind rejected when the Multi is built; and what
``MultiError`` exposes for a changeset failure and for an exception.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from repodb.changeset import InvalidChangesetError, cast, change
from repodb.errors import Error, UniqueViolation
from repodb.multi import Multi, MultiError, Results, Step
from repodb.query import query
from repodb.repo import TransactionRepo
from repodb.schema import Col, Schema, field
from repodb.write import set_


class MultiUnitAccount(Schema, table="accounts"):
    id: Col[int | None] = field(primary_key=True, default=None)
    owner: Col[str]
    balance: Col[int] = field(default=0)


ADA = MultiUnitAccount(id=1, owner="ada")


def noop(tx: TransactionRepo, results: Results) -> None:
    return None


def again(results: Results) -> Multi:
    return Multi()


def test_steps_keep_their_order_arguments_and_options() -> None:
    changes = change(ADA, balance=5)
    everyone = query(MultiUnitAccount)
    multi = (
        Multi()
        .insert("new", MultiUnitAccount(owner="bob"), on_conflict="nothing")
        .update("pay", changes)
        .delete("gone", ADA)
        .insert_all("many", MultiUnitAccount, [{"owner": "cy"}], returning=True)
        .update_all("zero", everyone, set_(MultiUnitAccount.balance, 0), returning=["id"])
        .delete_all("purge", everyone)
        .run("note", noop)
        .merge(again)
    )
    assert multi.names == ("new", "pay", "gone", "many", "zero", "purge", "note")
    steps = multi.to_list()
    assert [(s.name, s.action) for s in steps] == [
        ("new", "insert"),
        ("pay", "update"),
        ("gone", "delete"),
        ("many", "insert_all"),
        ("zero", "update_all"),
        ("purge", "delete_all"),
        ("note", "run"),
        (None, "merge"),
    ]
    assert steps[0].options == {"on_conflict": "nothing", "conflict_target": None}
    assert steps[1].args == (changes,)
    assert steps[3].args == (MultiUnitAccount, [{"owner": "cy"}])
    assert steps[3].options["returning"] is True
    zero = steps[4]
    assert zero.args[0] is everyone
    assert zero.args[1].column is MultiUnitAccount.balance
    assert zero.options == {"set": None, "returning": ["id"]}
    assert steps[5].options == {"returning": False}
    assert steps[6].args == (noop,)
    assert steps[7].args == (again,)
    assert repr(multi).startswith("<Multi insert 'new', update 'pay', ")
    assert repr(multi).endswith("run 'note', merge>")
    assert repr(Multi()) == "<Multi (empty)>"


def test_functions_of_the_results_are_kept_unevaluated() -> None:
    calls: list[Results] = []

    def build(results: Results) -> MultiUnitAccount:
        calls.append(results)
        return ADA

    multi = (
        Multi()
        .insert("a", build)
        .delete("b", lambda r: r["a"])
        .update_all("c", lambda r: query(MultiUnitAccount).where(id=r["a"].id), set={"balance": 1})
    )
    assert calls == []
    assert multi.to_list()[0].args == (build,)


@pytest.mark.parametrize(
    "add",
    [
        lambda m: m.insert("x", ADA),
        lambda m: m.update("x", change(ADA, owner="y")),
        lambda m: m.delete("x", ADA),
        lambda m: m.insert_all("x", MultiUnitAccount, [{"owner": "z"}]),
        lambda m: m.update_all("x", query(MultiUnitAccount), set={"balance": 0}),
        lambda m: m.delete_all("x", query(MultiUnitAccount)),
        lambda m: m.run("x", noop),
    ],
)
def test_every_step_kind_rejects_a_repeated_name(add: Any) -> None:
    multi = Multi().run("x", noop)
    with pytest.raises(ValueError, match="already has a step named 'x'"):
        add(multi)
    assert add(Multi()).names == ("x",)


def test_append_and_prepend_join_in_order_and_reject_shared_names() -> None:
    first = Multi().run("a", noop).run("b", noop)
    second = Multi().run("c", noop).merge(again)
    assert first.append(second).names == ("a", "b", "c")
    assert first.prepend(second).names == ("c", "a", "b")
    assert [s.action for s in first.prepend(second).to_list()] == ["run", "merge", "run", "run"]
    with pytest.raises(ValueError, match="both Multis have steps named b"):
        first.append(Multi().run("b", noop))
    with pytest.raises(ValueError, match="both Multis have steps named a, b"):
        first.prepend(first)
    # A Multi built from a join keeps rejecting names from both halves.
    with pytest.raises(ValueError, match="'c'"):
        first.append(second).run("c", noop)


def test_builders_return_new_multis_and_leave_the_old_one_alone() -> None:
    empty = Multi()
    one = empty.run("a", noop)
    two = one.run("b", noop)
    merged = two.merge(again)
    assert (empty.names, one.names, two.names) == ((), ("a",), ("a", "b"))
    assert len(two.to_list()) == 2
    assert len(merged.to_list()) == 3
    # The same name may be used again on a branch that never had it.
    assert one.run("c", noop).names == ("a", "c")
    assert one.run("b", noop).names == ("a", "b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        one._steps = ()  # type: ignore[misc]
    step = two.to_list()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.name = "z"  # type: ignore[misc]


def test_step_options_are_a_read_only_copy() -> None:
    options = {"returning": False}
    step = Step("s", "delete_all", (query(MultiUnitAccount),), options)
    options["returning"] = True
    assert step.options == {"returning": False}
    multi = Multi().delete_all("s", query(MultiUnitAccount))
    with pytest.raises(TypeError):
        multi.to_list()[0].options["returning"] = True  # type: ignore[index]
    assert multi.to_list()[0].options["returning"] is False


def test_merges_have_no_name_and_may_repeat() -> None:
    multi = Multi().merge(again).run("a", noop).merge(again)
    assert multi.names == ("a",)
    assert [s.name for s in multi.to_list()] == [None, "a", None]


def test_arguments_of_the_wrong_kind_are_rejected_when_built() -> None:
    with pytest.raises(TypeError, match="step 'u' needs a changeset or a function, not"):
        Multi().update("u", ADA)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="step 'i' needs a record, a changeset or a function"):
        Multi().insert("i", {"owner": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="insert_all needs a schema class"):
        Multi().insert_all("a", ADA, [{"owner": "x"}])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs rows or a function"):
        Multi().insert_all("a", MultiUnitAccount, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a query or a function"):
        Multi().delete_all("d", MultiUnitAccount)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a step name is a str"):
        Multi().run(1, noop)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a function"):
        Multi().run("r", "noop")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="merge needs a function"):
        Multi().merge(Multi())  # type: ignore[arg-type]


def test_multi_error_for_an_invalid_changeset_exposes_the_changeset() -> None:
    invalid = cast(MultiUnitAccount, {"owner": ""}, ["owner"]).validate_required("owner")
    cause = InvalidChangesetError(dataclasses.replace(invalid, action="insert"))
    earlier = {"a": 1}
    error = MultiError("account", cause, earlier)
    earlier["b"] = 2
    assert isinstance(error, Error)
    assert error.step == "account"
    assert error.changeset is cause.changeset
    assert error.error is cause.changeset
    assert error.results == {"a": 1}
    with pytest.raises(TypeError):
        error.results["c"] = 3  # type: ignore[index]
    assert str(error) == (
        "Multi step 'account' failed: InvalidChangesetError: "
        "could not insert MultiUnitAccount: owner can't be blank"
    )


def test_multi_error_for_an_exception_exposes_the_exception() -> None:
    cause = UniqueViolation("duplicate key", constraint="accounts_owner_key")
    error = MultiError("dup", cause, {})
    assert error.error is cause
    assert error.changeset is None
    assert error.results == {}
    assert "Multi step 'dup' failed: UniqueViolation: duplicate key" in str(error)
