"""Opening and closing connections.

Covered: every address form opens a working connection (SQLite relative path,
absolute path, ``:memory:``; PostgreSQL URL and libpq conninfo built from the
URL's parts); ``repr`` never shows a password; a refused connection (closed
port, unknown role, unknown database, unopenable SQLite file) is a fast
ConnectError whose ``str``/``repr`` never contain the password; ``ping``;
closing twice is harmless; the ``with`` block closes; a SQLite connect
interrupted (Ctrl-C) while it waits for a busy file closes the file; every use of a closed
connection raises a repodb Error; an address that is not a str is a
TypeError saying what is expected, at every entry point taking one.
"""

from __future__ import annotations

import _thread
import asyncio
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import repodb
from repodb import Request
from repodb.types import tup
from tests.conftest import CONNECT_TIMEOUT, held_open, open_conn, pg_url, write_locked

pytestmark = pytest.mark.mariadb

PASSWORD = "Pa55-w0rd-never-shown"

one = Request.one("SELECT 1", row=int)


def works(conn: repodb.Connection) -> None:
    conn.exec(Request.exec("CREATE TABLE probe (n INTEGER)"))
    conn.exec(Request.exec("INSERT INTO probe (n) VALUES (?)", params=int), 7)
    assert conn.one(Request.one("SELECT n FROM probe", row=int)) == 7
    conn.ping()


def test_sqlite_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_conn("sqlite:///relative.db") as conn:
        works(conn)
    assert (tmp_path / "relative.db").is_file()
    with open_conn("sqlite:///relative.db") as again:
        assert again.one(Request.one("SELECT n FROM probe", row=int)) == 7


def test_sqlite_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "nested dir" / "absolute.db"
    path.parent.mkdir()
    url = f"sqlite:///{path}"
    assert url.startswith("sqlite:////")
    with open_conn(url) as conn:
        works(conn)
        assert repr(conn) == f"<repodb.Connection {url} open>"
    assert path.is_file()


