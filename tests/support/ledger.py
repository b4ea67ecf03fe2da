"""An independent oracle for statements: what the test did, summed in plain Python.

Nothing here reuses the service's code: it is the contract's rules written out again, so that a
mistake in the service's SQL cannot hide behind the same mistake in the expectation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


@dataclass
class Record:
    """A payment, refund or credit note: its id, amount and business time."""

    id: str
    amount: int
    at: datetime
    of: str = ""
    """A refund's payment id."""


@dataclass
class InvoiceFact:
    id: str
    student_id: str
    currency: str
    amount: int
    due_date: date
    issued_at: datetime
    cancelled_at: datetime | None = None
    payments: list[tuple[str, int, datetime]] = field(default_factory=list)
    refunds: list[Record] = field(default_factory=list)
    credit_notes: list[Record] = field(default_factory=list)

    def held(self) -> int:
        """What the invoice holds now: its payments net of their refunds."""
        return sum(p[1] for p in self.payments) - sum(r.amount for r in self.refunds)

    def remaining(self) -> int:
        credited = sum(n.amount for n in self.credit_notes)
        return 0 if self.cancelled_at else self.amount - credited - self.held()

    def refundable(self, payment_id: str) -> int:
        (amount,) = [p[1] for p in self.payments if p[0] == payment_id]
        return amount - sum(r.amount for r in self.refunds if r.of == payment_id)


@dataclass
class CreditFact:
    student_id: str
    currency: str
    amount: int
    """Signed: in is positive, out negative."""
    effective_at: datetime


@dataclass
class Ledger:
    timezone: str
    invoices: dict[str, InvoiceFact] = field(default_factory=dict)
    students: list[str] = field(default_factory=list)
    credit: list[CreditFact] = field(default_factory=list)

    def cutoff(self, day: date) -> datetime:
        midnight = datetime.combine(
            day + timedelta(days=1), time.min, tzinfo=ZoneInfo(self.timezone)
        )
        return midnight.astimezone(UTC)

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def balance(self, student_id: str, currency: str) -> int:
        """Credit the student holds now in `currency`."""
        return sum(
            c.amount for c in self.credit if (c.student_id, c.currency) == (student_id, currency)
        )

    # -- one invoice as it stood ------------------------------------------------------------

    def line(self, fact: InvoiceFact, day: date, cutoff: datetime | None) -> dict[str, Any] | None:
        if cutoff is not None and fact.issued_at >= cutoff:
            return None

        def made(moment: datetime) -> bool:
            return cutoff is None or moment < cutoff

        payments = [p for p in fact.payments if made(p[2])]
        refunds = [r for r in fact.refunds if made(r.at)]
        notes = [n for n in fact.credit_notes if made(n.at)]
        refunded = sum(r.amount for r in refunds)
        paid = sum(amount for _, amount, _ in payments) - refunded
        credited = sum(n.amount for n in notes)
        cancelled = fact.cancelled_at is not None and made(fact.cancelled_at)
        late_days = (day - fact.due_date).days
        if cancelled:
            status = "CANCELLED"
        elif paid + credited >= fact.amount:
            status = "PAID"
        elif late_days > 0:
            status = "OVERDUE"
        elif paid > 0:
            status = "PARTIALLY_PAID"
        else:
            status = "PENDING"
        return {
            "id": fact.id,
            "currency": fact.currency,
            "amount": fact.amount,
            "amount_paid": paid,
            "amount_credited": credited,
            "amount_remaining": 0 if cancelled else max(fact.amount - credited - paid, 0),
            "status": status,
            "days_overdue": late_days if status == "OVERDUE" else 0,
            "payments": [
                {
                    "id": pid,
                    "amount_refunded": sum(r.amount for r in refunds if r.of == pid),
                    "refund_ids": [r.id for r in refunds if r.of == pid],
                }
                for pid, _, _ in payments
            ],
            "credit_note_ids": [n.id for n in notes],
            "refunded": refunded,
            "late_days": late_days,
        }

    def lines(self, student_id: str, day: date, cutoff: datetime | None) -> list[dict[str, Any]]:
        found = [
            self.line(f, day, cutoff) for f in self.invoices.values() if f.student_id == student_id
        ]
        return sorted((x for x in found if x is not None), key=lambda x: x["id"])

    def credit_held(self, students: list[str], cutoff: datetime | None) -> dict[str, int]:
        """Per currency in which the students had a credit entry by the cut-off: Σ in − Σ out."""
        held: dict[str, int] = defaultdict(int)
        for entry in self.credit:
            if entry.student_id in students and (cutoff is None or entry.effective_at < cutoff):
                held[entry.currency] += entry.amount
        return held

    # -- totals -----------------------------------------------------------------------------

    @staticmethod
    def totals(
        lines: list[dict[str, Any]], credit: dict[str, int], *, detailed: bool = True
    ) -> list[dict[str, Any]]:
        by_currency: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in lines:
            by_currency[line["currency"]].append(line)
        result = []
        for currency in sorted(set(by_currency) | set(credit)):
            group = by_currency[currency]
            live = [x for x in group if x["status"] != "CANCELLED"]
            entry: dict[str, Any] = {
                "currency": currency,
                "invoiced": sum(x["amount"] for x in live),
                "credited": sum(x["amount_credited"] for x in live),
                "paid": sum(x["amount_paid"] for x in live),
                "outstanding": sum(x["amount_remaining"] for x in live),
                "overdue": sum(x["amount_remaining"] for x in live if x["status"] == "OVERDUE"),
                "invoice_count": len(group),
                "credit_balance": credit.get(currency, 0),
            }
            if detailed:
                entry["refunded"] = sum(x["refunded"] for x in live)
                counts = dict.fromkeys(
                    ["PENDING", "PARTIALLY_PAID", "PAID", "OVERDUE", "CANCELLED"], 0
                )
                for x in group:
                    counts[x["status"]] += 1
                aging = dict.fromkeys(["current", "1_30", "31_60", "61_90", "over_90"], 0)
                for x in live:
                    d = x["late_days"]
                    bucket = (
                        "current"
                        if d <= 0
                        else "1_30"
                        if d <= 30
                        else "31_60"
                        if d <= 60
                        else "61_90"
                        if d <= 90
                        else "over_90"
                    )
                    aging[bucket] += x["amount_remaining"]
                entry["status_counts"] = counts
                entry["aging"] = aging
            result.append(entry)
        return result

    def student_totals(
        self, student_id: str, day: date, cutoff: datetime | None, *, detailed: bool = True
    ) -> list[dict[str, Any]]:
        return self.totals(
            self.lines(student_id, day, cutoff),
            self.credit_held([student_id], cutoff),
            detailed=detailed,
        )

    def school_totals(self, day: date, cutoff: datetime | None) -> list[dict[str, Any]]:
        lines = [x for s in self.students for x in self.lines(s, day, cutoff)]
        totals = self.totals(lines, self.credit_held(self.students, cutoff))
        for entry in totals:
            entry["student_count"] = len(
                {
                    s
                    for s in self.students
                    for x in self.lines(s, day, cutoff)
                    if x["currency"] == entry["currency"]
                }
            )
        return totals
