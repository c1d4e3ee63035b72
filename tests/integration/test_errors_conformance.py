"""The same violation gives the same repodb error on every database.

Covered: unique (single column, composite, primary key), foreign key (insert and delete),
not null and named CHECK violations run as identical SQL on SQLite, PostgreSQL and MariaDB
(1062, 1452/1451, 1048, 4025), each raising the same class with the same table, columns and
constraint name where both databases report them; every error carries its SQL, its SQLSTATE
(PostgreSQL) or SQLite code, and never a row value: not in ``str()``/``repr()``, not in its
whole formatted traceback, and not in any exception reachable from it (the driver's
exception, whose text quotes the row on PostgreSQL, is not chained). On PostgreSQL also
exclusion constraints, division by zero and out-of-range values (DataError). A write in a
read-only transaction (MariaDB 1792) and on a read-only server (a PostgreSQL hot standby, a
MariaDB replica with ``read_only``: 1290; SQLite with ``query_only``) is ReadOnlyError; a
session the server ends (``pg_terminate_backend``, ``KILL CONNECTION``: MariaDB's 2013/2006)
is ConnectionLost on the next statement. Syntax errors and unknown tables or columns are
ProgrammingError everywhere; NULL or an unknown Enum name read into a non-optional column is
DecodeError; the connection keeps working after each.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

import repodb
from repodb import Request
from repodb.changeset import InvalidChangesetError, change
from repodb.repo import Repo
from repodb.schema import Col, Schema, field
from repodb.types import optional, tup

pytestmark = pytest.mark.mariadb

# The values a test expects to stay hidden are constants, so the test's own
# source lines, which a formatted traceback shows, do not contain them.
SECRET = "s3cret.person@example.com"
OTHER_EMAIL = "other@example.com"
NAMELESS_EMAIL = "nameless@example.com"
MEMBER = 4242
MISSING_USER = 98765
NEGATIVE = -31337
GUEST = "Mallory-The-Guest"

SCHEMA = [
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL)",
    "CREATE TABLE memberships (org INTEGER NOT NULL, member INTEGER NOT NULL,"
    " UNIQUE (org, member))",
    "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id))",
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL,"
    " CONSTRAINT positive CHECK (balance > 0))",
]

insert_user = Request.exec(
    "INSERT INTO users (id, email, name) VALUES (?, ?, ?)", params=tup(int, str, optional(str))
)
insert_membership = Request.exec(
    "INSERT INTO memberships (org, member) VALUES (?, ?)", params=tup(int, int)
)
insert_post = Request.exec("INSERT INTO posts (id, user_id) VALUES (?, ?)", params=tup(int, int))
insert_account = Request.exec(
    "INSERT INTO accounts (id, balance) VALUES (?, ?)", params=tup(int, int)
)
update_balance = Request.exec("UPDATE accounts SET balance = ? WHERE id = ?", params=tup(int, int))
delete_user = Request.exec("DELETE FROM users WHERE id = ?", params=int)
count_users = Request.one("SELECT count(*) FROM users", row=int)


@pytest.fixture
def db(conn: repodb.Connection) -> repodb.Connection:
    """A connection with the schema above and one user (id 1, e-mail SECRET)."""
    for ddl in SCHEMA:
        conn.exec(Request.exec(ddl))
    conn.exec(insert_user, (1, SECRET, "Ada"))
    return conn


def is_pg(conn: repodb.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def check_error(
    conn: repodb.Connection,
    error: repodb.Error,
    *,
    sqlstate: str,
    code: str,
    sql_start: str,
    mariadb: str = "",
    hidden: tuple[str, ...] = (SECRET,),
    has_params: bool = True,
) -> None:
    """What every error carries, whatever the database (``code``: SQLite's, ``mariadb``: its)."""
    assert error.sql is not None
    assert error.sql.startswith(sql_start)
    assert f"SQL: {sql_start}" in str(error)
    if is_pg(conn):
        assert error.sqlstate == sqlstate
        assert error.code is None
        assert ("$1" in error.sql) is has_params
    else:
        assert error.code == (mariadb if conn.dialect.name == "mariadb" else code)
        assert error.sqlstate is None
        assert ("?" in error.sql) is has_params
    assert (error.__cause__, error.__context__) == (None, None)
    assert_hides(error, hidden)
    # The connection is still usable and no transaction was left open.
    assert not conn.in_transaction
    conn.ping()


def assert_hides(error: BaseException, hidden: tuple[str, ...]) -> None:
    """No value of ``hidden`` in the traceback an error tracker stores, nor in its chain.

    The formatted traceback is what ``logging.exception`` writes and Sentry
    keeps; the chain (``__cause__`` and ``__context__``, shown or not) is
    what a tracker could walk.
    """
    shown = "".join(traceback.format_exception(error))
    assert type(error).__name__ in shown
    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None:
        chain.append(link)
        link = link.__cause__ or link.__context__
    for link in chain:
        assert isinstance(link, repodb.Error), f"a driver's exception is chained: {link!r}"
        for value in hidden:
            assert value not in shown
            assert value not in str(link)
            assert value not in repr(link)
            assert value not in repr(link.args)


def test_unique_single_column(db: repodb.Connection) -> None:
    with pytest.raises(repodb.UniqueViolation) as info:
        db.exec(insert_user, (2, SECRET, "Grace"))
    e = info.value
    assert isinstance(e, repodb.IntegrityError)
    assert isinstance(e, repodb.QueryError)
    assert (e.table, e.columns, e.column) == ("users", ("email",), "email")
    if is_pg(db):
        assert e.constraint == "users_email_key"
        assert e.detail is not None
        assert SECRET in e.detail  # the database's detail is kept, but never printed
    check_error(
        db,
        e,
        sqlstate="23505",
        code="SQLITE_CONSTRAINT_UNIQUE",
        mariadb="1062",
        sql_start="INSERT INTO users",
    )
    assert db.one(count_users) == 1


def test_unique_composite(db: repodb.Connection) -> None:
    db.exec(insert_membership, (7, MEMBER))
    with pytest.raises(repodb.UniqueViolation) as info:
        db.exec(insert_membership, (7, MEMBER))
    e = info.value
    assert (e.table, e.columns, e.column) == ("memberships", ("org", "member"), None)
    check_error(
        db,
        e,
        sqlstate="23505",
        code="SQLITE_CONSTRAINT_UNIQUE",
        mariadb="1062",
        sql_start="INSERT INTO memberships",
        hidden=(str(MEMBER),),
    )


def test_primary_key(db: repodb.Connection) -> None:
    with pytest.raises(repodb.UniqueViolation) as info:
        db.exec(insert_user, (1, OTHER_EMAIL, "Grace"))
    e = info.value
    assert (e.table, e.columns) == ("users", ("id",))
    check_error(
        db,
        e,
        sqlstate="23505",
        code="SQLITE_CONSTRAINT_PRIMARYKEY",
        mariadb="1062",
        sql_start="INSERT INTO users",
        hidden=(OTHER_EMAIL,),
    )


def test_foreign_key_on_insert(db: repodb.Connection) -> None:
    with pytest.raises(repodb.ForeignKeyViolation) as info:
        db.exec(insert_post, (1, MISSING_USER))
    e = info.value
    if is_pg(db):
        assert (e.table, e.constraint, e.columns) == ("posts", "posts_user_id_fkey", ("user_id",))
    check_error(
        db,
        e,
        sqlstate="23503",
        code="SQLITE_CONSTRAINT_FOREIGNKEY",
        mariadb="1452",
        sql_start="INSERT INTO posts",
        hidden=(str(MISSING_USER),),
    )
    assert db.one(Request.one("SELECT count(*) FROM posts", row=int)) == 0


def test_foreign_key_on_delete(db: repodb.Connection) -> None:
    db.exec(insert_post, (1, 1))
    with pytest.raises(repodb.ForeignKeyViolation) as info:
        db.exec(delete_user, 1)
    check_error(
        db,
        info.value,
        sqlstate="23503",
        code="SQLITE_CONSTRAINT_FOREIGNKEY",
        mariadb="1451",
        sql_start="DELETE FROM users",
    )
    assert db.one(count_users) == 1


def test_not_null(db: repodb.Connection) -> None:
    with pytest.raises(repodb.NotNullViolation) as info:
        db.exec(insert_user, (2, NAMELESS_EMAIL, None))
    e = info.value
    assert (e.table, e.columns, e.column) == ("users", ("name",), "name")
    check_error(
        db,
        e,
        sqlstate="23502",
        code="SQLITE_CONSTRAINT_NOTNULL",
        mariadb="1048",
        sql_start="INSERT INTO users",
        hidden=(NAMELESS_EMAIL,),
    )
    assert db.one(count_users) == 1


@pytest.mark.parametrize(
    ("violate", "sql_start"),
    [
        (lambda conn: conn.exec(insert_account, (1, NEGATIVE)), "INSERT INTO accounts"),
        (lambda conn: conn.exec(update_balance, (NEGATIVE, 2)), "UPDATE accounts"),
    ],
    ids=["insert", "update"],
)
def test_named_check_constraint(
    db: repodb.Connection, violate: Callable[[repodb.Connection], object], sql_start: str
) -> None:
    db.exec(insert_account, (2, 10))
    with pytest.raises(repodb.CheckViolation) as info:
        violate(db)
    e = info.value
    assert e.constraint == "positive"
    if is_pg(db):
        assert e.table == "accounts"
    check_error(
        db,
        e,
        sqlstate="23514",
        code="SQLITE_CONSTRAINT_CHECK",
        mariadb="4025",
        sql_start=sql_start,
        hidden=(str(NEGATIVE),),
    )
    balances = db.all(Request.many("SELECT balance FROM accounts", row=int))
    assert balances == [10]


def test_exclusion_constraint_postgresql(pg_schema_url: str) -> None:
    from tests.conftest import open_conn

    with open_conn(pg_schema_url) as conn:
        conn.exec(
            Request.exec(
                "CREATE TABLE bookings (room INTEGER NOT NULL, guest TEXT NOT NULL,"
                " CONSTRAINT one_guest_per_room EXCLUDE (room WITH =))"
            )
        )
        book = Request.exec(
            "INSERT INTO bookings (room, guest) VALUES (?, ?)", params=tup(int, str)
        )
        conn.exec(book, (101, "Ada"))
        with pytest.raises(repodb.ExclusionViolation) as info:
            conn.exec(book, (101, GUEST))
        e = info.value
        assert isinstance(e, repodb.IntegrityError)
        assert (e.constraint, e.table) == ("one_guest_per_room", "bookings")
        check_error(
            conn,
            e,
            sqlstate="23P01",
            code="",
            sql_start="INSERT INTO bookings",
            hidden=(GUEST,),
        )


# Wrong statements ----------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "sqlstate", "mariadb"),
    [
        ("SELEC 1", "42601", "1064"),
        ("SELECT id FROM no_such_table", "42P01", "1146"),
        ("SELECT no_such_column FROM users", "42703", "1054"),
    ],
    ids=["syntax", "unknown_table", "unknown_column"],
)
def test_wrong_statement_is_programming_error(
    db: repodb.Connection, sql: str, sqlstate: str, mariadb: str
) -> None:
    with pytest.raises(repodb.ProgrammingError) as info:
        db.all(Request.many(sql, row=int))
    check_error(
        db,
        info.value,
        sqlstate=sqlstate,
        code="SQLITE_ERROR",
        mariadb=mariadb,
        sql_start=sql,
        has_params=False,
    )


