"""examples/asgi_app.py driven in process as a client drives it: on SQLite, and on the replicas.

httpx's ``ASGITransport`` calls the app without a server and runs no
lifespan events, so ``serve`` enters the app's lifespan itself, as uvicorn
does at startup, with ``REPODB_URL`` and ``REPODB_REPLICA_URLS`` set as a
deployment sets them. The ``get_repo`` dependency is overridden (FastAPI's
``dependency_overrides``, how an application's tests swap a dependency) by
the same Repo with a telemetry callback, so a test sees which server ran
each statement; the router's stats show that no connection stays lent out.

Checked on SQLite (a file and two read-only connections to it), on the
PostgreSQL primary with its two streaming replicas and on the MariaDB primary
with its two GTID replicas: create, list, get with
a preload, update, the POST-redirect-GET of a new post; bad input answered
422 with the changeset's field errors and nothing written; a missing row
404; writes on the primary and, in requests that do not write, reads on the
replicas. ``docs/async.md`` quotes the example whole (checked here too).
The redirect read while the replicas lag is in
tests/cqrs/test_example_asgi_lag.py: it pauses replay on the cluster.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import importlib.util
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import Depends, FastAPI

from repodb import AsyncRepo, InvalidChangesetError, Request
from repodb.cqrs_async import AsyncCqrs, AsyncCqrsSession
from repodb.telemetry import QueryEvent
from tests.conftest import (
    mariadb_replica_urls,
    open_conn,
    pg_url,
    replica_urls,
    with_database,
    with_search_path,
)
from tests.cqrs.test_async_cqrs import run as run_bounded
from tests.cqrs.test_replicas import wait_replayed
from tests.test_docs import python_blocks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "asgi_app.py"
ASYNC_PAGE = ROOT / "docs" / "async.md"
WAIT = 60.0
WRITES = ("INSERT", "UPDATE", "DELETE")


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("asgi_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: pydantic and the schemas resolve annotations through it.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = _load_example()
app: FastAPI = example.app


def run(main: Callable[[], Awaitable[None]]) -> None:
    """``main()`` in a fresh event loop, failing after ``WAIT`` seconds."""
    run_bounded(main, WAIT)


@dataclasses.dataclass
class Served:
    """The app in its lifespan: a client, the router, and every statement's telemetry."""

    client: httpx.AsyncClient
    cqrs: AsyncCqrs
    events: list[QueryEvent]

    def fresh_client(self) -> httpx.AsyncClient:
        """Another client, without the first one's cookies."""
        return client_for(app)

    def servers(self, since: int = 0, writes: bool = False) -> set[str]:
        """Which servers ran the reads (or the writes) recorded since event ``since``."""
        return {
            e.source
            for e in self.events[since:]
            if e.sql.lstrip().upper().startswith(WRITES) == writes
        }

    def assert_nothing_lent(self) -> None:
        stats = self.cqrs.stats()
        assert stats.primary.in_use == 0
        assert all(r.pool.in_use == 0 for r in stats.replicas)


def client_for(application: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application)
    return httpx.AsyncClient(transport=transport, base_url="http://blog.test")


