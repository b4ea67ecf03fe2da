"""The demo data generator loads consistent data fast, and reconciliation finds nothing wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.reconcile import reconcile
from school_payments.adapters.persistence.seed import SeedPlan, seed
from tests.support.api import Api


async def test_seeded_data_reconciles_and_its_statements_agree_with_both_paths(
    api: Api, database_url: str
) -> None:
    database = Database(DatabaseSettings(url=database_url))
    try:
        report = await seed(
            database,
            SeedPlan(schools=2, students_per_school=30, invoices_per_student=6, years=2),
            now=datetime(2026, 11, 24, 12, tzinfo=UTC),
        )
        assert (report.students, report.invoices) == (60, 720)
        assert report.payments > report.invoices // 2
        assert min(report.refunds, report.credit_notes, report.credit_entries) > 0, report
        assert await reconcile(database) == []
        async with database.snapshot() as q:
            rows = await q.rows(text("SELECT status, COUNT(*) FROM invoices GROUP BY status"))
            # To mypy, `Row[Any]` (SQLAlchemy 2.1) has one column; as a tuple it has them all.
            statuses: dict[str, int] = dict(map(tuple, rows))
            currencies = {
                row[0] for row in await q.rows(text("SELECT DISTINCT currency FROM invoices"))
            }
        assert set(statuses) == {"PENDING", "PARTIALLY_PAID", "PAID", "CANCELLED"}
        assert currencies == {"MXN", "USD"}
    finally:
        await database.dispose()

    school_id = str(report.school_ids[0])
    # Today's figures come from balances + open invoices; an explicit as_of of today from the raw
    # rows. They must agree to the cent.
    today = (await api.get(f"/api/v1/schools/{school_id}/statement?limit=200")).json()
    explicit = (
        await api.get(f"/api/v1/schools/{school_id}/statement?limit=200&as_of={today['as_of']}")
    ).json()
    assert today["totals"] == explicit["totals"]
    assert today["students"] == explicit["students"]
    assert today["totals"][0]["student_count"] == 30


async def test_reconciliation_reports_a_paid_amount_that_disagrees_with_the_payments(
    api: Api, database_url: str
) -> None:
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=1_000)
    await api.payment(invoice["id"], amount=300)
    database = Database(DatabaseSettings(url=database_url))
    try:
        assert await reconcile(database) == []
        async with database.transaction() as q:
            if database.dialect == "postgresql":
                # PostgreSQL itself refuses this at commit (migration 0002); switch its triggers
                # off for this transaction to play a bug that got past them.
                await q.execute(text("SET LOCAL session_replication_role = replica"))
            # Simulate a bug that moved amount_paid without a payment (constraints still hold).
            key = (
                invoice["id"]
                if database.dialect == "postgresql"
                else invoice["id"].replace("-", "")
            )
            await q.execute(text(f"UPDATE invoices SET amount_paid = 500 WHERE id = '{key}'"))
            await q.connection.commit()
        found = await reconcile(database)
    finally:
        await database.dispose()
    assert [(d.check, d.subject) for d in found] == [
        ("invoice_paid_equals_payments", invoice["id"])
    ]


def _key(database: Database, uuid: str) -> str:
    """A UUID as the database stores it (SQLite: 32 hex digits)."""
    return uuid if database.dialect == "postgresql" else uuid.replace("-", "")


async def _played_bug(database: Database, statement: str) -> None:
    """Runs `statement` as a bug that got past the database's own guards would: PostgreSQL's
    triggers are switched off for the transaction, SQLite's immutability triggers dropped."""
    async with database.transaction() as q:
        if database.dialect == "postgresql":
            await q.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for table in ("receipts", "refunds", "credit_notes"):
                await q.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
        await q.execute(text(statement))
        await q.connection.commit()


async def _lifecycle(api: Api) -> dict[str, Any]:
    """An invoice with a refunded payment and a credit note, and a receipt that left credit."""
    school = await api.school()
    student = await api.student(school["id"])
    invoice = await api.invoice(student["id"], amount=1_000)
    payment = await api.payment(invoice["id"], amount=600)
    refund = await api.refund(payment["id"], amount=200)
    note = await api.credit_note(invoice["id"], amount=100)
    receipt = await api.student_payment(student["id"], amount=2_000)
    return {
        "student": student["id"],
        "invoice": invoice["id"],
        "payment": payment["id"],
        "refund": refund["id"],
        "note": note["id"],
        "receipt": receipt["id"],
    }


_BUGS = {
    # check: (statement with {ids} filled in, the subject's key)
    "invoice_paid_equals_payments": (
        "UPDATE credit_notes SET amount = amount + 1 WHERE id = '{note}'",
        "invoice",
    ),
    "payment_refunded_equals_refunds": (
        "UPDATE refunds SET amount = amount + 1 WHERE id = '{refund}'",
        "payment",
    ),
    "credit_balance_equals_entries": (
        "UPDATE credit_balances SET balance = balance + 5 WHERE student_id = '{student}'",
        "student",
    ),
    "receipt_equals_shares_and_credit": (
        "UPDATE receipts SET amount = amount + 5 WHERE id = '{receipt}'",
        "receipt",
    ),
    "balances_match_closed_invoices": (
        "UPDATE student_balances SET closed_refunded = closed_refunded + 3"
        " WHERE student_id = '{student}'",
        "student",
    ),
}


@pytest.mark.parametrize("check", sorted(_BUGS))
async def test_reconciliation_names_each_money_figure_that_disagrees_with_its_records(
    api: Api, database_url: str, check: str
) -> None:
    ids = await _lifecycle(api)
    statement, subject = _BUGS[check]
    database = Database(DatabaseSettings(url=database_url))
    try:
        assert await reconcile(database) == []
        keys = {name: _key(database, value) for name, value in ids.items()}
        await _played_bug(database, statement.format(**keys))
        found = await reconcile(database)
    finally:
        await database.dispose()
    named = {(d.check, d.subject) for d in found}
    assert (check, ids[subject]) in named, found
    # The refund changed a payment's figure too: the invoice check names its invoice as well.
    assert {c for c, _ in named} <= {check, "invoice_paid_equals_payments"}, found
