"""Every route of the OpenAPI document, with every kind of credential.

A school key sees only its own school: another school's resource answers 404 exactly as a
missing one, operator-only actions answer 403, and no credential at all answers 401. The table
below must name every route: a new route without a row fails this test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock

OPERATOR_ONLY = "operator only"
HOOK_URL = "http://127.0.0.1:9/hooks"  # private URLs are allowed here; nothing is delivered
SCHOOL = "school"

Body = Callable[["World"], dict[str, Any] | None]


@dataclass
class World:
    """One school with a student, an invoice, a payment and keys; and another school."""

    school: dict[str, Any]
    empty_school: dict[str, Any]
    student: dict[str, Any]
    spare_student: dict[str, Any]
    invoice: dict[str, Any]
    unpaid_invoice: dict[str, Any]
    payment: dict[str, Any]
    payer: dict[str, Any]
    """A student with credit and no invoice (what a receipt left over)."""
    refund: dict[str, Any]
    credit_note: dict[str, Any]
    receipt: dict[str, Any]
    payout: dict[str, Any]
    event: dict[str, Any]
    endpoint: dict[str, Any]
    spare_endpoint: dict[str, Any]
    """One of the school's events (its student's enrolment)."""
    key_id: str
    own_key: str
    other_key: str
    revoked_key: str

    def params(self) -> dict[str, str]:
        return {
            "school_id": self.school["id"],
            "student_id": self.student["id"],
            "invoice_id": self.invoice["id"],
            "payment_id": self.payment["id"],
            "refund_id": self.refund["id"],
            "credit_note_id": self.credit_note["id"],
            "receipt_id": self.receipt["id"],
            "payout_id": self.payout["id"],
            "key_id": self.key_id,
            "event_id": self.event["id"],
            "endpoint_id": self.endpoint["id"],
        }


def _payer(w: World) -> dict[str, str]:
    return {"student_id": w.payer["id"]}


def _invoice_body(_: World) -> dict[str, Any]:
    return {"amount": 100, "due_date": "2026-12-01", "description": "Fee"}


# (method, path) -> (who may call it, body, path parameters to override)
ROUTES: dict[tuple[str, str], tuple[str, Body, Callable[[World], dict[str, str]]]] = {
    ("POST", "/api/v1/schools"): (OPERATOR_ONLY, lambda w: {"name": "New"}, lambda w: {}),
    ("GET", "/api/v1/schools"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/schools/{school_id}"): (SCHOOL, lambda w: None, lambda w: {}),
    ("PATCH", "/api/v1/schools/{school_id}"): (SCHOOL, lambda w: {"name": "Renamed"}, lambda w: {}),
    ("DELETE", "/api/v1/schools/{school_id}"): (
        OPERATOR_ONLY,
        lambda w: None,
        lambda w: {"school_id": w.empty_school["id"]},
    ),
    ("POST", "/api/v1/schools/{school_id}/students"): (
        SCHOOL,
        lambda w: {"first_name": "A", "last_name": "B"},
        lambda w: {},
    ),
    ("GET", "/api/v1/schools/{school_id}/students"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/students/{student_id}"): (SCHOOL, lambda w: None, lambda w: {}),
    ("PATCH", "/api/v1/students/{student_id}"): (
        SCHOOL,
        lambda w: {"first_name": "Renamed"},
        lambda w: {},
    ),
    ("DELETE", "/api/v1/students/{student_id}"): (
        SCHOOL,
        lambda w: None,
        lambda w: {"student_id": w.spare_student["id"]},
    ),
    ("POST", "/api/v1/students/{student_id}/invoices"): (SCHOOL, _invoice_body, lambda w: {}),
    ("GET", "/api/v1/students/{student_id}/invoices"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/schools/{school_id}/invoices"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/invoices/{invoice_id}"): (SCHOOL, lambda w: None, lambda w: {}),
    ("PATCH", "/api/v1/invoices/{invoice_id}"): (
        SCHOOL,
        lambda w: {"description": "X"},
        lambda w: {},
    ),
    ("POST", "/api/v1/invoices/{invoice_id}/cancel"): (
        SCHOOL,
        lambda w: None,
        lambda w: {"invoice_id": w.unpaid_invoice["id"]},
    ),
    ("POST", "/api/v1/invoices/{invoice_id}/payments"): (
        SCHOOL,
        lambda w: {"amount": 1, "method": "cash"},
        lambda w: {},
    ),
    ("GET", "/api/v1/invoices/{invoice_id}/payments"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/payments/{payment_id}"): (SCHOOL, lambda w: None, lambda w: {}),
    ("POST", "/api/v1/payments/{payment_id}/refunds"): (
        SCHOOL,
        lambda w: {"amount": 1},
        lambda w: {},
    ),
    ("GET", "/api/v1/refunds/{refund_id}"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/payments/{payment_id}/refunds"): (SCHOOL, lambda w: None, lambda w: {}),
    ("POST", "/api/v1/invoices/{invoice_id}/credit-notes"): (
        SCHOOL,
        lambda w: {"amount": 1, "reason": "Discount"},
        lambda w: {},
    ),
    ("GET", "/api/v1/credit-notes/{credit_note_id}"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/invoices/{invoice_id}/credit-notes"): (SCHOOL, lambda w: None, lambda w: {}),
    ("POST", "/api/v1/students/{student_id}/payments"): (
        SCHOOL,
        lambda w: {"amount": 100, "currency": "MXN", "method": "cash"},
        lambda w: {},
    ),
    ("GET", "/api/v1/receipts/{receipt_id}"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/students/{student_id}/credit"): (SCHOOL, lambda w: None, _payer),
    ("GET", "/api/v1/students/{student_id}/credit/entries"): (SCHOOL, lambda w: None, _payer),
    ("POST", "/api/v1/students/{student_id}/credit/payouts"): (
        SCHOOL,
        lambda w: {"amount": 1, "currency": "MXN"},
        _payer,
    ),
    ("GET", "/api/v1/credit-payouts/{payout_id}"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/students/{student_id}/statement"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/schools/{school_id}/statement"): (SCHOOL, lambda w: None, lambda w: {}),
    ("POST", "/api/v1/schools/{school_id}/api-keys"): (OPERATOR_ONLY, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/schools/{school_id}/api-keys"): (OPERATOR_ONLY, lambda w: None, lambda w: {}),
    ("DELETE", "/api/v1/api-keys/{key_id}"): (OPERATOR_ONLY, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/events"): (SCHOOL, lambda w: None, lambda w: {}),
    ("GET", "/api/v1/events/{event_id}"): (SCHOOL, lambda w: None, lambda w: {}),
    ("POST", "/api/v1/events/{event_id}/resend"): (SCHOOL, lambda w: None, lambda w: {}),
    ("POST", "/api/v1/schools/{school_id}/webhook-endpoints"): (
        SCHOOL,
        lambda w: {"url": HOOK_URL, "event_types": ["*"]},
        lambda w: {},
    ),
    ("GET", "/api/v1/schools/{school_id}/webhook-endpoints"): (
        SCHOOL,
        lambda w: None,
        lambda w: {},
    ),
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}"): (SCHOOL, lambda w: None, lambda w: {}),
    ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}"): (
        SCHOOL,
        lambda w: {"description": "Renamed"},
        lambda w: {},
    ),
    ("DELETE", "/api/v1/webhook-endpoints/{endpoint_id}"): (
        SCHOOL,
        lambda w: None,
        lambda w: {"endpoint_id": w.spare_endpoint["id"]},
    ),
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries"): (
        SCHOOL,
        lambda w: None,
        lambda w: {},
    ),
}
# Lists that show a school key its own school's items (so another school's key gets 200).
OWN_SCHOOL_LISTS = {("GET", "/api/v1/schools"), ("GET", "/api/v1/events")}
OPEN_ROUTES = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}


@pytest.fixture
async def matrix_api(pg_url: str, clock: FixedClock) -> AsyncIterator[Api]:
    # No caching of verified keys here: a revoked key is refused at once.
    settings = settings_for(pg_url, api_key_cache_seconds=0, webhook_allow_private_urls=True)
    async with running_api(settings, clock) as api:
        yield api


async def _endpoint(api: Api, school_id: str) -> dict[str, Any]:
    response = await api.post(
        f"/api/v1/schools/{school_id}/webhook-endpoints",
        json={"url": HOOK_URL, "event_types": ["*"]},
    )
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


async def _world(api: Api) -> World:
    school = await api.school()
    other = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=10_000)
    payment = await api.payment(invoice["id"], amount=100)
    payer = await api.student(school["id"])
    receipt = (
        await api.post(
            f"/api/v1/students/{payer['id']}/payments",
            json={"amount": 1_000, "currency": "MXN", "method": "cash"},
        )
    ).json()
    payout = (
        await api.post(
            f"/api/v1/students/{payer['id']}/credit/payouts", json={"amount": 1, "currency": "MXN"}
        )
    ).json()
    refund = (
        await api.post(f"/api/v1/payments/{payment['id']}/refunds", json={"amount": 10})
    ).json()
    credit_note = (
        await api.post(
            f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"amount": 10, "reason": "Fee"}
        )
    ).json()
    revoked = (await api.post(f"/api/v1/schools/{school['id']}/api-keys")).json()
    await api.delete(f"/api/v1/api-keys/{revoked['id']}")
    own = (await api.post(f"/api/v1/schools/{school['id']}/api-keys")).json()
    return World(
        school=school,
        empty_school=await api.school(),
        student=student,
        spare_student=await api.student(school["id"]),
        invoice=invoice,
        unpaid_invoice=await api.invoice(student["id"]),
        payment=payment,
        payer=payer,
        refund=refund,
        credit_note=credit_note,
        receipt=receipt,
        payout=payout,
        event=next(
            e
            for e in (await api.get("/api/v1/events?type=student.created&limit=200")).json()["data"]
            if e["data"]["object"]["id"] == student["id"]
        ),
        endpoint=await _endpoint(api, school["id"]),
        spare_endpoint=await _endpoint(api, school["id"]),
        key_id=own["id"],
        own_key=own["key"],
        other_key=await api.school_key(other["id"]),
        revoked_key=revoked["key"],
    )


async def _call(api: Api, world: World, route: tuple[str, str], key: str) -> int:
    method, template = route
    _, body, override = ROUTES[route]
    path = template.format(**(world.params() | override(world)))
    payload = body(world)
    kwargs: dict[str, Any] = {"json": payload} if payload is not None else {}
    response = await api.client.request(
        method, path, headers={"Authorization": f"Bearer {key}"} if key else {}, **kwargs
    )
    return response.status_code


async def test_every_route_of_the_openapi_document_has_a_row(matrix_api: Api) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in matrix_api.client._transport.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in operations
    }
    assert documented - OPEN_ROUTES == set(ROUTES)


@pytest.mark.parametrize("route", list(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
async def test_each_credential_gets_what_it_may(matrix_api: Api, route: tuple[str, str]) -> None:
    api = matrix_api
    who, _, _ = ROUTES[route]
    world = await _world(api)
    for label, key in (
        ("no key", ""),
        ("malformed key", "not a key at all"),
        ("revoked key", world.revoked_key),
    ):
        assert await _call(api, world, route, key) == 401, label

    other_status = await _call(api, world, route, world.other_key)
    if who == OPERATOR_ONLY:
        assert other_status == 403
    elif route in OWN_SCHOOL_LISTS:
        assert other_status == 200  # lists its own school's only (checked below and elsewhere)
    else:
        assert other_status == 404  # exactly as if the resource did not exist

    own_status = await _call(api, world, route, world.own_key)
    assert (own_status == 403) if who == OPERATOR_ONLY else (200 <= own_status < 300), own_status

    fresh = await _world(api)
    assert 200 <= await _call(api, fresh, route, str(api.key)) < 300


async def test_a_school_key_lists_only_its_own_school(matrix_api: Api) -> None:
    world = await _world(matrix_api)
    listed = await matrix_api.get("/api/v1/schools", key=world.own_key)
    assert [s["id"] for s in listed.json()["data"]] == [world.school["id"]]
    everything = await matrix_api.get("/api/v1/schools")
    assert len(everything.json()["data"]) == 3


async def test_another_schools_resources_look_exactly_like_missing_ones(matrix_api: Api) -> None:
    world = await _world(matrix_api)
    foreign = await matrix_api.get(f"/api/v1/invoices/{world.invoice['id']}", key=world.other_key)
    missing = await matrix_api.get(
        "/api/v1/invoices/01a20c0e-3763-70c0-8427-b70767570684", key=world.other_key
    )
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["code"] == missing.json()["code"] == "not_found"