@asynccontextmanager
async def serve() -> AsyncIterator[Served]:
    """The example app, started and stopped around the block (the environment set first)."""
    events: list[QueryEvent] = []

    def observed(session: Annotated[AsyncCqrsSession, Depends(example.get_session)]) -> AsyncRepo:
        return AsyncRepo(session, on_event=events.append)

    app.dependency_overrides[example.get_repo] = observed
    try:
        async with app.router.lifespan_context(app), client_for(app) as client:
            cqrs: AsyncCqrs = app.state.cqrs
            yield Served(client, cqrs, events)
    finally:
        app.dependency_overrides.clear()


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's default: a SQLite file, its replicas read-only connections to it."""
    monkeypatch.setenv("REPODB_URL", f"sqlite:///{tmp_path / 'blog.db'}")
    monkeypatch.delenv("REPODB_REPLICA_URLS", raising=False)


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The primary and both replicas, looking up tables in a fresh schema (dropped afterwards)."""
    primary, replicas = pg_url(), replica_urls()
    schema = f"asgi_{uuid.uuid4().hex[:12]}"
    with open_conn(primary) as admin:
        admin.exec(Request.exec(f"CREATE SCHEMA {schema}"))
    monkeypatch.setenv("REPODB_URL", with_search_path(primary, schema))
    monkeypatch.setenv(
        "REPODB_REPLICA_URLS", " ".join(with_search_path(u, schema) for u in replicas)
    )
    try:
        yield schema
    finally:
        with open_conn(primary) as admin:
            admin.exec(Request.exec(f"DROP SCHEMA {schema} CASCADE"))


def replicas_caught_up() -> None:
    """Wait (bounded) until both replicas have replayed all the primary has written."""
    with open_conn(pg_url()) as primary:
        for url in replica_urls():
            wait_replayed(primary, url)


@pytest.fixture
def mariadb_env(mariadb_db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The MariaDB primary and both replicas, on a fresh database; the primary's URL."""
    database = urlsplit(mariadb_db_url).path[1:]
    monkeypatch.setenv("REPODB_URL", mariadb_db_url)
    replicas = [with_database(u, database) for u in mariadb_replica_urls()]
    monkeypatch.setenv("REPODB_REPLICA_URLS", " ".join(replicas))
    return mariadb_db_url


GTID_POSITION = Request.one("SELECT @@gtid_binlog_pos", row=str)
# 0 once the replica has applied the position, -1 after 20 s without.
GTID_WAIT = Request.one("SELECT MASTER_GTID_WAIT(?, 20)", params=str, row=int)


def mariadb_replicas_caught_up() -> None:
    """Wait (bounded) until both MariaDB replicas have applied all the primary has logged."""
    with open_conn(os.environ["REPODB_URL"]) as primary:
        position = primary.one(GTID_POSITION)
    for url in mariadb_replica_urls():
        with open_conn(url) as replica:
            assert replica.one(GTID_WAIT, position) == 0, f"{url} did not apply {position}"


