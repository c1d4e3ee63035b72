"""Operations as the Python source of a migration file.

Why: ``repodb diff`` finds what the schemas declare and the database lacks;
the developer should get a migration file to read, edit and commit, written
with the same public API (``ops.create_table``, ``column``, ``references``)
as a hand-written one, not a pickled list of operations.

The file defines ``change(ops)`` when every operation can be undone from
what the call itself says. Otherwise it defines ``up(ops)`` and
``down(ops)``: ``down`` runs the inverses, last first, and when one of the
operations cannot be undone (a dropped column whose definition is unknown)
``down`` raises ``IrreversibleError`` saying which, before doing anything.

Types are written as in a hand-written migration: ``int``,
``optional(str)``, ``array(int)``, ``json()``; an Enum or record class is
imported from its module. Defaults are Python literals (checked to read back
equal) or ``Raw("SQL")``.

Example::

    text = render_operations([AddColumn("users", ColumnDef("age", optional(int)))])
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import decimal
import enum
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from ..types import DbType, Kind
from .ops import (
    NO_DEFAULT,
    AddColumn,
    AlterColumn,
    ColumnDef,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropIndex,
    DropTable,
    Execute,
    ForeignKey,
    IrreversibleError,
    Operation,
    Raw,
    References,
    RenameColumn,
    RenameTable,
    inverse,
)

__all__ = ["render_operations"]

_LINE = 100
_INDENT = "    "


@dataclasses.dataclass(frozen=True)
class _Call:
    """A call to lay out: ``function(arg, ..., name=value)``, exploded when too long."""

    function: str
    args: tuple[_Node, ...]


@dataclasses.dataclass(frozen=True)
class _List:
    items: tuple[_Node, ...]
    brackets: str = "[]"


@dataclasses.dataclass(frozen=True)
class _Keyword:
    name: str
    value: _Node


@dataclasses.dataclass(frozen=True)
class _Text:
    """A string literal, split over lines when too long."""

    value: str


_Node = str | _Call | _List | _Keyword | _Text


def _flat(node: _Node) -> str:
    match node:
        case str():
            return node
        case _Text():
            return _string(node.value)
        case _Keyword():
            return f"{node.name}={_flat(node.value)}"
        case _Call():
            return f"{node.function}({', '.join(map(_flat, node.args))})"
        case _List():
            inner = ", ".join(map(_flat, node.items))
            if node.brackets == "()" and len(node.items) == 1:
                inner += ","
            return node.brackets[0] + inner + node.brackets[1]


def _layout(node: _Node, indent: str, prefix: str = "", suffix: str = "") -> list[str]:
    """Lines of ``node`` at ``indent``: on one line if it fits, else one member per line."""
    line = f"{indent}{prefix}{_flat(node)}{suffix}"
    if len(line) <= _LINE or isinstance(node, str):
        return [line]
    match node:
        case _Text():
            return _split_text(node.value, indent, prefix, suffix)
        case _Keyword():
            return _layout(node.value, indent, f"{prefix}{node.name}=", suffix)
        case _Call():
            opening, members, closing = f"{node.function}(", node.args, ")"
        case _List():
            opening, members, closing = node.brackets[0], node.items, node.brackets[1]
    lines = [f"{indent}{prefix}{opening}"]
    for member in members:
        lines += _layout(member, indent + _INDENT, suffix=",")
    lines.append(f"{indent}{closing}{suffix}")
    return lines


def _split_text(value: str, indent: str, prefix: str, suffix: str) -> list[str]:
    """A long string as implicitly concatenated literals, one per line (in parentheses
    unless it is a call's argument)."""
    wrap = bool(prefix)
    inner = indent + _INDENT if wrap else indent
    width = max(_LINE - len(inner) - 4, 20)
    parts: list[str] = []
    current: str | None = None
    for word in value.split(" "):
        candidate = word if current is None else f"{current} {word}"
        if current is not None and len(_string(candidate)) > width:
            parts.append(current + " ")
            current = word
        else:
            current = candidate
    parts.append(current or "")
    literals = [inner + _string(part) for part in parts]
    if not wrap:
        literals[-1] += suffix
        return literals
    return [f"{indent}{prefix}(", *literals, f"{indent}){suffix}"]


class _Imports:
    """The names a rendered file uses, grouped as isort sorts them."""

    def __init__(self) -> None:
        self.stdlib: set[str] = set()
        self.repodb: dict[str, set[str]] = {"repodb.migration": {"Ops"}}
        self.other: set[str] = set()

    def use(self, module: str, name: str) -> str:
        if module in ("repodb.migration", "repodb.types"):
            self.repodb.setdefault(module, set()).add(name)
        elif module.split(".")[0] in sys.stdlib_module_names:
            self.stdlib.add(f"from {module} import {name}")
        else:
            self.other.add(f"from {module} import {name}")
        return name

    def module(self, module: str) -> str:
        self.stdlib.add(f"import {module}")
        return module

    def lines(self) -> list[str]:
        groups = [
            sorted(self.stdlib, key=_import_order),
            [
                f"from {module} import {', '.join(sorted(names, key=_name_order))}"
                for module, names in sorted(self.repodb.items())
            ],
            sorted(self.other, key=_import_order),
        ]
        out: list[str] = []
        for group in groups:
            if group:
                out += [*group, ""]
        return out


def _import_order(line: str) -> tuple[bool, str]:
    # isort: plain ``import x`` before ``from x import y`` within a section.
    return line.startswith("from "), line.split()[1]


def _name_order(name: str) -> tuple[int, str]:
    # isort's default order of imported names: CONSTANTS, Classes, functions.
    kind = 0 if name.isupper() else (1 if name[0].isupper() else 2)
    return kind, name


def render_operations(operations: Sequence[Operation], *, title: str | None = None) -> str:
    """The source of a migration file doing ``operations``.

    ``title`` is the file's docstring (default: what ``repodb diff`` found).
    The result is ruff-clean Python that, run by the migrator, does exactly
    these operations.
    """
    imports = _Imports()
    reversible = all(_expressible_in_change(op) for op in operations)
    summary = (title or "Changes found by repodb diff").rstrip(".")
    summary = summary.replace("\\", "\\\\").replace('"', '\\"')
    body: list[str] = [f'"""{summary}."""', ""]
    functions: list[str] = []
    if reversible:
        functions += _function("change", [_op(op, imports) for op in operations])
    else:
        functions += _function("up", [_op(op, imports) for op in operations])
        functions += ["", ""]
        functions += _function("down", _down(operations, imports))
    return "\n".join(body + imports.lines() + [""] + functions) + "\n"


def _function(name: str, statements: list[_Node]) -> list[str]:
    lines = [f"def {name}(ops: Ops) -> None:"]
    for statement in statements:
        lines += _layout(statement, _INDENT)
    if not statements:
        lines.append(f"{_INDENT}pass")
    return lines


def _down(operations: Sequence[Operation], imports: _Imports) -> list[_Node]:
    undo: list[Operation] = []
    for op in reversed(operations):
        try:
            undo.append(inverse(op))
        except IrreversibleError as e:
            imports.use("repodb.migration", "IrreversibleError")
            message = f"this migration cannot be rolled back: {e}"
            return [_Call("raise IrreversibleError", (_Text(message),))]
    return [_op(op, imports) for op in undo]


def _expressible_in_change(op: Operation) -> bool:
    """Whether ``change`` can say ``op`` with everything its inverse needs."""
    match op:
        case DropTable(definition=None) | DropColumn(definition=None):
            return False
        case DropTable(definition=CreateTable() as definition):
            return definition == CreateTable(op.table, definition.columns, prefix=op.prefix)
        case AlterColumn(previous=None) | Execute(down=None) | DropIndex():
            # A dropped index's definition is no ``drop_index`` argument the
            # public API spells; up/down says it with ``create_index``.
            return False
    return True


def _op(op: Operation, imports: _Imports) -> _Node:
    call = _call(op, imports)
    if isinstance(op, Execute) or op.prefix is None:
        return call
    return _Call(call.function, (*call.args, _Keyword("prefix", _Text(op.prefix))))


def _call(op: Operation, imports: _Imports) -> _Call:
    s = _Text
    match op:
        case CreateTable():
            return _Call("ops.create_table", (s(op.table), *_table_args(op, imports)))
        case DropTable():
            args: list[_Node] = [s(op.table)]
            if op.if_exists:
                args.append(_Keyword("if_exists", "True"))
            if op.definition is not None and op.definition == CreateTable(
                op.table, op.definition.columns, prefix=op.prefix
            ):
                columns = _List(tuple(_column(c, imports) for c in op.definition.columns))
                args.append(_Keyword("columns", columns))
            return _Call("ops.drop_table", tuple(args))
        case RenameTable():
            return _Call("ops.rename_table", (s(op.table), s(op.new_name)))
        case AddColumn():
            return _Call("ops.add_column", (s(op.table), _column(op.column, imports)))
        case DropColumn():
            args = [s(op.table), s(op.name)]
            if op.definition is not None:
                args.append(_Keyword("definition", _column(op.definition, imports)))
            return _Call("ops.drop_column", tuple(args))
        case RenameColumn():
            return _Call("ops.rename_column", (s(op.table), s(op.name), s(op.new_name)))
        case AlterColumn():
            args = [s(op.table), _column(op.column, imports)]
            if op.previous is not None:
                args.append(_Keyword("previous", _column(op.previous, imports)))
            return _Call("ops.alter_column", tuple(args))
        case CreateIndex():
            args = [s(op.table), _List(tuple(map(s, op.columns)))]
            args += _keywords(
                op,
                {"name": None, "unique": False, "where": None, "using": None, "search": None},
                {"concurrently": False, "if_not_exists": False},
            )
            return _Call("ops.create_index", tuple(args))
        case DropIndex():
            args = [s(op.table), s(op.name)]
            args += _keywords(op, {}, {"concurrently": False, "if_exists": False})
            return _Call("ops.drop_index", tuple(args))
        case Execute():
            args = [s(op.sql)]
            if op.down is not None:
                args.append(_Keyword("down", s(op.down)))
            return _Call("ops.execute", tuple(args))
    raise TypeError(f"not a migration operation: {op!r}")  # pragma: no cover


def _keywords(op: object, strings: dict[str, Any], flags: dict[str, bool]) -> list[_Node]:
    """Keyword arguments of the fields of ``op`` that differ from their defaults."""
    out: list[_Node] = []
    for name, default in {**strings, **flags}.items():
        value = getattr(op, name)
        if value != default:
            out.append(_Keyword(name, repr(value) if name in flags else _Text(value)))
    return out


def _table_args(op: CreateTable, imports: _Imports) -> list[_Node]:
    args: list[_Node] = [_List(tuple(_column(c, imports) for c in op.columns))]
    if op.primary_key:
        args.append(_Keyword("primary_key", _List(tuple(map(_string, op.primary_key)))))
    if op.unique:
        groups = tuple(_List(tuple(map(_string, u)), "()") for u in op.unique)
        args.append(_Keyword("unique", _List(groups)))
    if op.checks:
        pairs = ", ".join(f"{_string(k)}: {_string(v)}" for k, v in op.checks)
        args.append(_Keyword("checks", "{" + pairs + "}"))
    if op.foreign_keys:
        fks = tuple(_foreign_key(fk, imports) for fk in op.foreign_keys)
        args.append(_Keyword("foreign_keys", _List(fks)))
    if op.if_not_exists:
        args.append(_Keyword("if_not_exists", "True"))
    return args


def _foreign_key(fk: ForeignKey, imports: _Imports) -> _Node:
    imports.use("repodb.migration", "ForeignKey")
    args: list[_Node] = [
        _List(tuple(map(_string, fk.columns)), "()"),
        _string(fk.table),
        _List(tuple(map(_string, fk.references)), "()"),
    ]
    args += _actions(fk.on_delete, fk.on_update, fk.name, fk.prefix)
    return _Call("ForeignKey", tuple(args))


def _actions(on_delete: str, on_update: str, name: str | None, prefix: str | None) -> list[_Node]:
    out: list[_Node] = []
    if on_delete != "no_action":
        out.append(_Keyword("on_delete", _string(on_delete)))
    if on_update != "no_action":
        out.append(_Keyword("on_update", _string(on_update)))
    if name is not None:
        out.append(_Keyword("name", _string(name)))
    if prefix is not None:
        out.append(_Keyword("prefix", _string(prefix)))
    return out


def _column(col: ColumnDef, imports: _Imports) -> _Node:
    imports.use("repodb.migration", "column")
    args: list[_Node] = [_string(col.name), _type(col.type, imports)]
    if col.primary_key:
        args.append(_Keyword("primary_key", "True"))
    if col.autogenerate:
        args.append(_Keyword("autogenerate", "True"))
    if col.default is not NO_DEFAULT:
        args.append(_Keyword("default", _value(col.default, col.type, imports)))
    if col.unique:
        args.append(_Keyword("unique", "True"))
    if col.references is not None:
        args.append(_Keyword("references", _references(col.references, imports)))
    if col.check is not None:
        args.append(_Keyword("check", _Text(col.check)))
    return _Call("column", tuple(args))


def _references(ref: References, imports: _Imports) -> _Node:
    if ref == References(ref.table):
        return _string(ref.table)
    imports.use("repodb.migration", "references")
    args: list[_Node] = [_string(ref.table)]
    if ref.column != "id":
        args.append(_string(ref.column))
    args += _actions(ref.on_delete, ref.on_update, ref.name, ref.prefix)
    return _Call("references", tuple(args))


_SCALAR_SOURCE: dict[Kind, tuple[str, str] | str] = {
    Kind.BOOL: "bool",
    Kind.INT: "int",
    Kind.FLOAT: "float",
    Kind.STR: "str",
    Kind.BYTES: "bytes",
    Kind.DECIMAL: ("decimal", "Decimal"),
    Kind.UUID: ("uuid", "UUID"),
    Kind.DATE: ("datetime", "date"),
    Kind.DATETIME: ("datetime", "datetime"),
    Kind.TIME: ("datetime", "time"),
    Kind.TIMEDELTA: ("datetime", "timedelta"),
}


def _type(t: DbType[Any], imports: _Imports) -> str:
    """The spec of a repodb type, as a migration writes it."""
    if t.kind in (Kind.OPTIONAL, Kind.ARRAY):
        assert t.item is not None
        wrapper = imports.use("repodb.types", t.kind.value)
        return f"{wrapper}({_type(t.item, imports)})"
    if t.kind is Kind.JSON:
        return imports.use("repodb.types", "json") + "()"
    if t.kind in (Kind.ENUM, Kind.RECORD) and t.cls is not None:
        return _class(t.cls, imports)
    source = _SCALAR_SOURCE.get(t.kind)
    if source is None:
        raise TypeError(f"a column cannot have type {t!r}")
    if isinstance(source, str):
        return source
    module, name = source
    if module == "datetime":
        return f"{imports.module(module)}.{name}"
    return imports.use(module, name)


def _class(cls: type[Any], imports: _Imports) -> str:
    """An Enum or record class, imported from where it is defined."""
    module, name = cls.__module__, cls.__qualname__
    if module in ("__main__", "builtins") or "<" in name:
        raise ValueError(
            f"{name} is defined where a migration cannot import it from ({module});"
            " define it in a module of the application"
        )
    top = name.split(".")[0]
    imports.use(module, top)
    return name


def _value(value: object, t: DbType[Any], imports: _Imports) -> str:
    """A default as a Python expression that evaluates back to an equal value."""
    if isinstance(value, Raw):
        return f"{imports.use('repodb.migration', 'Raw')}({_string(value.sql)})"
    if isinstance(value, enum.Enum):
        return f"{_class(type(value), imports)}.{value.name}"
    if isinstance(value, decimal.Decimal):
        return f"{imports.use('decimal', 'Decimal')}({_string(str(value))})"
    if isinstance(value, uuid.UUID):
        return f"{imports.use('uuid', 'UUID')}({_string(str(value))})"
    if type(value) in _DATETIMES:
        # The standard library's own repr reads back equal, with a time zone
        # of its own (datetime.timezone) or none; another zone's repr need not.
        zone = getattr(value, "tzinfo", None)
        if zone is None or type(zone) is datetime.timezone:
            imports.module("datetime")
            return repr(value)
    elif isinstance(value, str):
        # As a plain str: a subclass's own __repr__ could write code.
        return _string(str.__str__(value))
    else:
        text = repr(value)
        try:
            # Only literals (numbers, bytes, None, lists, dicts...) pass: the
            # repr of any other object is never run.
            if ast.literal_eval(text) == value:
                return text
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
    raise ValueError(f"cannot write the default {value!r} of a {t!r} column as Python")


_DATETIMES = (datetime.date, datetime.datetime, datetime.time, datetime.timedelta)


def _string(value: str) -> str:
    """A Python string literal, double-quoted as ruff format writes it."""
    text = repr(value)
    if text.startswith("'") and '"' not in value:
        return '"' + text[1:-1].replace("\\'", "'") + '"'
    return text
