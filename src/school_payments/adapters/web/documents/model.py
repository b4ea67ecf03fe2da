"""The JSON statement documents, typed for the renderers that read them back."""

from __future__ import annotations

import unicodedata
from typing import Any, NotRequired, TypedDict, cast

import orjson

from school_payments.adapters.representation.statements import snapshot_id
from school_payments.domain.currency import Currency
from school_payments.domain.money import Money

# Fields added with the money lifecycle are NotRequired: a statement cached before them still
# renders (as if nothing were credited or refunded), until its cache entry expires.


class RefundLine(TypedDict):
    id: str
    amount: int
    reason: str | None
    refunded_at: str


class CreditNoteLine(TypedDict):
    id: str
    amount: int
    reason: str
    issued_at: str


class PaymentLine(TypedDict):
    id: str
    amount: int
    paid_at: str
    method: str
    reference: str | None
    amount_refunded: NotRequired[int]
    refunds: NotRequired[list[RefundLine]]


class InvoiceLine(TypedDict):
    id: str
    description: str
    currency: str
    amount: int
    amount_paid: int
    amount_credited: NotRequired[int]
    amount_remaining: int
    status: str
    due_date: str
    days_overdue: int
    issued_at: str
    cancelled_at: str | None
    payments: list[PaymentLine]
    credit_notes: NotRequired[list[CreditNoteLine]]


class Totals(TypedDict):
    currency: str
    invoiced: int
    credited: NotRequired[int]
    paid: int
    refunded: NotRequired[int]
    outstanding: int
    overdue: int
    invoice_count: int
    credit_balance: NotRequired[int]
    status_counts: dict[str, int]
    aging: dict[str, int]
    student_count: NotRequired[int]


class StudentTotals(TypedDict):
    currency: str
    invoiced: int
    credited: NotRequired[int]
    paid: int
    outstanding: int
    overdue: int
    invoice_count: int
    credit_balance: NotRequired[int]


class StudentInfo(TypedDict):
    id: str
    first_name: str
    last_name: str
    external_id: str | None
    status: str


class SchoolInfo(TypedDict):
    id: str
    name: str
    timezone: str


class StudentLine(TypedDict):
    student_id: str
    first_name: str
    last_name: str
    status: str
    totals: list[StudentTotals]


class StudentPage(TypedDict):
    data: list[StudentLine]
    next_cursor: str | None


class StudentStatementDocument(TypedDict):
    snapshot_id: str
    student: StudentInfo
    school: SchoolInfo
    as_of: str
    totals: list[Totals]
    invoices: list[InvoiceLine]


class SchoolStatementDocument(TypedDict):
    snapshot_id: str
    school: SchoolInfo
    as_of: str
    totals: list[Totals]
    students: StudentPage


def _document(body: bytes) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(body)
    if "snapshot_id" not in document:
        # An entry cached before snapshots existed: the same content hashes to the same id.
        document["snapshot_id"] = snapshot_id(document)
    return document


def student_document(body: bytes) -> StudentStatementDocument:
    """The student statement the query returned (our own JSON: its shape is not re-checked)."""
    return cast(StudentStatementDocument, _document(body))


def school_document(body: bytes) -> SchoolStatementDocument:
    """The school statement the query returned (our own JSON: its shape is not re-checked)."""
    return cast(SchoolStatementDocument, _document(body))


_SNAPSHOT_START = b'{"snapshot_id":"'


def snapshot_of(body: bytes) -> str:
    """The snapshot id of a JSON statement, read from its first key without parsing the rest."""
    if body.startswith(_SNAPSHOT_START):
        end = body.find(b'"', len(_SNAPSHOT_START))
        if end > 0:
            return body[len(_SNAPSHOT_START) : end].decode("ascii")
    found: str = _document(body)["snapshot_id"]
    return found


def money(amount: int, currency: str) -> str:
    """An amount for people: major units with the currency's minor digits (`1,500.00 MXN`)."""
    return Money(amount, Currency.of(currency)).formatted()


def display(text: str | None) -> str:
    """Text as typed, composed (NFC): accented letters then come from the font's precomposed
    glyphs, since the PDF is drawn without text shaping."""
    return unicodedata.normalize("NFC", text or "")


def student_name(first_name: str, last_name: str) -> str:
    return display(f"{first_name} {last_name}")
