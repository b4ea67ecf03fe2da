"""The demo data generator loads consistent data fast, and reconciliation finds nothing wrong."""

from __future__ import annotations

from datetime import UTC, datetime

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
