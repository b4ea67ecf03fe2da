"""The money lifecycle in the domain: refunds and credit notes on an invoice, and credit."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from school_payments.domain.credit import CreditAccount, Share, allocate
from school_payments.domain.entities import Invoice, InvoiceStatus, Payment, PaymentMethod
from school_payments.domain.errors import (
    CreditExceedsRemainingError,
    CurrencyMismatchError,
    InsufficientCreditError,
    InvalidValueError,
    InvoiceHasPaymentsError,
    InvoiceNotCreditableError,
    RefundExceedsPaymentError,
    TimestampInFutureError,
)
from school_payments.domain.ids import new_id
from school_payments.domain.money import Money
from tests.unit.builders import NOW, TODAY, a_student, an_invoice, mxn, usd


def _paid(invoice: Invoice, amount: int) -> Payment:
    return invoice.record_payment(
        payment_id=new_id(),
        amount=mxn(amount),
        method=PaymentMethod.CASH,
        paid_at=NOW - timedelta(hours=1),
        reference=None,
        now=NOW,
    )


def _refund(invoice: Invoice, payment: Payment, amount: int | None = None) -> Payment:
    _, refunded = invoice.refund(
        payment,
        refund_id=new_id(),
        amount=None if amount is None else mxn(amount),
        reason=None,
        refunded_at=NOW,
        now=NOW,
    )
    return refunded


def _credit(invoice: Invoice, amount: int) -> None:
    invoice.issue_credit_note(
        credit_note_id=new_id(), amount=mxn(amount), reason="Scholarship", issued_at=NOW, now=NOW
    )


def _figures(invoice: Invoice) -> tuple[InvoiceStatus, int, int, int]:
    return (
        invoice.status,
        invoice.amount_paid.amount,
        invoice.credited.amount,
        invoice.amount_remaining.amount,
    )


# -- refunds -------------------------------------------------------------------------------------


def test_a_full_refund_of_the_only_payment_moves_a_paid_invoice_back_to_pending() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _paid(invoice, 10_000)
    refunded = _refund(invoice, payment)
    assert _figures(invoice) == (InvoiceStatus.PENDING, 0, 0, 10_000)
    assert refunded.amount_refunded == mxn(10_000)
    assert refunded.refundable == mxn(0)
    assert invoice.refunded == mxn(10_000)


def test_a_partial_refund_moves_a_paid_invoice_back_to_partially_paid() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _paid(invoice, 10_000)
    refunded = _refund(invoice, payment, 2_500)
    assert _figures(invoice) == (InvoiceStatus.PARTIALLY_PAID, 7_500, 0, 2_500)
    assert refunded.refundable == mxn(7_500)


def test_a_refund_without_an_amount_gives_back_all_that_is_still_refundable() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _refund(invoice, _paid(invoice, 6_000), 1_000)
    refund, refunded = invoice.refund(
        payment, refund_id=new_id(), amount=None, reason="Left", refunded_at=NOW, now=NOW
    )
    assert refund.amount == mxn(5_000)
    assert refunded.amount_refunded == mxn(6_000)
    assert _figures(invoice) == (InvoiceStatus.PENDING, 0, 0, 10_000)


def test_the_invoice_s_payments_show_the_refunded_payment_when_they_were_loaded() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _paid(invoice, 4_000)
    refunded = _refund(invoice, payment, 1_000)
    assert invoice.payments == (refunded,)
    assert invoice.payments[0].amount_refunded == mxn(1_000)


@pytest.mark.parametrize("amount", [4_001, 10_000])
def test_a_refund_larger_than_the_payment_is_refused_and_changes_nothing(amount: int) -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _paid(invoice, 4_000)
    before = _figures(invoice)
    with pytest.raises(RefundExceedsPaymentError):
        _refund(invoice, payment, amount)
    assert _figures(invoice) == before
    assert invoice.refunded == mxn(0)


def test_a_fully_refunded_payment_refuses_any_further_refund_even_without_an_amount() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _refund(invoice, _paid(invoice, 4_000))
    with pytest.raises(RefundExceedsPaymentError, match="refunded in full"):
        _refund(invoice, payment)
    with pytest.raises(RefundExceedsPaymentError):
        _refund(invoice, payment, 1)


def test_a_refund_dated_before_its_payment_is_invalid_before_the_amount_is_judged() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _paid(invoice, 4_000)
    with pytest.raises(InvalidValueError) as refused:
        invoice.refund(
            payment,
            refund_id=new_id(),
            amount=mxn(999_999),
            reason=None,
            refunded_at=payment.paid_at - timedelta(seconds=1),
            now=NOW,
        )
    assert refused.value.field == "refunded_at"
    assert invoice.amount_paid == mxn(4_000)


def test_a_refund_dated_in_the_future_is_refused() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _paid(invoice, 4_000)
    with pytest.raises(TimestampInFutureError):
        invoice.refund(
            payment,
            refund_id=new_id(),
            amount=None,
            reason=None,
            refunded_at=NOW + timedelta(minutes=1),
            now=NOW,
        )


def test_a_refund_in_another_currency_is_a_mismatch() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _paid(invoice, 4_000)
    with pytest.raises(CurrencyMismatchError):
        invoice.refund(
            payment, refund_id=new_id(), amount=usd(1), reason=None, refunded_at=NOW, now=NOW
        )


def test_a_refund_of_a_payment_on_a_cancelled_invoice_keeps_it_cancelled() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _refund(invoice, _paid(invoice, 4_000), 4_000)
    invoice.cancel(NOW)
    assert invoice.status is InvoiceStatus.CANCELLED
    with pytest.raises(RefundExceedsPaymentError):
        _refund(invoice, payment, 1)
    assert invoice.status is InvoiceStatus.CANCELLED


# -- credit notes --------------------------------------------------------------------------------


def test_a_credit_note_for_all_that_remains_settles_an_invoice_without_money() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    _credit(invoice, 10_000)
    assert _figures(invoice) == (InvoiceStatus.PAID, 0, 10_000, 0)


def test_a_credit_note_next_to_payments_settles_what_they_left() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    _paid(invoice, 4_000)
    _credit(invoice, 6_000)
    assert _figures(invoice) == (InvoiceStatus.PAID, 4_000, 6_000, 0)


def test_a_partial_credit_note_leaves_an_unpaid_invoice_pending_with_less_to_pay() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    _credit(invoice, 3_000)
    assert _figures(invoice) == (InvoiceStatus.PENDING, 0, 3_000, 7_000)


def test_a_credit_note_larger_than_what_remains_is_refused_and_changes_nothing() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    _paid(invoice, 4_000)
    with pytest.raises(CreditExceedsRemainingError):
        _credit(invoice, 6_001)
    assert _figures(invoice) == (InvoiceStatus.PARTIALLY_PAID, 4_000, 0, 6_000)


def test_a_settled_invoice_refuses_a_credit_note_before_its_amount_is_judged() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    _paid(invoice, 10_000)
    with pytest.raises(InvoiceNotCreditableError):
        _credit(invoice, 10**9)


def test_a_cancelled_invoice_refuses_a_credit_note() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    invoice.cancel(NOW)
    with pytest.raises(InvoiceNotCreditableError):
        _credit(invoice, 1)


def test_a_credit_note_dated_before_its_invoice_is_invalid_even_on_a_settled_invoice() -> None:
    invoice = an_invoice(amount=mxn(10_000), issued_at=NOW - timedelta(days=1))
    _paid(invoice, 10_000)
    with pytest.raises(InvalidValueError) as refused:
        invoice.issue_credit_note(
            credit_note_id=new_id(),
            amount=mxn(1),
            reason="Late",
            issued_at=invoice.issued_at - timedelta(seconds=1),
            now=NOW,
        )
    assert refused.value.field == "issued_at"


def test_a_refund_after_a_credit_note_reopens_only_what_the_money_paid() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    payment = _paid(invoice, 4_000)
    _credit(invoice, 6_000)
    payment = _refund(invoice, payment, 1_500)
    assert _figures(invoice) == (InvoiceStatus.PARTIALLY_PAID, 2_500, 6_000, 1_500)
    _refund(invoice, payment)
    assert _figures(invoice) == (InvoiceStatus.PENDING, 0, 6_000, 4_000)


# -- cancelling ----------------------------------------------------------------------------------


def test_an_invoice_settled_by_credit_alone_may_be_cancelled() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    _credit(invoice, 10_000)
    assert _figures(invoice) == (InvoiceStatus.PAID, 0, 10_000, 0)
    assert invoice.cancel(NOW) is True
    assert invoice.status is InvoiceStatus.CANCELLED
    assert invoice.amount_remaining == mxn(0)


def test_an_invoice_whose_payments_were_all_refunded_may_be_cancelled() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    _refund(invoice, _paid(invoice, 3_000))
    assert invoice.cancel(NOW) is True


def test_an_invoice_still_holding_money_may_not_be_cancelled() -> None:
    invoice = an_invoice(amount=mxn(10_000))
    _refund(invoice, _paid(invoice, 3_000), 2_999)
    with pytest.raises(InvoiceHasPaymentsError):
        invoice.cancel(NOW)
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID


# -- allocation ----------------------------------------------------------------------------------


class _Owing:
    def __init__(self, remaining: int) -> None:
        self.id: UUID = new_id()
        self.amount_remaining = mxn(remaining)


def test_allocation_pays_the_invoices_in_the_order_given_and_keeps_the_rest() -> None:
    first, second = _Owing(3_000), _Owing(5_000)
    shares, left = allocate(mxn(10_000), [first, second])
    assert shares == [Share(first.id, mxn(3_000)), Share(second.id, mxn(5_000))]
    assert left == mxn(2_000)


def test_allocation_stops_part_way_through_an_invoice_when_the_money_runs_out() -> None:
    first, second, third = _Owing(3_000), _Owing(5_000), _Owing(1_000)
    shares, left = allocate(mxn(4_000), [first, second, third])
    assert shares == [Share(first.id, mxn(3_000)), Share(second.id, mxn(1_000))]
    assert left == mxn(0)


def test_allocation_skips_an_invoice_with_nothing_remaining() -> None:
    settled, owing = _Owing(0), _Owing(2_000)
    shares, left = allocate(mxn(1_500), [settled, owing])
    assert shares == [Share(owing.id, mxn(1_500))]
    assert left == mxn(0)


def test_allocation_with_no_open_invoice_keeps_everything_as_credit() -> None:
    assert allocate(mxn(700), []) == ([], mxn(700))


def test_allocation_of_real_invoices_uses_what_credit_notes_left_to_pay() -> None:
    student = a_student()
    credited = an_invoice(student, amount=mxn(10_000), due_date=TODAY)
    _credit(credited, 9_000)
    shares, left = allocate(mxn(5_000), [credited])
    assert shares == [Share(credited.id, mxn(1_000))]
    assert left == mxn(4_000)


# -- credit accounts -----------------------------------------------------------------------------


def _account(balance: int) -> CreditAccount:
    return CreditAccount(new_id(), new_id(), mxn(balance))


def test_credit_may_be_taken_down_to_exactly_zero() -> None:
    account = _account(1_000)
    account.take(mxn(400))
    account.take(mxn(600))
    assert account.balance == mxn(0)


def test_taking_more_credit_than_the_balance_is_refused_and_keeps_the_balance() -> None:
    account = _account(1_000)
    with pytest.raises(InsufficientCreditError) as refused:
        account.take(mxn(1_001))
    assert (refused.value.amount, refused.value.balance) == (1_001, 1_000)
    assert account.balance == mxn(1_000)


def test_an_empty_account_refuses_even_one_minor_unit() -> None:
    with pytest.raises(InsufficientCreditError):
        _account(0).take(mxn(1))


def test_credit_added_to_an_account_can_be_taken_again() -> None:
    account = _account(0)
    account.add(mxn(250))
    account.take(mxn(250))
    assert account.balance == Money.zero(account.balance.currency)


def test_credit_in_another_currency_cannot_be_taken_from_an_account() -> None:
    with pytest.raises(CurrencyMismatchError):
        _account(1_000).take(usd(1))
