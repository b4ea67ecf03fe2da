"""Every refusal of the money lifecycle's routes, in the contract's order of checks, and their
idempotent retries, on PostgreSQL and SQLite.

Order (contract v1): 401 → 403 → 400 → 422 → 404 → 409; v1.1 puts the checks that need the target
record (`refunded_at` against the payment's `paid_at`, `issued_at` against the invoice's) after its
404 and before any 409.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.api import Api

MISSING = "01a20c0e-3763-70c0-8427-b70767570684"


@dataclass
class Money:
    """A school with one student holding 5,000 MXN of credit, an open invoice of 10,000 MXN
    with a cash payment of 4,000 made on 20 November."""

    school_id: str
    student_id: str
    invoice_id: str
    payment_id: str


async def _money(api: Api) -> Money:
    school = await api.school()
    student = await api.student(school["id"])
    receipt = await api.post(
        f"/api/v1/students/{student['id']}/payments",
        json={"amount": 5_000, "currency": "MXN", "method": "cash"},
    )
    assert receipt.status_code == 201, receipt.text
    invoice = await api.invoice(student["id"], amount=10_000, issued_at="2026-11-19T10:00:00Z")
    payment = await api.payment(invoice["id"], amount=4_000, paid_at="2026-11-20T10:00:00Z")
    return Money(school["id"], student["id"], invoice["id"], payment["id"])


def _code(response: httpx.Response) -> tuple[int, str | None]:
    return response.status_code, response.json().get("code")


async def _read(api: Api, path: str) -> dict[str, Any]:
    response = await api.get(path)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


# Each new creating route: its path on a given resource id, a valid body and an invalid one.
ROUTES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "refund": ("/api/v1/payments/{}/refunds", {"amount": 100}, {"amount": 0}),
    "credit note": (
        "/api/v1/invoices/{}/credit-notes",
        {"amount": 100, "reason": "Aid"},
        {"amount": 100},
    ),
    "student payment": (
        "/api/v1/students/{}/payments",
        {"amount": 100, "currency": "MXN", "method": "cash"},
        {"amount": 100, "currency": "MXN", "method": "credit"},
    ),
    "payout": (
        "/api/v1/students/{}/credit/payouts",
        {"amount": 100, "currency": "MXN"},
        {"amount": 100, "currency": "MXN", "reason": ""},
    ),
    "payment from credit": (
        "/api/v1/invoices/{}/payments",
        {"amount": 100, "method": "credit"},
        {"amount": 100, "method": "credit", "paid_at": "2026-11-20T10:00:00Z"},
    ),
}


def _target(money: Money, route: str) -> str:
    return {
        "refund": money.payment_id,
        "credit note": money.invoice_id,
        "student payment": money.student_id,
        "payout": money.student_id,
        "payment from credit": money.invoice_id,
    }[route]


@pytest.mark.parametrize("route", list(ROUTES))
async def test_each_route_checks_key_then_json_then_body_then_target(api: Api, route: str) -> None:
    money = await _money(api)
    template, valid, invalid = ROUTES[route]
    missing = template.format(MISSING)
    assert _code(await api.post(missing, key="", content=b"{bad")) == (401, "unauthenticated")
    assert _code(await api.post(missing, content=b"{bad")) == (400, "malformed_json")
    assert _code(await api.post(missing, json=invalid)) == (422, "validation_error")
    assert _code(await api.post(missing, json=valid)) == (404, "not_found")
    other_school = await api.school(name="Otro")
    other_key = await api.school_key(other_school["id"])
    theirs = template.format(_target(money, route))
    assert _code(await api.post(theirs, json=valid, key=other_key)) == (404, "not_found")
    assert _code(await api.post(theirs, json=invalid)) == (422, "validation_error")
    assert (await api.post(theirs, json=valid)).status_code == 201


INVALID_CHANGES: list[dict[str, Any]] = [
    {"amount": 100.0},
    {"amount": 0},
    {"amount": "100"},
    {"amount": True},
    {"amount": -1},
    {"amount": 10**12 + 1},
    {"surprise": 1},
]


@pytest.mark.parametrize("route", list(ROUTES))
async def test_an_invalid_amount_or_an_unknown_field_is_a_validation_error(
    api: Api, route: str
) -> None:
    money = await _money(api)
    template, valid, _ = ROUTES[route]
    path = template.format(_target(money, route))
    before = await _effects(api, money)
    for change in INVALID_CHANGES:
        response = await api.post(path, json={**valid, **change})
        assert _code(response) == (422, "validation_error"), (change, response.text)
    raw = json.dumps({**valid, "amount": "AMOUNT"}).replace('"AMOUNT"', "1e2").encode()
    exponent = await api.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert _code(exponent) == (422, "validation_error"), exponent.text
    assert await _effects(api, money) == before


async def test_text_fields_of_refunds_credit_notes_and_payouts_keep_their_bounds(api: Api) -> None:
    money = await _money(api)
    refunds = f"/api/v1/payments/{money.payment_id}/refunds"
    notes = f"/api/v1/invoices/{money.invoice_id}/credit-notes"
    payouts = f"/api/v1/students/{money.student_id}/credit/payouts"
    for path, body in (
        (refunds, {"amount": 1, "reason": ""}),
        (refunds, {"amount": 1, "reason": "x" * 501}),
        (notes, {"amount": 1, "reason": "   "}),
        (notes, {"amount": 1, "reason": "x" * 501}),
        (payouts, {"amount": 1, "currency": "MXN", "reason": "x" * 501}),
        (payouts, {"amount": 1, "currency": "MXN", "reference": ""}),
        (payouts, {"amount": 1, "currency": "MXN", "reference": "x" * 256}),
        (payouts, {"amount": 1, "currency": "ZZZ"}),
        (payouts, {"amount": 1}),
    ):
        assert _code(await api.post(path, json=body)) == (422, "validation_error"), body
    longest = {"amount": 1, "currency": "MXN", "reason": "r" * 500, "reference": "f" * 255}
    accepted = await api.post(payouts, json=longest)
    assert accepted.status_code == 201, accepted.text
    assert (accepted.json()["reason"], accepted.json()["reference"]) == ("r" * 500, "f" * 255)
    assert (await api.post(notes, json={"amount": 1, "reason": "r" * 500})).status_code == 201


async def test_a_student_payment_needs_a_known_currency_and_a_method_other_than_credit(
    api: Api,
) -> None:
    money = await _money(api)
    path = f"/api/v1/students/{money.student_id}/payments"
    for body in (
        {"amount": 100, "method": "cash"},
        {"amount": 100, "currency": "ZZZ", "method": "cash"},
        {"amount": 100, "currency": "MXN", "method": "credit"},
        {"amount": 100, "currency": "MXN", "method": "cheque"},
        {"amount": 100, "currency": "MXN", "method": "cash", "paid_at": "2999-01-01T00:00:00Z"},
    ):
        assert _code(await api.post(path, json=body)) == (422, "validation_error"), body
    assert (await _read(api, f"/api/v1/students/{money.student_id}/credit"))["balances"] == [
        {"currency": "MXN", "amount": 5_000}
    ]


# -- refunds -------------------------------------------------------------------------------------


async def test_a_refund_dated_before_its_payment_is_judged_after_the_404_and_before_the_409(
    api: Api,
) -> None:
    money = await _money(api)
    early = {"amount": 999_999, "refunded_at": "2026-11-19T10:00:00Z"}
    missing = await api.post(f"/api/v1/payments/{MISSING}/refunds", json=early)
    assert _code(missing) == (404, "not_found")
    response = await api.post(f"/api/v1/payments/{money.payment_id}/refunds", json=early)
    assert _code(response) == (422, "validation_error")
    assert response.json()["errors"][0]["loc"] == ["body", "refunded_at"]
    too_much = {"amount": 4_001, "refunded_at": "2026-11-20T10:00:00Z"}
    refused = await api.post(f"/api/v1/payments/{money.payment_id}/refunds", json=too_much)
    assert _code(refused) == (409, "refund_exceeds_payment")


async def test_a_refund_dated_in_the_future_is_a_validation_error_even_for_a_missing_payment(
    api: Api,
) -> None:
    future = {"refunded_at": "2999-01-01T00:00:00Z"}
    response = await api.post(f"/api/v1/payments/{MISSING}/refunds", json=future)
    assert _code(response) == (422, "validation_error")


# -- credit notes --------------------------------------------------------------------------------


async def test_a_credit_note_dated_before_its_invoice_is_judged_before_the_invoice_s_state(
    api: Api,
) -> None:
    money = await _money(api)
    path = f"/api/v1/invoices/{money.invoice_id}/credit-notes"
    settle = await api.post(path, json={"amount": 6_000, "reason": "Aid"})
    assert settle.status_code == 201, settle.text
    early = {"amount": 1, "reason": "Late", "issued_at": "2026-11-18T10:00:00Z"}
    assert _code(await api.post(path, json=early)) == (422, "validation_error")
    assert _code(await api.post(path, json={"amount": 1, "reason": "More"})) == (
        409,
        "invoice_not_creditable",
    )


async def test_a_cancelled_invoice_takes_no_credit_note_however_small(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=1_000)
    assert (await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")).status_code == 200
    response = await api.post(
        f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"amount": 1, "reason": "Aid"}
    )
    assert _code(response) == (409, "invoice_not_creditable")


async def test_an_invoice_settled_by_a_credit_note_alone_may_be_cancelled(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=1_000)
    await api.post(
        f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"amount": 1_000, "reason": "Aid"}
    )
    assert (await _read(api, f"/api/v1/invoices/{invoice['id']}"))["status"] == "PAID"
    cancelled = await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED")
    assert cancelled.json()["amount_remaining"] == 0


# -- payments from credit ------------------------------------------------------------------------


async def test_a_payment_from_credit_meets_the_invoice_s_refusals_before_insufficient_credit(
    api: Api,
) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=1_000)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    mismatch = {"amount": 1, "method": "credit", "currency": "USD"}
    assert _code(await api.post(path, json=mismatch)) == (409, "currency_mismatch")
    too_much = {"amount": 1_001, "method": "credit"}
    assert _code(await api.post(path, json=too_much)) == (409, "payment_exceeds_remaining")
    assert _code(await api.post(path, json={"amount": 1_000, "method": "credit"})) == (
        409,
        "insufficient_credit",
    )
    await api.payment(invoice["id"], amount=1_000)
    assert _code(await api.post(path, json={"amount": 1, "method": "credit"})) == (
        409,
        "invoice_not_payable",
    )


async def test_credit_in_another_currency_does_not_pay_an_invoice(api: Api) -> None:
    money = await _money(api)
    invoice = await api.invoice(money.student_id, amount=1_000, currency="USD")
    response = await api.post(
        f"/api/v1/invoices/{invoice['id']}/payments", json={"amount": 1, "method": "credit"}
    )
    assert _code(response) == (409, "insufficient_credit")
    assert (await _read(api, f"/api/v1/invoices/{invoice['id']}"))["amount_paid"] == 0


# -- archived students ---------------------------------------------------------------------------


async def test_an_archived_student_still_pays_and_is_paid_out(api: Api) -> None:
    money = await _money(api)
    assert (await api.delete(f"/api/v1/students/{money.student_id}")).status_code == 204
    assert (await _read(api, f"/api/v1/students/{money.student_id}"))["status"] == "archived"
    paid = await api.post(
        f"/api/v1/students/{money.student_id}/payments",
        json={"amount": 7_000, "currency": "MXN", "method": "card"},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["credited_to_balance"] == 1_000
    payout = await api.post(
        f"/api/v1/students/{money.student_id}/credit/payouts",
        json={"amount": 6_000, "currency": "MXN"},
    )
    assert payout.status_code == 201, payout.text
    assert (await _read(api, f"/api/v1/students/{money.student_id}/credit"))["balances"] == []


# -- idempotent retries --------------------------------------------------------------------------


async def _effects(api: Api, money: Money) -> tuple[Any, ...]:
    """What any of the new POSTs could have changed."""
    invoice = await _read(api, f"/api/v1/invoices/{money.invoice_id}")
    credit = await _read(api, f"/api/v1/students/{money.student_id}/credit/entries?limit=200")
    return (
        [(p["id"], p["amount_refunded"]) for p in invoice["payments"]],
        [n["id"] for n in invoice["credit_notes"]],
        [e["id"] for e in credit["data"]],
        invoice["amount_paid"],
    )


@pytest.mark.parametrize("route", list(ROUTES))
async def test_a_retry_with_the_same_key_and_body_replays_the_response_and_acts_once(
    api: Api, route: str
) -> None:
    money = await _money(api)
    template, valid, _ = ROUTES[route]
    path = template.format(_target(money, route))
    key = {"Idempotency-Key": f"retry-{route}"}
    first = await api.post(path, json=valid, headers=key)
    assert first.status_code == 201, first.text
    after_first = await _effects(api, money)
    again = await api.post(path, json=dict(reversed(list(valid.items()))), headers=key)
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert await _effects(api, money) == after_first
    other = await api.post(path, json={**valid, "amount": 101}, headers=key)
    assert _code(other) == (422, "idempotency_key_reused")
    assert await _effects(api, money) == after_first


RefusedBy = Callable[[Api, Money], Awaitable[tuple[str, dict[str, Any]]]]


async def _an_over_refund(api: Api, money: Money) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/payments/{money.payment_id}/refunds", {"amount": 4_001}


async def _an_over_credit(api: Api, money: Money) -> tuple[str, dict[str, Any]]:
    body = {"amount": 6_001, "reason": "Aid"}
    return f"/api/v1/invoices/{money.invoice_id}/credit-notes", body


async def _an_over_payout(api: Api, money: Money) -> tuple[str, dict[str, Any]]:
    body = {"amount": 5_001, "currency": "MXN"}
    return f"/api/v1/students/{money.student_id}/credit/payouts", body


async def _an_over_credit_payment(api: Api, money: Money) -> tuple[str, dict[str, Any]]:
    body = {"amount": 5_001, "method": "credit"}
    return f"/api/v1/invoices/{money.invoice_id}/payments", body


@pytest.mark.parametrize(
    "refused_by",
    [_an_over_refund, _an_over_credit, _an_over_payout, _an_over_credit_payment],
    ids=["refund", "credit note", "payout", "payment from credit"],
)
async def test_a_business_refusal_is_replayed_for_its_key_and_changes_nothing(
    api: Api, refused_by: RefusedBy
) -> None:
    money = await _money(api)
    path, body = await refused_by(api, money)
    key = {"Idempotency-Key": "refused-once"}
    first = await api.post(path, json=body, headers=key)
    assert first.status_code == 409, first.text
    before = await _effects(api, money)
    again = await api.post(path, json=body, headers=key)
    assert (again.status_code, again.content) == (409, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert await _effects(api, money) == before


async def test_insufficient_credit_is_replayed_after_credit_arrives(api: Api) -> None:
    money = await _money(api)
    path = f"/api/v1/students/{money.student_id}/credit/payouts"
    body = {"amount": 6_000, "currency": "MXN"}
    key = {"Idempotency-Key": "payout-1"}
    first = await api.post(path, json=body, headers=key)
    assert _code(first) == (409, "insufficient_credit")
    topped_up = await api.post(
        f"/api/v1/students/{money.student_id}/payments",
        json={"amount": 20_000, "currency": "MXN", "method": "cash"},
    )
    assert topped_up.status_code == 201
    again = await api.post(path, json=body, headers=key)
    assert (again.status_code, again.content) == (409, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    fresh = await api.post(path, json=body, headers={"Idempotency-Key": "payout-2"})
    assert fresh.status_code == 201, fresh.text