def at(timestamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(timestamp)


async def walk_through(served: Served, sync_replicas: Callable[[], Awaitable[None]]) -> None:
    """The API as a client uses it; ``sync_replicas`` waits until the replicas have it all."""
    client = served.client
    await sync_replicas()  # the tables the app created at startup
    assert (await client.get("/authors")).json() == []

    created = await client.post("/authors", json={"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201
    ada = created.json()
    assert (ada["name"], ada["email"]) == ("Ada", "ada@example.com")
    assert ada["inserted_at"] == ada["updated_at"]

    # Bad input: 422 with the changeset's errors, and no statement at all.
    before = len(served.events)
    bad = await client.post("/authors", json={"name": "A", "email": "ada-at-example"})
    assert bad.status_code == 422
    assert bad.json() == {
        "errors": {"name": ["should be at least 2 character(s)"], "email": ["has invalid format"]}
    }
    assert served.events[before:] == []
    # A taken email: the database refuses the insert, the changeset names the field.
    taken = await client.post("/authors", json={"name": "Ada II", "email": "ada@example.com"})
    assert taken.status_code == 422
    assert taken.json() == {"errors": {"email": ["has already been taken"]}}
    assert [e.error is not None for e in served.events[before:]] == [True]

    grace = (await client.post("/authors", json={"name": "Grace", "email": "g@example.com"})).json()
    listed = (await client.get("/authors")).json()
    assert [a["name"] for a in listed] == ["Ada", "Grace"]

    renamed = await client.patch(f"/authors/{ada['id']}", json={"name": "Ada Lovelace"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Ada Lovelace"
    assert at(renamed.json()["updated_at"]) >= at(ada["updated_at"])
    refused = await client.patch(f"/authors/{ada['id']}", json={"email": ""})
    assert refused.status_code == 422
    assert refused.json() == {"errors": {"email": ["can't be blank"]}}

    # POST, 303 to the new post, GET: the write is there, with its author preloaded.
    posted = await client.post(f"/authors/{ada['id']}/posts", json={"title": "Notes", "body": "G"})
    assert posted.status_code == 303
    location = posted.headers["location"]
    shown = await client.get(location)
    assert shown.status_code == 200
    post = shown.json()
    assert location == f"/posts/{post['id']}"
    assert (post["title"], post["body"], post["author"]["name"]) == ("Notes", "G", "Ada Lovelace")
    no_title = await client.post(f"/authors/{ada['id']}/posts", json={"body": "x"})
    assert no_title.json() == {"errors": {"title": ["can't be blank"]}}

    profile = (await client.get(f"/authors/{ada['id']}")).json()
    assert [p["title"] for p in profile["posts"]] == ["Notes"]
    assert (await client.get(f"/authors/{grace['id']}")).json()["posts"] == []

    # Missing rows: 404, and a post for a missing author writes nothing.
    before = len(served.events)
    for missing, detail in [
        ("/authors/999999", "no Author with primary key 999999"),
        ("/posts/999999", "no Post with primary key 999999"),
    ]:
        gone = await client.get(missing)
        assert (gone.status_code, gone.json()) == (404, {"detail": detail})
    orphan = await client.post("/authors/999999/posts", json={"title": "Lost"})
    assert orphan.status_code == 404
    # An author deleted between the lookup and the insert: a field error, so 422, not 500.
    gone_author = example.Author(id=999999, name="Gone", email="gone@example.com")
    with pytest.raises(InvalidChangesetError) as raised:
        await AsyncRepo(served.cqrs).insert(example.post_changeset(gone_author, {"title": "x"}))
    assert raised.value.changeset.traverse_errors() == {"author_id": ["does not exist"]}
    assert (await client.patch("/authors/999999", json={"name": "Nobody"})).status_code == 404
    assert served.servers(before, writes=True) == set()

    # Every write ran on the primary.
    assert served.servers(writes=True) == {"primary"}

    # Requests that do not write read on the replicas, once these have the rows.
    await sync_replicas()
    before = len(served.events)
    async with served.fresh_client() as reader:
        for _ in range(2):
            assert len((await reader.get("/authors")).json()) == 2
            assert (await reader.get(location)).json()["title"] == "Notes"
    assert served.servers(before) == {"replica 1", "replica 2"}
    served.assert_nothing_lent()


def test_the_api_on_sqlite(sqlite_env: None) -> None:
    async def nothing_to_wait_for() -> None:
        """SQLite's replicas read the primary's file."""

    async def main() -> None:
        async with serve() as served:
            await walk_through(served, nothing_to_wait_for)
            # No lag to wait for, but the same token: the code does not change.
            assert served.client.cookies.get(example.RW_COOKIE) == "rw1.sqlite.0"

    run(main)


@pytest.mark.replicas
@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_the_api_on_the_primary_and_replicas(server: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue("pg_env" if server == "postgresql" else "mariadb_env")
    caught_up = replicas_caught_up if server == "postgresql" else mariadb_replicas_caught_up

    async def sync_replicas() -> None:
        await asyncio.to_thread(caught_up)

    async def main() -> None:
        async with serve() as served:
            await walk_through(served, sync_replicas)
            # The last write's position, for the next request of this client.
            token = served.client.cookies.get(example.RW_COOKIE)
            assert token is not None
            assert token.startswith(f"rw1.{server}.")

    run(main)


def test_the_docs_quote_the_example_whole() -> None:
    """docs/async.md's section on it shows the file in python blocks (the last one drives it)."""
    page = ASYNC_PAGE.read_text(encoding="utf-8")
    section = page.split("\n## An ASGI application\n", 1)[1].split("\n## ", 1)[0]
    blocks = [block.code for block in python_blocks(section)][:-1]
    assert "\n\n\n".join(code.strip("\n") for code in blocks) + "\n" == EXAMPLE.read_text(
        encoding="utf-8"
    )
