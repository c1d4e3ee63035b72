"""Changesets: validated, immutable descriptions of a change to a record.

Why: input from outside (a form, a JSON body) must be filtered, converted and
checked before it reaches the database, and a mistake in it is data to show
the user, not an exception. Following Ecto's ``Ecto.Changeset``, a
``Changeset`` holds the original record (``data``), the converted new values
(``changes``, only those that differ from ``data``), the errors, the raw
``params``, the declared database constraints and an ``action``. Every step
returns a new changeset, so a pipeline reads top to bottom and nothing is
ever modified in place.

The steps:

- ``cast(data, params, permitted)`` keeps only the permitted params (mass
  assignment protection) and converts each to its field's type; a value that
  does not convert becomes the error "is invalid", never an exception.
  ``change(data, **values)`` takes trusted values as they are.
- ``validate_*`` methods add errors (messages use ``{name}`` placeholders
  filled from the error's options by ``traverse_errors``).
- ``*_constraint`` methods declare database constraints; the Repo hands a
  database ``IntegrityError`` to ``constraint_error_for``, which turns a
  declared one into a field error.
- ``cast_embed`` / ``cast_assoc`` cast nested params into child changesets.
- ``apply_changes`` / ``apply_action`` build the new record.

Example::

    changeset = (
        cast(User, {"name": "", "age": "abc"}, ["name", "age"])
        .validate_required(["name"])
        .unique_constraint("email")
    )
    changeset.valid            # False
    changeset.traverse_errors()  # {'age': ['is invalid'], 'name': ["can't be blank"]}
"""

from __future__ import annotations

import dataclasses
import operator
import re
import typing
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeAlias, TypeVar, overload

from ._cast import INVALID, RecordField, blank, cast_value, record_fields
from .errors import (
    CheckViolation,
    Error,
    ExclusionViolation,
    ForeignKeyViolation,
    IntegrityError,
    UniqueViolation,
)
from .schema import AssocInfo, Embedded, NotLoaded, Schema, SchemaInfo, schema_info
from .types import to_dbtype

__all__ = [
    "Changeset",
    "Constraint",
    "ErrorTree",
    "FieldError",
    "InvalidChangesetError",
    "cast",
    "change",
]

S = TypeVar("S", bound="Schema | Embedded")

