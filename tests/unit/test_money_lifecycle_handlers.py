"""Refunds, credit notes, student payments, payouts and credit payments, over in-memory fakes.

Each success commits its records with the invoice's and the credit's new figures and moves the
statements on after the commit; each refusal leaves the committed state exactly as it was and
moves nothing.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from school_payments.application.caller import OPERATOR
from school_payments.application.commands.corrections import (
    IssueCreditNote,
    IssueCreditNoteHandler,
    RefundPayment,
    RefundPaymentHandler,
)
from school_payments.application.commands.credit import (
    PayOutCredit,
    PayOutCreditHandler,
    RecordStudentPayment,
    RecordStudentPaymentHandler,
)
from school_payments.application.commands.payments import RecordPayment
from school_payments.application.ports.idempotency_store import Created, IdempotencyClaim
from school_payments.domain.credit import CreditKind
from school_payments.domain.entities import InvoiceStatus, Payment, PaymentMethod
from school_payments.domain.errors import (
    CreditExceedsRemainingError,
    InsufficientCreditError,
    InvalidValueError,
    InvoiceNotCreditableError,
    InvoiceNotPayableError,
    NotFoundError,
    PaymentExceedsRemainingError,
    RefundExceedsPaymentError,
    TimestampInFutureError,
)
from school_payments.domain.ids import new_id
from school_payments.domain.money import Money
from tests.unit.billing_world import World, school_caller
from tests.unit.builders import NOW, TODAY, a_school, an_archived_student, an_invoice, mxn, pay
from tests.unit.fakes import State


@pytest.fixture
def world() -> World:
    return World()


def _refunds(world: World) -> RefundPaymentHandler:
    return RefundPaymentHandler(world.db.unit_of_work, world.cache, world.clock)


def _credit_notes(world: World) -> IssueCreditNoteHandler:
    return IssueCreditNoteHandler(world.db.unit_of_work, world.cache, world.clock)


def _student_payments(world: World) -> RecordStudentPaymentHandler:
    return RecordStudentPaymentHandler(world.db.unit_of_work, world.cache, world.clock)


def _payouts(world: World) -> PayOutCreditHandler:
    return PayOutCreditHandler(world.db.unit_of_work, world.cache, world.clock)


def _given_a_paid_invoice(world: World, amount: int = 10_000, paid: int = 10_000) -> Payment:
    """An invoice of `amount` with one cash payment of `paid` made an hour ago."""
    invoice = an_invoice(world.student, amount=mxn(amount))
    pay(invoice, paid, paid_at=NOW - timedelta(hours=1))
    world.db.given(invoice)
    (payment,) = world.db.payments_of(invoice.id)
    return payment


def _given_an_open_invoice(world: World, amount: int = 10_000, paid: int = 0) -> UUID:
    invoice = an_invoice(world.student, amount=mxn(amount))
    if paid:
        pay(invoice, paid)
    world.db.given(invoice)
    return invoice.id


def _given_credit(world: World, amount: int, currency: str = "MXN") -> None:
    world.db.committed.credit_balances[(world.student.id, currency)] = amount


def _balance(world: World, currency: str = "MXN") -> int:
    return world.db.committed.credit_balances.get((world.student.id, currency), 0)


def _snapshot(world: World) -> State:
    return copy.deepcopy(world.db.committed)


def _nothing_changed(world: World, before: State) -> bool:
    return world.db.committed == before and world.cache.invalidations == []


# -- refunds -------------------------------------------------------------------------------------


async def test_a_refund_is_stored_with_the_payment_s_and_the_invoice_s_new_figures(
    world: World,
) -> None:
    payment = _given_a_paid_invoice(world)
    refund = await _refunds(world)(RefundPayment(payment.id, 2_500, "Overcharge"), OPERATOR)
    assert world.db.committed.refunds == {refund.id: refund}
    assert world.db.committed.payments[payment.id].amount_refunded == mxn(2_500)
    invoice = world.db.invoice(payment.invoice_id)
    assert (invoice.status, invoice.amount_paid, invoice.refunded) == (
        InvoiceStatus.PARTIALLY_PAID,
        mxn(7_500),
        mxn(2_500),
    )
    assert (refund.reason, refund.refunded_at) == ("Overcharge", NOW)
    world.invalidated_after_commit()


async def test_a_refund_of_a_cash_payment_gives_the_money_to_the_payer_not_to_credit(
    world: World,
) -> None:
    payment = _given_a_paid_invoice(world)
    await _refunds(world)(RefundPayment(payment.id), OPERATOR)
    assert world.db.committed.credit_entries == {}
    assert _balance(world) == 0


async def test_a_refund_beyond_the_refundable_rest_is_refused_and_changes_nothing(
    world: World,
) -> None:
    payment = _given_a_paid_invoice(world, paid=4_000)
    before = _snapshot(world)
    with pytest.raises(RefundExceedsPaymentError):
        await _refunds(world)(RefundPayment(payment.id, 4_001), OPERATOR)
    assert _nothing_changed(world, before)


async def test_a_refund_dated_before_its_payment_is_refused_and_changes_nothing(
    world: World,
) -> None:
    payment = _given_a_paid_invoice(world)
    before = _snapshot(world)
    early = payment.paid_at - timedelta(minutes=1)
    with pytest.raises(InvalidValueError):
        await _refunds(world)(RefundPayment(payment.id, refunded_at=early), OPERATOR)
    assert _nothing_changed(world, before)


async def test_a_refund_dated_in_the_future_is_refused_before_any_lookup(world: World) -> None:
    command = RefundPayment(uuid4(), refunded_at=NOW + timedelta(seconds=6))
    with pytest.raises(TimestampInFutureError):
        await _refunds(world)(command, OPERATOR)
    assert world.db.units_opened == 0


async def test_a_refund_of_an_unknown_or_another_school_s_payment_is_not_found(
    world: World,
) -> None:
    payment = _given_a_paid_invoice(world)
    before = _snapshot(world)
    with pytest.raises(NotFoundError):
        await _refunds(world)(RefundPayment(uuid4()), OPERATOR)
    with pytest.raises(NotFoundError):
        await _refunds(world)(RefundPayment(payment.id), school_caller(a_school()))
    assert _nothing_changed(world, before)


async def test_a_refund_commits_together_with_its_idempotency_record(world: World) -> None:
    payment = _given_a_paid_invoice(world)
    claim = IdempotencyClaim(scope="operator", key="r-1", token=uuid4())
    refund = await _refunds(world)(RefundPayment(payment.id, 100), OPERATOR, claim)
    assert world.db.committed.outcomes[("operator", "r-1")] == Created(refund)


async def test_a_refund_of_a_payment_made_from_credit_goes_back_to_the_credit(
    world: World,
) -> None:
    _given_credit(world, 3_000)
    invoice_id = _given_an_open_invoice(world, 5_000)
    payment = await world.record()(
        RecordPayment(invoice_id=invoice_id, amount=3_000, method="credit"), OPERATOR
    )
    refund = await _refunds(world)(RefundPayment(payment.id, 500), OPERATOR)
    assert _balance(world) == 500
    entries = sorted(world.db.committed.credit_entries.values(), key=lambda e: e.kind)
    assert [(e.kind, e.amount, e.payment_id, e.refund_id) for e in entries] == [
        (CreditKind.APPLIED, mxn(3_000), payment.id, None),
        (CreditKind.REFUND_OF_CREDIT_PAYMENT, mxn(500), payment.id, refund.id),
    ]


# -- credit notes --------------------------------------------------------------------------------


async def test_a_credit_note_is_stored_and_can_settle_the_invoice(world: World) -> None:
    invoice_id = _given_an_open_invoice(world, 10_000, paid=4_000)
    note = await _credit_notes(world)(IssueCreditNote(invoice_id, 6_000, "Scholarship"), OPERATOR)
    assert world.db.committed.credit_notes == {note.id: note}
    invoice = world.db.invoice(invoice_id)
    assert (invoice.status, invoice.amount_paid, invoice.credited) == (
        InvoiceStatus.PAID,
        mxn(4_000),
        mxn(6_000),
    )
    assert invoice.amount_remaining == mxn(0)
    world.invalidated_after_commit()


@pytest.mark.parametrize(
    ("paid", "amount", "refusal"),
    [
        (4_000, 6_001, CreditExceedsRemainingError),
        (10_000, 1, InvoiceNotCreditableError),
    ],
)
async def test_a_refused_credit_note_changes_nothing(
    world: World, paid: int, amount: int, refusal: type[Exception]
) -> None:
    invoice_id = _given_an_open_invoice(world, 10_000, paid=paid)
    before = _snapshot(world)
    with pytest.raises(refusal):
        await _credit_notes(world)(IssueCreditNote(invoice_id, amount, "Discount"), OPERATOR)
    assert _nothing_changed(world, before)


async def test_a_credit_note_on_another_school_s_invoice_is_not_found(world: World) -> None:
    invoice_id = _given_an_open_invoice(world)
    with pytest.raises(NotFoundError):
        await _credit_notes(world)(
            IssueCreditNote(invoice_id, 1, "Discount"), school_caller(a_school())
        )
    assert world.db.committed.credit_notes == {}


# -- student payments ----------------------------------------------------------------------------


def _a_student_payment(world: World, amount: int, **fields: object) -> RecordStudentPayment:
    values: dict[str, object] = {"currency": "MXN", "method": "bank_transfer", **fields}
    return RecordStudentPayment(world.student.id, amount, **values)  # type: ignore[arg-type]


async def test_a_student_payment_pays_the_earliest_due_first_and_keeps_the_rest_as_credit(
    world: World,
) -> None:
    later = an_invoice(world.student, amount=mxn(5_000), due_date=TODAY + timedelta(days=20))
    earlier = an_invoice(world.student, amount=mxn(3_000), due_date=TODAY + timedelta(days=10))
    world.db.given(later, earlier)
    receipt = await _student_payments(world)(_a_student_payment(world, 10_000), OPERATOR)
    assert receipt.payments is not None
    assert [(p.invoice_id, p.amount, p.receipt_id) for p in receipt.payments] == [
        (earlier.id, mxn(3_000), receipt.id),
        (later.id, mxn(5_000), receipt.id),
    ]
    assert receipt.credited_to_balance == mxn(2_000)
    assert world.db.invoice(earlier.id).status is InvoiceStatus.PAID
    assert world.db.invoice(later.id).status is InvoiceStatus.PAID
    assert _balance(world) == 2_000
    (entry,) = world.db.committed.credit_entries.values()
    assert (entry.kind, entry.amount, entry.receipt_id) == (
        CreditKind.OVERPAYMENT,
        mxn(2_000),
        receipt.id,
    )
    assert set(world.db.committed.receipts) == {receipt.id}
    world.invalidated_after_commit()


async def test_a_student_payment_that_covers_nothing_in_full_leaves_no_credit(
    world: World,
) -> None:
    invoice_id = _given_an_open_invoice(world, 10_000)
    receipt = await _student_payments(world)(_a_student_payment(world, 4_000), OPERATOR)
    assert receipt.credited_to_balance == mxn(0)
    assert world.db.invoice(invoice_id).amount_paid == mxn(4_000)
    assert world.db.committed.credit_entries == {}
    assert _balance(world) == 0


async def test_a_student_payment_in_a_currency_without_invoices_all_becomes_credit(
    world: World,
) -> None:
    invoice_id = _given_an_open_invoice(world, 10_000)
    receipt = await _student_payments(world)(
        _a_student_payment(world, 700, currency="USD"), OPERATOR
    )
    assert receipt.payments == ()
    assert receipt.credited_to_balance == Money(700, receipt.amount.currency)
    assert _balance(world, "USD") == 700
    assert world.db.invoice(invoice_id).amount_paid == mxn(0)


async def test_a_student_payment_is_accepted_for_an_archived_student(world: World) -> None:
    archived = an_archived_student(world.school)
    world.db.given(archived)
    receipt = await _student_payments(world)(
        RecordStudentPayment(archived.id, 500, "MXN", "cash"), OPERATOR
    )
    assert receipt.student_id == archived.id
    assert world.db.committed.credit_balances[(archived.id, "MXN")] == 500


async def test_a_student_payment_from_credit_is_refused_before_any_lookup(world: World) -> None:
    with pytest.raises(InvalidValueError) as refused:
        await _student_payments(world)(_a_student_payment(world, 500, method="credit"), OPERATOR)
    assert refused.value.field == "method"
    assert world.db.units_opened == 0


async def test_a_student_payment_for_another_school_s_student_is_not_found(world: World) -> None:
    before = _snapshot(world)
    with pytest.raises(NotFoundError):
        await _student_payments(world)(_a_student_payment(world, 500), school_caller(a_school()))
    assert _nothing_changed(world, before)


# -- payouts -------------------------------------------------------------------------------------


async def test_a_payout_takes_the_credit_and_records_where_it_went(world: World) -> None:
    _given_credit(world, 1_000)
    payout = await _payouts(world)(
        PayOutCredit(world.student.id, 600, "MXN", "Moved away", "TR-1"), OPERATOR
    )
    assert _balance(world) == 400
    assert world.db.committed.payouts == {payout.id: payout}
    (entry,) = world.db.committed.credit_entries.values()
    assert (entry.kind, entry.amount, entry.payout_id) == (CreditKind.PAYOUT, mxn(600), payout.id)
    world.invalidated_after_commit()


@pytest.mark.parametrize(("held", "currency"), [(1_000, "MXN"), (5_000, "USD")])
async def test_a_payout_beyond_the_balance_in_its_currency_is_refused_and_changes_nothing(
    world: World, held: int, currency: str
) -> None:
    _given_credit(world, held)
    before = _snapshot(world)
    with pytest.raises(InsufficientCreditError):
        await _payouts(world)(PayOutCredit(world.student.id, 1_001, currency), OPERATOR)
    assert _nothing_changed(world, before)


async def test_a_payout_is_accepted_for_an_archived_student(world: World) -> None:
    archived = an_archived_student(world.school)
    world.db.given(archived)
    world.db.committed.credit_balances[(archived.id, "MXN")] = 300
    await _payouts(world)(PayOutCredit(archived.id, 300, "MXN"), OPERATOR)
    assert world.db.committed.credit_balances[(archived.id, "MXN")] == 0


# -- payments from credit ------------------------------------------------------------------------


def _from_credit(invoice_id: UUID, amount: int) -> RecordPayment:
    return RecordPayment(invoice_id=invoice_id, amount=amount, method="credit")


async def test_a_payment_from_credit_takes_the_balance_and_records_an_applied_entry(
    world: World,
) -> None:
    _given_credit(world, 3_000)
    invoice_id = _given_an_open_invoice(world, 5_000)
    payment = await world.record()(_from_credit(invoice_id, 2_000), OPERATOR)
    assert payment.method is PaymentMethod.CREDIT
    assert _balance(world) == 1_000
    assert world.db.invoice(invoice_id).amount_paid == mxn(2_000)
    (entry,) = world.db.committed.credit_entries.values()
    assert (entry.kind, entry.amount, entry.payment_id) == (
        CreditKind.APPLIED,
        mxn(2_000),
        payment.id,
    )
    world.invalidated_after_commit()


async def test_a_payment_from_more_credit_than_is_held_is_refused_and_changes_nothing(
    world: World,
) -> None:
    _given_credit(world, 3_000)
    invoice_id = _given_an_open_invoice(world, 5_000)
    before = _snapshot(world)
    with pytest.raises(InsufficientCreditError):
        await world.record()(_from_credit(invoice_id, 3_001), OPERATOR)
    assert _nothing_changed(world, before)


async def test_the_invoice_s_own_refusals_come_before_insufficient_credit(world: World) -> None:
    paid_id = _given_an_open_invoice(world, 5_000, paid=5_000)
    open_id = _given_an_open_invoice(world, 5_000)
    with pytest.raises(InvoiceNotPayableError):
        await world.record()(_from_credit(paid_id, 1), OPERATOR)
    with pytest.raises(PaymentExceedsRemainingError):
        await world.record()(_from_credit(open_id, 5_001), OPERATOR)
    with pytest.raises(InsufficientCreditError):
        await world.record()(_from_credit(open_id, 5_000), OPERATOR)


async def test_a_payment_from_credit_with_a_paid_at_is_refused_before_any_lookup(
    world: World,
) -> None:
    command = RecordPayment(invoice_id=new_id(), amount=1, method="credit", paid_at=NOW)
    with pytest.raises(InvalidValueError) as refused:
        await world.record()(command, OPERATOR)
    assert refused.value.field == "paid_at"
    assert world.db.units_opened == 0
