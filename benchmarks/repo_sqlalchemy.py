"""SQLAlchemy 2, Core and ORM, as contenders of ``bench_repo.py`` (the ``bench`` extra).

Why configured this way: each library gets its fastest correct setup, as
the raw drivers do. Reads and single inserts run on an ``AUTOCOMMIT``
connection (one statement, one transaction, no BEGIN/COMMIT round trips);
bulk inserts run in one transaction (``engine.begin()``). One connection
(Core) or one session (ORM) is held for the whole run, as repodb holds one
connection. The ORM session's identity map holds records weakly, and the
harness drops every result, so each ``get`` does query the database.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from repo_kit import Contender, Database, Op, Workload
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    Row,
    String,
    Table,
    TypeDecorator,
    Uuid,
    bindparam,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)

__all__ = ["contenders"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _DecimalText(TypeDecorator[Decimal]):
    """A Decimal stored as text on SQLite, as repodb stores it (SQLAlchemy's reads floats)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class _UtcText(TypeDecorator[dt.datetime]):
    """An aware datetime as repodb's UTC text on SQLite (SQLAlchemy's own type drops the zone)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> str | None:
        return None if value is None else value.astimezone(dt.UTC).isoformat(" ", "microseconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else dt.datetime.fromisoformat(value)


DECIMAL = Numeric(14, 2).with_variant(_DecimalText(), "sqlite")
AWARE = DateTime(timezone=True).with_variant(_UtcText(), "sqlite")


metadata = MetaData()


def _columns(*first: Column[Any], json_name: str, flag: str) -> list[Column[Any]]:
    """The realistic columns after ``first`` (see ``repo_kit``)."""
    return [
        *first,
        Column("token", Uuid, nullable=False),
        Column(json_name, JSON, nullable=False),
        Column(flag, Boolean, nullable=False),
        Column("inserted_at", AWARE, nullable=False),
        Column("updated_at", AWARE, nullable=False),
    ]


def _user_columns() -> list[Column[Any]]:
    return _columns(
        Column("id", Integer, primary_key=True),
        Column("name", String, nullable=False),
        Column("email", String, nullable=False),
        Column("age", Integer, nullable=False),
        Column("score", Integer),
        Column("balance", DECIMAL, nullable=False),
        json_name="prefs",
        flag="active",
    )


users = Table("bench_users", metadata, *_user_columns())
posts = Table(
    "bench_posts",
    metadata,
    *_columns(
        Column("id", Integer, primary_key=True),
        Column("user_id", Integer, ForeignKey("bench_users.id"), nullable=False),
        Column("title", String, nullable=False),
        Column("views", Integer, nullable=False),
        Column("rating", Integer),
        Column("price", DECIMAL, nullable=False),
        json_name="meta",
        flag="published",
    ),
)
new_users = Table("bench_new_users", metadata, *_user_columns())


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "bench_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str]
    age: Mapped[int]
    score: Mapped[int | None]
    balance: Mapped[Decimal] = mapped_column(DECIMAL)
    token: Mapped[uuid.UUID] = mapped_column(Uuid)
    prefs: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool]
    inserted_at: Mapped[dt.datetime] = mapped_column(AWARE)
    updated_at: Mapped[dt.datetime] = mapped_column(AWARE)
    posts: Mapped[list[Post]] = relationship()


class Post(Base):
    __tablename__ = "bench_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("bench_users.id"))
    title: Mapped[str]
    views: Mapped[int]
    rating: Mapped[int | None]
    price: Mapped[Decimal] = mapped_column(DECIMAL)
    token: Mapped[uuid.UUID] = mapped_column(Uuid)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    published: Mapped[bool]
    inserted_at: Mapped[dt.datetime] = mapped_column(AWARE)
    updated_at: Mapped[dt.datetime] = mapped_column(AWARE)


class NewUser(Base):
    """New users; the timestamps are filled as repodb fills them (one ``now`` per statement)."""

    __tablename__ = "bench_new_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str]
    age: Mapped[int]
    score: Mapped[int | None]
    balance: Mapped[Decimal] = mapped_column(DECIMAL)
    token: Mapped[uuid.UUID] = mapped_column(Uuid)
    prefs: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool]
    inserted_at: Mapped[dt.datetime] = mapped_column(AWARE, default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(AWARE, default=_now)


def engine_for(db: Database) -> Engine:
    if db.kind == "sqlite":
        engine = create_engine(f"sqlite:///{db.path}")

        @event.listens_for(engine, "connect")
        def foreign_keys(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys = ON")

        return engine
    target = db.conninfo.split("://", 1)[1]
    if db.kind == "mariadb":
        # On PyMySQL, in UTC as repodb's sessions (SQLAlchemy reads DATETIME back naive).
        return create_engine(
            f"mysql+pymysql://{target}", connect_args={"init_command": "SET time_zone = '+00:00'"}
        )
    return create_engine(f"postgresql+psycopg://{target}", connect_args={"options": db.options})


class CoreContender:
    """SQLAlchemy Core: ``select()``/``insert()`` built once, bound parameters, ``Row`` results."""

    name = "SQLAlchemy Core"

    def __init__(self, engine: Engine, work: Workload) -> None:
        self._engine = engine
        self._work = work
        self._conn = engine.execution_options(isolation_level="AUTOCOMMIT").connect()

    def ops(self) -> dict[str, Op]:
        conn, work = self._conn, self._work
        size = work.sizes.preload_users
        # Statements built once, as a user who measures writes them.
        get = select(users).where(users.c.id == bindparam("id"))
        page = select(users).where(users.c.id > bindparam("start")).order_by(users.c.id)
        first_100, first_n = page.limit(100), page.limit(size)
        posts_in = select(posts).where(posts.c.user_id.in_(bindparam("ids", expanding=True)))
        add = insert(new_users).returning(new_users.c.id)

        def stamped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            now = _now()
            return [{**row, "inserted_at": now, "updated_at": now} for row in rows]

        def insert_all(k: int) -> None:
            with self._engine.begin() as tx:
                tx.execute(insert(new_users), stamped(work.dicts[: work.sizes.insert_all]))

        def preload(k: int) -> list[tuple[Row[Any], list[Row[Any]]]]:
            found = conn.execute(first_n, {"start": work.starts[k]}).all()
            ids = [u.id for u in found]
            by_user: dict[int, list[Row[Any]]] = {i: [] for i in ids}
            for post in conn.execute(posts_in, {"ids": ids}):
                by_user[post.user_id].append(post)
            return [(u, by_user[u.id]) for u in found]

        return {
            "get": lambda k: conn.execute(get, {"id": work.ids[k]}).one(),
            "list": lambda k: conn.execute(first_100, {"start": work.starts[k]}).all(),
            "insert_all": insert_all,
            "insert": lambda k: conn.execute(add, stamped([work.dicts[k]])[0]).scalar_one(),
            "preload": preload,
        }

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()


class OrmContender:
    """SQLAlchemy ORM: a ``Session``, mapped classes, ``selectinload`` for preloading."""

    name = "SQLAlchemy ORM"

    def __init__(self, engine: Engine, work: Workload) -> None:
        self._engine = engine
        self._work = work
        self._session = Session(engine.execution_options(isolation_level="AUTOCOMMIT"))

    def ops(self) -> dict[str, Op]:
        session, work = self._session, self._work
        size = work.sizes.preload_users
        rows = work.dicts[: work.sizes.insert_all]

        def insert_all(k: int) -> None:
            now = _now()
            stamped = [{**row, "inserted_at": now, "updated_at": now} for row in rows]
            with Session(self._engine) as bulk, bulk.begin():
                bulk.execute(insert(NewUser), stamped)

        def insert_one(k: int) -> NewUser:
            user = NewUser(**work.dicts[k])
            session.add(user)
            session.commit()
            return user

        def preload(k: int) -> list[User]:
            q = select(User).where(User.id > work.starts[k]).order_by(User.id).limit(size)
            return list(session.scalars(q.options(selectinload(User.posts))))

        return {
            "get": lambda k: session.get(User, work.ids[k]),
            "list": lambda k: list(
                session.scalars(
                    select(User).where(User.id > work.starts[k]).order_by(User.id).limit(100)
                )
            ),
            "insert_all": insert_all,
            "insert": insert_one,
            "preload": preload,
        }

    def close(self) -> None:
        self._session.close()


def contenders(db: Database, work: Workload) -> list[Contender]:
    engine = engine_for(db)
    return [CoreContender(engine, work), OrmContender(engine, work)]
