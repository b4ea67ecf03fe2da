"""Write-side repositories over one transaction, each limited to its unit of work's scope.

Statements are built once with bound parameters and reused: building SQLAlchemy expressions per
request cost more CPU than PostgreSQL spent running them. The money records and the figures they
move are deferred writes: a command's writes reach PostgreSQL together (`write_batch`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import Table
from sqlalchemy.sql.dml import Insert

from school_payments.adapters.persistence.concepts import is_open
from school_payments.adapters.persistence.database import SqlConnection
from school_payments.adapters.persistence.mapping import (
    record_from,
    record_values,
    row_in_scope,
)
from school_payments.adapters.persistence.projections import Figures, StudentBalanceProjection
from school_payments.adapters.persistence.tables import (
    api_keys,
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
from school_payments.adapters.persistence.write_batch import DeferredWrite
from school_payments.application.api_keys import ApiKey
from school_payments.application.caller import Scope
from school_payments.domain.credit import CreditAccount, CreditEntry, CreditPayout, Receipt
from school_payments.domain.currency import Currency
from school_payments.domain.entities import CreditNote, Invoice, Payment, Refund, School, Student
from school_payments.domain.errors import DuplicateExternalIdError
from school_payments.domain.money import Money


class LostUpdateError(RuntimeError):
    """A row changed under a lock we held: a bug, never a client's mistake."""


_STUDENT_EXISTS = select(exists().where(students.c.school_id == bindparam("id")))
_BILLING_HISTORY = select(
    exists().where(invoices.c.student_id == bindparam("id"))
    | exists().where(receipts.c.student_id == bindparam("id"))
    | exists().where(credit_entries.c.student_id == bindparam("id"))
)
_STUDENTS_OF = select(students.c.id).where(students.c.school_id == bindparam("id"))
_UPDATE_SCHOOL = update(schools).where(schools.c.id == bindparam("b_id"))
_UPDATE_STUDENT = update(students).where(students.c.id == bindparam("b_id"))
_UPDATE_KEY = update(api_keys).where(api_keys.c.id == bindparam("b_id"))
_DELETE = {
    table: delete(table).where(table.c.id == bindparam("id")) for table in (schools, students)
}
_PAYMENTS_OF = (
    select(payments).where(payments.c.invoice_id == bindparam("id")).order_by(payments.c.id)
)
_REFUNDS_OF = select(refunds).where(refunds.c.invoice_id == bindparam("id")).order_by(refunds.c.id)
_CREDIT_NOTES_OF = (
    select(credit_notes)
    .where(credit_notes.c.invoice_id == bindparam("id"))
    .order_by(credit_notes.c.id)
)
# The order a student payment settles invoices in (contract): earliest due date, then earliest
# issued, then creation order (ids are UUIDv7). Locked rows are taken in that same order by
# every such payment, so two of them for one student never deadlock.
_OPEN_FOR_ALLOCATION = (
    select(invoices)
    .where(
        invoices.c.student_id == bindparam("student"),
        invoices.c.currency == bindparam("currency"),
        is_open(invoices.c.status),
    )
    .order_by(invoices.c.due_date, invoices.c.issued_at, invoices.c.id)
)
# Conditional on the state the invoice was loaded in: a write never lands on a changed row.
_GUARDED_INVOICE_UPDATE = update(invoices).where(
    invoices.c.id == bindparam("b_id"),
    invoices.c.status == bindparam("b_status"),
    invoices.c.amount_paid == bindparam("b_paid"),
    invoices.c.amount_credited == bindparam("b_credited"),
)
# A payment's one changing column moves only from the figure it was read with.
_REFUNDED = update(payments).where(
    payments.c.id == bindparam("b_id"), payments.c.amount_refunded == bindparam("b_before")
)


_INSERT: dict[Table, Insert] = {
    table: insert(table)
    for table in (
        invoices,
        payments,
        refunds,
        credit_notes,
        credit_entries,
        receipts,
        credit_payouts,
    )
}


async def _insert(sql: SqlConnection, table: Table, values: dict[str, Any]) -> None:
    """Adds a new record with the transaction's other deferred writes."""
    await sql.defer(DeferredWrite(_INSERT[table], values, (table.name, values["id"])))


def _is_duplicate_external_id(error: IntegrityError) -> bool:
    message = str(error.orig)
    return "uq_students_school_id_external_id" in message or (
        "UNIQUE constraint failed: students.school_id, students.external_id" in message
    )


def _changes(values: dict[str, Any], *fixed: str) -> dict[str, Any]:
    """The columns an update may set (identity and creation time never change)."""
    return {key: value for key, value in values.items() if key not in ("id", "created_at", *fixed)}


