"""Account statements as JSON documents, each carrying the `snapshot_id` of its content.

The same models document the statement routes, produce the bytes the statement cache keeps,
and parse those bytes back for the PDF and CSV renderings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any
from uuid import UUID

import orjson
from pydantic import AliasChoices, AliasPath, BaseModel, BeforeValidator, Field

from school_payments.adapters.representation.cursors import encode_lines_cursor
from school_payments.adapters.representation.json import ResponseModel, dumps
from school_payments.adapters.representation.resources import (
    CurrencyCode,
    Figure,
    InvoiceOut,
    Listing,
    MinorUnits,
    SchoolOut,
    StudentOut,
    loaded,
)
from school_payments.application.read_models import SchoolStatement, StudentStatement
from school_payments.domain.entities import PaymentMethod, StudentStatus

SNAPSHOT_PREFIX = "sha256:"
_UNHASHED = frozenset({"snapshot_id", "generated_at"})
"""What a snapshot leaves out: the id itself, and the build time, which changes at every rebuild."""


def canonical_statement(document: Mapping[str, Any]) -> bytes:
    """A statement's content in one byte form: no `snapshot_id` or `generated_at`, keys sorted,
    no whitespace, UTF-8 unescaped. Anyone holding the JSON can rebuild it (see docs/statements.md).
    """
    return dumps(
        {key: value for key, value in document.items() if key not in _UNHASHED}, sort_keys=True
    )


def snapshot_id(document: Mapping[str, Any]) -> str:
    """`sha256:` + the hex SHA-256 of the canonical content: equal figures, equal ids."""
    return SNAPSHOT_PREFIX + hashlib.sha256(canonical_statement(document)).hexdigest()


class StatusCountsOut(ResponseModel):
    """Invoices by how they read on the statement's day; they add up to `invoice_count`."""

    PENDING: int = Field(validation_alias=AliasChoices("PENDING", "pending"))
    PARTIALLY_PAID: int = Field(validation_alias=AliasChoices("PARTIALLY_PAID", "partially_paid"))
    PAID: int = Field(validation_alias=AliasChoices("PAID", "paid"))
    OVERDUE: int = Field(validation_alias=AliasChoices("OVERDUE", "overdue"))
    CANCELLED: int = Field(validation_alias=AliasChoices("CANCELLED", "cancelled"))


def _bucket(name: str, attribute: str) -> Any:
    return Field(serialization_alias=name, validation_alias=AliasChoices(name, attribute))


class AgingOut(ResponseModel):
    """Outstanding money by days past due; the five buckets add up to `outstanding`."""

    current: int
    days_1_30: int = _bucket("1_30", "days_1_30")
    days_31_60: int = _bucket("31_60", "days_31_60")
    days_61_90: int = _bucket("61_90", "days_61_90")
    over_90: int


class StudentTotalsOut(ResponseModel):
    """One currency's figures; amounts of different currencies are never added together.
    Cancelled invoices, their credit notes and their payments' refunds count in none."""

    currency: CurrencyCode
    invoiced: MinorUnits
    credited: MinorUnits = Field(description="Σ credit notes: forgiven, not paid")
    paid: MinorUnits = Field(description="net of refunds")
    outstanding: MinorUnits = Field(
        description="invoiced − credited − paid: Σ each invoice's amount_remaining (never below 0)"
    )
    overdue: MinorUnits = Field(description="the outstanding amount of invoices read OVERDUE")
    invoice_count: int
    credit_balance: MinorUnits = Field(
        description="credit held in this currency: owed to the payer, not subtracted from"
        " outstanding"
    )


class CurrencyTotalsOut(StudentTotalsOut):
    refunded: MinorUnits = Field(description="Σ refunds, for information (paid is already net)")
    status_counts: StatusCountsOut
    aging: AgingOut


class SchoolCurrencyTotalsOut(CurrencyTotalsOut):
    student_count: int = Field(description="students with at least one invoice in the currency")


class StatementSchool(ResponseModel):
    id: UUID
    name: str
    timezone: str


class StatementRefundOut(ResponseModel):
    id: UUID
    amount: MinorUnits
    reason: str | None
    refunded_at: datetime


class StatementPaymentOut(ResponseModel):
    id: UUID
    amount: MinorUnits
    paid_at: datetime
    method: PaymentMethod
    reference: str | None
    amount_refunded: Figure
    refunds: Annotated[list[StatementRefundOut], BeforeValidator(loaded)] = Field(
        description="made by the statement's cut-off, in creation order"
    )


