"""Invoices: issuing, reading as of the school's today, filtering, revising and cancelling."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from tests.support.clock import FixedClock


async def _student(api: Api, **school: Any) -> dict[str, Any]:
    created = await api.school(**school)
    return await api.student(created["id"])


async def test_issuing_an_invoice_returns_it_with_no_payments_and_its_location(api: Api) -> None:
    student = await _student(api, default_currency="MXN")
    response = await api.post(
        f"/api/v1/students/{student['id']}/invoices",
        json={"amount": 150_000, "due_date": "2026-12-10", "description": "December"},
    )
    assert response.status_code == 201
    invoice = response.json()
    assert response.headers["location"] == f"/api/v1/invoices/{invoice['id']}"
    assert invoice["currency"] == "MXN"  # the school's default
    assert (invoice["amount"], invoice["amount_paid"], invoice["amount_remaining"]) == (
        150_000,
        0,
        150_000,
    )
    assert (invoice["status"], invoice["days_overdue"], invoice["payments"]) == ("PENDING", 0, [])
    assert invoice["issued_at"] == "2026-11-24T12:00:00Z"  # the (fixed) current instant


async def test_an_invoice_without_currency_needs_a_school_default(api: Api) -> None:
    student = await _student(api, default_currency=None)
    response = await api.post(
        f"/api/v1/students/{student['id']}/invoices",
        json={"amount": 5000, "due_date": "2026-12-10", "description": "Fee"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "currency"]
    assert (await api.invoice(student["id"], currency="JPY", amount=5000))["currency"] == "JPY"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 150000.0},
        {"amount": "150000"},
        {"amount": True},
        {"amount": 0},
        {"amount": -1},
        {"amount": 10**12 + 1},
        {"amount": 10**30},
        {"currency": "XXX"},
        {"due_date": "2026-13-01"},
        {"due_date": "01/12/2026"},
        {"due_date": 20261201},
        {"description": ""},
        {"description": "   "},
        {"description": "x" * 501},
        {"issued_at": "2026-11-24T12:01:00Z"},
        {"issued_at": "yesterday"},
        {"amount_paid": 5},
    ],
)
async def test_invalid_invoice_fields_are_refused(api: Api, body: dict[str, Any]) -> None:
    student = await _student(api)
    valid = {"amount": 1000, "due_date": "2026-12-01", "description": "Fee"}
    response = await api.post(f"/api/v1/students/{student['id']}/invoices", json=valid | body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    listed = await api.get(f"/api/v1/students/{student['id']}/invoices")
    assert listed.json()["data"] == []


async def test_an_amount_written_with_an_exponent_is_a_float_and_refused(api: Api) -> None:
    student = await _student(api)
    for amount in (b"1.5e5", b"1E3", b"150000.0"):
        raw = b'{"amount": ' + amount + b', "due_date": "2026-12-01", "description": "Fee"}'
        response = await api.post(
            f"/api/v1/students/{student['id']}/invoices",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, amount
        assert response.json()["errors"][0]["loc"] == ["body", "amount"]


async def test_a_few_seconds_of_client_clock_skew_are_tolerated(api: Api) -> None:
    student = await _student(api)
    invoice = await api.invoice(student["id"], issued_at="2026-11-24T12:00:04Z")
    assert invoice["issued_at"] == "2026-11-24T12:00:04Z"
    naive = await api.invoice(student["id"], issued_at="2026-11-24T06:00:00")
    assert naive["issued_at"] == "2026-11-24T06:00:00Z"  # no offset means UTC


async def test_an_invoice_due_before_today_reads_overdue_and_one_due_today_does_not(
    api: Api,
) -> None:
    student = await _student(api)
    late = await api.invoice(student["id"], due_date="2026-11-20")
    today = await api.invoice(student["id"], due_date="2026-11-24")
    assert (late["status"], late["days_overdue"]) == ("OVERDUE", 4)
    assert (today["status"], today["days_overdue"]) == ("PENDING", 0)
    read = (await api.get(f"/api/v1/invoices/{late['id']}")).json()
    assert read["status"] == "OVERDUE"


async def test_overdue_is_judged_on_the_schools_own_calendar_day(
    api: Api, clock: FixedClock
) -> None:
    # 2026-11-24T12:00Z is already the 25th in Kiritimati (UTC+14) and still the 24th in
    # Pago Pago (UTC−11): an invoice due on the 24th is late in the first, not the second.
    east = await _student(api, timezone="Pacific/Kiritimati")
    west = await _student(api, timezone="Pacific/Pago_Pago")
    assert (await api.invoice(east["id"], due_date="2026-11-24"))["status"] == "OVERDUE"
    assert (await api.invoice(west["id"], due_date="2026-11-24"))["status"] == "PENDING"


async def test_invoices_are_filtered_by_how_they_read_today(api: Api) -> None:
    student = await _student(api)
    pending = await api.invoice(student["id"], due_date="2026-12-01")
    overdue = await api.invoice(student["id"], due_date="2026-11-01")
    partial = await api.invoice(student["id"], due_date="2026-12-01")
    await api.payment(partial["id"], amount=1000)
    paid = await api.invoice(student["id"], due_date="2026-12-01", amount=1000)
    await api.payment(paid["id"], amount=1000)
    cancelled = await api.invoice(student["id"])
    await api.post(f"/api/v1/invoices/{cancelled['id']}/cancel")

    expected = {
        "PENDING": [pending["id"]],
        "OVERDUE": [overdue["id"]],
        "PARTIALLY_PAID": [partial["id"]],
        "PAID": [paid["id"]],
        "CANCELLED": [cancelled["id"]],
    }
    for status, ids in expected.items():
        response = await api.get(f"/api/v1/students/{student['id']}/invoices?status={status}")
        assert [i["id"] for i in response.json()["data"]] == ids, status
        assert all("payments" not in i for i in response.json()["data"])
    everything = await api.get(f"/api/v1/students/{student['id']}/invoices")
    assert len(everything.json()["data"]) == 5
    bad = await api.get(f"/api/v1/students/{student['id']}/invoices?status=LATE")
    assert bad.status_code == 422


async def test_a_schools_invoices_can_be_narrowed_to_one_student(api: Api) -> None:
    school = await api.school()
    first = await api.student(school["id"])
    second = await api.student(school["id"])
    mine = await api.invoice(first["id"])
    await api.invoice(second["id"])
    path = f"/api/v1/schools/{school['id']}/invoices"
    assert len((await api.get(path)).json()["data"]) == 2
    narrowed = (await api.get(f"{path}?student_id={first['id']}")).json()["data"]
    assert [i["id"] for i in narrowed] == [mine["id"]]
    assert (await api.get(f"{path}?student_id=nope")).status_code == 422


async def test_description_and_due_date_can_be_revised_but_not_the_amount(api: Api) -> None:
    student = await _student(api)
    invoice = await api.invoice(student["id"])
    path = f"/api/v1/invoices/{invoice['id']}"
    revised = await api.patch(path, json={"description": "Uniform", "due_date": "2026-11-01"})
    assert revised.status_code == 200
    assert (revised.json()["description"], revised.json()["status"]) == ("Uniform", "OVERDUE")
    assert revised.json()["payments"] == []
    for body in ({"amount": 1}, {"currency": "USD"}, {"due_date": None}):
        assert (await api.patch(path, json=body)).status_code == 422, body
    assert (await api.get(path)).json()["amount"] == invoice["amount"]


async def test_a_paid_invoice_can_no_longer_be_revised(api: Api) -> None:
    student = await _student(api)
    invoice = await api.invoice(student["id"], amount=500)
    await api.payment(invoice["id"], amount=500)
    response = await api.patch(f"/api/v1/invoices/{invoice['id']}", json={"description": "x"})
    assert response.status_code == 409
    assert response.json()["code"] == "invoice_not_editable"


async def test_cancelling_is_allowed_once_without_payments_and_repeats_harmlessly(api: Api) -> None:
    student = await _student(api)
    invoice = await api.invoice(student["id"], due_date="2026-11-01")
    first = await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")
    assert first.status_code == 200
    cancelled = first.json()
    assert (cancelled["status"], cancelled["amount_remaining"], cancelled["days_overdue"]) == (
        "CANCELLED",
        0,
        0,
    )
    assert cancelled["cancelled_at"] == "2026-11-24T12:00:00Z"
    again = await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")
    assert again.status_code == 200
    assert again.json() == cancelled


async def test_an_invoice_with_payments_cannot_be_cancelled(api: Api) -> None:
    student = await _student(api)
    invoice = await api.invoice(student["id"])
    await api.payment(invoice["id"], amount=1)
    response = await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")
    assert response.status_code == 409
    assert response.json()["code"] == "invoice_has_payments"


async def test_invoices_of_missing_things_are_not_found(api: Api) -> None:
    missing = "01a20c0e-3763-70c0-8427-b70767570684"
    for path in (
        f"/api/v1/invoices/{missing}",
        f"/api/v1/students/{missing}/invoices",
        f"/api/v1/schools/{missing}/invoices",
        "/api/v1/invoices/xyz",
    ):
        assert (await api.get(path)).status_code == 404, path
    for path in (f"/api/v1/invoices/{missing}/cancel",):
        assert (await api.post(path)).status_code == 404
