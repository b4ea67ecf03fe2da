"""Corrections of money already recorded: refunds of payments and credit notes on invoices.

Neither changes a payment: each is a record of its own, and the invoice's figures and status
follow from its records. Both run inside the invoice's row lock, so no interleaving with
payments or with each other can refund more than was paid or settle more than is owed.
"""

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
from school_payments.domain.entities import CreditNote, PaymentMethod, Refund
from school_payments.domain.ids import new_id
from school_payments.domain.money import Money

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RefundPayment:
    payment_id: UUID
    amount: int | None = None
    """None: all that is still refundable."""
    reason: str | None = None
    refunded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssueCreditNote:
    invoice_id: UUID
    amount: int
    reason: str
    issued_at: datetime | None = None


class RefundPaymentHandler(WriteHandler):
    """Refunds part or all of a payment, never more than was paid and not yet refunded; a
    payment made from credit is refunded to the student's credit."""

    async def __call__(
        self, command: RefundPayment, caller: Caller, claim: IdempotencyClaim | None = None
    ) -> Refund:
        now = self._clock.now()
        refunded_at = ensure_not_in_future(command.refunded_at or now, now, "refunded_at")
        async with self._uow(caller.scope) as uow:
            found = await uow.invoices.payment(command.payment_id)
            invoice = await uow.invoices.get(found.invoice_id, for_update=True)
            # Read again under the invoice's lock: a concurrent refund may have just committed.
            payment = await uow.invoices.payment(command.payment_id)
            refund, refunded = invoice.refund(
                payment,
                refund_id=new_id(),
                amount=None
                if command.amount is None
                else Money.charge(command.amount, invoice.currency),
                reason=command.reason,
                refunded_at=refunded_at,
                now=now,
            )
            await uow.invoices.add_refund(invoice, refund, refunded)
            if payment.method is PaymentMethod.CREDIT:
                student = await uow.students.get(invoice.student_id)
                account = await uow.credit.account(student, invoice.currency)
                account.add(refund.amount)
                await uow.credit.save(account, invoice.currency)
                await uow.credit.add_entry(
                    CreditEntry(
                        id=new_id(),
                        school_id=refund.school_id,
                        student_id=refund.student_id,
                        amount=refund.amount,
                        kind=CreditKind.REFUND_OF_CREDIT_PAYMENT,
                        effective_at=refund.refunded_at,
                        created_at=now,
                        payment_id=payment.id,
                        refund_id=refund.id,
                    )
                )
            await self._commit(
                uow, refund, claim, schools=[invoice.school_id], students=[invoice.student_id]
            )
        log.info(
            "payment refunded",
            extra={
                "refund_id": str(refund.id),
                "payment_id": str(payment.id),
                "invoice_id": str(invoice.id),
                **money_log(refund.amount),
                "invoice_status": invoice.status.value,
            },
        )
        return refund


class IssueCreditNoteHandler(WriteHandler):
    """Forgives part of what an open invoice still owes, never more than remains."""

    async def __call__(
        self, command: IssueCreditNote, caller: Caller, claim: IdempotencyClaim | None = None
    ) -> CreditNote:
        now = self._clock.now()
        issued_at = ensure_not_in_future(command.issued_at or now, now, "issued_at")
        async with self._uow(caller.scope) as uow:
            invoice = await uow.invoices.get(command.invoice_id, for_update=True)
            note = invoice.issue_credit_note(
                credit_note_id=new_id(),
                amount=Money.charge(command.amount, invoice.currency),
                reason=command.reason,
                issued_at=issued_at,
                now=now,
            )
            await uow.invoices.add_credit_note(invoice, note)
            await self._commit(
                uow, note, claim, schools=[invoice.school_id], students=[invoice.student_id]
            )
        log.info(
            "credit note issued",
            extra={
                "credit_note_id": str(note.id),
                "invoice_id": str(invoice.id),
                **money_log(note.amount),
                "invoice_status": invoice.status.value,
            },
        )
        return note
