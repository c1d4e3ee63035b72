"""peewee as a contender of ``bench_repo.py`` (the ``bench`` extra).

Why configured this way: peewee runs every statement outside ``atomic()``
in autocommit mode, so a single insert is its own transaction as in the
other contenders; bulk inserts go through ``insert_many`` in batches of
1,000 inside one ``atomic()`` block, as peewee's documentation advises, and
preloading is ``prefetch``. On PostgreSQL it runs on psycopg 3.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    ForeignKeyField,
    IntegerField,
    Model,
    PostgresqlDatabase,
    SqliteDatabase,
    TextField,
    chunked,
    prefetch,
)
from repo_kit import Contender, Database, Op, Workload

__all__ = ["contenders"]


class User(Model):
    id = AutoField()
    name = TextField()
    email = TextField()
    age = IntegerField()

    class Meta:
        table_name = "bench_users"


class Post(Model):
    id = AutoField()
    user = ForeignKeyField(User, backref="posts", column_name="user_id")
    title = TextField()
    views = IntegerField()

    class Meta:
        table_name = "bench_posts"


class NewUser(Model):
    id = AutoField()
    name = TextField()
    email = TextField()
    age = IntegerField()

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
            with database.atomic():
                for batch in chunked(rows, 1000):
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
    return [PeeweeContender(db, work)]
