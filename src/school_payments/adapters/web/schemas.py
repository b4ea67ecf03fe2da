"""Request bodies (validated) and response shapes (documented in OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from school_payments.adapters.web.fields import (
    Amount,
    CurrencyCode,
    IsoDate,
    Text,
    Timestamp,
    Timezone,
)

InvoiceStatusName = Literal["PENDING", "PARTIALLY_PAID", "PAID", "OVERDUE", "CANCELLED"]
PaymentMethodName = Literal["cash", "card", "bank_transfer", "other"]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatchBody(RequestBody):
    """A partial update: absent fields stay as they are; `null` clears only nullable fields.

    Non-nullable fields default to None without being validated, so an explicit `null` fails
    their type check while an absent field is simply not in `model_fields_set`.
    """


# -- requests ----------------------------------------------------------------------------------


class SchoolCreate(RequestBody):
    name: Text(200)  # type: ignore[valid-type]
    timezone: Timezone = "UTC"
    default_currency: CurrencyCode | None = None


class SchoolPatch(PatchBody):
    name: Text(200) = Field(default=None)  # type: ignore[valid-type]
    timezone: Timezone = Field(default=None)  # type: ignore[assignment]  # absent ≠ null
    default_currency: CurrencyCode | None = None


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
    method: PaymentMethodName
    currency: CurrencyCode | None = None
    paid_at: Timestamp | None = None
    reference: Text(200) | None = None  # type: ignore[valid-type]


# -- responses (documentation of what the presenters produce) ----------------------------------


class SchoolOut(BaseModel):
    id: UUID
    name: str
    timezone: str
    default_currency: str | None
    created_at: datetime
    updated_at: datetime


class StudentOut(BaseModel):
    id: UUID
    school_id: UUID
    first_name: str
    last_name: str
    external_id: str | None
    status: Literal["active", "archived"]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


class PaymentOut(BaseModel):
    id: UUID
    invoice_id: UUID
    student_id: UUID
    school_id: UUID
    amount: int
    currency: str
    paid_at: datetime
    method: PaymentMethodName
    reference: str | None
    created_at: datetime


class InvoiceOut(BaseModel):
    id: UUID
    school_id: UUID
    student_id: UUID
    description: str
    currency: str
    amount: int
    amount_paid: int
    amount_remaining: int
    status: InvoiceStatusName
    due_date: date
    days_overdue: int
    issued_at: datetime
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None


class InvoiceWithPaymentsOut(InvoiceOut):
    payments: list[PaymentOut]


class ApiKeyOut(BaseModel):
    id: UUID
    school_id: UUID
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreatedOut(BaseModel):
    id: UUID
    school_id: UUID
    key: str = Field(description="the secret; shown only in this response")
    prefix: str
    created_at: datetime


class SchoolList(BaseModel):
    data: list[SchoolOut]
    next_cursor: str | None


class StudentList(BaseModel):
    data: list[StudentOut]
    next_cursor: str | None


class InvoiceList(BaseModel):
    data: list[InvoiceOut]
    next_cursor: str | None


class PaymentList(BaseModel):
    data: list[PaymentOut]
    next_cursor: str | None


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]
    next_cursor: str | None


class StatusCountsOut(BaseModel):
    PENDING: int
    PARTIALLY_PAID: int
    PAID: int
    OVERDUE: int
    CANCELLED: int


class AgingBuckets(BaseModel):
    """Outstanding money by days past due (the JSON names start with digits, hence aliases)."""

    current: int
    days_1_30: int = Field(alias="1_30")
    days_31_60: int = Field(alias="31_60")
    days_61_90: int = Field(alias="61_90")
    over_90: int


class CurrencyTotalsOut(BaseModel):
    currency: str
    invoiced: int
    paid: int
    outstanding: int
    overdue: int
    invoice_count: int
    status_counts: StatusCountsOut
    aging: AgingBuckets


class SchoolCurrencyTotalsOut(CurrencyTotalsOut):
    student_count: int


class StatementSchool(BaseModel):
    id: UUID
    name: str
    timezone: str


class StatementPaymentOut(BaseModel):
    id: UUID
    amount: int
    paid_at: datetime
    method: PaymentMethodName
    reference: str | None


class StatementInvoiceOut(InvoiceOut):
    payments: list[StatementPaymentOut]


_SNAPSHOT_ID = Field(
    description="sha256: and the hex SHA-256 of the statement's canonical content (everything"
    " but generated_at): the same figures always have the same id. See docs/statements.md."
)


class StudentStatementOut(BaseModel):
    snapshot_id: str = _SNAPSHOT_ID
    student: StudentOut
    school: StatementSchool
    as_of: date
    generated_at: datetime
    totals: list[CurrencyTotalsOut]
    invoices: list[StatementInvoiceOut]


class StudentTotalsOut(BaseModel):
    currency: str
    invoiced: int
    paid: int
    outstanding: int
    overdue: int
    invoice_count: int


class StudentLineOut(BaseModel):
    student_id: UUID
    first_name: str
    last_name: str
    status: Literal["active", "archived"]
    totals: list[StudentTotalsOut]


class StudentLinePage(BaseModel):
    data: list[StudentLineOut]
    next_cursor: str | None


class SchoolStatementOut(BaseModel):
    snapshot_id: str = _SNAPSHOT_ID
    school: SchoolOut
    as_of: date
    generated_at: datetime
    totals: list[SchoolCurrencyTotalsOut]
    students: StudentLinePage


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
    cache: Literal["ok", "unavailable", "disabled"]
    circuit_breaker: Literal["CLOSED", "OPEN", "HALF_OPEN"]
