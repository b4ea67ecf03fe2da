"""Schools, students, invoices and the money records on them (payments, refunds, credit notes),
with the rules that govern how they change."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from school_payments.domain.calendar import days_past_due, ensure_not_in_future, today_in
from school_payments.domain.currency import Currency
from school_payments.domain.errors import (
    CreditExceedsRemainingError,
    CurrencyMismatchError,
    InvalidValueError,
    InvoiceHasPaymentsError,
    InvoiceNotCreditableError,
    InvoiceNotEditableError,
    InvoiceNotPayableError,
    PaymentExceedsRemainingError,
    RefundExceedsPaymentError,
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
    CREDIT = "credit"
    """Taken from the student's credit balance (invoice payments only)."""


def status_for_paid(paid: int, amount: int, credited: int = 0) -> InvoiceStatus:
    """The stored state of an uncancelled invoice of `amount` holding `paid` (net of refunds)
    and forgiven `credited`: nothing left to settle is PAID, else any money is PARTIALLY_PAID."""
    if paid + credited >= amount:
        return InvoiceStatus.PAID
    return InvoiceStatus.PARTIALLY_PAID if paid > 0 else InvoiceStatus.PENDING


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
    reminder_days_before_due: int | None = 3
    """`invoice.due_soon` this many days before an invoice's due date (None: no reminders)."""

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
class Refund:
    """Money of one payment given back. Recorded once, never changed or deleted."""

    id: UUID
    payment_id: UUID
    invoice_id: UUID
    student_id: UUID
    school_id: UUID
    amount: Money
    reason: str | None
    refunded_at: datetime
    created_at: datetime

    @property
    def currency(self) -> Currency:
        return self.amount.currency


@dataclass(frozen=True)
class CreditNote:
    """Part of an invoice the school forgives (scholarship, discount, billing error). Immutable."""

    id: UUID
    invoice_id: UUID
    student_id: UUID
    school_id: UUID
    amount: Money
    reason: str
    issued_at: datetime
    created_at: datetime

    @property
    def currency(self) -> Currency:
        return self.amount.currency