Number: TypeAlias = int | float | Decimal
ErrorTree: TypeAlias = "dict[str, list[str] | ErrorTree | list[ErrorTree]]"
ConstraintKind: TypeAlias = Literal["unique", "foreign_key", "check", "exclusion"]
Match: TypeAlias = Literal["exact", "suffix", "prefix"]
OnReplace: TypeAlias = Literal["raise", "mark_as_invalid", "delete"]
Builder: TypeAlias = "Callable[[Any, Mapping[str, Any]], Changeset[Any]]"
ChangeValidator: TypeAlias = Callable[[str, Any], Iterable[str | tuple[str, str]]]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One error on one field: a message template and the options it refers to.

    ``options`` always names the check under ``"validation"`` when a
    validator added the error (``"required"``, ``"cast"``, ``"length"``, a
    constraint's ``"unique"``...), and holds the values its placeholders use:
    ``FieldError("name", "should be at least {count} character(s)",
    {"validation": "length", "kind": "min", "count": 2})``. Errors never hold
    the rejected value, so they are safe to log.
    """

    field: str
    message: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _frozen(self.options))

    @property
    def validation(self) -> str | None:
        """The check that failed, when a validator added the error."""
        found = self.options.get("validation")
        return found if isinstance(found, str) else None

    @property
    def text(self) -> str:
        """The message with ``{name}`` placeholders filled from ``options``."""
        options = self.options
        return _PLACEHOLDER.sub(
            lambda m: str(options[m[1]]) if m[1] in options else m[0], self.message
        )

    def __str__(self) -> str:
        return f"{self.field} {self.text}"

    def __repr__(self) -> str:
        return f"FieldError({self.field!r}, {self.message!r}, {dict(self.options)!r})"


@dataclasses.dataclass(frozen=True)
class Constraint:
    """A database constraint a changeset expects, and the field error it becomes.

    Attributes:
        kind: the violation it matches: ``unique``, ``foreign_key``, ``check``
            or ``exclusion``.
        name: the constraint's name in the database.
        field: the field that gets the error.
        message: the error message.
        error_type: the error's ``validation`` option (``unique``,
            ``foreign``, ``check``, ``exclusion``, ``no_assoc``).
        match: how ``name`` is compared with the reported one: ``exact``,
            ``suffix`` or ``prefix``.
        table, columns: what SQLite reports instead of a name for unique
            violations.
        also: other names that are this constraint too (exact match): a
            default unique constraint is either PostgreSQL's UNIQUE
            constraint or a unique index, which are named differently.
    """

    kind: ConstraintKind
    name: str
    field: str
    message: str
    error_type: str
    match: Match = "exact"
    table: str = ""
    columns: tuple[str, ...] = ()
    also: tuple[str, ...] = ()

    def matches_name(self, reported: str) -> bool:
        """Whether a constraint name reported by the database is this one."""
        if self.match == "suffix":
            return reported.endswith(self.name)
        if self.match == "prefix":
            return reported.startswith(self.name)
        return reported == self.name or reported in self.also


class InvalidChangesetError(Error):
    """``apply_action`` was called on an invalid changeset.

    The message lists the field errors (never the values); ``.changeset``
    holds the changeset, its ``action`` set, to show the errors to the user.
    """

    def __init__(self, changeset: Changeset[Any]) -> None:
        self.changeset = changeset
        problems = "; ".join(_error_lines(changeset.traverse_errors()))
        name = type(changeset.data).__name__
        super().__init__(f"could not {changeset.action} {name}: {problems}")


class _Redacted:
    __slots__ = ()

    def __repr__(self) -> str:
        return "**redacted**"


_REDACTED = _Redacted()
_BOOL = to_dbtype(bool)

_VIOLATIONS: tuple[tuple[type[IntegrityError], ConstraintKind], ...] = (
    (UniqueViolation, "unique"),
    (ForeignKeyViolation, "foreign_key"),
    (CheckViolation, "check"),
    (ExclusionViolation, "exclusion"),
)


# validate_number's bounds, in the order of its parameters: name, test, message.
_NUMBER_CHECKS: tuple[tuple[str, Callable[[Any, Any], bool], str], ...] = (
    ("less_than", operator.lt, "must be less than {number}"),
    ("greater_than", operator.gt, "must be greater than {number}"),
    ("less_than_or_equal_to", operator.le, "must be less than or equal to {number}"),
    ("greater_than_or_equal_to", operator.ge, "must be greater than or equal to {number}"),
    ("equal_to", operator.eq, "must be equal to {number}"),
    ("not_equal_to", operator.ne, "must be not equal to {number}"),
)


def _increment(version: Any) -> Any:
    return version + 1


@dataclasses.dataclass(frozen=True, repr=False)
class Changeset(Generic[S]):
    """An immutable change to a record of type ``S``; see the module documentation.

    Build one with ``cast`` or ``change``; every method returns a new
    changeset.

    Attributes:
        data: the original record.
        changes: field name -> new value, only values that differ from
            ``data``. A field cast with ``cast_embed``/``cast_assoc`` holds a
            child changeset, or a tuple of them for a list.
        errors: the field errors, in the order they were added.
        params: the raw params given to ``cast`` (None after ``change``).
        action: ``insert``, ``update``, ... once the Repo or
            ``apply_action`` has acted on it; child changesets carry
            ``insert``/``update``/``replace`` (``replace``: delete it).
        constraints: the declared database constraints.
        required: the fields ``validate_required`` was given.
        filters: field -> the value the row must still hold for an update
            (set by ``optimistic_lock``).
        empty_values: params that ``cast`` treats as ``None``.
    """

    data: S
    changes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    errors: tuple[FieldError, ...] = ()
    params: Mapping[str, Any] | None = None
    action: str | None = None
    constraints: tuple[Constraint, ...] = ()
    required: tuple[str, ...] = ()
    filters: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    empty_values: tuple[Any, ...] = ("",)

    def __post_init__(self) -> None:
        # Private copies behind read-only views: no caller can change a changeset.
        object.__setattr__(self, "changes", _frozen(self.changes))
        object.__setattr__(self, "filters", _frozen(self.filters))
        if self.params is not None:
            object.__setattr__(self, "params", _frozen(self.params))

    @property
    def valid(self) -> bool:
        """True when neither this changeset nor any child changeset has errors."""
        return not self.errors and all(child.valid for child in self._children())

    def __repr__(self) -> str:
        fields = self._fields
        changes = {k: _REDACTED if _is_redacted(fields, k) else v for k, v in self.changes.items()}
        params = None if self.params is None else _redact_params(type(self.data), self.params)
        errors = [f"{e.field}: {e.text}" for e in self.errors]
        return (
            f"Changeset({type(self.data).__name__}, action={self.action!r}, valid={self.valid},"
            f" changes={changes!r}, errors={errors!r}, params={params!r}, data={self.data!r})"
        )

    # -- changes ---------------------------------------------------------------

    def cast(
        self,
        params: Mapping[str, Any],
        permitted: Iterable[str],
        *,
        empty_values: Iterable[Any] | None = None,
    ) -> Changeset[S]:
        """Cast ``params`` into this changeset; see the module function ``cast``."""
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping of names to values, not {params!r}")
        if isinstance(permitted, str):
            raise TypeError("permitted must be a list of field names, not a string")
        fields = [self._castable(name) for name in permitted]
        empties = self.empty_values if empty_values is None else tuple(empty_values)
        changes = dict(self.changes)
        errors = list(self.errors)
        for f in fields:
            if f.name not in params:
                continue
            raw = params[f.name]
            empty = any(type(raw) is type(e) and raw == e for e in empties)
            assert f.dbtype is not None
            value = None if empty else cast_value(f.dbtype, raw)
            if value is INVALID:
                options = {"validation": "cast", "type": f.type_name}
                errors.append(FieldError(f.name, "is invalid", options))
            else:
                self._put(changes, f.name, value)
        merged = {**(self.params or {}), **{k: v for k, v in params.items() if isinstance(k, str)}}
        return dataclasses.replace(
            self, changes=changes, errors=tuple(errors), params=merged, empty_values=empties
        )

    def put_change(self, field: str, value: Any) -> Changeset[S]:
        """Set a trusted value (not cast); a value equal to the data's removes the change."""
        self._plain(field)
        changes = dict(self.changes)
        self._put(changes, field, value)
        return dataclasses.replace(self, changes=changes)

    def force_change(self, field: str, value: Any) -> Changeset[S]:
        """Set a value even when it equals the data's (the Repo will write it)."""
        self._plain(field)
        return dataclasses.replace(self, changes={**self.changes, field: value})

    def delete_change(self, field: str) -> Changeset[S]:
        """Drop the change to ``field``, if any."""
        self._field_or_assoc(field)
        return dataclasses.replace(
            self, changes={k: v for k, v in self.changes.items() if k != field}
        )

    def get_change(self, field: str, default: Any = None) -> Any:
        """The change to ``field``, or ``default`` when it has none."""
        self._field_or_assoc(field)
        return self.changes.get(field, default)

    def get_field(self, field: str, default: Any = None) -> Any:
        """The change to ``field`` if there is one, else the data's value.

        A nested change is returned applied (records, not changesets).
        """
        self._field_or_assoc(field)
        if field in self.changes:
            value = self.changes[field]
            return _applied(value) if field in _nested_names(type(self.data)) else value
        value = getattr(self.data, field)
        return default if value is None else value

    def add_error(self, field: str, message: str, **options: Any) -> Changeset[S]:
        """Add an error; ``options`` fill the message's ``{name}`` placeholders."""
        return self._with_errors([FieldError(field, message, options)])

    # -- validators ------------------------------------------------------------

    def validate_required(
        self, fields: str | Iterable[str], *, message: str = "can't be blank"
    ) -> Changeset[S]:
        """Each field must have a value: not missing, not None, not a blank string.

        Unlike the other validators it looks at the field's value (the change,
        else the data), and it skips fields that already have an error.
        """
        names = (fields,) if isinstance(fields, str) else tuple(fields)
        for name in names:
            self._plain(name)
        has_error = {e.field for e in self.errors}
        missing = [n for n in names if n not in has_error and _blank(self.get_field(n))]
        errors = [FieldError(n, message, {"validation": "required"}) for n in missing]
        required = self.required + tuple(n for n in names if n not in self.required)
        return dataclasses.replace(self._with_errors(errors), required=required)

    def validate_format(
        self, field: str, pattern: str | re.Pattern[str], *, message: str = "has invalid format"
    ) -> Changeset[S]:
        """The change must contain a match of ``pattern``.

        It uses ``re.search``: anchor the pattern (``^...$``) to match the whole value.
        """
        value = self._change(field)
        if value is None:
            return self
        if not isinstance(value, str):
            raise TypeError(f"validate_format: {field} holds {type(value).__name__}, not str")
        if re.search(pattern, value):
            return self
        return self._error(field, message, validation="format")

    def validate_length(
        self,
        field: str,
        *,
        min: int | None = None,
        max: int | None = None,
        is_: int | None = None,
        message: str | None = None,
    ) -> Changeset[S]:
        """The change's length must be ``is_``, at least ``min`` and at most ``max``.

        Lengths are a string's characters, a list's items or bytes' bytes.
        Characters are Unicode code points (``len``), not grapheme clusters.
        Options of the error: ``count``, ``kind`` (``is``/``min``/``max``) and
        ``type`` (``string``/``list``/``binary``).
        """
        value = self._change(field)
        if value is None:
            return self
        if isinstance(value, str):
            kind, unit = "string", "character(s)"
        elif isinstance(value, bytes):
            kind, unit = "binary", "byte(s)"
        elif isinstance(value, list | tuple):
            kind, unit = "list", "item(s)"
        else:
            raise TypeError(f"validate_length: {field} holds {type(value).__name__}")
        verb = "have" if kind == "list" else "be"
        size = len(value)
        for check, count, failed, template in (
            ("is", is_, is_ is not None and size != is_, "should {verb} {count} {unit}"),
            ("min", min, min is not None and size < min, "should {verb} at least {count} {unit}"),
            ("max", max, max is not None and size > max, "should {verb} at most {count} {unit}"),
        ):
            if failed:
                default = template.replace("{verb}", verb).replace("{unit}", unit)
                options = {"validation": "length", "kind": check, "count": count, "type": kind}
                return self._with_errors([FieldError(field, message or default, options)])
        return self

    def validate_number(
        self,
        field: str,
        *,
        less_than: Number | None = None,
        greater_than: Number | None = None,
        less_than_or_equal_to: Number | None = None,
        greater_than_or_equal_to: Number | None = None,
        equal_to: Number | None = None,
        not_equal_to: Number | None = None,
        message: str | None = None,
    ) -> Changeset[S]:
        """The change must compare as given with each bound; the first failure is reported.

        Options of the error: ``kind`` (the bound's name) and ``number``.
        """
        value = self._change(field)
        if value is None:
            return self
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise TypeError(f"validate_number: {field} holds {type(value).__name__}")
        bounds = (
            less_than,
            greater_than,
            less_than_or_equal_to,
            greater_than_or_equal_to,
            equal_to,
            not_equal_to,
        )
        for (kind, holds, default), bound in zip(_NUMBER_CHECKS, bounds, strict=True):
            if bound is not None and not holds(value, bound):
                options = {"validation": "number", "kind": kind, "number": bound}
                return self._with_errors([FieldError(field, message or default, options)])
        return self

    def validate_inclusion(
        self, field: str, values: Collection[Any], *, message: str = "is invalid"
    ) -> Changeset[S]:
        """The change must be one of ``values`` (option ``enum``)."""
        value = self._change(field)
        if value is None or value in values:
            return self
        return self._error(field, message, validation="inclusion", enum=values)

    def validate_exclusion(
        self, field: str, values: Collection[Any], *, message: str = "is reserved"
    ) -> Changeset[S]:
        """The change must not be one of ``values`` (option ``enum``)."""
        value = self._change(field)
        if value is None or value not in values:
            return self
        return self._error(field, message, validation="exclusion", enum=values)

    def validate_subset(
        self, field: str, values: Collection[Any], *, message: str = "has an invalid entry"
    ) -> Changeset[S]:
        """Every item of the list change must be one of ``values`` (option ``enum``)."""
        value = self._change(field)
        if value is None:
            return self
        if not isinstance(value, list | tuple):
            raise TypeError(f"validate_subset: {field} holds {type(value).__name__}, not a list")
        if all(item in values for item in value):
            return self
        return self._error(field, message, validation="subset", enum=values)

    def validate_acceptance(self, field: str, *, message: str = "must be accepted") -> Changeset[S]:
        """The param ``field`` must be true ("true", "on", "1", True...): a terms checkbox.

        Like Ecto it reads the cast params, so ``field`` needs no schema
        field; a missing param is not accepted. Without params (a changeset
        from ``change``) it does nothing.
        """
        if self.params is None:
            return self
        if cast_value(_BOOL, self.params.get(field)) is True:
            return self
        return self._error(field, message, validation="acceptance")

    def validate_confirmation(
        self,
        field: str,
        *,
        message: str = "does not match confirmation",
        required: bool = False,
    ) -> Changeset[S]:
        """The param ``<field>_confirmation`` must equal the param ``field``.

        The error goes on ``<field>_confirmation``. A missing confirmation
        passes unless ``required=True`` (then: "can't be blank").
        """
        if self.params is None:
            return self
        confirmation = f"{field}_confirmation"
        if confirmation not in self.params:
            if required:
                return self._error(confirmation, "can't be blank", validation="required")
            return self
        if self.params[confirmation] == self.params.get(field):
            return self
        return self._error(confirmation, message, validation="confirmation")

    def validate_change(self, field: str, validator: ChangeValidator) -> Changeset[S]:
        """Run ``validator(field, value)`` on the change; it returns messages.

        Each item it returns is a message for ``field`` or a ``(field,
        message)`` pair; errors get the option ``validation="change"``.
        """
        value = self._change(field)
        if value is None:
            return self
        errors = []
        for item in validator(field, value):
            name, text = (field, item) if isinstance(item, str) else item
            errors.append(FieldError(name, text, {"validation": "change"}))
        return self._with_errors(errors)

    # -- constraints -----------------------------------------------------------

    def unique_constraint(
        self,
        fields: str | Sequence[str],
        *,
        name: str | None = None,
        message: str = "has already been taken",
        match: Match = "exact",
    ) -> Changeset[S]:
        """Turn a violation of a UNIQUE constraint into an error on the (first) field.

        ``name`` defaults to PostgreSQL's own name for a UNIQUE constraint,
        ``{table}_{column}_key`` (``{table}_{col1}_{col2}_key`` for several),
        and then also matches the name a migration's unique index gets,
        ``{table}_{column}_index`` (``create_index(..., unique=True)``, a
        schema's ``index(..., unique=True)``). On SQLite, which reports
        columns instead of names, the table and columns are matched.
        """
        names = (fields,) if isinstance(fields, str) else tuple(fields)
        if not names:
            raise ValueError("unique_constraint needs at least one field")
        info = self._schema("unique_constraint")
        columns = tuple(self._stored(info, n).source for n in names)
        also: tuple[str, ...] = ()
        if name is None:
            name = f"{info.table}_{'_'.join(columns)}_key"
            # The name migrations give a unique index by default (Ecto's).
            also = (f"{info.table}_{'_'.join(columns)}_index",)
        return self._constrain(
            Constraint(
                "unique", name, names[0], message, "unique", match, info.table, columns, also
            )
        )

    def foreign_key_constraint(
        self,
        field: str,
        *,
        name: str | None = None,
        message: str = "does not exist",
        match: Match = "exact",
    ) -> Changeset[S]:
        """Turn a violation of the foreign key on ``field`` into an error on it.

        ``name`` defaults to PostgreSQL's ``{table}_{column}_fkey``. SQLite
        names no constraint in its error: there the violation matches when
        this changeset declares exactly one foreign-key constraint.
        """
        info = self._schema("foreign_key_constraint")
        column = self._stored(info, field).source
        name = name or f"{info.table}_{column}_fkey"
        return self._constrain(
            Constraint("foreign_key", name, field, message, "foreign", match, info.table, (column,))
        )

    def check_constraint(
        self, field: str, *, name: str, message: str = "is invalid", match: Match = "exact"
    ) -> Changeset[S]:
        """Turn a violation of the CHECK constraint ``name`` into an error on ``field``."""
        info = self._schema("check_constraint")
        self._stored(info, field)
        return self._constrain(Constraint("check", name, field, message, "check", match))

    def exclusion_constraint(
        self,
        field: str,
        *,
        name: str | None = None,
        message: str = "violates an exclusion constraint",
        match: Match = "exact",
    ) -> Changeset[S]:
        """Turn a violation of a PostgreSQL EXCLUDE constraint into an error on ``field``.

        ``name`` defaults to PostgreSQL's ``{table}_{column}_excl``.
        """
        info = self._schema("exclusion_constraint")
        column = self._stored(info, field).source
        name = name or f"{info.table}_{column}_excl"
        return self._constrain(
            Constraint("exclusion", name, field, message, "exclusion", match, info.table)
        )

    def no_assoc_constraint(
        self,
        assoc: str,
        *,
        name: str | None = None,
        message: str | None = None,
        match: Match = "exact",
    ) -> Changeset[S]:
        """On delete: turn "other rows still point here" into an error on ``assoc``.

        For a ``has_one``/``has_many`` the name defaults to the related
        table's foreign key, ``{related_table}_{foreign_key}_fkey``; for a
        ``many_to_many``, to the join table's ``{join_table}_{join_column}_fkey``.
        """
        info = self._schema("no_assoc_constraint")
        found = info.associations.get(assoc)
        if found is None or found.kind == "belongs_to" or found.through is not None:
            raise ValueError(f"{info.cls.__name__} has no has_one/has_many/many_to_many {assoc!r}")
        if name is None:
            if found.kind == "many_to_many":
                assert found.join_keys is not None
                name = f"{found.join_through}_{found.join_keys[0][0]}_fkey"
            else:
                assert found.foreign_key is not None
                related = schema_info(found.related)
                column = related.field(found.foreign_key).source
                name = f"{related.table}_{column}_fkey"
        default = (
            "are still associated with this entry"
            if found.cardinality == "many"
            else "is still associated with this entry"
        )
        return self._constrain(
            Constraint("foreign_key", name, assoc, message or default, "no_assoc", match)
        )

    def constraint_error_for(self, error: IntegrityError) -> Changeset[S] | None:
        """This changeset with the field error for a declared constraint, or None.

        The Repo calls it when a write fails with an ``IntegrityError``; None
        means no declaration covers the error, which the Repo then raises. A
        reported constraint name (PostgreSQL, MariaDB; SQLite CHECK
        constraints) is matched by name; a violation whose name matches none
        but which carries its table and columns (SQLite's unique keys, which
        have no name; MariaDB's primary keys, every one named ``PRIMARY``) by
        table and columns; an unnamed foreign-key violation (SQLite) matches
        the one declared foreign-key constraint if there is exactly one. The
        error's options: ``validation`` (the constraint's error type) and
        ``constraint_name``.
        """
        kind = next((k for cls, k in _VIOLATIONS if isinstance(error, cls)), None)
        candidates = [c for c in self.constraints if c.kind == kind]
        found: list[Constraint] = []
        if error.constraint is not None:
            found = [c for c in candidates if c.matches_name(error.constraint)]
        if not found and error.columns:
            reported = set(error.columns)
            found = [
                c
                for c in candidates
                if c.columns and set(c.columns) == reported and error.table in (None, c.table)
            ]
        elif error.constraint is None and kind == "foreign_key" and len(candidates) == 1:
            found = candidates
        if not found:
            return None
        c = found[0]
        return self._error(c.field, c.message, validation=c.error_type, constraint_name=c.name)

    def optimistic_lock(
        self, field: str, incrementer: Callable[[Any], Any] = _increment
    ) -> Changeset[S]:
        """Guard an update with a version field.

        The changeset changes ``field`` to ``incrementer(current)`` and
        records the current value in ``filters``; the Repo adds
        ``WHERE field = current`` to the update and reports a stale record
        when no row matches. The field needs a value (declare it with
        ``default=1``, say).
        """
        self._plain(field)
        current = self.get_field(field)
        locked = self.force_change(field, incrementer(current))
        return dataclasses.replace(locked, filters={**self.filters, field: current})

    # -- nested changesets -----------------------------------------------------

    def cast_embed(
        self, name: str, *, with_: Builder | None = None, required: bool = False
    ) -> Changeset[S]:
        """Cast the params of an embedded field into child changesets.

        The param is a dict (one embed) or a list of dicts (a list of embeds;
        a dict keyed "0", "1"... as HTML forms send also works).
        ``with_(record, params)`` builds each child changeset; by default it
        casts all of the child's fields. A single embed is cast onto the
        current one when there is one, so unchanged fields stay; a list is
        replaced as a whole. ``required=True`` makes a missing or empty value
        the error "can't be blank".
        """
        f = self._field(name)
        if f.embed is None:
            raise ValueError(f"{name} is not an embedded field: use cast")
        params = self._cast_params("cast_embed")
        if name not in params:
            return self._require_nested(name, required)
        items = _nested_items(params[name], f.embed_many)
        if items is INVALID:
            return self._nested_invalid(name, "embed", f.embed_many)
        build = with_ or _cast_all(frozenset())
        value: Changeset[Any] | tuple[Changeset[Any], ...] | None
        if isinstance(items, list):
            value = tuple(_child(build, blank(f.embed), p, "insert") for p in items)
        elif items is None:
            value = None
        else:
            current = getattr(self.data, name)
            if isinstance(current, f.embed):
                value = _child(build, current, items, "update")
            else:
                value = _child(build, blank(f.embed), items, "insert")
        changes = dict(self.changes)
        if _all_valid(value) and _same(_applied(value), getattr(self.data, name)):
            changes.pop(name, None)
        else:
            changes[name] = value
        return dataclasses.replace(self, changes=changes)._require_nested(name, required)

    def cast_assoc(
        self,
        name: str,
        *,
        with_: Builder | None = None,
        required: bool = False,
        on_replace: OnReplace = "raise",
    ) -> Changeset[S]:
        """Cast the params of an association into child changesets for the Repo.

        The param is a dict (``has_one``/``belongs_to``) or a list of dicts
        (``has_many``/``many_to_many``; a dict keyed "0", "1"... also works).
        A child whose primary key matches a loaded child becomes an update of
        it (action ``update``); any other is a new record (``insert``).
        ``with_(record, params)`` builds each child changeset; by default it
        casts the child's fields except its primary key, timestamps and the
        foreign key that points at this record.

        A loaded child the params leave out is replaced, per ``on_replace``:
        ``raise`` (ValueError, Ecto's default), ``mark_as_invalid`` (the
        error "is invalid" on the association) or ``delete`` (a child
        changeset with action ``replace``, which the Repo deletes). The
        association must be loaded unless this record is new (its primary
        key is None).
        """
        assoc = self._assoc(name)
        params = self._cast_params("cast_assoc")
        if name not in params:
            return self._require_nested(name, required)
        many = assoc.cardinality == "many"
        items = _nested_items(params[name], many)
        if items is INVALID:
            return self._nested_invalid(name, "assoc", many)
        related = assoc.related
        exclude = {assoc.foreign_key} if assoc.kind in ("has_one", "has_many") else set()
        build = with_ or _cast_all(frozenset(n for n in exclude if n is not None))
        key_fields = [record_fields(related)[f.name] for f in schema_info(related).primary_key]
        loaded = [(_record_key(c, key_fields), c) for c in self._loaded(assoc)]
        by_key = dict(loaded)
        given = items if isinstance(items, list) else [] if items is None else [items]
        children: list[Changeset[Any]] = []
        matched: set[tuple[Any, ...]] = set()
        for item in given:
            key = _param_key(item, key_fields)
            if key is not None and key in by_key and key not in matched:
                matched.add(key)
                children.append(_child(build, by_key[key], item, "update"))
            else:
                children.append(_child(build, blank(related), item, "insert"))
        dropped = [c for k, c in loaded if k not in matched]
        return self._set_children(
            "cast_assoc", assoc, children, len(loaded), dropped, on_replace
        )._require_nested(name, required)

    def _set_children(
        self,
        step: str,
        assoc: AssocInfo[Any],
        children: list[Changeset[Any]],
        loaded: int,
        dropped: list[Any],
        on_replace: OnReplace,
    ) -> Changeset[S]:
        """The association's change: ``children``, and ``dropped`` loaded ones per on_replace."""
        name = assoc.name
        changeset = self
        if dropped and on_replace == "raise":
            what = "params" if step == "cast_assoc" else "records"
            raise ValueError(
                f"{step}({name!r}): the {what} leave out loaded children; pass"
                " on_replace='delete' or 'mark_as_invalid' to choose what happens to them"
            )
        if dropped and on_replace == "mark_as_invalid":
            changeset = self._error(name, "is invalid", validation="assoc")
        if dropped and on_replace == "delete":
            children = [*children, *(Changeset(c, action="replace") for c in dropped)]
        changes = dict(changeset.changes)
        unchanged = not dropped and all(c.action == "update" and not c.changes for c in children)
        # A new record's association is not loaded: no children is a change
        # too, so that the record the Repo returns holds [] or None (as Ecto's).
        was_loaded = not isinstance(getattr(self.data, name), NotLoaded)
        if unchanged and len(children) == loaded and was_loaded:
            changes.pop(name, None)
        elif assoc.cardinality == "many":
            changes[name] = tuple(children)
        else:
            # A single new child replacing a loaded one: the Repo deletes the
            # loaded one (still in ``data``); without a new child, the
            # replaced one is the change.
            changes[name] = children[0] if children else None
        return dataclasses.replace(changeset, changes=changes)

    # -- linking existing records ----------------------------------------------

    def put_assoc(self, name: str, value: Any, *, on_replace: OnReplace = "raise") -> Changeset[S]:
        """Set an association to given records: stored ones are linked, new ones inserted.

        Why: ``cast_assoc`` builds children from untrusted params; linking a
        post to tags that already exist, or a comment to its post, takes the
        records themselves (Ecto's ``put_assoc``). ``value`` is one item
        (``belongs_to``/``has_one``; None unlinks) or a list of them
        (``has_many``/``many_to_many``), each:

        - a record whose primary key is set: taken as stored, and linked. Its
          fields are not written, except where it matches a loaded child
          whose fields it changes. The Repo sets a ``has_one``/``has_many``
          child's foreign key, writes a ``belongs_to`` parent's key into this
          record, and inserts a ``many_to_many`` join row;
        - a record without its key, or a dict of field values: a new record,
          inserted and linked;
        - a changeset: written by its action (by default ``insert`` when its
          record has no key, else ``update``), then linked.

        A loaded child left out of ``value`` is handled per ``on_replace``, as
        in ``cast_assoc`` (``delete`` only unlinks a ``many_to_many`` record).
        The association must be loaded unless this record is new. For a
        ``many_to_many`` it also declares the join table's unique key
        (its primary key ``{join}_pkey``, or a unique ``{join}_{a}_{b}_index``
        or ``_key``): a link that exists already, or a record given twice,
        becomes the error "has already been taken" on the association.

        Example::

            post = repo.preload(post, "tags")
            post = repo.update(change(post).put_assoc("tags", [*post.tags, elixir]))
        """
        assoc = self._assoc(name)
        many = assoc.cardinality == "many"
        related = assoc.related
        if many:
            if not isinstance(value, list | tuple):
                raise TypeError(f"put_assoc({name!r}) takes a list of records, not {value!r}")
            given: list[Any] = list(value)
        else:
            given = [] if value is None else [value]
        key_fields = [record_fields(related)[f.name] for f in schema_info(related).primary_key]
        loaded = [(_record_key(c, key_fields), c) for c in self._loaded(assoc, "put_assoc")]
        by_key = dict(loaded)
        children: list[Changeset[Any]] = []
        matched: set[tuple[Any, ...]] = set()
        for item in given:
            child = _put_child(name, related, item)
            key = _record_key(child.data, key_fields) if key_fields else None
            if key is not None and key in by_key and key not in matched:
                matched.add(key)
                child = _over_loaded(child, by_key[key])
            children.append(child)
        dropped = [c for k, c in loaded if k not in matched]
        changeset = self._set_children(
            "put_assoc", assoc, children, len(loaded), dropped, on_replace
        )
        if assoc.kind == "many_to_many":
            join = _join_unique(assoc)
            if join not in changeset.constraints:
                changeset = changeset._constrain(join)
        return changeset

    def assoc_constraint(
        self,
        assoc: str,
        *,
        name: str | None = None,
        message: str = "does not exist",
        match: Match = "exact",
    ) -> Changeset[S]:
        """Turn a violation of a ``belongs_to``'s foreign key into an error on ``assoc``.

        Why: a form sets ``post_id``, a parent deleted meanwhile makes the
        insert fail; the user should read "post does not exist", on the
        association (Ecto's ``assoc_constraint``). ``name`` defaults to
        PostgreSQL's ``{table}_{foreign_key_column}_fkey``; SQLite names no
        constraint, so there it matches when this is the changeset's only
        foreign-key declaration. The error's ``validation`` is ``assoc``.

        Example::

            form = cast(Post, {"title": "Hi", "member_id": 42}, ["title", "member_id"])
            form = form.assoc_constraint("member")
        """
        info = self._schema("assoc_constraint")
        found = info.associations.get(assoc)
        if found is None or found.kind != "belongs_to":
            raise ValueError(f"{info.cls.__name__} has no belongs_to {assoc!r}")
        assert found.foreign_key is not None
        key = self.foreign_key_constraint(
            found.foreign_key, name=name, message=message, match=match
        )
        on_assoc = dataclasses.replace(key.constraints[-1], field=assoc, error_type="assoc")
        return self._constrain(on_assoc)

    # -- results ---------------------------------------------------------------

    def apply_changes(self) -> S:
        """The record with the changes applied, valid or not (nested ones too).

        Loaded associations of ``data`` carry over to the new record.
        """
        cls = type(self.data)
        nested = _nested_names(cls)
        assocs = _associations(cls)
        plain: dict[str, Any] = {}
        loaded = {n: v for n, v in vars(self.data).items() if n in assocs}
        for name, value in self.changes.items():
            applied = _applied(value) if name in nested else value
            if name in assocs:
                loaded[name] = applied
            else:
                plain[name] = applied
        record = typing.cast(S, self.data.replace(**plain))
        for name, value in loaded.items():
            # The record is new and not yet shared; preloading sets associations the same way.
            object.__setattr__(record, name, value)
        return record

    def apply_action(self, action: str) -> S:
        """``apply_changes()`` if valid; else raise ``InvalidChangesetError`` with the changeset.

        Ecto's ``apply_action!``: handy to validate input that is never
        stored (a search form) with the same tools.
        """
        if self.valid:
            return self.apply_changes()
        raise InvalidChangesetError(dataclasses.replace(self, action=action))

    def traverse_errors(self, fn: Callable[[FieldError], str] | None = None) -> ErrorTree:
        """The errors by field, messages rendered by ``fn`` (default: placeholders filled).

        A nested changeset's errors appear under its field as a dict, a list
        of them as a list of dicts (empty for valid children).
        """
        render = fn or (lambda e: e.text)
        own: dict[str, list[str]] = {}
        for e in self.errors:
            own.setdefault(e.field, []).append(render(e))
        tree: ErrorTree = {}
        tree.update(own)
        nested = _nested_names(type(self.data))
        for name, value in self.changes.items():
            if name not in nested:
                continue
            if isinstance(value, Changeset):
                sub = value.traverse_errors(fn)
                if sub:
                    tree[name] = sub
            elif isinstance(value, tuple):
                subs: list[ErrorTree] = [c.traverse_errors(fn) for c in value]
                if any(subs):
                    tree[name] = subs
        return tree

    # -- internals -------------------------------------------------------------

    @property
    def _fields(self) -> Mapping[str, RecordField]:
        return record_fields(type(self.data))

    def _field(self, name: str) -> RecordField:
        found = self._fields.get(name)
        if found is None:
            raise ValueError(f"{type(self.data).__name__} has no field {name!r}")
        return found

    def _plain(self, name: str) -> RecordField:
        if name in _associations(type(self.data)):
            raise ValueError(f"{name} is an association: use cast_assoc")
        return self._field(name)

    def _castable(self, name: str) -> RecordField:
        f = self._plain(name)
        if f.embed is not None:
            raise ValueError(f"{name} is an embedded field: use cast_embed")
        if f.dbtype is None:
            raise ValueError(f"{name}: repodb cannot cast its type; use put_change")
        return f

    def _field_or_assoc(self, name: str) -> None:
        if name not in _associations(type(self.data)):
            self._field(name)

    def _assoc(self, name: str) -> AssocInfo[Any]:
        found = _associations(type(self.data)).get(name)
        if found is None:
            raise ValueError(f"{type(self.data).__name__} has no association {name!r}")
        if found.through is not None:
            raise ValueError(
                f"{type(self.data).__name__}.{name} goes through {', '.join(found.through)}:"
                " it is read-only; write the associations it goes through"
            )
        return found

    def _schema(self, step: str) -> SchemaInfo:
        cls = type(self.data)
        if not issubclass(cls, Schema):
            raise TypeError(f"{step}: {cls.__name__} is not a table schema")
        return schema_info(cls)

    def _stored(self, info: SchemaInfo, name: str) -> Any:
        try:
            return info.field(name)
        except KeyError:
            raise ValueError(f"{info.cls.__name__} has no stored field {name!r}") from None

    def _change(self, field: str) -> Any:
        self._field(field)
        return self.changes.get(field)

    def _put(self, changes: dict[str, Any], name: str, value: Any) -> None:
        if _same(getattr(self.data, name), value):
            changes.pop(name, None)
        else:
            changes[name] = value

    def _with_errors(self, errors: Sequence[FieldError]) -> Changeset[S]:
        if not errors:
            return self
        return dataclasses.replace(self, errors=(*self.errors, *errors))

    def _error(self, field: str, message: str, **options: Any) -> Changeset[S]:
        return self._with_errors([FieldError(field, message, options)])

    def _constrain(self, constraint: Constraint) -> Changeset[S]:
        return dataclasses.replace(self, constraints=(*self.constraints, constraint))

    def _cast_params(self, step: str) -> Mapping[str, Any]:
        if self.params is None:
            raise ValueError(f"{step} reads the params of cast: call cast first")
        return self.params

    def _require_nested(self, name: str, required: bool) -> Changeset[S]:
        if not required:
            return self
        value = self.get_field(name)
        missing = value is None or isinstance(value, NotLoaded) or value == []
        has_error = any(e.field == name for e in self.errors)
        changeset = self
        if missing and not has_error:
            changeset = self._error(name, "can't be blank", validation="required")
        if name in self.required:
            return changeset
        return dataclasses.replace(changeset, required=(*self.required, name))

    def _nested_invalid(self, name: str, validation: str, many: bool) -> Changeset[S]:
        return self._error(
            name, "is invalid", validation=validation, type="list[dict]" if many else "dict"
        )

    def _loaded(self, assoc: AssocInfo[Any], step: str = "cast_assoc") -> list[Any]:
        value = getattr(self.data, assoc.name)
        if isinstance(value, NotLoaded):
            info = self._schema(step)
            if all(getattr(self.data, f.name) is None for f in info.primary_key):
                return []
            raise ValueError(
                f"{info.cls.__name__}.{assoc.name} is not loaded: preload it before {step}"
            )
        if value is None:
            return []
        return list(value) if assoc.cardinality == "many" else [value]

    def _children(self) -> Iterator[Changeset[Any]]:
        nested = _nested_names(type(self.data))
        for name, value in self.changes.items():
            if name not in nested:
                continue
            if isinstance(value, Changeset):
                yield value
            elif isinstance(value, tuple):
                yield from value


