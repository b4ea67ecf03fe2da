"""Events as the API and the webhooks show them: `data.object` is the resource as the API showed
it when it changed, rendered by the very model that renders that resource."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field, model_validator

from school_payments.adapters.representation.credit import CreditPayoutOut, ReceiptOut
from school_payments.adapters.representation.json import ResponseModel
from school_payments.adapters.representation.resources import (
    CreditNoteOut,
    InvoiceOut,
    PaymentWithRefundsOut,
    RefundOut,
    StudentOut,
)
from school_payments.application.events import Event, EventType

# Invoices are shown as in lists (without their payments and credit notes): those are
# resources of their own, with events of their own.
SHAPES: dict[EventType, type[ResponseModel]] = {
    EventType.STUDENT_CREATED: StudentOut,
    EventType.STUDENT_ARCHIVED: StudentOut,
    EventType.STUDENT_DELETED: StudentOut,
    EventType.INVOICE_CREATED: InvoiceOut,
    EventType.INVOICE_UPDATED: InvoiceOut,
    EventType.INVOICE_CANCELLED: InvoiceOut,
    EventType.INVOICE_PAID: InvoiceOut,
    EventType.INVOICE_OVERDUE: InvoiceOut,
    EventType.INVOICE_DUE_SOON: InvoiceOut,
    EventType.PAYMENT_RECORDED: PaymentWithRefundsOut,
    EventType.REFUND_CREATED: RefundOut,
    EventType.CREDIT_NOTE_ISSUED: CreditNoteOut,
    EventType.RECEIPT_CREATED: ReceiptOut,
    EventType.CREDIT_PAID_OUT: CreditPayoutOut,
}


class EventDataOut(ResponseModel):
    object: dict[str, Any] = Field(description="the resource as the API showed it then")


class EventOut(ResponseModel):
    """One change, recorded in the transaction that made it."""

    id: UUID = Field(description="also the `webhook-id` of its deliveries: dedupe by it")
    type: EventType
    school_id: UUID
    created_at: datetime
    data: EventDataOut

    @model_validator(mode="before")
    @classmethod
    def _rendered(cls, value: Any) -> Any:
        if isinstance(value, Event):
            shape = SHAPES[value.type].of(value.subject)
            return {
                "id": value.id,
                "type": value.type,
                "school_id": value.school_id,
                "created_at": value.created_at,
                "data": {"object": shape.model_dump(mode="json", by_alias=True)},
            }
        return value
