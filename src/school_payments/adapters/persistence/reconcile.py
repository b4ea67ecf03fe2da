"""Reconciliation: queries that must return no rows. Each row found is a broken invariant.

Run in the test suite after every randomized workload, and by operators as
`school-payments reconcile` (exit status 1 when anything is found).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, and_, case, func, literal, null, or_, select, union_all
from sqlalchemy.sql import ColumnElement, Select, Subquery

from school_payments.adapters.persistence.database import Database
from school_payments.adapters.persistence.projections import closed_invoice_totals
from school_payments.adapters.persistence.tables import (
    credit_balances,
    credit_entries,
    credit_notes,
    invoices,
    payments,
    receipts,
    refunds,
    student_balances,
)
from school_payments.domain.credit import CreditDirection
from school_payments.domain.entities import InvoiceStatus


@dataclass(frozen=True, slots=True)
class Discrepancy:
    check: str
    subject: str
    detail: dict[str, Any]


def _per(table: Table, key: str, *sums: tuple[str, ColumnElement[Any]]) -> Subquery:
    """Σ of each expression of `table`'s rows per `key` column."""
    return (
        select(table.c[key].label("key"), *[func.sum(value).label(name) for name, value in sums])
        .group_by(table.c[key])
        .subquery()
    )


def _invoice_figures_versus_records() -> Select[Any]:
    """An invoice's figures are what its records add up to: amount_paid = Σ payments − Σ their
    refunds, amount_refunded = Σ those refunds, amount_credited = Σ its credit notes; and what
    it holds and was forgiven never exceeds its amount."""
    paid = _per(payments, "invoice_id", ("total", payments.c.amount))
    refunded = _per(refunds, "invoice_id", ("total", refunds.c.amount))
    credited = _per(credit_notes, "invoice_id", ("total", credit_notes.c.amount))
    i = invoices.c
    payments_total = func.coalesce(paid.c.total, 0)
    refunds_total = func.coalesce(refunded.c.total, 0)
    notes_total = func.coalesce(credited.c.total, 0)
    return (
        select(
            i.id,
            i.amount,
            i.amount_paid,
            i.amount_refunded,
            i.amount_credited,
            payments_total.label("payments"),
            refunds_total.label("refunds"),
            notes_total.label("credit_notes"),
        )
        .select_from(
            invoices.outerjoin(paid, paid.c.key == i.id)
            .outerjoin(refunded, refunded.c.key == i.id)
            .outerjoin(credited, credited.c.key == i.id)
        )
        .where(
            or_(
                i.amount_paid != payments_total - refunds_total,
                i.amount_refunded != refunds_total,
                i.amount_credited != notes_total,
                i.amount_paid + i.amount_credited > i.amount,
            )
        )
    )


def _payment_refunded_versus_refunds() -> Select[Any]:
    """A payment's amount_refunded is the sum of its refunds, and never more than the payment."""
    refunded = _per(refunds, "payment_id", ("total", refunds.c.amount))
    total = func.coalesce(refunded.c.total, 0)
    p = payments.c
    return (
        select(p.id, p.amount, p.amount_refunded, total.label("refunds"))
        .select_from(payments.outerjoin(refunded, refunded.c.key == p.id))
        .where(or_(p.amount_refunded != total, p.amount_refunded > p.amount))
    )


def _status_versus_amounts() -> Select[Any]:
    """The stored state agrees with the figures (also a CHECK constraint; checked here anyway):
    cancelled only while holding nothing, else `status_for_paid` of the domain, in SQL."""
    i = invoices.c
    expected = case(
        (i.cancelled_at.is_not(None), literal(InvoiceStatus.CANCELLED.value)),
        (i.amount_paid + i.amount_credited >= i.amount, literal(InvoiceStatus.PAID.value)),
        (i.amount_paid == 0, literal(InvoiceStatus.PENDING.value)),
        else_=literal(InvoiceStatus.PARTIALLY_PAID.value),
    )
    return select(i.id, i.status, i.amount_paid, expected.label("expected")).where(
        or_(i.status != expected, and_(i.cancelled_at.is_not(None), i.amount_paid != 0))
    )


def _credit_versus_entries() -> Select[Any]:
    """A student's credit balance in a currency is Σ entries in − Σ entries out, never below
    zero; a balance exists exactly where there are entries (statements rely on it)."""
    e = credit_entries.c
    signed = case((e.direction == CreditDirection.IN.value, e.amount), else_=-e.amount)
    entries = (
        select(e.student_id, e.currency, func.sum(signed).label("total"))
        .group_by(e.student_id, e.currency)
        .subquery()
    )
    b = credit_balances.c
    same = and_(b.student_id == entries.c.student_id, b.currency == entries.c.currency)
    # Both directions of a full outer join, spelled as two outer joins that SQLite also runs.
    missing_balance = (
        select(
            entries.c.student_id,
            entries.c.currency,
            null().label("balance"),
            entries.c.total.label("entries"),
        )
        .select_from(entries.outerjoin(credit_balances, same))
        .where(b.student_id.is_(None))
    )
    stored = (
        select(b.student_id, b.currency, b.balance, entries.c.total.label("entries"))
        .select_from(credit_balances.outerjoin(entries, same))
        .where(
            or_(
                entries.c.student_id.is_(None),
                b.balance != entries.c.total,
                b.balance < 0,
            )
        )
    )
    return union_all(stored, missing_balance)  # type: ignore[return-value]


def _receipts_versus_shares() -> Select[Any]:
    """A receipt's amount is its shares (payments carrying its id) plus what went to credit."""
    shares = _per(payments, "receipt_id", ("total", payments.c.amount))
    total = func.coalesce(shares.c.total, 0)
    r = receipts.c
    return (
        select(r.id, r.amount, r.credited_to_balance, total.label("shares"))
        .select_from(receipts.outerjoin(shares, shares.c.key == r.id))
        .where(total + r.credited_to_balance != r.amount)
    )


_PROJECTED = (
    "closed_invoiced",
    "closed_paid",
    "closed_credited",
    "closed_refunded",
    "paid_count",
    "cancelled_count",
)


def _balances_versus_invoices() -> Select[Any]:
    """The balance projection equals what the closed invoices add up to, row for row."""
    actual = closed_invoice_totals().subquery()
    b = student_balances.c
    joined = actual.outerjoin(
        student_balances, and_(b.student_id == actual.c.student_id, b.currency == actual.c.currency)
    )
    compared = [
        column
        for name in _PROJECTED
        for column in (actual.c[name], b[name].label(f"stored_{name}"))
    ]
    return (
        select(actual.c.student_id, actual.c.currency, *compared)
        .select_from(joined)
        .where(or_(b.student_id.is_(None), *[b[name] != actual.c[name] for name in _PROJECTED]))
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


CHECKS: dict[str, Callable[[], Select[Any]]] = {
    "invoice_paid_equals_payments": _invoice_figures_versus_records,
    "payment_refunded_equals_refunds": _payment_refunded_versus_refunds,
    "invoice_status_matches_amounts": _status_versus_amounts,
    "credit_balance_equals_entries": _credit_versus_entries,
    "receipt_equals_shares_and_credit": _receipts_versus_shares,
    "balances_match_closed_invoices": _balances_versus_invoices,
    "no_balance_without_invoices": _balances_without_invoices,
}
"""Each check by name, in the order it runs and is reported."""


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
