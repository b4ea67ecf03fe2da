"""Domain objects and read models as the contract's JSON (plain dicts, serialized by orjson)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import date
from typing import Any
from uuid import UUID

from school_payments.adapters.web.responses import dumps
from school_payments.application.api_keys import ApiKey
from school_payments.application.pagination import Page
from school_payments.application.read_models import (
    CurrencyTotals,
    SchoolStatement,
    StudentStatement,
    StudentTotals,
)
from school_payments.domain.entities import Invoice, Payment, School, Student
from school_payments.domain.errors import InvalidValueError

# -- cursors -------------------------------------------------------------------------------------


def encode_cursor(after: UUID | None) -> str | None:
    """Opaque to clients: the base64url of the last id on the page."""
    return None if after is None else base64.urlsafe_b64encode(after.bytes).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> UUID | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 16 or encode_cursor(UUID(bytes=raw)) != cursor:
            raise ValueError(cursor)
        return UUID(bytes=raw)
    except (ValueError, binascii.Error):
        raise InvalidValueError("cursor", "cursor is not one this API returned") from None


def page_json(page: Page[Any], present: Any) -> dict[str, Any]:
    return {
        "data": [present(item) for item in page.items],
        "next_cursor": encode_cursor(page.next_after),
    }


# -- resources -----------------------------------------------------------------------------------


def school_json(school: School) -> dict[str, Any]:
    return {
        "id": school.id,
        "name": school.name,
        "timezone": school.timezone,
        "default_currency": school.default_currency.code if school.default_currency else None,
        "created_at": school.created_at,
        "updated_at": school.updated_at,
    }


def student_json(student: Student) -> dict[str, Any]:
    return {
        "id": student.id,
        "school_id": student.school_id,
        "first_name": student.first_name,
        "last_name": student.last_name,
        "external_id": student.external_id,
        "status": student.status.value,
        "created_at": student.created_at,
        "updated_at": student.updated_at,
        "archived_at": student.archived_at,
    }


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "invoice_id": payment.invoice_id,
        "student_id": payment.student_id,
        "school_id": payment.school_id,
        "amount": payment.amount.amount,
        "currency": payment.amount.currency.code,
        "paid_at": payment.paid_at,
        "method": payment.method.value,
        "reference": payment.reference,
        "created_at": payment.created_at,
    }


def statement_payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "amount": payment.amount.amount,
        "paid_at": payment.paid_at,
        "method": payment.method.value,
        "reference": payment.reference,
    }


def invoice_json(invoice: Invoice, day: date, *, payments: Any = None) -> dict[str, Any]:
    """The invoice as it reads on `day`; `payments` presents its payments (None: leave them out)."""
    body: dict[str, Any] = {
        "id": invoice.id,
        "school_id": invoice.school_id,
        "student_id": invoice.student_id,
        "description": invoice.description,
        "currency": invoice.currency.code,
        "amount": invoice.amount.amount,
        "amount_paid": invoice.amount_paid.amount,
        "amount_remaining": invoice.amount_remaining.amount,
        "status": invoice.status_on(day).value,
        "due_date": invoice.due_date,
        "days_overdue": invoice.days_overdue_on(day),
        "issued_at": invoice.issued_at,
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
        "cancelled_at": invoice.cancelled_at,
    }
    if payments is not None:
        body["payments"] = [payments(p) for p in invoice.payments or ()]
    return body


def api_key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "school_id": key.school_id,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


# -- statements ----------------------------------------------------------------------------------


def _totals_json(totals: CurrencyTotals) -> dict[str, Any]:
    counts, aging = totals.status_counts, totals.aging
    body: dict[str, Any] = {
        "currency": totals.currency,
        "invoiced": totals.invoiced,
        "paid": totals.paid,
        "outstanding": totals.outstanding,
        "overdue": totals.overdue,
        "invoice_count": totals.invoice_count,
        "status_counts": {
            "PENDING": counts.pending,
            "PARTIALLY_PAID": counts.partially_paid,
            "PAID": counts.paid,
            "OVERDUE": counts.overdue,
            "CANCELLED": counts.cancelled,
        },
        "aging": {
            "current": aging.current,
            "1_30": aging.days_1_30,
            "31_60": aging.days_31_60,
            "61_90": aging.days_61_90,
            "over_90": aging.over_90,
        },
    }
    if totals.student_count is not None:
        body["student_count"] = totals.student_count
    return body


def _student_totals_json(totals: StudentTotals) -> dict[str, Any]:
    return {
        "currency": totals.currency,
        "invoiced": totals.invoiced,
        "paid": totals.paid,
        "outstanding": totals.outstanding,
        "overdue": totals.overdue,
        "invoice_count": totals.invoice_count,
    }


SNAPSHOT_PREFIX = "sha256:"
_UNHASHED = frozenset({"snapshot_id", "generated_at"})
"""What a snapshot leaves out: the id itself, and the build time, which changes at every rebuild."""


def canonical_statement(document: Mapping[str, Any]) -> bytes:
    """A statement's content in one byte form: no `snapshot_id` or `generated_at`, keys sorted,
    no whitespace, UTF-8 unescaped. Anyone holding the JSON can rebuild it (see docs/statements.md).
    """
    content = {key: value for key, value in document.items() if key not in _UNHASHED}
    # The same serializer as the response, so the hash covers exactly what clients read (ids,
    # dates and `Z` timestamps as strings); only the key order differs.
    return dumps(content, sort_keys=True)


def snapshot_id(document: Mapping[str, Any]) -> str:
    """`sha256:` + the hex SHA-256 of the canonical content: equal figures, equal ids."""
    return SNAPSHOT_PREFIX + hashlib.sha256(canonical_statement(document)).hexdigest()


def _with_snapshot(document: dict[str, Any]) -> bytes:
    # The id goes first: it is what a reader cites, and the web adapter reads it from the start of
    # a cached document without parsing the rest.
    return dumps({"snapshot_id": snapshot_id(document), **document})


class JsonStatementRenderer:
    """Statements as the contract's JSON documents (what the API serves and the cache keeps),
    each carrying the `snapshot_id` of its content."""

    def student(self, statement: StudentStatement) -> bytes:
        school = statement.school
        return _with_snapshot(
            {
                "student": student_json(statement.student),
                "school": {"id": school.id, "name": school.name, "timezone": school.timezone},
                "as_of": statement.as_of,
                "generated_at": statement.generated_at,
                "totals": [_totals_json(t) for t in statement.totals],
                "invoices": [
                    invoice_json(i, statement.as_of, payments=statement_payment_json)
                    for i in statement.invoices
                ],
            }
        )

    def school(self, statement: SchoolStatement) -> bytes:
        return _with_snapshot(
            {
                "school": school_json(statement.school),
                "as_of": statement.as_of,
                "generated_at": statement.generated_at,
                "totals": [_totals_json(t) for t in statement.totals],
                "students": page_json(
                    statement.students,
                    lambda line: {
                        "student_id": line.student.id,
                        "first_name": line.student.first_name,
                        "last_name": line.student.last_name,
                        "status": line.student.status.value,
                        "totals": [_student_totals_json(t) for t in line.totals],
                    },
                ),
            }
        )
