"""Events: one record per change, written in the change's own transaction (the outbox).

An event holds what changed as the application knows it (a domain object or a read model such as
`InvoiceView`); adapters store it as data and render it the way the API shows that resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class EventType(StrEnum):
    STUDENT_CREATED = "student.created"
    STUDENT_ARCHIVED = "student.archived"
    STUDENT_DELETED = "student.deleted"
    INVOICE_CREATED = "invoice.created"
    INVOICE_UPDATED = "invoice.updated"
    INVOICE_CANCELLED = "invoice.cancelled"
    INVOICE_PAID = "invoice.paid"
    INVOICE_OVERDUE = "invoice.overdue"
    INVOICE_DUE_SOON = "invoice.due_soon"
    PAYMENT_RECORDED = "payment.recorded"
    REFUND_CREATED = "refund.created"
    CREDIT_NOTE_ISSUED = "credit_note.issued"
    RECEIPT_CREATED = "receipt.created"
    CREDIT_PAID_OUT = "credit.paid_out"


@dataclass(frozen=True, slots=True)
class Event:
    """A change as it was recorded: `subject` is the resource as it stood in that transaction."""

    id: UUID
    type: EventType
    school_id: UUID
    created_at: datetime
    subject: object
    request_id: str | None = None
    """The request that caused it (None for time-based events)."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a listing shows; `school_id` narrows the operator's view to one school."""

    type: EventType | None = None
    created_after: datetime | None = None
    """Exclusive."""
    school_id: UUID | None = None
