"""Database addresses: every accepted form, rejection of garbage, and password hiding.

Covers ``repodb.url.parse_url`` for SQLite URLs, PostgreSQL URLs (both
schemes, query options, percent-encoded passwords, ``?password=``) and libpq
conninfo strings (quoted values, escaped quotes), and checks that a password
never shows in ``redacted``, ``repr()`` or a ``ValueError`` message, and that
``scrub()`` hides it in arbitrary text.
"""

from __future__ import annotations

import pytest

import repodb
from repodb.url import DatabaseUrl, parse_url


def assert_hidden(url: DatabaseUrl, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in url.redacted
        assert secret not in repr(url)
        assert secret not in str(url)
    assert "***" in url.redacted


# SQLite ---------------------------------------------------------------------


def test_sqlite_relative_path() -> None:
    url = parse_url("sqlite:///rel.db")
    assert (url.driver, url.target, url.options) == ("sqlite", "rel.db", {})
    assert url.password is None
    assert url.redacted == "sqlite:///rel.db"


def test_sqlite_absolute_path() -> None:
    url = parse_url("sqlite:////abs/x.db")
    assert (url.driver, url.target) == ("sqlite", "/abs/x.db")


def test_sqlite_percent_encoded_path_and_options() -> None:
    url = parse_url("sqlite:///my%20dir/x.db?busy_timeout=250")
    assert url.target == "my dir/x.db"
    assert url.options == {"busy_timeout": "250"}


@pytest.mark.parametrize("text", ["sqlite::memory:", "sqlite://:memory:", "sqlite:///:memory:"])
def test_sqlite_memory(text: str) -> None:
    url = parse_url(text)
    assert (url.driver, url.target) == ("sqlite", ":memory:")


@pytest.mark.parametrize("text", ["sqlite://rel.db", "sqlite:rel.db", "sqlite:///", "sqlite:"])
def test_sqlite_bad_forms_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="SQLite URL"):
        parse_url(text)


# PostgreSQL URLs --------------------------------------------------------------


def test_postgresql_url_with_options() -> None:
    text = "postgresql://app:s3cret@db.example:5433/myapp?sslmode=require&application_name=x"
    url = parse_url(text)
    assert url.driver == "postgresql"
    assert url.target == text
    assert url.options == {"sslmode": "require", "application_name": "x"}
    assert url.password == "s3cret"
    assert url.redacted == (
        "postgresql://app:***@db.example:5433/myapp?sslmode=require&application_name=x"
    )
    assert repr(url) == f"DatabaseUrl({url.redacted!r})"
    assert_hidden(url, "s3cret")


def test_postgres_scheme_alias_and_no_password() -> None:
    url = parse_url("postgres://app@localhost/myapp")
    assert url.driver == "postgresql"
    assert url.password is None
    assert url.redacted == "postgres://app@localhost/myapp"


def test_scheme_is_case_insensitive() -> None:
    assert parse_url("PostgreSQL://h/db").driver == "postgresql"


def test_percent_encoded_password_is_decoded_and_hidden() -> None:
    # The password is p@ss:w/rd%x, percent-encoded in the URL.
    url = parse_url("postgresql://app:p%40ss%3Aw%2Frd%25x@db/myapp")
    assert url.password == "p@ss:w/rd%x"
    assert url.redacted == "postgresql://app:***@db/myapp"
    assert_hidden(url, "p@ss:w/rd%x", "p%40ss%3Aw%2Frd%25x", "p%40ss")


def test_password_as_query_option_is_hidden() -> None:
    url = parse_url("postgresql://app@db/myapp?sslmode=require&password=s3cret")
    assert url.password == "s3cret"
    assert url.options["password"] == "s3cret"
    assert url.redacted == "postgresql://app@db/myapp?sslmode=require&password=***"
    assert_hidden(url, "s3cret")


# Conninfo ---------------------------------------------------------------------


def test_conninfo_plain() -> None:
    text = "host=primary port=5432 dbname=myapp user=app password=s3cret"
    url = parse_url(text)
    assert url.driver == "postgresql"
    assert url.target == text
    assert url.options == {
        "host": "primary",
        "port": "5432",
        "dbname": "myapp",
        "user": "app",
        "password": "s3cret",
    }
    assert url.password == "s3cret"
    assert url.redacted == "host=primary port=5432 dbname=myapp user=app password=***"
    assert_hidden(url, "s3cret")


def test_conninfo_quoted_values_and_escaped_quotes() -> None:
    url = parse_url(r"host = h dbname='my db' password='it\'s a \\ secret' user=''")
    assert url.options == {
        "host": "h",
        "dbname": "my db",
        "password": "it's a \\ secret",
        "user": "",
    }
    assert url.password == "it's a \\ secret"
    assert url.redacted == "host=h dbname='my db' password=*** user=''"
    assert_hidden(url, "it's a", "secret", r"it\'s")


