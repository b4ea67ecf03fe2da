"""Write-side repositories over one transaction, each limited to its unit of work's scope."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement, Select

from school_payments.adapters.persistence.database import Queries
from school_payments.adapters.persistence.mapping import (
    api_key_from,
    api_key_values,
    invoice_from,
    invoice_values,
    payment_from,
    payment_values,
    school_from,
    school_values,
    scoped,
    student_from,
    student_values,
)
from school_payments.adapters.persistence.tables import (
    api_keys,
    invoices,
    payments,
    schools,
    student_balances,
    students,
)
from school_payments.application.api_keys import ApiKey
from school_payments.application.caller import Scope
from school_payments.domain.entities import Invoice, InvoiceStatus, Payment, School, Student
from school_payments.domain.errors import DuplicateExternalIdError, NotFoundError


class LostUpdateError(RuntimeError):
    """A row changed under a lock we held: a bug, never a client's mistake."""


async def _one(
    q: Queries, statement: Select[Any], resource: str, resource_id: UUID, for_update: bool
) -> Any:
    if for_update:
        statement = statement.with_for_update()
    row = await q.first(statement)
    if row is None:
        raise NotFoundError(resource, resource_id)
    return row


async def _exists(q: Queries, condition: ColumnElement[bool]) -> bool:
    return bool(await q.scalar(select(exists().where(condition))))


def _is_duplicate_external_id(error: IntegrityError) -> bool:
    message = str(error.orig)
    return "uq_students_school_id_external_id" in message or (
        "UNIQUE constraint failed: students.school_id, students.external_id" in message
    )


class SqlSchoolRepository:
    def __init__(self, q: Queries, scope: Scope) -> None:
        self._q = q
        self._scope = scope

    async def add(self, school: School) -> None:
        await self._q.execute(insert(schools).values(school_values(school)))

    async def get(self, school_id: UUID, *, for_update: bool = False) -> School:
        query = scoped(select(schools).where(schools.c.id == school_id), schools.c.id, self._scope)
        return school_from(await _one(self._q, query, "school", school_id, for_update))

    async def update(self, school: School) -> None:
        values = school_values(school)
        del values["id"], values["created_at"]
        await self._q.execute(update(schools).where(schools.c.id == school.id).values(values))

    async def delete(self, school_id: UUID) -> None:
        await self._q.execute(delete(schools).where(schools.c.id == school_id))

    async def has_students(self, school_id: UUID) -> bool:
        return await _exists(self._q, students.c.school_id == school_id)


class SqlStudentRepository:
    def __init__(self, q: Queries, scope: Scope) -> None:
        self._q = q
        self._scope = scope

    async def add(self, student: Student) -> None:
        await self._write(insert(students).values(student_values(student)), student)

    async def get(self, student_id: UUID, *, for_update: bool = False) -> Student:
        query = scoped(
            select(students).where(students.c.id == student_id), students.c.school_id, self._scope
        )
        return student_from(await _one(self._q, query, "student", student_id, for_update))

    async def update(self, student: Student) -> None:
        values = student_values(student)
        del values["id"], values["school_id"], values["created_at"]
        statement = update(students).where(students.c.id == student.id).values(values)
        await self._write(statement, student)

    async def _write(self, statement: Any, student: Student) -> None:
        try:
            await self._q.execute(statement)
        except IntegrityError as error:
            if student.external_id is not None and _is_duplicate_external_id(error):
                raise DuplicateExternalIdError(student.external_id) from None
            raise

    async def delete(self, student_id: UUID) -> None:
        await self._q.execute(delete(students).where(students.c.id == student_id))

    async def has_invoices(self, student_id: UUID) -> bool:
        return await _exists(self._q, invoices.c.student_id == student_id)

    async def ids_in_school(self, school_id: UUID) -> list[UUID]:
        rows = await self._q.rows(select(students.c.id).where(students.c.school_id == school_id))
        return [row.id for row in rows]


