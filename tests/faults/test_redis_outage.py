"""Redis freezes, dies and comes back under a steady trickle of statement reads and payments.

The service runs on the real PostgreSQL with a redis-server of the test's own. Redis is frozen
(SIGSTOP: connections hang), thawed, killed and started again (empty). Throughout, statements
answer 200 with exact figures: each shows every payment acknowledged before it was asked for,
and nothing that was never acknowledged; while Redis is unavailable they say `X-Cache: BYPASS`;
after it is back the breaker closes and the cache is used again. Payments never fail because of
Redis.

The time until the cache answered again is printed (`pytest -s`), not asserted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from school_payments.adapters.cache.redis_cache import RedisStatementCache
from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.reconcile import reconcile
from tests.faults.trickle import HANG_GUARD_SECONDS, Outcome, Trickle, seconds_summary, until
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.redis_server import RedisServer

COOLDOWN_SECONDS = 1.0  # the breaker's cool-down (5 s by default): how soon Redis is tried again
OUTAGE_SECONDS = 1.0


@pytest.fixture
async def api(pg_url: str, redis_server: RedisServer, clock: FixedClock) -> AsyncIterator[Api]:
    settings = settings_for(
        pg_url, redis_url=redis_server.url, breaker_cooldown_seconds=COOLDOWN_SECONDS
    )
    async with running_api(settings, clock) as running:
        yield running


def _breaker(api: Api) -> str:
    cache = api.assembly.cache
    assert isinstance(cache, RedisStatementCache)
    return cache.breaker.state.value


class Accounts:
    """Three students with an invoice each; each client of the trickle pays one of them."""

    def __init__(self, api: Api, school: dict[str, Any], invoices: list[dict[str, Any]]) -> None:
        self.api = api
        self.school = school
        self.invoices = invoices

    @classmethod
    async def create(cls, api: Api) -> Accounts:
        school = await api.school()
        invoices = []
        for name in ("Ana", "Luis", "Eva"):
            student = await api.student(school["id"], first_name=name)
            invoices.append(await api.invoice(student["id"], amount=10**9))
        return cls(api, school, invoices)

    def _invoice(self, token: str) -> dict[str, Any]:
        return self.invoices[int(token.rsplit("-", 1)[1]) % len(self.invoices)]

    async def pay(self, token: str) -> httpx.Response:
        return await self.api.post(
            f"/api/v1/invoices/{self._invoice(token)['id']}/payments",
            json={"amount": 250, "method": "card"},
            headers={"Idempotency-Key": token},
        )

    async def student_statement(self, token: str) -> httpx.Response:
        student_id = self._invoice(token)["student_id"]
        return await self.api.get(f"/api/v1/students/{student_id}/statement")

    async def school_statement(self, _token: str) -> httpx.Response:
        return await self.api.get(f"/api/v1/schools/{self.school['id']}/statement")

    def operations(self) -> dict[str, Any]:
        return {
            "payment": self.pay,
            "student statement": self.student_statement,
            "school statement": self.school_statement,
        }


async def _cache_answers_again(api: Api, accounts: Accounts) -> bool:
    response = await accounts.student_statement("probe-0")
    assert response.status_code == 200
    return _breaker(api) == "CLOSED" and response.headers["x-cache"] in ("HIT", "MISS")


async def test_statements_stay_exact_through_a_frozen_a_killed_and_a_restarted_redis(
    api: Api, redis_server: RedisServer, pg_url: str
) -> None:
    accounts = await Accounts.create(api)
    outages: list[tuple[str, float, float]] = []
    recoveries: dict[str, float] = {}
    async with Trickle(accounts.operations(), clients=3) as trickle:
        await asyncio.sleep(0.5)

        redis_server.freeze()
        frozen_at = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        ready_frozen = await asyncio.wait_for(api.client.get("/readyz"), HANG_GUARD_SECONDS)
        outages.append(("frozen", frozen_at, time.monotonic()))
        redis_server.thaw()
        recoveries["thawed"] = await until(
            lambda: _cache_answers_again(api, accounts), what="the cache after a thaw"
        )
        await asyncio.sleep(0.3)

        redis_server.kill()
        killed_at = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        ready_killed = await asyncio.wait_for(api.client.get("/readyz"), HANG_GUARD_SECONDS)
        outages.append(("killed", killed_at, time.monotonic()))
        redis_server.start()  # a new, empty server on the same port
        recoveries["restarted"] = await until(
            lambda: _cache_answers_again(api, accounts), what="the cache after a restart"
        )
        await asyncio.sleep(0.5)

    for ready in (ready_frozen, ready_killed):
        assert ready.status_code == 200  # a cache outage never makes the service unready
        assert ready.json()["database"] == "ok"
        assert ready.json()["cache"] == "unavailable"
    hung = [o for o in trickle.outcomes if o.response is None]
    assert hung == [], f"requests that never got an answer: {hung}"
    statuses = {(o.operation, o.status) for o in trickle.outcomes}
    assert statuses <= {("payment", 201), ("student statement", 200), ("school statement", 200)}

    statements = trickle.of("student statement", "school statement")
    during = {name: [o for o in statements if o.within(start, end)] for name, start, end in outages}
    for name, outcomes in during.items():
        assert outcomes, f"no statement was read while Redis was {name}"
        assert {_cache_header(o) for o in outcomes} == {"BYPASS"}, name
    after = [o for o in statements if o.started > outages[-1][2] + recoveries["restarted"]]
    answered = [o for o in after if _cache_header(o) in ("HIT", "MISS")]
    assert answered, "the cache was not used again after Redis came back"
    # With no payment in between, a second read is served from the cache.
    path = f"/api/v1/students/{accounts.invoices[0]['student_id']}/statement"
    assert [(await api.get(path)).headers["x-cache"] for _ in range(2)][1] == "HIT"

    acknowledged = [
        (o.ended, o.json()["id"], o.json()["invoice_id"]) for o in trickle.of("payment")
    ]
    await _assert_statements_were_exact(api, accounts, trickle, acknowledged)
    database = Database(DatabaseSettings(url=pg_url))
    try:
        assert await reconcile(database) == []
    finally:
        await database.dispose()

    bypassed = [o for outcomes in during.values() for o in outcomes]
    print(
        f"\nRedis frozen, killed, restarted: {len(trickle.outcomes)} requests,"
        f" {len(acknowledged)} payments (all 201), {len(statements)} statements"
        f" ({len(bypassed)} read while Redis was down, all BYPASS;"
        f" after it came back {len(answered)} of {len(after)} answered by the cache)"
        f"\n  statements while Redis was down: {seconds_summary(o.seconds for o in bypassed)}"
        f"\n  cache answering again {recoveries['thawed'] * 1000:.0f} ms after the thaw and"
        f" {recoveries['restarted'] * 1000:.0f} ms after the restart"
        f" (breaker cool-down {COOLDOWN_SECONDS} s)"
    )


def _cache_header(outcome: Outcome) -> str:
    assert outcome.response is not None
    return outcome.response.headers["x-cache"]


async def _assert_statements_were_exact(
    api: Api, accounts: Accounts, trickle: Trickle, acknowledged: list[tuple[float, str, str]]
) -> None:
    """Each statement showed every payment acknowledged before it was asked for, nothing more."""
    paid_by_invoice = {i["id"]: 0 for i in accounts.invoices}
    for _, _, invoice_id in acknowledged:
        paid_by_invoice[invoice_id] += 250
    all_ids = {payment_id for _, payment_id, _ in acknowledged}
    for outcome in trickle.of("student statement"):
        (line,) = outcome.json()["invoices"]
        shown = {p["id"] for p in line["payments"]}
        before = {
            pid for ended, pid, iid in acknowledged if iid == line["id"] and ended < outcome.started
        }
        assert before <= shown <= all_ids
        totals = outcome.json()["totals"][0]
        assert totals["paid"] == line["amount_paid"] == 250 * len(shown)
        assert totals["outstanding"] == totals["invoiced"] - totals["paid"]
    for outcome in trickle.of("school statement"):
        paid = outcome.json()["totals"][0]["paid"]
        floor = 250 * sum(ended < outcome.started for ended, _, _ in acknowledged)
        assert floor <= paid <= 250 * len(all_ids)
    for invoice in accounts.invoices:  # and now, exactly
        found = (await api.get(f"/api/v1/students/{invoice['student_id']}/statement")).json()
        assert found["totals"][0]["paid"] == paid_by_invoice[invoice["id"]]
