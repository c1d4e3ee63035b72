"""Importing repodb loads its parts on first use.

Why: the pytest plugin loads in every pytest run of an environment where
repodb is installed, and the command line's ``--help`` should answer at once;
neither should pay for the query compiler, the Repo and the drivers.
"""

from __future__ import annotations

import subprocess
import sys

import repodb


def _loaded_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {name for name in done.stdout.split() if name.startswith("repodb")}


def test_the_plugin_and_the_package_load_nothing_else() -> None:
    assert _loaded_after("import repodb.testing") == {"repodb", "repodb.testing"}


def test_a_public_name_loads_its_module_on_first_use() -> None:
    loaded = _loaded_after("import repodb\nrepodb.UniqueViolation")
    assert "repodb.errors" in loaded
    assert "repodb.repo" not in loaded


def test_every_public_name_resolves() -> None:
    for name in repodb.__all__:
        assert getattr(repodb, name) is not None, name
    assert set(repodb.__all__) <= set(dir(repodb))
