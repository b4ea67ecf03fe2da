"""Write-side repositories: each works inside one unit of work and sees only its scope."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from school_payments.application.api_keys import ApiKey
from school_payments.domain.entities import Invoice, Payment, School, Student


class SchoolRepository(Protocol):
    """Schools of the unit of work's scope; a school outside it raises NotFoundError."""

    async def add(self, school: School) -> None: ...

    async def get(self, school_id: UUID, *, for_update: bool = False) -> School: ...

    async def update(self, school: School) -> None: ...

    async def delete(self, school_id: UUID) -> None: ...

    async def has_students(self, school_id: UUID) -> bool: ...


class StudentRepository(Protocol):
    """Students of the scope; `for_update` locks the row until the transaction ends."""

    async def add(self, student: Student) -> None:
        """Raises DuplicateExternalIdError when the school already uses the external id."""
        ...

    async def get(self, student_id: UUID, *, for_update: bool = False) -> Student: ...

    async def update(self, student: Student) -> None:
        """Raises DuplicateExternalIdError when the school already uses the external id."""
        ...

    async def delete(self, student_id: UUID) -> None: ...

    async def has_invoices(self, student_id: UUID) -> bool: ...

    async def ids_in_school(self, school_id: UUID) -> list[UUID]: ...


class InvoiceRepository(Protocol):
    """Invoices and their payments (one aggregate). Writes are guarded against lost updates."""

    async def add(self, invoice: Invoice) -> None: ...

    async def get(
        self, invoice_id: UUID, *, for_update: bool = False, with_payments: bool = False
    ) -> Invoice:
        """With `for_update`, no other transaction can change the invoice until this one ends."""
        ...

    async def update(self, invoice: Invoice) -> None:
        """Saves a revised or cancelled invoice."""
        ...

    async def add_payment(self, invoice: Invoice, payment: Payment) -> None:
        """Stores the payment and the invoice's new paid amount and state, or neither."""
        ...


class ApiKeyRepository(Protocol):
    """School API keys: stored as hashes only."""

    async def add(self, key: ApiKey) -> None: ...

    async def get(self, key_id: UUID) -> ApiKey: ...

    async def update(self, key: ApiKey) -> None: ...
