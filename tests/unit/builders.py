"""Small builders for domain objects: sensible defaults, every field overridable by keyword."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from school_payments.domain.currency import Currency
from school_payments.domain.entities import (
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    School,
    Student,
    StudentStatus,
)
from school_payments.domain.ids import new_id
from school_payments.domain.money import Money
from tests.support.clock import DEFAULT_NOW

MXN = Currency.of("MXN")
USD = Currency.of("USD")
JPY = Currency.of("JPY")

NOW = DEFAULT_NOW
TODAY = NOW.date()


def mxn(amount: int) -> Money:
    return Money(amount, MXN)


def usd(amount: int) -> Money:
    return Money(amount, USD)


def a_school(**fields: Any) -> School:
    values: dict[str, Any] = {
        "id": new_id(),
        "name": "Colegio Central",
        "timezone": "UTC",
        "default_currency": MXN,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return School(**values)


def a_student(school: School | None = None, **fields: Any) -> Student:
    values: dict[str, Any] = {
        "id": new_id(),
        "school_id": (school or a_school()).id,
        "first_name": "Ana",
        "last_name": "García",
        "external_id": None,
        "status": StudentStatus.ACTIVE,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return Student(**values)


def an_archived_student(school: School | None = None, **fields: Any) -> Student:
    return a_student(school, status=StudentStatus.ARCHIVED, archived_at=NOW, **fields)


def an_invoice(
    student: Student | None = None,
    *,
    amount: Money | None = None,
    due_date: date = TODAY + timedelta(days=7),
    issued_at: datetime = NOW,
    description: str = "Tuition",
    invoice_id: UUID | None = None,
) -> Invoice:
    """A PENDING invoice issued through the domain's own factory."""
    invoice = Invoice.issue(
        invoice_id=invoice_id or new_id(),
        student=student or a_student(),
        description=description,
        amount=amount or mxn(100_000),
        due_date=due_date,
        issued_at=issued_at,
        now=NOW,
    )
    invoice.payments = ()
    return invoice


def pay(invoice: Invoice, amount: Money | int, *, paid_at: datetime = NOW) -> None:
    """Records a payment on `invoice` (an int is in the invoice's currency)."""
    money = amount if isinstance(amount, Money) else Money(amount, invoice.currency)
    invoice.record_payment(
        payment_id=new_id(),
        amount=money,
        method=PaymentMethod.CASH,
        paid_at=paid_at,
        reference=None,
        now=NOW,
    )


def a_paid_invoice(student: Student | None = None, amount: int = 100_000) -> Invoice:
    invoice = an_invoice(student, amount=mxn(amount))
    pay(invoice, amount)
    assert invoice.status is InvoiceStatus.PAID
    return invoice


def a_cancelled_invoice(student: Student | None = None) -> Invoice:
    invoice = an_invoice(student)
    invoice.cancel(NOW)
    return invoice
