"""Webhook figures on the local PostgreSQL: events delivered per second to a loopback receiver,
and what the outbox costs a payment (payments/s with and without a webhook endpoint, same run).

    .venv/bin/python -m benchmarks.webhooks [--events 2000] [--payments 1500] [--workers 2]

The API runs in process (httpx over ASGI, 8 concurrent clients), so the payment figures are the
service's own cost without the HTTP server; the workers are `PgQueuerWorker`s in this process
(each with its own connections, as separate processes would have). Writes
benchmarks/results/webhooks-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks.harness import ROOT, machine
from school_payments.adapters.clock import SystemClock
from school_payments.adapters.persistence.database import libpq_dsn
from school_payments.adapters.persistence.migrations import upgrade
from school_payments.adapters.web.app import create_api
from school_payments.adapters.webhooks.worker import PgQueuerWorker
from school_payments.main import assemble, webhook_worker_parts
from school_payments.settings import Settings

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
KEY = "bench-operator-key"
CLIENTS = 8
ROUNDS = 5


class Receiver:
    """A minimal HTTP/1.1 server answering 204 (keep-alive) and counting deliveries."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.count = 0
        self.port = 0

    async def start(self) -> None:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
                length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
                await reader.readexactly(length)
                self.ids.add(head.split("webhook-id:", 1)[1].split("\r\n", 1)[0].strip())
                self.count += 1
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def _database() -> tuple[str, str]:
    name = f"sp_bench_hooks_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return name, ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def _drop(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


async def _payments_per_second(client: httpx.AsyncClient, school_id: str, count: int) -> float:
    student = await _post(
        client, f"/api/v1/schools/{school_id}/students", {"first_name": "A", "last_name": "B"}
    )
    invoices = [
        await _post(
            client,
            f"/api/v1/students/{student['id']}/invoices",
            {"amount": 10**9, "due_date": "2099-01-01", "description": "Fees"},
        )
        for _ in range(CLIENTS)
    ]

    async def pay(invoice_id: str, times: int) -> None:
        for _ in range(times):
            await _post(
                client, f"/api/v1/invoices/{invoice_id}/payments", {"amount": 1, "method": "cash"}
            )

    started = time.perf_counter()
    await asyncio.gather(*(pay(invoice["id"], count // CLIENTS) for invoice in invoices))
    return (count // CLIENTS * CLIENTS) / (time.perf_counter() - started)


async def run(events: int, payments: int, workers: int) -> dict[str, Any]:
    name, url = await _database()
    try:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(database_url=url, admin_api_key=KEY, webhook_allow_private_urls=True)
        assembly = assemble(settings, SystemClock())
        app = create_api(assembly.services, access_log=False)
        receiver = Receiver()
        await receiver.start()
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers
        ) as client:
            plain = await _post(
                client, "/api/v1/schools", {"name": "No hooks", "default_currency": "MXN"}
            )
            hooked = await _post(
                client, "/api/v1/schools", {"name": "Hooks", "default_currency": "MXN"}
            )
            await _post(
                client,
                f"/api/v1/schools/{hooked['id']}/webhook-endpoints",
                {"url": f"http://127.0.0.1:{receiver.port}/in", "event_types": ["*"]},
            )
            # Payments, alternating rounds so both see the same machine.
            without, with_hooks = [], []
            for _ in range(ROUNDS):
                without.append(await _payments_per_second(client, plain["id"], payments // ROUNDS))
                with_hooks.append(
                    await _payments_per_second(client, hooked["id"], payments // ROUNDS)
                )
            # Events to deliver: student enrolments in the hooked school, then the workers.
            backlog_started = time.perf_counter()
            for _ in range(events):
                await _post(
                    client,
                    f"/api/v1/schools/{hooked['id']}/students",
                    {"first_name": "E", "last_name": "V"},
                )
            enqueue_seconds = time.perf_counter() - backlog_started
        connection = await asyncpg.connect(url)
        total = int(await connection.fetchval("SELECT count(*) FROM webhook_deliveries"))
        await connection.close()
        runners = []
        for _ in range(workers):
            parts = webhook_worker_parts(settings, assembly.database, SystemClock())
            runners.append(
                PgQueuerWorker(libpq_dsn(url), parts.deliver, parts.store, SystemClock())
            )
        started = time.perf_counter()
        tasks = [asyncio.create_task(r.run()) for r in runners]
        deadline = started + 300
        while len(receiver.ids) < total and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # polling costs nothing next to the deliveries measured
        delivered_seconds = time.perf_counter() - started
        for runner in runners:
            runner.stop()
        await asyncio.wait(tasks, timeout=15)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await assembly.close()
        return {
            "events_delivered": len(receiver.ids),
            "events_expected": total,
            "deliveries_received": receiver.count,
            "workers": workers,
            "events_delivered_per_second": round(len(receiver.ids) / delivered_seconds, 1),
            "student_enrolments_per_second_with_hooks": round(events / enqueue_seconds, 1),
            "payments_per_second_without_webhooks": [round(x, 1) for x in without],
            "payments_per_second_with_webhooks": [round(x, 1) for x in with_hooks],
            "payments_per_second_median_without_webhooks": round(statistics.median(without), 1),
            "payments_per_second_median_with_webhooks": round(statistics.median(with_hooks), 1),
            "webhook_cost_percent_of_median": round(
                100 * (1 - statistics.median(with_hooks) / statistics.median(without)), 1
            ),
        }
    finally:
        await _drop(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--payments", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    figures = asyncio.run(run(args.events, args.payments, args.workers))
    result = {"machine": machine(), "webhooks": figures}
    out = ROOT / "benchmarks" / "results" / f"webhooks-{date.today().isoformat()}.json"
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
