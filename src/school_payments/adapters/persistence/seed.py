"""Demo data in bulk: realistic schools with years of invoices, payments, refunds, credit
notes and credit held for students, generated fast.

PostgreSQL rows go in with COPY; SQLite with executemany. Students are generated in batches so
memory stays flat at any size. The data obeys every invariant (a reconcile finds nothing):
an invoice's figures equal its records (paid net of refunds, credited, refunded), credit balances
equal their entries, receipts their shares and credit, and the balance projection
(`projections.py`) is filled from the invoices of each batch.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table, insert, text

from school_payments.adapters.persistence.database import Database, SqlConnection
from school_payments.adapters.persistence.projections import StudentBalanceProjection
from school_payments.adapters.persistence.tables import (
    credit_balances,
    credit_entries,
    credit_notes,
    credit_payouts,
    invoices,
    payments,
    receipts,
    refunds,
    schools,
    students,
)
from school_payments.domain.entities import InvoiceStatus, status_for_paid

FIRST_NAMES = [
    "Ana",
    "José",
    "María",
    "Luis",
    "Sofía",
    "Mateo",
    "Valentina",
    "Santiago",
    "Camila",
    "Diego",
    "Renée",
    "Zoë",
    "Jürgen",
    "Ñusta",
    "Chloé",
    "Dmitri",
    "Айгерим",
    "Олег",
    "美咲",
    "健太",
    "Ngozi",
    "Kwame",
    "Aarav",
    "Priya",
    "Yusuf",
    "Layla",
    "Thi",
    "Minh",
    "Aroha",
    "Ikaika",
]
LAST_NAMES = [
    "García",
    "Hernández",
    "López",
    "Martínez",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Flores",
    "Müller",
    "O'Connor",
    "Nakamura",
    "Иванова",
    "山田",
    "Okafor",
    "Mensah",
    "Sharma",
    "Nguyễn",
    "Al-Khatib",
    "Kahananui",
    "Quispe",
    "Mamani",
    "Da Silva",
]
TIMEZONES = ["America/Mexico_City", "America/Bogota", "America/Lima", "America/Santiago", "UTC"]
METHODS = ["cash", "card", "bank_transfer", "other"]
BATCH_STUDENTS = 1_000


def _id_at(moment: datetime) -> uuid.UUID:
    """A UUIDv7 for `moment`, so seeded history sorts by when it happened."""
    ms = int(moment.timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = ms << 80 | 0x7 << 76 | (rand >> 64 & 0xFFF) << 64 | 0b10 << 62 | rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


@dataclass
class SeedPlan:
    schools: int = 1
    students_per_school: int = 100
    invoices_per_student: int = 12
    """Invoices per student per year of history."""
    years: int = 1
    random_seed: int = 1


@dataclass
class SeedReport:
    school_ids: list[uuid.UUID] = field(default_factory=list)
    students: int = 0
    invoices: int = 0
    payments: int = 0
    refunds: int = 0
    credit_notes: int = 0
    credit_entries: int = 0


@dataclass
class _Batch:
    """Rows per table, in the order they are written (parents before the rows naming them)."""

    students: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    credit_notes: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    credit_payouts: list[dict[str, Any]] = field(default_factory=list)
    credit_entries: list[dict[str, Any]] = field(default_factory=list)
    credit_balances: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[tuple[Table, list[dict[str, Any]]]]:
        return [
            (students, self.students),
            (invoices, self.invoices),
            (payments, self.payments),
            (refunds, self.refunds),
            (credit_notes, self.credit_notes),
            (receipts, self.receipts),
            (credit_payouts, self.credit_payouts),
            (credit_entries, self.credit_entries),
            (credit_balances, self.credit_balances),
        ]


class _Generator:
    def __init__(self, plan: SeedPlan, now: datetime) -> None:
        self.plan = plan
        self.now = now
        self.today = now.date()
        self.random = random.Random(plan.random_seed)

    def school(self, number: int) -> dict[str, Any]:
        created = self.now - timedelta(days=365 * self.plan.years + 30)
        return {
            "id": _id_at(created),
            "name": f"Demo School {number}",
            "timezone": self.random.choice(TIMEZONES),
            "default_currency": "MXN",
            "created_at": created,
            "updated_at": created,
        }

    def batch(self, school_id: uuid.UUID, first: int, count: int) -> _Batch:
        batch = _Batch()
        enrolled = self.now - timedelta(days=365 * self.plan.years + 20)
        for n in range(first, first + count):
            student_id = _id_at(enrolled + timedelta(milliseconds=n))
            batch.students.append(
                {
                    "id": student_id,
                    "school_id": school_id,
                    "first_name": self.random.choice(FIRST_NAMES),
                    "last_name": self.random.choice(LAST_NAMES),
                    "external_id": f"S{n:06d}",
                    "status": "active",
                    "created_at": enrolled,
                    "updated_at": enrolled,
                    "archived_at": None,
                }
            )
            # One in ten students is billed in US dollars as well as pesos.
            currencies = ["MXN", "USD"] if self.random.random() < 0.1 else ["MXN"]
            for index in range(self.plan.invoices_per_student * self.plan.years):
                self._invoice(batch, school_id, student_id, index, self.random.choice(currencies))
            if currencies == ["MXN"] and self.random.random() < 0.05:
                self._prepaid(batch, school_id, student_id, enrolled)
        return batch

    def _prepaid(
        self, batch: _Batch, school_id: uuid.UUID, student_id: uuid.UUID, enrolled: datetime
    ) -> None:
        """A parent paid in US dollars for a student billed in pesos: with no open invoice in
        that currency, all of it is held as credit; half of it is sometimes handed back."""
        owner = {"school_id": school_id, "student_id": student_id, "currency": "USD"}
        paid_at = enrolled + (self.now - enrolled) * self.random.random()
        amount = self.random.choice([5_000, 10_000, 25_000])
        receipt_id = _id_at(paid_at)
        batch.receipts.append(
            {
                "id": receipt_id,
                **owner,
                "amount": amount,
                "method": "bank_transfer",
                "paid_at": paid_at,
                "reference": None,
                "credited_to_balance": amount,
                "created_at": paid_at,
            }
        )
        sources = ("receipt_id", "payment_id", "refund_id", "payout_id")
        entry: dict[str, Any] = {**owner, **dict.fromkeys(sources)}
        batch.credit_entries.append(
            {
                **entry,
                "id": _id_at(paid_at),
                "amount": amount,
                "direction": "in",
                "kind": "overpayment",
                "receipt_id": receipt_id,
                "effective_at": paid_at,
                "created_at": paid_at,
            }
        )
        balance = amount
        if self.random.random() < 0.5:
            paid_out = min(paid_at + timedelta(days=self.random.randint(1, 60)), self.now)
            payout_id = _id_at(paid_out)
            balance -= amount // 2
            batch.credit_payouts.append(
                {
                    "id": payout_id,
                    **owner,
                    "amount": amount // 2,
                    "reason": "Returned to the family",
                    "reference": None,
                    "created_at": paid_out,
                }
            )
            batch.credit_entries.append(
                {
                    **entry,
                    "id": _id_at(paid_out),
                    "amount": amount // 2,
                    "direction": "out",
                    "kind": "payout",
                    "payout_id": payout_id,
                    "effective_at": paid_out,
                    "created_at": paid_out,
                }
            )
        batch.credit_balances.append(
            {
                "student_id": student_id,
                "currency": "USD",
                "school_id": school_id,
                "balance": balance,
            }
        )

    def _invoice(
        self, batch: _Batch, school_id: uuid.UUID, student_id: uuid.UUID, index: int, currency: str
    ) -> None:
        total = self.plan.invoices_per_student * self.plan.years
        span_days = 365 * self.plan.years
        # Due dates spread over the history, from `years` ago to about a month ahead.
        due = (
            self.today
            - timedelta(days=span_days)
            + timedelta(days=(span_days + 30) * (index + 1) // total)
        )
        issued = datetime.combine(due - timedelta(days=30), time(12), tzinfo=UTC)
        issued = min(issued, self.now - timedelta(minutes=5))
        amount = self.random.choice([150_000, 250_000, 300_000, 450_000]) // (
            20 if currency == "USD" else 1
        )
        age = (self.today - due).days
        roll = self.random.random()
        if age > 60:  # old invoices: mostly settled
            outcome = (
                "paid"
                if roll < 0.90
                else "partial"
                if roll < 0.95
                else "cancelled"
                if roll < 0.98
                else "open"
            )
        else:
            outcome = (
                "paid"
                if roll < 0.40
                else "partial"
                if roll < 0.65
                else "cancelled"
                if roll < 0.70
                else "open"
            )
        invoice_id = _id_at(issued)
        owner = {"school_id": school_id, "student_id": student_id, "currency": currency}
        paid = 0
        # One invoice in twelve has a scholarship: a quarter forgiven before any payment.
        credited = amount // 4 if outcome != "cancelled" and self.random.random() < 0.08 else 0
        if credited:
            noted = issued + timedelta(days=1) if issued + timedelta(days=1) < self.now else issued
            batch.credit_notes.append(
                {
                    "id": _id_at(noted),
                    "invoice_id": invoice_id,
                    **owner,
                    "amount": credited,
                    "reason": "Scholarship",
                    "issued_at": noted,
                    "created_at": noted,
                }
            )
        payable = amount - credited
        if outcome in ("paid", "partial"):
            parts = (
                [payable]
                if outcome == "paid" and roll < 0.5
                else [payable // 2, payable - payable // 2]
            )
            if outcome == "partial":
                parts = [payable // 3]
            for part in parts:
                latest = min(
                    datetime.combine(due + timedelta(days=20), time(12), tzinfo=UTC), self.now
                )
                span = max(int((latest - issued).total_seconds()), 1)
                paid_at = issued + timedelta(seconds=self.random.randrange(span))
                batch.payments.append(
                    {
                        "id": _id_at(paid_at),
                        "invoice_id": invoice_id,
                        **owner,
                        "amount": part,
                        "paid_at": paid_at,
                        "method": self.random.choice(METHODS),
                        "reference": None,
                        "created_at": paid_at,
                        "amount_refunded": 0,
                        "receipt_id": None,
                    }
                )
                paid += part
        refunded = self._refund(batch, invoice_id, owner) if paid else 0
        paid -= refunded
        cancelled = outcome == "cancelled"
        status = InvoiceStatus.CANCELLED if cancelled else status_for_paid(paid, amount, credited)
        batch.invoices.append(
            {
                "id": invoice_id,
                "school_id": school_id,
                "student_id": student_id,
                "description": f"Tuition {due:%B %Y}",
                "currency": currency,
                "amount": amount,
                "amount_paid": paid,
                "amount_credited": credited,
                "amount_refunded": refunded,
                "status": status.value,
                "due_date": due,
                "issued_at": issued,
                "created_at": issued,
                "updated_at": issued,
                "cancelled_at": min(issued + timedelta(days=1), self.now) if cancelled else None,
            }
        )

    def _refund(self, batch: _Batch, invoice_id: uuid.UUID, owner: dict[str, Any]) -> int:
        """One paid invoice in twenty gives back half of its last payment (a paid one reopens);
        returns what was refunded."""
        if self.random.random() >= 0.05:
            return 0
        payment = batch.payments[-1]
        amount: int = max(payment["amount"] // 2, 1)
        refunded_at = payment["paid_at"] + (self.now - payment["paid_at"]) * self.random.random()
        payment["amount_refunded"] = amount
        batch.refunds.append(
            {
                "id": _id_at(refunded_at),
                "invoice_id": invoice_id,
                "payment_id": payment["id"],
                **owner,
                "amount": amount,
                "reason": "Overcharged",
                "refunded_at": refunded_at,
                "created_at": refunded_at,
            }
        )
        return amount


async def _write(sql: SqlConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if sql.dialect == "postgresql":
        raw = await sql.connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        if not driver.is_in_transaction():
            # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement: a COPY
            # through the driver before that would commit on its own, outside the batch.
            await sql.execute(text("SELECT 1"))
        columns = list(rows[0])
        await driver.copy_records_to_table(
            table.name, records=[tuple(row[c] for c in columns) for row in rows], columns=columns
        )
    else:
        await sql.connection.execute(insert(table), rows)


async def seed(
    database: Database,
    plan: SeedPlan,
    *,
    now: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Loads `plan` into the database in one transaction per batch of students."""
    generator = _Generator(plan, now or datetime.now(UTC))
    report = SeedReport()
    for number in range(1, plan.schools + 1):
        school = generator.school(number)
        async with database.transaction() as sql:
            await _write(sql, schools, [school])
            await sql.commit()
        report.school_ids.append(school["id"])
        for first in _batches(plan.students_per_school):
            count = min(BATCH_STUDENTS, plan.students_per_school - first)
            batch = generator.batch(school["id"], first, count)
            async with database.transaction() as sql:
                for table, rows in batch.tables():
                    await _write(sql, table, rows)
                await StudentBalanceProjection(sql).fill([s["id"] for s in batch.students])
                await sql.commit()
            report.students += len(batch.students)
            report.invoices += len(batch.invoices)
            report.payments += len(batch.payments)
            report.refunds += len(batch.refunds)
            report.credit_notes += len(batch.credit_notes)
            report.credit_entries += len(batch.credit_entries)
            if on_progress is not None:
                on_progress(count)
    return report


def _batches(total: int) -> Iterator[int]:
    return iter(range(0, total, BATCH_STUDENTS))
