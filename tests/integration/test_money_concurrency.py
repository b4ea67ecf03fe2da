"""Refunds, credit notes, student payments and credit under concurrency, on PostgreSQL and SQLite.

Every request of a race is sent at once; afterwards the acknowledged requests are counted and
the raw rows are checked against each other (tests/support/money_records.py), not only what the
API shows.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from tests.support.api import Api
from tests.support.money_records import broken_invariants, read_money_records


async def _student(api: Api) -> dict[str, Any]:
    school = await api.school()
    return await api.student(school["id"])


def _outcome(response: httpx.Response) -> tuple[int, str | None]:
    code = response.json().get("code") if response.status_code >= 400 else None
    return response.status_code, code


async def _credit_of(api: Api, student_id: str, amount: int, currency: str = "MXN") -> None:
    """Gives the student `amount` of credit: a student payment with no open invoice to pay."""
    response = await api.post(
        f"/api/v1/students/{student_id}/payments",
        json={"amount": amount, "currency": currency, "method": "cash"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["credited_to_balance"] == amount


async def test_forty_concurrent_refunds_of_a_tenth_each_refund_the_payment_exactly_once(
    api: Api, database_url: str
) -> None:
    student = await _student(api)
    invoice = await api.invoice(student["id"], amount=10_000)
    payment = await api.payment(invoice["id"], amount=10_000)
    path = f"/api/v1/payments/{payment['id']}/refunds"
    responses = await asyncio.gather(*(api.post(path, json={"amount": 1_000}) for _ in range(40)))
    assert Counter(_outcome(r) for r in responses) == {
        (201, None): 10,
        (409, "refund_exceeds_payment"): 30,
    }
    records = await read_money_records(database_url)
    assert broken_invariants(records) == []
    assert int(records.payment(payment["id"]).amount_refunded) == 10_000
    assert len(records.refunds) == 10
    row = records.invoice(invoice["id"])
    assert (row.status, int(row.amount_paid), int(row.amount_refunded)) == ("PENDING", 0, 10_000)


async def test_payments_refunds_and_credit_notes_racing_on_one_invoice_never_oversettle_it(
    api: Api, database_url: str
) -> None:
    student = await _student(api)
    invoice = await api.invoice(student["id"], amount=20_000)
    first = await api.payment(invoice["id"], amount=8_000)
    requests = [
        *(
            api.post(
                f"/api/v1/invoices/{invoice['id']}/payments",
                json={"amount": 1_500, "method": "card"},
            )
            for _ in range(10)
        ),
        *(
            api.post(f"/api/v1/payments/{first['id']}/refunds", json={"amount": 1_000})
            for _ in range(10)
        ),
        *(
            api.post(
                f"/api/v1/invoices/{invoice['id']}/credit-notes",
                json={"amount": 2_000, "reason": "Scholarship"},
            )
            for _ in range(10)
        ),
    ]
    responses = await asyncio.gather(*requests)
    outcomes = [_outcome(r) for r in responses]
    allowed = {
        (201, None),
        (409, "payment_exceeds_remaining"),
        (409, "invoice_not_payable"),
        (409, "refund_exceeds_payment"),
        (409, "credit_exceeds_remaining"),
        (409, "invoice_not_creditable"),
    }
    assert set(outcomes) <= allowed, Counter(outcomes)
    payments_made = sum(1 for r in responses[:10] if r.status_code == 201)
    refunds_made = sum(1 for r in responses[10:20] if r.status_code == 201)
    notes_made = sum(1 for r in responses[20:] if r.status_code == 201)
    assert refunds_made == 8  # nothing else ever touches the first payment's refundable rest
    records = await read_money_records(database_url)
    assert broken_invariants(records) == []
    row = records.invoice(invoice["id"])
    assert int(row.amount_paid) == 8_000 + 1_500 * payments_made - 1_000 * refunds_made
    assert int(row.amount_credited) == 2_000 * notes_made
    assert int(row.amount_paid) + int(row.amount_credited) <= 20_000
    assert (len(records.payments), len(records.refunds), len(records.credit_notes)) == (
        1 + payments_made,
        refunds_made,
        notes_made,
    )


async def test_thirty_concurrent_payments_from_credit_spend_exactly_the_balance(
    api: Api, database_url: str
) -> None:
    student = await _student(api)
    await _credit_of(api, student["id"], 10_000)
    invoice = await api.invoice(student["id"], amount=50_000)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    responses = await asyncio.gather(
        *(api.post(path, json={"amount": 1_000, "method": "credit"}) for _ in range(30))
    )
    assert Counter(_outcome(r) for r in responses) == {
        (201, None): 10,
        (409, "insufficient_credit"): 20,
    }
    credit = (await api.get(f"/api/v1/students/{student['id']}/credit")).json()
    assert credit["balances"] == []
    records = await read_money_records(database_url)
    assert broken_invariants(records) == []
    assert records.balance(student["id"], "MXN") == 0
    assert int(records.invoice(invoice["id"]).amount_paid) == 10_000


async def test_concurrent_payouts_never_overdraw_the_credit(api: Api, database_url: str) -> None:
    student = await _student(api)
    await _credit_of(api, student["id"], 5_000, "USD")
    path = f"/api/v1/students/{student['id']}/credit/payouts"
    responses = await asyncio.gather(
        *(api.post(path, json={"amount": 500, "currency": "USD"}) for _ in range(20))
    )
    assert Counter(_outcome(r) for r in responses) == {
        (201, None): 10,
        (409, "insufficient_credit"): 10,
    }
    records = await read_money_records(database_url)
    assert broken_invariants(records) == []
    assert records.balance(student["id"], "USD") == 0
    assert len(records.payouts) == 10


async def test_payouts_and_payments_from_credit_racing_share_the_balance_without_overdraft(
    api: Api, database_url: str
) -> None:
    student = await _student(api)
    await _credit_of(api, student["id"], 6_000)
    invoice = await api.invoice(student["id"], amount=50_000)
    requests = [
        request
        for _ in range(10)
        for request in (
            api.post(
                f"/api/v1/invoices/{invoice['id']}/payments",
                json={"amount": 700, "method": "credit"},
            ),
            api.post(
                f"/api/v1/students/{student['id']}/credit/payouts",
                json={"amount": 900, "currency": "MXN"},
            ),
        )
    ]
    responses = await asyncio.gather(*requests)
    assert {_outcome(r) for r in responses} <= {(201, None), (409, "insufficient_credit")}
    spent = sum(
        (700 if i % 2 == 0 else 900) for i, r in enumerate(responses) if r.status_code == 201
    )
    assert spent <= 6_000
    refused = [i for i, r in enumerate(responses) if r.status_code == 409]
    # A refusal was right: even the smaller of the two amounts no longer fitted at the end.
    assert not refused or 6_000 - spent < 900
    records = await read_money_records(database_url)
    assert broken_invariants(records) == []
    assert records.balance(student["id"], "MXN") == 6_000 - spent


async def test_concurrent_student_payments_for_one_student_never_pay_an_invoice_twice(
    api: Api, database_url: str
) -> None:
    student = await _student(api)
    invoices = [
        await api.invoice(student["id"], amount=amount, due_date=due)
        for amount, due in ((3_000, "2026-12-03"), (5_000, "2026-12-01"), (2_000, "2026-12-02"))
    ]
    path = f"/api/v1/students/{student['id']}/payments"
    responses = await asyncio.gather(
        *(
            api.post(path, json={"amount": 2_000, "currency": "MXN", "method": "cash"})
            for _ in range(8)
        )
    )
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    receipts = [r.json() for r in responses]
    assert sum(r["credited_to_balance"] for r in receipts) == 16_000 - 10_000
    records = await read_money_records(database_url)
    assert broken_invariants(records) == []
    for invoice in invoices:
        row = records.invoice(invoice["id"])
        assert (row.status, int(row.amount_paid)) == ("PAID", int(row.amount))
    shares = sum(int(p.amount) for p in records.payments if p.receipt_id is not None)
    credit_in = sum(int(e.amount) for e in records.credit_entries if e.direction == "in")
    assert sum(int(r.amount) for r in records.receipts) == shares + credit_in == 16_000
    assert records.balance(student["id"], "MXN") == 6_000


async def test_student_payments_racing_payments_and_credit_notes_never_oversettle_an_invoice(
    api: Api, database_url: str
) -> None:
    student = await _student(api)
    invoices = [await api.invoice(student["id"], amount=4_000) for _ in range(3)]
    requests = []
    for round_ in range(6):
        target = invoices[round_ % 3]["id"]
        requests += [
            api.post(
                f"/api/v1/students/{student['id']}/payments",
                json={"amount": 1_700, "currency": "MXN", "method": "card"},
            ),
            api.post(f"/api/v1/invoices/{target}/payments", json={"amount": 900, "method": "cash"}),
            api.post(
                f"/api/v1/invoices/{target}/credit-notes",
                json={"amount": 600, "reason": "Sibling discount"},
            ),
        ]
    responses = await asyncio.gather(*requests)
    assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses]
    assert all(r.status_code == 201 for r in responses[::3])  # a student payment never refuses
    records = await read_money_records(database_url)
    assert broken_invariants(records) == []
    receipts_total = sum(int(r.amount) for r in records.receipts)
    assert receipts_total == 6 * 1_700


async def test_deleting_a_student_while_student_payments_arrive_never_loses_a_payment(
    api: Api, database_url: str
) -> None:
    student = await _student(api)
    path = f"/api/v1/students/{student['id']}/payments"
    body = {"amount": 500, "currency": "MXN", "method": "cash"}
    results = await asyncio.gather(
        *(api.post(path, json=body) for _ in range(5)),
        api.delete(f"/api/v1/students/{student['id']}"),
        *(api.post(path, json=body) for _ in range(5)),
    )
    payments = results[:5] + results[6:]
    assert {r.status_code for r in payments} <= {201, 404}, [r.text for r in payments]
    accepted = sum(1 for r in payments if r.status_code == 201)
    found = await api.get(f"/api/v1/students/{student['id']}")
    if accepted:
        # The student had money with the school when removed (or got it before): archived.
        assert found.json()["status"] == "archived"
    else:
        assert found.status_code == 404
    records = await read_money_records(database_url)
    assert broken_invariants(records) == []
    assert len(records.receipts) == accepted
    assert records.balance(student["id"], "MXN") == 500 * accepted


async def test_deleting_a_student_while_payouts_are_asked_for_answers_each_payout_cleanly(
    api: Api,
) -> None:
    student = await _student(api)
    path = f"/api/v1/students/{student['id']}/credit/payouts"
    body = {"amount": 100, "currency": "MXN"}
    results = await asyncio.gather(
        *(api.post(path, json=body) for _ in range(5)),
        api.delete(f"/api/v1/students/{student['id']}"),
        *(api.post(path, json=body) for _ in range(5)),
    )
    assert results[5].status_code == 204
    payouts = results[:5] + results[6:]
    assert {_outcome(r) for r in payouts} <= {
        (409, "insufficient_credit"),
        (404, "not_found"),
    }, [r.text for r in payouts]
    assert (await api.get(f"/api/v1/students/{student['id']}")).status_code == 404


async def test_student_payments_racing_payments_and_refunds_from_credit_never_deadlock_or_overdraw(
    api: Api, database_url: str
) -> None:
    student = await _student(api)
    await _credit_of(api, student["id"], 6_000)
    invoices = [await api.invoice(student["id"], amount=5_000) for _ in range(2)]
    from_credit = [
        await api.payment(invoice["id"], amount=1_000, method="credit") for invoice in invoices
    ]
    requests = []
    for round_ in range(5):
        invoice, payment = invoices[round_ % 2], from_credit[round_ % 2]
        requests += [
            api.post(
                f"/api/v1/students/{student['id']}/payments",
                json={"amount": 1_500, "currency": "MXN", "method": "cash"},
            ),
            api.post(
                f"/api/v1/invoices/{invoice['id']}/payments",
                json={"amount": 800, "method": "credit"},
            ),
            api.post(f"/api/v1/payments/{payment['id']}/refunds", json={"amount": 300}),
            api.post(
                f"/api/v1/students/{student['id']}/credit/payouts",
                json={"amount": 700, "currency": "MXN"},
            ),
        ]
    responses = await asyncio.gather(*requests)
    assert {_outcome(r) for r in responses} <= {
        (201, None),
        (409, "insufficient_credit"),
        (409, "payment_exceeds_remaining"),
        (409, "invoice_not_payable"),
        (409, "refund_exceeds_payment"),
    }, [r.text for r in responses if r.status_code not in (201, 409)]
    assert all(r.status_code == 201 for r in responses[::4])
    records = await read_money_records(database_url)
    assert broken_invariants(records) == []
    assert records.balance(student["id"], "MXN") >= 0
