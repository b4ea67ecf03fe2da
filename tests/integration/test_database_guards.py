"""The database itself refuses broken money, whatever the application does."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.api import Api


async def _paid_invoice(api: Api) -> dict[str, Any]:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=1_000)
    await api.payment(invoice["id"], amount=400)
    return invoice


def _hex(value: str, dialect: str) -> str:
    return value if dialect == "postgresql" else value.replace("-", "")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE invoices SET amount_paid = amount + 1 WHERE id = :id",
        "UPDATE invoices SET amount_paid = -1 WHERE id = :id",
        "UPDATE invoices SET status = 'PAID' WHERE id = :id",
        "UPDATE invoices SET status = 'CANCELLED', cancelled_at = updated_at WHERE id = :id",
        "UPDATE invoices SET amount = 0 WHERE id = :id",
    ],
)
async def test_the_database_refuses_an_invoice_whose_money_does_not_add_up(
    api: Api, database_url: str, statement: str
) -> None:
    invoice = await _paid_invoice(api)
    engine = create_async_engine(database_url)
    try:
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(
                    text(statement), {"id": _hex(invoice["id"], engine.dialect.name)}
                )
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE payments SET amount = amount + 1 WHERE invoice_id = :id",
        "DELETE FROM payments WHERE invoice_id = :id",
    ],
)
async def test_the_database_refuses_to_change_or_delete_a_payment(
    api: Api, database_url: str, statement: str
) -> None:
    invoice = await _paid_invoice(api)
    engine = create_async_engine(database_url)
    try:
        with pytest.raises(DBAPIError, match="immutable"):
            async with engine.begin() as connection:
                await connection.execute(
                    text(statement), {"id": _hex(invoice["id"], engine.dialect.name)}
                )
    finally:
        await engine.dispose()
    after = (await api.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert [p["amount"] for p in after["payments"]] == [400]


_FOREIGN_PAYMENT = text(
    "INSERT INTO payments (id, invoice_id, school_id, student_id, currency, amount, paid_at,"
    " method, created_at) SELECT :pid, id, :other, student_id, currency, 1, created_at, 'cash',"
    " created_at FROM invoices WHERE id = :id"
)


async def test_a_payment_cannot_point_into_another_school(api: Api, database_url: str) -> None:
    invoice = await _paid_invoice(api)
    other = await api.school()
    engine = create_async_engine(database_url)
    dialect = engine.dialect.name
    values = {
        "pid": _hex("01a20c0e-3763-70c0-8427-b70767570684", dialect),
        "other": _hex(other["id"], dialect),
        "id": _hex(invoice["id"], dialect),
    }
    try:
        async with engine.connect() as connection:
            if dialect == "sqlite":
                await connection.execute(text("PRAGMA foreign_keys=ON"))
            with pytest.raises(IntegrityError):
                await connection.execute(_FOREIGN_PAYMENT, values)
    finally:
        await engine.dispose()
