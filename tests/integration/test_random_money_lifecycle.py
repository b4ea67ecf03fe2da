"""A seeded random sequence of the money lifecycle, checked after every step against a model.

Invoices, payments (cash and from credit), refunds, credit notes, student payments, payouts and
cancellations, one at a time, some of them bound to be refused. The model below recomputes the
contract's rules on its own (it imports nothing of the service): it predicts each answer (201,
200, or the 409 and its code), and after every step the service must agree with it on

- every invoice's `amount_paid`, `amount_credited`, `amount_remaining` and `status` (the invoice
  touched through the API, every invoice through its raw row);
- every payment's `amount_refunded`;
- every student's credit balance per currency (the touched student through the API, all of them
  through their rows) and the credit entries (kind, direction, amount and the records they name);
- the cross-record invariants of tests/support/money_records.py.

Statement totals are checked against their oracle elsewhere (tests/integration/test_statements.py).
Bounded by a count of steps; a failing run prints its seed:
`MONEY_WORKLOAD_SEED=<seed> pytest -k random_money_lifecycle`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.reconcile import reconcile
from tests.support.api import Api
from tests.support.money_records import broken_invariants, expected_status, read_money_records

SEED = int(os.environ.get("MONEY_WORKLOAD_SEED", "20261203"))
STEPS = {"postgresql": 300, "sqlite": 300}
CURRENCIES = ("MXN", "USD")


@dataclass
class InvoiceModel:
    id: str
    student_id: str
    currency: str
    amount: int
    due_date: date
    issued_at: datetime
    paid: int = 0
    credited: int = 0
    cancelled: bool = False

    @property
    def status(self) -> str:
        return expected_status(self.amount, self.paid, self.credited, self.cancelled)

    def reads_on(self, day: date) -> str:
        """The status the API shows on `day`: an open invoice past its due date is OVERDUE."""
        return "OVERDUE" if self.is_open and self.due_date < day else self.status

    @property
    def remaining(self) -> int:
        return 0 if self.cancelled else max(self.amount - self.credited - self.paid, 0)

    @property
    def is_open(self) -> bool:
        return self.status in ("PENDING", "PARTIALLY_PAID")


@dataclass
class PaymentModel:
    id: str
    invoice_id: str
    amount: int
    method: str
    refunded: int = 0


@dataclass
class Model:
    """What the contract says the service holds, recomputed from the requests it accepted."""

    invoices: dict[str, InvoiceModel] = field(default_factory=dict)
    payments: dict[str, PaymentModel] = field(default_factory=dict)
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    entries: list[tuple[str, ...]] = field(default_factory=list)
    """(student, currency, kind, direction, amount, receipt, payment, refund, payout)"""

    def balance(self, student_id: str, currency: str) -> int:
        return self.balances.get((student_id, currency), 0)

    def entry(self, student_id: str, currency: str, kind: str, amount: int, **ids: str) -> None:
        direction = "out" if kind in ("applied", "payout") else "in"
        named = [ids.get(k, "") for k in ("receipt", "payment", "refund", "payout")]
        self.entries.append((student_id, currency, kind, direction, str(amount), *named))
        sign = 1 if direction == "in" else -1
        self.balances[(student_id, currency)] = self.balance(student_id, currency) + sign * amount

    def open_in_order(self, student_id: str, currency: str) -> list[InvoiceModel]:
        """The contract's allocation order: due date, then issue time, then creation."""
        found = [
            i
            for i in self.invoices.values()  # dicts keep insertion (creation) order
            if i.student_id == student_id and i.currency == currency and i.is_open
        ]
        return sorted(found, key=lambda i: (i.due_date, i.issued_at))


@dataclass
class Step:
    """One request, with the answer the model expects."""

    method: str
    path: str
    body: dict[str, Any] | None
    expected: tuple[int, str | None]
    invoice_id: str | None = None
    student_id: str | None = None


