"""The migrations build exactly the schema the code declares, and can be undone."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import CreateIndex

from school_payments.adapters.persistence.database import Database, DatabaseSettings
from school_payments.adapters.persistence.migrations import downgrade, upgrade
from school_payments.adapters.persistence.reconcile import reconcile
from school_payments.adapters.persistence.tables import metadata
from school_payments.adapters.persistence.types import UtcDateTime
from tests.support.api import running_api, settings_for
from tests.support.clock import FixedClock


def _ours(name: str | None, type_: str, _parents: object) -> bool:
    """The job engine's own tables (pgqueuer, on PostgreSQL) are its business, not ours."""
    return not (type_ == "table" and (name or "").startswith("pgqueuer"))


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": _ours}
    )
    return list(compare_metadata(context, metadata))


async def test_the_migrated_schema_matches_the_declared_tables(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


def _partial_indexes() -> list[Index]:
    return [
        index
        for table in metadata.sorted_tables
        for index in table.indexes
        if index.dialect_options["postgresql"]["where"] is not None
    ]


def _index_definitions(connection: Connection, index: Index) -> tuple[str, str]:
    """The migrated index's definition and the declared one's, built beside it under another name.

    Alembic's comparison leaves out an index's predicate (and INCLUDE columns), so the declared
    index is created for real and the database's own rendering of both is compared.
    """
    declared = f"{index.name}_declared"
    ddl = str(CreateIndex(index).compile(dialect=connection.dialect))
    connection.exec_driver_sql(ddl.replace(str(index.name), declared, 1))
    if connection.dialect.name == "postgresql":
        query = "SELECT indexname, indexdef AS sql FROM pg_indexes WHERE indexname IN (:a, :b)"
    else:
        query = "SELECT name AS indexname, sql FROM sqlite_master WHERE name IN (:a, :b)"
    rows = connection.execute(text(query), {"a": index.name, "b": declared}).all()
    found: dict[str, str] = {str(name): str(sql) for name, sql in rows}
    connection.exec_driver_sql(f"DROP INDEX {declared}")
    return found[str(index.name)], found[declared].replace(declared, str(index.name))


async def test_the_migrated_partial_indexes_have_the_declared_predicates(
    database_url: str,
) -> None:
    assert _partial_indexes(), "the open-invoice index is expected among them"
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            for index in _partial_indexes():
                migrated, declared = await connection.run_sync(_index_definitions, index)
                assert migrated == declared
    finally:
        await engine.dispose()


async def test_migrations_go_down_to_nothing_and_up_again(database_url: str) -> None:
    await asyncio.to_thread(downgrade, database_url, "base")
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: sync.dialect.get_table_names(sync))
        assert set(tables) <= {"alembic_version"}
        await asyncio.to_thread(upgrade, database_url)
        async with engine.connect() as connection:
            version = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
        assert version is not None
    finally:
        await engine.dispose()


# The first release's tables (revision 0003), as it wrote them: the tables of today have columns
# that did not exist then.
_V1 = {
    "schools": ("id", "name", "timezone", "default_currency", "created_at", "updated_at"),
    "students": (
        "id", "school_id", "first_name", "last_name", "status", "created_at", "updated_at",
    ),
    "invoices": (
        "id", "school_id", "student_id", "description", "currency", "amount", "amount_paid",
        "status", "due_date", "issued_at", "created_at", "updated_at",
    ),
    "payments": (
        "id", "invoice_id", "school_id", "student_id", "currency", "amount", "paid_at",
        "method", "created_at",
    ),
    "student_balances": (
        "student_id", "currency", "school_id", "closed_invoiced", "paid_count", "cancelled_count",
    ),
}  # fmt: skip
_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "amount": sa.BigInteger(),
    "amount_paid": sa.BigInteger(),
    "closed_invoiced": sa.BigInteger(),
    "paid_count": sa.Integer(),
    "cancelled_count": sa.Integer(),
    "due_date": sa.Date(),
    **{name: UtcDateTime() for name in ("created_at", "updated_at", "issued_at", "paid_at")},
    **{name: sa.Uuid() for name in ("id", "school_id", "student_id", "invoice_id")},
}


