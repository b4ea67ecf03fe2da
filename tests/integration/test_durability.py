"""PostgreSQL itself keeps an invoice's amount_paid equal to the sum of its payments (at commit).

CHECK constraints hold each row (tests/integration/test_database_guards.py); the rule across the
two tables is a deferred constraint trigger (migration 0002), checked when the transaction
commits, so a payment and its amount_paid may be written in either order inside one transaction.
On SQLite, which has no deferred triggers, reconciliation is what finds the same mistake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.migrations import downgrade, upgrade
from school_payments.adapters.persistence.reconcile import reconcile
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import FixedClock
from tests.support.databases import sqlite_copy

_PAYMENT_BESIDE_THE_APPLICATION = text(
    "INSERT INTO payments (id, invoice_id, school_id, student_id, currency, amount, paid_at,"
    " method, created_at) SELECT :payment_id, id, school_id, student_id, currency, :amount,"
    " created_at, 'cash', created_at FROM invoices WHERE id = :invoice_id"
)
_MOVE_AMOUNT_PAID = text(
    "UPDATE invoices SET amount_paid = amount_paid + :amount,"
    " status = CASE WHEN amount_paid + :amount = amount THEN 'PAID' ELSE 'PARTIALLY_PAID' END"
    " WHERE id = :invoice_id"
)
_TRIGGERS = text(
    "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'payments_add_up%' ORDER BY tgname"
)
PAYMENT_ID = "01a20c0e-3763-70c0-8427-b70767570684"


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    found = create_async_engine(pg_url)
    yield found
    await found.dispose()


async def _invoice(api: Api, amount: int = 1_000) -> dict[str, Any]:
    school = await api.school()
    student = await api.student(school["id"])
    return await api.invoice(student["id"], amount=amount)


async def _payments_of(api: Api, invoice_id: str) -> tuple[int, list[int]]:
    found = (await api.get(f"/api/v1/invoices/{invoice_id}")).json()
    return found["amount_paid"], [p["amount"] for p in found["payments"]]


async def test_a_payment_that_does_not_move_amount_paid_is_refused_at_commit(
    pg_api: Api, engine: AsyncEngine
) -> None:
    invoice = await _invoice(pg_api)
    values = {"payment_id": PAYMENT_ID, "invoice_id": invoice["id"], "amount": 300}
    async with engine.connect() as connection:
        await connection.begin()
        await connection.execute(_PAYMENT_BESIDE_THE_APPLICATION, values)  # accepted for now
        with pytest.raises(IntegrityError, match=r"paid 0, .* but its records add up to paid 300,"):
            await connection.commit()
    assert await _payments_of(pg_api, invoice["id"]) == (0, [])


async def test_an_amount_paid_moved_without_a_payment_is_refused_at_commit(
    pg_api: Api, engine: AsyncEngine
) -> None:
    invoice = await _invoice(pg_api)
    await pg_api.payment(invoice["id"], amount=400)
    with pytest.raises(IntegrityError, match=r"paid 500, .* but its records add up to paid 400,"):
        async with engine.begin() as connection:
            await connection.execute(
                _MOVE_AMOUNT_PAID, {"invoice_id": invoice["id"], "amount": 100}
            )
    assert await _payments_of(pg_api, invoice["id"]) == (400, [400])


async def test_an_invoice_inserted_already_paid_without_payments_is_refused_at_commit(
    pg_api: Api, engine: AsyncEngine
) -> None:
    invoice = await _invoice(pg_api)
    copy = text(
        "INSERT INTO invoices (id, school_id, student_id, description, currency, amount,"
        " amount_paid, status, due_date, issued_at, created_at, updated_at)"
        " SELECT :new_id, school_id, student_id, description, currency, amount, amount, 'PAID',"
        " due_date, issued_at, created_at, updated_at FROM invoices WHERE id = :invoice_id"
    )
    with pytest.raises(IntegrityError, match="records add up to paid 0,"):
        async with engine.begin() as connection:
            await connection.execute(copy, {"new_id": PAYMENT_ID, "invoice_id": invoice["id"]})


@pytest.mark.parametrize("payment_first", [True, False], ids=["payment first", "amount first"])
async def test_a_payment_and_its_amount_paid_commit_together_in_either_order(
    pg_api: Api, engine: AsyncEngine, payment_first: bool
) -> None:
    invoice = await _invoice(pg_api)
    values = {"payment_id": PAYMENT_ID, "invoice_id": invoice["id"], "amount": 1_000}
    writes = [_PAYMENT_BESIDE_THE_APPLICATION, _MOVE_AMOUNT_PAID]
    async with engine.begin() as connection:
        for statement in writes if payment_first else reversed(writes):
            await connection.execute(statement, values)
    assert await _payments_of(pg_api, invoice["id"]) == (1_000, [1_000])


async def test_payments_through_the_api_still_commit_with_the_check_in_place(
    pg_api: Api, pg_url: str
) -> None:
    invoice = await _invoice(pg_api, amount=10_000)
    path = f"/api/v1/invoices/{invoice['id']}/payments"
    responses = await asyncio.gather(
        *(pg_api.post(path, json={"amount": 1_500, "method": "card"}) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [201] * 6 + [409] * 2
    paid, amounts = await _payments_of(pg_api, invoice["id"])
    assert paid == sum(amounts) == 9_000
    database = Database(DatabaseSettings(url=pg_url))
    try:
        assert await reconcile(database) == []
    finally:
        await database.dispose()


async def test_the_check_goes_away_with_its_migration_and_comes_back(
    pg_api: Api, engine: AsyncEngine, pg_url: str
) -> None:
    async with engine.connect() as connection:
        assert len((await connection.execute(_TRIGGERS)).all()) == 3
    # Made first: on a schema that is behind, the service answers only schema_not_ready.
    invoice = await _invoice(pg_api)
    await asyncio.to_thread(downgrade, pg_url, "0001")
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(_TRIGGERS)).all() == []
        async with engine.begin() as connection:  # nothing stops the mistake without it
            await connection.execute(
                _PAYMENT_BESIDE_THE_APPLICATION,
                {"payment_id": PAYMENT_ID, "invoice_id": invoice["id"], "amount": 1},
            )
    finally:
        await asyncio.to_thread(upgrade, pg_url)
    async with engine.connect() as connection:
        assert len((await connection.execute(_TRIGGERS)).all()) == 3
        # The mistake committed meanwhile is what reconciliation is for.
    database = Database(DatabaseSettings(url=pg_url))
    try:
        found = await reconcile(database)
    finally:
        await database.dispose()
    assert [(d.check, d.subject) for d in found] == [
        ("invoice_paid_equals_payments", invoice["id"])
    ]


async def test_on_sqlite_reconciliation_finds_a_payment_that_did_not_move_amount_paid(
    sqlite_template: Path, tmp_path: Path, clock: FixedClock
) -> None:
    url = sqlite_copy(sqlite_template, tmp_path)
    async with running_api(settings_for(url), clock) as api:
        invoice = await _invoice(api)
    database = Database(DatabaseSettings(url=url))
    try:
        async with database.transaction() as q:  # SQLite stores UUIDs as 32 hex digits
            await q.execute(
                _PAYMENT_BESIDE_THE_APPLICATION,
                {
                    "payment_id": PAYMENT_ID.replace("-", ""),
                    "invoice_id": invoice["id"].replace("-", ""),
                    "amount": 300,
                },
            )
            await q.connection.commit()
        found = await reconcile(database)
    finally:
        await database.dispose()
    assert [(d.check, d.subject) for d in found] == [
        ("invoice_paid_equals_payments", invoice["id"])
    ]
