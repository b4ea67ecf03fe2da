"""Issue 19: refusals of odd input, HEAD, no Host-built redirects, client disconnects, the
per-school share of statements, paged statement lines and an unmigrated database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from school_payments.adapters.resilience.tenant_limiter import InProcessTenantLimiter
from school_payments.adapters.web.app import create_api
from school_payments.application.caller import OPERATOR
from school_payments.application.errors import TenantBusyError
from school_payments.main import assemble
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.logs import captured_logs

# -- input --------------------------------------------------------------------------------------


async def test_a_key_named_twice_in_one_object_is_malformed_json(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"])
    for body in (
        b'{"amount":1,"amount":999,"method":"cash"}',
        b'{"amount" : 1, "method": "cash", "amount" : 999}',
    ):
        response = await api.post(
            f"/api/v1/invoices/{invoice['id']}/payments",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "malformed_json"
        assert "'amount' twice" in response.json()["detail"]
    assert (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()["amount_paid"] == 0


async def test_a_colon_inside_a_string_is_not_mistaken_for_a_duplicate_key(api: Api) -> None:
    response = await api.post(
        "/api/v1/schools",
        content=b'{"name": "Colegio \\"A\\": sede norte", "timezone": "UTC"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == 'Colegio "A": sede norte'


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
async def test_a_body_that_says_it_is_not_json_is_415(api: Api, content_type: str) -> None:
    response = await api.post(
        "/api/v1/schools", content=b'{"name": "X"}', headers={"Content-Type": content_type}
    )
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "application/merge-patch+json"},
    ],
)
async def test_json_or_no_content_type_is_read_as_json(api: Api, headers: dict[str, str]) -> None:
    response = await api.post("/api/v1/schools", content=b'{"name": "X"}', headers=headers)
    assert response.status_code == 201, response.text


async def test_cancel_needs_no_body_and_no_content_type(api: Api) -> None:
    school = await api.school()
    invoice = await api.invoice((await api.student(school["id"]))["id"])
    response = await api.post(f"/api/v1/invoices/{invoice['id']}/cancel")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "name",
    [
        "Ana\x07",  # bell
        "Ana\x1b[31m",  # escape
        "An\x08a",  # backspace
        "\u202eanA",  # right-to-left override
        "\u200b",  # a zero-width space alone
        "Ana\ufeff",  # a byte order mark
        "\u00ad\u200d",  # only invisible characters that are allowed inside a name
        "Ana\nMaría",  # a line break
    ],
)
async def test_control_and_format_characters_and_invisible_only_text_are_refused(
    api: Api, name: str
) -> None:
    school = await api.school()
    response = await api.post(
        f"/api/v1/schools/{school['id']}/students", json={"first_name": name, "last_name": "G"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "first_name"]


@pytest.mark.parametrize("name", ["می\u200cخواهم", "क्\u200dष", "Zoë", "José-María"])
async def test_names_with_zwnj_zwj_and_accents_are_accepted(api: Api, name: str) -> None:
    school = await api.school()
    student = await api.student(school["id"], first_name=name)
    assert student["first_name"] == name


@pytest.mark.parametrize("timezone", ["localtime", "Factory", "posixrules", "Mars/Olympus"])
async def test_a_timezone_that_is_not_a_real_iana_zone_is_refused(api: Api, timezone: str) -> None:
    response = await api.post("/api/v1/schools", json={"name": "X", "timezone": timezone})
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("timezone", ["US/Eastern", "America/Mexico_City", "Etc/GMT+5", "UTC"])
async def test_every_iana_zone_and_backward_alias_is_accepted(api: Api, timezone: str) -> None:
    assert (await api.school(timezone=timezone))["timezone"] == timezone


@pytest.mark.parametrize("amount", [1.5, 150000.0, 10**23, "100", True, 0])
async def test_a_wrong_amount_is_told_it_is_an_integer_of_minor_units_and_its_bounds(
    api: Api, amount: Any
) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    response = await api.post(
        f"/api/v1/students/{student['id']}/invoices",
        json={"amount": amount, "due_date": "2026-12-01", "description": "Tuition"},
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["loc"] == ["body", "amount"]
    assert "minor unit" in error["msg"]
    assert "from 1 to 1,000,000,000,000" in error["msg"]


async def test_money_in_a_refusal_reads_in_major_units_with_its_currency(api: Api) -> None:
    school = await api.school()
    invoice = await api.invoice((await api.student(school["id"]))["id"], amount=50_000)
    response = await api.post(
        f"/api/v1/invoices/{invoice['id']}/payments", json={"amount": 60_000, "method": "cash"}
    )
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "600.00 MXN" in detail
    assert "500.00 MXN that remain" in detail
    assert "pay at most 500.00 MXN" in detail


# -- HTTP ---------------------------------------------------------------------------------------


async def test_head_is_answered_wherever_get_is_with_the_same_headers_and_no_body(
    api: Api,
) -> None:
    school = await api.school()
    for path in ("/healthz", "/readyz", f"/api/v1/schools/{school['id']}"):
        got = await api.get(path)
        head = await api.request("HEAD", path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == got.headers["content-length"]


async def test_head_where_there_is_no_get_is_405_and_allow_lists_head_with_get(api: Api) -> None:
    school = await api.school()
    invoice = await api.invoice((await api.student(school["id"]))["id"])
    refused = await api.request("HEAD", f"/api/v1/invoices/{invoice['id']}/cancel")
    assert refused.status_code == 405
    allowed = await api.request("PUT", "/api/v1/schools")
    assert allowed.headers["allow"] == "GET, HEAD, POST"


async def test_a_trailing_slash_is_not_redirected_to_a_host_the_client_named(api: Api) -> None:
    response = await api.get("/api/v1/schools/", headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers


async def test_a_client_that_goes_away_mid_body_is_a_499_not_a_server_error(api: Api) -> None:
    app = api.client._transport.app  # type: ignore[attr-defined]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/schools",
        "raw_path": b"/api/v1/schools",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {api.key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"name": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with captured_logs() as logs:
        await app(scope, receive, send)
    assert not sent
    (line,) = logs.with_message("request")
    assert (line["status"], line["level"]) == (499, "info")
    assert not logs.with_message("unhandled error")
    assert "Traceback" not in logs.text


# -- the per-school share of expensive work -----------------------------------------------------


@pytest.fixture
async def share_api(database_url: str, clock: FixedClock) -> AsyncIterator[Api]:
    """The service with a process-wide lane wider than the slots these tests hold open: they
    fill one school's share by hand and never let go until the end, which the default lane (2)
    would make every further statement wait for (the lane is tested in test_tenant_fairness)."""
    async with running_api(settings_for(database_url, expensive_concurrency=16), clock) as api:
        yield api


async def test_a_school_past_its_share_of_statements_gets_429_and_others_do_not(
    share_api: Api,
) -> None:
    api = share_api
    busy, other = await api.school(), await api.school()
    busy_student = await api.student(busy["id"])
    work = api.assembly.services.expensive_work
    school_key = await api.school_key(busy["id"])
    busy_id = uuid.UUID(busy["id"])
    held = [work.statement(OPERATOR, "school", busy_id) for _ in range(4)]
    for slot in held:
        await slot.__aenter__()
    try:
        for path, key in (
            (f"/api/v1/schools/{busy['id']}/statement", None),
            (f"/api/v1/students/{busy_student['id']}/statement", None),  # the student's school
            (f"/api/v1/students/{busy_student['id']}/statement", school_key),
        ):
            response = await api.get(path, key=key)
            assert response.status_code == 429, response.text
            assert response.json()["code"] == "rate_limited"
            assert int(response.headers["Retry-After"]) >= 1
        assert (await api.get(f"/api/v1/schools/{other['id']}/statement")).status_code == 200
    finally:
        for slot in held:
            await slot.__aexit__(None, None, None)
    assert (await api.get(f"/api/v1/schools/{busy['id']}/statement")).status_code == 200


async def test_a_school_key_cannot_use_up_another_schools_share(share_api: Api) -> None:
    api = share_api
    mine, theirs = await api.school(), await api.school()
    key = await api.school_key(mine["id"])
    work = api.assembly.services.expensive_work
    held = [work.statement(OPERATOR, "school", uuid.UUID(mine["id"])) for _ in range(4)]
    for slot in held:
        await slot.__aenter__()
    try:
        # Its requests for the other school count against its own share, full here.
        response = await api.get(f"/api/v1/schools/{theirs['id']}/statement", key=key)
        assert response.status_code == 429
        assert (await api.get(f"/api/v1/schools/{theirs['id']}/statement")).status_code == 200
    finally:
        for slot in held:
            await slot.__aexit__(None, None, None)


async def test_the_limiter_refuses_at_once_and_frees_slots_after_use() -> None:
    limiter = InProcessTenantLimiter(2)
    school = uuid.uuid4()
    async with limiter.slot(school), limiter.slot(school):
        with pytest.raises(TenantBusyError):
            async with limiter.slot(school):
                pass
        async with limiter.slot(uuid.uuid4()):
            pass
    assert limiter.running(school) == 0
    async with limiter.slot(school):
        assert limiter.running(school) == 1


# -- paged statement lines ----------------------------------------------------------------------


async def test_student_statement_lines_are_paged_and_totals_cover_every_invoice(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    issued = [(await api.invoice(student["id"], amount=1_000 * (i + 1)))["id"] for i in range(5)]
    path = f"/api/v1/students/{student['id']}/statement"
    whole = (await api.get(path)).json()
    assert [line["id"] for line in whole["invoices"]] == issued
    assert whole["invoices_next_cursor"] is None

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"lines_limit": 2}
        if cursor:
            params["lines_cursor"] = cursor
        page = (await api.get(path, params=params)).json()
        assert page["totals"] == whole["totals"]
        assert len(page["invoices"]) <= 2
        seen += [line["id"] for line in page["invoices"]]
        cursor = page["invoices_next_cursor"]
        if cursor is None:
            break
    assert seen == issued

    first = (await api.get(path, params={"lines_limit": 2})).json()
    for params in (
        {"lines_limit": 3, "lines_cursor": first["invoices_next_cursor"]},
        {"lines_limit": 2, "lines_cursor": first["invoices_next_cursor"], "as_of": "2026-11-01"},
        {"lines_limit": 2, "lines_cursor": "not-a-cursor"},
        {"lines_limit": 0},
        {"lines_limit": 501},
    ):
        response = await api.get(path, params=params)
        assert response.status_code == 422, (params, response.text)


async def test_a_page_of_lines_ends_on_a_whole_invoice_with_all_its_payments(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    issued = []
    for _ in range(3):
        invoice = await api.invoice(student["id"], amount=3_000)
        for _ in range(3):  # three payment rows per invoice in the joined lines
            await api.payment(invoice["id"], amount=500)
        issued.append(invoice["id"])
    path = f"/api/v1/students/{student['id']}/statement"

    exact = (await api.get(path, params={"lines_limit": 3})).json()
    assert [line["id"] for line in exact["invoices"]] == issued
    assert exact["invoices_next_cursor"] is None
    assert all(len(line["payments"]) == 3 for line in exact["invoices"])

    first = (await api.get(path, params={"lines_limit": 2})).json()
    assert [line["id"] for line in first["invoices"]] == issued[:2]
    assert all(len(line["payments"]) == 3 for line in first["invoices"])
    rest = (
        await api.get(
            path, params={"lines_limit": 2, "lines_cursor": first["invoices_next_cursor"]}
        )
    ).json()
    assert [line["id"] for line in rest["invoices"]] == issued[2:]
    assert len(rest["invoices"][0]["payments"]) == 3
    assert rest["invoices_next_cursor"] is None


async def test_the_csv_carries_every_line_whatever_the_page_size(api: Api) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    for _ in range(3):
        await api.invoice(student["id"], description="Tuition line")
    response = await api.get(
        f"/api/v1/students/{student['id']}/statement",
        params={"lines_limit": 1},
        headers={"Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.text.count("Tuition line") == 3


# -- an unmigrated database ---------------------------------------------------------------------


async def test_an_unmigrated_database_answers_503_schema_not_ready_and_readyz_says_behind(
    tmp_path: Path, clock: FixedClock
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    async with running_api(settings_for(url), clock) as api:
        response = await api.post("/api/v1/schools", json={"name": "X"})
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "schema_not_ready"
        assert "school-payments migrate" in response.json()["detail"]
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["schema"] == "behind"
        assert ready.json()["code"] == "schema_not_ready"


async def test_serve_warns_at_start_when_the_schema_is_behind(
    tmp_path: Path, clock: FixedClock
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assembly = assemble(settings_for(url), clock)
    app = create_api(assembly.services)
    with captured_logs() as logs:
        async with app.router.lifespan_context(app):
            await asyncio.sleep(0)
    await assembly.close()
    assert any("school-payments migrate" in line["message"] for line in logs.lines())


async def test_a_migrated_database_is_ready_with_schema_ok(api: Api) -> None:
    response = await api.client.get("/readyz")
    assert response.json()["schema"] == "ok"
