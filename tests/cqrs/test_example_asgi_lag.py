"""examples/asgi_app.py while both replicas lag: the GET after a POST's redirect still sees it.

Replay is paused on both replicas (``pg-cluster pause-replay``), so they
keep serving what they had. The client that wrote carries the write's WAL
position in the app's cookie, and its redirected GET (and the read before
its second write) go to the primary; another client, without the cookie,
reads the stale replicas and gets 404 for the new post, which shows the lag
was real. Once replay resumes, that client finds the post too. The app is
driven as in tests/test_example_asgi.py; every node is put back in a
``finally``.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.cqrs.test_async_cqrs import replay_paused, until
from tests.test_example_asgi import example, replicas_caught_up, run, serve

# The app's fixture: the primary and both replicas, in a fresh schema.
from tests.test_example_asgi import pg_env as pg_env


@pytest.mark.postgresql
@pytest.mark.replicas
def test_the_redirect_after_a_post_reads_it_while_replay_is_paused(pg_env: str) -> None:
    async def main() -> None:
        async with serve() as served:
            client = served.client
            await asyncio.to_thread(replicas_caught_up)
            async with replay_paused():
                made = await client.post("/authors", json={"name": "Ada", "email": "a@b.c"})
                assert made.status_code == 201
                author = made.json()["id"]
                before = len(served.events)
                posted = await client.post(f"/authors/{author}/posts", json={"title": "New"})
                assert posted.status_code == 303
                assert client.cookies.get(example.RW_COOKIE) is not None
                location = posted.headers["location"]
                shown = await client.get(location)
                assert shown.status_code == 200
                assert shown.json()["title"] == "New"
                # The author lookup, the insert, the post and its author: the primary.
                assert served.servers(before) | served.servers(before, writes=True) == {"primary"}
                before = len(served.events)
                async with served.fresh_client() as stranger:
                    assert (await stranger.get(location)).status_code == 404
                assert served.servers(before) in ({"replica 1"}, {"replica 2"})

            async def found_by_a_stranger() -> bool:
                async with served.fresh_client() as stranger:
                    return (await stranger.get(location)).status_code == 200

            await until(found_by_a_stranger, f"{location} to reach the replicas")
            served.assert_nothing_lent()

    run(main)