def test_division_by_zero_postgresql(pg_schema_url: str) -> None:
    from tests.conftest import open_conn

    with open_conn(pg_schema_url) as conn:
        with pytest.raises(repodb.DataError) as info:
            conn.one(Request.one("SELECT 1 / ?", params=int, row=int), 0)
        check_error(conn, info.value, sqlstate="22012", code="", sql_start="SELECT 1 /")
        conn.exec(Request.exec("CREATE TABLE small (n INTEGER)"))
        with pytest.raises(repodb.DataError) as range_info:
            conn.exec(Request.exec("INSERT INTO small (n) VALUES (?)", params=int), 2**40)
        check_error(
            conn, range_info.value, sqlstate="22003", code="", sql_start="INSERT INTO small"
        )


def test_write_in_a_read_only_transaction(db: repodb.Connection) -> None:
    def write_in_read_only() -> None:
        with db.transaction(read_only=True):
            db.exec(insert_user, (2, OTHER_EMAIL, "Grace"))

    with pytest.raises(repodb.ReadOnlyError) as info:
        write_in_read_only()
    check_error(
        db,
        info.value,
        sqlstate="25006",
        code="SQLITE_READONLY",
        mariadb="1792",
        sql_start="INSERT INTO users",
        hidden=(OTHER_EMAIL,),
    )
    assert db.one(count_users) == 1


