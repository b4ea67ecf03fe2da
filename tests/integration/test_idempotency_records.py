"""Idempotency records over time: 24 hours of memory, and claims of requests that died."""

from __future__ import annotations

from typing import Any

from school_payments.adapters.persistence.idempotency_records import SqlIdempotencyStore
from school_payments.application.caller import OPERATOR
from school_payments.application.idempotency_guard import LOCK_TIMEOUT, RETENTION, fingerprint
from school_payments.application.ports.idempotency_store import Claimed, InProgress
from tests.support.api import Api


async def _invoice(api: Api) -> dict[str, Any]:
    school = await api.school()
    student = await api.student(school["id"])
    return await api.invoice(student["id"], amount=10_000)


async def test_a_key_is_remembered_for_24_hours_then_forgotten_and_purged(api: Api) -> None:
    invoice = await _invoice(api)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    key = {"Idempotency-Key": "day-1"}
    first = await api.post(path, json={"amount": 100, "method": "cash"}, headers=key)
    api.clock.advance(hours=23, minutes=59)
    reused = await api.post(path, json={"amount": 200, "method": "cash"}, headers=key)
    assert reused.status_code == 422
    api.clock.advance(minutes=2)
    fresh = await api.post(path, json={"amount": 200, "method": "cash"}, headers=key)
    assert fresh.status_code == 201
    assert fresh.json()["id"] != first.json()["id"]

    other = await api.post(
        path, json={"amount": 1, "method": "cash"}, headers={"Idempotency-Key": "x"}
    )
    assert other.status_code == 201
    api.clock.advance(hours=25)
    assert await api.assembly.services.idempotency.purge_expired() == 2
    assert await api.assembly.services.idempotency.purge_expired() == 0


async def test_the_claim_of_a_request_that_died_is_taken_over_after_the_lock_timeout(
    api: Api,
) -> None:
    invoice = await _invoice(api)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    body = {"amount": 100, "method": "cash"}
    store = SqlIdempotencyStore(api.assembly.database, api.clock)

    async def claim() -> object:
        return await store.claim(
            scope=OPERATOR.key_id,
            key="crash-1",
            fingerprint=fingerprint("POST", path, body),
            now=api.clock.now(),
            retention=RETENTION,
            lock_timeout=LOCK_TIMEOUT,
        )

    # A request claims the key, then its process dies before it finishes (nothing released).
    assert isinstance(await claim(), Claimed)
    busy = await api.post(path, json=body, headers={"Idempotency-Key": "crash-1"})
    assert (busy.status_code, busy.json()["code"]) == (409, "idempotency_key_in_use")
    assert isinstance(await claim(), InProgress)

    api.clock.advance(seconds=31)
    retried = await api.post(path, json=body, headers={"Idempotency-Key": "crash-1"})
    assert retried.status_code == 201
    # The dead request's claim can no longer complete: its token was superseded.
    again = await api.post(path, json=body, headers={"Idempotency-Key": "crash-1"})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == retried.json()["id"]
    payments = (await api.get(path)).json()["data"]
    assert len(payments) == 1
