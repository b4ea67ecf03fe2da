"""Rows to domain objects and back; the only place that knows both shapes."""

from __future__ import annotations

import functools
from typing import Any
from uuid import UUID

from sqlalchemy import Table, bindparam, select
from sqlalchemy.sql import ColumnElement, Select

from school_payments.adapters.persistence.database import SqlConnection
from school_payments.adapters.persistence.tables import schools
from school_payments.application.api_keys import ApiKey
from school_payments.application.caller import Scope
from school_payments.application.pagination import Page, PageRequest
from school_payments.domain.currency import Currency
from school_payments.domain.entities import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    School,
    Student,
    StudentStatus,
)
from school_payments.domain.errors import NotFoundError
from school_payments.domain.money import Money

Row = Any  # a SQLAlchemy Row; its typed form adds nothing over attribute access here


def scoped(statement: Select[Any], school_column: ColumnElement[Any], scope: Scope) -> Select[Any]:
    """Limits a query to the scope's school: the one place tenancy becomes SQL."""
    if scope.school_id is None:
        return statement
    return statement.where(school_column == scope.school_id)


def school_from(row: Row) -> School:
    return School(
        id=row.id,
        name=row.name,
        timezone=row.timezone,
        default_currency=Currency.of(row.default_currency) if row.default_currency else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def school_values(school: School) -> dict[str, Any]:
    return {
        "id": school.id,
        "name": school.name,
        "timezone": school.timezone,
        "default_currency": school.default_currency.code if school.default_currency else None,
        "created_at": school.created_at,
        "updated_at": school.updated_at,
    }


def student_from(row: Row) -> Student:
    return Student(
        id=row.id,
        school_id=row.school_id,
        first_name=row.first_name,
        last_name=row.last_name,
        external_id=row.external_id,
        status=StudentStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        archived_at=row.archived_at,
    )


def student_values(student: Student) -> dict[str, Any]:
    return {
        "id": student.id,
        "school_id": student.school_id,
        "first_name": student.first_name,
        "last_name": student.last_name,
        "external_id": student.external_id,
        "status": student.status.value,
        "created_at": student.created_at,
        "updated_at": student.updated_at,
        "archived_at": student.archived_at,
    }


def invoice_from(row: Row, payments: tuple[Payment, ...] | None = None) -> Invoice:
    currency = Currency.of(row.currency)
    return Invoice(
        id=row.id,
        school_id=row.school_id,
        student_id=row.student_id,
        description=row.description,
        amount=Money(int(row.amount), currency),
        amount_paid=Money(int(row.amount_paid), currency),
        status=InvoiceStatus(row.status),
        due_date=row.due_date,
        issued_at=row.issued_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        cancelled_at=row.cancelled_at,
        payments=payments,
    )


def invoice_values(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "school_id": invoice.school_id,
        "student_id": invoice.student_id,
        "description": invoice.description,
        "currency": invoice.currency.code,
        "amount": invoice.amount.amount,
        "amount_paid": invoice.amount_paid.amount,
        "status": invoice.status.value,
        "due_date": invoice.due_date,
        "issued_at": invoice.issued_at,
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
        "cancelled_at": invoice.cancelled_at,
    }


def payment_from(row: Row) -> Payment:
    return Payment(
        id=row.id,
        invoice_id=row.invoice_id,
        student_id=row.student_id,
        school_id=row.school_id,
        amount=Money(int(row.amount), Currency.of(row.currency)),
        paid_at=row.paid_at,
        method=PaymentMethod(row.method),
        reference=row.reference,
        created_at=row.created_at,
    )


def payment_values(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "invoice_id": payment.invoice_id,
        "school_id": payment.school_id,
        "student_id": payment.student_id,
        "currency": payment.amount.currency.code,
        "amount": payment.amount.amount,
        "paid_at": payment.paid_at,
        "method": payment.method.value,
        "reference": payment.reference,
        "created_at": payment.created_at,
    }


def api_key_from(row: Row) -> ApiKey:
    return ApiKey(
        id=row.id,
        school_id=row.school_id,
        prefix=row.prefix,
        key_hash=row.key_hash,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def api_key_values(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "school_id": key.school_id,
        "prefix": key.prefix,
        "key_hash": key.key_hash,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


# -- pages and the school lookup every read starts from ----------------------------------------


def page_query(query: Select[Any], id_column: Any, page: PageRequest) -> Select[Any]:
    if page.after is not None:
        query = query.where(id_column > page.after)
    return query.order_by(id_column).limit(page.limit + 1)


def page_of(rows: Any, page: PageRequest, convert: Any) -> Page[Any]:
    items = [convert(row) for row in rows[: page.limit]]
    more = len(rows) > page.limit
    return Page(items, items[-1].id if more and items else None)


@functools.cache
def _by_id(table: Table, *, scoped: bool, for_update: bool) -> Select[Any]:
    """`SELECT … WHERE id = :id` [`AND <tenant> = :scope`] [`FOR UPDATE`], built once."""
    query = select(table).where(table.c.id == bindparam("id"))
    if scoped:
        # Tenancy becomes SQL here: a school's scope filters on the row's tenant key.
        tenant = table.c.id if table is schools else table.c.school_id
        query = query.where(tenant == bindparam("scope"))
    return query.with_for_update() if for_update else query


async def row_in_scope(
    sql: SqlConnection,
    table: Table,
    scope: Scope,
    row_id: UUID,
    resource: str,
    *,
    for_update: bool = False,
) -> Any:
    """The row with this id if the scope may see it; otherwise NotFoundError, as if missing."""
    scoped = scope.school_id is not None
    params: dict[str, Any] = {"id": row_id, "scope": scope.school_id} if scoped else {"id": row_id}
    row = (await sql.execute(_by_id(table, scoped=scoped, for_update=for_update), params)).first()
    if row is None:
        raise NotFoundError(resource, row_id)
    return row


async def school_in_scope(sql: SqlConnection, scope: Scope, school_id: UUID) -> School:
    return school_from(await row_in_scope(sql, schools, scope, school_id, "school"))
