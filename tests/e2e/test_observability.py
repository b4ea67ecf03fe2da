"""JSON logs with request and trace ids through every layer, readiness, and metrics."""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import OPERATOR_KEY, Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.logs import captured_logs
from tests.support.redis_server import RedisServer

REQUIRED = ("level", "timestamp", "message", "service", "request_id", "trace_id")


async def test_every_line_is_json_with_the_standard_fields_and_the_request_line_has_latency(
    api: Api,
) -> None:
    with captured_logs(secrets=(OPERATOR_KEY,)) as logs:
        await api.get("/api/v1/schools", headers={"X-Request-ID": "req-1"})
    lines = logs.lines()
    assert lines
    for line in lines:
        assert all(field in line for field in REQUIRED), line
        assert line["service"] == "school-payments"
    (request,) = logs.with_message("request")
    assert request["request_id"] == "req-1"
    assert re.fullmatch(r"[0-9a-f]{32}", request["trace_id"])
    assert (request["method"], request["path"], request["route"], request["status"]) == (
        "GET",
        "/api/v1/schools",
        "/api/v1/schools",
        200,
    )
    assert isinstance(request["latency_ms"], float)
    assert request["level"] == "info"
    assert request["timestamp"].endswith("Z")


async def test_the_trace_id_comes_from_a_w3c_traceparent(api: Api) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with captured_logs() as logs:
        await api.get("/api/v1/schools", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
        await api.get("/api/v1/schools", headers={"traceparent": "00-zz-00f067aa0ba902b7-01"})
    first, second = logs.with_message("request")
    assert first["trace_id"] == trace
    assert second["trace_id"] != trace


async def test_ids_reach_the_lines_written_deep_in_a_command_handler(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=5_000)
    with captured_logs() as logs:
        await api.post(
            f"/api/v1/invoices/{invoice['id']}/payments",
            json={"amount": 1_200, "method": "card"},
            headers={"X-Request-ID": "pay-1"},
        )
        await api.post(
            f"/api/v1/invoices/{invoice['id']}/payments",
            json={"amount": 99_999, "method": "card"},
            headers={"X-Request-ID": "pay-2"},
        )
    (recorded,) = logs.with_message("payment recorded")
    assert recorded["request_id"] == "pay-1"
    assert (recorded["amount"], recorded["currency"], recorded["invoice_id"]) == (
        1_200,
        "MXN",
        invoice["id"],
    )
    (refused,) = logs.with_message("request refused")
    assert (refused["request_id"], refused["code"]) == ("pay-2", "payment_exceeds_remaining")
    requests = {line["request_id"]: line for line in logs.with_message("request")}
    assert recorded["trace_id"] == requests["pay-1"]["trace_id"]


async def test_two_interleaved_requests_never_mix_their_ids(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoices = [await api.invoice(student["id"], amount=1_000) for _ in range(12)]
    with captured_logs() as logs:
        await asyncio.gather(
            *(
                api.post(
                    f"/api/v1/invoices/{invoice['id']}/payments",
                    json={"amount": 10, "method": "cash"},
                    headers={"X-Request-ID": f"req-{n}"},
                )
                for n, invoice in enumerate(invoices)
            )
        )
    expected = {invoice["id"]: f"req-{n}" for n, invoice in enumerate(invoices)}
    recorded = logs.with_message("payment recorded")
    assert len(recorded) == 12
    for line in recorded:
        assert line["request_id"] == expected[line["invoice_id"]]
    # Outside any request, no stale id lingers.
    with captured_logs() as after:
        logging.getLogger("school_payments.test").info("outside")
    (outside,) = after.with_message("outside")
    assert outside["request_id"] is None
    assert outside["trace_id"] is None


async def test_an_unhandled_error_is_logged_once_with_its_ids_and_answered_as_a_problem(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api.assembly.services.queries.schools, "list", broken)
    with captured_logs() as logs:
        response = await api.get("/api/v1/schools", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "boom-1"
    assert response.json()["code"] == "internal_error"
    assert "a bug" not in response.text  # no internals to the client
    (error,) = logs.with_message("unhandled error")
    assert error["request_id"] == "boom-1"
    assert error["trace_id"]
    assert "RuntimeError: a bug" in error["exception"]
    (request,) = logs.with_message("request")
    assert (request["status"], request["level"]) == (500, "error")


async def test_the_cache_adapter_logs_with_the_request_ids_and_the_breaker_logs_its_changes(
    pg_url: str, redis_server: RedisServer, clock: FixedClock
) -> None:
    settings = settings_for(pg_url, redis_url=redis_server.url, breaker_failure_threshold=1)
    async with running_api(settings, clock) as api:
        school = await api.school()
        redis_server.kill()
        with captured_logs() as logs:
            response = await api.get(
                f"/api/v1/schools/{school['id']}/statement", headers={"X-Request-ID": "cache-1"}
            )
        assert response.headers["x-cache"] == "BYPASS"
    (warning,) = logs.with_message("statement cache unavailable, serving from the database")
    assert (warning["request_id"], warning["level"]) == ("cache-1", "warning")
    (change,) = logs.with_message("circuit breaker state changed")
    assert (change["from"], change["to"], change["request_id"]) == ("CLOSED", "OPEN", "cache-1")


async def test_no_secret_reaches_the_logs(api: Api) -> None:
    school = await api.school()
    with captured_logs(secrets=(OPERATOR_KEY,)) as logs:
        created = await api.post(f"/api/v1/schools/{school['id']}/api-keys")
        key = created.json()["key"]
        await api.get("/api/v1/schools", key=key)
        logging.getLogger("school_payments.test").warning(
            "connecting",
            extra={"url": "postgresql://app:s3cr3t-pw@db/x", "header": f"Bearer {key}"},
        )
        logging.getLogger("school_payments.test").info(f"operator used {OPERATOR_KEY}")
    assert key not in logs.text
    assert OPERATOR_KEY not in logs.text
    assert "s3cr3t-pw" not in logs.text
    assert "postgresql://app:***@db/x" in logs.text


def test_library_warnings_become_json_lines_too() -> None:
    with captured_logs() as logs, warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library complains", DeprecationWarning, stacklevel=1)
    assert any("a library complains" in line["message"] for line in logs.lines())


def _counter(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def test_metrics_move_when_requests_are_served(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], currency="KWD", amount=1_000)
    before = (await api.client.get("/metrics")).text
    await api.payment(invoice["id"], amount=100)
    await api.get(f"/api/v1/students/{student['id']}/statement")
    await api.get(f"/api/v1/students/{student['id']}/statement")
    after = (await api.client.get("/metrics")).text

    route = "/api/v1/invoices/{invoice_id}/payments"
    assert _counter(after, "http_requests_total", method="POST", route=route, status="201") == (
        _counter(before, "http_requests_total", method="POST", route=route, status="201") + 1
    )
    assert _counter(after, "payments_recorded_total", currency="KWD") == (
        _counter(before, "payments_recorded_total", currency="KWD") + 1
    )
    for outcome in ("MISS", "HIT"):
        assert _counter(after, "statement_cache_requests_total", outcome=outcome) == (
            _counter(before, "statement_cache_requests_total", outcome=outcome) + 1
        )
    assert "http_request_duration_seconds_bucket" in after


async def test_readiness_reports_the_database_cache_and_breaker(api: Api) -> None:
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "cache": "ok",
        "circuit_breaker": "CLOSED",
        "schema": "ok",
    }
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
