"""Every error is problem+json with a stable code, in the contract's order of checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock

MISSING = "01a20c0e-3763-70c0-8427-b70767570684"


def _is_problem(response_status: int, body: dict[str, object], code: str) -> None:
    assert body["status"] == response_status
    assert body["code"] == code
    assert str(body["type"]).endswith(f":{code}")
    assert body["title"]
    assert body["detail"]


async def test_a_body_that_is_not_json_is_a_400(api: Api) -> None:
    school = await api.school()
    for raw in (b"{bad", b"", b"   ", b'{"name": NaN}', b"\xff\xfe", b'{"name": "a"'):
        response = await api.post(
            f"/api/v1/schools/{school['id']}/students",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, raw
        assert response.headers["content-type"] == "application/problem+json"
        _is_problem(400, response.json(), "malformed_json")


async def test_json_that_is_not_an_object_is_a_422(api: Api) -> None:
    for body in ("[]", '"text"', "42", "null"):
        response = await api.post(
            "/api/v1/schools", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, body
        _is_problem(422, response.json(), "validation_error")


async def test_a_body_over_64_kib_is_refused(api: Api) -> None:
    response = await api.post("/api/v1/schools", json={"name": "x" * 70_000})
    assert response.status_code == 413
    _is_problem(413, response.json(), "payload_too_large")

    # No Content-Length: the limit holds while the body streams in.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    streamed = await api.post("/api/v1/schools", content=chunks())
    assert streamed.status_code == 413
    assert (await api.get("/api/v1/schools")).json()["data"] == []


async def test_the_checks_run_in_the_contracts_order(api: Api) -> None:
    school = await api.school()
    school_key = await api.school_key(school["id"])
    invalid = {"name": ""}
    # 401 before everything, even on a path that does not exist.
    assert (await api.post("/api/v1/nowhere", key="", json=invalid)).status_code == 401
    # 403 before the body is read.
    forbidden = await api.post("/api/v1/schools", key=school_key, content=b"{bad")
    assert forbidden.status_code == 403
    _is_problem(403, forbidden.json(), "forbidden")
    # 400 before 422 before 404.
    missing_path = f"/api/v1/schools/{MISSING}/students"
    assert (await api.post(missing_path, content=b"{bad")).status_code == 400
    assert (await api.post(missing_path, json={"first_name": ""})).status_code == 422
    assert (
        await api.post(missing_path, json={"first_name": "A", "last_name": "B"})
    ).status_code == 404


async def test_a_request_without_a_valid_key_is_unauthenticated(api: Api) -> None:
    school = await api.school()
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": f"Token {api.key}"},
    ):
        response = await api.client.get(f"/api/v1/schools/{school['id']}", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        _is_problem(401, response.json(), "unauthenticated")


async def test_an_unknown_path_with_a_key_is_not_found(api: Api) -> None:
    response = await api.get("/api/v1/nowhere")
    assert response.status_code == 404
    _is_problem(404, response.json(), "not_found")


async def test_every_response_carries_a_request_id_and_a_sane_one_is_echoed(api: Api) -> None:
    mine = await api.get("/api/v1/schools", headers={"X-Request-ID": "req-42"})
    assert mine.headers["x-request-id"] == "req-42"
    insane = await api.get("/api/v1/schools", headers={"X-Request-ID": "bad id with spaces"})
    assert insane.headers["x-request-id"] != "bad id with spaces"
    assert len(insane.headers["x-request-id"]) == 32
    assert (await api.client.get("/healthz")).headers["x-request-id"]
    assert (await api.get("/api/v1/nowhere", key="")).headers["x-request-id"]


async def test_an_unreachable_database_is_a_503_not_a_500(
    clock: FixedClock, tmp_path: Path
) -> None:
    # A port nothing listens on: every connection is refused at once.
    url = "postgresql+asyncpg://postgres@127.0.0.1:9/none"
    async with running_api(settings_for(url), clock) as api:
        # An operator key needs no database; a school key would (and would also get 503).
        response = await api.get("/api/v1/schools")
        assert response.status_code == 503
        _is_problem(503, response.json(), "database_unavailable")
        assert response.headers["retry-after"] == "1"
        created = await api.post("/api/v1/schools", json={"name": "A"})
        assert created.status_code == 503
        unknown_key = await api.get("/api/v1/schools", key="spk_unknown")
        assert unknown_key.status_code == 503
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert (body["database"], body["code"]) == ("unavailable", "database_unavailable")
        assert (await api.client.get("/healthz")).status_code == 200