@overload
def cast(
    data: Changeset[S],
    params: Mapping[str, Any],
    permitted: Iterable[str],
    *,
    empty_values: Iterable[Any] = ...,
) -> Changeset[S]: ...
@overload
def cast(
    data: type[S],
    params: Mapping[str, Any],
    permitted: Iterable[str],
    *,
    empty_values: Iterable[Any] = ...,
) -> Changeset[S]: ...
@overload
def cast(
    data: S,
    params: Mapping[str, Any],
    permitted: Iterable[str],
    *,
    empty_values: Iterable[Any] = ...,
) -> Changeset[S]: ...
def cast(
    data: Any,
    params: Mapping[str, Any],
    permitted: Iterable[str],
    *,
    empty_values: Iterable[Any] = ("",),
) -> Changeset[Any]:
    """A changeset of ``params`` cast onto ``data`` (a record, a class, or a changeset).

    Only the ``permitted`` fields are read from ``params`` (a mapping with
    string keys: a form, a decoded JSON object); others are ignored, so a
    form cannot set ``is_admin`` unless it is permitted. A name in
    ``permitted`` that is not a field is a programming error (ValueError).
    Each value is converted to its field's type: strings as a form sends
    them ("42", "true", "2024-05-01T12:00:00Z") and JSON values alike. A
    value that does not convert becomes the error "is invalid" (options
    ``validation="cast"`` and ``type``); cast never raises on bad input.
    Values in ``empty_values`` (default: the empty string) become None.
    Given a class, it casts onto a new record whose fields hold their
    defaults or None.

    Example::

        changeset = cast(User, {"name": "Ada", "age": "36", "admin": "true"}, ["name", "age"])
        changeset.changes   # {'name': 'Ada', 'age': 36}
    """
    return _start(data).cast(params, permitted, empty_values=empty_values)


