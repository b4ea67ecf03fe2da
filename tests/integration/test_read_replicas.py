"""Reads from a real streaming replica, never staler than the writes acknowledged before them.

A primary of the module's own and a replica of it (`pg_basebackup -R`, on another port). The
replica serves statements while it has replayed the primary's WAL; with replay paused, a
payment's statement is still fresh (the primary serves it); stopped or promoted, the replica is
left out and every request still answers. Who served each read is read off
`database_reads_total` (metrics/`observe_read`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.postgres_cluster import PostgresCluster

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def primary() -> Iterator[PostgresCluster]:
    with PostgresCluster.running_one() as cluster:
        yield cluster


@pytest.fixture(scope="module")
async def primary_url(primary: PostgresCluster) -> str:
    return await primary.migrated_database()


@pytest.fixture
def replica(primary: PostgresCluster, primary_url: str) -> Iterator[PostgresCluster]:
    found = PostgresCluster.replica_of(primary)
    found.start()
    try:
        yield found
    finally:
        found.destroy()


@pytest.fixture
async def api(primary_url: str, replica: PostgresCluster) -> AsyncIterator[Api]:
    settings = settings_for(
        primary_url,
        database_replica_urls=(replica.url("school_payments"),),
        statement_cache_ttl_seconds=0,  # every statement read reaches the database
    )
    async with running_api(settings, FixedClock()) as running:
        yield running


def served(api: Api) -> Counter[tuple[str, str]]:
    """Counts (served_by, reason) of every snapshot read from now on."""
    found: Counter[tuple[str, str]] = Counter()
    replicas = api.assembly.database.replicas
    assert replicas is not None

    def observe(served_by: str, reason: str) -> None:
        found[(served_by, reason)] += 1

    replicas.observe_read = observe
    return found


async def _replica_sql(replica: PostgresCluster, statement: str) -> object:
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{replica.port}/postgres")
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


async def _caught_up(api: Api, replica: PostgresCluster) -> None:
    """Waits until the replica has replayed what the primary has written so far."""
    for _ in range(200):
        position = await _replica_sql(replica, "SELECT pg_last_wal_replay_lsn()::text")
        async with api.assembly.database.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            ahead = await raw.driver_connection.fetchval(  # type: ignore[union-attr]
                "SELECT pg_current_wal_lsn() > $1::text::pg_lsn", position
            )
        if not ahead:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the replica did not catch up in 4 s")


async def _paid_statement(api: Api) -> tuple[str, str]:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=10_000)
    await api.payment(invoice["id"], amount=4_000)
    return student["id"], invoice["id"]


async def test_a_caught_up_replica_serves_statements_and_lists(
    api: Api, replica: PostgresCluster
) -> None:
    student_id, invoice_id = await _paid_statement(api)
    await _caught_up(api, replica)
    reads = served(api)
    statement = await api.get(f"/api/v1/students/{student_id}/statement")
    listing = await api.get(f"/api/v1/invoices/{invoice_id}/payments")
    assert statement.status_code == 200
    assert statement.json()["totals"][0]["paid"] == 4_000
    assert listing.status_code == 200
    assert len(listing.json()["data"]) == 1
    assert reads[("replica", "fresh")] >= 2
    assert sum(n for (who, _), n in reads.items() if who == "primary") == 0


async def test_with_replay_paused_a_payment_is_on_its_statement_at_once(
    api: Api, replica: PostgresCluster
) -> None:
    student_id, invoice_id = await _paid_statement(api)
    await _caught_up(api, replica)
    await _replica_sql(replica, "SELECT pg_wal_replay_pause()")
    reads = served(api)
    await api.payment(invoice_id, amount=1_000)  # the replica cannot have it
    statement = await api.get(f"/api/v1/students/{student_id}/statement")
    assert statement.json()["totals"][0]["paid"] == 5_000
    assert reads[("primary", "behind")] >= 1
    assert reads[("replica", "fresh")] == 0

    await _replica_sql(replica, "SELECT pg_wal_replay_resume()")
    await _caught_up(api, replica)
    reads.clear()
    statement = await api.get(f"/api/v1/students/{student_id}/statement")
    assert statement.json()["totals"][0]["paid"] == 5_000
    assert reads[("replica", "fresh")] >= 1


async def test_a_stopped_replica_is_left_out_and_every_request_answers(
    api: Api, replica: PostgresCluster
) -> None:
    student_id, invoice_id = await _paid_statement(api)
    replica.stop("immediate")
    reads = served(api)
    for amount in (100, 200, 300):
        await api.payment(invoice_id, amount=amount)
        statement = await api.get(f"/api/v1/students/{student_id}/statement")
        assert statement.status_code == 200, statement.text
    assert statement.json()["totals"][0]["paid"] == 4_600
    assert reads[("primary", "down")] == 1  # then left out: not even tried
    assert reads[("primary", "no_replica")] >= 2
    assert reads[("replica", "fresh")] == 0


async def test_a_promoted_replica_is_left_out(api: Api, replica: PostgresCluster) -> None:
    student_id, _ = await _paid_statement(api)
    await _caught_up(api, replica)
    replica.promote()
    reads = served(api)
    statement = await api.get(f"/api/v1/students/{student_id}/statement")
    assert statement.status_code == 200
    assert reads[("primary", "promoted")] == 1
