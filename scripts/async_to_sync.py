#!/usr/bin/env python3
"""Generate repodb's sync I/O modules from their async sources.

Why: the logic that waits on I/O (connections, pools, the router, the Repo)
is written once, in its async form (``x_async.py``); the sync module ``x.py``
is generated from it, as psycopg 3 does. The rewrite works on tokens, so the
comments and the layout of the source survive:

- ``async def``/``async with``/``async for`` lose ``async``; ``await x`` is ``x``;
  ``Awaitable[T]`` is ``T``;
- names are renamed by ``RENAMES`` and two rules: ``AsyncX``/``_AsyncX`` is
  ``X``/``_X``, ``x_async`` is ``x`` (modules and functions);
- a module whose sync form runs on another client library (MariaDB's:
  asyncmy, PyMySQL) has its own ``CLIENT_RENAMES``, applied to names in the
  code only: its prose names both libraries as they are;
- ``if True:  # ASYNC`` keeps its body in the async source only; its ``else:``
  body (if any) is what the sync module gets, dedented;
- the same renames apply inside strings and comments, so docstrings, error
  messages and ``__all__`` follow.

The sync modules are not kept in git (``.gitignore``): ``scripts/setup-venv``
and the package build (``hatch_build.py``) write them, and
``tests/unit/test_generated.py`` fails when one is stale. Why: a generated
twin in the repository would read, to every reviewer and to ``duplicates``,
as a second copy of the logic. The output is the rewritten text as it is, no
formatter run on it, so that it is the same on every machine (a few imports
the sync side no longer uses stay; nothing lints a generated file).

Usage::

    scripts/async_to_sync.py            # regenerate every module in SOURCES
    scripts/async_to_sync.py --check    # exit 1 and show a diff when one is stale
"""

from __future__ import annotations

import argparse
import ast
import difflib
import io
import re
import sys
import tokenize
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    "src/repodb/connection_async.py",
    "src/repodb/driver/postgresql_async.py",
    "src/repodb/driver/mariadb_async.py",
    "src/repodb/_pool/slots_async.py",
    "src/repodb/_pool/maintenance_async.py",
    "src/repodb/pool_async.py",
    "src/repodb/_cqrs/probe_async.py",
    "src/repodb/_cqrs/leases_async.py",
    "src/repodb/multipool_async.py",
    "src/repodb/cqrs_async.py",
    "src/repodb/_repo/stream_async.py",
    "src/repodb/_repo/write_async.py",
    "src/repodb/_repo/bulk_async.py",
    "src/repodb/preload_async.py",
    "src/repodb/multi_async.py",
    "src/repodb/repo_async.py",
    "src/repodb/sandbox_async.py",
]

RENAMES = {
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "StopAsyncIteration": "StopIteration",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "asynccontextmanager": "contextmanager",
    "aclose": "close",
    "aiter": "iter",
    "anext": "next",
    "asleep": "sleep",
    "load_async_driver": "load_driver",
}
# Per module: the async client's names that the sync client spells otherwise
# (asyncmy follows PyMySQL's API; its ``connected`` is PyMySQL's ``open``).
CLIENT_RENAMES: dict[str, dict[str, str]] = {
    "src/repodb/driver/mariadb_async.py": {"asyncmy": "pymysql", "connected": "open"},
}
DOTTED = {("asyncio", "sleep"): "time.sleep", ("asyncio", "Event"): "threading.Event"}
_ASYNC_CLASS = re.compile(r"^(_*)Async(?=[A-Z])")
_ASYNC_SUFFIX = re.compile(r"^(\w+?)_async$")
_WORD = re.compile(r"\b[A-Za-z_]\w*\b")
_MARK = re.compile(r"#\s*ASYNC\s*$")


def rename(name: str) -> str:
    if name in RENAMES:
        return RENAMES[name]
    name = _ASYNC_CLASS.sub(r"\1", name)
    return _ASYNC_SUFFIX.sub(r"\1", name)


def _rename_text(text: str) -> str:
    """Renames inside a string or a comment (docstring examples, messages, ``__all__``)."""
    text = re.sub(r"\basync\s+(?=(def|with|for)\b)", "", text)
    text = re.sub(r"\bawait\s+(?=[\w(\[])", "", text)
    text = re.sub(r"\bAwaitable\[([^\[\]]*)\]", r"\1", text)
    for (mod, attr), new in DOTTED.items():
        text = text.replace(f"{mod}.{attr}", new)
    return _WORD.sub(lambda m: rename(m.group(0)), text)