CREATE_PROBE = Request.exec("CREATE TABLE read_only_probe (id INTEGER)")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
def test_write_on_a_read_only_server(kind: str, tmp_path: Path) -> None:
    """A replica refuses writes: PostgreSQL's hot standby, MariaDB's read_only (1290).

    SQLite's counterpart is a connection with ``query_only`` on, as the CQRS
    router opens its replicas.
    """
    from tests.conftest import mariadb_replica_urls, open_conn, replica_urls

    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'replica.db'}"
    else:
        url = (replica_urls() if kind == "postgresql" else mariadb_replica_urls())[0]
    with open_conn(url) as conn:
        if kind == "sqlite":
            conn.exec(Request.exec("PRAGMA query_only = ON"))
        with pytest.raises(repodb.ReadOnlyError) as info:
            conn.exec(CREATE_PROBE)
        check_error(
            conn,
            info.value,
            sqlstate="25006",
            code="SQLITE_READONLY",
            mariadb="1290",
            sql_start="CREATE TABLE read_only_probe",
            has_params=False,
        )


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_a_killed_session_is_connection_lost(kind: str, request: pytest.FixtureRequest) -> None:
    """The server ends the session (a restart, an admin's kill): the next statement fails.

    PostgreSQL's ``pg_terminate_backend``, MariaDB's ``KILL CONNECTION``
    (2013 when the statement's read finds the socket closed, 2006 when the
    write does). SQLite has no server to lose.
    """
    from tests.conftest import open_conn

    url: str = request.getfixturevalue(
        "pg_schema_url" if kind == "postgresql" else "mariadb_db_url"
    )
    own_id, kill = {
        "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend(?)"),
        "mariadb": ("SELECT CONNECTION_ID()", "KILL CONNECTION ?"),
    }[kind]
    with open_conn(url) as victim, open_conn(url) as admin:
        session = victim.one(Request.one(own_id, row=int))
        admin.exec(Request.exec(kill, params=int), session)
        with pytest.raises(repodb.ConnectionLost) as info:
            victim.one(Request.one("SELECT 1", row=int))
        error = info.value
        assert error.sql == "SELECT 1"
        if kind == "mariadb":
            assert error.code in ("2006", "2013")
        else:
            # The server's "terminating connection" (57P01), or a closed socket.
            assert (error.sqlstate or "08")[:2] in ("57", "08")
        assert (error.__cause__, error.__context__) == (None, None)
        assert admin.one(Request.one("SELECT 1", row=int)) == 1


