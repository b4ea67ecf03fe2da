"""Issuing, revising and cancelling invoices, and recording payments, over in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from school_payments.application.caller import OPERATOR, Caller
from school_payments.application.commands.invoices import (
    CancelInvoice,
    CancelInvoiceHandler,
    IssueInvoice,
    IssueInvoiceHandler,
    ReviseInvoice,
    ReviseInvoiceHandler,
)
from school_payments.application.commands.payments import RecordPayment, RecordPaymentHandler
from school_payments.application.errors import IdempotencyClaimLostError
from school_payments.application.idempotency import Idempotent
from school_payments.application.ports.idempotency import IdempotencyClaim, StoredResponse
from school_payments.domain.entities import InvoiceStatus, Payment, School, Student
from school_payments.domain.errors import (
    CurrencyMismatchError,
    CurrencyRequiredError,
    InvalidAmountError,
    InvoiceHasPaymentsError,
    InvoiceNotEditableError,
    InvoiceNotPayableError,
    NotFoundError,
    PaymentExceedsRemainingError,
    StudentArchivedError,
    TimestampInFutureError,
    UnknownCurrencyError,
)
from tests.support.clock import FixedClock
from tests.unit.builders import (
    NOW,
    USD,
    a_school,
    a_student,
    an_archived_student,
    an_invoice,
    mxn,
    pay,
)
from tests.unit.fakes import FakeDatabase, FakeStatementCache, Invalidation


@dataclass
class World:
    db: FakeDatabase = field(default_factory=FakeDatabase)
    clock: FixedClock = field(default_factory=FixedClock)
    cache: FakeStatementCache = field(init=False)
    school: School = field(default_factory=a_school)
    student: Student = field(init=False)

    def __post_init__(self) -> None:
        self.cache = FakeStatementCache(self.db)
        self.student = a_student(self.school)
        self.db.given(self.school, self.student)

    def issue(self) -> IssueInvoiceHandler:
        return IssueInvoiceHandler(self.db.unit_of_work, self.cache, self.clock)

    def record(self) -> RecordPaymentHandler:
        return RecordPaymentHandler(self.db.unit_of_work, self.cache, self.clock)

    def revise(self) -> ReviseInvoiceHandler:
        return ReviseInvoiceHandler(self.db.unit_of_work, self.cache, self.clock)

    def cancel(self) -> CancelInvoiceHandler:
        return CancelInvoiceHandler(self.db.unit_of_work, self.cache, self.clock)

    def invalidated_after_commit(self) -> Invalidation:
        """The one invalidation the command made, checked to come after its commit."""
        assert len(self.cache.invalidations) == 1
        made = self.cache.invalidations[0]
        assert made.commits_before == self.db.commits >= 1
        assert made.schools == {self.school.id}
        assert made.students == {self.student.id}
        return made


@pytest.fixture
def world() -> World:
    return World()


def school_caller(school: School) -> Caller:
    return Caller(key_id=f"key-of-{school.id}", school_id=school.id)


def an_issue(student: Student, **fields: Any) -> IssueInvoice:
    values: dict[str, Any] = {
        "student_id": student.id,
        "amount": 150_000,
        "due_date": date(2026, 12, 1),
        "description": "Tuition",
    }
    values.update(fields)
    return IssueInvoice(**values)


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


# -- recording payments -------------------------------------------------------------------------


def a_payment(invoice_id: UUID, amount: int = 40_000, **fields: Any) -> RecordPayment:
    return RecordPayment(invoice_id=invoice_id, amount=amount, method="cash", **fields)


def given_an_invoice(world: World, amount: int = 100_000, paid: int = 0) -> UUID:
    invoice = an_invoice(world.student, amount=mxn(amount))
    if paid:
        pay(invoice, paid)
    world.db.given(invoice)
    return invoice.id


async def test_a_payment_is_stored_with_the_invoice_s_new_figures(world: World) -> None:
    invoice_id = given_an_invoice(world)
    payment = await world.record()(a_payment(invoice_id, reference="R-1"), OPERATOR)
    invoice = world.db.invoice(payment.invoice_id)
    assert invoice.amount_paid == mxn(40_000)
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID
    assert world.db.payments_of(invoice.id) == [payment]
    assert (payment.paid_at, payment.reference) == (NOW, "R-1")
    world.invalidated_after_commit()


async def test_the_last_payment_makes_the_invoice_paid(world: World) -> None:
    invoice_id = given_an_invoice(world, amount=100_000, paid=60_000)
    await world.record()(a_payment(invoice_id, 40_000), OPERATOR)
    assert world.db.invoice(invoice_id).status is InvoiceStatus.PAID


async def test_a_payment_larger_than_the_remaining_amount_is_refused_and_changes_nothing(
    world: World,
) -> None:
    invoice_id = given_an_invoice(world, amount=100_000, paid=60_000)
    before = world.db.invoice(invoice_id)
    with pytest.raises(PaymentExceedsRemainingError):
        await world.record()(a_payment(invoice_id, 40_001), OPERATOR)
    assert world.db.invoice(invoice_id) == before
    assert len(world.db.payments_of(invoice_id)) == 1
    assert world.cache.invalidations == []


async def test_a_payment_in_another_known_currency_is_a_mismatch(world: World) -> None:
    invoice_id = given_an_invoice(world)
    with pytest.raises(CurrencyMismatchError):
        await world.record()(a_payment(invoice_id, currency="USD"), OPERATOR)


async def test_a_paid_invoice_refuses_even_a_payment_in_another_currency(world: World) -> None:
    invoice_id = given_an_invoice(world, amount=100, paid=100)
    with pytest.raises(InvoiceNotPayableError):
        await world.record()(a_payment(invoice_id, 10**9, currency="USD"), OPERATOR)


async def test_a_payment_dated_in_the_future_is_refused_before_any_lookup(world: World) -> None:
    command = a_payment(uuid4(), paid_at=NOW + timedelta(seconds=6))
    with pytest.raises(TimestampInFutureError):
        await world.record()(command, OPERATOR)
    assert world.db.units_opened == 0


async def test_a_payment_in_an_unknown_currency_is_refused_before_any_lookup(
    world: World,
) -> None:
    with pytest.raises(UnknownCurrencyError):
        await world.record()(a_payment(uuid4(), currency="ZZZ"), OPERATOR)
    assert world.db.units_opened == 0


async def test_a_school_key_cannot_pay_another_school_s_invoice(world: World) -> None:
    invoice_id = given_an_invoice(world)
    with pytest.raises(NotFoundError):
        await world.record()(a_payment(invoice_id), school_caller(a_school()))
    assert world.db.payments_of(invoice_id) == []


async def test_a_payment_commits_together_with_its_idempotent_response(world: World) -> None:
    invoice_id = given_an_invoice(world)
    claim = IdempotencyClaim(scope="operator", key="k-1", token=uuid4())
    idempotent: Idempotent[Payment] = Idempotent(
        claim, lambda p: StoredResponse(201, str(p.id).encode())
    )
    payment = await world.record()(a_payment(invoice_id), OPERATOR, idempotent)
    assert world.db.committed.responses[("operator", "k-1")].body == str(payment.id).encode()


async def test_a_payment_whose_idempotency_claim_was_lost_is_rolled_back(world: World) -> None:
    invoice_id = given_an_invoice(world)
    claim = IdempotencyClaim(scope="operator", key="k-1", token=uuid4())
    world.db.lost_claims.add(claim.token)
    idempotent: Idempotent[Payment] = Idempotent(claim, lambda p: StoredResponse(201, b"{}"))
    with pytest.raises(IdempotencyClaimLostError):
        await world.record()(a_payment(invoice_id), OPERATOR, idempotent)
    assert world.db.payments_of(invoice_id) == []
    assert world.db.invoice(invoice_id).status is InvoiceStatus.PENDING
    assert world.cache.invalidations == []


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
