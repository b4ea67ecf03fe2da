"""Recording payments on one invoice, over in-memory fakes."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from school_payments.application.caller import OPERATOR
from school_payments.application.errors import IdempotencyClaimLostError
from school_payments.application.ports.idempotency_store import Created, IdempotencyClaim
from school_payments.domain.entities import InvoiceStatus
from school_payments.domain.errors import (
    CurrencyMismatchError,
    InvoiceNotPayableError,
    NotFoundError,
    PaymentExceedsRemainingError,
    TimestampInFutureError,
    UnknownCurrencyError,
)
from tests.unit.billing_world import World, a_payment, given_an_invoice, school_caller
from tests.unit.builders import (
    NOW,
    a_school,
    mxn,
)


@pytest.fixture
def world() -> World:
    return World()


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


async def test_a_payment_commits_together_with_its_idempotency_record(world: World) -> None:
    invoice_id = given_an_invoice(world)
    claim = IdempotencyClaim(scope="operator", key="k-1", token=uuid4())
    payment = await world.record()(a_payment(invoice_id), OPERATOR, claim)
    assert world.db.committed.outcomes[("operator", "k-1")] == Created(payment)


async def test_a_payment_whose_idempotency_claim_was_lost_is_rolled_back(world: World) -> None:
    invoice_id = given_an_invoice(world)
    claim = IdempotencyClaim(scope="operator", key="k-1", token=uuid4())
    world.db.lost_claims.add(claim.token)
    with pytest.raises(IdempotencyClaimLostError):
        await world.record()(a_payment(invoice_id), OPERATOR, claim)
    assert world.db.payments_of(invoice_id) == []
    assert world.db.invoice(invoice_id).status is InvoiceStatus.PENDING
    assert world.cache.invalidations == []
