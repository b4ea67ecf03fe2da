"""The invoice state machine: PENDING → PARTIALLY_PAID → PAID, PENDING → CANCELLED."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from school_payments.domain.entities import InvoiceStatus, PaymentMethod, StudentStatus
from school_payments.domain.errors import (
    CurrencyMismatchError,
    InvoiceHasPaymentsError,
    InvoiceNotEditableError,
    InvoiceNotPayableError,
    PaymentExceedsRemainingError,
    StudentArchivedError,
    TimestampInFutureError,
)
from school_payments.domain.ids import new_id
from tests.unit.builders import (
    NOW,
    TODAY,
    a_cancelled_invoice,
    a_paid_invoice,
    a_student,
    an_archived_student,
    an_invoice,
    mxn,
    pay,
    usd,
)

# -- issuing ------------------------------------------------------------------------------------


def test_a_new_invoice_is_pending_with_nothing_paid() -> None:
    invoice = an_invoice(amount=mxn(150_000))
    assert invoice.status is InvoiceStatus.PENDING
    assert invoice.amount_paid == mxn(0)
    assert invoice.amount_remaining == mxn(150_000)
    assert invoice.currency.code == "MXN"


def test_an_invoice_belongs_to_its_student_and_their_school() -> None:
    student = a_student()
    invoice = an_invoice(student)
    assert (invoice.student_id, invoice.school_id) == (student.id, student.school_id)


def test_an_archived_student_cannot_be_invoiced() -> None:
    with pytest.raises(StudentArchivedError):
        an_invoice(an_archived_student())


def test_an_invoice_issued_in_the_future_is_refused() -> None:
    with pytest.raises(TimestampInFutureError):
        an_invoice(issued_at=NOW + timedelta(minutes=1))


def test_archiving_a_student_is_done_once_and_keeps_the_first_date() -> None:
    student = a_student()
    student.archive(NOW)
    student.archive(NOW + timedelta(days=1))
    assert student.status is StudentStatus.ARCHIVED
    assert student.archived_at == NOW


# -- paying -------------------------------------------------------------------------------------


def test_a_partial_payment_makes_the_invoice_partially_paid() -> None:
    invoice = an_invoice(amount=mxn(100_000))
    pay(invoice, 30_000)
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID
    assert (invoice.amount_paid, invoice.amount_remaining) == (mxn(30_000), mxn(70_000))


def test_paying_the_rest_makes_the_invoice_paid() -> None:
    invoice = an_invoice(amount=mxn(100_000))
    pay(invoice, 30_000)
    pay(invoice, 70_000)
    assert invoice.status is InvoiceStatus.PAID
    assert invoice.amount_remaining == mxn(0)


def test_a_payment_is_recorded_with_the_invoice_s_ids_and_listed_on_it() -> None:
    invoice = an_invoice()
    payment = invoice.record_payment(
        payment_id=new_id(),
        amount=mxn(500),
        method=PaymentMethod.BANK_TRANSFER,
        paid_at=NOW - timedelta(hours=1),
        reference="SPEI 123",
        now=NOW,
    )
    assert (payment.invoice_id, payment.student_id, payment.school_id) == (
        invoice.id,
        invoice.student_id,
        invoice.school_id,
    )
    assert payment.paid_at == NOW - timedelta(hours=1)
    assert invoice.payments == (payment,)


def test_a_payment_larger_than_the_remaining_amount_is_refused_and_changes_nothing() -> None:
    invoice = an_invoice(amount=mxn(100_000))
    pay(invoice, 60_000)
    with pytest.raises(PaymentExceedsRemainingError) as refused:
        pay(invoice, 40_001)
    assert (refused.value.amount, refused.value.remaining) == (40_001, 40_000)
    assert invoice.amount_paid == mxn(60_000)
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID
    assert invoice.payments is not None
    assert len(invoice.payments) == 1


def test_a_payment_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatchError):
        pay(an_invoice(amount=mxn(100_000)), usd(100))


def test_a_paid_invoice_accepts_no_payment() -> None:
    with pytest.raises(InvoiceNotPayableError):
        pay(a_paid_invoice(), 1)


def test_a_cancelled_invoice_accepts_no_payment() -> None:
    with pytest.raises(InvoiceNotPayableError):
        pay(a_cancelled_invoice(), 1)


def test_not_payable_is_reported_before_a_currency_mismatch() -> None:
    with pytest.raises(InvoiceNotPayableError):
        pay(a_paid_invoice(), usd(10**9))


def test_a_currency_mismatch_is_reported_before_an_excessive_amount() -> None:
    with pytest.raises(CurrencyMismatchError):
        pay(an_invoice(amount=mxn(100)), usd(10**9))


def test_a_payment_dated_in_the_future_is_refused() -> None:
    with pytest.raises(TimestampInFutureError):
        pay(an_invoice(), 100, paid_at=NOW + timedelta(seconds=6))


def test_payments_on_an_archived_student_s_invoice_are_accepted() -> None:
    student = a_student()
    invoice = an_invoice(student)
    student.archive(NOW)
    pay(invoice, 100)
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID


# -- cancelling ---------------------------------------------------------------------------------


def test_a_pending_invoice_can_be_cancelled_and_then_owes_nothing() -> None:
    invoice = an_invoice(amount=mxn(100_000))
    assert invoice.cancel(NOW) is True
    assert invoice.status is InvoiceStatus.CANCELLED
    assert invoice.cancelled_at == NOW
    assert invoice.amount_remaining == mxn(0)


def test_cancelling_twice_is_a_no_op_that_keeps_the_first_cancellation() -> None:
    invoice = an_invoice()
    invoice.cancel(NOW)
    assert invoice.cancel(NOW + timedelta(hours=1)) is False
    assert invoice.cancelled_at == NOW
    assert invoice.updated_at == NOW


def test_an_invoice_with_a_payment_cannot_be_cancelled() -> None:
    invoice = an_invoice()
    pay(invoice, 1)
    with pytest.raises(InvoiceHasPaymentsError):
        invoice.cancel(NOW)
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID


def test_a_paid_invoice_cannot_be_cancelled() -> None:
    with pytest.raises(InvoiceHasPaymentsError):
        a_paid_invoice().cancel(NOW)


# -- revising -----------------------------------------------------------------------------------


def test_an_open_invoice_can_change_its_description_and_due_date() -> None:
    invoice = an_invoice()
    pay(invoice, 1)
    invoice.revise(description="Tuition, December", due_date=date(2027, 1, 10), now=NOW)
    assert (invoice.description, invoice.due_date) == ("Tuition, December", date(2027, 1, 10))


def test_revising_only_the_description_keeps_the_due_date() -> None:
    invoice = an_invoice(due_date=date(2026, 12, 1))
    invoice.revise(description="Books", due_date=None, now=NOW)
    assert (invoice.description, invoice.due_date) == ("Books", date(2026, 12, 1))


@pytest.mark.parametrize("closed", [a_paid_invoice, a_cancelled_invoice])
def test_a_paid_or_cancelled_invoice_cannot_be_revised(closed: object) -> None:
    invoice = closed()  # type: ignore[operator]
    with pytest.raises(InvoiceNotEditableError):
        invoice.revise(description="changed", due_date=None, now=NOW)
    assert invoice.description == "Tuition"


# -- overdue ------------------------------------------------------------------------------------


def test_an_invoice_due_today_is_not_overdue() -> None:
    invoice = an_invoice(due_date=TODAY)
    assert invoice.status_on(TODAY) is InvoiceStatus.PENDING
    assert invoice.days_overdue_on(TODAY) == 0


def test_an_open_invoice_past_its_due_date_reads_overdue_with_its_days_late() -> None:
    invoice = an_invoice(due_date=TODAY)
    pay(invoice, 1)
    later = TODAY + timedelta(days=31)
    assert invoice.status_on(later) is InvoiceStatus.OVERDUE
    assert invoice.days_overdue_on(later) == 31
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID  # OVERDUE is never stored


@pytest.mark.parametrize("closed", [a_paid_invoice, a_cancelled_invoice])
def test_paid_and_cancelled_invoices_are_never_overdue(closed: object) -> None:
    invoice = closed()  # type: ignore[operator]
    long_after = invoice.due_date + timedelta(days=365)
    assert invoice.status_on(long_after) is not InvoiceStatus.OVERDUE
    assert invoice.days_overdue_on(long_after) == 0


# -- invariants under any sequence of payments --------------------------------------------------


@given(
    amount=st.integers(min_value=1, max_value=10**12),
    attempts=st.lists(st.integers(min_value=1, max_value=10**12), max_size=30),
    fractions=st.lists(st.fractions(min_value=0, max_value=1), max_size=30),
)
def test_no_sequence_of_payments_overpays_an_invoice_or_breaks_its_status(
    amount: int, attempts: list[int], fractions: list[object]
) -> None:
    invoice = an_invoice(amount=mxn(amount))
    # Mix arbitrary amounts with ones sized to what remains, so invoices do get paid off.
    tries = attempts + [max(1, int(f * amount)) for f in fractions]  # type: ignore[operator]
    accepted: list[int] = []
    for attempt in tries:
        before = (invoice.amount_paid, invoice.status)
        try:
            pay(invoice, attempt)
        except (PaymentExceedsRemainingError, InvoiceNotPayableError):
            assert (invoice.amount_paid, invoice.status) == before
        else:
            accepted.append(attempt)
        paid = invoice.amount_paid.amount
        assert 0 <= paid <= amount
        assert paid == sum(accepted)
        assert invoice.amount_remaining.amount == amount - paid
        expected = (
            InvoiceStatus.PENDING
            if paid == 0
            else InvoiceStatus.PAID
            if paid == amount
            else InvoiceStatus.PARTIALLY_PAID
        )
        assert invoice.status is expected
    assert invoice.payments is not None
    assert [p.amount.amount for p in invoice.payments] == accepted
