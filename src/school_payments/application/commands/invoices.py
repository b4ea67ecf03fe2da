"""Issuing, revising and cancelling invoices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.commands._common import WriteHandler
from school_payments.application.commands.unset import UNSET, Unset
from school_payments.application.events import EventType
from school_payments.application.ports.idempotency_store import IdempotencyClaim
from school_payments.application.ports.unit_of_work import UnitOfWork
from school_payments.application.read_models import InvoiceView
from school_payments.domain.calendar import ensure_not_in_future
from school_payments.domain.currency import Currency
from school_payments.domain.entities import Invoice
from school_payments.domain.errors import CurrencyRequiredError
from school_payments.domain.ids import new_id
from school_payments.domain.money import Money


@dataclass(frozen=True, slots=True)
class IssueInvoice:
    student_id: UUID
    amount: int
    due_date: date
    description: str
    currency: str | None = None
    issued_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReviseInvoice:
    invoice_id: UUID
    description: str | Unset = UNSET
    due_date: date | Unset = UNSET


@dataclass(frozen=True, slots=True)
class CancelInvoice:
    invoice_id: UUID


class IssueInvoiceHandler(WriteHandler):
    """Bills an active student in the given currency, else the school's default currency."""

    async def __call__(
        self,
        command: IssueInvoice,
        caller: Caller,
        claim: IdempotencyClaim | None = None,
    ) -> InvoiceView:
        now = self._clock.now()
        # Input checks that need no data come first: a bad request gets 422 before any 404.
        issued_at = ensure_not_in_future(command.issued_at or now, now, "issued_at")
        currency = None if command.currency is None else Currency.of(command.currency)
        async with self._uow(caller.scope) as uow:
            # Locked so that a concurrent removal of the student cannot delete it under us.
            student = await uow.students.get(command.student_id, for_update=True)
            school = await uow.schools.get(student.school_id)
            currency = currency or school.default_currency
            if currency is None:
                raise CurrencyRequiredError()
            invoice = Invoice.issue(
                invoice_id=new_id(),
                student=student,
                description=command.description,
                amount=Money.charge(command.amount, currency),
                due_date=command.due_date,
                issued_at=issued_at,
                now=now,
            )
            invoice.payments = ()
            await uow.invoices.add(invoice)
            view = InvoiceView(invoice, school.today(now))
            await uow.events.record(EventType.INVOICE_CREATED, invoice.school_id, view)
            await self._commit(
                uow, view, claim, schools=[invoice.school_id], students=[invoice.student_id]
            )
        return view


async def _locked_with_day(uow: UnitOfWork, invoice_id: UUID, now: datetime) -> InvoiceView:
    invoice = await uow.invoices.get(invoice_id, for_update=True, with_payments=True)
    school = await uow.schools.get(invoice.school_id)
    return InvoiceView(invoice, school.today(now))


class ReviseInvoiceHandler(WriteHandler):
    """Changes an open invoice's description or due date; amount and currency never change."""

    async def __call__(self, command: ReviseInvoice, caller: Caller) -> InvoiceView:
        now = self._clock.now()
        async with self._uow(caller.scope) as uow:
            view = await _locked_with_day(uow, command.invoice_id, now)
            view.invoice.revise(
                description=None if isinstance(command.description, Unset) else command.description,
                due_date=None if isinstance(command.due_date, Unset) else command.due_date,
                now=now,
            )
            await uow.invoices.update(view.invoice)
            await uow.events.record(EventType.INVOICE_UPDATED, view.invoice.school_id, view)
            await self._commit(
                uow, view, schools=[view.invoice.school_id], students=[view.invoice.student_id]
            )
        return view


class CancelInvoiceHandler(WriteHandler):
    """Cancels an invoice without payments; cancelling a cancelled invoice changes nothing."""

    async def __call__(self, command: CancelInvoice, caller: Caller) -> InvoiceView:
        now = self._clock.now()
        async with self._uow(caller.scope) as uow:
            view = await _locked_with_day(uow, command.invoice_id, now)
            if view.invoice.cancel(now):
                await uow.invoices.update(view.invoice)
                await uow.events.record(EventType.INVOICE_CANCELLED, view.invoice.school_id, view)
                await self._commit(
                    uow, view, schools=[view.invoice.school_id], students=[view.invoice.student_id]
                )
        return view
