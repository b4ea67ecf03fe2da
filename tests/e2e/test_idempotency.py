"""Idempotency-Key: a retry replays the first response and creates nothing new."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api


async def _invoice(api: Api, **fields: Any) -> dict[str, Any]:
    school = await api.school()
    student = await api.student(school["id"])
    return await api.invoice(student["id"], **fields)


async def test_a_retried_payment_replays_the_first_response_and_pays_once(api: Api) -> None:
    invoice = await _invoice(api)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    first = await api.post(
        path, json={"amount": 500, "method": "cash"}, headers={"Idempotency-Key": "p-1"}
    )
    retry = await api.post(
        path, json={"method": "cash", "amount": 500}, headers={"Idempotency-Key": "p-1"}
    )
    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["location"] == first.headers["location"]
    assert "idempotent-replayed" not in first.headers
    assert len((await api.get(path)).json()["data"]) == 1


async def test_a_key_reused_with_another_body_or_path_is_refused(api: Api) -> None:
    invoice = await _invoice(api)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    key = {"Idempotency-Key": "p-2"}
    await api.post(path, json={"amount": 500, "method": "cash"}, headers=key)
    other_body = await api.post(path, json={"amount": 501, "method": "cash"}, headers=key)
    assert other_body.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"
    school = await api.school()
    other_path = await api.post(
        f"/api/v1/schools/{school['id']}/students",
        json={"first_name": "A", "last_name": "B"},
        headers=key,
    )
    assert other_path.status_code == 422
    assert other_path.json()["code"] == "idempotency_key_reused"


async def test_a_request_refused_by_validation_stores_nothing_under_its_key(api: Api) -> None:
    invoice = await _invoice(api)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    key = {"Idempotency-Key": "p-3"}
    invalid = await api.post(path, json={"amount": -5, "method": "cash"}, headers=key)
    assert invalid.status_code == 422
    valid = await api.post(path, json={"amount": 5, "method": "cash"}, headers=key)
    assert valid.status_code == 201


async def test_a_missing_invoice_stores_nothing_under_its_key(api: Api) -> None:
    missing = "01a20c0e-3763-70c0-8427-b70767570684"
    key = {"Idempotency-Key": "p-4"}
    body = {"amount": 5, "method": "cash"}
    first = await api.post(f"/api/v1/invoices/{missing}/payments", json=body, headers=key)
    assert first.status_code == 404
    invoice = await _invoice(api)
    # The key is free again, but the request differs (path): it is a new first use.
    retried = await api.post(f"/api/v1/invoices/{invoice['id']}/payments", json=body, headers=key)
    assert retried.status_code == 201


async def test_a_business_refusal_is_stored_and_replayed(api: Api) -> None:
    invoice = await _invoice(api, amount=100)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    key = {"Idempotency-Key": "p-5"}
    refused = await api.post(path, json={"amount": 101, "method": "cash"}, headers=key)
    assert refused.status_code == 409
    replay = await api.post(path, json={"amount": 101, "method": "cash"}, headers=key)
    assert replay.status_code == 409
    assert replay.content == refused.content
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["content-type"] == "application/problem+json"


async def test_keys_are_scoped_to_the_api_key_that_used_them(api: Api) -> None:
    first, second = await api.school(), await api.school()
    first_key, second_key = await api.school_key(first["id"]), await api.school_key(second["id"])
    body = {"first_name": "A", "last_name": "B"}
    shared = {"Idempotency-Key": "enrol-1"}
    one = await api.post(
        f"/api/v1/schools/{first['id']}/students", json=body, headers=shared, key=first_key
    )
    two = await api.post(
        f"/api/v1/schools/{second['id']}/students", json=body, headers=shared, key=second_key
    )
    assert one.status_code == two.status_code == 201
    assert one.json()["school_id"] != two.json()["school_id"]


async def test_every_creating_post_honours_the_key(api: Api) -> None:
    key = {"Idempotency-Key": "create-1"}
    first = await api.post("/api/v1/schools", json={"name": "A"}, headers=key)
    again = await api.post("/api/v1/schools", json={"name": "A"}, headers=key)
    assert again.json()["id"] == first.json()["id"]
    assert len((await api.get("/api/v1/schools")).json()["data"]) == 1
    school_id = first.json()["id"]
    student_body = {"first_name": "A", "last_name": "B"}
    s1 = await api.post(f"/api/v1/schools/{school_id}/students", json=student_body, headers=key)
    s2 = await api.post(f"/api/v1/schools/{school_id}/students", json=student_body, headers=key)
    assert s1.status_code == 422  # the same key on another path
    s3 = await api.post(
        f"/api/v1/schools/{school_id}/students", json=student_body, headers={"Idempotency-Key": "s"}
    )
    s4 = await api.post(
        f"/api/v1/schools/{school_id}/students", json=student_body, headers={"Idempotency-Key": "s"}
    )
    assert s3.json()["id"] == s4.json()["id"]
    assert s2.status_code == 422
    invoice_body = {"amount": 10, "currency": "EUR", "due_date": "2026-12-01", "description": "Fee"}
    path = f"/api/v1/students/{s3.json()['id']}/invoices"
    i1 = await api.post(path, json=invoice_body, headers={"Idempotency-Key": "i"})
    i2 = await api.post(path, json=invoice_body, headers={"Idempotency-Key": "i"})
    assert i1.content == i2.content
    assert len((await api.get(path)).json()["data"]) == 1


async def test_an_idempotency_key_longer_than_255_characters_is_refused(api: Api) -> None:
    response = await api.post(
        "/api/v1/schools", json={"name": "A"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 422
    assert (await api.get("/api/v1/schools")).json()["data"] == []