class StatementCreditNoteOut(ResponseModel):
    id: UUID
    amount: MinorUnits
    reason: str
    issued_at: datetime


class StatementInvoiceOut(InvoiceOut):
    """An invoice line: its figures, payments and credit notes as of the statement's day."""

    payments: list[StatementPaymentOut]
    credit_notes: Annotated[list[StatementCreditNoteOut], BeforeValidator(loaded)]


_SNAPSHOT_ID = Field(
    default="",
    description="sha256: and the hex SHA-256 of the statement's canonical content (everything"
    " but generated_at): the same figures always have the same id. See docs/statements.md.",
)


class StudentStatementOut(ResponseModel):
    snapshot_id: str = _SNAPSHOT_ID
    student: StudentOut
    school: StatementSchool
    as_of: date
    generated_at: datetime
    totals: list[CurrencyTotalsOut]
    invoices: list[StatementInvoiceOut] = Field(
        description="the invoices issued by the cut-off, with figures and payments as of that"
        " day: at most `lines_limit` (500) of them, in creation order"
    )
    invoices_next_cursor: str | None = Field(
        default=None,
        description="send it as `lines_cursor` (with the same `as_of` and `lines_limit`) for the"
        " next invoice lines; null once every line is listed",
    )


def _of_student(name: str) -> Any:
    return Field(validation_alias=AliasChoices(name, AliasPath("student", name)))


class StudentLineOut(ResponseModel):
    student_id: UUID = Field(
        validation_alias=AliasChoices("student_id", AliasPath("student", "id"))
    )
    first_name: Annotated[str, _of_student("first_name")]
    last_name: Annotated[str, _of_student("last_name")]
    status: Annotated[StudentStatus, _of_student("status")]
    totals: list[StudentTotalsOut]


class SchoolStatementOut(ResponseModel):
    snapshot_id: str = _SNAPSHOT_ID
    school: SchoolOut
    as_of: date
    generated_at: datetime
    totals: list[SchoolCurrencyTotalsOut] = Field(
        description="over every student of the school, whatever page of students is returned"
    )
    students: Listing[StudentLineOut]


def shape_of(*models: type[BaseModel]) -> str:
    """A short fingerprint of the JSON that `models` write: the hash of their JSON Schemas as
    serialised (names, types, requiredness, descriptions). Derived, not kept by hand, so it cannot
    be forgotten when a field is added; a change of wording alone costs one cold cache."""
    schemas = [model.model_json_schema(mode="serialization", by_alias=True) for model in models]
    return hashlib.sha256(dumps(schemas, sort_keys=True)).hexdigest()[:16]


@cache
def _statement_shape() -> str:
    return shape_of(StudentStatementOut, SchoolStatementOut)


_UNSET_SNAPSHOT = b'{"snapshot_id":"",'


def _with_snapshot(document: StudentStatementOut | SchoolStatementOut) -> bytes:
    """The document's bytes with its `snapshot_id` filled in. The id hashes the content of the
    bytes themselves, read back (cheaper than a `model_dump` beside them); the models declare
    `snapshot_id` first, so it is spliced into the bytes rather than serialised twice."""
    body = document.to_json()
    document.snapshot_id = snapshot_id(orjson.loads(body))
    if not body.startswith(_UNSET_SNAPSHOT):
        return document.to_json()
    return (
        b'{"snapshot_id":' + orjson.dumps(document.snapshot_id) + body[len(_UNSET_SNAPSHOT) - 1 :]
    )


class JsonStatementRenderer:
    """Statements as the contract's JSON documents (what the API serves and the cache keeps)."""

    @property
    def shape(self) -> str:
        """The fingerprint of the statement models: cache keys carry it (see `_variant`)."""
        return _statement_shape()

    def student(self, statement: StudentStatement) -> bytes:
        document = StudentStatementOut.of(statement, day=statement.as_of)
        if statement.lines is not None:
            document.invoices_next_cursor = encode_lines_cursor(
                statement.next_line_after, statement.lines
            )
        return _with_snapshot(document)

    def school(self, statement: SchoolStatement) -> bytes:
        return _with_snapshot(SchoolStatementOut.of(statement, day=statement.as_of))
