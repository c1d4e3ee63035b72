"""Database addresses: URLs and libpq conninfo strings, with passwords kept out of sight.

Why: ``repodb.connect`` takes one string whatever the database, and that string
often holds a password. ``DatabaseUrl`` parses it once, picks the driver, and
gives a redacted form for reprs, logs and error messages.

Accepted forms:

- ``sqlite:///relative.db``, ``sqlite:////absolute/path.db``, ``sqlite::memory:``
  (query options: ``busy_timeout`` in milliseconds)
- ``postgresql://user:password@host:port/dbname?option=value`` (or ``postgres://``)
- ``postgresql+asyncpg://...``: the same server through asyncpg, for the asyncio
  API only (``postgresql+psycopg://`` names the default, psycopg), the
  spelling SQLAlchemy's URLs use for a driver
- libpq conninfo: ``"host=primary dbname=myapp user=app password=secret"``
- ``mariadb://user:password@host:port/dbname`` (or ``mysql://``; query options:
  ``connect_timeout``, ``read_timeout``, ``write_timeout`` in seconds)

Example::

    >>> u = parse_url("postgresql://app:s3cret@db:5432/myapp")
    >>> u.driver, u.redacted
    ('postgresql', 'postgresql://app:***@db:5432/myapp')
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["DatabaseUrl", "parse_url"]

_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mariadb": "mariadb",
    "mysql": "mariadb",
}
# ``+library`` after a PostgreSQL scheme: the client library, when it is not the default.
_LIBRARIES = {"psycopg": None, "asyncpg": "asyncpg"}
_CONNINFO_PAIR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)")


@dataclasses.dataclass(frozen=True, repr=False)
class DatabaseUrl:
    """A parsed address.

    Attributes:
        driver: ``"sqlite"``, ``"postgresql"`` or ``"mariadb"``.
        target: what the driver opens: a file path or ``":memory:"`` for
            SQLite, the conninfo or URL as given for PostgreSQL and MariaDB.
        options: query-string options (SQLite, MariaDB) or conninfo keys
            (PostgreSQL).
        redacted: the address with any password replaced by ``***``.
        library: the client library a ``+library`` scheme asks for
            (``"asyncpg"``); None for the default one (psycopg, sqlite3).
    """

    driver: str
    target: str
    options: dict[str, str]
    redacted: str
    password: str | None = dataclasses.field(default=None, compare=False)
    library: str | None = None

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.redacted!r})"

    def without(self, key: str) -> str:
        """``target`` without the option ``key``: for options repodb reads and libpq would refuse.

        Example::

            >>> parse_url("postgresql://db/app?pooler=transaction&sslmode=require").without("pooler")
            'postgresql://db/app?sslmode=require'
        """
        if "://" in self.target:
            head, sep, query = self.target.partition("?")
            kept = [p for p in query.split("&") if p and p.split("=", 1)[0] != key]
            return head + (sep + "&".join(kept) if kept else "")
        # Pair by pair, as parsed, so a quoted value that contains "key=" stays whole.
        pairs = _CONNINFO_PAIR.finditer(self.target)
        return " ".join(m.group(0).strip() for m in pairs if m.group(1) != key)

    def scrub(self, text: str) -> str:
        """``text`` with the password, if any, replaced by ``***``."""
        if self.password:
            return text.replace(self.password, "***")
        return text


def parse_url(url: str) -> DatabaseUrl:
    """Parse a database URL or libpq conninfo string; raise ValueError if unknown.

    TypeError when ``url`` is not a str: every entry point taking a URL
    (``connect``, ``Pool``, ``MultiPool``, ``Cqrs``, ``Migrator``, the
    sandbox) parses it here first, so each says the same.
    """
    if not isinstance(url, str):
        raise TypeError(
            f"a database URL must be a str such as 'sqlite:///app.db' or"
            f" 'postgresql://user@host/dbname', not {type(url).__name__}"
        )
    if url.startswith("sqlite:"):
        return _parse_sqlite(url)
    scheme = url.split(":", 1)[0].lower() if "://" in url else ""
    base, plus, library = scheme.partition("+")
    if base in _SCHEMES and (
        not plus or (_SCHEMES[base] == "postgresql" and library in _LIBRARIES)
    ):
        suffix = len(scheme) - len(base)
        return _parse_server_url(url, _SCHEMES[base], suffix, _LIBRARIES.get(library))
    if _CONNINFO_PAIR.match(url):
        return _parse_conninfo(url)
    shown = _redact_anything(url)
    raise ValueError(
        f"not a database URL: {shown!r} (expected sqlite:///file.db, sqlite::memory:, "
        "postgresql://..., mariadb://..., mysql://... or a conninfo such as 'host=... dbname=...')"
    )


def _parse_sqlite(url: str) -> DatabaseUrl:
    rest, _, query = url[len("sqlite:") :].partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    if rest in (":memory:", "//:memory:", "///:memory:"):
        path = ":memory:"
    elif rest.startswith("///"):
        path = unquote(rest[3:])
    else:
        raise ValueError(
            f"not a SQLite URL: {_redact_anything(url)!r} (use sqlite:///relative.db, "
            "sqlite:////abs.db or sqlite::memory:)"
        )
    if not path:
        raise ValueError(f"SQLite URL without a file name: {url!r}")
    return DatabaseUrl("sqlite", path, options, url)


def _parse_server_url(url: str, driver: str, suffix: int, library: str | None) -> DatabaseUrl:
    """Parse a URL whose scheme ends with ``suffix`` characters of ``+library``.

    The target drops the suffix: libpq and asyncpg read the URL without it.
    """
    scheme_end = url.index(":")
    target = url[: scheme_end - suffix] + url[scheme_end:]
    parts = urlsplit(target)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    # libpq also takes the password as a query option (?password=...), and so
    # does the MariaDB driver.
    password = unquote(parts.password) if parts.password else options.get("password") or None
    redacted = url
    if parts.password is not None or "password" in options:
        # Redacted from the URL as given, so that it still names its library.
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(":" + parts.password + "@", ":***@", 1)
        query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
        redacted = parts._replace(netloc=netloc, query=query).geturl()
    return DatabaseUrl(driver, target, options, redacted, password, library)


def _parse_conninfo(conninfo: str) -> DatabaseUrl:
    options: dict[str, str] = {}
    pos = last = 0
    for match in _CONNINFO_PAIR.finditer(conninfo):
        if conninfo[pos : match.start()].strip():
            break
        key, raw = match.group(1), match.group(2)
        if raw.startswith("'"):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        options[key] = raw
        last, pos = match.start(), match.end()
    if conninfo[pos:].strip():
        # Shown from the last good key on, and never past a password key: the
        # text that failed may be the rest of a password with a space in it.
        near = conninfo[last:].strip()
        if (cut := near.find("password")) != -1:
            near = near[:cut] + "password=*** ..."
        near = _redact_anything(near)
        raise ValueError(f"cannot parse conninfo near {near!r}")
    password = options.get("password") or None
    redacted = " ".join(
        f"{k}=***" if k == "password" else f"{k}={_quote_conninfo(v)}" for k, v in options.items()
    )
    return DatabaseUrl("postgresql", conninfo, options, redacted, password)


def _quote_conninfo(value: str) -> str:
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _redact_anything(text: str) -> str:
    # The password runs to the last @ of the authority, as urlsplit reads it;
    # a quoted value may be unterminated in text that failed to parse.
    text = re.sub(r"(://[^:/@\s]*:)[^/?#\s]*@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", r"\1***", text)
