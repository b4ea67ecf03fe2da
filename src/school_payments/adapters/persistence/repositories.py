"""Write-side repositories over one transaction, each limited to its unit of work's scope.

Statements are built once with bound parameters and reused: building SQLAlchemy expressions per
request cost more CPU than PostgreSQL spent running them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from school_payments.adapters.persistence.database import SqlConnection
from school_payments.adapters.persistence.mapping import (
    api_key_from,
    api_key_values,
    invoice_from,
    invoice_values,
    payment_from,
    payment_values,
    row_in_scope,
    school_from,
    school_values,
    student_from,
    student_values,
)
from school_payments.adapters.persistence.projections import StudentBalanceProjection
from school_payments.adapters.persistence.tables import (
    api_keys,
    invoices,
    payments,
    schools,
    students,
)
from school_payments.application.api_keys import ApiKey
from school_payments.application.caller import Scope
from school_payments.domain.entities import Invoice, InvoiceStatus, Payment, School, Student
from school_payments.domain.errors import DuplicateExternalIdError


class LostUpdateError(RuntimeError):
    """A row changed under a lock we held: a bug, never a client's mistake."""


_STUDENT_EXISTS = select(exists().where(students.c.school_id == bindparam("id")))
_INVOICE_EXISTS = select(exists().where(invoices.c.student_id == bindparam("id")))
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
# Conditional on the state the invoice was loaded in: a write never lands on a changed row.
_GUARDED_INVOICE_UPDATE = update(invoices).where(
    invoices.c.id == bindparam("b_id"),
    invoices.c.status == bindparam("b_status"),
    invoices.c.amount_paid == bindparam("b_paid"),
)


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
        await self._sql.execute(insert(schools), school_values(school))

    async def get(self, school_id: UUID, *, for_update: bool = False) -> School:
        row = await row_in_scope(
            self._sql, schools, self._scope, school_id, "school", for_update=for_update
        )
        return school_from(row)

    async def update(self, school: School) -> None:
        values = _changes(school_values(school))
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
        await self._write(insert(students), student_values(student), student)

    async def get(self, student_id: UUID, *, for_update: bool = False) -> Student:
        row = await row_in_scope(
            self._sql, students, self._scope, student_id, "student", for_update=for_update
        )
        return student_from(row)

    async def update(self, student: Student) -> None:
        values = _changes(student_values(student), "school_id")
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

    async def has_invoices(self, student_id: UUID) -> bool:
        return bool(await self._sql.scalar(_INVOICE_EXISTS, {"id": student_id}))

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
        self._loaded: dict[UUID, tuple[InvoiceStatus, int]] = {}

    async def add(self, invoice: Invoice) -> None:
        await self._balances.invoice_issued(invoice)
        await self._sql.execute(insert(invoices), invoice_values(invoice))
        self._loaded[invoice.id] = (invoice.status, invoice.amount_paid.amount)

    async def get(
        self, invoice_id: UUID, *, for_update: bool = False, with_payments: bool = False
    ) -> Invoice:
        row = await row_in_scope(
            self._sql, invoices, self._scope, invoice_id, "invoice", for_update=for_update
        )
        found: tuple[Payment, ...] | None = None
        if with_payments:
            rows = (await self._sql.execute(_PAYMENTS_OF, {"id": invoice_id})).all()
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
        await self._balances.invoice_changed(invoice, before_status)

    async def add_payment(self, invoice: Invoice, payment: Payment) -> None:
        before_status, _ = self._loaded[invoice.id]
        await self._sql.execute(insert(payments), payment_values(payment))
        await self._guarded_update(
            invoice,
            amount_paid=invoice.amount_paid.amount,
            status=invoice.status.value,
            updated_at=invoice.updated_at,
        )
        await self._balances.invoice_changed(invoice, before_status)

    async def _guarded_update(self, invoice: Invoice, **values: Any) -> None:
        before_status, before_paid = self._loaded[invoice.id]
        result = await self._sql.execute(
            _GUARDED_INVOICE_UPDATE,
            {"b_id": invoice.id, "b_status": before_status.value, "b_paid": before_paid, **values},
        )
        if result.rowcount != 1:
            raise LostUpdateError(f"invoice {invoice.id} changed while locked")
        self._loaded[invoice.id] = (invoice.status, invoice.amount_paid.amount)


class SqlApiKeyRepository:
    def __init__(self, sql: SqlConnection, scope: Scope) -> None:
        self._sql = sql
        self._scope = scope

    async def add(self, key: ApiKey) -> None:
        await self._sql.execute(insert(api_keys), api_key_values(key))

    async def get(self, key_id: UUID) -> ApiKey:
        row = await row_in_scope(
            self._sql, api_keys, self._scope, key_id, "API key", for_update=False
        )
        return api_key_from(row)

    async def update(self, key: ApiKey) -> None:
        await self._sql.execute(_UPDATE_KEY, {"b_id": key.id, "revoked_at": key.revoked_at})