@overload
def change(data: Changeset[S], **changes: Any) -> Changeset[S]: ...
@overload
def change(data: type[S], **changes: Any) -> Changeset[S]: ...
@overload
def change(data: S, **changes: Any) -> Changeset[S]: ...
def change(data: Any, **changes: Any) -> Changeset[Any]:
    """A changeset of trusted values, not cast (values equal to the data's are dropped).

    Example::

        change(ada, age=37).changes   # {'age': 37}
    """
    changeset = _start(data)
    for name, value in changes.items():
        changeset = changeset.put_change(name, value)
    return changeset


def _start(data: Any) -> Changeset[Any]:
    if isinstance(data, Changeset):
        return data
    if isinstance(data, type) and issubclass(data, Schema | Embedded):
        return Changeset(blank(data))
    if isinstance(data, Schema | Embedded):
        return Changeset(data)
    raise TypeError(f"expected a schema or embedded record, its class, or a changeset: {data!r}")


def _cast_all(exclude: frozenset[str]) -> Builder:
    """The default child builder: cast every field but keys, timestamps and ``exclude``."""

    def build(data: Any, params: Mapping[str, Any]) -> Changeset[Any]:
        fields = record_fields(type(data)).values()
        plain = [
            f.name
            for f in fields
            if f.dbtype is not None
            and not f.primary_key
            and f.timestamp is None
            and f.name not in exclude
        ]
        changeset = cast(data, params, plain)
        for f in fields:
            if f.embed is not None:
                changeset = changeset.cast_embed(f.name)
        return changeset

    return build


