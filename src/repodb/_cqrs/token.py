"""Read-your-writes tokens: a session's write position, carried from one request to the next.

Why a format of its own: the position is the database's (a WAL position on
PostgreSQL, a GTID list on MariaDB), but the token travels through cookies,
headers and URLs, which each forbid some characters, and it may come back
to a router of another kind or another repodb version. So a token is
versioned and tagged with the database kind: ``rw1.<kind>.<position>``,
with ``<kind>`` a driver name (``postgresql``, ``sqlite``) and
``<position>`` in the URL-safe alphabet (letters, digits, ``_`` and ``-``),
safe unescaped in a cookie, a header or a query string.

Positions, by kind:

- ``postgresql``: the commit's WAL position as one hexadecimal number
  (``16B374D848`` for ``16/B374D848``), or ``primary`` when the session
  could not read it (the next request reads on the primary);
- ``sqlite``: ``0`` (no lag to wait for; the token only says a write happened);
- a MariaDB port would write its GTID list with ``_`` between domains
  (``0-1-100_1-2-5``).

A token is not signed: a client can forge one, which only sends that
client's own reads to the primary (see docs/cqrs.md).
"""

from __future__ import annotations

import re

__all__ = ["UNKNOWN_POSITION", "make_token", "read_token"]

_VERSION = "rw1"
#: The position of a session whose write position could not be read.
UNKNOWN_POSITION = "primary"
_TOKEN = re.compile(r"rw1\.([a-z][a-z0-9]{0,31})\.([A-Za-z0-9_-]{1,256})")


def make_token(kind: str, position: str) -> str:
    """The token for ``position`` on a database of ``kind`` (a driver name)."""
    token = f"{_VERSION}.{kind}.{position}"
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"not a token position: {position!r}")
    return token


def read_token(token: str, kind: str) -> str | None:
    """The position in ``token`` for a database of ``kind``; None if it is not a token.

    Raises:
        ValueError: it is a token from a database of another kind.
    """
    found = _TOKEN.fullmatch(token)
    if found is None:
        return None
    if found[1] != kind:
        raise ValueError(
            f"a read-your-writes token from a {found[1]} database, and this router is {kind}"
        )
    return found[2]
