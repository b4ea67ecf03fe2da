"""Read-side queries for single resources and their lists (the statements have their own module)."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, and_, bindparam, select
from sqlalchemy.sql import ColumnElement, Select

from school_payments.adapters.persistence.concepts import is_open
from school_payments.adapters.persistence.database import Database
from school_payments.adapters.persistence.mapping import (
    children_page,
    page_of,
    page_query,
    record_from,
    row_in_scope,
    school_in_scope,
    scoped,
)
from school_payments.adapters.persistence.tables import (
    api_keys,
    credit_notes,
    invoices,
    payments,
    refunds,
    schools,
    students,
)
from school_payments.application.api_keys import ApiKey
from school_payments.application.caller import Scope
from school_payments.application.pagination import Page, PageRequest
from school_payments.domain.calendar import today_in
from school_payments.domain.entities import (
    OPEN_STATUSES,
    CreditNote,
    Invoice,
    InvoiceStatus,
    Payment,
    Refund,
    School,
    Student,
)
from school_payments.domain.errors import NotFoundError


def _of(table: Table, foreign_key: str) -> Select[Any]:
    """A parent's records in creation order, with the parent's id bound as `:id`."""
    return select(table).where(table.c[foreign_key] == bindparam("id")).order_by(table.c.id)


_PAYMENTS_OF = _of(payments, "invoice_id")
_CREDIT_NOTES_OF = _of(credit_notes, "invoice_id")
_REFUNDS_OF = _of(refunds, "payment_id")


def status_condition(status: InvoiceStatus, day: date) -> ColumnElement[bool]:
    """Invoices that read as `status` on `day`; the open statuses exclude overdue invoices."""
    if status is InvoiceStatus.OVERDUE:
        return and_(is_open(invoices.c.status), invoices.c.due_date < day)
    if status in OPEN_STATUSES:
        return and_(invoices.c.status == status.value, invoices.c.due_date >= day)
    return invoices.c.status == status.value


class SqlSchoolReader:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, scope: Scope, school_id: UUID) -> School:
        async with self._database.snapshot() as sql:
            return await school_in_scope(sql, scope, school_id)

    async def list(self, scope: Scope, page: PageRequest) -> Page[School]:
        query = page_query(scoped(select(schools), schools.c.id, scope), schools.c.id, page)
        async with self._database.snapshot() as sql:
            return page_of(await sql.rows(query), page, partial(record_from, School))


class SqlStudentReader:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, scope: Scope, student_id: UUID) -> Student:
        async with self._database.snapshot() as sql:
            return record_from(
                Student, await row_in_scope(sql, students, scope, student_id, "student")
            )

    async def list(
        self, scope: Scope, school_id: UUID, *, include_archived: bool, page: PageRequest
    ) -> Page[Student]:
        query = select(students).where(students.c.school_id == school_id)
        if not include_archived:
            query = query.where(students.c.status == "active")
        async with self._database.snapshot() as sql:
            await school_in_scope(sql, scope, school_id)
            rows = await sql.rows(page_query(query, students.c.id, page))
        return page_of(rows, page, partial(record_from, Student))


class SqlStudentSchools:
    """Student → school, remembered: a student never changes school, so an entry never goes
    stale (a deleted student's entry only counts its requests against its former school)."""

    def __init__(self, database: Database, remember: int = 100_000) -> None:
        self._database = database
        self._remember = remember
        self._known: dict[UUID, UUID] = {}

    async def school_of(self, student_id: UUID) -> UUID | None:
        found = self._known.get(student_id)
        if found is not None:
            return found
        async with self._database.snapshot() as sql:
            query = select(students.c.school_id).where(students.c.id == student_id)
            found = cast(UUID | None, await sql.scalar(query))
        if found is not None:
            if len(self._known) >= self._remember:
                self._known.clear()  # simple and rare; the next lookups fill it again
            self._known[student_id] = found
        return found


class SqlInvoiceReader:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, scope: Scope, invoice_id: UUID) -> tuple[Invoice, School]:
        async with self._database.snapshot() as sql:
            row = await row_in_scope(sql, invoices, scope, invoice_id, "invoice")
            school = await school_in_scope(sql, scope, row.school_id)
            found = await sql.rows(_PAYMENTS_OF, {"id": invoice_id})
            notes = await sql.rows(_CREDIT_NOTES_OF, {"id": invoice_id})
        invoice = record_from(
            Invoice,
            row,
            payments=tuple(record_from(Payment, p) for p in found),
            credit_notes=tuple(record_from(CreditNote, n) for n in notes),
        )
        return invoice, school

    async def list_for_student(
        self,
        scope: Scope,
        student_id: UUID,
        *,
        status: InvoiceStatus | None,
        now: datetime,
        page: PageRequest,
    ) -> tuple[Page[Invoice], date]:
        owner = scoped(
            select(students.c.id, schools.c.timezone)
            .join(schools, schools.c.id == students.c.school_id)
            .where(students.c.id == student_id),
            students.c.school_id,
            scope,
        )
        async with self._database.snapshot() as sql:
            found = await sql.first(owner)
            if found is None:
                raise NotFoundError("student", student_id)
            day = today_in(found.timezone, now)
            query = select(invoices).where(invoices.c.student_id == student_id)
            rows = await sql.rows(self._filtered(query, status, day, page))
        return page_of(rows, page, partial(record_from, Invoice)), day

    async def list_for_school(
        self,
        scope: Scope,
        school_id: UUID,
        *,
        status: InvoiceStatus | None,
        student_id: UUID | None,
        now: datetime,
        page: PageRequest,
    ) -> tuple[Page[Invoice], date]:
        async with self._database.snapshot() as sql:
            school = await school_in_scope(sql, scope, school_id)
            day = school.today(now)
            query = select(invoices).where(invoices.c.school_id == school_id)
            if student_id is not None:
                query = query.where(invoices.c.student_id == student_id)
            rows = await sql.rows(self._filtered(query, status, day, page))
        return page_of(rows, page, partial(record_from, Invoice)), day

    @staticmethod
    def _filtered(
        query: Select[Any], status: InvoiceStatus | None, day: date, page: PageRequest
    ) -> Select[Any]:
        if status is not None:
            query = query.where(status_condition(status, day))
        return page_query(query, invoices.c.id, page)


class SqlPaymentReader:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, scope: Scope, payment_id: UUID) -> Payment:
        async with self._database.snapshot() as sql:
            row = await row_in_scope(sql, payments, scope, payment_id, "payment")
            found = await sql.rows(_REFUNDS_OF, {"id": payment_id})
        return record_from(Payment, row, refunds=tuple(record_from(Refund, r) for r in found))

    async def list_for_invoice(
        self, scope: Scope, invoice_id: UUID, page: PageRequest
    ) -> Page[Payment]:
        async with self._database.snapshot() as sql:
            return await children_page(
                sql,
                scope,
                (invoices, invoice_id, "invoice"),
                (payments, "invoice_id", Payment),
                page,
            )


class SqlApiKeyReader:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def list(self, school_id: UUID, page: PageRequest) -> Page[ApiKey]:
        query = select(api_keys).where(api_keys.c.school_id == school_id)
        async with self._database.snapshot() as sql:
            rows = await sql.rows(page_query(query, api_keys.c.id, page))
        return page_of(rows, page, partial(record_from, ApiKey))

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        async with self._database.snapshot() as sql:
            row = await sql.first(select(api_keys).where(api_keys.c.key_hash == key_hash))
        return None if row is None else record_from(ApiKey, row)
