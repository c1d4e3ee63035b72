"""The CQRS router behind PgBouncer while a replica fails (C1 and C4 through the rig's PgBouncer).

The router's primary and both replicas are PgBouncer's databases
(``pooler=transaction``), so PgBouncer stays up whatever happens to a server:
when a replica is killed PgBouncer closes the clients whose statements ran on
it, fails new statements at once while its logins fail (SQLSTATE 08P01) and
keeps waiting the ones that came in between; a SIGSTOPped replica looks hung
to the router's probe, as without PgBouncer. Covered: a replica SIGKILLed, then a replica
SIGSTOPped, under 8 reader threads: no reader sees an error, the replica is
out within ``check_interval + probe_timeout`` (plus slack), and back once it
answers again (after a kill, only once PgBouncer tries the server again:
``server_login_retry``, 15 s by default). After a kill, no reader is still
waiting 3 s later: before the router aborted the connections lent out on a
server lost behind a pooler, 2 of 10 runs left 1 or 2 readers waiting in
PgBouncer's queue for the dead server (until it came back, or
``query_wait_timeout``, 120 s). The figures are printed (``-s``);
times are asserted only as bounds that tell "handled" from "hung".
"""

from __future__ import annotations

import time
from functools import partial
from urllib.parse import urlsplit

import pytest

from repodb import Repo, Request
from repodb.cqrs import Cqrs, CqrsConfig
from tests.conftest import pgbouncer_replica_urls, pgbouncer_url, replica_urls
from tests.cqrs.rig import cluster, wait_until
from tests.cqrs.test_cqrs_failures import CHECK_INTERVAL, PROBE_TIMEOUT, ReadLoad, Watch

server_port = Request.one("SELECT inet_server_port()", row=int, read_only=True)
# PgBouncer's server_login_retry (15 s) after its failed connect, then the probe.
BACK_AFTER_KILL = 30.0


def read_port(repo: Repo) -> int:
    return repo.one(server_port)


@pytest.mark.parametrize(
    ("fail", "repair", "back_within"),
    [
        ("kill-replica", "start-replica", BACK_AFTER_KILL),
        ("pause-replica", "resume-replica", 5.0),
    ],
)
def test_a_failed_replica_behind_pgbouncer_costs_no_read(
    fail: str, repair: str, back_within: float
) -> None:
    first, second = (urlsplit(u).port for u in replica_urls())
    config = CqrsConfig(
        primary_conninfo=pgbouncer_url(),
        replica_conninfos=pgbouncer_replica_urls(),
        check_interval=CHECK_INTERVAL,
        probe_timeout=PROBE_TIMEOUT,
        connect_timeout=2.0,
        statement_timeout=10.0,
    )
    with Cqrs(config) as cqrs, ReadLoad(partial(read_port, Repo(cqrs))) as load:
        wait_until(lambda: first in load.ports(0.0, time.monotonic()), "reads on replica 1")
        down = Watch(lambda: cqrs.stats().replicas[0].down)
        failed = time.monotonic()
        cluster(fail, "1")
        try:
            detected = down.wait("replica 1 to be down")
            time.sleep(4.0)
            outage_end = time.monotonic()
            stuck = load.stuck(3.0)
        finally:
            cluster(repair, "1")
        repaired = time.monotonic()
        back = wait_until(
            lambda: first in load.ports(repaired, time.monotonic()),
            "reads on replica 1 again",
            timeout=back_within,
        )
    slowest = max((lat for t, _, lat in load.reads if failed <= t < repaired), default=0.0)
    print(
        f"\n{fail} behind PgBouncer: errors={len(load.errors)}"
        f" detected={detected - failed:.2f}s slowest read meanwhile={slowest:.2f}s"
        f" back {back:.2f}s after {repair}; last_error={cqrs.stats().replicas[0].last_error!r}"
    )
    assert [e for _, e in load.errors] == []
    assert stuck == 0
    assert detected - failed < CHECK_INTERVAL + PROBE_TIMEOUT + 3.0
    assert load.ports(detected + 0.1, outage_end) == {second}
