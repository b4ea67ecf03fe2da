"""Schools, students, invoices and payments, with the rules that govern how they change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from school_payments.domain.calendar import days_past_due, ensure_not_in_future, today_in
from school_payments.domain.currency import Currency
from school_payments.domain.errors import (
    CurrencyMismatchError,
    InvoiceHasPaymentsError,
    InvoiceNotEditableError,
    InvoiceNotPayableError,
    PaymentExceedsRemainingError,
    StudentArchivedError,
)
from school_payments.domain.money import Money


class StudentStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class InvoiceStatus(StrEnum):
    """What an invoice reads as. `OVERDUE` is never stored: it is computed for a given day."""

    PENDING = "PENDING"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    OVERDUE = "OVERDUE"
    CANCELLED = "CANCELLED"


OPEN_STATUSES = frozenset({InvoiceStatus.PENDING, InvoiceStatus.PARTIALLY_PAID})
"""Stored states in which an invoice still awaits money (and so can become overdue)."""


class PaymentMethod(StrEnum):
    CASH = "cash"
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    OTHER = "other"


def status_for_paid(paid: int, amount: int) -> InvoiceStatus:
    """The stored state an uncancelled invoice of `amount` is in once `paid` has been paid."""
    if paid == 0:
        return InvoiceStatus.PENDING
    return InvoiceStatus.PAID if paid >= amount else InvoiceStatus.PARTIALLY_PAID


def status_on(stored: InvoiceStatus, due_date: date, day: date) -> InvoiceStatus:
    """How an invoice in `stored` state reads on `day`: open and past its due date is OVERDUE."""
    if stored in OPEN_STATUSES and days_past_due(due_date, day) > 0:
        return InvoiceStatus.OVERDUE
    return stored


@dataclass
class School:
    id: UUID
    name: str
    timezone: str
    default_currency: Currency | None
    created_at: datetime
    updated_at: datetime

    def today(self, now: datetime) -> date:
        return today_in(self.timezone, now)


@dataclass
class Student:
    id: UUID
    school_id: UUID
    first_name: str
    last_name: str
    external_id: str | None
    status: StudentStatus
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None

    def archive(self, now: datetime) -> None:
        """Soft delete: the student keeps their history but receives no new invoices."""
        if self.status is StudentStatus.ARCHIVED:
            return
        self.status = StudentStatus.ARCHIVED
        self.archived_at = now
        self.updated_at = now

    def ensure_can_be_invoiced(self) -> None:
        if self.status is StudentStatus.ARCHIVED:
            raise StudentArchivedError()


@dataclass(frozen=True)
class Payment:
    """Money received against one invoice. Recorded once, never changed or deleted."""

    id: UUID
    invoice_id: UUID
    student_id: UUID
    school_id: UUID
    amount: Money
    paid_at: datetime
    method: PaymentMethod
    reference: str | None
    created_at: datetime

    @property
    def currency(self) -> Currency:
        return self.amount.currency


@dataclass
class Invoice:
    """What a student owes.

    Stored states: PENDING → PARTIALLY_PAID → PAID, or PENDING → CANCELLED.
    """

    id: UUID
    school_id: UUID
    student_id: UUID
    description: str
    amount: Money
    amount_paid: Money
    status: InvoiceStatus
    due_date: date
    issued_at: datetime
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None = None
    payments: tuple[Payment, ...] | None = field(default=None, compare=False)
    """The invoice's payments in creation order, when they were loaded with it."""

    @classmethod
    def issue(
        cls,
        *,
        invoice_id: UUID,
        student: Student,
        description: str,
        amount: Money,
        due_date: date,
        issued_at: datetime,
        now: datetime,
    ) -> Invoice:
        student.ensure_can_be_invoiced()
        ensure_not_in_future(issued_at, now, "issued_at")
        return cls(
            id=invoice_id,
            school_id=student.school_id,
            student_id=student.id,
            description=description,
            amount=amount,
            amount_paid=Money.zero(amount.currency),
            status=InvoiceStatus.PENDING,
            due_date=due_date,
            issued_at=issued_at,
            created_at=now,
            updated_at=now,
        )

    @property
    def currency(self) -> Currency:
        return self.amount.currency

    @property
    def amount_remaining(self) -> Money:
        """What is still owed; a cancelled invoice owes nothing."""
        if self.status is InvoiceStatus.CANCELLED:
            return Money.zero(self.currency)
        return self.amount - self.amount_paid

    def status_on(self, day: date) -> InvoiceStatus:
        return status_on(self.status, self.due_date, day)

    def days_overdue_on(self, day: date) -> int:
        if self.status_on(day) is not InvoiceStatus.OVERDUE:
            return 0
        return days_past_due(self.due_date, day)

    def record_payment(
        self,
        *,
        payment_id: UUID,
        amount: Money,
        method: PaymentMethod,
        paid_at: datetime,
        reference: str | None,
        now: datetime,
    ) -> Payment:
        """Takes a payment, refusing in the contract's order: not payable, currency, too much."""
        ensure_not_in_future(paid_at, now, "paid_at")
        if self.status not in OPEN_STATUSES:
            raise InvoiceNotPayableError(self.status)
        if amount.currency != self.currency:
            raise CurrencyMismatchError(self.currency.code, amount.currency.code)
        remaining = self.amount_remaining
        if amount > remaining:
            raise PaymentExceedsRemainingError(amount.amount, remaining.amount, self.currency.code)
        self.amount_paid = self.amount_paid + amount
        self.status = status_for_paid(self.amount_paid.amount, self.amount.amount)
        self.updated_at = now
        payment = Payment(
            id=payment_id,
            invoice_id=self.id,
            student_id=self.student_id,
            school_id=self.school_id,
            amount=amount,
            paid_at=paid_at,
            method=method,
            reference=reference,
            created_at=now,
        )
        if self.payments is not None:
            self.payments = (*self.payments, payment)
        return payment

    def cancel(self, now: datetime) -> bool:
        """Cancels an unpaid invoice; returns False when it was already cancelled (a no-op)."""
        if self.status is InvoiceStatus.CANCELLED:
            return False
        if self.amount_paid.amount > 0:
            raise InvoiceHasPaymentsError()
        self.status = InvoiceStatus.CANCELLED
        self.cancelled_at = now
        self.updated_at = now
        return True

    def revise(self, *, description: str | None, due_date: date | None, now: datetime) -> None:
        """Changes the description or due date while the invoice is still open."""
        if self.status not in OPEN_STATUSES:
            raise InvoiceNotEditableError(self.status)
        if description is not None:
            self.description = description
        if due_date is not None:
            self.due_date = due_date
        self.updated_at = now
