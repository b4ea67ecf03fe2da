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
class InvoiceFact:
    id: str
    student_id: str
    currency: str
    amount: int
    due_date: date
    issued_at: datetime
    cancelled_at: datetime | None = None
    payments: list[tuple[str, int, datetime]] = field(default_factory=list)


@dataclass
class Ledger:
    timezone: str
    invoices: dict[str, InvoiceFact] = field(default_factory=dict)
    students: list[str] = field(default_factory=list)

    def cutoff(self, day: date) -> datetime:
        midnight = datetime.combine(
            day + timedelta(days=1), time.min, tzinfo=ZoneInfo(self.timezone)
        )
        return midnight.astimezone(UTC)

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    # -- one invoice as it stood ------------------------------------------------------------

    def line(self, fact: InvoiceFact, day: date, cutoff: datetime | None) -> dict[str, Any] | None:
        if cutoff is not None and fact.issued_at >= cutoff:
            return None
        payments = [p for p in fact.payments if cutoff is None or p[2] < cutoff]
        paid = sum(amount for _, amount, _ in payments)
        cancelled = fact.cancelled_at is not None and (cutoff is None or fact.cancelled_at < cutoff)
        late_days = (day - fact.due_date).days
        if cancelled:
            status = "CANCELLED"
        elif paid == fact.amount:
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
            "amount_remaining": 0 if cancelled else fact.amount - paid,
            "status": status,
            "days_overdue": late_days if status == "OVERDUE" else 0,
            "payment_ids": [pid for pid, _, _ in payments],
            "late_days": late_days,
        }

    def lines(self, student_id: str, day: date, cutoff: datetime | None) -> list[dict[str, Any]]:
        found = [
            self.line(f, day, cutoff) for f in self.invoices.values() if f.student_id == student_id
        ]
        return sorted((x for x in found if x is not None), key=lambda x: x["id"])

    # -- totals -----------------------------------------------------------------------------

    @staticmethod
    def totals(lines: list[dict[str, Any]], *, detailed: bool = True) -> list[dict[str, Any]]:
        by_currency: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in lines:
            by_currency[line["currency"]].append(line)
        result = []
        for currency in sorted(by_currency):
            group = by_currency[currency]
            live = [x for x in group if x["status"] != "CANCELLED"]
            invoiced = sum(x["amount"] for x in live)
            paid = sum(x["amount_paid"] for x in live)
            overdue = sum(x["amount_remaining"] for x in live if x["status"] == "OVERDUE")
            entry: dict[str, Any] = {
                "currency": currency,
                "invoiced": invoiced,
                "paid": paid,
                "outstanding": invoiced - paid,
                "overdue": overdue,
                "invoice_count": len(group),
            }
            if detailed:
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
        self, student_id: str, day: date, cutoff: datetime | None
    ) -> list[dict[str, Any]]:
        return self.totals(self.lines(student_id, day, cutoff))

    def school_totals(self, day: date, cutoff: datetime | None) -> list[dict[str, Any]]:
        lines = [x for s in self.students for x in self.lines(s, day, cutoff)]
        totals = self.totals(lines)
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
