"""The AsyncRepo's Ecto-parity writes, once each on every database, over a connection.

The sync Repo's tests cover the logic through the generated twin; these run
the async source itself: ``put_assoc`` linking stored tags,
``unsafe_validate_unique`` (awaited), ``insert_all`` from a query, of a
schemaless ``table(...)``, and a conditional upsert refused as a stale
field (on MariaDB, whose ``ON DUPLICATE KEY UPDATE`` has no ``WHERE``,
refused when compiled). Each test runs ``asyncio.run`` with every wait bounded.
"""

from __future__ import annotations

import asyncio

import pytest

import repodb
from repodb import AsyncRepo
from repodb.changeset import InvalidChangesetError, cast, change
from repodb.query import query
from repodb.table import table
from repodb.write import excluded
from tests.conftest import CONNECT_TIMEOUT, STATEMENT_TIMEOUT, open_conn
from tests.integration.repo_models import Member, Post, Tag, create_tables

pytestmark = pytest.mark.mariadb

BOUND = 30.0


async def _ecto_writes(repo: AsyncRepo, on_duplicate: bool) -> None:
    elixir = await repo.insert(Tag(name="elixir"))
    post = await repo.insert(change(Post(title="Hi")).put_assoc("tags", [elixir, {"name": "sql"}]))
    loaded = await repo.preload(post, "tags")
    assert [t.name for t in loaded.tags] == ["elixir", "sql"]

    ada = await repo.insert(Member(email="ada@example.com", name="Ada"))
    taken = cast(Member, {"email": "ada@example.com", "name": "Eve"}, ["email", "name"])
    checked = await repo.unsafe_validate_unique(taken, "email")
    assert checked.traverse_errors() == {"email": ["has already been taken"]}

    copied = await repo.insert_all(Post, query(Member).select({"title": Member.name}))
    assert copied.count == 1
    tags = table("tags", name=str)
    added = await repo.insert_all(tags, [{"name": "go"}], returning=True)
    assert [row["name"] for row in added.rows] == ["go"]

    stale = repo.insert(
        Member(email="ada@example.com", name="Old", version=0),
        on_conflict=["name", "version"],
        conflict_target=["email"],
        update_where=Member.version < excluded(Member.version),
        stale_error_field="version",
    )
    if on_duplicate:
        # MariaDB's ON DUPLICATE KEY UPDATE has no WHERE: refused before it runs.
        with pytest.raises(ValueError, match="cannot upsert with update_where"):
            await stale
    else:
        with pytest.raises(InvalidChangesetError) as raised:
            await stale
        assert raised.value.changeset.traverse_errors() == {"version": ["is stale"]}
    assert (await repo.get(Member, ada.id)).name == "Ada"


def test_ecto_parity_writes_on_the_async_repo(db_url: str) -> None:
    with open_conn(db_url) as conn:
        create_tables(conn)

    async def bounded() -> None:
        async with asyncio.timeout(BOUND):
            async with await repodb.connect_async(
                db_url, connect_timeout=CONNECT_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT
            ) as conn:
                await _ecto_writes(AsyncRepo(conn), conn.dialect.update_on_duplicate)

    asyncio.run(bounded())
