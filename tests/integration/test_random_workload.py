"""A seeded random workload of concurrent clients, checked against the raw rows after every batch.

Each batch is a handful of requests sent at once: invoices issued, payments (some for more than
is left, some twice at once with one key), retries of earlier requests with their
`Idempotency-Key`, a key reused for another body, cancellations. After every batch:

- the raw rows hold the invariants: `0 ≤ amount_paid ≤ amount`, `amount_paid = Σ payments`, the
  status agrees with the amounts;
- the rows are exactly what the service acknowledged (201s and 200s), and every refusal was
  right (a payment refused for exceeding the remaining amount was larger than what is left even
  now);
- every statement equals the independent oracle (tests/support/ledger.py) fed with those rows.

At the end, reconciliation finds nothing. The operations of a seed are the same on every run
(they depend only on the seed and on counts); which of two racing requests wins is up to the
database. A failing run prints its seed: `WORKLOAD_SEED=<seed> pytest -k random_workload`.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.reconcile import reconcile
from school_payments.adapters.persistence.tables import invoices, payments
from tests.support.api import Api
from tests.support.clock import FixedClock
from tests.support.ledger import InvoiceFact, Ledger

SEED = int(os.environ.get("WORKLOAD_SEED", "20261124"))
OPERATIONS = {"postgresql": 600, "sqlite": 200}
BATCH = 8
TIMEZONE = "America/Mexico_City"
GUARD_SECONDS = 30  # one batch that takes this long has hung


@dataclass
class Sent:
    """One request of a batch, with what the test meant by it."""

    kind: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    key: str | None = None
    invoice_id: str | None = None
    expected: httpx.Response | None = None  # for a retry: the first response
    at: datetime | None = None  # when it was sent (the service's clock)
    response: httpx.Response | None = None


@dataclass
class Workload:
    api: Api
    rng: random.Random
    school_id: str = ""
    students: list[str] = field(default_factory=list)
    ledger: Ledger = field(default_factory=lambda: Ledger(TIMEZONE))
    keyed: list[Sent] = field(default_factory=list)  # answered requests with a key, to retry
    created_by_key: dict[str, str] = field(default_factory=dict)  # key -> what it created
    counter: int = 0
    tally: dict[str, int] = field(default_factory=dict)

    # -- choosing a batch (from the seed and from counts only) --------------------------------

    def _key(self) -> str:
        self.counter += 1
        return f"wl-{self.counter}"

    def _invoice_id(self) -> str | None:
        """Mostly an invoice that still owes something; sometimes any (paid and cancelled too)."""
        ids = list(self.ledger.invoices)
        owing = [i for i in ids if self._left(i) > 0 and not self.ledger.invoices[i].cancelled_at]
        if owing and self.rng.random() < 0.85:
            return self.rng.choice(owing)
        return self.rng.choice(ids) if ids else None

    def _left(self, invoice_id: str) -> int:
        fact = self.ledger.invoices[invoice_id]
        return fact.amount - sum(p[1] for p in fact.payments)

    def batch(self) -> list[Sent]:
        chosen: list[Sent] = []
        for _ in range(BATCH):
            roll = self.rng.random()
            invoice_id = self._invoice_id()
            if invoice_id is None or roll < 0.18:
                chosen.append(self._issue())
            elif roll < 0.66:
                chosen.append(self._pay(invoice_id))
            elif roll < 0.74:
                first = self._pay(invoice_id)  # and its twin, at the same moment
                chosen += [first, replace(first, kind="duplicate")]
            elif roll < 0.85 and self._retryable():
                earlier = self.rng.choice(self._retryable())
                chosen.append(replace(earlier, kind="retry", expected=earlier.response))
            elif roll < 0.90 and self._retryable():
                earlier = self.rng.choice(self._retryable())
                assert earlier.body is not None
                changed = {**earlier.body, "amount": earlier.body["amount"] + 1}
                chosen.append(replace(earlier, kind="reuse", body=changed))
            elif roll < 0.95:
                chosen.append(self._pay(self.rng.choice(list(self.ledger.invoices))))
            else:
                path = f"/api/v1/invoices/{invoice_id}/cancel"
                chosen.append(Sent("cancel", "POST", path, invoice_id=invoice_id))
        return chosen

    def _retryable(self) -> list[Sent]:
        """Keys still remembered: a key is forgotten 24 h after its first use."""
        now = self.api.clock.now()
        return [s for s in self.keyed if s.at is not None and now - s.at < timedelta(hours=23)]

    def _issue(self) -> Sent:
        student = self.rng.choice(self.students)
        due = self.api.clock.now().date() + timedelta(days=self.rng.randint(-40, 20))
        body = {
            "amount": self.rng.randint(1, 60_000),
            "currency": self.rng.choice(["MXN", "MXN", "USD"]),
            "due_date": due.isoformat(),
            "description": f"Fee {self.counter}",
        }
        key = self._key() if self.rng.random() < 0.5 else None
        return Sent("issue", "POST", f"/api/v1/students/{student}/invoices", body, key)

    def _pay(self, invoice_id: str) -> Sent:
        left = self._left(invoice_id)
        style = self.rng.random()
        if style < 0.25:
            amount = max(left, 1)  # exactly what is left (or 1 on a paid invoice)
        elif style < 0.45:
            amount = left + self.rng.randint(1, 5_000)  # more than is left
        else:
            amount = self.rng.randint(1, max(1, left // 2))
        body = {"amount": amount, "method": self.rng.choice(["cash", "card", "bank_transfer"])}
        path = f"/api/v1/invoices/{invoice_id}/payments"
        return Sent("pay", "POST", path, body, self._key(), invoice_id)

    # -- sending it ---------------------------------------------------------------------------

    async def send(self, batch: list[Sent]) -> None:
        async def one(sent: Sent) -> None:
            sent.at = sent.at or self.api.clock.now()
            headers = {"Idempotency-Key": sent.key} if sent.key else None
            sent.response = await self.api.request(
                sent.method, sent.path, json=sent.body, headers=headers
            )

        await asyncio.wait_for(asyncio.gather(*(one(s) for s in batch)), GUARD_SECONDS)

    # -- what the answers mean ------------------------------------------------------------------

    def record(self, batch: list[Sent]) -> None:
        keys_in_batch: list[str | None] = [sent.key for sent in batch if sent.key]
        for sent in batch:
            response = sent.response
            assert response is not None
            status = response.status_code
            code = response.json().get("code") if status >= 400 else None
            outcome = f"{sent.kind} {status}" + (f" {code}" if code else "")
            self.tally[outcome] = self.tally.get(outcome, 0) + 1
            if code == "idempotency_key_in_use":
                # Only a twin sent at the same moment may find the key busy; it did nothing.
                assert sent.kind in ("pay", "duplicate"), outcome
                assert keys_in_batch.count(sent.key) == 2, outcome
                continue
            if sent.kind == "retry":
                assert sent.expected is not None
                assert (status, response.content) == (
                    sent.expected.status_code,
                    sent.expected.content,
                ), sent.path
                assert response.headers["idempotent-replayed"] == "true"
                continue
            if sent.kind == "reuse":
                assert (status, code) == (422, "idempotency_key_reused"), response.text
                continue
            if sent.kind == "issue":
                assert status == 201, response.text
                self._issued(response.json())
            elif sent.kind in ("pay", "duplicate"):
                assert status in (201, 409), response.text
                if status == 201:
                    self._paid(response.json())
            else:
                assert sent.kind == "cancel"
                assert (status, code) in ((200, None), (409, "invoice_has_payments")), outcome
                if status == 200:
                    self._cancelled(response.json())
            if sent.key:
                if status == 201:  # one key, one thing created, however often it is sent
                    created = response.json()["id"]
                    assert self.created_by_key.setdefault(sent.key, created) == created
                self.keyed.append(sent)

    def _issued(self, invoice: dict[str, Any]) -> None:
        self.ledger.invoices[invoice["id"]] = InvoiceFact(
            invoice["id"],
            invoice["student_id"],
            invoice["currency"],
            invoice["amount"],
            date.fromisoformat(invoice["due_date"]),
            datetime.fromisoformat(invoice["issued_at"]),
        )

    def _paid(self, payment: dict[str, Any]) -> None:
        fact = self.ledger.invoices[payment["invoice_id"]]
        if payment["id"] not in {p[0] for p in fact.payments}:  # a duplicate's replay
            fact.payments.append(
                (payment["id"], payment["amount"], datetime.fromisoformat(payment["paid_at"]))
            )

    def _cancelled(self, invoice: dict[str, Any]) -> None:
        fact = self.ledger.invoices[invoice["id"]]
        fact.cancelled_at = fact.cancelled_at or datetime.fromisoformat(invoice["cancelled_at"])

    def check_refusals(self, batch: list[Sent]) -> None:
        """A refusal was right if it is still right after the batch (states only move forward)."""
        for sent in batch:
            assert sent.response is not None
            if sent.kind not in ("pay", "duplicate") or sent.response.status_code != 409:
                continue
            assert sent.invoice_id is not None
            assert sent.body is not None
            fact = self.ledger.invoices[sent.invoice_id]
            left = fact.amount - sum(p[1] for p in fact.payments)
            code = sent.response.json()["code"]
            if code == "payment_exceeds_remaining":
                assert sent.body["amount"] > left, (sent.body, left)
            elif code == "invoice_not_payable":
                assert left == 0 or fact.cancelled_at is not None
            else:
                assert code == "idempotency_key_in_use", code


async def _rows(database: Database, school_id: str) -> tuple[list[Any], list[Any]]:
    school = UUID(school_id)
    async with database.snapshot() as q:
        found_invoices = await q.rows(select(invoices).where(invoices.c.school_id == school))
        found_payments = await q.rows(select(payments).where(payments.c.school_id == school))
    return list(found_invoices), list(found_payments)


def _check_rows(workload: Workload, invoices: list[Any], payments: list[Any]) -> None:
    paid_by_invoice: dict[str, list[tuple[str, int]]] = {}
    for row in payments:
        paid_by_invoice.setdefault(str(row.invoice_id), []).append((str(row.id), int(row.amount)))
    assert {str(r.id) for r in invoices} == set(workload.ledger.invoices)
    for row in invoices:
        invoice_id = str(row.id)
        amount, paid = int(row.amount), int(row.amount_paid)
        found = paid_by_invoice.get(invoice_id, [])
        assert 0 <= paid <= amount, invoice_id
        assert paid == sum(a for _, a in found), invoice_id
        expected_status = (
            "CANCELLED" if row.cancelled_at is not None
            else "PENDING" if paid == 0
            else "PAID" if paid == amount
            else "PARTIALLY_PAID"
        )  # fmt: skip
        assert row.status == expected_status, invoice_id
        fact = workload.ledger.invoices[invoice_id]
        assert sorted(found) == sorted((p[0], p[1]) for p in fact.payments), invoice_id
        assert (row.cancelled_at is not None) == (fact.cancelled_at is not None), invoice_id


async def _check_statements(workload: Workload) -> None:
    api, ledger = workload.api, workload.ledger
    today = ledger.day_of(api.clock.now())
    for student_id in workload.students:
        statement = (await api.get(f"/api/v1/students/{student_id}/statement")).json()
        expected_lines = ledger.lines(student_id, today, None)
        assert statement["totals"] == ledger.student_totals(student_id, today, None), student_id
        shown = [
            (i["id"], i["status"], i["amount_paid"], sorted(p["id"] for p in i["payments"]))
            for i in statement["invoices"]
        ]
        assert shown == [
            (x["id"], x["status"], x["amount_paid"], sorted(p["id"] for p in x["payments"]))
            for x in expected_lines
        ], student_id
    school = (await api.get(f"/api/v1/schools/{workload.school_id}/statement?limit=200")).json()
    assert school["totals"] == ledger.school_totals(today, None)


@pytest.mark.slow
async def test_a_random_concurrent_workload_keeps_every_invariant_after_every_batch(
    api: Api, database_url: str, clock: FixedClock
) -> None:
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    seed = SEED + (1 if dialect == "sqlite" else 0)
    print(f"\nrandom workload on {dialect}: seed {seed} (replay: WORKLOAD_SEED={SEED})")
    clock.set(datetime(2026, 11, 21, 3, tzinfo=UTC))  # 21:00 in Mexico City: midnight comes
    workload = Workload(api, random.Random(seed))
    school = await api.school(timezone=TIMEZONE, default_currency="MXN")
    workload.school_id = school["id"]
    for name in ("Ana", "Luis", "Eva", "Iker"):
        student = await api.student(school["id"], first_name=name)
        workload.students.append(student["id"])
        workload.ledger.students.append(student["id"])
    database = Database(DatabaseSettings(url=database_url))
    sent = 0
    try:
        while sent < OPERATIONS[dialect]:
            batch = workload.batch()
            await workload.send(batch)
            workload.record(batch)
            workload.check_refusals(batch)
            _check_rows(workload, *await _rows(database, workload.school_id))
            await _check_statements(workload)
            sent += len(batch)
            clock.advance(minutes=workload.rng.randint(0, 90))
        assert await reconcile(database) == []
    finally:
        await database.dispose()
    payments = sum(len(f.payments) for f in workload.ledger.invoices.values())
    print(
        f"{sent} requests, {len(workload.ledger.invoices)} invoices, {payments} payments;"
        f" outcomes: {dict(sorted(workload.tally.items()))}"
    )
