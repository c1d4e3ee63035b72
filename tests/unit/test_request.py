"""Typed requests: construction checks, immutability, plans and parameter encoding.

Covers ``repodb.Request`` without a server: the parameter count of the SQL
must match the declared params; each constructor sets its multiplicity;
requests cannot be changed; ``plan()`` renders the SQL per dialect and is
cached; parameters are encoded from a single value, a ``tup``, a dataclass
or a NamedTuple, and a bad value names its position. One test opens an
in-memory SQLite connection to check that ``one()`` refuses a many-row
request at run time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, NamedTuple

import pytest

import repodb
from repodb import EncodeError, Many, One, Request, Zero, ZeroOrOne
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.driver import postgresql, sqlite
from repodb.request import Plan
from repodb.types import optional, to_dbtype, tup


@dataclasses.dataclass
class NewUser:
    name: str
    email: str | None
    age: int


class Range(NamedTuple):
    low: int
    high: int


def sqlite_plan(request: Request[Any, Any, Any]) -> Plan:
    return request.plan(SQLITE, sqlite.CODECS)


# Construction -----------------------------------------------------------------


def test_constructors_set_multiplicity_and_types() -> None:
    exec_ = Request.exec("DELETE FROM t")
    one = Request.one("SELECT a FROM t WHERE id = ?", params=int, row=str)
    maybe = Request.one_or_none("SELECT a FROM t WHERE id = ?", params=int, row=str)
    many = Request.many("SELECT a, b FROM t", row=tup(int, str))
    assert (exec_.multiplicity, one.multiplicity) == (Zero, One)
    assert (maybe.multiplicity, many.multiplicity) == (ZeroOrOne, Many)
    assert exec_.param_type is None
    assert exec_.row_type is None
    assert one.param_type == to_dbtype(int)
    assert one.row_type == to_dbtype(str)
    assert many.row_type == tup(int, str)
    assert one.sql == "SELECT a FROM t WHERE id = ?"
    assert one.oneshot is False
    assert Request.exec("VACUUM", oneshot=True).oneshot is True


def test_multiplicity_classes_nest_like_caqti() -> None:
    # A request that gives one row may be used wherever at most one or many are.
    assert issubclass(One, ZeroOrOne)
    assert issubclass(Zero, ZeroOrOne)
    assert issubclass(ZeroOrOne, Many)
    assert not issubclass(Many, ZeroOrOne)


def test_repr_shows_types_arrow_and_sql() -> None:
    request = Request.one("SELECT a FROM t WHERE id = ?", params=int, row=tup(int, str))
    assert repr(request) == "Request(int ->! tup(int, str): 'SELECT a FROM t WHERE id = ?')"
    assert repr(Request.exec("SELECT 1")).startswith("Request(None ->. None")
    assert "->?" in repr(Request.one_or_none("SELECT 1", row=int))
    assert "->*" in repr(Request.many("SELECT 1", row=int))


@pytest.mark.parametrize(
    ("make", "declared", "found"),
    [
        (lambda: Request.exec("DELETE FROM t WHERE id = ?"), 0, 1),
        (lambda: Request.exec("DELETE FROM t", params=int), 1, 0),
        (lambda: Request.one("SELECT ? + ?", params=int, row=int), 1, 2),
        (lambda: Request.many("SELECT $1, $2, $3", params=tup(int, int), row=int), 2, 3),
        (lambda: Request.one_or_none("SELECT ?", params=NewUser, row=int), 3, 1),
    ],
)
def test_parameter_count_mismatch_is_rejected(make: Any, declared: int, found: int) -> None:
    with pytest.raises(ValueError, match=f"has {found} parameter.* declares {declared}"):
        make()


def test_repeated_numbered_markers_count_once() -> None:
    request = Request.one("SELECT $1 + $1 * $2", params=tup(int, int), row=int)
    assert request.param_type == tup(int, int)


def test_bad_sql_markers_are_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="either"):
        Request.exec("SELECT ?, $1", params=tup(int, int))


def test_bad_type_specs_are_rejected_at_construction() -> None:
    with pytest.raises(TypeError, match="not a repodb type"):
        Request.one("SELECT 1", row=object)


def test_requests_are_immutable() -> None:
    request = Request.one("SELECT 1", row=int)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.sql = "DROP TABLE users"
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.multiplicity = Many
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.anything = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        del request.sql
    assert request.sql == "SELECT 1"
    assert request.multiplicity is One


# Plans ----------------------------------------------------------------------


def test_plan_renders_per_dialect() -> None:
    request = Request.one("SELECT $2, $1", params=tup(int, str), row=tup(str, int))
    assert sqlite_plan(request).sql == "SELECT ?, ?"
    assert list(sqlite_plan(request).encode((1, "a"))) == ["a", 1]
    assert request.plan(POSTGRESQL, postgresql.CODECS).sql == "SELECT $2, $1"
    assert list(request.plan(POSTGRESQL, postgresql.CODECS).encode((1, "a"))) == [1, "a"]
    question = Request.exec("UPDATE t SET a = ? WHERE b = ?", params=tup(int, int))
    assert sqlite_plan(question).sql == "UPDATE t SET a = ? WHERE b = ?"
    assert question.plan(POSTGRESQL, postgresql.CODECS).sql == "UPDATE t SET a = $1 WHERE b = $2"


def test_plan_is_cached_per_codec_table() -> None:
    request = Request.many("SELECT ?", params=int, row=int)
    first = sqlite_plan(request)
    assert sqlite_plan(request) is first
    other = request.plan(POSTGRESQL, postgresql.CODECS)
    assert other is not first
    assert request.plan(POSTGRESQL, postgresql.CODECS) is other


def test_plan_prepare_follows_oneshot() -> None:
    assert sqlite_plan(Request.exec("SELECT 1")).prepare is True
    assert sqlite_plan(Request.exec("SELECT 1", oneshot=True)).prepare is False


def test_plan_decodes_rows() -> None:
    plan = sqlite_plan(Request.one("SELECT 1, 'RED'", row=tup(bool, optional(str))))
    assert plan.decode((1, None)) == (True, None)
    assert sqlite_plan(Request.exec("SELECT 1")).decode(()) is None


# Parameters -------------------------------------------------------------------


def test_no_parameters() -> None:
    encode = sqlite_plan(Request.exec("SELECT 1")).encode
    assert tuple(encode(None)) == ()
    assert tuple(encode(())) == ()
    with pytest.raises(EncodeError, match="takes no parameters"):
        encode(5)


def test_single_parameter_is_passed_bare() -> None:
    encode = sqlite_plan(Request.exec("SELECT ?", params=bool)).encode
    assert tuple(encode(True)) == (1,)
    with pytest.raises(EncodeError, match="expected bool, got tuple"):
        encode((True,))


def test_tup_parameters() -> None:
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    encode = sqlite_plan(
        Request.exec("SELECT ?, ?, ?", params=tup(int, optional(str), dt.datetime))
    ).encode
    assert tuple(encode((1, None, when))) == (1, None, "2024-01-01 00:00:00.000000+00:00")
    assert tuple(encode([1, "x", when])) == (1, "x", "2024-01-01 00:00:00.000000+00:00")


@pytest.mark.parametrize("value", [(1, "x"), (1, "x", None, 2), 5, "abc", None])
def test_wrong_tuple_length_is_rejected(value: object) -> None:
    encode = sqlite_plan(Request.exec("SELECT ?, ?, ?", params=tup(int, str, optional(int)))).encode
    with pytest.raises(EncodeError, match="expected 3 parameters as a tuple"):
        encode(value)


@pytest.mark.parametrize(
    ("value", "position", "why"),
    [
        ((True, "x", None), 1, "expected int, got bool"),
        ((1, 2, None), 2, "expected str, got int"),
        ((1, None, None), 2, "expected str, got None;"),
        ((1, "x", "3"), 3, "expected int, got str"),
    ],
)
def test_bad_value_names_its_position(value: tuple[Any, ...], position: int, why: str) -> None:
    encode = sqlite_plan(Request.exec("SELECT ?, ?, ?", params=tup(int, str, optional(int)))).encode
    with pytest.raises(EncodeError, match=f"^parameter {position}: {why}"):
        encode(value)


def test_dataclass_parameters() -> None:
    request = Request.exec("INSERT INTO u VALUES ($1, $2, $3)", params=NewUser)
    encode = sqlite_plan(request).encode
    assert tuple(encode(NewUser("Ada", None, 36))) == ("Ada", None, 36)
    with pytest.raises(EncodeError, match="parameter 3: expected int, got str"):
        encode(NewUser("Ada", None, "36"))  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="expected a NewUser as parameters, got tuple"):
        encode(("Ada", None, 36))


def test_namedtuple_parameters() -> None:
    encode = sqlite_plan(
        Request.many("SELECT x FROM t WHERE x BETWEEN ? AND ?", params=Range, row=int)
    ).encode
    assert tuple(encode(Range(1, 9))) == (1, 9)
    assert tuple(encode((1, 9))) == (1, 9)
    with pytest.raises(EncodeError, match="parameter 2: expected int, got float"):
        encode(Range(1, 9.5))  # type: ignore[arg-type]


# Runtime multiplicity check -------------------------------------------------------


def test_one_refuses_a_many_request_at_run_time() -> None:
    many = Request.many("SELECT 1", row=int)
    maybe = Request.one_or_none("SELECT 1", row=int)
    with repodb.connect("sqlite::memory:") as conn:
        with pytest.raises(TypeError, match=r"one\(\) needs a Request\.one"):
            conn.one(many)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"one\(\) needs a Request\.one"):
            conn.one(maybe)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="at most one row"):
            conn.one_or_none(many)  # type: ignore[arg-type]
        # The same requests run where their multiplicity allows it.
        assert conn.all(many) == [1]
        assert conn.one_or_none(maybe) == 1
