"""Importing the application's modules named by ``repodb diff --schemas`` for their Schemas.

Why: ``diff`` compares the live database with what the application declares,
so it imports the application's own code from the current directory; an
import that fails, or exits, must become one clear error, not end repodb.
"""

from __future__ import annotations

import importlib
import os
import sys

from ..schema import Schema
from .context import CommandError

__all__ = ["load_schemas"]


def load_schemas(spec: str) -> list[type[Schema]]:
    """The Schema classes defined in the comma-separated modules, in declaration order."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise CommandError("--schemas names no module")
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        found: dict[type[Schema], None] = {}
        for name in names:
            try:
                module = importlib.import_module(name)
            except (Exception, SystemExit) as e:
                # SystemExit too: a module that exits on import (a script's
                # ``sys.exit(...)``) would otherwise end repodb without a word.
                message = f"cannot import {name}: {type(e).__name__}: {e}"
                if "/" in name or name.endswith(".py"):
                    dotted = name.removesuffix(".py").replace("/", ".").strip(".")
                    message += f" (name a module, as Python imports it: {dotted})"
                raise CommandError(message) from e
            declared = [
                value
                for value in vars(module).values()
                if isinstance(value, type)
                and issubclass(value, Schema)
                and value is not Schema
                and value.__module__ == module.__name__
            ]
            if not declared:
                raise CommandError(f"module {name} declares no repodb Schema class")
            found.update(dict.fromkeys(declared))
        return list(found)
    finally:
        if added:
            sys.path.remove(here)
