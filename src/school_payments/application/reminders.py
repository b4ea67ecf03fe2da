"""Time-based events: `invoice.overdue` on the first school-local day an invoice reads OVERDUE,
and `invoice.due_soon` from `reminder_days_before_due` days before its due date.

Each is emitted at most once per invoice and due date, whatever the number of workers: the mark
and the event commit together, and the database lets one worker make a given mark. A new due
date (a PATCH) re-arms both. Run every minute, so each school's midnight is seen within minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

from school_payments.application.caller import EVERY_SCHOOL
from school_payments.application.events import EventType
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.unit_of_work import UnitOfWorkFactory
from school_payments.application.ports.webhooks import ReminderRepository
from school_payments.application.read_models import InvoiceView
from school_payments.domain.entities import Invoice, School

log = logging.getLogger(__name__)

BATCH = 200
OVERDUE, DUE_SOON = "overdue", "due_soon"

Finder = Callable[[ReminderRepository], Awaitable[list[Invoice]]]


class EmitTimeBasedEvents:
    """Emits the overdue and due-soon events that are due now; returns how many."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self) -> int:
        now = self._clock.now()
        async with self._uow(EVERY_SCHOOL) as uow:
            schools = await uow.reminders.schools()
        emitted = 0
        for school in schools:
            today = school.today(now)
            emitted += await self._emit(school, today, OVERDUE, None, today - timedelta(days=1))
            days = school.reminder_days_before_due
            if days is not None:
                emitted += await self._emit(
                    school, today, DUE_SOON, today, today + timedelta(days=days)
                )
        if emitted:
            log.info("time-based events emitted", extra={"count": emitted})
        return emitted

    async def _emit(
        self, school: School, today: date, kind: str, first: date | None, last: date
    ) -> int:
        event_type = EventType.INVOICE_OVERDUE if kind == OVERDUE else EventType.INVOICE_DUE_SOON
        emitted = 0
        while True:
            now = self._clock.now()
            async with self._uow(EVERY_SCHOOL) as uow:
                found = await uow.reminders.unannounced(kind, school.id, first, last, BATCH)
                for invoice in found:
                    if await uow.reminders.mark(invoice, kind, now):
                        await uow.events.record(event_type, school.id, InvoiceView(invoice, today))
                        emitted += 1
                await uow.commit()
            if len(found) < BATCH:
                return emitted
