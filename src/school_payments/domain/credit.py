"""Student payments (one sum over several invoices) and the credit a student holds.

A parent pays a sum, not an invoice: the sum is shared over the student's open invoices in its
currency, earliest due date first, and what is left is held as credit. Credit is a ledger of
entries per student and currency; its balance never goes below zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from school_payments.domain.entities import Payment
from school_payments.domain.errors import InsufficientCreditError
from school_payments.domain.money import Money


class CreditDirection(StrEnum):
    IN = "in"
    OUT = "out"


class CreditKind(StrEnum):
    OVERPAYMENT = "overpayment"
    """What a student payment left over once every open invoice was paid (in)."""
    APPLIED = "applied"
    """Credit used to pay an invoice (`method: credit`) (out)."""
    REFUND_OF_CREDIT_PAYMENT = "refund_of_credit_payment"
    """A refund of a payment made from credit goes back to the credit (in)."""
    PAYOUT = "payout"
    """Credit handed back to the payer (out)."""


DIRECTION = {
    CreditKind.OVERPAYMENT: CreditDirection.IN,
    CreditKind.REFUND_OF_CREDIT_PAYMENT: CreditDirection.IN,
    CreditKind.APPLIED: CreditDirection.OUT,
    CreditKind.PAYOUT: CreditDirection.OUT,
}


@dataclass(frozen=True)
class Receipt:
    """One sum a payer handed over for a student, shared over invoices; never changed."""

    id: UUID
    school_id: UUID
    student_id: UUID
    amount: Money
    method: str
    paid_at: datetime
    reference: str | None
    credited_to_balance: Money
    created_at: datetime
    payments: tuple[Payment, ...] | None = field(default=None, compare=False)
    """Its shares, one payment per invoice it paid, when they were loaded with it."""

    @property
    def currency(self) -> str:
        return self.amount.currency.code

    def with_payments(self, payments: tuple[Payment, ...]) -> Receipt:
        return replace(self, payments=payments)


@dataclass(frozen=True)
class CreditPayout:
    """Credit handed back to the payer; never changed."""

    id: UUID
    school_id: UUID
    student_id: UUID
    amount: Money
    reason: str | None
    reference: str | None
    created_at: datetime

    @property
    def currency(self) -> str:
        return self.amount.currency.code


@dataclass(frozen=True)
class CreditEntry:
    """One movement of a student's credit, with the record it came from."""

    id: UUID
    school_id: UUID
    student_id: UUID
    amount: Money
    kind: CreditKind
    effective_at: datetime
    """When it counts in a statement as of a day: the business time of its record."""
    created_at: datetime
    receipt_id: UUID | None = None
    payment_id: UUID | None = None
    refund_id: UUID | None = None
    payout_id: UUID | None = None

    @property
    def direction(self) -> CreditDirection:
        return DIRECTION[self.kind]

    @property
    def currency(self) -> str:
        return self.amount.currency.code


@dataclass
class CreditAccount:
    """A student's credit in one currency: what the entries add up to, never below zero."""

    school_id: UUID
    student_id: UUID
    balance: Money

    def take(self, amount: Money) -> None:
        """Spends credit (a credit payment, a payout); refuses more than the balance."""
        if amount > self.balance:
            raise InsufficientCreditError(amount, self.balance)
        self.balance = self.balance - amount

    def add(self, amount: Money) -> None:
        self.balance = self.balance + amount


@dataclass(frozen=True)
class Share:
    """The part of a student payment that goes to one invoice."""

    invoice_id: UUID
    amount: Money


class Payable(Protocol):
    """What allocation needs of an open invoice (the domain's Invoice satisfies it)."""

    @property
    def id(self) -> UUID: ...

    @property
    def amount_remaining(self) -> Money: ...


def allocate(amount: Money, invoices: Sequence[Payable]) -> tuple[list[Share], Money]:
    """Shares `amount` over `invoices` in the order given (the caller sorts: earliest due date,
    then issue time, then creation); returns the shares and what is left over."""
    shares: list[Share] = []
    left = amount
    for invoice in invoices:
        if left.amount == 0:
            break
        owed = invoice.amount_remaining
        if owed.amount == 0:
            continue
        share = owed if owed < left else left
        shares.append(Share(invoice.id, share))
        left = left - share
    return shares, left


def balances(entries: Iterable[CreditEntry]) -> dict[str, int]:
    """Σ in − Σ out per currency code (how reconciliation and the tests read a ledger)."""
    totals: dict[str, int] = {}
    for entry in entries:
        sign = 1 if entry.direction is CreditDirection.IN else -1
        totals[entry.currency] = totals.get(entry.currency, 0) + sign * entry.amount.amount
    return totals
