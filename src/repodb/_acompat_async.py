"""The asyncio side of ``_acompat``: what async sources import under ``a``-prefixed names."""

from __future__ import annotations

import asyncio

__all__ = ["asleep"]

asleep = asyncio.sleep
