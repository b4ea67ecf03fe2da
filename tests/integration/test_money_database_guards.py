"""The database itself refuses broken money records of the lifecycle, whatever the application does.

Raw SQL, bypassing the application: CHECKs and immutability hold on PostgreSQL and SQLite; the
deferred checks that every figure equals what its records add up to are PostgreSQL's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.support.api import Api
from tests.support.money_records import broken_invariants, read_money_records


@dataclass(frozen=True)
class Given:
    """One of each money record, made through the API."""

    invoice_id: str
    payment_id: str
    sql: dict[str, str]
    """The invoice's and the cash payment's ids as the dialect stores them."""


async def _every_record(api: Api, dialect: str) -> Given:
    """A student with USD credit (a receipt, less a payout) and an MXN invoice of 1,000 paid 400
    by cash (100 refunded) and 300 from credit (50 refunded to the credit), credited 200."""
    school = await api.school()
    student = await api.student(school["id"])
    for amount, currency in ((700, "USD"), (500, "MXN")):
        receipt = await api.post(
            f"/api/v1/students/{student['id']}/payments",
            json={"amount": amount, "currency": currency, "method": "cash"},
        )
        assert receipt.status_code == 201, receipt.text
    payout = await api.post(
        f"/api/v1/students/{student['id']}/credit/payouts", json={"amount": 100, "currency": "USD"}
    )
    assert payout.status_code == 201, payout.text
    invoice = await api.invoice(student["id"], amount=1_000)
    cash = await api.payment(invoice["id"], amount=400)
    credit = await api.payment(invoice["id"], amount=300, method="credit")
    for payment, amount in ((cash, 100), (credit, 50)):
        refund = await api.post(
            f"/api/v1/payments/{payment['id']}/refunds", json={"amount": amount}
        )
        assert refund.status_code == 201, refund.text
    note = await api.post(
        f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"amount": 200, "reason": "Aid"}
    )
    assert note.status_code == 201, note.text
    after = (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert (after["amount_paid"], after["amount_credited"]) == (550, 200)

    def stored(value: str) -> str:
        return value if dialect == "postgresql" else value.replace("-", "")

    return Given(
        invoice["id"],
        cash["id"],
        {"invoice": stored(invoice["id"]), "payment": stored(cash["id"])},
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    found = create_async_engine(database_url)
    try:
        yield found
    finally:
        await found.dispose()


async def _execute(engine: AsyncEngine, statement: str, values: dict[str, Any]) -> None:
    await _execute_together(engine, [statement], values)


async def _execute_together(
    engine: AsyncEngine, statements: list[str], values: dict[str, Any]
) -> None:
    """Runs the statements in one transaction (a new record id at hand as `:new`)."""
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement), {**values, "new": str(uuid4())})


async def _unchanged(api: Api, database_url: str, given: Given) -> None:
    """Every record still adds up, and the invoice shows the figures it had."""
    assert broken_invariants(await read_money_records(database_url)) == []
    after = (await api.get(f"/api/v1/invoices/{given.invoice_id}")).json()
    assert (after["amount_paid"], after["amount_credited"], after["status"]) == (
        550,
        200,
        "PARTIALLY_PAID",
    )


def _dialect(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


# -- on both databases ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE payments SET amount_refunded = amount + 1 WHERE id = :payment",
        "UPDATE invoices SET amount_credited = amount_credited + 251 WHERE id = :invoice",
        "UPDATE invoices SET amount_paid = amount_paid + 251 WHERE id = :invoice",
        "UPDATE invoices SET amount_credited = -1 WHERE id = :invoice",
        "UPDATE invoices SET status = 'PAID' WHERE id = :invoice",
        "UPDATE invoices SET status = 'PENDING' WHERE id = :invoice",
        "UPDATE credit_balances SET balance = -1",
    ],
    ids=[
        "over-refunded payment",
        "invoice credited past its amount",
        "invoice paid past its amount",
        "negative credited",
        "PAID while money is owed",
        "PENDING while money is held",
        "negative credit balance",
    ],
)
async def test_the_database_refuses_figures_beyond_their_bounds(
    api: Api, database_url: str, engine: AsyncEngine, statement: str
) -> None:
    given = await _every_record(api, _dialect(database_url))
    with pytest.raises(IntegrityError):
        await _execute(engine, statement, given.sql)
    await _unchanged(api, database_url, given)


@pytest.mark.parametrize(
    "table", ["refunds", "credit_notes", "receipts", "credit_payouts", "credit_entries"]
)
@pytest.mark.parametrize(
    "statement", ["UPDATE {table} SET created_at = created_at", "DELETE FROM {table}"]
)
async def test_the_database_refuses_to_change_or_delete_a_money_record(
    api: Api, database_url: str, engine: AsyncEngine, table: str, statement: str
) -> None:
    given = await _every_record(api, _dialect(database_url))
    with pytest.raises(DBAPIError, match="immutable"):
        await _execute(engine, statement.format(table=table), given.sql)
    await _unchanged(api, database_url, given)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE payments SET reference = 'changed' WHERE id = :payment",
        "UPDATE payments SET method = 'card' WHERE id = :payment",
        "UPDATE payments SET amount = amount + 1, amount_refunded = amount_refunded + 1"
        " WHERE id = :payment",
        "UPDATE payments SET amount_refunded = amount_refunded - 1 WHERE id = :payment",
        "UPDATE payments SET amount_refunded = 0 WHERE id = :payment",
    ],
    ids=["reference", "method", "amount with refunded", "refunded down by one", "refunded reset"],
)
async def test_a_payment_changes_in_nothing_but_a_growing_refunded_amount(
    api: Api, database_url: str, engine: AsyncEngine, statement: str
) -> None:
    given = await _every_record(api, _dialect(database_url))
    with pytest.raises(DBAPIError, match="immutable"):
        await _execute(engine, statement, given.sql)
    await _unchanged(api, database_url, given)


# -- PostgreSQL's deferred checks: every figure is what its records add up to --------------------

_REFUND_ROW = (
    "INSERT INTO refunds (id, school_id, student_id, invoice_id, payment_id, currency, amount,"
    " refunded_at, created_at) SELECT :new, school_id, student_id, invoice_id, id, currency, 1,"
    " paid_at, created_at FROM payments WHERE id = :payment"
)
_CREDIT_NOTE_ROW = (
    "INSERT INTO credit_notes (id, school_id, student_id, invoice_id, currency, amount, reason,"
    " issued_at, created_at) SELECT :new, school_id, student_id, id, currency, 1, 'Aid',"
    " issued_at, created_at FROM invoices WHERE id = :invoice"
)
_CREDIT_ENTRY_ROW = (
    "INSERT INTO credit_entries (id, school_id, student_id, currency, amount, direction, kind,"
    " receipt_id, effective_at, created_at) SELECT :new, school_id, student_id, currency, 1,"
    " 'in', 'overpayment', id, paid_at, created_at FROM receipts WHERE currency = 'USD'"
)
_PAYMENT_REFUNDED_ONE_MORE = (
    "UPDATE payments SET amount_refunded = amount_refunded + 1 WHERE id = :payment"
)
_INVOICE_REFUNDED_ONE_MORE = (
    "UPDATE invoices SET amount_paid = amount_paid - 1, amount_refunded = amount_refunded + 1"
    " WHERE id = :invoice"
)


@pytest.mark.parametrize(
    "statements",
    [
        [_REFUND_ROW],
        [_REFUND_ROW, _PAYMENT_REFUNDED_ONE_MORE],
        [_REFUND_ROW, _INVOICE_REFUNDED_ONE_MORE],
        [_PAYMENT_REFUNDED_ONE_MORE, _INVOICE_REFUNDED_ONE_MORE],
        [_CREDIT_NOTE_ROW],
        ["UPDATE invoices SET amount_credited = amount_credited + 1 WHERE id = :invoice"],
        ["UPDATE invoices SET amount_paid = amount_paid - 1 WHERE id = :invoice"],
        [_CREDIT_ENTRY_ROW],
        ["UPDATE credit_balances SET balance = balance + 1 WHERE currency = 'USD'"],
    ],
    ids=[
        "a refund row alone",
        "a refund moving its payment but not its invoice",
        "a refund moving its invoice but not its payment",
        "refunded figures without a refund",
        "a credit note row alone",
        "credited without a credit note",
        "paid without a payment",
        "a credit entry without its balance",
        "a balance without an entry",
    ],
)
async def test_the_database_refuses_at_commit_a_figure_that_its_records_do_not_add_up_to(
    pg_api: Api, pg_url: str, statements: list[str]
) -> None:
    given = await _every_record(pg_api, "postgresql")
    engine = create_async_engine(pg_url)
    try:
        with pytest.raises(IntegrityError, match="add up"):
            await _execute_together(engine, statements, given.sql)
    finally:
        await engine.dispose()
    await _unchanged(pg_api, pg_url, given)


async def test_the_deferred_checks_accept_a_refund_written_by_hand_with_every_figure_moved(
    pg_api: Api, pg_url: str
) -> None:
    given = await _every_record(pg_api, "postgresql")
    engine = create_async_engine(pg_url)
    try:
        await _execute_together(
            engine, [_REFUND_ROW, _PAYMENT_REFUNDED_ONE_MORE, _INVOICE_REFUNDED_ONE_MORE], given.sql
        )
    finally:
        await engine.dispose()
    assert broken_invariants(await read_money_records(pg_url)) == []
    after = (await pg_api.get(f"/api/v1/invoices/{given.invoice_id}")).json()
    assert after["amount_paid"] == 549
