"""A payment whose connection drops around its COMMIT, retried with its key, is recorded once.

The service talks to PostgreSQL through a proxy that drops the connection at the COMMIT of the
payment's transaction: before the server saw it (nothing was written) or after the server
committed it (the client never heard). Either way the client gets a 503 and cannot tell which;
its retry with the same `Idempotency-Key` must end with exactly one payment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.reconcile import reconcile
from tests.faults.commit_cutter import CommitCutter, Moment
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock

HANG_GUARD_SECONDS = 10  # a request that takes this long has hung: the test fails


@pytest.fixture
async def cutter(pg_url: str) -> AsyncIterator[CommitCutter]:
    upstream = make_url(pg_url)
    proxy = CommitCutter(upstream.host or "127.0.0.1", upstream.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def api(pg_url: str, cutter: CommitCutter, clock: FixedClock) -> AsyncIterator[Api]:
    """The service, with the default in-process statement cache, connected through the proxy."""
    through_proxy = make_url(pg_url).set(port=cutter.port).render_as_string(hide_password=False)
    async with running_api(settings_for(through_proxy), clock) as running:
        yield running


async def _send(api: Api, path: str, body: dict[str, Any], key: str) -> Any:
    return await asyncio.wait_for(
        api.post(path, json=body, headers={"Idempotency-Key": key}), HANG_GUARD_SECONDS
    )


async def _invoice_and_statement(api: Api) -> tuple[dict[str, Any], str]:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=10_000)
    statement = f"/api/v1/students/{student['id']}/statement"
    assert (await api.get(statement)).json()["totals"][0]["paid"] == 0  # now in the cache
    return invoice, statement


async def _assert_paid_once(api: Api, pg_url: str, invoice_id: str, payment_id: str) -> None:
    found = (await api.get(f"/api/v1/invoices/{invoice_id}")).json()
    assert [p["id"] for p in found["payments"]] == [payment_id]
    assert (found["amount_paid"], found["status"]) == (10_000, "PAID")
    database = Database(DatabaseSettings(url=pg_url))
    try:
        assert await reconcile(database) == []
    finally:
        await database.dispose()


@pytest.mark.parametrize("moment", ["before", "after"])
async def test_a_payment_cut_off_at_its_commit_and_retried_with_its_key_is_recorded_once(
    api: Api, cutter: CommitCutter, pg_url: str, moment: Moment
) -> None:
    invoice, statement = await _invoice_and_statement(api)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    body = {"amount": 10_000, "method": "bank_transfer", "reference": "TRX-1"}

    cutter.arm("INSERT INTO payments", moment)
    first = await _send(api, path, body, "pay-once")
    assert cutter.cut.is_set()
    assert first.status_code == 503, first.text
    assert first.headers["content-type"] == "application/problem+json"
    assert first.json()["code"] == "database_unavailable"

    retry = await _send(api, path, body, "pay-once")
    assert retry.status_code == 201, retry.text
    # After a commit the server made, the retry replays it; before, the retry is the payment.
    replayed = retry.headers.get("idempotent-replayed")
    assert replayed == ("true" if moment == "after" else None)
    payment_id = retry.json()["id"]

    again = await _send(api, path, body, "pay-once")
    assert (again.status_code, again.json()["id"]) == (201, payment_id)
    assert again.headers["idempotent-replayed"] == "true"
    await _assert_paid_once(api, pg_url, invoice["id"], payment_id)
    # The statement cached before the payment is not served after it.
    assert (await api.get(statement)).json()["totals"][0]["paid"] == 10_000


async def test_a_claim_cut_off_after_its_commit_blocks_retries_only_until_it_expires(
    api: Api, cutter: CommitCutter, pg_url: str, clock: FixedClock
) -> None:
    invoice, _ = await _invoice_and_statement(api)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    body = {"amount": 10_000, "method": "cash"}

    cutter.arm("INSERT INTO idempotency_keys", "after")
    first = await _send(api, path, body, "claimed-then-lost")
    assert cutter.cut.is_set()
    assert (first.status_code, first.json()["code"]) == (503, "database_unavailable")

    # The claim committed, so the key looks in use: a retry is told to wait, and pays nothing.
    waiting = await _send(api, path, body, "claimed-then-lost")
    assert (waiting.status_code, waiting.json()["code"]) == (409, "idempotency_key_in_use")
    assert (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()["payments"] == []

    clock.advance(seconds=31)  # the claim's lock times out: the first request is taken as dead
    retry = await _send(api, path, body, "claimed-then-lost")
    assert retry.status_code == 201, retry.text
    await _assert_paid_once(api, pg_url, invoice["id"], retry.json()["id"])
