"""The thread side of the primitives that differ between asyncio and threads.

Why: async sources import the ``a``-prefixed names from ``_acompat_async``;
scripts/async_to_sync.py renames both the module and the names, so a sync
module imports from here and never loads asyncio (psycopg's ``_acompat.py``
pairs names the same way).
"""

from __future__ import annotations

import time

__all__ = ["sleep"]

sleep = time.sleep