class SqlSchoolRepository:
    def __init__(self, sql: SqlConnection, scope: Scope) -> None:
        self._sql = sql
        self._scope = scope

    async def add(self, school: School) -> None:
        await self._sql.execute(insert(schools), record_values(schools, school))

    async def get(self, school_id: UUID, *, for_update: bool = False) -> School:
        row = await row_in_scope(
            self._sql, schools, self._scope, school_id, "school", for_update=for_update
        )
        return record_from(School, row)

    async def update(self, school: School) -> None:
        values = _changes(record_values(schools, school))
        await self._sql.execute(_UPDATE_SCHOOL, {"b_id": school.id, **values})

    async def delete(self, school_id: UUID) -> None:
        await self._sql.execute(_DELETE[schools], {"id": school_id})

    async def has_students(self, school_id: UUID) -> bool:
        return bool(await self._sql.scalar(_STUDENT_EXISTS, {"id": school_id}))


class SqlStudentRepository:
    def __init__(self, sql: SqlConnection, scope: Scope) -> None:
        self._sql = sql
        self._scope = scope

    async def add(self, student: Student) -> None:
        await self._write(insert(students), record_values(students, student), student)

    async def get(
        self, student_id: UUID, *, for_update: bool = False, for_share: bool = False
    ) -> Student:
        row = await row_in_scope(
            self._sql,
            students,
            self._scope,
            student_id,
            "student",
            for_update=for_update,
            for_share=for_share,
        )
        return record_from(Student, row)

    async def update(self, student: Student) -> None:
        values = _changes(record_values(students, student), "school_id")
        await self._write(_UPDATE_STUDENT, {"b_id": student.id, **values}, student)

    async def _write(self, statement: Any, values: dict[str, Any], student: Student) -> None:
        try:
            await self._sql.execute(statement, values)
        except IntegrityError as error:
            if student.external_id is not None and _is_duplicate_external_id(error):
                raise DuplicateExternalIdError(student.external_id) from None
            raise

    async def delete(self, student_id: UUID) -> None:
        await self._sql.execute(_DELETE[students], {"id": student_id})

    async def has_billing_history(self, student_id: UUID) -> bool:
        return bool(await self._sql.scalar(_BILLING_HISTORY, {"id": student_id}))

    async def ids_in_school(self, school_id: UUID) -> list[UUID]:
        return [row.id for row in (await self._sql.execute(_STUDENTS_OF, {"id": school_id})).all()]


class SqlInvoiceRepository:
    """Invoices with their payments; the balance projection follows them in the same transaction."""

    def __init__(self, sql: SqlConnection, scope: Scope) -> None:
        self._sql = sql
        self._scope = scope
        self._balances = StudentBalanceProjection(sql)
        # What each invoice looked like when loaded: writes are conditional on it (no lost update)
        # and closing transitions are detected against it.
        self._loaded: dict[UUID, Figures] = {}

    async def add(self, invoice: Invoice) -> None:
        await self._balances.invoice_issued(invoice)
        await _insert(self._sql, invoices, record_values(invoices, invoice))
        self._loaded[invoice.id] = Figures.of(invoice)

    async def get(
        self, invoice_id: UUID, *, for_update: bool = False, with_payments: bool = False
    ) -> Invoice:
        row = await row_in_scope(
            self._sql, invoices, self._scope, invoice_id, "invoice", for_update=for_update
        )
        if not with_payments:
            invoice = record_from(Invoice, row)
        else:
            invoice = record_from(
                Invoice,
                row,
                payments=await self._payments_with_refunds(invoice_id),
                credit_notes=tuple(
                    record_from(CreditNote, note)
                    for note in await self._sql.rows(_CREDIT_NOTES_OF, {"id": invoice_id})
                ),
            )
        self._loaded[invoice.id] = Figures.of(invoice)
        return invoice

    async def _payments_with_refunds(self, invoice_id: UUID) -> tuple[Payment, ...]:
        by_payment: dict[UUID, list[Refund]] = defaultdict(list)
        for row in await self._sql.rows(_REFUNDS_OF, {"id": invoice_id}):
            by_payment[row.payment_id].append(record_from(Refund, row))
        return tuple(
            record_from(Payment, row, refunds=tuple(by_payment[row.id]))
            for row in await self._sql.rows(_PAYMENTS_OF, {"id": invoice_id})
        )

    async def payment(self, payment_id: UUID) -> Payment:
        row = await row_in_scope(self._sql, payments, self._scope, payment_id, "payment")
        return record_from(Payment, row)

    async def open_for_allocation(
        self, student_id: UUID, currency: Currency, *, for_update: bool
    ) -> list[Invoice]:
        query = _OPEN_FOR_ALLOCATION.with_for_update() if for_update else _OPEN_FOR_ALLOCATION
        found = [
            record_from(Invoice, row)
            for row in await self._sql.rows(
                query, {"student": student_id, "currency": currency.code}
            )
        ]
        for invoice in found:
            self._loaded[invoice.id] = Figures.of(invoice)
        return found

    async def update(self, invoice: Invoice) -> None:
        before = self._loaded[invoice.id]
        await self._guarded_update(
            invoice,
            description=invoice.description,
            due_date=invoice.due_date,
            status=invoice.status.value,
            cancelled_at=invoice.cancelled_at,
            updated_at=invoice.updated_at,
        )
        await self._balances.invoice_changed(invoice, before)

    async def add_payment(self, invoice: Invoice, payment: Payment) -> None:
        await _insert(self._sql, payments, record_values(payments, payment))
        await self._save_figures(invoice)

    async def add_refund(self, invoice: Invoice, refund: Refund, payment: Payment) -> None:
        await _insert(self._sql, refunds, record_values(refunds, refund))
        await self._sql.defer(
            DeferredWrite(
                _REFUNDED,
                {
                    "amount_refunded": payment.refunded.amount,
                    "b_id": payment.id,
                    "b_before": payment.refunded.amount - refund.amount.amount,
                },
                ("payments", payment.id),
                lambda: LostUpdateError(f"payment {payment.id} changed under its invoice's lock"),
            )
        )
        await self._save_figures(invoice)

    async def add_credit_note(self, invoice: Invoice, note: CreditNote) -> None:
        await _insert(self._sql, credit_notes, record_values(credit_notes, note))
        await self._save_figures(invoice)

    async def _save_figures(self, invoice: Invoice) -> None:
        before = self._loaded[invoice.id]
        await self._guarded_update(
            invoice,
            amount_paid=invoice.amount_paid.amount,
            amount_credited=invoice.credited.amount,
            amount_refunded=invoice.refunded.amount,
            status=invoice.status.value,
            updated_at=invoice.updated_at,
        )
        await self._balances.invoice_changed(invoice, before)

    async def _guarded_update(self, invoice: Invoice, **values: Any) -> None:
        before = self._loaded[invoice.id]
        await self._sql.defer(
            DeferredWrite(
                _GUARDED_INVOICE_UPDATE,
                {
                    **values,
                    "b_id": invoice.id,
                    "b_status": before.status.value,
                    "b_paid": before.paid,
                    "b_credited": before.credited,
                },
                ("invoices", invoice.id),
                lambda: LostUpdateError(f"invoice {invoice.id} changed while locked"),
            )
        )
        self._loaded[invoice.id] = Figures.of(invoice)


