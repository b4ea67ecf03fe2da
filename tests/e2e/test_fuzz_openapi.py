"""Fuzzing the running service with schemathesis, driven by the service's own OpenAPI document.

The service runs as operators run it (`school-payments serve`, real HTTP, PostgreSQL). The
schemathesis command runs every phase (examples, coverage, fuzzing, stateful) against every
operation, once with the operator key and once with a school key, with a fixed seed and a
bounded number of examples. Path ids are drawn from real resources (most of the time) or made
up, so that requests reach the handlers and not only the 404s. The checks: no 5xx; every status
code, content type, header and body is the one documented; invalid input is refused; the API
refuses requests without a key; undocumented methods answer 405 with the right `Allow`; what was
created can be read and what was deleted cannot.

Figures (operations, test cases) are printed (`pytest -s`); a failure shows schemathesis' report,
with a `curl` line to reproduce each finding.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import OPERATOR_KEY
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.redis_server import free_port

# Every test here runs against the live service on a database of the real PostgreSQL.
pytestmark = pytest.mark.postgres

SEED = 20261124
MAX_EXAMPLES = 25  # per operation and phase
CHECKS_LEFT_OUT = "positive_data_acceptance"  # valid data is still refused by 404s and 409s
COMMAND = str(Path(sys.executable).with_name("school-payments"))
RUN_GUARD_SECONDS = 600  # a fuzz run that takes this long has hung


@dataclass(frozen=True)
class LiveService:
    url: str
    school_key: str
    ids: dict[str, list[str]]  # dictionary name -> real ids of that kind


def _start(database_url: str, port: int) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ADMIN_API_KEY": OPERATOR_KEY,
        "LOG_LEVEL": "WARNING",
    }
    environment.pop("REDIS_URL", None)
    return subprocess.Popen(
        [COMMAND, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, "the service exited at start"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError("the service did not start")


def _resources(url: str) -> tuple[str, dict[str, list[str]]]:
    """A school with a paid, a part-paid and a cancelled invoice, and another school."""
    client = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}, timeout=10
    )

    def created(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = client.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        found: dict[str, Any] = response.json()
        return found

    with client:
        ids: dict[str, list[str]] = {
            k: [] for k in ("schools", "students", "invoices", "payments", "keys")
        }
        for name, currency in (("Colegio Fuzz", "MXN"), ("Otra Escuela", "USD")):
            school = created("/api/v1/schools", {"name": name, "default_currency": currency})
            ids["schools"].append(school["id"])
            student = created(
                f"/api/v1/schools/{school['id']}/students", {"first_name": "A", "last_name": "B"}
            )
            ids["students"].append(student["id"])
            for amount, paid, due in (
                (50_000, 50_000, "2026-09-01"),
                (80_000, 30_000, "2027-01-15"),
            ):
                invoice = created(
                    f"/api/v1/students/{student['id']}/invoices",
                    {"amount": amount, "due_date": due, "description": "Tuition"},
                )
                ids["invoices"].append(invoice["id"])
                payment = created(
                    f"/api/v1/invoices/{invoice['id']}/payments", {"amount": paid, "method": "card"}
                )
                ids["payments"].append(payment["id"])
            cancelled = created(
                f"/api/v1/students/{student['id']}/invoices",
                {"amount": 1_000, "due_date": "2026-12-01", "description": "Trip"},
            )
            created(f"/api/v1/invoices/{cancelled['id']}/cancel")
            ids["invoices"].append(cancelled["id"])
            ids["keys"].append(created(f"/api/v1/schools/{school['id']}/api-keys")["id"])
        school_key = created(f"/api/v1/schools/{ids['schools'][0]}/api-keys")["key"]
    return school_key, ids


@pytest.fixture(scope="module")
async def live_service() -> AsyncIterator[LiveService]:
    database_url = await create_postgres_database()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start(database_url, port)
    try:
        _wait_until_up(url, server)
        school_key, ids = _resources(url)
        yield LiveService(url, school_key, ids)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        await drop_postgres_database(database_url)


def _config(ids: dict[str, list[str]], directory: Path) -> Path:
    """Path parameters drawn from real ids 80% of the time (made up otherwise)."""
    lines = ['[generation]\ndatabase = "none"\n']
    for name, values in ids.items():
        lines.append(f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n")
    lines.append("[parameters]")
    for parameter, name in (
        ("path.school_id", "schools"),
        ("path.student_id", "students"),
        ("path.invoice_id", "invoices"),
        ("path.payment_id", "payments"),
        ("path.key_id", "keys"),
        ("query.student_id", "students"),
    ):
        lines.append(f'"{parameter}" = {{ dictionary = "{name}", probability = 0.8 }}')
    path = directory / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _fuzz(service: LiveService, key: str, seed: int) -> tuple[int, str]:
    with tempfile.TemporaryDirectory(prefix="sp-fuzz-") as directory:
        config = _config(service.ids, Path(directory))
        arguments = ["--config-file", str(config), "run", f"{service.url}/openapi.json"]
        arguments += ["--header", f"Authorization: Bearer {key}", "--seed", str(seed)]
        arguments += ["--max-examples", str(MAX_EXAMPLES), "--request-timeout", "10"]
        arguments += ["--checks", "all", "--exclude-checks", CHECKS_LEFT_OUT, "--no-color"]
        completed = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", *arguments],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=RUN_GUARD_SECONDS,
            check=False,
        )
    return completed.returncode, completed.stdout + completed.stderr


def _figures(output: str) -> str:
    tested = re.search(r"Tested:\s*(\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    return (
        f"{tested.group(1) if tested else '?'} operations,"
        f" {cases.group(1) if cases else '?'} test cases, seed {SEED}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("caller", ["operator key", "school key"])
def test_fuzzing_finds_no_server_error_and_nothing_the_openapi_document_does_not_say(
    live_service: LiveService, caller: str
) -> None:
    key = OPERATOR_KEY if caller == "operator key" else live_service.school_key
    status, output = _fuzz(live_service, key, SEED)
    print(f"\nschemathesis with the {caller}: {_figures(output)}")
    assert status == 0, output[-20_000:]
    assert "Tested: 0" not in output


def test_a_405_names_every_method_its_path_serves(live_service: LiveService) -> None:
    school_id = live_service.ids["schools"][0]
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    for path, allowed in (
        ("/api/v1/schools", "GET, HEAD, POST"),
        (f"/api/v1/schools/{school_id}", "DELETE, GET, HEAD, PATCH"),
        (f"/api/v1/payments/{live_service.ids['payments'][0]}", "GET, HEAD"),
    ):
        response = httpx.put(f"{live_service.url}{path}", headers=headers, json={})
        assert response.status_code == 405
        assert response.headers["allow"] == allowed
        assert response.json()["code"] == "method_not_allowed"


def test_every_documented_error_is_a_problem_document_and_every_write_may_be_too_large(
    live_service: LiveService,
) -> None:
    document = httpx.get(f"{live_service.url}/openapi.json", timeout=10).json()
    operations = [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= 27
    for method, path, operation in operations:
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                content = response["content"]
                assert "application/problem+json" in content, (method, path, status)
                schema = content["application/problem+json"]["schema"]
                assert {"type", "title", "status", "detail", "code"} <= set(schema["required"])
        if path.startswith("/api/v1") and method not in ("GET", "HEAD", "OPTIONS"):
            assert "413" in operation["responses"], (method, path)


def test_a_body_over_the_limit_is_refused_even_where_none_is_read(
    live_service: LiveService,
) -> None:
    school_id = live_service.ids["schools"][1]
    response = httpx.request(
        "DELETE",
        f"{live_service.url}/api/v1/schools/{school_id}",
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        content=b"x" * (64 * 1024 + 1),
    )
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
