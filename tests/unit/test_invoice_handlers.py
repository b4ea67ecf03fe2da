"""Issuing, revising and cancelling invoices, over in-memory fakes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from school_payments.application.caller import OPERATOR
from school_payments.application.commands.invoices import (
    CancelInvoice,
    ReviseInvoice,
)
from school_payments.domain.entities import InvoiceStatus
from school_payments.domain.errors import (
    CurrencyRequiredError,
    InvalidAmountError,
    InvoiceHasPaymentsError,
    InvoiceNotEditableError,
    NotFoundError,
    StudentArchivedError,
    TimestampInFutureError,
    UnknownCurrencyError,
)
from tests.unit.billing_world import World, an_issue, given_an_invoice, school_caller
from tests.unit.builders import (
    NOW,
    USD,
    a_school,
    a_student,
    an_archived_student,
    mxn,
)


@pytest.fixture
def world() -> World:
    return World()


# -- issuing ------------------------------------------------------------------------------------


async def test_an_invoice_without_currency_is_issued_in_the_school_s_default(world: World) -> None:
    view = await world.issue()(an_issue(world.student), OPERATOR)
    stored = world.db.invoice(view.invoice.id)
    assert stored.amount == mxn(150_000)
    assert stored.status is InvoiceStatus.PENDING
    assert (stored.issued_at, view.day) == (NOW, NOW.date())
    world.invalidated_after_commit()


async def test_an_invoice_s_own_currency_wins_over_the_school_s_default(world: World) -> None:
    view = await world.issue()(an_issue(world.student, currency="USD"), OPERATOR)
    assert world.db.invoice(view.invoice.id).currency == USD


async def test_without_a_currency_or_a_school_default_the_invoice_is_refused() -> None:
    world = World(school=a_school(default_currency=None))
    with pytest.raises(CurrencyRequiredError):
        await world.issue()(an_issue(world.student), OPERATOR)
    assert world.db.committed.invoices == {}
    assert world.cache.invalidations == []


async def test_an_invoice_issued_in_the_future_is_refused_before_any_lookup(world: World) -> None:
    command = an_issue(a_student(), issued_at=NOW + timedelta(minutes=1))  # an unknown student
    with pytest.raises(TimestampInFutureError):
        await world.issue()(command, OPERATOR)
    assert world.db.units_opened == 0


async def test_an_unknown_currency_is_refused_before_any_lookup(world: World) -> None:
    with pytest.raises(UnknownCurrencyError):
        await world.issue()(an_issue(a_student(), currency="XYZ"), OPERATOR)
    assert world.db.units_opened == 0


async def test_an_invoice_with_an_invalid_amount_is_refused_and_nothing_is_stored(
    world: World,
) -> None:
    with pytest.raises(InvalidAmountError):
        await world.issue()(an_issue(world.student, amount=0), OPERATOR)
    assert world.db.committed.invoices == {}


async def test_an_archived_student_cannot_be_invoiced(world: World) -> None:
    archived = an_archived_student(world.school)
    world.db.given(archived)
    with pytest.raises(StudentArchivedError):
        await world.issue()(an_issue(archived), OPERATOR)
    assert world.db.committed.invoices == {}


async def test_a_school_key_cannot_invoice_another_school_s_student(world: World) -> None:
    with pytest.raises(NotFoundError):
        await world.issue()(an_issue(world.student), school_caller(a_school()))
    assert world.db.committed.invoices == {}


# -- revising and cancelling --------------------------------------------------------------------


async def test_revising_an_open_invoice_changes_only_what_was_sent(world: World) -> None:
    invoice_id = given_an_invoice(world)
    world.clock.advance(hours=1)
    view = await world.revise()(ReviseInvoice(invoice_id, due_date=date(2027, 1, 5)), OPERATOR)
    stored = world.db.invoice(invoice_id)
    assert (stored.due_date, stored.description) == (date(2027, 1, 5), "Tuition")
    assert stored.updated_at == NOW + timedelta(hours=1)
    assert view.invoice.payments == ()
    world.invalidated_after_commit()


async def test_a_paid_invoice_cannot_be_revised(world: World) -> None:
    invoice_id = given_an_invoice(world, amount=100, paid=100)
    with pytest.raises(InvoiceNotEditableError):
        await world.revise()(ReviseInvoice(invoice_id, description="new"), OPERATOR)
    assert world.db.invoice(invoice_id).description == "Tuition"
    assert world.cache.invalidations == []


async def test_cancelling_a_pending_invoice_stores_it_cancelled(world: World) -> None:
    invoice_id = given_an_invoice(world)
    view = await world.cancel()(CancelInvoice(invoice_id), OPERATOR)
    stored = world.db.invoice(invoice_id)
    assert stored.status is InvoiceStatus.CANCELLED
    assert view.invoice.amount_remaining == mxn(0)
    world.invalidated_after_commit()


async def test_cancelling_a_cancelled_invoice_changes_nothing_and_invalidates_nothing(
    world: World,
) -> None:
    invoice_id = given_an_invoice(world)
    await world.cancel()(CancelInvoice(invoice_id), OPERATOR)
    first = world.db.invoice(invoice_id)
    commits = world.db.commits
    world.clock.advance(hours=2)
    view = await world.cancel()(CancelInvoice(invoice_id), OPERATOR)
    assert view.invoice.cancelled_at == first.cancelled_at == NOW
    assert world.db.commits == commits
    assert len(world.cache.invalidations) == 1


async def test_an_invoice_with_payments_cannot_be_cancelled(world: World) -> None:
    invoice_id = given_an_invoice(world, paid=1)
    with pytest.raises(InvoiceHasPaymentsError):
        await world.cancel()(CancelInvoice(invoice_id), OPERATOR)
    assert world.db.invoice(invoice_id).status is InvoiceStatus.PARTIALLY_PAID
