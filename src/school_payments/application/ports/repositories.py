"""Write-side repositories: each works inside one unit of work and sees only its scope."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from school_payments.application.api_keys import ApiKey
from school_payments.domain.credit import CreditAccount, CreditEntry, CreditPayout, Receipt
from school_payments.domain.currency import Currency
from school_payments.domain.entities import (
    CreditNote,
    Invoice,
    Payment,
    Refund,
    School,
    Student,
)


class SchoolRepository(Protocol):
    """Schools of the unit of work's scope; a school outside it raises NotFoundError."""

    async def add(self, school: School) -> None: ...

    async def get(self, school_id: UUID, *, for_update: bool = False) -> School: ...

    async def update(self, school: School) -> None: ...

    async def delete(self, school_id: UUID) -> None: ...

    async def has_students(self, school_id: UUID) -> bool: ...


class StudentRepository(Protocol):
    """Students of the scope; `for_update` locks the row until the transaction ends;
    `for_share` keeps it from being deleted until then, while others may read and share it."""

    async def add(self, student: Student) -> None:
        """Raises DuplicateExternalIdError when the school already uses the external id."""
        ...

    async def get(
        self, student_id: UUID, *, for_update: bool = False, for_share: bool = False
    ) -> Student: ...

    async def update(self, student: Student) -> None:
        """Raises DuplicateExternalIdError when the school already uses the external id."""
        ...

    async def delete(self, student_id: UUID) -> None: ...

    async def has_billing_history(self, student_id: UUID) -> bool:
        """Whether any invoice, receipt or credit entry names the student (then it is archived
        instead of deleted)."""
        ...

    async def ids_in_school(self, school_id: UUID) -> list[UUID]: ...


class InvoiceRepository(Protocol):
    """Invoices and their payments (one aggregate). Writes are guarded against lost updates."""

    async def add(self, invoice: Invoice) -> None: ...

    async def get(
        self, invoice_id: UUID, *, for_update: bool = False, with_payments: bool = False
    ) -> Invoice:
        """With `for_update`, no other transaction can change the invoice until this one ends;
        `with_payments` loads its payments (with their refunds) and its credit notes."""
        ...

    async def payment(self, payment_id: UUID) -> Payment:
        """A payment of the scope, read now (call it again after locking its invoice)."""
        ...

    async def open_for_allocation(
        self, student_id: UUID, currency: Currency, *, for_update: bool
    ) -> list[Invoice]:
        """The student's open invoices in `currency`, earliest due date first, then earliest
        issued, then created: the order a student payment pays them in. Locked, in that order,
        with `for_update`."""
        ...

    async def update(self, invoice: Invoice) -> None:
        """Saves a revised or cancelled invoice."""
        ...

    async def add_payment(self, invoice: Invoice, payment: Payment) -> None:
        """Stores the payment and the invoice's new paid amount and state, or neither."""
        ...

    async def add_refund(self, invoice: Invoice, refund: Refund, payment: Payment) -> None:
        """Stores the refund, the payment's refunded amount and the invoice's figures."""
        ...

    async def add_credit_note(self, invoice: Invoice, note: CreditNote) -> None:
        """Stores the credit note and the invoice's credited amount and state."""
        ...


class CreditRepository(Protocol):
    """Student payments (receipts), credit accounts, their entries and payouts."""

    async def account(self, student: Student, currency: Currency) -> CreditAccount:
        """The student's credit in `currency` (0 if never held), locked until the transaction
        ends: concurrent debits wait, so none can overdraw it."""
        ...

    async def save(self, account: CreditAccount, currency: Currency) -> None: ...

    async def add_entry(self, entry: CreditEntry) -> None: ...

    async def add_receipt(self, receipt: Receipt) -> None:
        """Stores a receipt; its payments are stored after it, through the invoices."""
        ...

    async def add_payout(self, payout: CreditPayout) -> None: ...


class ApiKeyRepository(Protocol):
    """School API keys: stored as hashes only."""

    async def add(self, key: ApiKey) -> None: ...

    async def get(self, key_id: UUID) -> ApiKey: ...

    async def update(self, key: ApiKey) -> None: ...
