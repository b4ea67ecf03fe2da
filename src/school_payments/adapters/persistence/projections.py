"""`student_balances`, the read-model projection of closed invoices, kept up to date from here.

What it holds: per student and currency, what the student's closed invoices (PAID and
CANCELLED) add to a statement: the sums of the settled ones (`closed_invoiced`, `closed_paid`,
`closed_credited`, `closed_refunded`), `paid_count` and `cancelled_count`. Open invoices are not
in it. CANCELLED is final; PAID is not (a refund reopens an invoice), so a settled invoice is
taken out again when it reopens.

When it changes: a row appears (all zeros) when a student's first invoice in a currency is
issued, so every (student, currency) with an invoice has one; it grows in the transaction that
closes an invoice. `StudentBalanceProjection` is the only writer: the invoice repository calls
it as invoices are issued and change, the seed has it fill the rows of the students it loaded.

Who reads it: today's statements (`statements.py`) add the open invoices to it, so they cost
what is open rather than years of paid history (ADR 0006); reconciliation (`reconcile.py`)
holds it to `closed_invoice_totals()`, what the invoices themselves add up to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Update

from school_payments.adapters.persistence.database import SqlConnection
from school_payments.adapters.persistence.tables import invoices, student_balances
from school_payments.adapters.persistence.write_batch import DeferredWrite
from school_payments.domain.entities import Invoice, InvoiceStatus

PAID, CANCELLED = InvoiceStatus.PAID.value, InvoiceStatus.CANCELLED.value


_SETTLED_SUMS = {
    "closed_invoiced": invoices.c.amount,
    "closed_paid": invoices.c.amount_paid,
    "closed_credited": invoices.c.amount_credited,
    "closed_refunded": invoices.c.amount_refunded,
}
"""What a settled (PAID) invoice adds to its student's row, column by column."""


def closed_invoice_totals() -> Select[Any]:
    """The projection's rows as the invoices have them, one per student and currency.

    The definition of what `student_balances` must hold: the seed inserts it, and
    reconciliation compares the table with it.
    """
    key = (invoices.c.student_id, invoices.c.currency, invoices.c.school_id)
    settled = invoices.c.status == PAID
    return select(
        *key,
        *[
            func.sum(case((settled, column), else_=0)).label(name)
            for name, column in _SETTLED_SUMS.items()
        ],
        func.count().filter(settled).label("paid_count"),
        func.count().filter(invoices.c.status == CANCELLED).label("cancelled_count"),
    ).group_by(*key)


@dataclass(frozen=True, slots=True)
class Figures:
    """An invoice's state and figures as its row held them (before a change)."""

    status: InvoiceStatus
    amount: int
    paid: int
    credited: int
    refunded: int

    @classmethod
    def of(cls, invoice: Invoice) -> Figures:
        return cls(
            invoice.status,
            invoice.amount.amount,
            invoice.amount_paid.amount,
            invoice.credited.amount,
            invoice.refunded.amount,
        )


# Built once with bound parameters: the write path only binds values. A settled invoice is
# added with sign +1 and, when a refund reopens it, taken out again with sign -1.
_ROW = update(student_balances).where(
    student_balances.c.student_id == bindparam("b_student"),
    student_balances.c.currency == bindparam("b_currency"),
)
_SETTLED = _ROW.values(
    {
        name: student_balances.c[name] + bindparam(f"b_{name}")
        for name in (*_SETTLED_SUMS, "paid_count")
    }
)
_CANCELLED = _ROW.values(cancelled_count=student_balances.c.cancelled_count + 1)
_OPEN_ROW = {
    # Both dialects spell "insert unless it exists" the same way, through their own insert().
    dialect: module.insert(student_balances).on_conflict_do_nothing(
        index_elements=["student_id", "currency", "school_id"]
    )
    for dialect, module in (("postgresql", postgresql), ("sqlite", sqlite))
}
_FILL = insert(student_balances).from_select(
    ["student_id", "currency", "school_id", *_SETTLED_SUMS, "paid_count", "cancelled_count"],
    closed_invoice_totals().where(invoices.c.student_id.in_(bindparam("students", expanding=True))),
)


class StudentBalanceProjection:
    """Keeps `student_balances` in step with the invoices, in the caller's transaction."""

    def __init__(self, sql: SqlConnection) -> None:
        self._sql = sql

    async def invoice_issued(self, invoice: Invoice) -> None:
        await self._sql.execute(
            _OPEN_ROW[self._sql.dialect],
            {
                "student_id": invoice.student_id,
                "currency": invoice.currency.code,
                "school_id": invoice.school_id,
            },
        )

    async def invoice_changed(self, invoice: Invoice, before: Figures) -> None:
        """Moves the row by what `invoice` adds now against what it added `before`: a settled
        invoice is counted, a refund that reopens one takes it out, a cancellation counts."""
        row = {"b_student": invoice.student_id, "b_currency": invoice.currency.code}
        after = Figures.of(invoice)
        if before.status is InvoiceStatus.PAID and after != before:
            await self._move(_SETTLED, {**self._sums(before, -1), **row})
        if after.status is InvoiceStatus.PAID and after != before:
            await self._move(_SETTLED, {**self._sums(after, +1), **row})
        if before.status is not InvoiceStatus.CANCELLED and after.status is InvoiceStatus.CANCELLED:
            await self._move(_CANCELLED, row)

    async def _move(self, change: Update, values: dict[str, Any]) -> None:
        """One change of a student's row, sent with the invoice's own writes."""
        key = (values["b_student"], values["b_currency"])
        await self._sql.defer(DeferredWrite(change, values, ("student_balances", key)))

    @staticmethod
    def _sums(figures: Figures, sign: int) -> dict[str, int]:
        return {
            "b_closed_invoiced": sign * figures.amount,
            "b_closed_paid": sign * figures.paid,
            "b_closed_credited": sign * figures.credited,
            "b_closed_refunded": sign * figures.refunded,
            "b_paid_count": sign,
        }

    async def fill(self, student_ids: list[UUID]) -> None:
        """The rows of students who have none yet, from their invoices (for bulk loads)."""
        if student_ids:
            await self._sql.execute(_FILL, {"students": student_ids})