def test_sqlite_connections_racing_to_open_a_new_file_all_succeed(tmp_path: Path) -> None:
    # The first connection switches a new file to WAL; SQLite does not wait
    # for that switch (no busy handler), so racing openers used to fail with
    # "database is locked" (about 1 in 6 races of three threads).
    for trial in range(15):
        url = f"sqlite:///{tmp_path / f'race{trial}.db'}"
        start = threading.Barrier(6)
        failures: list[BaseException] = []

        def open_one(
            url: str = url,
            start: threading.Barrier = start,
            failures: list[BaseException] = failures,
        ) -> None:
            start.wait(timeout=10)
            try:
                open_conn(url).close()
            except repodb.Error as e:
                failures.append(e)

        threads = [threading.Thread(target=open_one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads)
        assert failures == []


def test_sqlite_a_connect_interrupted_while_it_waits_for_the_file_closes_it(tmp_path: Path) -> None:
    # Ctrl-C while the connect waits for a busy file (its switch to WAL
    # retries for busy_timeout): the file it had opened is closed, not left
    # for the garbage collector.
    path = tmp_path / "busy.db"
    # Ctrl-C raises KeyboardInterrupt, as in a terminal: a process started in
    # the background (scripts/test's other versions) starts with SIGINT
    # ignored, and interrupt_main then does nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with write_locked(path):
            ctrl_c = threading.Timer(0.2, _thread.interrupt_main)
            ctrl_c.start()
            try:
                with pytest.raises(KeyboardInterrupt) as interrupted:
                    repodb.connect(f"sqlite:///{path}?busy_timeout=30000")
            finally:
                ctrl_c.cancel()
                ctrl_c.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    # Kept, the traceback keeps the connect's frames (as a REPL's last
    # traceback does): only a close frees the file.
    assert interrupted.traceback
    assert not held_open(path)


def test_sqlite_memory_databases_are_private() -> None:
    with open_conn("sqlite::memory:") as first, open_conn("sqlite::memory:") as second:
        works(first)
        with pytest.raises(repodb.ProgrammingError):
            second.one(Request.one("SELECT n FROM probe", row=int))


def test_postgresql_url(pg_schema_url: str) -> None:
    with open_conn(pg_schema_url) as conn:
        works(conn)
        assert conn.dialect.name == "postgresql"


def test_postgresql_conninfo(pg_schema_url: str) -> None:
    parts = urlsplit(pg_url())
    fields = {
        "host": parts.hostname,
        "port": parts.port,
        "user": parts.username,
        "password": parts.password,
        "dbname": parts.path.lstrip("/") or None,
    }
    conninfo = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    with open_conn(conninfo) as conn:
        who = Request.one("SELECT current_user, current_database()", row=tup(str, str))
        user, database = conn.one(who)
        assert user == (parts.username or user)
        assert database == (fields["dbname"] or database)
        assert conn.one(Request.one("SHOW TimeZone", row=str)) == "UTC"
        conn.ping()


def with_password(url: str, **replace: str) -> str:
    """``url`` with PASSWORD as its password (the test servers trust 127.0.0.1 and ignore it)."""
    parts = urlsplit(url)
    user = replace.pop("user", parts.username or "postgres")
    netloc = f"{user}:{PASSWORD}@{parts.hostname}:{parts.port or 5432}"
    return parts._replace(netloc=netloc, **replace).geturl()


def test_postgresql_password_is_redacted_in_repr(pg_schema_url: str) -> None:
    with open_conn(with_password(pg_schema_url)) as conn:
        assert PASSWORD not in repr(conn)
        assert ":***@" in repr(conn)
        conn.ping()


# Refused connections -----------------------------------------------------------


def refused(address: str) -> repodb.ConnectError:
    started = time.monotonic()
    with pytest.raises(repodb.ConnectError) as info:
        repodb.connect(address, connect_timeout=CONNECT_TIMEOUT)
    assert time.monotonic() - started < CONNECT_TIMEOUT
    error = info.value
    # The driver's exception is not chained: its text may quote the password.
    assert (error.__cause__, error.__context__) == (None, None)
    shown = "".join(traceback.format_exception(error))
    for text in (str(error), repr(error), repr(error.args), shown):
        assert PASSWORD not in text
    return error


def test_closed_port_with_url() -> None:
    error = refused(f"postgresql://app:{PASSWORD}@127.0.0.1:1/app")
    assert "app:***@127.0.0.1:1" in str(error)


def test_closed_port_with_conninfo() -> None:
    error = refused(f"host=127.0.0.1 port=1 user=app password='{PASSWORD}' dbname=app")
    assert "password=***" in str(error)


def test_a_malformed_conninfo_never_shows_its_password() -> None:
    # An unquoted password with a space: the piece that fails to parse is
    # the password's tail.
    with pytest.raises(ValueError, match="cannot parse conninfo") as info:
        repodb.connect(f"host=127.0.0.1 port=1 user=app password=x {PASSWORD}")
    assert PASSWORD not in "".join(traceback.format_exception(info.value))
    assert "near 'password=*** ...'" in str(info.value)


def test_unknown_role_is_refused_by_the_server(pg_schema_url: str) -> None:
    error = refused(with_password(pg_url(), user="no_such_role_x"))
    assert "no_such_role_x" in str(error)


def test_unknown_database_is_refused_by_the_server(pg_schema_url: str) -> None:
    error = refused(with_password(pg_url(), path="/no_such_database_x"))
    assert "no_such_database_x" in str(error)


def test_failed_password_authentication(pg_schema_url: str) -> None:
    # The test servers trust 127.0.0.1, so a wrong password would be accepted;
    # requiring password authentication makes the handshake fail instead.
    url = with_password(pg_url(), query="require_auth=password")
    error = refused(url)
    assert "authentication" in str(error)


def test_unopenable_sqlite_file(tmp_path: Path) -> None:
    refused(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")


def test_unknown_address_is_a_value_error() -> None:
    with pytest.raises(ValueError) as info:
        repodb.connect(f"oracle://app:{PASSWORD}@localhost/app")
    assert PASSWORD not in str(info.value)


@pytest.mark.mariadb_server  # needs PyMySQL, which the other Python versions' runs lack
def test_a_refused_mariadb_login_hides_the_password() -> None:
    with pytest.raises(repodb.ConnectError) as info:
        repodb.connect(f"mysql://app:{PASSWORD}@127.0.0.1:1/app", connect_timeout=CONNECT_TIMEOUT)
    assert "mysql://app:***@127.0.0.1:1/app" in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.mariadb_server  # needs PyMySQL and asyncmy, which the other Python versions' runs lack
@pytest.mark.parametrize("side", ["sync", "async"])
def test_a_mariadb_server_that_never_greets_fails_the_connect_in_its_timeout(side: str) -> None:
    # A hung server (SIGSTOP, a wedged proxy) accepts the TCP connection and
    # never sends its handshake: the connect timeout bounds the whole connect.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"mariadb://app@127.0.0.1:{listener.getsockname()[1]}/app?connect_timeout=0.5"

        def connect() -> object:
            if side == "sync":
                return repodb.connect(url)
            return asyncio.run(repodb.connect_async(url))

        started = time.monotonic()
        with pytest.raises(repodb.ConnectError) as info:
            connect()
        took = time.monotonic() - started
    print(f"{side}: refused after {took:.2f} s: {info.value}")
    assert "127.0.0.1" in str(info.value)


@pytest.mark.parametrize("source", [None, 123, b"sqlite::memory:"], ids=["none", "int", "bytes"])
def test_an_address_that_is_not_a_str_is_a_type_error_at_every_entry_point(source: object) -> None:
    from repodb.cqrs import Cqrs, CqrsConfig
    from repodb.migration import Migrator
    from repodb.multipool import MultiPool
    from repodb.pool import Pool
    from repodb.sandbox import Sandbox
    from repodb.url import parse_url

    url: Any = source
    entry_points: list[Callable[[], object]] = [
        lambda: repodb.connect(url),
        lambda: parse_url(url),
        lambda: Pool(url),
        lambda: MultiPool([url]),
        lambda: Cqrs(CqrsConfig(primary_conninfo=url)),
        lambda: Cqrs(CqrsConfig(primary_conninfo="sqlite::memory:", replica_conninfos=[url])),
    ]
    for entry_point in entry_points:
        with pytest.raises(TypeError, match=r"a database URL must be a str .* not "):
            entry_point()
    with pytest.raises(TypeError, match=r"urls must be a list of URLs \(strings\), not "):
        MultiPool(url)
    for takes_a_connection in (Migrator, Sandbox):
        with pytest.raises(TypeError, match="takes a Connection or a database URL"):
            takes_a_connection(url)


# Closing -------------------------------------------------------------------------


def test_ping_close_twice_and_with_block(db_url: str) -> None:
    with open_conn(db_url) as conn:
        conn.ping()
        assert not conn.closed
        assert repr(conn).endswith(" open>")
    assert conn.closed
    assert repr(conn).endswith(" closed>")
    conn.close()
    conn.close()
    assert conn.closed


USES: list[tuple[str, Callable[[repodb.Connection], object]]] = [
    ("ping", lambda c: c.ping()),
    ("exec", lambda c: c.exec(Request.exec("CREATE TABLE t (n INTEGER)"))),
    ("one", lambda c: c.one(one)),
    ("one_or_none", lambda c: c.one_or_none(one)),
    ("all", lambda c: c.all(one)),
    ("stream", lambda c: list(c.stream(one))),
    ("fold", lambda c: c.fold(one, lambda a, b: a + b, 0)),
    ("transaction", lambda c: c.transaction().__enter__()),
    ("run_transaction", lambda c: c.run_transaction(lambda conn: conn.one(one))),
    ("execute_many", lambda c: c.execute_many(Request.exec("SELECT ?", params=int), [1])),
    ("copy_in", lambda c: c.copy_in("t", ["n"], tup(int), [(1,)])),
    ("set_statement_timeout", lambda c: c.set_statement_timeout(1.0)),
]


@pytest.mark.parametrize("use", [u for _, u in USES], ids=[name for name, _ in USES])
def test_closed_connection_raises_repodb_error(
    db_url: str, use: Callable[[repodb.Connection], object]
) -> None:
    conn = open_conn(db_url)
    conn.close()
    with pytest.raises(repodb.Error):
        use(conn)
    assert not conn.in_transaction
    assert conn.closed


def test_sqlite_url_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown SQLite URL option"):
        repodb.connect(f"sqlite:///{tmp_path / 'a.db'}?busy_timout=10")
    with pytest.raises(ValueError, match="whole number of milliseconds"):
        repodb.connect(f"sqlite:///{tmp_path / 'a.db'}?busy_timeout=abc")
    with repodb.connect(f"sqlite:///{tmp_path / 'a.db'}?busy_timeout=250") as conn:
        assert conn.one(repodb.Request.one("PRAGMA busy_timeout", row=int)) == 250
