"""The migrations build exactly the schema the code declares, and can be undone."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import CreateIndex

from school_payments.adapters.persistence.migrations import downgrade, upgrade
from school_payments.adapters.persistence.tables import metadata


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
