"""Payments: recorded once, never beyond what is owed, never changed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api


async def _invoice(api: Api, **fields: Any) -> dict[str, Any]:
    school = await api.school()
    student = await api.student(school["id"])
    return await api.invoice(student["id"], **fields)


async def test_payments_move_an_invoice_to_partially_paid_then_paid(api: Api) -> None:
    invoice = await _invoice(api, amount=10_000)
    response = await api.post(
        f"/api/v1/invoices/{invoice['id']}/payments",
        json={"amount": 4_000, "method": "card", "reference": "txn-1"},
    )
    assert response.status_code == 201
    payment = response.json()
    assert response.headers["location"] == f"/api/v1/payments/{payment['id']}"
    assert (payment["amount"], payment["currency"], payment["method"]) == (4_000, "MXN", "card")
    assert (payment["invoice_id"], payment["reference"]) == (invoice["id"], "txn-1")
    assert payment["paid_at"] == "2026-11-24T12:00:00Z"

    partial = (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert (partial["status"], partial["amount_paid"], partial["amount_remaining"]) == (
        "PARTIALLY_PAID",
        4_000,
        6_000,
    )
    await api.payment(invoice["id"], amount=6_000, paid_at="2026-11-20T09:30:00-05:00")
    paid = (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert (paid["status"], paid["amount_remaining"]) == ("PAID", 0)
    assert [p["amount"] for p in paid["payments"]] == [4_000, 6_000]
    assert paid["payments"][1]["paid_at"] == "2026-11-20T14:30:00Z"


async def test_a_payment_larger_than_the_remaining_amount_is_refused_and_changes_nothing(
    api: Api,
) -> None:
    invoice = await _invoice(api, amount=10_000)
    await api.payment(invoice["id"], amount=9_000)
    response = await api.post(
        f"/api/v1/invoices/{invoice['id']}/payments", json={"amount": 1_001, "method": "cash"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "payment_exceeds_remaining"
    after = (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert (after["amount_paid"], len(after["payments"])) == (9_000, 1)


async def test_paid_and_cancelled_invoices_accept_no_payment(api: Api) -> None:
    paid = await _invoice(api, amount=100)
    await api.payment(paid["id"], amount=100)
    cancelled = await _invoice(api)
    await api.post(f"/api/v1/invoices/{cancelled['id']}/cancel")
    for invoice in (paid, cancelled):
        # invoice_not_payable comes before currency_mismatch and payment_exceeds_remaining.
        response = await api.post(
            f"/api/v1/invoices/{invoice['id']}/payments",
            json={"amount": 10**9, "method": "cash", "currency": "USD"},
        )
        assert response.status_code == 409
        assert response.json()["code"] == "invoice_not_payable"


async def test_a_payment_in_another_currency_is_refused_before_its_amount_is_checked(
    api: Api,
) -> None:
    invoice = await _invoice(api, amount=100)
    response = await api.post(
        f"/api/v1/invoices/{invoice['id']}/payments",
        json={"amount": 10**9, "method": "cash", "currency": "USD"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "currency_mismatch"
    same = await api.payment(invoice["id"], amount=100, currency="MXN")
    assert same["currency"] == "MXN"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 10.0},
        {"amount": "10"},
        {"amount": 0},
        {"method": "cheque"},
        {"method": None},
        {"currency": "ZZZ"},
        {"paid_at": "2026-11-24T12:00:06Z"},
        {"paid_at": "2026-11-24"},
        {"reference": ""},
        {"reference": "x" * 201},
        {"invoice_id": "x"},
    ],
)
async def test_invalid_payment_fields_are_refused(api: Api, body: dict[str, Any]) -> None:
    invoice = await _invoice(api)
    response = await api.post(
        f"/api/v1/invoices/{invoice['id']}/payments", json={"amount": 10, "method": "cash"} | body
    )
    assert response.status_code == 422, response.text
    assert (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()["payments"] == []


async def test_a_payment_can_be_read_and_listed_but_never_changed(api: Api) -> None:
    invoice = await _invoice(api)
    first = await api.payment(invoice["id"], amount=10)
    second = await api.payment(invoice["id"], amount=20)
    assert (await api.get(f"/api/v1/payments/{first['id']}")).json() == first
    listed = await api.get(f"/api/v1/invoices/{invoice['id']}/payments?limit=1")
    assert [p["id"] for p in listed.json()["data"]] == [first["id"]]
    rest = await api.get(
        f"/api/v1/invoices/{invoice['id']}/payments?cursor={listed.json()['next_cursor']}"
    )
    assert [p["id"] for p in rest.json()["data"]] == [second["id"]]
    for method in ("PATCH", "PUT", "DELETE"):
        response = await api.request(method, f"/api/v1/payments/{first['id']}", json={"amount": 1})
        assert response.status_code == 405, method
        assert response.json()["code"] == "method_not_allowed"
    assert (await api.get(f"/api/v1/payments/{first['id']}")).json() == first


async def test_payments_of_a_missing_invoice_are_not_found(api: Api) -> None:
    missing = "01a20c0e-3763-70c0-8427-b70767570684"
    path = f"/api/v1/invoices/{missing}/payments"
    assert (await api.get(path)).status_code == 404
    assert (await api.post(path, json={"amount": 1, "method": "cash"})).status_code == 404
    assert (await api.get(f"/api/v1/payments/{missing}")).status_code == 404
