"""Finding parameter markers in SQL text, outside literals and comments.

Why: a request may be written with ``?`` (in order) or ``$1..$n`` (numbered,
reusable) markers; each database wants its own style. The text is split once,
when the request is made, into literal pieces and parameter numbers, and
rendered per dialect from those pieces.
"""

from __future__ import annotations

import re

__all__ = ["Template", "parse"]

_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$]")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_DIGITS = re.compile(r"[0-9]+")


class Template:
    """SQL text split into literal pieces around 0-based parameter indices."""

    __slots__ = ("count", "indices", "pieces")

    def __init__(self, pieces: tuple[str, ...], indices: tuple[int, ...]) -> None:
        self.pieces = pieces
        self.indices = indices
        self.count = max(indices) + 1 if indices else 0

    def render(self, placeholder: str, *, numbered: bool) -> str:
        """The SQL with the n-th parameter written as ``placeholder`` + n, or bare ``placeholder``.

        Bare markers bind values in marker order: see ``binds_in_order``.
        """
        out = [self.pieces[0]]
        for index, piece in zip(self.indices, self.pieces[1:], strict=True):
            out.append(f"{placeholder}{index + 1}" if numbered else placeholder)
            out.append(piece)
        return "".join(out)

    @property
    def binds_in_order(self) -> bool:
        """Whether the markers take the parameters once each, in order.

        Else bare markers need the values as ``[values[i] for i in indices]``.
        """
        return self.indices == tuple(range(len(self.indices)))


def parse(sql: str) -> Template:
    """Split ``sql`` at its ``?`` or ``$n`` markers.

    Raises ValueError when both styles are mixed or numbered markers skip a
    number (the database could not infer the missing parameter's type).
    """
    pieces: list[str] = []
    indices: list[int] = []
    start = 0
    i = 0
    n = len(sql)
    styles: set[str] = set()
    while i < n:
        ch = sql[i]
        if ch == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not _IDENT_CHAR.match(sql[i - 2]))
            i = _skip_quoted(sql, i, "'", backslash=escapes)
        elif ch == '"':
            i = _skip_quoted(sql, i, '"', backslash=False)
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
        elif ch == "?":
            if sql[i + 1 : i + 2].isdigit():
                raise ValueError("write numbered parameters as $1..$n; ?N is SQLite-only syntax")
            styles.add("?")
            pieces.append(sql[start:i])
            indices.append(len(indices))
            i += 1
            start = i
        elif ch == "$" and not (i > 0 and _IDENT_CHAR.match(sql[i - 1])):
            digits = _DIGITS.match(sql, i + 1)
            if digits:
                styles.add("$")
                pieces.append(sql[start:i])
                indices.append(int(digits.group()) - 1)
                i = digits.end()
                start = i
                continue
            tag = _DOLLAR_TAG.match(sql, i)
            if tag:
                end = sql.find(tag.group(), tag.end())
                i = n if end < 0 else end + len(tag.group())
            else:
                i += 1
        else:
            i += 1
    pieces.append(sql[start:])
    if len(styles) > 1:
        raise ValueError("use either ? or $1..$n parameter markers in one request, not both")
    if "$" in styles:
        used = set(indices)
        missing = [k + 1 for k in range(max(used) + 1) if k not in used]
        if min(used) < 0 or missing:
            raise ValueError(f"numbered parameters skip ${', $'.join(map(str, missing or [0]))}")
    return Template(tuple(pieces), tuple(indices))


def _skip_quoted(sql: str, i: int, quote: str, *, backslash: bool) -> int:
    i += 1
    n = len(sql)
    while i < n:
        ch = sql[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_block_comment(sql: str, i: int) -> int:
    # PostgreSQL nests block comments; SQLite does not, but nested markers
    # inside a SQLite comment are rare enough to treat the same way.
    depth = 0
    n = len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n