class Workload:
    def __init__(self, api: Api, rng: random.Random, students: list[str]) -> None:
        self.api = api
        self.rng = rng
        self.students = students
        self.model = Model()
        self.tally: dict[str, int] = {}

    # -- choosing ----------------------------------------------------------------------------

    def _amount(self, fits: int) -> int:
        """Mostly an amount that fits in `fits`, sometimes all of it, sometimes too much."""
        roll = self.rng.random()
        if roll < 0.2 or fits <= 1:
            return max(fits, 1) + (self.rng.randint(1, 3_000) if roll < 0.08 else 0)
        if roll < 0.3:
            return fits + self.rng.randint(1, 3_000)
        return self.rng.randint(1, fits)

    def _invoice(self) -> InvoiceModel | None:
        if not self.model.invoices:
            return None
        candidates = list(self.model.invoices.values())
        open_ones = [i for i in candidates if i.is_open]
        if open_ones and self.rng.random() < 0.8:
            return self.rng.choice(open_ones)
        return self.rng.choice(candidates)

    def choose(self) -> Step:
        invoice = self._invoice()
        if invoice is None:
            return self._issue()
        payment = self.rng.choice(list(self.model.payments.values() or [None]))
        roll = self.rng.random()
        chances: list[tuple[float, Callable[[], Step]]] = [
            (0.16, self._issue),
            (0.34, lambda: self._pay(invoice)),
            (0.44, lambda: self._pay_from_credit(invoice)),
            (0.58, lambda: self._refund(payment) if payment else self._issue()),
            (0.70, lambda: self._credit_note(invoice)),
            (0.86, self._student_payment),
            (0.95, self._payout),
        ]
        for below, make in chances:
            if roll < below:
                return make()
        return self._cancel(invoice)

    def _issue(self) -> Step:
        student = self.rng.choice(self.students)
        now = self.api.clock.now()
        body = {
            "amount": self.rng.randint(1, 20_000),
            "currency": self.rng.choice(CURRENCIES),
            "due_date": (now.date() + timedelta(days=self.rng.randint(-10, 10))).isoformat(),
            "description": "Fee",
            "issued_at": (now - timedelta(hours=self.rng.randint(0, 72))).isoformat(),
        }
        return Step("POST", f"/api/v1/students/{student}/invoices", body, (201, None))

    def _payable(self, invoice: InvoiceModel, amount: int) -> tuple[int, str | None]:
        if not invoice.is_open:
            return 409, "invoice_not_payable"
        if amount > invoice.remaining:
            return 409, "payment_exceeds_remaining"
        return 201, None

    def _pay(self, invoice: InvoiceModel) -> Step:
        amount = self._amount(invoice.remaining)
        body = {"amount": amount, "method": self.rng.choice(["cash", "card", "bank_transfer"])}
        path = f"/api/v1/invoices/{invoice.id}/payments"
        return Step("POST", path, body, self._payable(invoice, amount), invoice.id)

    def _pay_from_credit(self, invoice: InvoiceModel) -> Step:
        held = self.model.balance(invoice.student_id, invoice.currency)
        amount = self._amount(min(invoice.remaining, held) or held or invoice.remaining)
        expected = self._payable(invoice, amount)
        if expected[0] == 201 and amount > held:
            expected = (409, "insufficient_credit")
        path = f"/api/v1/invoices/{invoice.id}/payments"
        return Step("POST", path, {"amount": amount, "method": "credit"}, expected, invoice.id)

    def _refund(self, payment: PaymentModel) -> Step:
        refundable = payment.amount - payment.refunded
        body: dict[str, Any] = {}
        amount = refundable
        if self.rng.random() < 0.6:
            amount = self._amount(refundable)
            body["amount"] = amount
        expected = (201, None) if 0 < amount <= refundable else (409, "refund_exceeds_payment")
        path = f"/api/v1/payments/{payment.id}/refunds"
        return Step("POST", path, body, expected, payment.invoice_id)

    def _credit_note(self, invoice: InvoiceModel) -> Step:
        amount = self._amount(invoice.remaining)
        expected: tuple[int, str | None] = (201, None)
        if not invoice.is_open:
            expected = (409, "invoice_not_creditable")
        elif amount > invoice.remaining:
            expected = (409, "credit_exceeds_remaining")
        body = {"amount": amount, "reason": "Scholarship"}
        path = f"/api/v1/invoices/{invoice.id}/credit-notes"
        return Step("POST", path, body, expected, invoice.id)

    def _student_payment(self) -> Step:
        student = self.rng.choice(self.students)
        currency = self.rng.choice(CURRENCIES)
        owed = sum(i.remaining for i in self.model.open_in_order(student, currency))
        body = {
            "amount": self._amount(owed or 5_000),
            "currency": currency,
            "method": self.rng.choice(["cash", "card", "bank_transfer", "other"]),
        }
        path = f"/api/v1/students/{student}/payments"
        return Step("POST", path, body, (201, None), student_id=student)

    def _payout(self) -> Step:
        student = self.rng.choice(self.students)
        currency = self.rng.choice(CURRENCIES)
        held = self.model.balance(student, currency)
        amount = self._amount(held)
        expected = (201, None) if amount <= held else (409, "insufficient_credit")
        path = f"/api/v1/students/{student}/credit/payouts"
        body = {"amount": amount, "currency": currency}
        return Step("POST", path, body, expected, student_id=student)

    def _cancel(self, invoice: InvoiceModel) -> Step:
        holding_nothing = [i for i in self.model.invoices.values() if i.paid == 0]
        if holding_nothing and self.rng.random() < 0.5:
            invoice = self.rng.choice(holding_nothing)
        expected = (409, "invoice_has_payments") if invoice.paid > 0 else (200, None)
        path = f"/api/v1/invoices/{invoice.id}/cancel"
        return Step("POST", path, None, expected, invoice.id)

    # -- running one step and learning from it -------------------------------------------------

    async def run(self, step: Step) -> None:
        response = await self.api.request(step.method, step.path, json=step.body)
        code = response.json().get("code") if response.status_code >= 400 else None
        assert (response.status_code, code) == step.expected, (step, response.text)
        kind = step.path.rsplit("/", 1)[-1]
        if step.body and step.body.get("method") == "credit":
            kind = "payments-from-credit"
        elif kind == "payments" and step.student_id is not None:
            kind = "student-payments"
        self.tally[f"{kind} {response.status_code}"] = (
            self.tally.get(f"{kind} {response.status_code}", 0) + 1
        )
        if response.status_code >= 400:
            return
        self._learn(step, response.json())

    def _learn(self, step: Step, body: dict[str, Any]) -> None:
        model = self.model
        if step.path.endswith("/invoices"):
            model.invoices[body["id"]] = InvoiceModel(
                body["id"],
                body["student_id"],
                body["currency"],
                body["amount"],
                date.fromisoformat(body["due_date"]),
                datetime.fromisoformat(body["issued_at"]),
            )
        elif step.path.endswith("/cancel"):
            model.invoices[body["id"]].cancelled = True
        elif step.path.endswith("/credit-notes"):
            model.invoices[body["invoice_id"]].credited += body["amount"]
        elif step.path.endswith("/refunds"):
            self._refunded(body)
        elif step.path.endswith("/payouts"):
            model.entry(
                body["student_id"], body["currency"], "payout", body["amount"], payout=body["id"]
            )
        elif step.student_id is not None:
            self._receipt(body)
        else:
            self._paid(body)

    def _paid(self, payment: dict[str, Any]) -> None:
        invoice = self.model.invoices[payment["invoice_id"]]
        invoice.paid += payment["amount"]
        self.model.payments[payment["id"]] = PaymentModel(
            payment["id"], invoice.id, payment["amount"], payment["method"]
        )
        if payment["method"] == "credit":
            self.model.entry(
                invoice.student_id,
                invoice.currency,
                "applied",
                payment["amount"],
                payment=payment["id"],
            )

    def _refunded(self, refund: dict[str, Any]) -> None:
        payment = self.model.payments[refund["payment_id"]]
        invoice = self.model.invoices[payment.invoice_id]
        payment.refunded += refund["amount"]
        invoice.paid -= refund["amount"]
        if payment.method == "credit":
            self.model.entry(
                invoice.student_id,
                invoice.currency,
                "refund_of_credit_payment",
                refund["amount"],
                payment=payment.id,
                refund=refund["id"],
            )

    def _receipt(self, receipt: dict[str, Any]) -> None:
        """Allocates the sum in the model first, then holds the service to the same shares."""
        student, currency = receipt["student_id"], receipt["currency"]
        left = receipt["amount"]
        expected_shares = []
        for invoice in self.model.open_in_order(student, currency):
            if left == 0:
                break
            share = min(invoice.remaining, left)
            expected_shares.append((invoice.id, share))
            left -= share
        shown = [(p["invoice_id"], p["amount"]) for p in receipt["payments"]]
        assert shown == expected_shares, (receipt, expected_shares)
        assert receipt["credited_to_balance"] == left
        for payment in receipt["payments"]:
            assert payment["receipt_id"] == receipt["id"]
            self._paid(payment)
        if left:
            self.model.entry(student, currency, "overpayment", left, receipt=receipt["id"])

    # -- checking ------------------------------------------------------------------------------

    async def check_touched(self, step: Step) -> None:
        """The invoice or student the step touched, as the API shows it."""
        if step.invoice_id is not None and step.invoice_id in self.model.invoices:
            expected = self.model.invoices[step.invoice_id]
            shown = (await self.api.get(f"/api/v1/invoices/{step.invoice_id}")).json()
            assert (
                shown["amount_paid"],
                shown["amount_credited"],
                shown["amount_remaining"],
                shown["status"],
            ) == (
                expected.paid,
                expected.credited,
                expected.remaining,
                expected.reads_on(self.api.clock.now().date()),  # the school is on UTC
            ), shown
            refunded = {p["id"]: p["amount_refunded"] for p in shown["payments"]}
            assert refunded == {
                p.id: p.refunded
                for p in self.model.payments.values()
                if p.invoice_id == step.invoice_id
            }
            await self._check_credit(expected.student_id)
        if step.student_id is not None:
            await self._check_credit(step.student_id)

    async def _check_credit(self, student_id: str) -> None:
        shown = (await self.api.get(f"/api/v1/students/{student_id}/credit")).json()
        expected = [
            {"currency": currency, "amount": self.model.balance(student_id, currency)}
            for currency in sorted(CURRENCIES)
            if self.model.balance(student_id, currency) > 0
        ]
        assert shown["balances"] == expected

    async def check_records(self, database_url: str) -> None:
        """Every row against the model, and the rows against each other."""
        records = await read_money_records(database_url)
        assert broken_invariants(records) == []
        assert {str(r.id) for r in records.invoices} == set(self.model.invoices)
        for row in records.invoices:
            expected = self.model.invoices[str(row.id)]
            assert (int(row.amount_paid), int(row.amount_credited), row.status) == (
                expected.paid,
                expected.credited,
                expected.status,
            ), row
        assert {str(r.id): int(r.amount_refunded) for r in records.payments} == {
            p.id: p.refunded for p in self.model.payments.values()
        }
        held = self.model.balances
        stored = {(str(r.student_id), r.currency): int(r.balance) for r in records.credit_balances}
        assert {k: v for k, v in stored.items() if v} == {k: v for k, v in held.items() if v}
        assert min(stored.values(), default=0) >= 0

        def named(value: Any) -> str:
            return "" if value is None else str(value)

        entries = sorted(
            (
                str(e.student_id),
                e.currency,
                e.kind,
                e.direction,
                str(e.amount),
                named(e.receipt_id),
                named(e.payment_id),
                named(e.refund_id),
                named(e.payout_id),
            )
            for e in records.credit_entries
        )
        assert entries == sorted(self.model.entries)


