"""What the Repo raises when a write breaks a constraint: a field error, or a hint.

Why: as in Ecto, a constraint the changeset declared (``unique_constraint``,
``foreign_key_constraint``, ...) turns the database's error into a field
error on the changeset, raised as ``InvalidChangesetError``. An undeclared
one raises the typed ``IntegrityError`` as it is, with a note naming the
constraint and the exact declaration that would handle it, so the fix is
one copy-paste away. The note's default constraint names follow
PostgreSQL's (``users_email_key``, ``posts_user_id_fkey``): a declaration
gives ``name=`` only where the reported name differs.

Example (the Repo's single-record writes call this on an IntegrityError)::

    try:
        rows = repo._execute(statement, "write")[0]
    except IntegrityError as e:
        raise_constraint_error(e, changeset, "insert")
    # UniqueViolation, noted: insert of Member violated the unique constraint
    # "members_email_key": add .unique_constraint("email") to the changeset to
    # turn this into a field error (it declares: none)
"""

from __future__ import annotations

import dataclasses
from typing import Any, NoReturn

from ..changeset import Changeset, InvalidChangesetError
from ..errors import (
    CheckViolation,
    ExclusionViolation,
    ForeignKeyViolation,
    IntegrityError,
    NotNullViolation,
    UniqueViolation,
)
from ..schema import AssocInfo, SchemaInfo, schema_info

__all__ = ["raise_constraint_error"]


def raise_constraint_error(
    error: IntegrityError, changeset: Changeset[Any], action: str
) -> NoReturn:
    """Raise the field error for a declared constraint, else ``error`` with a hint."""
    failed = changeset.constraint_error_for(error)
    if failed is not None:
        raise InvalidChangesetError(dataclasses.replace(failed, action=action)) from error
    hint = _hint(error, changeset, action)
    if hint is not None:
        error.add_note(hint)
    raise error


_KINDS: tuple[tuple[type[IntegrityError], str], ...] = (
    (UniqueViolation, "unique constraint"),
    (ForeignKeyViolation, "foreign key"),
    (CheckViolation, "check constraint"),
    (ExclusionViolation, "exclusion constraint"),
)


def _hint(error: IntegrityError, changeset: Changeset[Any], action: str) -> str | None:
    """What to add to the changeset to turn ``error`` into a field error (Ecto's message)."""
    info = schema_info(type(changeset.data))
    where = f"{action} of {info.cls.__name__}"
    if isinstance(error, NotNullViolation):
        fields = _fields(info, error)
        check = f'.validate_required("{fields[0]}")' if len(fields) == 1 else ".validate_required"
        return f"{where}: a NULL went to a NOT NULL column; {check} reports it as a field error"
    declaration = _declaration(error, info, action)
    if declaration is None:
        return None
    kind = next(word for cls, word in _KINDS if isinstance(error, cls))
    if error.constraint:
        reported = f'the {kind} "{error.constraint}"'
    elif error.columns:
        reported = f"the {kind} on {error.table or info.table}({', '.join(error.columns)})"
    else:
        reported = f"a {kind}"
    declared = ", ".join(f'{c.kind} "{c.name}"' for c in changeset.constraints) or "none"
    return (
        f"{where} violated {reported}: add .{declaration} to the changeset to turn this"
        f" into a field error (it declares: {declared})"
    )


def _declaration(error: IntegrityError, info: SchemaInfo, action: str) -> str | None:
    """The changeset call that handles ``error`` (``<field>`` where it cannot tell)."""
    reported = error.constraint
    if isinstance(error, UniqueViolation):
        fields = _fields(info, error)
        columns = [info.field(f).source for f in fields]
        argument = _names(fields)
        return _call(
            "unique_constraint", argument, reported, f"{info.table}_{'_'.join(columns)}_key"
        )
    if isinstance(error, ForeignKeyViolation) and action in ("delete", "replace"):
        # Rows of another table still point at this one.
        owned = [
            a for a in info.associations.values() if a.kind != "belongs_to" and a.through is None
        ]
        if error.table is not None:
            owned = [a for a in owned if error.table in (a.join_through, _table(a))]
        if len(owned) != 1:
            choices = " | ".join(f'"{a.name}"' for a in owned) or "association"
            return _call("no_assoc_constraint", f"<{choices}>", reported, None)
        return _call(
            "no_assoc_constraint", f'"{owned[0].name}"', reported, _no_assoc_name(owned[0])
        )
    if isinstance(error, ForeignKeyViolation):
        fields = _fields(info, error) or [
            a.foreign_key
            for a in info.associations.values()
            if a.kind == "belongs_to" and a.foreign_key is not None
        ]
        if len(fields) != 1:
            return _call("foreign_key_constraint", "<field>", reported, None)
        column = info.field(fields[0]).source
        return _call(
            "foreign_key_constraint", f'"{fields[0]}"', reported, f"{info.table}_{column}_fkey"
        )
    if isinstance(error, CheckViolation | ExclusionViolation):
        # The database names the constraint, not the column: guess from the name.
        named = [f.name for f in info.fields if reported and f"_{f.source}_" in f"_{reported}_"]
        argument = f'"{named[0]}"' if len(named) == 1 else "<field>"
        call = "check_constraint" if isinstance(error, CheckViolation) else "exclusion_constraint"
        return _call(call, argument, reported or "<name>", None)
    return None


def _fields(info: SchemaInfo, error: IntegrityError) -> list[str]:
    """The schema's fields for the columns the error reports (none if another table's)."""
    if error.table not in (None, info.table):
        return []
    by_column = {f.source: f.name for f in info.fields}
    if not all(c in by_column for c in error.columns):
        return []
    return [by_column[c] for c in error.columns]


def _names(fields: list[str]) -> str:
    if len(fields) == 1:
        return f'"{fields[0]}"'
    return "[" + ", ".join(f'"{f}"' for f in fields) + "]" if fields else "<field>"


def _call(method: str, argument: str, reported: str | None, default: str | None) -> str:
    """``method(argument)``, naming the constraint unless it is the default name."""
    if reported is None or reported == default:
        return f"{method}({argument})"
    return f'{method}({argument}, name="{reported}")'


def _table(assoc: AssocInfo[Any]) -> str:
    return schema_info(assoc.related).table


def _no_assoc_name(assoc: AssocInfo[Any]) -> str:
    """The name ``no_assoc_constraint`` gives the association's foreign key by default."""
    if assoc.kind == "many_to_many":
        assert assoc.join_keys is not None
        return f"{assoc.join_through}_{assoc.join_keys[0][0]}_fkey"
    assert assoc.foreign_key is not None
    related = schema_info(assoc.related)
    return f"{related.table}_{related.field(assoc.foreign_key).source}_fkey"