def test_error_inside_transaction_rolls_it_back(db: repodb.Connection) -> None:
    def insert_two() -> None:
        with db.transaction():
            db.exec(insert_user, (2, "new@example.com", "Grace"))
            db.exec(insert_user, (3, SECRET, "Mallory"))

    with pytest.raises(repodb.UniqueViolation):
        insert_two()
    assert not db.in_transaction
    assert db.one(count_users) == 1


# Redacted fields through the Repo -------------------------------------------


class Credential(Schema, table="credentials"):
    """Two redacted fields: ``owner`` (a foreign key) and ``token`` (unique)."""

    id: Col[int] = field(primary_key=True)
    owner: Col[int] = field(redact=True)
    token: Col[str] = field(redact=True)
    label: Col[str | None] = field(default=None)
    uses: Col[int] = field(default=0)


TOKEN = "HUNTER2-TOP"
OTHER_TOKEN = "CORRECT-HORSE"
OWNER = 777001

CREDENTIAL_DDL = [
    "CREATE TABLE owners (id INTEGER PRIMARY KEY)",
    # Constraints named as PostgreSQL would name them, which MariaDB does not.
    "CREATE TABLE credentials (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL,"
    " token TEXT NOT NULL, label TEXT NOT NULL, uses INTEGER NOT NULL,"
    " CONSTRAINT credentials_owner_fkey FOREIGN KEY (owner) REFERENCES owners (id),"
    " CONSTRAINT credentials_token_key UNIQUE (token),"
    " CONSTRAINT uses_check CHECK (uses >= 0))",
]