def _child(build: Builder, data: Any, params: Mapping[str, Any], action: str) -> Changeset[Any]:
    child = build(data, params)
    if not isinstance(child, Changeset):
        raise TypeError(f"with_ must return a Changeset, not {child!r}")
    return dataclasses.replace(child, action=action)


def _nested_items(raw: object, many: bool) -> Any:
    """Nested params as a dict, a list of dicts, None, or ``INVALID``."""
    if not many:
        return raw if raw is None or isinstance(raw, Mapping) else INVALID
    if isinstance(raw, Mapping):
        # HTML forms send lists as {"0": {...}, "1": {...}}.
        if raw and not _indexed(raw):
            return INVALID
        raw = [raw[k] for k in sorted(raw, key=int)]
    if not isinstance(raw, list | tuple) or not all(isinstance(p, Mapping) for p in raw):
        return INVALID
    return list(raw)


def _param_key(
    params: Mapping[str, Any], key_fields: Sequence[RecordField]
) -> tuple[Any, ...] | None:
    if not key_fields:
        return None
    key = []
    for f in key_fields:
        assert f.dbtype is not None
        value = cast_value(f.dbtype, params.get(f.name))
        if value is None or value is INVALID:
            return None
        key.append(value)
    return tuple(key)


def _record_key(record: Any, key_fields: Sequence[RecordField]) -> tuple[Any, ...]:
    return tuple(getattr(record, f.name) for f in key_fields)


