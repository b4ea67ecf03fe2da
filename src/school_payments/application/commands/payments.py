"""Recording payments: exactly once, and never more than the invoice still owes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.commands._common import WriteHandler, money_log
from school_payments.application.ports.idempotency_store import IdempotencyClaim
from school_payments.domain.calendar import ensure_not_in_future
from school_payments.domain.credit import CreditEntry, CreditKind
from school_payments.domain.currency import Currency
from school_payments.domain.entities import Payment, PaymentMethod
from school_payments.domain.errors import InvalidValueError
from school_payments.domain.ids import new_id
from school_payments.domain.money import Money

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordPayment:
    invoice_id: UUID
    amount: int
    method: str
    currency: str | None = None
    paid_at: datetime | None = None
    reference: str | None = None


class RecordPaymentHandler(WriteHandler):
    """Records a payment inside the invoice's row lock, so concurrent payments never overpay it;
    one made from credit (`method: credit`) also takes it from the student's balance, which no
    interleaving of concurrent debits can overdraw."""

    async def __call__(
        self,
        command: RecordPayment,
        caller: Caller,
        claim: IdempotencyClaim | None = None,
    ) -> Payment:
        now = self._clock.now()
        method = PaymentMethod(command.method)
        if method is PaymentMethod.CREDIT and command.paid_at is not None:
            raise InvalidValueError(
                "paid_at", "a payment from credit is made now: leave paid_at out"
            )
        paid_at = ensure_not_in_future(command.paid_at or now, now, "paid_at")
        currency = None if command.currency is None else Currency.of(command.currency)
        async with self._uow(caller.scope) as uow:
            invoice = await uow.invoices.get(command.invoice_id, for_update=True)
            payment = invoice.record_payment(
                payment_id=new_id(),
                amount=Money.charge(command.amount, currency or invoice.currency),
                method=method,
                paid_at=paid_at,
                reference=command.reference,
                now=now,
            )
            if method is PaymentMethod.CREDIT:
                # After the invoice's own checks (the contract's order), under both locks.
                student = await uow.students.get(invoice.student_id)
                account = await uow.credit.account(student, invoice.currency)
                account.take(payment.amount)
                await uow.credit.save(account, invoice.currency)
            await uow.invoices.add_payment(invoice, payment)
            if method is PaymentMethod.CREDIT:
                await uow.credit.add_entry(
                    CreditEntry(
                        id=new_id(),
                        school_id=payment.school_id,
                        student_id=payment.student_id,
                        amount=payment.amount,
                        kind=CreditKind.APPLIED,
                        effective_at=payment.paid_at,
                        created_at=now,
                        payment_id=payment.id,
                    )
                )
            await self._commit(
                uow, payment, claim, schools=[invoice.school_id], students=[invoice.student_id]
            )
        log.info(
            "payment recorded",
            extra={
                "payment_id": str(payment.id),
                "invoice_id": str(invoice.id),
                "school_id": str(invoice.school_id),
                **money_log(payment.amount),
                "method": payment.method.value,
                "invoice_status": invoice.status.value,
            },
        )
        return payment
