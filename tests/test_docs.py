"""Every code block of the guide is accounted for: docs/*.md and README.md.

The rule, by the language named on a block's opening fence:

- ```` ```python ````: run. A file's python blocks run in order in one shared
  namespace, so a later block may use what an earlier one defined. The
  namespace is a module registered in ``sys.modules`` (dataclasses and
  ``typing.get_type_hints`` look classes up there). The examples use SQLite
  and need no server (``REPODB_URL`` and ``REPODB_REPLICA_URLS`` are unset).
- ```` ```console ````: a shell session that runs. Each line starting with
  ``$ `` is a command (a line ending in ``\\`` continues on the next); bash
  runs it with the virtualenv's ``bin`` first on ``PATH`` (so ``repodb`` is
  the installed command) and ``REPODB_URL`` unset, and it must exit 0 within
  60 seconds. The other lines are the output a reader should expect: shown,
  not compared, because timings and dates vary.
- ```` ```sh ````: set-up commands that cannot run here: installing packages,
  starting the project's own PostgreSQL rig, measurements that take minutes.
  The reader is told so on the block itself: its first line is a comment
  starting with ``# Set-up``. The test checks that ``bash -n`` accepts the
  block and that every repository path it names (``scripts/...``,
  ``benchmarks/...``, ``examples/...``, ``tests/...``, ``.venv/bin/...``)
  exists. README.md is exempt from the marker only: its two commands are
  introduced as what to run on a fresh clone.
- ```` ```text ````: output, figures, signatures, code for another server:
  not code that runs; allowed.
- ```` ```toml ````: configuration for the reader's own files; it must parse.
- Any other language, or none: the test fails, naming the file and line.

Python and console blocks of one file run in document order in the same
fresh working directory (``tmp_path``), so a command can read the database
file an earlier python block wrote, and nothing lands in the repository.

A failing block fails its file's test with the file, the block number and
the line it starts on; tracebacks give line numbers in the markdown file.
The last tests check this runner itself.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import sys
import tomllib
import traceback
import types
from pathlib import Path

import pytest

import repodb

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
# The virtualenv running the tests: its bin holds the `repodb` command.
VENV_BIN = Path(sys.executable).parent
LANGUAGES = ("python", "console", "sh", "text", "toml")
SETUP_MARKER = "# Set-up"
SETUP_MARKER_EXEMPT = {"README.md"}
COMMAND_TIMEOUT = 60.0
# An opening fence: up to three spaces, three or more backticks or tildes, a language.
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)")
# Words of a set-up command that name a file of the repository.
_REPO_PATH = re.compile(r"^(?:\./)?(?:scripts|benchmarks|examples|tests|src|docs|\.ci)/[^\s]+$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block: its number among the file's blocks of its language, first line, code."""

    number: int
    line: int
    code: str
    language: str = "python"