def _put_child(name: str, related: type[Schema], item: object) -> Changeset[Any]:
    """One item given to ``put_assoc`` as a child changeset with its action."""
    if isinstance(item, Changeset):
        if not isinstance(item.data, related):
            raise TypeError(
                f"put_assoc({name!r}) takes {related.__name__} changesets, not {item!r}"
            )
        if item.action is not None:
            return item
        return dataclasses.replace(item, action="update" if _has_key(item.data) else "insert")
    if isinstance(item, Mapping):
        return dataclasses.replace(change(related, **item), action="insert")
    if isinstance(item, related):
        return Changeset(item, action="update" if _has_key(item) else "insert")
    raise TypeError(
        f"put_assoc({name!r}) takes {related.__name__} records, changesets or dicts, not {item!r}"
    )


def _has_key(record: Schema) -> bool:
    key = schema_info(type(record)).primary_key
    return bool(key) and all(getattr(record, f.name) is not None for f in key)


def _over_loaded(child: Changeset[Any], loaded: Any) -> Changeset[Any]:
    """A record matching a loaded child, as an update of it: only differing fields change."""
    if child.action != "update" or child.data is loaded or child.changes:
        return child
    given = child.data
    child = Changeset(loaded, action="update")
    for f in schema_info(type(loaded)).fields:
        child = child.put_change(f.name, getattr(given, f.name))
    return child


