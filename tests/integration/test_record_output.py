"""Records as JSON: pydantic's TypeAdapter, FastAPI's response_model and ``repodb.to_dict``.

Records come from the seeded blog through the Repo, on SQLite, PostgreSQL and MariaDB, so
what is written is what the drivers decoded (aware datetimes, the ids the
database assigned), with associations preloaded to several depths.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pydantic
import pytest
from fastapi import FastAPI

import repodb
from repodb.query import query
from repodb.schema import Col, Embedded, Schema, field

from .blog_seed import seeded_repo
from .repo_models import Comment, Member, Post

pytestmark = pytest.mark.mariadb


class Spot(Embedded):
    city: str
    at: dt.datetime | None = None


class Ledger(Schema, table="ledgers"):
    id: Col[int | None] = field(primary_key=True, default=None)
    amount: Col[Decimal]
    token: Col[uuid.UUID]
    spot: Col[Spot | None] = field(default=None)
    spots: Col[list[Spot]] = field(default_factory=list)
    secret: Col[str | None] = field(default=None, redact=True)


def test_type_adapter_writes_loaded_associations_only(conn: repodb.Connection) -> None:
    repo = seeded_repo(conn)
    ada = repo.get(Member, 1)
    members = pydantic.TypeAdapter(Member)
    bare = members.dump_python(ada, mode="json")
    assert {"posts", "profile", "password"}.isdisjoint(bare)
    assert bare["name"] == "ada"
    assert bare["email"] == "ada@example.com"
    added = members.dump_python(
        repo.insert(Member(id=4, email="dee@example.com", name="dee")), mode="json"
    )
    assert dt.datetime.fromisoformat(added["inserted_at"]).tzinfo is not None

    full = repo.preload(ada, {"posts": ["comments", "tags"]}, "profile")
    out = members.dump_python(full, mode="json")
    assert [p["id"] for p in out["posts"]] == [p.id for p in full.posts]
    first = out["posts"][0]
    assert [c["body"] for c in first["comments"]] == [c.body for c in full.posts[0].comments]
    assert "member" not in first  # belongs_to not preloaded: left out
    assert out["profile"]["bio"] == "ada bio"

    again = members.validate_json(members.dump_json(full))
    assert again == full
    assert repodb.is_loaded(again, "posts")
    assert repodb.is_loaded(again, "profile")
    assert [len(p.comments) for p in again.posts] == [len(p.comments) for p in full.posts]
    assert not repodb.is_loaded(again.posts[0], "member")


def test_a_loaded_association_that_holds_nothing_is_written_as_nothing(
    conn: repodb.Connection,
) -> None:
    repo = seeded_repo(conn)
    cy = repo.preload(repo.get(Member, 3), "posts", "profile")
    orphan = repo.preload(repo.get(Post, 15), "member")
    written = pydantic.TypeAdapter(Member).dump_python(cy)
    assert written["posts"] == []
    assert written["profile"] is None
    assert pydantic.TypeAdapter(Post).dump_python(orphan)["member"] is None
    assert repodb.to_dict(cy)["posts"] == []
    assert repodb.to_dict(cy)["profile"] is None
    assert repodb.to_dict(orphan)["member"] is None


def test_to_dict_is_json_safe_and_follows_include(conn: repodb.Connection) -> None:
    repo = seeded_repo(conn)
    ada = repo.preload(repo.get(Member, 1), {"posts": ["comments", "member"]})
    everything = json.loads(json.dumps(repodb.to_dict(ada)))
    assert "password" not in everything
    assert everything["posts"][0]["member"]["name"] == "ada"
    assert everything["posts"][0]["comments"][0]["body"] == "c1"

    only = repodb.to_dict(ada, include={"posts": ["comments"]})
    assert "member" not in only["posts"][0]
    assert "comments" in only["posts"][0]
    assert "posts" not in repodb.to_dict(ada, include=[])
    with pytest.raises(ValueError, match=r"Member\.profile is not loaded"):
        repodb.to_dict(ada, include=["profile"])
    with pytest.raises(ValueError, match="no association 'nope'"):
        repodb.is_loaded(ada, "nope")


def test_to_dict_writes_each_type_in_its_json_form() -> None:
    at = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    token = uuid.UUID(int=7)
    ledger = Ledger(
        id=1,
        amount=Decimal("1.50"),
        token=token,
        spot=Spot(city="Oslo", at=at),
        spots=[Spot(city="Rome")],
        secret="s3cret",
    )
    out = repodb.to_dict(ledger)
    assert out == {
        "id": 1,
        "amount": "1.50",
        "token": str(token),
        "spot": {"city": "Oslo", "at": "2024-05-06T05:08:09+00:00"},
        "spots": [{"city": "Rome", "at": None}],
    }
    assert repodb.to_dict(ledger.replace(spot=None))["spot"] is None
    assert pydantic.TypeAdapter(Ledger).dump_python(ledger, mode="json")["amount"] == "1.50"
    with pytest.raises(TypeError, match="schema or embedded record"):
        repodb.to_dict(42)  # type: ignore[arg-type]


def test_type_adapter_refuses_what_does_not_fit() -> None:
    ledgers = pydantic.TypeAdapter(Ledger)
    made = ledgers.validate_python({"amount": "2.5", "token": str(uuid.UUID(int=1))})
    assert made.amount == Decimal("2.5")
    assert made.spots == []
    with pytest.raises(pydantic.ValidationError) as caught:
        ledgers.validate_python({"amount": "lots", "token": "x"})
    assert {e["loc"][0] for e in caught.value.errors()} == {"amount", "token"}


def test_fastapi_response_model(conn: repodb.Connection) -> None:
    repo = seeded_repo(conn)
    app = FastAPI()

    @app.get("/members/{member_id}")
    def get_member(member_id: int) -> Member:
        return repo.preload(repo.get(Member, member_id), "posts")

    @app.get("/members")
    def list_members() -> list[Member]:
        return repo.all(query(Member).order_by(Member.id))

    @app.get("/comments")
    def list_comments() -> list[Comment]:
        return repo.preload(repo.all(query(Comment).order_by(Comment.id)), "post")

    async def get(path: str) -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(path)
            assert response.status_code == 200, response.text
            return response.json()

    one = asyncio.run(get("/members/1"))
    assert [p["title"] for p in one["posts"]] == ["a1", "a2", "a3", "a4"]
    many = asyncio.run(get("/members"))
    assert [m["name"] for m in many] == ["ada", "bob", "cy"]
    assert all("posts" not in m and "password" not in m for m in many)
    comments = asyncio.run(get("/comments"))
    assert [c["post"]["title"] for c in comments] == ["a1", "a1", "b1"]
    properties = app.openapi()["components"]["schemas"]["Member"]["properties"]
    assert "posts" in properties
    assert "password" not in properties


def test_schemas_do_not_import_pydantic() -> None:
    code = (
        "import sys, json, repodb\n"
        "from repodb.schema import Col, Schema, field\n"
        "class T(Schema, table='t'):\n"
        "    id: Col[int | None] = field(primary_key=True, default=None)\n"
        "json.dumps(repodb.to_dict(T(id=1)))\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
