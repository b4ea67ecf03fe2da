"""Webhook endpoints and deliveries through the API and a real HTTP receiver on loopback, on
PostgreSQL and SQLite. The worker here is the in-process one, driven by the test's clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from standardwebhooks.webhooks import Webhook

from school_payments.adapters.webhooks.worker import InProcessWorker, measure_backlog
from school_payments.main import WebhookWorkerParts, webhook_worker_parts
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.receiver import Receiver

TIMEOUT = 0.5  # the contract's 10 s, shortened: a hanging receiver is the same case


class Hooks:
    def __init__(self, api: Api, parts: WebhookWorkerParts, receiver: Receiver) -> None:
        self.api = api
        self.parts = parts
        self.receiver = receiver
        self.worker = InProcessWorker(parts.deliver, parts.store, api.clock)

    async def endpoint(self, school_id: str, **fields: Any) -> dict[str, Any]:
        body = {"url": self.receiver.url, "event_types": ["*"], **fields}
        response = await self.api.post(f"/api/v1/schools/{school_id}/webhook-endpoints", json=body)
        assert response.status_code == 201, response.text
        found: dict[str, Any] = response.json()
        return found

    async def attempts(self, endpoint_id: str) -> list[dict[str, Any]]:
        response = await self.api.get(f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries")
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.stop()


@pytest.fixture
async def hooks(database_url: str, clock: FixedClock, receiver: Receiver) -> AsyncIterator[Hooks]:
    settings = settings_for(
        database_url,
        webhook_allow_private_urls=True,
        embedded_worker=False,
        webhook_timeout_seconds=TIMEOUT,
    )
    async with running_api(settings, clock) as api:
        parts = webhook_worker_parts(settings, api.assembly.database, clock)
        try:
            yield Hooks(api, parts, receiver)
        finally:
            await parts.close()


# -- endpoints ---------------------------------------------------------------------------------


async def test_an_endpoint_shows_its_secret_once(hooks: Hooks) -> None:
    school = await hooks.api.school()
    created = await hooks.endpoint(school["id"], description="Accounting")
    assert created["secret"].startswith("whsec_")
    assert (created["enabled"], created["disabled_reason"]) == (True, None)
    shown = await hooks.api.get(f"/api/v1/webhook-endpoints/{created['id']}")
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    assert shown.json() == {k: v for k, v in created.items() if k != "secret"}
    listed = await hooks.api.get(f"/api/v1/schools/{school['id']}/webhook-endpoints")
    assert [e["id"] for e in listed.json()["data"]] == [created["id"]]
    assert "secret" not in listed.json()["data"][0]


async def test_an_endpoint_is_changed_disabled_enabled_and_deleted(hooks: Hooks) -> None:
    school = await hooks.api.school()
    created = await hooks.endpoint(school["id"])
    path = f"/api/v1/webhook-endpoints/{created['id']}"
    changed = await hooks.api.patch(
        path, json={"event_types": ["invoice.paid", "invoice.overdue"], "enabled": False}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["event_types"] == ["invoice.paid", "invoice.overdue"]
    assert (body["enabled"], body["disabled_reason"]) == (False, "disabled through the API")
    again = await hooks.api.patch(path, json={"enabled": True, "description": None})
    assert (again.json()["enabled"], again.json()["disabled_reason"]) == (True, None)
    assert (await hooks.api.delete(path)).status_code == 204
    assert (await hooks.api.get(path)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/x", "event_types": ["*"]},
        {"url": "http://127.0.0.1/x", "event_types": ["invoice.exploded"]},
        {"url": "http://127.0.0.1/x", "event_types": []},
        {"url": "http://127.0.0.1/x"},
        {"url": "http://127.0.0.1/x", "event_types": ["*"], "colour": "red"},
        {"url": "", "event_types": ["*"]},
    ],
)
async def test_bad_endpoint_bodies_are_refused(hooks: Hooks, body: dict[str, Any]) -> None:
    school = await hooks.api.school()
    response = await hooks.api.post(f"/api/v1/schools/{school['id']}/webhook-endpoints", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


async def test_a_school_key_manages_only_its_own_endpoints(hooks: Hooks) -> None:
    mine, other = await hooks.api.school(), await hooks.api.school()
    key = await hooks.api.school_key(mine["id"])
    own = await hooks.api.post(
        f"/api/v1/schools/{mine['id']}/webhook-endpoints",
        json={"url": hooks.receiver.url, "event_types": ["*"]},
        headers=hooks.api.headers(key),
    )
    assert own.status_code == 201
    foreign = await hooks.endpoint(other["id"])
    for path in (
        f"/api/v1/webhook-endpoints/{foreign['id']}",
        f"/api/v1/webhook-endpoints/{foreign['id']}/deliveries",
        f"/api/v1/schools/{other['id']}/webhook-endpoints",
    ):
        assert (await hooks.api.get(path, headers=hooks.api.headers(key))).status_code == 404


# -- deliveries ----------------------------------------------------------------------------------


def _verified(hooks: Hooks, secret: str) -> list[dict[str, Any]]:
    """Every request the receiver got, checked with the Standard Webhooks verifier."""
    found = []
    for request in hooks.receiver.received:
        payload = Webhook(secret).verify(request.body, request.headers)
        assert payload["id"] == request.headers["webhook-id"]
        found.append(payload)
    return found


async def test_every_transactional_event_type_arrives_signed(hooks: Hooks) -> None:
    api = hooks.api
    school = await api.school()
    endpoint = await hooks.endpoint(school["id"])
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=10_000)
    payment = await api.payment(invoice["id"], amount=10_000)
    await api.post(f"/api/v1/payments/{payment['id']}/refunds", json={"amount": 1_000})
    await api.post(
        f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"amount": 1_000, "reason": "Grant"}
    )
    await api.post(
        f"/api/v1/students/{student['id']}/payments",
        json={"amount": 500, "currency": "MXN", "method": "cash"},
    )
    await api.post(
        f"/api/v1/students/{student['id']}/credit/payouts", json={"amount": 500, "currency": "MXN"}
    )
    other = await api.invoice(student["id"], amount=3_000)
    await api.patch(f"/api/v1/invoices/{other['id']}", json={"description": "Books"})
    await api.post(f"/api/v1/invoices/{other['id']}/cancel")
    await api.delete(f"/api/v1/students/{student['id']}")
    gone = await api.student(school["id"])
    await api.delete(f"/api/v1/students/{gone['id']}")

    attempted = await hooks.worker.run_once()
    events = (await api.get("/api/v1/events?limit=200")).json()["data"]
    assert attempted == len(events)
    payloads = _verified(hooks, endpoint["secret"])
    assert sorted(p["id"] for p in payloads) == sorted(e["id"] for e in events)
    by_id = {e["id"]: e for e in events}
    for payload in payloads:
        assert payload == by_id[payload["id"]]  # the very event the API shows
    assert {e["type"] for e in events} >= {
        "student.created",
        "student.archived",
        "student.deleted",
        "invoice.created",
        "invoice.updated",
        "invoice.cancelled",
        "invoice.paid",
        "payment.recorded",
        "refund.created",
        "credit_note.issued",
        "receipt.created",
        "credit.paid_out",
    }
    attempts = await hooks.attempts(endpoint["id"])
    assert {a["outcome"] for a in attempts} == {"delivered"}
    assert {a["status_code"] for a in attempts} == {200}
    assert await hooks.worker.run_once() == 0  # nothing twice


async def test_an_endpoint_gets_only_the_types_it_takes(hooks: Hooks) -> None:
    school = await hooks.api.school()
    await hooks.endpoint(school["id"], event_types=["invoice.created"])
    student = await hooks.api.student(school["id"])
    await hooks.api.invoice(student["id"])
    await hooks.worker.run_once()
    types = [orjson.loads(r.body)["type"] for r in hooks.receiver.received]
    assert types == ["invoice.created"]


async def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    hooks: Hooks, clock: FixedClock
) -> None:
    school = await hooks.api.school()
    endpoint = await hooks.endpoint(school["id"], event_types=["student.created"])
    hooks.receiver.behaviour = "error"
    await hooks.api.student(school["id"])
    assert await hooks.worker.run_once() == 1
    first = (await hooks.attempts(endpoint["id"]))[0]
    assert (first["attempt"], first["status_code"], first["outcome"]) == (1, 500, "retrying")
    wait = datetime.fromisoformat(first["next_attempt_at"]) - clock.now()
    assert timedelta(seconds=22.5) <= wait <= timedelta(seconds=37.5)  # 30 s ± 25 %
    assert await hooks.worker.run_once() == 0  # not before its time
    clock.advance(seconds=40)
    await hooks.receiver.stop()  # down: connection refused
    assert await hooks.worker.run_once() == 1
    second = (await hooks.attempts(endpoint["id"]))[1]
    assert (second["attempt"], second["status_code"], second["outcome"]) == (2, None, "retrying")
    assert "Connect" in second["error"]
    later = datetime.fromisoformat(second["next_attempt_at"]) - clock.now()
    assert timedelta(seconds=45) <= later <= timedelta(seconds=75)  # 60 s ± 25 %
    await hooks.receiver.start(port=hooks.receiver.port)
    hooks.receiver.behaviour = "hang"
    clock.advance(seconds=80)
    assert await hooks.worker.run_once() == 1
    third = (await hooks.attempts(endpoint["id"]))[2]
    assert (third["status_code"], third["outcome"]) == (None, "retrying")
    assert "no answer within" in third["error"]
    hooks.receiver.behaviour = "ok"
    clock.advance(seconds=200)
    assert await hooks.worker.run_once() == 1
    fourth = (await hooks.attempts(endpoint["id"]))[3]
    assert (fourth["attempt"], fourth["status_code"], fourth["outcome"]) == (4, 200, "delivered")
    assert fourth["next_attempt_at"] is None
    # At least once: the receiver saw the event 3 times (not while it was down), one id.
    assert len(hooks.receiver.received) == 3
    assert len(set(hooks.receiver.ids())) == 1


async def test_after_three_days_of_failure_the_delivery_fails_and_the_endpoint_is_disabled(
    hooks: Hooks, clock: FixedClock
) -> None:
    school = await hooks.api.school()
    endpoint = await hooks.endpoint(school["id"], event_types=["student.created"])
    hooks.receiver.behaviour = "error"
    await hooks.api.student(school["id"])
    start = clock.now()
    while clock.now() - start < timedelta(days=3, hours=7):
        await hooks.worker.run_once()
        clock.advance(minutes=30)
    attempts = await hooks.attempts(endpoint["id"])
    assert [a["outcome"] for a in attempts[:-1]] == ["retrying"] * (len(attempts) - 1)
    assert attempts[-1]["outcome"] == "failed"
    assert 12 <= len(attempts) <= 30
    last_at = datetime.fromisoformat(attempts[-1]["attempted_at"])
    assert last_at - start >= timedelta(days=3)
    shown = (await hooks.api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert shown["enabled"] is False
    assert "3 days" in shown["disabled_reason"]
    # A disabled endpoint is sent nothing new.
    before = len(hooks.receiver.received)
    hooks.receiver.behaviour = "ok"
    await hooks.api.student(school["id"])
    await hooks.worker.run_once()
    assert len(hooks.receiver.received) == before


async def test_a_resent_event_arrives_again_with_the_same_id(hooks: Hooks) -> None:
    school = await hooks.api.school()
    await hooks.endpoint(school["id"])
    await hooks.api.student(school["id"])
    await hooks.worker.run_once()
    event = (await hooks.api.get("/api/v1/events")).json()["data"][0]
    response = await hooks.api.post(f"/api/v1/events/{event['id']}/resend")
    assert response.status_code == 202
    assert response.json() == {"queued": 1}
    await hooks.worker.run_once()
    assert hooks.receiver.ids() == [event["id"], event["id"]]
    assert len(set(hooks.receiver.ids())) == 1  # a receiver deduping by webhook-id sees it once
    missing = await hooks.api.post("/api/v1/events/0190a0c4-0000-7000-8000-000000000000/resend")
    assert missing.status_code == 404


async def test_a_refused_write_sends_nothing(hooks: Hooks) -> None:
    school = await hooks.api.school()
    student = await hooks.api.student(school["id"])
    invoice = await hooks.api.invoice(student["id"], amount=100)
    await hooks.endpoint(school["id"])
    refused = await hooks.api.post(
        f"/api/v1/invoices/{invoice['id']}/payments", json={"amount": 500, "method": "cash"}
    )
    assert refused.status_code == 409
    assert await hooks.worker.run_once() == 0
    assert hooks.receiver.received == []


async def test_signatures_use_the_wall_clock_not_the_business_clock(hooks: Hooks) -> None:
    school = await hooks.api.school()
    await hooks.endpoint(school["id"])
    await hooks.api.student(school["id"])
    await hooks.worker.run_once()
    stamp = int(hooks.receiver.received[0].headers["webhook-timestamp"])
    assert abs(stamp - datetime.now(UTC).timestamp()) < 60


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://localhost/in",
        "https://10.0.0.8/in",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/in",
        "https://[::ffff:127.0.0.1]/in",
    ],
)
async def test_private_loopback_and_link_local_urls_are_refused_at_creation(
    api: Api, url: str
) -> None:
    school = await api.school()
    response = await api.post(
        f"/api/v1/schools/{school['id']}/webhook-endpoints",
        json={"url": url, "event_types": ["*"]},
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["loc"][-1] == "url"


def _readme_verifier() -> Any:
    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = text.split("# receiver: verify a delivery\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    return namespace["verify"]


async def test_the_readmes_signature_check_accepts_a_delivery_and_refuses_a_forgery(
    hooks: Hooks,
) -> None:
    verify = _readme_verifier()
    school = await hooks.api.school()
    endpoint = await hooks.endpoint(school["id"])
    await hooks.api.student(school["id"])
    await hooks.worker.run_once()
    (request,) = hooks.receiver.received
    assert verify(endpoint["secret"], request.headers, request.body)
    assert not verify(endpoint["secret"], request.headers, request.body + b" ")
    other = await hooks.endpoint(school["id"])
    assert not verify(other["secret"], request.headers, request.body)


async def test_attempts_are_counted_by_outcome_and_the_backlog_age_is_measured(
    hooks: Hooks, clock: FixedClock
) -> None:
    def attempts(outcome: str) -> float:
        return (
            REGISTRY.get_sample_value("webhook_delivery_attempts_total", {"outcome": outcome})
            or 0.0
        )

    def backlog() -> float:
        return REGISTRY.get_sample_value("webhook_oldest_undelivered_event_age_seconds") or 0.0

    school = await hooks.api.school()
    await hooks.endpoint(school["id"])
    hooks.receiver.behaviour = "error"
    before = attempts("retrying"), attempts("delivered")
    await hooks.api.student(school["id"])
    clock.advance(seconds=90)
    await measure_backlog(hooks.parts.store, clock)
    assert backlog() == 90
    await hooks.worker.run_once()
    hooks.receiver.behaviour = "ok"
    clock.advance(minutes=5)
    await hooks.worker.run_once()
    assert (attempts("retrying"), attempts("delivered")) == (before[0] + 1, before[1] + 1)
    await measure_backlog(hooks.parts.store, clock)
    assert backlog() == 0


async def test_each_attempt_logs_the_event_id_and_the_request_that_caused_it(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    school = await hooks.api.school()
    await hooks.endpoint(school["id"])
    response = await hooks.api.post(
        f"/api/v1/schools/{school['id']}/students",
        json={"first_name": "Ana", "last_name": "Ruiz"},
        headers={"X-Request-ID": "enrol-ana-1"},
    )
    assert response.status_code == 201
    event = (await hooks.api.get("/api/v1/events")).json()["data"][0]
    with caplog.at_level(logging.INFO, logger="school_payments.application.webhook_delivery"):
        await hooks.worker.run_once()
    (record,) = [r for r in caplog.records if r.getMessage() == "webhook attempt"]
    assert record.__dict__["event_id"] == event["id"]
    assert record.__dict__["caused_by_request_id"] == "enrol-ana-1"
    assert record.__dict__["outcome"] == "delivered"


async def test_two_workers_never_attempt_one_delivery_at_the_same_moment(hooks: Hooks) -> None:
    school = await hooks.api.school()
    endpoint = await hooks.endpoint(school["id"])
    hooks.receiver.behaviour = "hang"  # the first attempt is still running when the next starts
    await hooks.api.student(school["id"])
    (delivery_id,) = await hooks.parts.store.due(hooks.api.clock.now(), 10)
    waits = await asyncio.gather(*(hooks.parts.deliver(delivery_id) for _ in range(4)))
    assert len(hooks.receiver.received) == 1
    assert len(await hooks.attempts(endpoint["id"])) == 1
    assert all(wait is not None and wait.total_seconds() > 0 for wait in waits)