def code_blocks(text: str) -> list[Block]:
    """The fenced blocks of a markdown text, in order; ``ValueError`` for an unclosed one."""
    lines = text.splitlines()
    blocks: list[Block] = []
    counts: dict[str, int] = {}
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
        body = [line.removeprefix(indent) for line in lines[i + 1 : end]]
        counts[language] = counts.get(language, 0) + 1
        blocks.append(Block(counts[language], i + 2, "\n".join(body) + "\n", language))
        i = end + 1
    return blocks


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of a markdown text, in order."""
    return [b for b in code_blocks(text) if b.language == "python"]


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def console_commands(code: str) -> list[str]:
    """The commands of a ```console block: ``$ `` lines, ``\\`` continuing a line."""
    commands: list[str] = []
    continuing = False
    for line in code.splitlines():
        if continuing:
            commands[-1] += "\n" + line
        elif line.startswith("$ "):
            commands.append(line[2:])
        else:
            continue
        continuing = line.endswith("\\")
    return commands


def run_page(path: Path, module: types.ModuleType) -> None:
    """Run the python and console blocks of ``path`` in order; fail on the first error.

    Python blocks run in ``module``'s namespace; commands run in the current
    working directory.
    """
    namespace = module.__dict__
    try:
        for block in code_blocks(path.read_text(encoding="utf-8")):
            if block.language == "python":
                _run_python(path, block, namespace)
            elif block.language == "console":
                _run_console(path, block)
    finally:
        # An example that left a connection open must not leak it into later tests.
        for value in list(namespace.values()):
            if isinstance(value, repodb.Connection) and not value.closed:
                value.close()


def _run_python(path: Path, block: Block, namespace: dict[str, object]) -> None:
    # Leading newlines make tracebacks count lines as the markdown file does.
    code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
    failure = None
    try:
        exec(code, namespace)
    except Exception:
        failure = traceback.format_exc()
    if failure is not None:
        pytest.fail(
            f"{_shown(path)}: python block {block.number} (line {block.line}) raised:\n" + failure,
            pytrace=False,
        )


def _run_console(path: Path, block: Block) -> None:
    where = f"{_shown(path)}: console block {block.number} (line {block.line})"
    commands = console_commands(block.code)
    if not commands:
        pytest.fail(f"{where} has no '$ ' command", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k != "REPODB_URL"}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    for command in commands:
        try:
            done = subprocess.run(
                ["bash", "-c", command],
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{where}: `{command}` ran past {COMMAND_TIMEOUT:g} s", pytrace=False)
        if done.returncode != 0:
            pytest.fail(
                f"{where}: `{command}` exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}",
                pytrace=False,
            )


def rule_violations(path: Path) -> list[str]:
    """What breaks the module's rule among the blocks that are not run: one line each."""
    problems: list[str] = []
    for block in code_blocks(path.read_text(encoding="utf-8")):
        where = f"{_shown(path)}, line {block.line - 1}"  # the opening fence
        if block.language not in LANGUAGES:
            named = f"language {block.language!r}" if block.language else "no language"
            problems.append(f"{where}: a block with {named}; use one of {', '.join(LANGUAGES)}")
        elif block.language == "sh":
            problems.extend(f"{where}: {p}" for p in _setup_problems(path, block))
        elif block.language == "toml":
            try:
                tomllib.loads(block.code)
            except tomllib.TOMLDecodeError as error:
                problems.append(f"{where}: the toml does not parse: {error}")
    return problems


def _setup_problems(path: Path, block: Block) -> list[str]:
    problems: list[str] = []
    if path.name not in SETUP_MARKER_EXEMPT and not block.code.startswith(SETUP_MARKER):
        problems.append(f"a sh block must open with a '{SETUP_MARKER}...' comment")
    checked = subprocess.run(
        ["bash", "-n"], input=block.code, capture_output=True, text=True, timeout=30, check=False
    )
    if checked.returncode != 0:
        problems.append(f"bash -n refuses it: {checked.stderr.strip()}")
    for word in _words(block.code):
        if word.startswith(".venv/bin/"):
            if not (VENV_BIN / word.removeprefix(".venv/bin/")).exists():
                problems.append(f"{word} is not installed in the virtualenv")
        elif _REPO_PATH.match(word) and not (ROOT / word).exists():
            problems.append(f"{word} does not exist in the repository")
    return problems


def _words(code: str) -> list[str]:
    words: list[str] = []
    for line in code.splitlines():
        try:
            words.extend(shlex.split(line, comments=True))
        except ValueError:
            continue  # an unbalanced quote spanning lines: bash -n judges the syntax
    return words


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def _fresh_module(path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    name = "repodb_docs_" + re.sub(r"\W", "_", path.stem)
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    return module


_IDS = [p.relative_to(ROOT).as_posix() for p in PAGES]


@pytest.mark.parametrize("path", PAGES, ids=_IDS)
def test_page_examples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # The ASGI example reads its database from these; the page's examples use SQLite.
    monkeypatch.delenv("REPODB_URL", raising=False)
    monkeypatch.delenv("REPODB_REPLICA_URLS", raising=False)
    run_page(path, _fresh_module(path, monkeypatch))


@pytest.mark.parametrize("path", PAGES, ids=_IDS)
def test_page_blocks_follow_the_rule(path: Path) -> None:
    problems = rule_violations(path)
    assert not problems, "\n".join(problems)


def test_the_guide_has_examples() -> None:
    guide = [p for p in PAGES if p.parent.name == "docs"]
    assert guide, "docs/ has no pages"
    with_examples = [p.name for p in guide if python_blocks(p.read_text(encoding="utf-8"))]
    assert "index.md" in with_examples


def test_blocks_share_names_and_skip_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```python\nx = 1\n```\n\n```text\nnot python\n```\n\n"
        "```python\nassert x == 1\nseen = True\n```\n"
    )
    module = _fresh_module(page, monkeypatch)
    run_page(page, module)
    assert [b.line for b in python_blocks(page.read_text())] == [4, 12]
    assert [b.language for b in code_blocks(page.read_text())] == ["python", "text", "python"]
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


def test_console_commands_run_after_python_in_the_same_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPODB_URL", "sqlite:///elsewhere.db")
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nopen('made.txt', 'w').close()\n```\n\n"
        '```console\n$ test -f made.txt && test -z "$REPODB_URL"\nshown output\n'
        "$ command -v repodb && \\\n  touch second.txt\n```\n"
    )
    run_page(page, _fresh_module(page, monkeypatch))
    assert (tmp_path / "second.txt").exists()
    commands = console_commands(code_blocks(page.read_text())[1].code)
    assert commands == [
        'test -f made.txt && test -z "$REPODB_URL"',
        "command -v repodb && \\\n  touch second.txt",
    ]


def test_a_failing_command_fails_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "cli.md"
    page.write_text("Text.\n\n```console\n$ echo fine\nfine\n$ echo oops >&2; exit 3\n```\n")
    with pytest.raises(pytest.fail.Exception) as failure:
        run_page(page, _fresh_module(page, monkeypatch))
    message = str(failure.value)
    assert "cli.md: console block 1 (line 4): `echo oops >&2; exit 3` exited 3" in message
    assert "oops" in message


def test_blocks_that_are_not_run_are_checked(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\n# Set-up: fine\nscripts/test -x\n.venv/bin/python -V\n```\n\n"
        "```sh\npip install pyrepodb\n```\n\n"
        "```sh\n# Set-up\nscripts/no-such-script\n```\n\n"
        "```sh\n# Set-up\nif true; then\n```\n\n"
        "```toml\n[tool.pytest.ini_options]\naddopts = '-p repodb'\n```\n\n"
        "```toml\nnot = toml = at all\n```\n\n"
        "```bash\nls\n```\n\n"
        "```\nno language\n```\n"
    )
    problems = rule_violations(page)
    assert [p.split(":")[0] for p in problems] == [
        "page.md, line 7",
        "page.md, line 11",
        "page.md, line 16",
        "page.md, line 26",
        "page.md, line 30",
        "page.md, line 34",
    ]
    assert "must open with a '# Set-up...' comment" in problems[0]
    assert "scripts/no-such-script does not exist" in problems[1]
    assert "bash -n refuses it" in problems[2]
    assert "does not parse" in problems[3]
    assert "language 'bash'" in problems[4]
    assert "no language" in problems[5]
