"""peewee as a contender of ``bench_repo.py`` (the ``bench`` extra).

Why configured this way: peewee runs every statement outside ``atomic()``
in autocommit mode, so a single insert is its own transaction as in the
other contenders; bulk inserts go through ``insert_many`` in batches of
1,000 inside one ``atomic()`` block, as peewee's documentation advises, and
preloading is ``prefetch``. On PostgreSQL it runs on psycopg 3.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from peewee import (
    AutoField,
    BooleanField,
    DecimalField,
    Field,
    ForeignKeyField,
    IntegerField,
    Model,
    PostgresqlDatabase,
    SqliteDatabase,
    TextField,
    UUIDField,
    chunked,
    prefetch,
)
from repo_kit import Contender, Database, Op, Workload

__all__ = ["contenders"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JsonField(Field):
    """JSON text on SQLite, ``jsonb`` on PostgreSQL (where psycopg gives the document)."""

    field_type = "JSONB"

    def db_value(self, value: Any) -> Any:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class AwareDateTimeField(Field):
    """An aware datetime: ``timestamptz``, or repodb's UTC text on SQLite.

    Why not peewee's ``DateTimeField``: it parses text with formats that
    have no offset, and would hand repodb's stored form back as a string.
    """

    field_type = "TIMESTAMPTZ"

    def db_value(self, value: Any) -> Any:
        if isinstance(value, dt.datetime) and isinstance(self.model._meta.database, SqliteDatabase):
            return value.astimezone(dt.UTC).isoformat(" ", "microseconds")
        return value

    def python_value(self, value: Any) -> Any:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


class TextUUIDField(UUIDField):
    """A UUID as repodb stores it on SQLite (text with dashes); ``uuid`` on PostgreSQL."""

    def db_value(self, value: Any) -> Any:
        if isinstance(value, uuid.UUID) and isinstance(self.model._meta.database, SqliteDatabase):
            return str(value)
        return value


class User(Model):
    id = AutoField()
    name = TextField()
    email = TextField()
    age = IntegerField()
    score = IntegerField(null=True)
    balance = DecimalField(max_digits=14, decimal_places=2)
    token = TextUUIDField()
    prefs = JsonField()
    active = BooleanField()
    inserted_at = AwareDateTimeField(default=_now)
    updated_at = AwareDateTimeField(default=_now)

    class Meta:
        table_name = "bench_users"


class Post(Model):
    id = AutoField()
    user = ForeignKeyField(User, backref="posts", column_name="user_id")
    title = TextField()
    views = IntegerField()
    rating = IntegerField(null=True)
    price = DecimalField(max_digits=14, decimal_places=2)
    token = TextUUIDField()
    meta = JsonField()
    published = BooleanField()
    inserted_at = AwareDateTimeField(default=_now)
    updated_at = AwareDateTimeField(default=_now)

    class Meta:
        table_name = "bench_posts"


class NewUser(User):
    class Meta:
        table_name = "bench_new_users"


class PeeweeContender:
    """peewee models bound to this run's database."""

    name = "peewee"

    def __init__(self, db: Database, work: Workload) -> None:
        self._work = work
        self._db: SqliteDatabase | PostgresqlDatabase
        if db.kind == "sqlite":
            self._db = SqliteDatabase(db.path, pragmas={"foreign_keys": 1})
        else:
            self._db = PostgresqlDatabase(db.conninfo, options=db.options)
        self._db.bind([User, Post, NewUser])
        self._db.connect()

    def ops(self) -> dict[str, Op]:
        work, database = self._work, self._db
        size = work.sizes.preload_users
        rows = work.dicts[: work.sizes.insert_all]

        def insert_all(k: int) -> None:
            now = _now()
            stamped = [{**row, "inserted_at": now, "updated_at": now} for row in rows]
            with database.atomic():
                for batch in chunked(stamped, 1000):
                    NewUser.insert_many(batch).execute()

        def preload(k: int) -> list[User]:
            q = User.select().where(User.id > work.starts[k]).order_by(User.id).limit(size)
            return list(prefetch(q, Post))

        return {
            "get": lambda k: User.get_by_id(work.ids[k]),
            "list": lambda k: list(
                User.select().where(User.id > work.starts[k]).order_by(User.id).limit(100)
            ),
            "insert_all": insert_all,
            "insert": lambda k: NewUser.create(**work.dicts[k]),
            "preload": preload,
        }

    def close(self) -> None:
        self._db.close()


def contenders(db: Database, work: Workload) -> list[Contender]:
    if db.kind == "mariadb":
        return []  # not measured there: SQLAlchemy is the peer issue 16 asks for
    return [PeeweeContender(db, work)]
