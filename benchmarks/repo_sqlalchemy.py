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

from typing import Any

from repo_kit import Contender, Database, Op, Workload
from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)

__all__ = ["contenders"]

metadata = MetaData()
users = Table(
    "bench_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
    Column("email", String, nullable=False),
    Column("age", Integer, nullable=False),
)
posts = Table(
    "bench_posts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("bench_users.id"), nullable=False),
    Column("title", String, nullable=False),
    Column("views", Integer, nullable=False),
)
new_users = Table(
    "bench_new_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
    Column("email", String, nullable=False),
    Column("age", Integer, nullable=False),
)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "bench_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str]
    age: Mapped[int]
    posts: Mapped[list[Post]] = relationship()


class Post(Base):
    __tablename__ = "bench_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("bench_users.id"))
    title: Mapped[str]
    views: Mapped[int]


class NewUser(Base):
    __tablename__ = "bench_new_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str]
    age: Mapped[int]


def engine_for(db: Database) -> Engine:
    if db.kind == "sqlite":
        engine = create_engine(f"sqlite:///{db.path}")

        @event.listens_for(engine, "connect")
        def foreign_keys(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys = ON")

        return engine
    target = db.conninfo.split("://", 1)[1]
    return create_engine(f"postgresql+psycopg://{target}", connect_args={"options": db.options})


class CoreContender:
    """SQLAlchemy Core: ``select()``/``insert()`` on tables, rows as ``Row``."""

    name = "SQLAlchemy Core"

    def __init__(self, engine: Engine, work: Workload) -> None:
        self._engine = engine
        self._work = work
        self._conn = engine.execution_options(isolation_level="AUTOCOMMIT").connect()

    def ops(self) -> dict[str, Op]:
        conn, work = self._conn, self._work
        size = work.sizes.preload_users
        rows = work.dicts[: work.sizes.insert_all]

        def insert_all(k: int) -> None:
            with self._engine.begin() as tx:
                tx.execute(insert(new_users), rows)

        def preload(k: int) -> list[tuple[Row[Any], list[Row[Any]]]]:
            q = select(users).where(users.c.id > work.starts[k]).order_by(users.c.id).limit(size)
            found = conn.execute(q).all()
            ids = [u.id for u in found]
            by_user: dict[int, list[Row[Any]]] = {i: [] for i in ids}
            for post in conn.execute(select(posts).where(posts.c.user_id.in_(ids))):
                by_user[post.user_id].append(post)
            return [(u, by_user[u.id]) for u in found]

        return {
            "get": lambda k: conn.execute(select(users).where(users.c.id == work.ids[k])).one(),
            "list": lambda k: conn.execute(
                select(users).where(users.c.id > work.starts[k]).order_by(users.c.id).limit(100)
            ).all(),
            "insert_all": insert_all,
            "insert": lambda k: conn.execute(
                insert(new_users).returning(new_users.c.id), work.dicts[k]
            ).scalar_one(),
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
            with Session(self._engine) as bulk, bulk.begin():
                bulk.execute(insert(NewUser), rows)

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