def _join_unique(assoc: AssocInfo[Any]) -> Constraint:
    """The unique key of a many_to_many join table, as a constraint on the association."""
    assert assoc.join_keys is not None
    assert assoc.join_through is not None
    join = assoc.join_through
    columns = (assoc.join_keys[0][0], assoc.join_keys[1][0])
    both = "_".join(columns)
    return Constraint(
        "unique",
        f"{join}_pkey",
        assoc.name,
        "has already been taken",
        "unique",
        "exact",
        join,
        columns,
        (f"{join}_{both}_index", f"{join}_{both}_key"),
    )


def _applied(value: Any) -> Any:
    if isinstance(value, Changeset):
        return None if value.action == "replace" else value.apply_changes()
    if isinstance(value, tuple):
        return [c.apply_changes() for c in value if c.action != "replace"]
    return value


def _all_valid(value: Any) -> bool:
    if isinstance(value, Changeset):
        return value.valid
    if isinstance(value, tuple):
        return all(c.valid for c in value)
    return True


def _same(old: Any, new: Any) -> bool:
    # Compare types too: True == 1 and 1 == 1.0 in Python, but they are different values here.
    return type(old) is type(new) and bool(old == new)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _associations(cls: type[Any]) -> Mapping[str, AssocInfo[Any]]:
    return schema_info(cls).associations if issubclass(cls, Schema) else {}


