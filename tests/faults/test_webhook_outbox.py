"""The outbox under faults, on PostgreSQL: a connection cut around the COMMIT, several workers
at once, a worker killed with SIGKILL mid-delivery."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from school_payments.adapters.clock import SystemClock
from school_payments.adapters.persistence.database import Database, DatabaseSettings, libpq_dsn
from school_payments.adapters.persistence.tables import events, webhook_attempts, webhook_deliveries
from school_payments.adapters.webhooks.worker import PgQueuerWorker
from school_payments.main import webhook_worker_parts
from tests.faults.commit_cutter import CommitCutter, Moment
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.receiver import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.stop()


async def _counts(pg_url: str) -> tuple[int, int, int]:
    database = Database(DatabaseSettings(url=pg_url))
    try:
        async with database.snapshot() as sql:
            return (
                await sql.scalar(select(func.count()).select_from(events)),
                await sql.scalar(select(func.count()).select_from(webhook_deliveries)),
                await sql.scalar(select(func.count()).select_from(webhook_attempts)),
            )
    finally:
        await database.dispose()


async def _endpoint(api: Api, school_id: str, url: str) -> dict[str, Any]:
    response = await api.post(
        f"/api/v1/schools/{school_id}/webhook-endpoints", json={"url": url, "event_types": ["*"]}
    )
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


@pytest.mark.parametrize("moment", ["before", "after"])
async def test_a_write_cut_off_at_its_commit_has_its_event_and_delivery_exactly_when_it_landed(
    pg_url: str, clock: FixedClock, receiver: Receiver, moment: Moment
) -> None:
    upstream = make_url(pg_url)
    cutter = CommitCutter(upstream.host or "127.0.0.1", upstream.port or 5432)
    await cutter.start()
    through = make_url(pg_url).set(port=cutter.port).render_as_string(hide_password=False)
    try:
        async with running_api(
            settings_for(through, webhook_allow_private_urls=True), clock
        ) as api:
            school = await api.school()
            await _endpoint(api, school["id"], receiver.url)
            student = await api.student(school["id"])
            invoice = await api.invoice(student["id"], amount=10_000)
            before = await _counts(pg_url)
            cutter.arm("INSERT INTO payments", moment)
            body = {"amount": 1_000, "method": "cash"}
            path = f"/api/v1/invoices/{invoice['id']}/payments"
            first = await api.post(path, json=body, headers={"Idempotency-Key": "k1"})
            assert first.status_code == 503
            after = await _counts(pg_url)
            landed = 1 if moment == "after" else 0
            assert after[0] - before[0] == landed  # payment.recorded, or nothing
            assert after[1] - before[1] == landed  # … with its delivery
            retry = await api.post(path, json=body, headers={"Idempotency-Key": "k1"})
            assert retry.status_code == 201
            final = await _counts(pg_url)
            assert (final[0] - before[0], final[1] - before[1]) == (1, 1)
    finally:
        await cutter.close()


@pytest.mark.parametrize("workers", [2, 4])
async def test_several_workers_deliver_each_event_once_and_never_attempt_one_twice(
    pg_url: str, clock: FixedClock, receiver: Receiver, workers: int
) -> None:
    settings = settings_for(pg_url, webhook_allow_private_urls=True, webhook_timeout_seconds=2)
    async with running_api(settings, clock) as api:
        school = await api.school()
        await _endpoint(api, school["id"], receiver.url)
        for _ in range(40):
            await api.student(school["id"])
        expected = len((await api.get("/api/v1/events?limit=200")).json()["data"])
        assert expected == 40
        runners = []
        for _ in range(workers):
            parts = webhook_worker_parts(settings, api.assembly.database, SystemClock())
            runners.append(
                PgQueuerWorker(libpq_dsn(pg_url), parts.deliver, parts.store, SystemClock())
            )
        tasks = [asyncio.create_task(r.run()) for r in runners]
        await receiver.wait_for(expected, seconds=30)
        await asyncio.sleep(0.5)  # a duplicate, if any, would arrive now
        for runner in runners:
            runner.stop()
        await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            task.cancel()
    assert len(receiver.received) == expected
    assert len(set(receiver.ids())) == expected
    _, deliveries, attempts = await _counts(pg_url)
    assert (deliveries, attempts) == (expected, expected)


def _worker_process(pg_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "WEBHOOK_TIMEOUT_SECONDS": "1",
        "WORKER_HEARTBEAT_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "school_payments.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_a_worker_killed_mid_delivery_leaves_the_delivery_to_the_next_one(
    pg_url: str, clock: FixedClock, receiver: Receiver
) -> None:
    async with running_api(settings_for(pg_url, webhook_allow_private_urls=True), clock) as api:
        school = await api.school()
        await _endpoint(api, school["id"], receiver.url)
        receiver.behaviour = "hang"
        await api.student(school["id"])
        first = _worker_process(pg_url)
        try:
            arrived = await receiver.wait_for(1, seconds=30)
            assert arrived, "the first worker never attempted the delivery"
            first.send_signal(signal.SIGKILL)  # mid-delivery: the receiver has not answered
            first.wait(5)
        finally:
            if first.poll() is None:
                first.kill()
        receiver.behaviour = "ok"
        second = _worker_process(pg_url)
        try:
            await receiver.wait_for(2, seconds=45)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(10)
    assert len(receiver.received) == 2, "the second worker did not deliver it"
    assert len(set(receiver.ids())) == 1  # the same event: dedupe by webhook-id
    _, deliveries, attempts = await _counts(pg_url)
    assert (deliveries, attempts) == (1, 1)  # the killed attempt left no record, the next did
