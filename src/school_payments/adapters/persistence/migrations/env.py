"""Alembic environment: runs migrations on the async engine, one transaction for the lot."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from school_payments.adapters.persistence.database import configure_sqlite
from school_payments.adapters.persistence.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            _check_foreign_keys(connection)


def _foreign_keys_off(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """SQLite alters a table by rebuilding it (copy, drop, rename): with foreign keys enforced,
    dropping a table that other rows reference fails, so a database holding a payment could not
    be migrated. SQLite's own procedure: keys off for the migration (a pragma that only takes
    effect outside a transaction, hence at connect), every key checked before the commit."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    """Refuses to commit a migration that left a row pointing at nothing."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(
            "the migration would leave rows whose foreign keys point at nothing"
            f" (table, rowid, parent, key): {[tuple(row) for row in broken[:10]]}"
        )


async def _online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_async_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, begin="BEGIN IMMEDIATE")
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)  # after configure_sqlite's
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit(
        "offline (SQL script) migrations are not supported; run `school-payments migrate`"
    )
asyncio.run(_online())
