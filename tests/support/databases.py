"""Throwaway databases for the tests: one PostgreSQL database per run, a SQLite file per test."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from school_payments.adapters.persistence.migrations import upgrade
from tests.support.tiers import require

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = (
    "invoice_reminders, webhook_attempts, webhook_deliveries, webhook_endpoints, events, pgqueuer,"
    " idempotency_keys, api_keys, credit_entries, credit_balances, credit_payouts, refunds,"
    " credit_notes, payments, receipts, student_balances, invoices, students, schools"
)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_postgres_database() -> str:
    """Creates and migrates a fresh database; returns its SQLAlchemy URL."""
    require("postgres")
    name = f"sp_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL), timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, rendered)
    return rendered


async def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL), timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def truncate(url: str) -> None:
    require("postgres")
    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        await connection.execute(f"TRUNCATE {TABLES}")
    finally:
        await connection.close()


async def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    await asyncio.to_thread(upgrade, f"sqlite:///{path}")
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    target = directory / "test.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"
