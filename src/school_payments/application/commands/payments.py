"""Recording payments: exactly once, and never more than the invoice still owes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.commands._common import WriteHandler
from school_payments.application.ports.idempotency_store import IdempotencyClaim
from school_payments.domain.calendar import ensure_not_in_future
from school_payments.domain.currency import Currency
from school_payments.domain.entities import Payment, PaymentMethod
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
    """Records a payment inside the invoice's row lock, so concurrent payments never overpay it."""

    async def __call__(
        self,
        command: RecordPayment,
        caller: Caller,
        claim: IdempotencyClaim | None = None,
    ) -> Payment:
        now = self._clock.now()
        paid_at = ensure_not_in_future(command.paid_at or now, now, "paid_at")
        method = PaymentMethod(command.method)
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
            await uow.invoices.add_payment(invoice, payment)
            await self._commit(
                uow, payment, claim, schools=[invoice.school_id], students=[invoice.student_id]
            )
        log.info(
            "payment recorded",
            extra={
                "payment_id": str(payment.id),
                "invoice_id": str(invoice.id),
                "school_id": str(invoice.school_id),
                "amount": payment.amount.amount,
                "currency": payment.amount.currency.code,
                "invoice_status": invoice.status.value,
            },
        )
        return payment