@pytest.mark.slow
async def test_a_random_money_lifecycle_agrees_with_an_independent_model_after_every_step(
    api: Api, database_url: str
) -> None:
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    seed = SEED + (1 if dialect == "sqlite" else 0)
    print(
        f"\nrandom money lifecycle on {dialect}: seed {seed} (replay: MONEY_WORKLOAD_SEED={SEED})"
    )
    school = await api.school()
    students = [(await api.student(school["id"], first_name=n))["id"] for n in ("Ana", "Luis")]
    workload = Workload(api, random.Random(seed), students)
    for _ in range(STEPS[dialect]):
        step = workload.choose()
        await workload.run(step)
        await workload.check_touched(step)
        await workload.check_records(database_url)
        api.clock.advance(seconds=workload.rng.randint(1, 600))
    print(f"outcomes: {dict(sorted(workload.tally.items()))}")
    # Every kind of step happened, and some were refused: the sequence exercised the rules.
    assert {k for k, n in workload.tally.items() if n} >= {
        "invoices 201",
        "payments 201",
        "payments 409",
        "payments-from-credit 201",
        "payments-from-credit 409",
        "student-payments 201",
        "refunds 201",
        "refunds 409",
        "credit-notes 201",
        "credit-notes 409",
        "payouts 201",
        "payouts 409",
        "cancel 200",
    }
    # Last, the service's own reconciliation agrees: every stored figure equals its records.
    database = Database(DatabaseSettings(url=database_url))
    try:
        assert [str(found) for found in await reconcile(database)] == []
    finally:
        await database.dispose()
