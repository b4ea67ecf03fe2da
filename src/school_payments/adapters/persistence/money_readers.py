"""Read-side queries for the money lifecycle: refunds, credit notes, receipts and credit."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import bindparam, select

from school_payments.adapters.persistence.database import Database
from school_payments.adapters.persistence.mapping import children_page, record_from, row_in_scope
from school_payments.adapters.persistence.tables import (
    credit_balances,
    credit_entries,
    credit_notes,
    credit_payouts,
    invoices,
    payments,
    receipts,
    refunds,
    students,
)
from school_payments.application.caller import Scope
from school_payments.application.pagination import Page, PageRequest
from school_payments.application.read_models import CreditBalance
from school_payments.domain.credit import CreditEntry, CreditPayout, Receipt
from school_payments.domain.entities import CreditNote, Payment, Refund

_RECEIPT_PAYMENTS = (
    select(payments).where(payments.c.receipt_id == bindparam("id")).order_by(payments.c.id)
)
_BALANCES = (
    select(credit_balances.c.currency, credit_balances.c.balance)
    .where(credit_balances.c.student_id == bindparam("id"), credit_balances.c.balance > 0)
    .order_by(credit_balances.c.currency)
)


class SqlRefundReader:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, scope: Scope, refund_id: UUID) -> Refund:
        async with self._database.snapshot() as sql:
            return record_from(Refund, await row_in_scope(sql, refunds, scope, refund_id, "refund"))

    async def list_for_payment(
        self, scope: Scope, payment_id: UUID, page: PageRequest
    ) -> Page[Refund]:
        async with self._database.snapshot() as sql:
            return await children_page(
                sql, scope, (payments, payment_id, "payment"), (refunds, "payment_id", Refund), page
            )


class SqlCreditNoteReader:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, scope: Scope, credit_note_id: UUID) -> CreditNote:
        async with self._database.snapshot() as sql:
            row = await row_in_scope(sql, credit_notes, scope, credit_note_id, "credit note")
        return record_from(CreditNote, row)

    async def list_for_invoice(
        self, scope: Scope, invoice_id: UUID, page: PageRequest
    ) -> Page[CreditNote]:
        async with self._database.snapshot() as sql:
            return await children_page(
                sql,
                scope,
                (invoices, invoice_id, "invoice"),
                (credit_notes, "invoice_id", CreditNote),
                page,
            )


class SqlCreditReader:
    """Receipts, balances, entries and payouts of the students the scope sees."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def receipt(self, scope: Scope, receipt_id: UUID) -> Receipt:
        async with self._database.snapshot() as sql:
            row = await row_in_scope(sql, receipts, scope, receipt_id, "receipt")
            shares = await sql.rows(_RECEIPT_PAYMENTS, {"id": receipt_id})
        return record_from(
            Receipt, row, payments=tuple(record_from(Payment, share) for share in shares)
        )

    async def balances(self, scope: Scope, student_id: UUID) -> list[CreditBalance]:
        async with self._database.snapshot() as sql:
            await row_in_scope(sql, students, scope, student_id, "student")
            rows = await sql.rows(_BALANCES, {"id": student_id})
        return [CreditBalance(row.currency, int(row.balance)) for row in rows]

    async def entries(self, scope: Scope, student_id: UUID, page: PageRequest) -> Page[CreditEntry]:
        async with self._database.snapshot() as sql:
            return await children_page(
                sql,
                scope,
                (students, student_id, "student"),
                (credit_entries, "student_id", CreditEntry),
                page,
            )

    async def payout(self, scope: Scope, payout_id: UUID) -> CreditPayout:
        async with self._database.snapshot() as sql:
            row = await row_in_scope(sql, credit_payouts, scope, payout_id, "credit payout")
        return record_from(CreditPayout, row)
