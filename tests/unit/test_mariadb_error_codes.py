"""MariaDB error numbers that no suite server raises: their mapping, by number.

The conformance suite proves the mapping of every error its servers can be made to raise; these
numbers need a server started otherwise (``--innodb-read-only``), so their row of the table is
checked here from the client's exception form, ``args == (number, message)``.
"""

from __future__ import annotations

import pytest

from repodb.driver._mariadb import map_error
from repodb.errors import QueryError, ReadOnlyError


class _ClientError(Exception):
    """The shape of PyMySQL's and asyncmy's errors: ``args`` is (number, message)."""


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (1036, "Table 'users' is read only"),
        (1836, "Running in read-only mode"),
        (1290, "The MariaDB server is running with the --read-only option"),
        (1792, "Cannot execute statement in a READ ONLY transaction"),
    ],
)
def test_read_only_answers_are_read_only_errors(code: int, message: str) -> None:
    error = map_error(_ClientError(code, message), "INSERT INTO users VALUES (1)")
    assert type(error) is ReadOnlyError
    assert message in str(error)


def test_an_unknown_number_stays_a_query_error() -> None:
    error = map_error(_ClientError(1846, "ALGORITHM=INPLACE is not supported"), "ALTER TABLE t")
    assert type(error) is QueryError
    assert not isinstance(error, ReadOnlyError)