def test_conninfo_without_password() -> None:
    url = parse_url("dbname=myapp")
    assert url.password is None
    assert url.redacted == "dbname=myapp"


# MariaDB and MySQL ------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["mariadb", "mysql", "MySQL"])
def test_mariadb_and_mysql_urls(scheme: str) -> None:
    u = parse_url(f"{scheme}://app:s3c%40ret@db:3307/shop?connect_timeout=2")
    assert (u.driver, u.options, u.password) == ("mariadb", {"connect_timeout": "2"}, "s3c@ret")
    assert u.redacted == f"{scheme.lower()}://app:***@db:3307/shop?connect_timeout=2"


# Garbage --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "   ", "oracle://app@db/x", "postgresql:db", "just words", "=value", "http//x"],
)
def test_garbage_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="database URL"):
        parse_url(text)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("mssql://app:s3cret@db/x", "s3cret"),
        ("mssql://app:s3c@xyzzy@db/x", "xyzzy"),
        ("oracle://app:s3cret@db/x", "s3cret"),
        ("sqlite://app:s3cret@db/x", "s3cret"),
        ("host=h password=s3cret 'junk", "s3cret"),
        ("host=h 'junk password=s3cret", "s3cret"),
        ("host=h password='unterminated s3cret", "s3cret"),
        ("host=h password = 'quoted s3cret' !!", "s3cret"),
    ],
)
def test_rejection_message_hides_the_password(text: str, secret: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_url(text)
    message = str(info.value)
    assert secret not in message
    assert "***" in message


def test_conninfo_error_names_the_bad_part() -> None:
    with pytest.raises(ValueError, match=r"cannot parse conninfo near .*'junk"):
        parse_url("host=h dbname=x 'junk")


# scrub ----------------------------------------------------------------------


def test_scrub_replaces_every_occurrence() -> None:
    url = parse_url("postgresql://app:hunter2@db/x")
    assert url.scrub("auth hunter2 failed (hunter2)") == "auth *** failed (***)"


def test_scrub_uses_the_decoded_password() -> None:
    url = parse_url("postgresql://app:p%40ss@db/x")
    assert url.scrub("password p@ss rejected") == "password *** rejected"


def test_scrub_without_password_changes_nothing() -> None:
    assert parse_url("sqlite::memory:").scrub("text ***?") == "text ***?"
    assert parse_url("host=h").scrub("host=h") == "host=h"


def test_password_is_not_part_of_equality() -> None:
    a = parse_url("postgresql://app:one@db/x")
    b = DatabaseUrl(a.driver, a.target, a.options, a.redacted, password="other")
    assert a == b


# +library: the client library ------------------------------------------------


def test_asyncpg_scheme_selects_the_library_and_keeps_the_address() -> None:
    url = parse_url("postgresql+asyncpg://app:s3cret@db:5432/x?sslmode=disable")
    assert (url.driver, url.library) == ("postgresql", "asyncpg")
    assert url.target == "postgresql://app:s3cret@db:5432/x?sslmode=disable"
    assert url.redacted == "postgresql+asyncpg://app:***@db:5432/x?sslmode=disable"
    assert url.options == {"sslmode": "disable"}
    assert url.password == "s3cret"
    assert parse_url("postgres+asyncpg://db/x").target == "postgres://db/x"


def test_psycopg_scheme_names_the_default() -> None:
    url = parse_url("postgresql+psycopg://db/x")
    assert (url.driver, url.library, url.target) == ("postgresql", None, "postgresql://db/x")
    assert parse_url("postgresql://db/x").library is None


@pytest.mark.parametrize("url", ["postgresql+pg8000://db/x", "sqlite+asyncpg:///x.db"])
def test_an_unknown_library_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_url(url)


def test_the_sync_api_refuses_asyncpg_before_connecting() -> None:
    # Port 9 (discard) is never a PostgreSQL server: the refusal comes first.
    with pytest.raises(ValueError, match="asyncpg is an asyncio driver: use it through"):
        repodb.connect("postgresql+asyncpg://127.0.0.1:9/x")


# without: an option repodb reads, kept from libpq ---------------------------


@pytest.mark.parametrize(
    ("url", "left"),
    [
        ("postgresql://db/app?pooler=transaction", "postgresql://db/app"),
        (
            "postgresql://db/app?pooler=transaction&sslmode=require",
            "postgresql://db/app?sslmode=require",
        ),
        (
            "postgresql://db/app?sslmode=require&pooler=transaction",
            "postgresql://db/app?sslmode=require",
        ),
        ("host=db pooler=transaction dbname=app", "host=db dbname=app"),
        ("host = db pooler = transaction", "host = db"),
        # A quoted value that reads like the option stays whole.
        ("host=db password='a pooler=b' pooler=transaction", "host=db password='a pooler=b'"),
    ],
)
def test_without_drops_only_the_option(url: str, left: str) -> None:
    assert parse_url(url).without("pooler") == left
