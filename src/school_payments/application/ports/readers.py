"""Read-side ports: queries built for the screens, every call limited to the caller's scope."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from school_payments.application.api_keys import ApiKey
from school_payments.application.caller import Scope
from school_payments.application.pagination import LinesRequest, Page, PageRequest
from school_payments.application.read_models import (
    CreditBalance,
    SchoolStatement,
    StudentStatement,
)
from school_payments.domain.credit import CreditEntry, CreditPayout, Receipt
from school_payments.domain.entities import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    Payment,
    Refund,
    School,
    Student,
)


class SchoolReader(Protocol):
    """Schools as the scope sees them; one outside it is reported missing (NotFoundError)."""

    async def get(self, scope: Scope, school_id: UUID) -> School: ...

    async def list(self, scope: Scope, page: PageRequest) -> Page[School]: ...


class StudentReader(Protocol):
    """Students as the scope sees them."""

    async def get(self, scope: Scope, student_id: UUID) -> Student: ...

    async def list(
        self, scope: Scope, school_id: UUID, *, include_archived: bool, page: PageRequest
    ) -> Page[Student]: ...


class InvoiceReader(Protocol):
    """Invoices as the scope sees them, filtered by how they read on their school's today."""

    async def get(self, scope: Scope, invoice_id: UUID) -> tuple[Invoice, School]:
        """The invoice with its payments, and its school (whose time zone decides "today")."""
        ...

    async def list_for_student(
        self,
        scope: Scope,
        student_id: UUID,
        *,
        status: InvoiceStatus | None,
        now: datetime,
        page: PageRequest,
    ) -> tuple[Page[Invoice], date]:
        """A page of the student's invoices and the day their statuses were judged on."""
        ...

    async def list_for_school(
        self,
        scope: Scope,
        school_id: UUID,
        *,
        status: InvoiceStatus | None,
        student_id: UUID | None,
        now: datetime,
        page: PageRequest,
    ) -> tuple[Page[Invoice], date]: ...


class PaymentReader(Protocol):
    """Payments as the scope sees them."""

    async def get(self, scope: Scope, payment_id: UUID) -> Payment: ...

    async def list_for_invoice(
        self, scope: Scope, invoice_id: UUID, page: PageRequest
    ) -> Page[Payment]: ...


class RefundReader(Protocol):
    """Refunds as the scope sees them."""

    async def get(self, scope: Scope, refund_id: UUID) -> Refund: ...

    async def list_for_payment(
        self, scope: Scope, payment_id: UUID, page: PageRequest
    ) -> Page[Refund]: ...


class CreditNoteReader(Protocol):
    """Credit notes as the scope sees them."""

    async def get(self, scope: Scope, credit_note_id: UUID) -> CreditNote: ...

    async def list_for_invoice(
        self, scope: Scope, invoice_id: UUID, page: PageRequest
    ) -> Page[CreditNote]: ...


class CreditReader(Protocol):
    """Receipts (with their payments), credit balances, entries and payouts of the scope."""

    async def receipt(self, scope: Scope, receipt_id: UUID) -> Receipt: ...

    async def balances(self, scope: Scope, student_id: UUID) -> list[CreditBalance]:
        """Currencies with a balance above zero, by code."""
        ...

    async def entries(
        self, scope: Scope, student_id: UUID, page: PageRequest
    ) -> Page[CreditEntry]: ...

    async def payout(self, scope: Scope, payout_id: UUID) -> CreditPayout: ...


class ApiKeyReader(Protocol):
    """API keys by school, and the lookup that authenticates a request."""

    async def list(self, school_id: UUID, page: PageRequest) -> Page[ApiKey]: ...

    async def find_by_hash(self, key_hash: str) -> ApiKey | None: ...


class StatementReader(Protocol):
    """Account statements computed by the database, in a fixed number of queries at any size."""

    async def student_statement(
        self,
        scope: Scope,
        student_id: UUID,
        *,
        as_of: date | None,
        now: datetime,
        lines: LinesRequest | None = None,
    ) -> StudentStatement:
        """The student's statement at the end of `as_of` (None: now, judged on today), with
        the page of invoice lines `lines` asks for (None: every line)."""
        ...

    async def school_statement(
        self, scope: Scope, school_id: UUID, *, as_of: date | None, now: datetime, page: PageRequest
    ) -> SchoolStatement:
        """Totals over the whole school plus one page of its students with their own totals."""
        ...


class DatabaseProbe(Protocol):
    """Answers whether the database takes queries right now."""

    async def ping(self) -> bool: ...
