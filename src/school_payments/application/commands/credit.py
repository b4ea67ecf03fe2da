"""Student payments (one sum over several invoices) and the credit a student holds.

Every money movement of a student's credit is an entry; the balance moves with it in the same
transaction, under a row lock, and the database refuses a balance below zero.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.commands._common import (
    WriteHandler,
    money_log,
    record_invoice_event,
)
from school_payments.application.events import EventType
from school_payments.application.ports.idempotency_store import IdempotencyClaim
from school_payments.domain.calendar import ensure_not_in_future
from school_payments.domain.credit import CreditEntry, CreditKind, CreditPayout, Receipt, allocate
from school_payments.domain.currency import Currency
from school_payments.domain.entities import InvoiceStatus, PaymentMethod
from school_payments.domain.errors import InvalidValueError
from school_payments.domain.ids import new_id
from school_payments.domain.money import Money

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordStudentPayment:
    student_id: UUID
    amount: int
    currency: str
    method: str
    paid_at: datetime | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class PayOutCredit:
    student_id: UUID
    amount: int
    currency: str
    reason: str | None = None
    reference: str | None = None


class RecordStudentPaymentHandler(WriteHandler):
    """Pays the student's open invoices in the sum's currency, earliest due first, all or nothing;
    the rest becomes credit. Concurrent ones for one student never pay an invoice twice."""

    async def __call__(
        self, command: RecordStudentPayment, caller: Caller, claim: IdempotencyClaim | None = None
    ) -> Receipt:
        now = self._clock.now()
        method = PaymentMethod(command.method)
        if method is PaymentMethod.CREDIT:
            raise InvalidValueError(
                "method", "credit pays one invoice at a time: use POST /invoices/{id}/payments"
            )
        paid_at = ensure_not_in_future(command.paid_at or now, now, "paid_at")
        amount = Money.charge(command.amount, Currency.of(command.currency))
        async with self._uow(caller.scope) as uow:
            # Kept from deletion until the commit: a removal running meanwhile waits, then finds
            # the receipt and archives the student (its records refer to the student's row).
            student = await uow.students.get(command.student_id, for_share=True)
            invoices = await uow.invoices.open_for_allocation(
                student.id, amount.currency, for_update=True
            )
            shares, left = allocate(amount, invoices)
            receipt = Receipt(
                id=new_id(),
                school_id=student.school_id,
                student_id=student.id,
                amount=amount,
                method=method.value,
                paid_at=paid_at,
                reference=command.reference,
                credited_to_balance=left,
                created_at=now,
            )
            await uow.credit.add_receipt(receipt)  # before its payments, which refer to it
            by_id = {invoice.id: invoice for invoice in invoices}
            payments = []
            for share in shares:
                invoice = by_id[share.invoice_id]
                payment = invoice.record_payment(
                    payment_id=new_id(),
                    amount=share.amount,
                    method=method,
                    paid_at=paid_at,
                    reference=command.reference,
                    now=now,
                    receipt_id=receipt.id,
                )
                await uow.invoices.add_payment(invoice, payment)
                payments.append(payment)
                await uow.events.record(EventType.PAYMENT_RECORDED, payment.school_id, payment)
                if invoice.status is InvoiceStatus.PAID:
                    await record_invoice_event(uow, EventType.INVOICE_PAID, invoice, now)
            if left.amount:
                account = await uow.credit.account(student, amount.currency)
                account.add(left)
                await uow.credit.save(account, amount.currency)
                await uow.credit.add_entry(
                    CreditEntry(
                        id=new_id(),
                        school_id=student.school_id,
                        student_id=student.id,
                        amount=left,
                        kind=CreditKind.OVERPAYMENT,
                        effective_at=paid_at,
                        created_at=now,
                        receipt_id=receipt.id,
                    )
                )
            receipt = receipt.with_payments(tuple(payments))
            await uow.events.record(EventType.RECEIPT_CREATED, receipt.school_id, receipt)
            await self._commit(
                uow, receipt, claim, schools=[student.school_id], students=[student.id]
            )
        log.info(
            "student payment recorded",
            extra={
                "receipt_id": str(receipt.id),
                "student_id": str(student.id),
                **money_log(amount),
                "invoices_paid": len(payments),
                "credited_to_balance": left.amount,
            },
        )
        return receipt


class PayOutCreditHandler(WriteHandler):
    """Hands credit back to the payer, never more than the student holds."""

    async def __call__(
        self, command: PayOutCredit, caller: Caller, claim: IdempotencyClaim | None = None
    ) -> CreditPayout:
        now = self._clock.now()
        amount = Money.charge(command.amount, Currency.of(command.currency))
        async with self._uow(caller.scope) as uow:
            # Kept from deletion until the commit, as for a student payment: the balance row
            # the account may create refers to the student's row.
            student = await uow.students.get(command.student_id, for_share=True)
            account = await uow.credit.account(student, amount.currency)
            account.take(amount)
            payout = CreditPayout(
                id=new_id(),
                school_id=student.school_id,
                student_id=student.id,
                amount=amount,
                reason=command.reason,
                reference=command.reference,
                created_at=now,
            )
            await uow.credit.save(account, amount.currency)
            await uow.credit.add_payout(payout)
            await uow.credit.add_entry(
                CreditEntry(
                    id=new_id(),
                    school_id=student.school_id,
                    student_id=student.id,
                    amount=amount,
                    kind=CreditKind.PAYOUT,
                    effective_at=now,
                    created_at=now,
                    payout_id=payout.id,
                )
            )
            await uow.events.record(EventType.CREDIT_PAID_OUT, payout.school_id, payout)
            await self._commit(
                uow, payout, claim, schools=[student.school_id], students=[student.id]
            )
        log.info(
            "credit paid out",
            extra={"payout_id": str(payout.id), "student_id": str(student.id), **money_log(amount)},
        )
        return payout
