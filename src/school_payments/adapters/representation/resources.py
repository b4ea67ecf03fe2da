"""Schools, students, invoices, payments and API keys as the API shows them, and their lists."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from pydantic import (
    AliasChoices,
    AliasPath,
    BeforeValidator,
    Field,
    ValidationInfo,
    model_validator,
)

from school_payments.adapters.representation.cursors import encode_cursor
from school_payments.adapters.representation.json import ResponseModel
from school_payments.application.pagination import Page
from school_payments.application.read_models import InvoiceView
from school_payments.domain.currency import Currency
from school_payments.domain.entities import Invoice, InvoiceStatus, PaymentMethod, StudentStatus
from school_payments.domain.money import Money

ItemT = TypeVar("ItemT", bound=ResponseModel)


def _minor_units(value: Any) -> Any:
    return value.amount if isinstance(value, Money) else value


def _currency_code(value: Any) -> Any:
    return value.code if isinstance(value, Currency) else value


def _figure(value: Any) -> Any:
    # A figure the record does not hold yet (None) is zero: nothing refunded, nothing credited.
    return 0 if value is None else _minor_units(value)


MinorUnits = Annotated[
    int,
    BeforeValidator(_minor_units),
    Field(description="an integer of the currency's minor unit (150000 MXN is 1,500.00 MXN)"),
]
Figure = Annotated[
    int,
    BeforeValidator(_figure),
    Field(description="a sum in the currency's minor unit, 0 when there is none"),
]
CurrencyCode = Annotated[
    str, BeforeValidator(_currency_code), Field(description="ISO 4217 alphabetic code")
]


def loaded(records: Any) -> Any:
    """A collection loaded with its record (None: not loaded, shown as empty)."""
    return () if records is None else records


class Listing(ResponseModel, Generic[ItemT]):
    """A page of a collection, in creation order; `next_cursor` is null on the last page."""

    data: list[ItemT]
    next_cursor: str | None

    @model_validator(mode="before")
    @classmethod
    def _from_page(cls, value: Any) -> Any:
        if isinstance(value, Page):
            return {"data": value.items, "next_cursor": encode_cursor(value.next_after)}
        return value


class SchoolOut(ResponseModel):
    id: UUID
    name: str
    timezone: str = Field(description="IANA name; decides which calendar day is today")
    default_currency: CurrencyCode | None
    reminder_days_before_due: int | None = Field(
        description="invoice.due_soon this many days before the due date (null: off)"
    )
    created_at: datetime
    updated_at: datetime


class StudentOut(ResponseModel):
    id: UUID
    school_id: UUID
    first_name: str
    last_name: str
    external_id: str | None
    status: StudentStatus
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


class RefundOut(ResponseModel):
    id: UUID
    payment_id: UUID
    invoice_id: UUID
    student_id: UUID
    school_id: UUID
    amount: MinorUnits
    currency: CurrencyCode
    reason: str | None
    refunded_at: datetime
    created_at: datetime


class CreditNoteOut(ResponseModel):
    id: UUID
    invoice_id: UUID
    student_id: UUID
    school_id: UUID
    amount: MinorUnits
    currency: CurrencyCode
    reason: str
    issued_at: datetime
    created_at: datetime


class PaymentOut(ResponseModel):
    id: UUID
    invoice_id: UUID
    student_id: UUID
    school_id: UUID
    amount: MinorUnits
    currency: CurrencyCode
    paid_at: datetime
    method: PaymentMethod
    reference: str | None
    created_at: datetime
    amount_refunded: Figure
    receipt_id: UUID | None = Field(
        description="the student payment this payment is a share of (null: paid on its own)"
    )


class PaymentWithRefundsOut(PaymentOut):
    """One payment (not a list item): with its refunds, in creation order."""

    refunds: Annotated[list[RefundOut], BeforeValidator(loaded)]


def _on_day(cls: type[ResponseModel], invoice: Invoice, day: date) -> dict[str, Any]:
    """The invoice's attributes under `cls`'s field names, with the status and days overdue it
    shows on `day` (a dict: pydantic reads one faster than an object's attributes)."""
    found: dict[str, Any] = {}
    for name in cls.model_fields:
        if name == "status":
            found[name] = invoice.status_on(day)
        elif name == "days_overdue":
            found[name] = invoice.days_overdue_on(day)
        else:
            found[name] = getattr(invoice, name, None)
    return found


class InvoiceOut(ResponseModel):
    """An invoice as it reads on a day: `OVERDUE` and `days_overdue` are computed, not stored."""

    id: UUID
    school_id: UUID
    student_id: UUID
    description: str
    currency: CurrencyCode
    amount: MinorUnits
    amount_paid: MinorUnits = Field(description="what it holds: its payments net of refunds")
    amount_credited: Figure = Field(description="what its credit notes forgave")
    amount_remaining: MinorUnits = Field(description="amount − credited − paid, never below 0")
    status: InvoiceStatus
    due_date: date
    days_overdue: int
    issued_at: datetime
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None

    @model_validator(mode="before")
    @classmethod
    def _on_its_day(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, InvoiceView):
            return _on_day(cls, value.invoice, value.day)
        if isinstance(value, Invoice):
            day = (info.context or {}).get("day")
            if day is None:
                raise TypeError("an invoice is shown as it reads on a day: pass day=")
            return _on_day(cls, value, day)
        return value


class InvoiceWithPaymentsOut(InvoiceOut):
    """One invoice (not a list item): with its payments and credit notes, in creation order."""

    payments: Annotated[list[PaymentOut], BeforeValidator(loaded)]
    credit_notes: Annotated[list[CreditNoteOut], BeforeValidator(loaded)]


class ApiKeyOut(ResponseModel):
    id: UUID
    school_id: UUID
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreatedOut(ResponseModel):
    """A key just created: the only response that ever shows its secret."""

    id: UUID = Field(validation_alias=AliasChoices("id", AliasPath("key", "id")))
    school_id: UUID = Field(
        validation_alias=AliasChoices("school_id", AliasPath("key", "school_id"))
    )
    key: str = Field(
        description="the secret; shown only in this response",
        validation_alias=AliasChoices("secret", "key"),
    )
    prefix: str = Field(validation_alias=AliasChoices("prefix", AliasPath("key", "prefix")))
    created_at: datetime = Field(
        validation_alias=AliasChoices("created_at", AliasPath("key", "created_at"))
    )
