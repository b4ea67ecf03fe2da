"""Refunds, credit notes, student payments and credit through the API, on PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api


async def _invoice(api: Api, amount: int = 100_000, **fields: Any) -> dict[str, Any]:
    school = await api.school()
    student = await api.student(school["id"])
    return await api.invoice(student["id"], amount=amount, **fields)


async def _read(api: Api, path: str) -> dict[str, Any]:
    response = await api.get(path)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


# -- refunds -------------------------------------------------------------------------------------


async def test_a_full_refund_moves_a_paid_invoice_back_to_pending(api: Api) -> None:
    invoice = await _invoice(api, amount=10_000)
    payment = await api.payment(invoice["id"], amount=10_000)
    response = await api.post(f"/api/v1/payments/{payment['id']}/refunds", json={})
    assert response.status_code == 201, response.text
    refund = response.json()
    assert response.headers["location"] == f"/api/v1/refunds/{refund['id']}"
    assert (refund["amount"], refund["currency"], refund["reason"]) == (10_000, "MXN", None)
    after = await _read(api, f"/api/v1/invoices/{invoice['id']}")
    assert (after["status"], after["amount_paid"], after["amount_remaining"]) == (
        "PENDING",
        0,
        10_000,
    )
    assert after["payments"][0]["amount_refunded"] == 10_000
    shown = await _read(api, f"/api/v1/payments/{payment['id']}")
    assert shown["amount_refunded"] == 10_000
    assert [r["id"] for r in shown["refunds"]] == [refund["id"]]
    assert await _read(api, f"/api/v1/refunds/{refund['id']}") == refund


async def test_a_partial_refund_leaves_the_invoice_partially_paid(api: Api) -> None:
    invoice = await _invoice(api, amount=10_000)
    payment = await api.payment(invoice["id"], amount=10_000)
    response = await api.post(
        f"/api/v1/payments/{payment['id']}/refunds", json={"amount": 2_500, "reason": "Overcharge"}
    )
    assert response.status_code == 201, response.text
    after = await _read(api, f"/api/v1/invoices/{invoice['id']}")
    assert (after["status"], after["amount_paid"], after["amount_remaining"]) == (
        "PARTIALLY_PAID",
        7_500,
        2_500,
    )
    listed = await _read(api, f"/api/v1/payments/{payment['id']}/refunds")
    assert [r["amount"] for r in listed["data"]] == [2_500]


async def test_more_than_the_refundable_rest_is_refused_and_changes_nothing(api: Api) -> None:
    invoice = await _invoice(api, amount=10_000)
    payment = await api.payment(invoice["id"], amount=4_000)
    await api.post(f"/api/v1/payments/{payment['id']}/refunds", json={"amount": 3_000})
    response = await api.post(f"/api/v1/payments/{payment['id']}/refunds", json={"amount": 1_001})
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "refund_exceeds_payment"
    assert "10.00 MXN" in problem["detail"]
    assert (await _read(api, f"/api/v1/payments/{payment['id']}"))["amount_refunded"] == 3_000
    await api.post(f"/api/v1/payments/{payment['id']}/refunds", json={})
    again = await api.post(f"/api/v1/payments/{payment['id']}/refunds", json={})
    assert (again.status_code, again.json()["code"]) == (409, "refund_exceeds_payment")


async def test_a_refund_dated_before_its_payment_is_a_validation_error(api: Api) -> None:
    invoice = await _invoice(api)
    payment = await api.payment(invoice["id"], paid_at="2026-11-20T10:00:00Z")
    response = await api.post(
        f"/api/v1/payments/{payment['id']}/refunds", json={"refunded_at": "2026-11-19T10:00:00Z"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "refunded_at"]


async def test_a_fully_refunded_invoice_may_be_cancelled(api: Api) -> None:
    invoice = await _invoice(api, amount=10_000)
    payment = await api.payment(invoice["id"], amount=6_000)
    refused = await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")
    assert (refused.status_code, refused.json()["code"]) == (409, "invoice_has_payments")
    await api.post(f"/api/v1/payments/{payment['id']}/refunds", json={})
    cancelled = await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED")


# -- credit notes --------------------------------------------------------------------------------


async def test_a_credit_note_can_settle_an_invoice_without_money(api: Api) -> None:
    invoice = await _invoice(api, amount=10_000)
    await api.payment(invoice["id"], amount=4_000)
    response = await api.post(
        f"/api/v1/invoices/{invoice['id']}/credit-notes",
        json={"amount": 6_000, "reason": "Scholarship"},
    )
    assert response.status_code == 201, response.text
    note = response.json()
    assert response.headers["location"] == f"/api/v1/credit-notes/{note['id']}"
    after = await _read(api, f"/api/v1/invoices/{invoice['id']}")
    assert (after["status"], after["amount_paid"], after["amount_credited"]) == (
        "PAID",
        4_000,
        6_000,
    )
    assert after["amount_remaining"] == 0
    assert [n["id"] for n in after["credit_notes"]] == [note["id"]]
    assert await _read(api, f"/api/v1/credit-notes/{note['id']}") == note
    listed = await _read(api, f"/api/v1/invoices/{invoice['id']}/credit-notes")
    assert [n["id"] for n in listed["data"]] == [note["id"]]


async def test_credit_note_refusals_come_in_the_contract_s_order(api: Api) -> None:
    invoice = await _invoice(api, amount=10_000)
    path = f"/api/v1/invoices/{invoice['id']}/credit-notes"
    too_much = await api.post(path, json={"amount": 10_001, "reason": "Discount"})
    assert (too_much.status_code, too_much.json()["code"]) == (409, "credit_exceeds_remaining")
    await api.post(path, json={"amount": 10_000, "reason": "Waived"})
    settled = await api.post(path, json={"amount": 10_001, "reason": "Discount"})
    assert (settled.status_code, settled.json()["code"]) == (409, "invoice_not_creditable")
    no_reason = await api.post(path, json={"amount": 1})
    assert no_reason.status_code == 422
    early = await api.post(
        path, json={"amount": 1, "reason": "x", "issued_at": "2000-01-01T00:00:00Z"}
    )
    assert early.status_code == 422


# -- student payments and credit -----------------------------------------------------------------


async def test_a_student_payment_pays_the_earliest_due_first_and_keeps_the_rest(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    later = await api.invoice(student["id"], amount=5_000, due_date="2026-12-20")
    earlier = await api.invoice(student["id"], amount=3_000, due_date="2026-12-10")
    response = await api.post(
        f"/api/v1/students/{student['id']}/payments",
        json={"amount": 10_000, "currency": "MXN", "method": "bank_transfer"},
    )
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert response.headers["location"] == f"/api/v1/receipts/{receipt['id']}"
    assert [(p["invoice_id"], p["amount"]) for p in receipt["payments"]] == [
        (earlier["id"], 3_000),
        (later["id"], 5_000),
    ]
    assert {p["receipt_id"] for p in receipt["payments"]} == {receipt["id"]}
    assert receipt["credited_to_balance"] == 2_000
    assert await _read(api, f"/api/v1/receipts/{receipt['id']}") == receipt
    credit = await _read(api, f"/api/v1/students/{student['id']}/credit")
    assert credit == {
        "student_id": student["id"],
        "balances": [{"currency": "MXN", "amount": 2_000}],
    }
    entries = (await _read(api, f"/api/v1/students/{student['id']}/credit/entries"))["data"]
    assert [(e["kind"], e["direction"], e["amount"], e["receipt_id"]) for e in entries] == [
        ("overpayment", "in", 2_000, receipt["id"])
    ]


async def test_credit_pays_an_invoice_and_never_goes_below_zero(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    await api.post(
        f"/api/v1/students/{student['id']}/payments",
        json={"amount": 3_000, "currency": "MXN", "method": "cash"},
    )
    invoice = await api.invoice(student["id"], amount=5_000)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    too_much = await api.post(path, json={"amount": 3_001, "method": "credit"})
    assert (too_much.status_code, too_much.json()["code"]) == (409, "insufficient_credit")
    dated = await api.post(
        path, json={"amount": 1, "method": "credit", "paid_at": "2026-11-20T10:00:00Z"}
    )
    assert dated.status_code == 422
    paid = await api.post(path, json={"amount": 3_000, "method": "credit"})
    assert paid.status_code == 201, paid.text
    assert (await _read(api, f"/api/v1/students/{student['id']}/credit"))["balances"] == []
    refund = await api.post(f"/api/v1/payments/{paid.json()['id']}/refunds", json={"amount": 500})
    assert refund.status_code == 201
    balances = (await _read(api, f"/api/v1/students/{student['id']}/credit"))["balances"]
    assert balances == [{"currency": "MXN", "amount": 500}]
    kinds = [
        e["kind"]
        for e in (await _read(api, f"/api/v1/students/{student['id']}/credit/entries"))["data"]
    ]
    assert kinds == ["overpayment", "applied", "refund_of_credit_payment"]


async def test_credit_is_paid_out_up_to_the_balance(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    await api.post(
        f"/api/v1/students/{student['id']}/payments",
        json={"amount": 1_000, "currency": "USD", "method": "card"},
    )
    path = f"/api/v1/students/{student['id']}/credit/payouts"
    refused = await api.post(path, json={"amount": 1_001, "currency": "USD"})
    assert (refused.status_code, refused.json()["code"]) == (409, "insufficient_credit")
    none_in_eur = await api.post(path, json={"amount": 1, "currency": "EUR"})
    assert (none_in_eur.status_code, none_in_eur.json()["code"]) == (409, "insufficient_credit")
    response = await api.post(path, json={"amount": 1_000, "currency": "USD", "reason": "Moved"})
    assert response.status_code == 201, response.text
    payout = response.json()
    assert await _read(api, f"/api/v1/credit-payouts/{payout['id']}") == payout
    assert (await _read(api, f"/api/v1/students/{student['id']}/credit"))["balances"] == []


async def test_a_student_payment_from_credit_is_refused(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    response = await api.post(
        f"/api/v1/students/{student['id']}/payments",
        json={"amount": 1_000, "currency": "MXN", "method": "credit"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "method"]


async def test_a_student_with_only_credit_is_archived_not_deleted(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    await api.post(
        f"/api/v1/students/{student['id']}/payments",
        json={"amount": 1_000, "currency": "MXN", "method": "cash"},
    )
    assert (await api.delete(f"/api/v1/students/{student['id']}")).status_code == 204
    assert (await _read(api, f"/api/v1/students/{student['id']}"))["status"] == "archived"


async def test_a_retried_refund_with_its_key_is_replayed_not_repeated(api: Api) -> None:
    invoice = await _invoice(api, amount=10_000)
    payment = await api.payment(invoice["id"], amount=10_000)
    path = f"/api/v1/payments/{payment['id']}/refunds"
    headers = {"Idempotency-Key": "refund-1"}
    first = await api.post(path, json={"amount": 100}, headers=headers)
    again = await api.post(path, json={"amount": 100}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert (await _read(api, f"/api/v1/payments/{payment['id']}"))["amount_refunded"] == 100