class SqlApiKeyRepository:
    def __init__(self, sql: SqlConnection, scope: Scope) -> None:
        self._sql = sql
        self._scope = scope

    async def add(self, key: ApiKey) -> None:
        await self._sql.execute(insert(api_keys), record_values(api_keys, key))

    async def get(self, key_id: UUID) -> ApiKey:
        row = await row_in_scope(
            self._sql, api_keys, self._scope, key_id, "API key", for_update=False
        )
        return record_from(ApiKey, row)

    async def update(self, key: ApiKey) -> None:
        await self._sql.execute(_UPDATE_KEY, {"b_id": key.id, "revoked_at": key.revoked_at})


_BALANCE_ROW = select(credit_balances.c.balance).where(
    credit_balances.c.student_id == bindparam("student"),
    credit_balances.c.currency == bindparam("currency"),
)
_NEW_BALANCE_ROW = {
    # Both dialects spell "insert unless it exists" the same way, through their own insert().
    dialect: module.insert(credit_balances).on_conflict_do_nothing(
        index_elements=["student_id", "currency", "school_id"]
    )
    for dialect, module in (("postgresql", postgresql), ("sqlite", sqlite))
}
_SAVE_BALANCE = update(credit_balances).where(
    credit_balances.c.student_id == bindparam("b_student"),
    credit_balances.c.currency == bindparam("b_currency"),
)


class SqlCreditRepository:
    """Receipts, payouts and credit entries, with each student's balance row per currency."""

    def __init__(self, sql: SqlConnection) -> None:
        self._sql = sql

    async def account(self, student: Student, currency: Currency) -> CreditAccount:
        key = {"student": student.id, "currency": currency.code}
        await self._sql.execute(
            _NEW_BALANCE_ROW[self._sql.dialect],
            {"student_id": student.id, "currency": currency.code, "school_id": student.school_id},
        )
        balance = await self._sql.scalar(_BALANCE_ROW.with_for_update(), key)
        return CreditAccount(student.school_id, student.id, Money(int(balance), currency))

    async def save(self, account: CreditAccount, currency: Currency) -> None:
        await self._sql.defer(
            DeferredWrite(
                _SAVE_BALANCE,
                {
                    "balance": account.balance.amount,
                    "b_student": account.student_id,
                    "b_currency": currency.code,
                },
                ("credit_balances", (account.student_id, currency.code)),
            )
        )

    async def add_entry(self, entry: CreditEntry) -> None:
        values = record_values(credit_entries, entry)
        await _insert(self._sql, credit_entries, values | {"direction": entry.direction.value})

    async def add_receipt(self, receipt: Receipt) -> None:
        await _insert(self._sql, receipts, record_values(receipts, receipt))

    async def add_payout(self, payout: CreditPayout) -> None:
        await _insert(self._sql, credit_payouts, record_values(credit_payouts, payout))
