"""Request bodies (validated here), problem documents and the operations endpoints' shapes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool

from school_payments.adapters.web.fields import (
    Amount,
    CurrencyCode,
    IsoDate,
    Text,
    Timestamp,
    Timezone,
)
from school_payments.application.events import EventType
from school_payments.application.ports.cache import BreakerState, CacheState
from school_payments.domain.entities import PaymentMethod


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatchBody(RequestBody):
    """A partial update: absent fields stay as they are; `null` clears only nullable fields.

    Non-nullable fields default to None without being validated, so an explicit `null` fails
    their type check while an absent field is simply not in `model_fields_set`.
    """


# -- requests ----------------------------------------------------------------------------------


ReminderDays = Annotated[int, Strict(), Field(ge=0, le=60)]


class SchoolCreate(RequestBody):
    name: Text(200)  # type: ignore[valid-type]
    timezone: Timezone = "UTC"
    default_currency: CurrencyCode | None = None
    reminder_days_before_due: ReminderDays | None = 3


class SchoolPatch(PatchBody):
    name: Text(200) = Field(default=None)  # type: ignore[valid-type]
    timezone: Timezone = Field(default=None)  # type: ignore[assignment]  # absent ≠ null
    default_currency: CurrencyCode | None = None
    reminder_days_before_due: ReminderDays | None = None


class StudentCreate(RequestBody):
    first_name: Text(100)  # type: ignore[valid-type]
    last_name: Text(100)  # type: ignore[valid-type]
    external_id: Text(100) | None = None  # type: ignore[valid-type]


class StudentPatch(PatchBody):
    first_name: Text(100) = Field(default=None)  # type: ignore[valid-type]
    last_name: Text(100) = Field(default=None)  # type: ignore[valid-type]
    external_id: Text(100) | None = None  # type: ignore[valid-type]


class InvoiceCreate(RequestBody):
    amount: Amount
    currency: CurrencyCode | None = None
    due_date: IsoDate
    description: Text(500)  # type: ignore[valid-type]
    issued_at: Timestamp | None = None


class InvoicePatch(PatchBody):
    description: Text(500) = Field(default=None)  # type: ignore[valid-type]
    due_date: IsoDate = Field(default=None)  # type: ignore[assignment]  # absent ≠ null


class PaymentCreate(RequestBody):
    amount: Amount
    method: PaymentMethod
    currency: CurrencyCode | None = None
    paid_at: Timestamp | None = None
    reference: Text(200) | None = None  # type: ignore[valid-type]


class RefundCreate(RequestBody):
    amount: Amount | None = None
    reason: Text(500) | None = None  # type: ignore[valid-type]
    refunded_at: Timestamp | None = None


class CreditNoteCreate(RequestBody):
    amount: Amount
    reason: Text(500)  # type: ignore[valid-type]
    issued_at: Timestamp | None = None


class StudentPaymentCreate(RequestBody):
    amount: Amount
    currency: CurrencyCode
    method: PaymentMethod
    paid_at: Timestamp | None = None
    reference: Text(200) | None = None  # type: ignore[valid-type]


class PayoutCreate(RequestBody):
    amount: Amount
    currency: CurrencyCode
    reason: Text(500) | None = None  # type: ignore[valid-type]
    reference: Text(255) | None = None  # type: ignore[valid-type]


WebhookEventType = EventType | Literal["*"]


class WebhookEndpointCreate(RequestBody):
    url: Text(2048)  # type: ignore[valid-type]
    event_types: list[WebhookEventType] = Field(min_length=1, max_length=20)
    description: Text(500) | None = None  # type: ignore[valid-type]


class WebhookEndpointPatch(PatchBody):
    url: Text(2048) = Field(default=None)  # type: ignore[valid-type]
    event_types: list[WebhookEventType] = Field(
        default=None,  # type: ignore[arg-type]  # absent ≠ null
        min_length=1,
        max_length=20,
    )
    description: Text(500) | None = None  # type: ignore[valid-type]
    enabled: StrictBool = Field(default=None)  # type: ignore[assignment]  # absent ≠ null


# -- responses of the web adapter's own (resources and statements: adapters/representation)


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadinessOut(BaseModel):
    database: Literal["ok", "unavailable"]
    cache: CacheState
    circuit_breaker: BreakerState
    schema_: Literal["ok", "behind", "unknown"] = Field(
        alias="schema",
        description="behind: run `school-payments migrate` (503); unknown: the database is"
        " unreachable",
    )