@pytest.mark.parametrize(
    ("record", "error"),
    [
        (Credential(id=2, owner=1, token=TOKEN, label="b"), repodb.UniqueViolation),
        (Credential(id=2, owner=1, token=OTHER_TOKEN, label="b", uses=-1), repodb.CheckViolation),
        (Credential(id=2, owner=1, token=OTHER_TOKEN), repodb.NotNullViolation),
        (Credential(id=2, owner=OWNER, token=OTHER_TOKEN, label="b"), repodb.ForeignKeyViolation),
    ],
    ids=["unique", "check", "not_null", "foreign_key"],
)
def test_repo_errors_hide_redacted_values(
    conn: repodb.Connection, record: Credential, error: type[repodb.IntegrityError]
) -> None:
    for ddl in CREDENTIAL_DDL:
        conn.exec(Request.exec(ddl))
    conn.exec(Request.exec("INSERT INTO owners (id) VALUES (1)"))
    repo = Repo(conn)
    repo.insert(Credential(id=1, owner=1, token=TOKEN, label="a"))
    with pytest.raises(error) as info:
        repo.insert(record)
    assert (info.value.__cause__, info.value.__context__) == (None, None)
    assert_hides(info.value, (TOKEN, OTHER_TOKEN, str(OWNER)))
    if is_pg(conn) and error is not repodb.NotNullViolation:
        assert info.value.constraint is not None
    # A declared constraint: a field error, chained to the IntegrityError.
    declared = (
        change(record)
        .unique_constraint("token")
        .check_constraint("uses", name="uses_check")
        .foreign_key_constraint("owner")
    )
    if error is repodb.NotNullViolation:
        return
    with pytest.raises(InvalidChangesetError) as field_error:
        repo.insert(declared)
    assert isinstance(field_error.value.__cause__, error)
    assert_hides(field_error.value, (TOKEN, OTHER_TOKEN, str(OWNER)))


# Reading back ----------------------------------------------------------------


def test_null_into_non_optional_is_decode_error(db: repodb.Connection) -> None:
    with pytest.raises(repodb.DecodeError):
        db.one(Request.one("SELECT NULL", row=int))
    with pytest.raises(repodb.DecodeError):
        db.one(Request.one("SELECT id, NULL FROM users", row=tup(int, str)))
    assert db.one(Request.one("SELECT id, NULL FROM users", row=tup(int, optional(str)))) == (
        1,
        None,
    )


def test_unknown_enum_name_is_decode_error(db: repodb.Connection) -> None:
    import enum

    class Role(enum.Enum):
        ADMIN = 1

    with pytest.raises(repodb.DecodeError) as info:
        db.one(Request.one("SELECT name FROM users", row=Role))
    assert "Role" in str(info.value)
