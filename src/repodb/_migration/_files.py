"""Migration files: finding them, loading them, writing new ones.

Why: a migration is a Python file named ``<14-digit version>_<name>.py``
(the version is the UTC time it was made: ``20261126141500_create_users.py``),
so files sort by version and two developers' migrations rarely collide.
A file is executed from its source each time it is loaded, under a module
name of its own that is not left in ``sys.modules``: nothing of one run (or
a stale bytecode cache) leaks into the next.
"""

from __future__ import annotations

import ast
import datetime as dt
import itertools
import re
import sys
import threading
import types
from collections.abc import Sequence
from pathlib import Path

from ._records import MigrationError, MigrationFile
from .ops import Operation
from .pysource import render_operations

__all__ = ["discover", "load", "write_new"]

_FILE_NAME = re.compile(r"^(\d{14})_([A-Za-z0-9_]+)\.py$")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_modules = itertools.count(1)


def discover(directory: Path) -> list[MigrationFile]:
    """The migration files of ``directory``, sorted by version.

    Files starting with ``_`` or ``.`` are not migrations (``__init__.py``);
    any other ``.py`` file must be named ``<version>_<name>.py``.
    """
    if not directory.is_dir():
        raise MigrationError(
            f"migrations directory {str(directory)!r} does not exist"
            " (create one with `repodb new NAME` or new_migration())"
        )
    found: dict[int, MigrationFile] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".py" or path.name.startswith(("_", ".")) or not path.is_file():
            continue
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"bad migration file name {path.name!r} in {str(directory)!r}: expected"
                " <14-digit version>_<name>.py, e.g. 20261126141500_create_users.py"
            )
        version, name = int(match.group(1)), match.group(2)
        if version in found:
            raise MigrationError(
                f"two migration files have version {version}:"
                f" {found[version].path.name} and {path.name}",
                version=version,
            )
        found[version] = MigrationFile(version, name, path, _in_transaction(path))
    return [found[v] for v in sorted(found)]


# CPython 3.11.7 (CPython issue gh-106905) counts ast.parse's recursion depth
# per interpreter, not per thread: two threads parsing at once can fail with a
# SystemError ("AST constructor recursion depth mismatch"), as two migrators in
# threads of one process did. One parse at a time; it is a rare, short call.
_PARSING = threading.Lock()


def _in_transaction(path: Path) -> bool:
    """False when the file's top level sets ``transaction = False`` (read, not run)."""
    source = path.read_text(encoding="utf-8")
    try:
        with _PARSING:
            tree = ast.parse(source, str(path))
    except SyntaxError as e:
        raise MigrationError(f"migration file {path.name} is not valid Python: {e}") from e
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        value = getattr(node, "value", None)
        if any(isinstance(t, ast.Name) and t.id == "transaction" for t in targets) and isinstance(
            value, ast.Constant
        ):
            return bool(value.value)
    return True


def load(file: MigrationFile) -> types.ModuleType:
    """Execute a migration file's source as a fresh module.

    The module is in ``sys.modules`` only while its top level runs (dataclasses
    and typing look classes up there), under a name no other load uses.
    """
    name = f"_repodb_migration_{file.version}_{next(_modules)}"
    module = types.ModuleType(name)
    module.__file__ = str(file.path)
    source = file.path.read_text(encoding="utf-8")
    code = compile(source, str(file.path), "exec")
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    finally:
        sys.modules.pop(name, None)
    return module


_SKELETON = '''"""{title}."""

from repodb.migration import Ops

# transaction = False  # run outside a transaction (needed by CREATE INDEX CONCURRENTLY)


def change(ops: Ops) -> None:
    """Reversible operations: a rollback runs their inverses, last first."""
    # With `from repodb.migration import column` above:
    # ops.create_table("things", [column("id", int, primary_key=True, autogenerate=True)])
'''


def write_new(
    directory: Path, name: str, operations: Sequence[Operation], now: dt.datetime | None
) -> Path:
    """Write ``<directory>/<version>_<name>.py`` and return its path.

    The version is ``now`` (UTC) to the second; when a file of that version
    exists, the next free second.
    """
    if not _NAME.match(name):
        raise ValueError(
            f"a migration name is letters, digits and underscores (e.g. create_users), not {name!r}"
        )
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    directory.mkdir(parents=True, exist_ok=True)
    taken = {path.name[:14] for path in directory.glob("*.py")}
    while moment.strftime("%Y%m%d%H%M%S") in taken:
        moment += dt.timedelta(seconds=1)
    path = directory / f"{moment:%Y%m%d%H%M%S}_{name}.py"
    title = name.replace("_", " ").capitalize()
    if operations:
        text = render_operations(operations, title=title)
    else:
        text = _SKELETON.format(title=title)
    path.write_text(text, encoding="utf-8")
    return path