@dataclass(frozen=True)
class Payment:
    """Money received against one invoice. Recorded once, never changed or deleted: a refund is
    a record of its own, and `amount_refunded` only says how much of it went back."""

    id: UUID
    invoice_id: UUID
    student_id: UUID
    school_id: UUID
    amount: Money
    paid_at: datetime
    method: PaymentMethod
    reference: str | None
    created_at: datetime
    amount_refunded: Money | None = None
    """None reads as nothing refunded."""
    receipt_id: UUID | None = None
    """The student payment (receipt) this payment is a share of, if any."""
    refunds: tuple[Refund, ...] | None = field(default=None, compare=False)
    """The payment's refunds in creation order, when they were loaded with it."""

    @property
    def currency(self) -> Currency:
        return self.amount.currency

    @property
    def refunded(self) -> Money:
        return self.amount_refunded or Money.zero(self.currency)

    @property
    def refundable(self) -> Money:
        """What may still be refunded of this payment."""
        return self.amount - self.refunded


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
    """What the invoice holds: its payments net of their refunds."""
    status: InvoiceStatus
    due_date: date
    issued_at: datetime
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None = None
    payments: tuple[Payment, ...] | None = field(default=None, compare=False)
    """The invoice's payments in creation order, when they were loaded with it."""
    amount_credited: Money | None = None
    """Σ its credit notes (None reads as none)."""
    amount_refunded: Money | None = None
    """Σ the refunds of its payments (None reads as none)."""
    credit_notes: tuple[CreditNote, ...] | None = field(default=None, compare=False)
    """The invoice's credit notes in creation order, when they were loaded with it."""

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
    def credited(self) -> Money:
        return self.amount_credited or Money.zero(self.currency)

    @property
    def refunded(self) -> Money:
        return self.amount_refunded or Money.zero(self.currency)

    @property
    def amount_remaining(self) -> Money:
        """What is still owed: the amount less what was forgiven and what it holds (never below
        zero; a cancelled invoice owes nothing)."""
        if self.status is InvoiceStatus.CANCELLED:
            return Money.zero(self.currency)
        remaining = self.amount.amount - self.credited.amount - self.amount_paid.amount
        return Money(max(remaining, 0), self.currency)

    def _settle(self, now: datetime) -> None:
        self.status = status_for_paid(
            self.amount_paid.amount, self.amount.amount, self.credited.amount
        )
        self.updated_at = now

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
        receipt_id: UUID | None = None,
    ) -> Payment:
        """Takes a payment, refusing in the contract's order: not payable, currency, too much."""
        ensure_not_in_future(paid_at, now, "paid_at")
        if self.status not in OPEN_STATUSES:
            raise InvoiceNotPayableError(self.status)
        if amount.currency != self.currency:
            raise CurrencyMismatchError(self.currency.code, amount.currency.code)
        remaining = self.amount_remaining
        if amount > remaining:
            raise PaymentExceedsRemainingError(amount, remaining)
        self.amount_paid = self.amount_paid + amount
        self._settle(now)
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
            amount_refunded=Money.zero(self.currency),
            receipt_id=receipt_id,
        )
        if self.payments is not None:
            self.payments = (*self.payments, payment)
        return payment

    def refund(
        self,
        payment: Payment,
        *,
        refund_id: UUID,
        amount: Money | None,
        reason: str | None,
        refunded_at: datetime,
        now: datetime,
    ) -> tuple[Refund, Payment]:
        """Gives back part or all (`amount` None) of one of its payments; returns the refund and
        the payment as it now reads. Refuses in the contract's order: a `refunded_at` before the
        payment or in the future (422), then more than the payment's refundable rest (409)."""
        assert payment.invoice_id == self.id
        ensure_not_in_future(refunded_at, now, "refunded_at")
        if refunded_at < payment.paid_at:
            raise InvalidValueError(
                "refunded_at", "refunded_at may not be before the payment's paid_at"
            )
        refundable = payment.refundable
        money = refundable if amount is None else amount
        if money.currency != self.currency:
            raise CurrencyMismatchError(self.currency.code, money.currency.code)
        if money.amount == 0 or money > refundable:
            raise RefundExceedsPaymentError(money, refundable)
        refund = Refund(
            id=refund_id,
            payment_id=payment.id,
            invoice_id=self.id,
            student_id=self.student_id,
            school_id=self.school_id,
            amount=money,
            reason=reason,
            refunded_at=refunded_at,
            created_at=now,
        )
        refunded = replace(
            payment,
            amount_refunded=payment.refunded + money,
            refunds=None if payment.refunds is None else (*payment.refunds, refund),
        )
        self.amount_paid = self.amount_paid - money
        self.amount_refunded = self.refunded + money
        if self.status is not InvoiceStatus.CANCELLED:
            self._settle(now)
        if self.payments is not None:
            self.payments = tuple(refunded if p.id == payment.id else p for p in self.payments)
        return refund, refunded

    def issue_credit_note(
        self,
        *,
        credit_note_id: UUID,
        amount: Money,
        reason: str,
        issued_at: datetime,
        now: datetime,
    ) -> CreditNote:
        """Forgives part of what is owed. Refuses in the contract's order: an `issued_at` before
        the invoice's or in the future (422), a PAID or CANCELLED invoice, more than remains."""
        ensure_not_in_future(issued_at, now, "issued_at")
        if issued_at < self.issued_at:
            raise InvalidValueError(
                "issued_at", "issued_at may not be before the invoice's issued_at"
            )
        if self.status not in OPEN_STATUSES:
            raise InvoiceNotCreditableError(self.status)
        if amount.currency != self.currency:
            raise CurrencyMismatchError(self.currency.code, amount.currency.code)
        remaining = self.amount_remaining
        if amount > remaining:
            raise CreditExceedsRemainingError(amount, remaining)
        note = CreditNote(
            id=credit_note_id,
            invoice_id=self.id,
            student_id=self.student_id,
            school_id=self.school_id,
            amount=amount,
            reason=reason,
            issued_at=issued_at,
            created_at=now,
        )
        self.amount_credited = self.credited + amount
        self._settle(now)
        if self.credit_notes is not None:
            self.credit_notes = (*self.credit_notes, note)
        return note

    def cancel(self, now: datetime) -> bool:
        """Cancels an invoice that holds no money (no payment, or every payment refunded),
        whatever it was credited; returns False when it was already cancelled (a no-op)."""
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
