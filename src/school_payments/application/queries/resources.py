"""Reads of single resources and their lists: schools, students, invoices, payments, refunds,
credit notes, receipts and credit, API keys."""

from __future__ import annotations

from uuid import UUID

from school_payments.application.api_keys import ApiKey
from school_payments.application.caller import Caller
from school_payments.application.pagination import Page, PageRequest
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.readers import (
    ApiKeyReader,
    CreditNoteReader,
    CreditReader,
    InvoiceReader,
    PaymentReader,
    RefundReader,
    SchoolReader,
    StudentReader,
)
from school_payments.application.read_models import CreditBalances, InvoiceListView, InvoiceView
from school_payments.domain.credit import CreditEntry, CreditPayout, Receipt
from school_payments.domain.entities import (
    CreditNote,
    InvoiceStatus,
    Payment,
    Refund,
    School,
    Student,
)


class SchoolQueries:
    """Schools the caller may see: the operator every school, a school key only its own."""

    def __init__(self, reader: SchoolReader) -> None:
        self._reader = reader

    async def get(self, caller: Caller, school_id: UUID) -> School:
        return await self._reader.get(caller.scope, school_id)

    async def list(self, caller: Caller, page: PageRequest) -> Page[School]:
        return await self._reader.list(caller.scope, page)


class StudentQueries:
    """Students the caller may see; archived ones are listed only when asked for."""

    def __init__(self, reader: StudentReader) -> None:
        self._reader = reader

    async def get(self, caller: Caller, student_id: UUID) -> Student:
        return await self._reader.get(caller.scope, student_id)

    async def list(
        self, caller: Caller, school_id: UUID, *, include_archived: bool, page: PageRequest
    ) -> Page[Student]:
        return await self._reader.list(
            caller.scope, school_id, include_archived=include_archived, page=page
        )


class InvoiceQueries:
    """Invoices as they read today in their school's time zone (OVERDUE included)."""

    def __init__(self, reader: InvoiceReader, clock: Clock) -> None:
        self._reader = reader
        self._clock = clock

    async def get(self, caller: Caller, invoice_id: UUID) -> InvoiceView:
        invoice, school = await self._reader.get(caller.scope, invoice_id)
        return InvoiceView(invoice, school.today(self._clock.now()))

    async def list_for_student(
        self,
        caller: Caller,
        student_id: UUID,
        *,
        status: InvoiceStatus | None,
        page: PageRequest,
    ) -> InvoiceListView:
        invoices, day = await self._reader.list_for_student(
            caller.scope, student_id, status=status, now=self._clock.now(), page=page
        )
        return InvoiceListView(invoices, day)

    async def list_for_school(
        self,
        caller: Caller,
        school_id: UUID,
        *,
        status: InvoiceStatus | None,
        student_id: UUID | None,
        page: PageRequest,
    ) -> InvoiceListView:
        invoices, day = await self._reader.list_for_school(
            caller.scope,
            school_id,
            status=status,
            student_id=student_id,
            now=self._clock.now(),
            page=page,
        )
        return InvoiceListView(invoices, day)


class PaymentQueries:
    """Payments the caller may see."""

    def __init__(self, reader: PaymentReader) -> None:
        self._reader = reader

    async def get(self, caller: Caller, payment_id: UUID) -> Payment:
        return await self._reader.get(caller.scope, payment_id)

    async def list_for_invoice(
        self, caller: Caller, invoice_id: UUID, page: PageRequest
    ) -> Page[Payment]:
        return await self._reader.list_for_invoice(caller.scope, invoice_id, page)


class RefundQueries:
    """Refunds the caller may see."""

    def __init__(self, reader: RefundReader) -> None:
        self._reader = reader

    async def get(self, caller: Caller, refund_id: UUID) -> Refund:
        return await self._reader.get(caller.scope, refund_id)

    async def list_for_payment(
        self, caller: Caller, payment_id: UUID, page: PageRequest
    ) -> Page[Refund]:
        return await self._reader.list_for_payment(caller.scope, payment_id, page)


class CreditNoteQueries:
    """Credit notes the caller may see."""

    def __init__(self, reader: CreditNoteReader) -> None:
        self._reader = reader

    async def get(self, caller: Caller, credit_note_id: UUID) -> CreditNote:
        return await self._reader.get(caller.scope, credit_note_id)

    async def list_for_invoice(
        self, caller: Caller, invoice_id: UUID, page: PageRequest
    ) -> Page[CreditNote]:
        return await self._reader.list_for_invoice(caller.scope, invoice_id, page)


class CreditQueries:
    """Receipts, credit balances, their entries and payouts of students the caller may see."""

    def __init__(self, reader: CreditReader) -> None:
        self._reader = reader

    async def receipt(self, caller: Caller, receipt_id: UUID) -> Receipt:
        return await self._reader.receipt(caller.scope, receipt_id)

    async def balances(self, caller: Caller, student_id: UUID) -> CreditBalances:
        return CreditBalances(student_id, await self._reader.balances(caller.scope, student_id))

    async def entries(
        self, caller: Caller, student_id: UUID, page: PageRequest
    ) -> Page[CreditEntry]:
        return await self._reader.entries(caller.scope, student_id, page)

    async def payout(self, caller: Caller, payout_id: UUID) -> CreditPayout:
        return await self._reader.payout(caller.scope, payout_id)


class ApiKeyQueries:
    """A school's API keys, revoked ones included, never with their secrets (operator only)."""

    def __init__(self, keys: ApiKeyReader, schools: SchoolReader) -> None:
        self._keys = keys
        self._schools = schools

    async def list(self, caller: Caller, school_id: UUID, page: PageRequest) -> Page[ApiKey]:
        caller.ensure_operator()
        await self._schools.get(caller.scope, school_id)
        return await self._keys.list(school_id, page)
