"""The asyncio twin of ``DriverConnection``: the same methods, waiting ones as coroutines.

See ``DriverConnection`` for what each method does; only what
differs is said here. ``in_transaction``, ``abort`` and ``map_error`` never
wait, so they stay plain methods.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Protocol

from .._codec import Codecs
from ..dialect import Dialect
from ..errors import Error
from ..url import DatabaseUrl
from . import ConnectSettings, TransactionOptions

__all__ = ["ASYNC_DRIVERS", "AsyncDriverConnection", "load_async_driver"]

Row = tuple[Any, ...]


class AsyncDriverConnection(Protocol):
    """One open connection, as an asyncio driver provides it."""

    dialect: Dialect
    codecs: Codecs
    native_errors: tuple[type[BaseException], ...]

    @property
    def in_transaction(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    async def execute(self, sql: str, params: Sequence[Any], prepare: bool) -> int: ...
    async def fetch(self, sql: str, params: Sequence[Any], prepare: bool) -> list[Row]: ...
    def stream(self, sql: str, params: Sequence[Any], batch_size: int) -> AsyncIterator[Row]:
        """An async generator: ``aclose()`` releases the cursor."""
        ...

    async def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int: ...
    async def copy_in(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        prefix: str | None = None,
    ) -> int: ...
    async def begin(self, options: TransactionOptions) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    async def set_statement_timeout(self, seconds: float | None) -> None: ...
    async def ping(self) -> None: ...
    def abort(self) -> None: ...
    async def close(self) -> None: ...
    def map_error(self, exc: BaseException, sql: str | None) -> Error: ...


class AsyncDriverModule(Protocol):
    """What an asyncio driver module exports."""

    async def connect(
        self, url: DatabaseUrl, settings: ConnectSettings
    ) -> AsyncDriverConnection: ...


ASYNC_DRIVERS: dict[str, str] = {
    "sqlite": "repodb.driver.sqlite_async",
    "postgresql": "repodb.driver.postgresql_async",
    "mariadb": "repodb.driver.mariadb_async",
    # Asked for by a postgresql+asyncpg:// URL; there is no sync twin.
    "asyncpg": "repodb.driver.asyncpg_async",
}


def load_async_driver(name: str) -> AsyncDriverModule:
    """Import the asyncio driver module registered under ``name``."""
    if name not in ASYNC_DRIVERS:
        raise ValueError(f"there is no asyncio driver for {name} yet: use the sync API")
    module: Any = importlib.import_module(ASYNC_DRIVERS[name])
    return module  # type: ignore[no-any-return]
