"""Telemetry without a database: redaction, the hidden flag of bound values, emitting.

Covered: ``redacted`` replacing exactly the flagged values; values compared
with or assigned to a ``redact=True`` field compiled as hidden (``where``
conditions, keyword conditions, ``in_``, ``insert_all`` rows, ``update_all``
and upsert assignments) and every other value not; a hidden value keeping
its own compiled-statement cache entry; ``emit`` calling every handler in
order and logging at DEBUG only, with params only when the event has them.
"""

from __future__ import annotations

import logging

import pytest

from repodb._compile.cache import compile_statement
from repodb.dialect import POSTGRESQL, SQLITE
from repodb.expr import Value, lift
from repodb.query import query
from repodb.schema import Col, Schema, field
from repodb.telemetry import REDACTED, QueryEvent, emit, redacted
from repodb.write import insert_all, set_, update_all


class TelemetryLogin(Schema, table="logins"):
    id: Col[int | None] = field(primary_key=True, default=None)
    user: Col[str]
    secret: Col[str | None] = field(default=None, redact=True)
    tries: Col[int] = field(default=0)


def test_redacted_replaces_exactly_the_flagged_values() -> None:
    assert redacted(("a", 1, "s"), (False, False, True)) == ("a", 1, REDACTED)
    assert redacted(["a", 1], [False, False]) == ("a", 1)
    assert redacted((), ()) == ()
    assert repr(redacted(("s", "t"), (True, True))) == "(**redacted**, **redacted**)"
    with pytest.raises(ValueError, match="shorter"):
        redacted(("a", "b"), (True,))


def test_values_for_a_redacted_field_are_hidden_in_conditions() -> None:
    for q, hidden in [
        (query(TelemetryLogin).where(TelemetryLogin.secret == "s"), (True,)),
        (query(TelemetryLogin).where(secret="s", user="u"), (True, False)),
        (query(TelemetryLogin).where(TelemetryLogin.secret.in_(["s", "t"])), (True, True)),
        (query(TelemetryLogin).where(TelemetryLogin.tries > 3), (False,)),
        (query(TelemetryLogin).where(user="u"), (False,)),
    ]:
        for dialect in (SQLITE, POSTGRESQL):
            assert compile_statement(q, dialect).hidden == hidden


def test_values_written_to_a_redacted_field_are_hidden() -> None:
    rows = [{"user": "u", "secret": "s", "tries": 1}, {"user": "v", "secret": "t", "tries": 2}]
    ins = compile_statement(insert_all(TelemetryLogin, rows), SQLITE)
    assert ins.params == ("u", "s", 1, "v", "t", 2)
    assert ins.hidden == (False, True, False, False, True, False)
    record = compile_statement(insert_all(TelemetryLogin, [TelemetryLogin(user="u")]), SQLITE)
    assert record.hidden == (False, True, False)
    upd = update_all(
        query(TelemetryLogin).where(user="u"),
        set_(TelemetryLogin.secret, "n"),
        set={"tries": 0},
    )
    assert compile_statement(upd, POSTGRESQL).hidden == (True, False, False)
    upsert = insert_all(
        TelemetryLogin,
        [{"user": "u", "secret": "s"}],
        on_conflict={"secret": "x"},
        conflict_target=["user"],
    )
    assert compile_statement(upsert, POSTGRESQL).hidden == (False, True, True)


def test_a_hidden_value_has_its_own_compiled_statement() -> None:
    # Same SQL, same types: only the hidden flag differs, and the cache keeps both.
    shown = query(TelemetryLogin).where(TelemetryLogin.user == Value("u"))
    hidden = query(TelemetryLogin).where(TelemetryLogin.user == Value("u", hidden=True))
    assert compile_statement(shown, SQLITE).hidden == (False,)
    assert compile_statement(hidden, SQLITE).hidden == (True,)
    assert compile_statement(shown, SQLITE).sql == compile_statement(hidden, SQLITE).sql


def test_lift_marks_only_columns_of_redacted_fields() -> None:
    assert isinstance(secret := lift("s", TelemetryLogin.secret), Value)
    assert secret.hidden
    assert isinstance(user := lift("u", TelemetryLogin.user), Value)
    assert not user.hidden
    assert isinstance(plain := lift("s"), Value)
    assert not plain.hidden
    # An expression passes through unchanged.
    assert lift(TelemetryLogin.user, TelemetryLogin.secret) is TelemetryLogin.user


def test_emit_calls_each_handler_and_logs_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, QueryEvent]] = []
    event = QueryEvent('SELECT 1 WHERE "x" = ?', "replica 1", 0.001, 0.002, 0.0, 1, ("a", REDACTED))
    caplog.set_level(logging.INFO, logger="repodb")
    emit([lambda e: seen.append(("first", e)), lambda e: seen.append(("second", e))], event)
    assert seen == [("first", event), ("second", event)]
    assert caplog.records == []
    caplog.set_level(logging.DEBUG, logger="repodb")
    emit([], event)
    (record,) = caplog.records
    assert record.name == "repodb"
    assert record.levelno == logging.DEBUG
    assert record.getMessage() == (
        "replica 1 2.000 ms 1 rows: SELECT 1 WHERE \"x\" = ? ('a', **redacted**)"
    )
    failed = QueryEvent("SELECT 2", "primary", 0.0, 0.0, 0.0, 0, None, RuntimeError("boom"))
    emit([], failed)
    assert caplog.records[-1].getMessage() == "primary 0.000 ms error RuntimeError: SELECT 2"
    assert event.total_time == pytest.approx(0.003)
