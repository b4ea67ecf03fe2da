"""Student payments (receipts) and the credit a student holds, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BeforeValidator, Field

from school_payments.adapters.representation.json import ResponseModel
from school_payments.adapters.representation.resources import (
    CurrencyCode,
    MinorUnits,
    PaymentOut,
    loaded,
)
from school_payments.domain.credit import CreditDirection, CreditKind
from school_payments.domain.entities import PaymentMethod


class ReceiptOut(ResponseModel):
    """One sum paid for a student, with the payment it made on each invoice it settled."""

    id: UUID
    student_id: UUID
    school_id: UUID
    amount: MinorUnits
    currency: CurrencyCode
    method: PaymentMethod
    paid_at: datetime
    reference: str | None
    payments: Annotated[list[PaymentOut], BeforeValidator(loaded)]
    credited_to_balance: MinorUnits = Field(
        description="what was left once every open invoice in the currency was paid"
    )
    created_at: datetime


class CreditBalanceOut(ResponseModel):
    currency: CurrencyCode
    amount: int = Field(description="credit held, in the currency's minor unit (above 0)")


class CreditBalancesOut(ResponseModel):
    student_id: UUID
    balances: list[CreditBalanceOut] = Field(description="currencies with credit, by code")


class CreditEntryOut(ResponseModel):
    id: UUID
    currency: CurrencyCode
    amount: MinorUnits
    direction: CreditDirection
    kind: CreditKind
    receipt_id: UUID | None
    payment_id: UUID | None
    refund_id: UUID | None
    payout_id: UUID | None
    created_at: datetime


class CreditPayoutOut(ResponseModel):
    id: UUID
    student_id: UUID
    school_id: UUID
    amount: MinorUnits
    currency: CurrencyCode
    reason: str | None
    reference: str | None
    created_at: datetime