def _v1_table(name: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c, _TYPES.get(c, sa.String())) for c in _V1[name]))


async def test_a_database_of_the_first_release_holding_money_upgrades_to_the_latest(
    database_url: str,
) -> None:
    """Every migration since 0003 runs on rows, not only on empty tables: SQLite rebuilds tables
    to alter them, and a rebuild of a table that payments point at once failed on any database
    holding a payment."""
    await asyncio.to_thread(downgrade, database_url, "base")
    await asyncio.to_thread(upgrade, database_url, "0003")
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    school, student, january, february, partial, whole = (uuid.uuid4() for _ in range(6))
    rows = {
        "schools": [[school, "Old School", "America/Mexico_City", "MXN", at, at]],
        "students": [[student, school, "Ana", "Ruiz", "active", at, at]],
        "invoices": [
            [january, school, student, "January", "MXN", 50_000, 50_000, "PAID",
             date(2026, 1, 31), at, at, at],
            [february, school, student, "February", "MXN", 100_000, 40_000, "PARTIALLY_PAID",
             date(2026, 2, 28), at, at, at],
        ],
        "payments": [
            [whole, january, school, student, "MXN", 50_000, at, "cash", at],
            [partial, february, school, student, "MXN", 40_000, at, "card", at],
        ],
        # The projection of settled invoices, as the first release kept it.
        "student_balances": [[student, "MXN", school, 50_000, 1, 0]],
    }  # fmt: skip
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            for name, values in rows.items():
                await connection.execute(
                    sa.insert(_v1_table(name)),
                    [dict(zip(_V1[name], v, strict=True)) for v in values],
                )
    finally:
        await engine.dispose()

    await asyncio.to_thread(upgrade, database_url)

    database = Database(DatabaseSettings(url=database_url))
    try:
        assert await reconcile(database) == []
    finally:
        await database.dispose()
    async with running_api(settings_for(database_url), FixedClock()) as api:
        statement = (await api.get(f"/api/v1/students/{student}/statement")).json()
        refund = await api.post(f"/api/v1/payments/{whole}/refunds", json={"amount": 10_000})
        after = (await api.get(f"/api/v1/students/{student}/statement")).json()
    figures = ("invoiced", "paid", "refunded", "outstanding")
    assert [[t[f] for f in figures] for t in statement["totals"]] == [[150_000, 90_000, 0, 60_000]]
    assert refund.status_code == 201, refund.text
    # The refund reopens January: the upgraded rows take the money lifecycle like new ones.
    assert [[t[f] for f in figures] for t in after["totals"]] == [[150_000, 80_000, 10_000, 70_000]]


async def test_the_tables_statements_scan_are_vacuumed_after_a_small_change(pg_url: str) -> None:
    """Their autovacuum settings (0007, PostgreSQL's: SQLite has no visibility map) keep
    index-only scans index-only; undone by downgrade."""
    database_url = pg_url
    statement_tables = importlib.import_module(
        "school_payments.adapters.persistence.migrations.versions."
        "0007_statement_tables_vacuumed_sooner"
    ).SETTINGS
    engine = create_async_engine(database_url)

    async def options() -> dict[str, dict[str, str]]:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(:names)"),
                {"names": list(statement_tables)},
            )
            return {
                name: dict(option.split("=", 1) for option in found or ())
                for name, found in rows.all()
            }

    try:
        assert await options() == statement_tables
        await asyncio.to_thread(downgrade, database_url, "0006")
        assert await options() == {name: {} for name in statement_tables}
        await asyncio.to_thread(upgrade, database_url)
        assert await options() == statement_tables
    finally:
        await engine.dispose()