class SqlInvoiceRepository:
    """Invoices with their payments; also keeps `student_balances` in step as invoices close."""

    def __init__(self, q: Queries, scope: Scope) -> None:
        self._q = q
        self._scope = scope
        # What each invoice looked like when loaded: writes are conditional on it (no lost update)
        # and closing transitions are detected against it.
        self._loaded: dict[UUID, tuple[InvoiceStatus, int]] = {}

    async def add(self, invoice: Invoice) -> None:
        await self._q.execute(self._ensure_balance_row(invoice))
        await self._q.execute(insert(invoices).values(invoice_values(invoice)))
        self._loaded[invoice.id] = (invoice.status, invoice.amount_paid.amount)

    def _ensure_balance_row(self, invoice: Invoice) -> Any:
        # Both dialects spell "insert unless it exists" the same way, through their own insert().
        dialect_insert = postgresql.insert if self._q.dialect == "postgresql" else sqlite.insert
        return (
            dialect_insert(student_balances)
            .values(
                student_id=invoice.student_id,
                currency=invoice.currency.code,
                school_id=invoice.school_id,
            )
            .on_conflict_do_nothing(index_elements=["student_id", "currency"])
        )

    async def get(
        self, invoice_id: UUID, *, for_update: bool = False, with_payments: bool = False
    ) -> Invoice:
        query = scoped(
            select(invoices).where(invoices.c.id == invoice_id), invoices.c.school_id, self._scope
        )
        row = await _one(self._q, query, "invoice", invoice_id, for_update)
        found: tuple[Payment, ...] | None = None
        if with_payments:
            rows = await self._q.rows(
                select(payments).where(payments.c.invoice_id == invoice_id).order_by(payments.c.id)
            )
            found = tuple(payment_from(r) for r in rows)
        invoice = invoice_from(row, found)
        self._loaded[invoice.id] = (invoice.status, invoice.amount_paid.amount)
        return invoice

    async def update(self, invoice: Invoice) -> None:
        before_status, _ = self._loaded[invoice.id]
        await self._guarded_update(
            invoice,
            description=invoice.description,
            due_date=invoice.due_date,
            status=invoice.status.value,
            cancelled_at=invoice.cancelled_at,
            updated_at=invoice.updated_at,
        )
        if (
            before_status is not InvoiceStatus.CANCELLED
            and invoice.status is InvoiceStatus.CANCELLED
        ):
            await self._q.execute(
                self._balance(invoice).values(
                    cancelled_count=student_balances.c.cancelled_count + 1
                )
            )

    async def add_payment(self, invoice: Invoice, payment: Payment) -> None:
        before_status, _ = self._loaded[invoice.id]
        await self._q.execute(insert(payments).values(payment_values(payment)))
        await self._guarded_update(
            invoice,
            amount_paid=invoice.amount_paid.amount,
            status=invoice.status.value,
            updated_at=invoice.updated_at,
        )
        if before_status is not InvoiceStatus.PAID and invoice.status is InvoiceStatus.PAID:
            await self._q.execute(
                self._balance(invoice).values(
                    closed_invoiced=student_balances.c.closed_invoiced + invoice.amount.amount,
                    paid_count=student_balances.c.paid_count + 1,
                )
            )

    async def _guarded_update(self, invoice: Invoice, **values: Any) -> None:
        before_status, before_paid = self._loaded[invoice.id]
        result = await self._q.execute(
            update(invoices)
            .where(
                invoices.c.id == invoice.id,
                invoices.c.status == before_status.value,
                invoices.c.amount_paid == before_paid,
            )
            .values(**values)
        )
        if result.rowcount != 1:
            raise LostUpdateError(f"invoice {invoice.id} changed while locked")
        self._loaded[invoice.id] = (invoice.status, invoice.amount_paid.amount)

    @staticmethod
    def _balance(invoice: Invoice) -> Any:
        return update(student_balances).where(
            student_balances.c.student_id == invoice.student_id,
            student_balances.c.currency == invoice.currency.code,
        )


class SqlApiKeyRepository:
    def __init__(self, q: Queries, scope: Scope) -> None:
        self._q = q
        self._scope = scope

    async def add(self, key: ApiKey) -> None:
        await self._q.execute(insert(api_keys).values(api_key_values(key)))

    async def get(self, key_id: UUID) -> ApiKey:
        query = scoped(
            select(api_keys).where(api_keys.c.id == key_id), api_keys.c.school_id, self._scope
        )
        return api_key_from(await _one(self._q, query, "API key", key_id, for_update=False))

    async def update(self, key: ApiKey) -> None:
        await self._q.execute(
            update(api_keys).where(api_keys.c.id == key.id).values(revoked_at=key.revoked_at)
        )