def _nested_names(cls: type[Any]) -> frozenset[str]:
    embeds = (f.name for f in record_fields(cls).values() if f.embed is not None)
    return frozenset((*embeds, *_associations(cls)))


def _is_redacted(fields: Mapping[str, RecordField], name: str) -> bool:
    f = fields.get(name) or fields.get(name.removesuffix("_confirmation"))
    return f is not None and f.redact


def _redact_params(cls: type[Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Params for a repr: redacted fields (and their confirmations) hidden, nested ones too."""
    fields = record_fields(cls)
    assocs = _associations(cls)
    out: dict[str, Any] = {}
    for key, value in params.items():
        f = fields.get(key)
        child: type[Any] | None = f.embed if f is not None else None
        if key in assocs:
            child = assocs[key].related
        if _is_redacted(fields, key):
            out[key] = _REDACTED
        elif child is not None:
            out[key] = _redact_nested(child, value)
        else:
            out[key] = value
    return out


def _redact_nested(cls: type[Any], value: Any) -> Any:
    """Nested params in any shape ``_nested_items`` accepts; anything else is hidden."""
    if value is None:
        return None
    items = _nested_items(value, many=not isinstance(value, Mapping) or _indexed(value))
    if items is INVALID:
        return _REDACTED
    if isinstance(items, list):
        return [_redact_params(cls, item) for item in items]
    return _redact_params(cls, items)


def _indexed(params: Mapping[Any, Any]) -> bool:
    return bool(params) and all(isinstance(k, str) and k.isascii() and k.isdigit() for k in params)


def _error_lines(tree: ErrorTree, prefix: str = "") -> Iterator[str]:
    for name, value in tree.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from _error_lines(value, f"{path}.")
            continue
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield from _error_lines(item, f"{path}[{i}].")
            else:
                yield f"{path} {item}"
