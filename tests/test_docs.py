"""The guide's examples run: every ```python block in docs/*.md and in README.md.

One test per markdown file. A file's python blocks run in order in one shared
namespace, so a later block may use what an earlier one defined. The namespace
is a module registered in ``sys.modules`` (dataclasses and
``typing.get_type_hints`` look classes up there), and the working directory is
a fresh ``tmp_path``, so database files the examples create stay out of the
repository. The examples use SQLite and need no server; PostgreSQL-only
snippets are written as ```text or ```sh blocks, which are not run.

A block that raises fails its file's test with the file, the block number and
the line the block starts on; tracebacks give line numbers in the markdown
file. The last tests check this runner itself: that names carry over between
blocks, that a raising block fails the test, and that a missing closing fence
is reported.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import traceback
import types
from pathlib import Path

import pytest

import repodb

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
# An opening fence: up to three spaces, three or more backticks or tildes, a language.
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)")


@dataclasses.dataclass(frozen=True)
class Block:
    """One ```python block: its number among the file's python blocks, first line, code."""

    number: int
    line: int
    code: str


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of a markdown text, in order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence, language = opening.groups()
        end = i + 1
        while end < len(lines) and not _closes(lines[end], fence):
            end += 1
        if end == len(lines):
            raise ValueError(f"the code block opened on line {i + 1} is never closed")
        if language == "python":
            body = [line.removeprefix(indent) for line in lines[i + 1 : end]]
            blocks.append(Block(len(blocks) + 1, i + 2, "\n".join(body) + "\n"))
        i = end + 1
    return blocks


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def run_page(path: Path, module: types.ModuleType) -> None:
    """Run the python blocks of ``path`` in ``module``'s namespace; fail on the first error."""
    namespace = module.__dict__
    try:
        for block in python_blocks(path.read_text(encoding="utf-8")):
            # Leading newlines make tracebacks count lines as the markdown file does.
            code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
            failure = None
            try:
                exec(code, namespace)
            except Exception:
                failure = traceback.format_exc()
            if failure is not None:
                pytest.fail(
                    f"{_shown(path)}: python block {block.number} (line {block.line}) raised:\n"
                    + failure,
                    pytrace=False,
                )
    finally:
        # An example that left a connection open must not leak it into later tests.
        for value in list(namespace.values()):
            if isinstance(value, repodb.Connection) and not value.closed:
                value.close()


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def _fresh_module(path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    name = "repodb_docs_" + re.sub(r"\W", "_", path.stem)
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    return module


@pytest.mark.parametrize("path", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_page_examples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_page(path, _fresh_module(path, monkeypatch))


def test_the_guide_has_examples() -> None:
    guide = [p for p in PAGES if p.parent.name == "docs"]
    assert guide, "docs/ has no pages"
    with_examples = [p.name for p in guide if python_blocks(p.read_text(encoding="utf-8"))]
    assert "index.md" in with_examples


def test_blocks_share_names_and_skip_other_languages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```python\nx = 1\n```\n\n```text\nnot python\n```\n\n"
        "```python\nassert x == 1\nseen = True\n```\n"
    )
    module = _fresh_module(page, monkeypatch)
    run_page(page, module)
    assert [b.line for b in python_blocks(page.read_text())] == [4, 12]
    assert module.seen is True


def test_a_raising_block_fails_naming_file_block_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "broken.md"
    page.write_text("```python\nx = 1\n```\n\nText.\n\n```python\nassert x == 2\n```\n")
    with pytest.raises(pytest.fail.Exception) as failure:
        run_page(page, _fresh_module(page, monkeypatch))
    message = str(failure.value)
    assert "broken.md: python block 2 (line 8) raised" in message
    assert "AssertionError" in message


def test_an_unclosed_block_is_an_error() -> None:
    with pytest.raises(ValueError, match="line 3 is never closed"):
        python_blocks("# Page\n\n```python\nx = 1\n")
