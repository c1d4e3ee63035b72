"""Build hook: write the sync modules generated from their async sources.

Why: the generated modules are not kept in git (see scripts/async_to_sync.py),
so a wheel or an install from a source tree makes them first.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class GenerateSyncModules(BuildHookInterface):
    """Runs scripts/async_to_sync.py before every build (wheel, sdist, editable)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        tool = runpy.run_path(str(Path(self.root) / "scripts" / "async_to_sync.py"))
        for source in tool["SOURCES"]:
            target, code = tool["generate"](Path(self.root) / source)
            if not target.exists() or target.read_text() != code:
                target.write_text(code)
