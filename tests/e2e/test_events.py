"""The event outbox through the API, on PostgreSQL and SQLite: every acknowledged change has its
events, in order, showing the resource as the API showed it; a refused one has none."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api
from tests.support.clock import FixedClock


async def _events(api: Api, query: str = "", key: str | None = None) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/events?limit=200{query}", headers=api.headers(key))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


async def test_each_change_records_its_events_in_order_with_the_resource_as_shown(
    api: Api,
) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=10_000)
    payment = await api.payment(invoice["id"], amount=10_000)
    events = await _events(api)
    assert _types(events) == [
        "student.created",
        "invoice.created",
        "payment.recorded",
        "invoice.paid",
    ]
    assert events[0]["data"]["object"] == student
    assert events[1]["data"]["object"] == {
        k: v for k, v in invoice.items() if k not in ("payments", "credit_notes")
    }
    assert events[2]["data"]["object"] == payment
    paid = events[3]["data"]["object"]
    assert (paid["status"], paid["amount_paid"], paid["amount_remaining"]) == ("PAID", 10_000, 0)
    assert {event["school_id"] for event in events} == {school["id"]}
    assert len({event["id"] for event in events}) == 4
    one = await api.get(f"/api/v1/events/{events[2]['id']}")
    assert one.status_code == 200
    assert one.json() == events[2]


async def test_a_refused_write_records_no_event(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=10_000)
    before = await _events(api)
    response = await api.post(
        f"/api/v1/invoices/{invoice['id']}/payments", json={"amount": 20_000, "method": "cash"}
    )
    assert response.status_code == 409
    assert await _events(api) == before


async def test_the_money_lifecycle_records_its_events(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=10_000, due_date="2026-12-01")
    payment = await api.payment(invoice["id"], amount=10_000)
    start = len(await _events(api))
    refund = await api.post(f"/api/v1/payments/{payment['id']}/refunds", json={"amount": 4_000})
    assert refund.status_code == 201
    note = await api.post(
        f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"amount": 4_000, "reason": "Grant"}
    )
    assert note.status_code == 201
    receipt = await api.post(
        f"/api/v1/students/{student['id']}/payments",
        json={"amount": 1_000, "currency": "MXN", "method": "cash"},
    )
    assert receipt.status_code == 201
    payout = await api.post(
        f"/api/v1/students/{student['id']}/credit/payouts",
        json={"amount": 1_000, "currency": "MXN"},
    )
    assert payout.status_code == 201
    events = (await _events(api))[start:]
    assert _types(events) == [
        "refund.created",
        "invoice.updated",  # PAID → PARTIALLY_PAID
        "credit_note.issued",  # 4,000 of 4,000 remaining: settled
        "invoice.updated",
        "invoice.paid",
        "receipt.created",  # nothing open: all of it to credit
        "credit.paid_out",
    ]
    assert events[0]["data"]["object"] == refund.json()
    assert events[1]["data"]["object"]["status"] == "PARTIALLY_PAID"
    assert events[2]["data"]["object"] == note.json()
    assert events[4]["data"]["object"]["amount_credited"] == 4_000
    assert events[5]["data"]["object"] == receipt.json()
    assert events[6]["data"]["object"] == payout.json()


async def test_a_student_payment_records_each_share_and_each_invoice_it_paid(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    first = await api.invoice(student["id"], amount=1_000, due_date="2026-12-01")
    await api.invoice(student["id"], amount=5_000, due_date="2026-12-15")
    start = len(await _events(api))
    response = await api.post(
        f"/api/v1/students/{student['id']}/payments",
        json={"amount": 3_000, "currency": "MXN", "method": "cash"},
    )
    assert response.status_code == 201
    events = (await _events(api))[start:]
    assert _types(events) == [
        "payment.recorded",
        "invoice.paid",
        "payment.recorded",
        "receipt.created",
    ]
    assert events[1]["data"]["object"]["id"] == first["id"]


async def test_invoice_revisions_cancellations_and_student_removals_are_events(api: Api) -> None:
    school = await api.school()
    kept = await api.student(school["id"])
    gone = await api.student(school["id"])
    invoice = await api.invoice(kept["id"])
    assert (
        await api.patch(f"/api/v1/invoices/{invoice['id']}", json={"due_date": "2027-01-05"})
    ).status_code == 200
    assert (await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")).status_code == 200
    assert (await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")).status_code == 200
    assert (await api.delete(f"/api/v1/students/{kept['id']}")).status_code == 204
    assert (await api.delete(f"/api/v1/students/{gone['id']}")).status_code == 204
    events = await _events(api)
    assert _types(events)[3:] == [
        "invoice.updated",
        "invoice.cancelled",  # once: cancelling again changed nothing
        "student.archived",
        "student.deleted",
    ]
    assert events[3]["data"]["object"]["due_date"] == "2027-01-05"
    assert events[5]["data"]["object"]["status"] == "archived"
    assert events[6]["data"]["object"]["id"] == gone["id"]


async def test_events_filter_by_type_and_by_creation_time_exclusively(
    api: Api, clock: FixedClock
) -> None:
    school = await api.school()
    await api.student(school["id"])
    clock.advance(seconds=10)
    second = await api.student(school["id"])
    students = await _events(api, "&type=student.created")
    assert len(students) == 2
    after = students[0]["created_at"]
    later = await _events(api, f"&created_after={after}")
    assert [event["data"]["object"]["id"] for event in later] == [second["id"]]
    assert await _events(api, f"&created_after={students[1]['created_at']}") == []
    assert await _events(api, "&type=invoice.paid") == []


async def test_bad_event_filters_are_refused(api: Api) -> None:
    for query in ("type=invoice.exploded", "created_after=yesterday", "school_id=nope"):
        response = await api.get(f"/api/v1/events?{query}")
        assert response.status_code == 422, query
        assert response.json()["code"] == "validation_error"


async def test_a_school_key_sees_only_its_own_schools_events(api: Api) -> None:
    mine = await api.school()
    other = await api.school()
    await api.student(mine["id"])
    await api.student(other["id"])
    key = await api.school_key(mine["id"])
    seen = await _events(api, key=key)
    assert {event["school_id"] for event in seen} == {mine["id"]}
    everything = await _events(api)
    foreign = next(event for event in everything if event["school_id"] == other["id"])
    hidden = await api.get(f"/api/v1/events/{foreign['id']}", headers=api.headers(key))
    assert hidden.status_code == 404
    narrowed = await _events(api, f"&school_id={other['id']}")
    assert [event["id"] for event in narrowed] == [foreign["id"]]
    assert await _events(api, f"&school_id={other['id']}", key=key) == []


async def test_an_unknown_event_is_404(api: Api) -> None:
    for event_id in ("0190a0c4-0000-7000-8000-000000000000", "not-a-uuid"):
        response = await api.get(f"/api/v1/events/{event_id}")
        assert response.status_code == 404
