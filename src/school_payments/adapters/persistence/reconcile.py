"""Reconciliation: queries that must return no rows. Each row found is a broken invariant.

Run in the test suite after every randomized workload, and by operators as
`school-payments reconcile` (exit status 1 when anything is found).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.sql import Select

from school_payments.adapters.persistence.database import Database
from school_payments.adapters.persistence.projections import closed_invoice_totals
from school_payments.adapters.persistence.tables import invoices, payments, student_balances
from school_payments.domain.entities import InvoiceStatus


@dataclass(frozen=True, slots=True)
class Discrepancy:
    check: str
    subject: str
    detail: dict[str, Any]


def _paid_versus_payments() -> Select[Any]:
    """An invoice's amount_paid is exactly the sum of its payments; it never exceeds its amount."""
    paid = (
        select(payments.c.invoice_id, func.sum(payments.c.amount).label("total"))
        .group_by(payments.c.invoice_id)
        .subquery()
    )
    total = func.coalesce(paid.c.total, 0)
    return (
        select(invoices.c.id, invoices.c.amount, invoices.c.amount_paid, total.label("payments"))
        .select_from(invoices.outerjoin(paid, paid.c.invoice_id == invoices.c.id))
        .where(or_(invoices.c.amount_paid != total, invoices.c.amount_paid > invoices.c.amount))
    )


def _status_versus_amounts() -> Select[Any]:
    """The stored state agrees with the money (also a CHECK constraint; checked here anyway)."""
    # `status_for_paid` of the domain, in SQL.
    expected = case(
        (invoices.c.cancelled_at.is_not(None), literal(InvoiceStatus.CANCELLED.value)),
        (invoices.c.amount_paid == 0, literal(InvoiceStatus.PENDING.value)),
        (invoices.c.amount_paid >= invoices.c.amount, literal(InvoiceStatus.PAID.value)),
        else_=literal(InvoiceStatus.PARTIALLY_PAID.value),
    )
    return select(invoices.c.id, invoices.c.status, expected.label("expected")).where(
        invoices.c.status != expected
    )


def _balances_versus_invoices() -> Select[Any]:
    """The balance projection equals what the closed invoices add up to, row for row."""
    actual = closed_invoice_totals().subquery()
    b = student_balances.c
    joined = actual.outerjoin(
        student_balances, and_(b.student_id == actual.c.student_id, b.currency == actual.c.currency)
    )
    return (
        select(
            actual.c.student_id,
            actual.c.currency,
            actual.c.closed_invoiced,
            b.closed_invoiced.label("stored_closed_invoiced"),
            actual.c.paid_count,
            b.paid_count.label("stored_paid_count"),
            actual.c.cancelled_count,
            b.cancelled_count.label("stored_cancelled_count"),
        )
        .select_from(joined)
        .where(
            or_(
                b.student_id.is_(None),
                b.closed_invoiced != actual.c.closed_invoiced,
                b.paid_count != actual.c.paid_count,
                b.cancelled_count != actual.c.cancelled_count,
            )
        )
    )


def _balances_without_invoices() -> Select[Any]:
    exists_invoice = (
        select(invoices.c.id)
        .where(
            invoices.c.student_id == student_balances.c.student_id,
            invoices.c.currency == student_balances.c.currency,
        )
        .exists()
    )
    return select(student_balances.c.student_id, student_balances.c.currency).where(~exists_invoice)


CHECKS = {
    "invoice_paid_equals_payments": _paid_versus_payments,
    "invoice_status_matches_amounts": _status_versus_amounts,
    "balances_match_closed_invoices": _balances_versus_invoices,
    "no_balance_without_invoices": _balances_without_invoices,
}


def _plain(value: Any) -> int | str:
    """Amounts as integers (PostgreSQL's SUM hands back a Decimal), anything else as text."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value if isinstance(value, int) else str(value)


async def reconcile(database: Database) -> list[Discrepancy]:
    """Every broken invariant, from one consistent snapshot; an empty list means all is well."""
    found: list[Discrepancy] = []
    async with database.snapshot() as sql:
        for name, query in CHECKS.items():
            for row in await sql.rows(query()):
                # Plain `str` keys: column names come as SQLAlchemy's `quoted_name`, a subclass
                # of str that the JSON log renderer (orjson) refuses.
                values = {str(k): _plain(v) for k, v in row._mapping.items()}
                subject = str(values.get("id") or values.get("student_id"))
                found.append(Discrepancy(name, subject, values))
    return found
