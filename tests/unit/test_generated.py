"""The sync modules generated from async sources are up to date, whatever Python writes them."""

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def test_generated_sync_modules_are_fresh() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "async_to_sync.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _tool() -> ModuleType:
    path = ROOT / "scripts" / "async_to_sync.py"
    spec = importlib.util.spec_from_file_location("async_to_sync", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_names_in_f_strings_are_renamed_on_every_python() -> None:
    # Python 3.12+ tokenizes f-strings in pieces; the sync module must not
    # depend on which version generated it (scripts/test runs 3.11 to 3.13).
    source = 'def f(x):\n    return f"<AsyncRepo {x!r} {{AsyncPool}}>" + "AsyncMulti"\n'
    expected = 'def f(x):\n    return f"<Repo {x!r} {{Pool}}>" + "Multi"\n'
    assert _tool().transform(source) == expected


def test_client_names_are_renamed_in_code_only() -> None:
    # The MariaDB driver's prose names both client libraries; its code names
    # the async one, which the sync module spells as PyMySQL does.
    source = '"""On asyncmy; connected."""\nimport asyncmy\n\nok = raw.connected  # asyncmy\n'
    expected = '"""On asyncmy; connected."""\nimport pymysql\n\nok = raw.open  # asyncmy\n'
    names = {"asyncmy": "pymysql", "connected": "open"}
    assert _tool().transform(source, names) == expected


def test_the_mariadb_driver_is_generated_for_pymysql() -> None:
    tool = _tool()
    target, code = tool.generate(ROOT / "src" / "repodb" / "driver" / "mariadb_async.py")
    assert target.name == "mariadb.py"
    assert code.startswith("# WARNING: generated from mariadb_async.py")
    assert "import pymysql" in code
    assert "import asyncio" not in code
    assert "asyncio." not in code
    assert "asyncmy." not in code
    assert ".connected" not in code
