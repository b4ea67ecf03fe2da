"""The payment invariant under concurrency, held by the database transaction itself."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.support.api import Api


async def _invoice(api: Api, amount: int) -> dict[str, object]:
    school = await api.school()
    student = await api.student(str(school["id"]))
    return await api.invoice(str(student["id"]), amount=amount)


async def test_concurrent_payments_never_overpay_an_invoice(api: Api) -> None:
    invoice = await _invoice(api, amount=10_000)
    path = f"/api/v1/invoices/{invoice['id']}/payments"

    async def pay() -> int:
        response = await api.post(path, json={"amount": 1_000, "method": "card"})
        return response.status_code

    statuses = Counter(await asyncio.gather(*(pay() for _ in range(40))))
    assert statuses == {201: 10, 409: 30}

    after = (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert after["status"] == "PAID"
    assert after["amount_paid"] == sum(p["amount"] for p in after["payments"]) == 10_000
    assert len(after["payments"]) == 10


async def test_concurrent_payments_of_uneven_sizes_fill_the_invoice_exactly(api: Api) -> None:
    invoice = await _invoice(api, amount=5_000)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    amounts = [700, 1_300, 2_000, 900, 100, 1_500, 400, 2_500] * 3

    async def pay(amount: int) -> tuple[int, int]:
        response = await api.post(path, json={"amount": amount, "method": "cash"})
        return response.status_code, amount

    results = await asyncio.gather(*(pay(a) for a in amounts))
    accepted = sum(amount for status, amount in results if status == 201)
    assert {status for status, _ in results} <= {201, 409}
    after = (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert after["amount_paid"] == accepted == sum(p["amount"] for p in after["payments"])
    assert accepted <= 5_000


async def test_concurrent_requests_sharing_an_idempotency_key_pay_once(api: Api) -> None:
    invoice = await _invoice(api, amount=10_000)
    path = f"/api/v1/invoices/{invoice['id']}/payments"

    async def pay() -> tuple[int, str | None]:
        response = await api.post(
            path, json={"amount": 1_000, "method": "card"}, headers={"Idempotency-Key": "same"}
        )
        code = response.json().get("code") if response.status_code != 201 else None
        return response.status_code, code

    results = await asyncio.gather(*(pay() for _ in range(20)))
    # Each duplicate either replays the first response or is told the first is still running.
    assert set(results) <= {(201, None), (409, "idempotency_key_in_use")}
    assert (201, None) in results
    after = (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert len(after["payments"]) == 1
    assert after["amount_paid"] == 1_000
    replay = await api.post(
        path, json={"amount": 1_000, "method": "card"}, headers={"Idempotency-Key": "same"}
    )
    assert replay.status_code == 201
    assert replay.json()["id"] == after["payments"][0]["id"]


async def test_concurrent_enrolments_with_one_external_id_create_one_student(api: Api) -> None:
    school = await api.school()
    path = f"/api/v1/schools/{school['id']}/students"

    async def enrol() -> int:
        body = {"first_name": "A", "last_name": "B", "external_id": "dup"}
        return (await api.post(path, json=body)).status_code

    statuses = Counter(await asyncio.gather(*(enrol() for _ in range(10))))
    assert statuses == {201: 1, 409: 9}


async def test_deleting_a_student_while_invoices_are_issued_never_loses_an_invoice(
    api: Api,
) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    path = f"/api/v1/students/{student['id']}/invoices"
    body = {"amount": 100, "due_date": "2026-12-01", "description": "Fee"}
    results = await asyncio.gather(
        *(api.post(path, json=body) for _ in range(5)),
        api.delete(f"/api/v1/students/{student['id']}"),
        *(api.post(path, json=body) for _ in range(5)),
    )
    issued = [r for r in results[:5] + results[6:] if r.status_code == 201]
    assert all(r.status_code in (201, 404, 409) for r in results[:5] + results[6:])
    found = await api.get(f"/api/v1/students/{student['id']}")
    if issued:
        # The student had invoices when removed (or got them before): archived, history intact.
        assert found.json()["status"] == "archived"
        invoices = await api.get(f"/api/v1/schools/{school['id']}/invoices")
        assert len(invoices.json()["data"]) == len(issued)
    else:
        assert found.status_code == 404
