"""repodb quickstart: a small blog with migrations, changesets, queries, preloads, a Multi and CQRS.

Runs on SQLite with no server (a file in a temporary directory). Pass
``--url postgresql://user@host:port/db`` to run the same steps on PostgreSQL
(it creates its tables in a schema named ``repodb_quickstart`` and drops it
at the end), or ``--url mariadb://user@host:port/db`` on MariaDB (in a
database of that name, likewise). Add ``--replica URL`` once per replica to
run step 10 (CQRS) on the server's real replicas.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, LiteralString
from urllib.parse import urlsplit, urlunsplit

import repodb
from repodb import Multi, MultiError, Repo, Request
from repodb.changeset import Changeset, cast, change
from repodb.cqrs import Cqrs, CqrsConfig
from repodb.functions import count, sum_
from repodb.migration import Migrator, diff
from repodb.preload import top
from repodb.query import query
from repodb.schema import (
    Assoc,
    Col,
    Schema,
    belongs_to,
    field,
    has_many,
    index,
    many_to_many,
)


class User(Schema, table="users"):
    id: Col[int | None] = field(primary_key=True, default=None)
    email: Col[str]
    name: Col[str]
    version: Col[int] = field(default=1)
    inserted_at: Col[dt.datetime | None] = field(default=None, timestamp="inserted")
    updated_at: Col[dt.datetime | None] = field(default=None, timestamp="updated")
    posts: ClassVar[Assoc[list[Post]]] = has_many(lambda: Post, foreign_key="user_id")


class Post(Schema, table="posts", indexes=(index("user_id", "likes"),)):
    id: Col[int | None] = field(primary_key=True, default=None)
    user_id: Col[int | None] = field(default=None)
    title: Col[str]
    likes: Col[int] = field(default=0)
    user: ClassVar[Assoc[User | None]] = belongs_to(User, foreign_key="user_id")
    tags: ClassVar[Assoc[list[Tag]]] = many_to_many(
        lambda: Tag, join_through="post_tags", join_keys=(("post_id", "id"), ("tag_id", "id"))
    )


class Tag(Schema, table="tags"):
    id: Col[int | None] = field(primary_key=True, default=None)
    name: Col[str]


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(conn: repodb.Connection) -> None:
    """Bring the database up to date with examples/migrations, as `repodb migrate` would."""
    with Migrator(conn, MIGRATIONS) as migrator:
        for ran in migrator.migrate():
            print(f"   {ran.direction} {ran.version} {ran.name} ({ran.seconds * 1000:.1f} ms)")
        applied = sum(status.applied for status in migrator.status())
    # diff compares the schema classes with the live tables (what `repodb diff` writes
    # a migration from); right after migrating there is nothing left to do.
    left = diff(conn, [User, Post, Tag])
    print(f"   {applied} migrations applied; diff with the schemas: {left or 'no difference'}")


def registration(params: dict[str, Any]) -> Changeset[User]:
    """Validate sign-up input: what a web handler would do with a form."""
    return (
        cast(User, params, ["email", "name"])
        .validate_required(["email", "name"])
        .validate_format("email", r"^[^@\s]+@[^@\s]+$")
        .validate_length("name", min=2)
        .unique_constraint("email")
    )


def new_post(params: dict[str, Any]) -> Changeset[Post]:
    return cast(Post, params, ["title"]).validate_required(["title"]).cast_assoc("tags")


def run(repo: Repo) -> None:
    print("2. Sign up Ada through a changeset:")
    ada = repo.insert(registration({"email": "ada@example.com", "name": "Ada"}))
    print(f"   {ada.name} has id {ada.id}, inserted at {ada.inserted_at:%Y-%m-%d %H:%M} UTC")

    print("3. Bad input never reaches the database; the errors are data:")
    try:
        repo.insert(registration({"email": "not-an-email", "name": "A"}))
    except repodb.InvalidChangesetError as error:
        print(f"   {error.changeset.traverse_errors()}")

    print("4. A taken email comes back from the unique constraint as a field error:")
    try:
        repo.insert(registration({"email": "ada@example.com", "name": "Ada again"}))
    except repodb.InvalidChangesetError as error:
        print(f"   {error.changeset.traverse_errors()}")

    print("5. Posts with tags (cast_assoc writes them in one transaction), then many at once:")
    grace = repo.insert(registration({"email": "grace@example.com", "name": "Grace"}))
    for author, title, tags in [
        (ada, "Notes on the Analytical Engine", ["math", "engines"]),
        (ada, "Bernoulli numbers", ["numbers"]),
        (grace, "Compilers", ["languages"]),
    ]:
        post = new_post({"title": title, "tags": [{"name": t} for t in tags]})
        repo.insert(post.put_change("user_id", author.id))
    bulk = repo.insert_all(
        Post, [{"user_id": grace.id, "title": f"Draft {n}", "likes": n} for n in range(1, 51)]
    )
    print(f"   inserted {bulk.count} drafts with insert_all")
    repo.update_all(query(Post).where(Post.title == "Compilers"), set={"likes": 99})

    print("6. Query with a join and aggregates: posts and likes per author")
    per_author = repo.all(
        query(Post)
        .join("user")
        .group_by(User.name)
        .order_by(User.name)
        .select(User.name, count(), sum_(Post.likes))
    )
    for name, posts, likes in per_author:
        print(f"   {name}: {posts} posts, {likes} likes")

    print("7. Preload: every user's two best posts and their tags, one query per level")
    users = repo.all(query(User).order_by(User.name))
    best = top(2, Post.likes.desc())
    for user in repo.preload(users, posts=(best, ["tags"])):
        titles = [f"{p.title} {[t.name for t in p.tags]}" for p in user.posts]
        print(f"   {user.name}: {titles}")

    print("8. A Multi: several steps in one transaction, all or nothing")
    welcome = (
        Multi()
        .insert("user", registration({"email": "linus@example.com", "name": "Linus"}))
        .insert("post", lambda r: Post(user_id=r["user"].id, title="Hello, world"))
        .run("posts", lambda tx, r: tx.aggregate(query(Post), "count"))
    )
    results = repo.transaction(welcome)
    user, post = results["user"], results["post"]
    print(f"   created {user.name} and post {post.id}; now {results['posts']} posts")
    failing = (
        Multi()
        .insert("user", registration({"email": "kay@example.com", "name": "Kay"}))
        .insert("duplicate", registration({"email": "kay@example.com", "name": "Kay"}))
    )
    try:
        repo.transaction(failing)
    except MultiError as error:
        errors = error.changeset.traverse_errors() if error.changeset else error.error
        print(f"   step {error.step!r} failed: {errors}")
    kay = repo.get_by_or_none(User, email="kay@example.com")
    print(f"   and the first step was rolled back: Kay is {kay}")

    print("9. Optimistic locking: an update from a stale copy is refused")
    fresh = repo.update(change(ada, name="Ada Lovelace").optimistic_lock("version"))
    try:
        repo.update(change(ada, name="Ada King").optimistic_lock("version"))
    except repodb.StaleEntryError as error:
        print(f"   repodb.StaleEntryError: {error}")
    print(f"   the row keeps {repo.reload(fresh).name!r}, version {repo.reload(fresh).version}")


def cqrs_demo(url: str, replicas: list[str]) -> None:
    """The same Repo calls through a CQRS router: reads on replicas, writes on the primary."""
    print("10. CQRS: the same Repo calls; reads on read-only replicas, writes on the primary")
    sources: list[str] = []
    config = CqrsConfig(primary_conninfo=url, replica_conninfos=replicas)
    with Cqrs.create(config) as cqrs, cqrs.session() as session:
        repo = Repo(session, on_event=lambda event: sources.append(event.source))
        linus = repo.get_by(User, email="linus@example.com")
        repo.update(change(linus, name="Linus T."))
        print(f"   read back: {repo.get(User, linus.id).name!r} (a session reads its own writes)")
        print(f"   statements ran on: {', '.join(sources)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--url",
        help="a PostgreSQL or MariaDB URL (default: a SQLite file in a temp dir)",
    )
    parser.add_argument(
        "--replica",
        action="append",
        default=[],
        help="a replica URL for step 10 (repeatable; default: read-only connections to --url)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'quickstart.db'}"
        where = repodb.parse_url(url).redacted
        print(f"1. Connecting to {where} and migrating it with examples/migrations/")
        with repodb.connect(url) as conn:
            kind = conn.dialect.name
            setup, teardown = SCRATCH.get(kind, ((), None))
            for sql in setup:
                conn.exec(Request.exec(sql))
            try:
                migrate(conn)
                run(Repo(conn))
                if kind == "sqlite":
                    # Replicas of a SQLite file: read-only connections to it.
                    cqrs_demo(url, args.replica or [url, url])
                elif args.replica:
                    scoped = SCOPED[kind]
                    cqrs_demo(scoped(url), [scoped(r) for r in args.replica])
            finally:
                if teardown is not None:
                    conn.exec(Request.exec(teardown))
    print("Done.")


# A server's scratch space for the quickstart, made first and dropped at the end:
# a schema on PostgreSQL, a database on MariaDB (its schemas are databases).
SCRATCH: dict[str, tuple[tuple[LiteralString, ...], LiteralString]] = {
    "postgresql": (
        (
            "DROP SCHEMA IF EXISTS repodb_quickstart CASCADE",
            "CREATE SCHEMA repodb_quickstart",
            "SET search_path TO repodb_quickstart",
        ),
        "DROP SCHEMA repodb_quickstart CASCADE",
    ),
    "mariadb": (
        (
            "DROP DATABASE IF EXISTS repodb_quickstart",
            "CREATE DATABASE repodb_quickstart CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            "USE repodb_quickstart",
        ),
        "DROP DATABASE repodb_quickstart",
    ),
}


def _in_schema(url: str) -> str:
    """``url`` with its tables looked up in the quickstart's schema."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3Drepodb_quickstart"


def _in_database(url: str) -> str:
    """``url`` naming the quickstart's database (MariaDB replicates it with the rest)."""
    return urlunsplit(urlsplit(url)._replace(path="/repodb_quickstart"))


# How step 10's URLs find the scratch space of each server kind.
SCOPED: dict[str, Callable[[str], str]] = {"postgresql": _in_schema, "mariadb": _in_database}


if __name__ == "__main__":
    main()
