"""PostgreSQL stops and starts again under a steady trickle of requests.

The database is a throwaway cluster of the test's own (tests/support/postgres_cluster.py),
stopped with `pg_ctl stop -m fast` (clients are disconnected, a clean shutdown) or
`-m immediate` (a crash, recovered at the next start). While it is down every request must get
a problem+json 503 (a statement may still come from the cache), never a 500 or a hang;
`/readyz` answers 503 and `/healthz` 200. Once it is back the service recovers by itself, and
no payment that was acknowledged is lost: after retrying every payment that got a 503 with its
key, the database holds exactly the acknowledged payments, and reconciliation finds nothing.

The time each 503 took and the time to recover are printed (`pytest -s`), not asserted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.reconcile import reconcile
from school_payments.adapters.webhooks.worker import InProcessWorker
from school_payments.main import webhook_worker_parts
from tests.faults.trickle import HANG_GUARD_SECONDS, Outcome, Trickle, seconds_summary, until
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.databases import truncate
from tests.support.ledger import InvoiceFact, Ledger
from tests.support.postgres_cluster import PostgresCluster, StopMode
from tests.support.receiver import Receiver

# A PostgreSQL cluster of the module's own, started from the PostgreSQL binaries.
pytestmark = pytest.mark.postgres

INVOICE_AMOUNT = 10**9  # never paid off by the trickle: every refusal would be a failure


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with PostgresCluster.running_one() as found:
        yield found


@pytest.fixture(scope="module")
async def cluster_database(cluster: PostgresCluster) -> str:
    return await cluster.migrated_database()


@pytest.fixture
async def api(
    cluster: PostgresCluster, cluster_database: str, clock: FixedClock
) -> AsyncIterator[Api]:
    if not cluster.running:  # a failed test may have left it stopped
        cluster.start()
    await truncate(cluster_database)
    settings = settings_for(cluster_database, webhook_allow_private_urls=True)
    async with running_api(settings, clock) as running:
        yield running


class Billing:
    """Two students with an invoice each, and the payments the service acknowledged."""

    def __init__(self, api: Api, school: dict[str, Any], invoices: list[dict[str, Any]]) -> None:
        self.api = api
        self.school = school
        self.invoices = invoices
        self.ledger = Ledger("UTC")
        for invoice in invoices:
            self.ledger.students.append(invoice["student_id"])
            self.ledger.invoices[invoice["id"]] = InvoiceFact(
                invoice["id"],
                invoice["student_id"],
                invoice["currency"],
                invoice["amount"],
                date.fromisoformat(invoice["due_date"]),
                api.clock.now(),
            )

    @classmethod
    async def create(cls, api: Api) -> Billing:
        school = await api.school()
        invoices = []
        for name in ("Ana", "Luis"):
            student = await api.student(school["id"], first_name=name)
            invoices.append(await api.invoice(student["id"], amount=INVOICE_AMOUNT))
        return cls(api, school, invoices)

    def invoice_for(self, token: str) -> dict[str, Any]:
        return self.invoices[_number(token) % len(self.invoices)]

    @staticmethod
    def body_for(token: str) -> dict[str, Any]:
        return {"amount": 100 + _number(token) % 900, "method": "cash"}

    async def pay(self, token: str) -> httpx.Response:
        invoice = self.invoice_for(token)
        return await self.api.post(
            f"/api/v1/invoices/{invoice['id']}/payments",
            json=self.body_for(token),
            headers={"Idempotency-Key": token},
        )

    def acknowledge(self, token: str, payment: dict[str, Any]) -> None:
        fact = self.ledger.invoices[self.invoice_for(token)["id"]]
        if payment["id"] not in {p[0] for p in fact.payments}:
            fact.payments.append((payment["id"], payment["amount"], self.api.clock.now()))

    def operations(self) -> dict[str, Any]:
        first, second = self.invoices
        return {
            "payment": self.pay,
            "invoice": lambda _: self.api.get(f"/api/v1/invoices/{first['id']}"),
            "student statement": lambda _: self.api.get(
                f"/api/v1/students/{second['student_id']}/statement"
            ),
            "school statement": lambda _: self.api.get(
                f"/api/v1/schools/{self.school['id']}/statement"
            ),
        }


def _number(token: str) -> int:
    return int(token.rsplit("-", 1)[1])


def _is_database_unavailable(outcome: Outcome) -> bool:
    response = outcome.response
    assert response is not None
    return (
        response.status_code == 503
        and response.headers["content-type"] == "application/problem+json"
        and response.json()["code"] == "database_unavailable"
        and response.headers.get("retry-after") == "1"
    )


async def _timed(send: Any) -> tuple[int, float]:
    started = time.monotonic()
    response = await asyncio.wait_for(send("burst"), HANG_GUARD_SECONDS)
    return response.status_code, time.monotonic() - started


async def _answers(api: Api, invoice_id: str) -> bool:
    return (await api.get(f"/api/v1/invoices/{invoice_id}")).status_code == 200


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_while_postgresql_is_down_requests_get_a_503_and_no_acknowledged_payment_is_lost(
    api: Api, cluster: PostgresCluster, cluster_database: str, mode: StopMode
) -> None:
    billing = await Billing.create(api)
    receiver = Receiver()
    await receiver.start()
    hooked = await api.post(
        f"/api/v1/schools/{billing.school['id']}/webhook-endpoints",
        json={"url": receiver.url, "event_types": ["payment.recorded"]},
    )
    assert hooked.status_code == 201, hooked.text
    async with Trickle(billing.operations(), clients=3) as trickle:
        await asyncio.sleep(0.4)
        await asyncio.to_thread(cluster.stop, mode)
        down_at = time.monotonic()
        await asyncio.sleep(0.3)
        ready = await asyncio.wait_for(api.client.get("/readyz"), HANG_GUARD_SECONDS)
        health = await asyncio.wait_for(api.client.get("/healthz"), HANG_GUARD_SECONDS)
        # More requests at once than the pool has connections (20): none waits for a slot.
        burst = await asyncio.gather(*(_timed(billing.operations()["invoice"]) for _ in range(60)))
        await asyncio.sleep(0.7)
        restart_at = time.monotonic()
        await asyncio.to_thread(cluster.start)
        up_at = time.monotonic()
        recovery = await until(
            lambda: _answers(api, billing.invoices[0]["id"]), what="a read after the restart"
        )
        await asyncio.sleep(0.4)
    ready_after = await api.client.get("/readyz")

    assert (ready.status_code, ready.headers["content-type"]) == (503, "application/problem+json")
    assert {k: ready.json()[k] for k in ("database", "cache", "circuit_breaker")} == {
        "database": "unavailable",
        "cache": "ok",
        "circuit_breaker": "CLOSED",
    }
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert {status for status, _ in burst} == {503}
    assert (ready_after.status_code, ready_after.json()["database"]) == (200, "ok")

    hung = [o for o in trickle.outcomes if o.response is None]
    assert hung == [], f"requests that never got an answer: {hung}"
    assert {o.status for o in trickle.outcomes} <= {200, 201, 503}
    unavailable = [o for o in trickle.outcomes if o.status == 503]
    assert all(_is_database_unavailable(o) for o in unavailable)
    while_down = [o for o in trickle.outcomes if o.within(down_at, restart_at)]
    assert while_down, "no request was sent while PostgreSQL was down"
    for outcome in while_down:
        # Only a statement cached before the outage may still be served while it lasts.
        served_from_cache = outcome.status == 200 and outcome.operation.endswith("statement")
        assert outcome.status == 503 or (
            served_from_cache
            and outcome.response is not None
            and outcome.response.headers["x-cache"] == "HIT"
        ), (outcome.operation, outcome.status)

    # Every payment that got a 503 is retried with its key: it happened once, or now happens.
    api.clock.advance(seconds=31)  # claims left locked by a lost connection have expired
    payments = trickle.of("payment")
    for outcome in payments:
        if outcome.status == 201:
            billing.acknowledge(outcome.token, outcome.json())
    retried = [o for o in payments if o.status == 503]
    for outcome in retried:
        retry = await asyncio.wait_for(billing.pay(outcome.token), HANG_GUARD_SECONDS)
        assert retry.status_code == 201, retry.text
        billing.acknowledge(outcome.token, retry.json())
    await _assert_exactly_the_acknowledged_payments(api, cluster_database, billing)
    _assert_statements_showed_every_acknowledged_payment(trickle, billing)
    await _assert_each_acknowledged_payment_had_its_event_delivered(
        api, cluster_database, billing, receiver
    )
    await receiver.stop()

    figures = {
        "requests": len(trickle.outcomes),
        "payments sent": len(payments),
        "acknowledged at once": sum(o.status == 201 for o in payments),
        "503 then retried": len(retried),
        "statements served from the cache while down": sum(o.status == 200 for o in while_down),
    }
    print(
        f"\nPostgreSQL stop -m {mode}: {figures}"
        f"\n  503s while down: {seconds_summary(o.seconds for o in while_down if o.status == 503)}"
        f"\n  all 503s: {seconds_summary(o.seconds for o in unavailable)}"
        f"\n  a burst of 60 at once while down: {seconds_summary(s for _, s in burst)}"
        f"\n  recovered {recovery * 1000:.1f} ms after `pg_ctl start` returned"
        f" ({(up_at - restart_at + recovery) * 1000:.0f} ms after it was issued)"
    )


async def _assert_each_acknowledged_payment_had_its_event_delivered(
    api: Api, url: str, billing: Billing, receiver: Receiver
) -> None:
    """The outbox: one `payment.recorded` per acknowledged payment (none for the lost ones),
    each delivered once the database is back."""
    acknowledged = sorted(p[0] for f in billing.ledger.invoices.values() for p in f.payments)
    listed: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = (await api.get(f"/api/v1/events?type=payment.recorded&limit=200{cursor}")).json()
        listed += page["data"]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    recorded = [e["data"]["object"]["id"] for e in listed]
    assert sorted(recorded) == acknowledged
    settings = settings_for(url, webhook_allow_private_urls=True)
    parts = webhook_worker_parts(settings, api.assembly.database, api.clock)
    try:
        await InProcessWorker(parts.deliver, parts.store, api.clock).run_once()
    finally:
        await parts.close()
    events = {e["id"] for e in listed}
    assert set(receiver.ids()) == events


async def _assert_exactly_the_acknowledged_payments(api: Api, url: str, billing: Billing) -> None:
    for fact in billing.ledger.invoices.values():
        found = (await api.get(f"/api/v1/invoices/{fact.id}")).json()
        assert sorted(p["id"] for p in found["payments"]) == sorted(p[0] for p in fact.payments)
        assert found["amount_paid"] == sum(p[1] for p in fact.payments)
        statement = (await api.get(f"/api/v1/students/{fact.student_id}/statement")).json()
        today = billing.ledger.day_of(api.clock.now())
        expected = billing.ledger.student_totals(fact.student_id, today, None)
        assert statement["totals"] == expected
    database = Database(DatabaseSettings(url=url))
    try:
        assert await reconcile(database) == []
    finally:
        await database.dispose()


def _assert_statements_showed_every_acknowledged_payment(
    trickle: Trickle, billing: Billing
) -> None:
    """A statement shows each payment acknowledged before it was asked for, and nothing more."""
    final = {p[0] for fact in billing.ledger.invoices.values() for p in fact.payments}
    acknowledged = [(o.ended, o.json()["id"]) for o in trickle.of("payment") if o.status == 201]
    for outcome in trickle.of("student statement"):
        if outcome.status != 200:
            continue
        shown = {p["id"] for line in outcome.json()["invoices"] for p in line["payments"]}
        invoice_ids = {line["id"] for line in outcome.json()["invoices"]}
        on_these = {
            pid
            for ended, pid in acknowledged
            if ended < outcome.started and _invoice_of(billing, pid) in invoice_ids
        }
        assert on_these <= shown <= final


def _invoice_of(billing: Billing, payment_id: str) -> str:
    for fact in billing.ledger.invoices.values():
        if payment_id in {p[0] for p in fact.payments}:
            return fact.id
    raise AssertionError(f"payment {payment_id} is not in the ledger")
