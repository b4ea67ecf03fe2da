"""The money records of a database read raw, and the invariants between them checked by hand.

Independent of the service's code: the rules are written out again here from the contract
(v1.1, "The money lifecycle"), over the rows as stored, so a test can say "the figures equal the
records" without trusting the repository, the projection or reconciliation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Table, select

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.tables import (
    credit_balances,
    credit_entries,
    credit_notes,
    credit_payouts,
    invoices,
    payments,
    receipts,
    refunds,
    student_balances,
)
from tests.support.tiers import require


@dataclass(frozen=True)
class MoneyRecords:
    """Every money row of the database, as stored."""

    invoices: list[Any]
    payments: list[Any]
    refunds: list[Any]
    credit_notes: list[Any]
    receipts: list[Any]
    credit_entries: list[Any]
    credit_balances: list[Any]
    payouts: list[Any]
    student_balances: list[Any]
    """The read-model projection of settled and cancelled invoices."""

    def invoice(self, invoice_id: str | UUID) -> Any:
        (found,) = [row for row in self.invoices if str(row.id) == str(invoice_id)]
        return found

    def payment(self, payment_id: str | UUID) -> Any:
        (found,) = [row for row in self.payments if str(row.id) == str(payment_id)]
        return found

    def balance(self, student_id: str | UUID, currency: str) -> int:
        """The stored balance row (0 when there is none)."""
        for row in self.credit_balances:
            if str(row.student_id) == str(student_id) and row.currency == currency:
                return int(row.balance)
        return 0


async def read_money_records(database_url: str) -> MoneyRecords:
    if not database_url.startswith("sqlite"):
        require("postgres")
    database = Database(DatabaseSettings(url=database_url))
    tables: tuple[Table, ...] = (
        invoices,
        payments,
        refunds,
        credit_notes,
        receipts,
        credit_entries,
        credit_balances,
        credit_payouts,
        student_balances,
    )
    try:
        async with database.snapshot() as sql:
            found = [list(await sql.rows(select(table))) for table in tables]
    finally:
        await database.dispose()
    return MoneyRecords(*found)


def _sums(rows: Iterable[Any], key: str, value: str = "amount") -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        group = getattr(row, key)
        if group is not None:
            totals[str(group)] += int(getattr(row, value))
    return totals


def expected_status(amount: int, paid: int, credited: int, cancelled: bool) -> str:
    """The stored status the contract derives from an invoice's figures."""
    if cancelled:
        return "CANCELLED"
    if paid + credited >= amount:
        return "PAID"
    return "PARTIALLY_PAID" if paid > 0 else "PENDING"


def broken_invariants(records: MoneyRecords) -> list[str]:
    """Every way the stored figures disagree with the records they come from (empty: none)."""
    broken: list[str] = []
    refunded_by_payment = _sums(records.refunds, "payment_id")
    for row in records.payments:
        refunded = refunded_by_payment.get(str(row.id), 0)
        if int(row.amount_refunded) != refunded or not 0 <= refunded <= int(row.amount):
            broken.append(f"payment {row.id}: amount_refunded {row.amount_refunded} ≠ {refunded}")
    paid_by_invoice = _sums(records.payments, "invoice_id")
    refunded_by_invoice = _sums(records.refunds, "invoice_id")
    credited_by_invoice = _sums(records.credit_notes, "invoice_id")
    for row in records.invoices:
        key = str(row.id)
        paid = paid_by_invoice.get(key, 0) - refunded_by_invoice.get(key, 0)
        credited = credited_by_invoice.get(key, 0)
        figures = (int(row.amount_paid), int(row.amount_credited), int(row.amount_refunded))
        if figures != (paid, credited, refunded_by_invoice.get(key, 0)):
            broken.append(f"invoice {key}: paid, credited, refunded {figures} ≠ records")
        if paid < 0 or paid + credited > int(row.amount):
            broken.append(f"invoice {key}: paid {paid} + credited {credited} > {row.amount}")
        status = expected_status(int(row.amount), paid, credited, row.cancelled_at is not None)
        if row.status != status:
            broken.append(f"invoice {key}: status {row.status}, figures say {status}")
    broken += _credit_broken(records)
    broken += _projection_broken(records)
    return broken


def _projection_broken(records: MoneyRecords) -> list[str]:
    """`student_balances` holds, per student and currency, the sums of the PAID invoices and
    the counts of PAID and CANCELLED ones; a row exists wherever there is an invoice."""
    expected: dict[tuple[str, str], list[int]] = {}
    for row in records.invoices:
        sums = expected.setdefault((str(row.student_id), row.currency), [0] * 6)
        if row.status == "PAID":
            figures = (row.amount, row.amount_paid, row.amount_credited, row.amount_refunded, 1)
            for index, value in enumerate(figures):
                sums[index] += int(value)
        elif row.status == "CANCELLED":
            sums[5] += 1
    stored = {
        (str(r.student_id), r.currency): [
            int(r.closed_invoiced),
            int(r.closed_paid),
            int(r.closed_credited),
            int(r.closed_refunded),
            int(r.paid_count),
            int(r.cancelled_count),
        ]
        for r in records.student_balances
    }
    return [
        f"student_balances {key}: {stored.get(key)} ≠ invoices {sums}"
        for key, sums in expected.items()
        if stored.get(key) != sums
    ]


def _credit_broken(records: MoneyRecords) -> list[str]:
    broken: list[str] = []
    held: dict[tuple[str, str], int] = defaultdict(int)
    for entry in records.credit_entries:
        sign = 1 if entry.direction == "in" else -1
        held[(str(entry.student_id), entry.currency)] += sign * int(entry.amount)
    stored = {(str(r.student_id), r.currency): int(r.balance) for r in records.credit_balances}
    for account in set(held) | set(stored):
        if held.get(account, 0) != stored.get(account, 0) or stored.get(account, 0) < 0:
            broken.append(
                f"credit {account}: balance {stored.get(account)} ≠ entries {held.get(account)}"
            )
    overpaid = _sums([e for e in records.credit_entries if e.kind == "overpayment"], "receipt_id")
    shares = _sums(records.payments, "receipt_id")
    for receipt in records.receipts:
        key = str(receipt.id)
        kept, shared = overpaid.get(key, 0), shares.get(key, 0)
        if int(receipt.credited_to_balance) != kept or int(receipt.amount) != shared + kept:
            broken.append(f"receipt {key}: {receipt.amount} ≠ shares {shared} + credit {kept}")
    applied = _sums([e for e in records.credit_entries if e.kind == "applied"], "payment_id")
    for row in records.payments:
        taken = applied.get(str(row.id), 0)
        if taken != (int(row.amount) if row.method == "credit" else 0):
            broken.append(f"payment {row.id} ({row.method}): {taken} taken from credit")
    credit_payment_ids = {str(p.id) for p in records.payments if p.method == "credit"}
    returned = _sums(
        [e for e in records.credit_entries if e.kind == "refund_of_credit_payment"], "refund_id"
    )
    for refund in records.refunds:
        back = returned.get(str(refund.id), 0)
        if back != (int(refund.amount) if str(refund.payment_id) in credit_payment_ids else 0):
            broken.append(f"refund {refund.id}: {back} returned to credit")
    paid_out = _sums([e for e in records.credit_entries if e.kind == "payout"], "payout_id")
    for payout in records.payouts:
        if paid_out.get(str(payout.id), 0) != int(payout.amount):
            broken.append(f"payout {payout.id}: its entry is missing or differs")
    return broken