def _drop_async_blocks(source: str) -> str:
    """Replace each ``if True:  # ASYNC`` statement by its ``else:`` body, dedented."""
    lines = source.splitlines(keepends=True)
    blocks = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Constant)
        and node.test.value is True
        and _MARK.search(lines[node.lineno - 1])
    ]
    for node in sorted(blocks, key=lambda n: n.lineno, reverse=True):
        start, end = node.lineno - 1, node.end_lineno or node.lineno
        kept: list[str] = []
        if node.orelse:
            if isinstance(node.orelse[0], ast.If) and lines[
                node.orelse[0].lineno - 1
            ].lstrip().startswith("elif"):
                raise SyntaxError(f"line {node.lineno}: an ASYNC block takes else:, not elif")
            body_start = node.orelse[0].lineno - 1
            # Comments between "else:" and the first statement belong to the body.
            while body_start > 0 and not lines[body_start - 1].strip().startswith("else"):
                body_start -= 1
            outer = len(lines[start]) - len(lines[start].lstrip())
            inner = len(lines[node.orelse[0].lineno - 1]) - len(
                lines[node.orelse[0].lineno - 1].lstrip()
            )
            shift = inner - outer
            for line in lines[body_start:end]:
                kept.append(line[shift:] if line[:shift].strip() == "" else line)
        lines[start:end] = kept
    return "".join(lines)


# Python 3.12+ tokenizes an f-string in pieces (PEP 701): its literal text is
# FSTRING_MIDDLE tokens, renamed as strings are, so that every Python version
# writes the same sync modules (3.11 sees one STRING token).
_TEXT_TOKENS = frozenset({tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)})


def transform(source: str, client: Mapping[str, str] | None = None) -> str:
    """The sync module for an async ``source`` (before formatting).

    ``client``: names renamed in the code only (``CLIENT_RENAMES``).
    """
    client = client or {}
    source = _drop_async_blocks(source)
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))

    def pos(rc: tuple[int, int]) -> int:
        return offsets[rc[0] - 1] + rc[1]

    edits: list[tuple[int, int, str]] = []
    significant = [t for t in tokens if t.type not in (tokenize.NL, tokenize.COMMENT)]
    skip = 0
    for i, tok in enumerate(significant):
        if skip:
            skip -= 1
            continue
        nxt = significant[i + 1] if i + 1 < len(significant) else None
        if tok.type == tokenize.NAME and tok.string in ("async", "await") and nxt is not None:
            edits.append((pos(tok.start), pos(nxt.start), ""))
        elif tok.type == tokenize.NAME and tok.string == "Awaitable" and nxt and nxt.string == "[":
            depth, j = 0, i + 1
            while True:
                depth += {"[": 1, "]": -1}.get(significant[j].string, 0)
                if depth == 0:
                    break
                j += 1
            edits.append((pos(tok.start), pos(nxt.end), ""))
            edits.append((pos(significant[j].start), pos(significant[j].end), ""))
        elif (
            tok.type == tokenize.NAME
            and nxt is not None
            and nxt.string == "."
            and i + 2 < len(significant)
            and (tok.string, significant[i + 2].string) in DOTTED
        ):
            new = DOTTED[(tok.string, significant[i + 2].string)]
            edits.append((pos(tok.start), pos(significant[i + 2].end), new))
            skip = 2
        elif tok.type == tokenize.NAME:
            if (new := client.get(tok.string) or rename(tok.string)) != tok.string:
                edits.append((pos(tok.start), pos(tok.end), new))
        elif tok.type in _TEXT_TOKENS:
            # The source's own text: an f-string piece's token text has its
            # doubled braces undone.
            text = source[pos(tok.start) : pos(tok.end)]
            if (new := _rename_text(text)) != text:
                edits.append((pos(tok.start), pos(tok.end), new))
    for tok in tokens:
        if tok.type == tokenize.COMMENT and (new := _rename_text(tok.string)) != tok.string:
            edits.append((pos(tok.start), pos(tok.end), new))
    out = source
    for start, end, new in sorted(edits, reverse=True):
        out = out[:start] + new + out[end:]
    return out


def header(src: Path) -> str:
    rel = src.relative_to(ROOT)
    return (
        f"# WARNING: generated from {rel.name} by scripts/async_to_sync.py: do not edit.\n"
        f"# Edit {rel} and run scripts/async_to_sync.py.\n"
    )


def generate(src: Path) -> tuple[Path, str]:
    """The path and the text of the sync module generated from ``src``."""
    target = src.with_name(_ASYNC_SUFFIX.sub(r"\1", src.stem) + ".py")
    client = CLIENT_RENAMES.get(src.relative_to(ROOT).as_posix())
    return target, header(src) + transform(src.read_text(), client)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a module is stale")
    parser.add_argument("sources", nargs="*", default=SOURCES)
    options = parser.parse_args()
    stale = 0
    for name in options.sources:
        target, code = generate(ROOT / name)
        current = target.read_text() if target.exists() else ""
        if current == code:
            continue
        if options.check:
            stale += 1
            rel = str(target.relative_to(ROOT))
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True), code.splitlines(keepends=True), rel, rel
                )
            )
        else:
            target.write_text(code)
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print(f"{stale} generated module(s) stale: run scripts/async_to_sync.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
