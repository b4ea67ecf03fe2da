"""`student_balances`, the read-model projection of closed invoices, kept up to date from here.

What it holds: per student and currency, what the student's closed invoices (PAID and
CANCELLED, states an invoice never leaves) add to a statement: `closed_invoiced` (the amounts of
the paid ones), `paid_count` and `cancelled_count`. Open invoices are not in it.

When it changes: a row appears (all zeros) when a student's first invoice in a currency is
issued, so every (student, currency) with an invoice has one; it grows in the transaction that
closes an invoice. `StudentBalanceProjection` is the only writer: the invoice repository calls
it as invoices are issued and change, the seed has it fill the rows of the students it loaded.

Who reads it: today's statements (`statements.py`) add the open invoices to it, so they cost
what is open rather than years of paid history (ADR 0006); reconciliation (`reconcile.py`)
holds it to `closed_invoice_totals()`, what the invoices themselves add up to.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Select

from school_payments.adapters.persistence.database import SqlConnection
from school_payments.adapters.persistence.tables import invoices, student_balances
from school_payments.domain.entities import Invoice, InvoiceStatus

PAID, CANCELLED = InvoiceStatus.PAID.value, InvoiceStatus.CANCELLED.value


def closed_invoice_totals() -> Select[Any]:
    """The projection's rows as the invoices have them, one per student and currency.

    The definition of what `student_balances` must hold: the seed inserts it, and
    reconciliation compares the table with it.
    """
    key = (invoices.c.student_id, invoices.c.currency, invoices.c.school_id)
    return select(
        *key,
        func.sum(case((invoices.c.status == PAID, invoices.c.amount), else_=0)).label(
            "closed_invoiced"
        ),
        func.count().filter(invoices.c.status == PAID).label("paid_count"),
        func.count().filter(invoices.c.status == CANCELLED).label("cancelled_count"),
    ).group_by(*key)


# Built once with bound parameters: the write path only binds values.
_ROW = update(student_balances).where(
    student_balances.c.student_id == bindparam("b_student"),
    student_balances.c.currency == bindparam("b_currency"),
)
_PAID = _ROW.values(
    closed_invoiced=student_balances.c.closed_invoiced + bindparam("b_amount"),
    paid_count=student_balances.c.paid_count + 1,
)
_CANCELLED = _ROW.values(cancelled_count=student_balances.c.cancelled_count + 1)
_OPEN_ROW = {
    # Both dialects spell "insert unless it exists" the same way, through their own insert().
    dialect: module.insert(student_balances).on_conflict_do_nothing(
        index_elements=["student_id", "currency"]
    )
    for dialect, module in (("postgresql", postgresql), ("sqlite", sqlite))
}
_FILL = insert(student_balances).from_select(
    ["student_id", "currency", "school_id", "closed_invoiced", "paid_count", "cancelled_count"],
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

    async def invoice_changed(self, invoice: Invoice, before: InvoiceStatus) -> None:
        """Counts `invoice` as closed if it has just closed (it was `before` when loaded)."""
        row = {"b_student": invoice.student_id, "b_currency": invoice.currency.code}
        if before is not InvoiceStatus.PAID and invoice.status is InvoiceStatus.PAID:
            await self._sql.execute(_PAID, {**row, "b_amount": invoice.amount.amount})
        elif before is not InvoiceStatus.CANCELLED and invoice.status is InvoiceStatus.CANCELLED:
            await self._sql.execute(_CANCELLED, row)

    async def fill(self, student_ids: list[UUID]) -> None:
        """The rows of students who have none yet, from their invoices (for bulk loads)."""
        if student_ids:
            await self._sql.execute(_FILL, {"students": student_ids})
