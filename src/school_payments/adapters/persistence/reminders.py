"""The marks behind the time-based events: one row per invoice, kind and due date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from school_payments.adapters.persistence.concepts import is_open
from school_payments.adapters.persistence.database import SqlConnection
from school_payments.adapters.persistence.mapping import record_from
from school_payments.adapters.persistence.tables import invoice_reminders, invoices, schools
from school_payments.domain.entities import Invoice, School


class SqlReminderRepository:
    def __init__(self, sql: SqlConnection) -> None:
        self._sql = sql

    async def schools(self) -> list[School]:
        return [record_from(School, row) for row in await self._sql.rows(select(schools))]

    async def unannounced(
        self, kind: str, school_id: UUID, first_due: date | None, last_due: date, limit: int
    ) -> list[Invoice]:
        marked = select(invoice_reminders.c.invoice_id).where(
            and_(
                invoice_reminders.c.invoice_id == invoices.c.id,
                invoice_reminders.c.kind == kind,
                invoice_reminders.c.due_date == invoices.c.due_date,
            )
        )
        query = select(invoices).where(
            invoices.c.school_id == school_id,
            is_open(invoices.c.status),
            invoices.c.due_date <= last_due,
            ~marked.exists(),
        )
        if first_due is not None:
            query = query.where(invoices.c.due_date >= first_due)
        rows = await self._sql.rows(query.order_by(invoices.c.id).limit(limit))
        return [record_from(Invoice, row) for row in rows]

    async def mark(self, invoice: Invoice, kind: str, now: datetime) -> bool:
        values: dict[str, Any] = {
            "invoice_id": invoice.id,
            "kind": kind,
            "due_date": invoice.due_date,
            "school_id": invoice.school_id,
            "emitted_at": now,
        }
        insert = postgres_insert if self._sql.dialect == "postgresql" else sqlite_insert
        result = await self._sql.execute(
            insert(invoice_reminders).values(values).on_conflict_do_nothing()
        )
        return bool(result.rowcount == 1)
