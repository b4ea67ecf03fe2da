"""The migrated schema can be distributed by school (Citus), read from PostgreSQL's catalogs.

Citus refuses to distribute a table whose primary key or unique constraints leave out the
distribution column, a foreign key between distributed tables that does not carry it on both
sides, and a foreign key from a reference table to a distributed one. No Citus package is
reachable from our machines, so these are its rules (docs.citusdata.com, "Table Management" and
"Distributed Data Modeling") checked against the schema our migrations build; docs/scaling.md
lists the statements below, and this test holds the two together.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

SCALING = Path(__file__).parents[2] / "docs" / "scaling.md"

# Every table of ours, and how it is laid out on a Citus cluster.
# Parents before children: Citus distributes a table only once the tables it points at are.
DISTRIBUTED_BY_SCHOOL = (
    "students",
    "invoices",
    "receipts",
    "payments",
    "student_balances",
    "refunds",
    "credit_notes",
    "credit_payouts",
    "credit_entries",
    "credit_balances",
    "events",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "invoice_reminders",
)
# Small, read on every request or by every school's rows, written rarely: a copy on every node.
REFERENCE = ("schools", "api_keys")
# Scoped by API key, not by school (the operator's key spans schools): distributed on its own.
DISTRIBUTED_ALONE = {"idempotency_keys": "scope"}
# Not distributed: the migration bookkeeping, and the job engine's tables (LISTEN/NOTIFY and
# FOR UPDATE SKIP LOCKED across the queue), which stay on the coordinator.
ON_THE_COORDINATOR = ("alembic_version",)
ON_THE_COORDINATOR_PREFIX = "pgqueuer"  # the job engine's own tables, whatever their names


def citus_statements() -> list[str]:
    """The statements that lay the schema out on a Citus cluster, in the order they must run."""
    first, *others = DISTRIBUTED_BY_SCHOOL
    return [
        *(f"SELECT create_reference_table('{table}');" for table in REFERENCE),
        f"SELECT create_distributed_table('{first}', 'school_id');",
        *(
            f"SELECT create_distributed_table('{table}', 'school_id', colocate_with => '{first}');"
            for table in others
        ),
        *(
            f"SELECT create_distributed_table('{table}', '{column}', colocate_with => 'none');"
            for table, column in DISTRIBUTED_ALONE.items()
        ),
    ]


def _distribution_column(table: str) -> str | None:
    if table in DISTRIBUTED_BY_SCHOOL:
        return "school_id"
    return DISTRIBUTED_ALONE.get(table)


@dataclass(frozen=True)
class Constraint:
    table: str
    name: str
    kind: str  # p, u, f, x (PostgreSQL's contype) or "index" (a unique index of its own)
    columns: tuple[str, ...]
    parent: str | None
    parent_columns: tuple[str, ...]


_CONSTRAINTS = text(
    """
    SELECT c.conrelid::regclass::text AS table, c.conname AS name, c.contype::text AS kind,
           ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                 ORDER BY k.i) AS columns,
           c.confrelid::regclass::text AS parent,
           ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                 ORDER BY k.i) AS parent_columns
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f', 'x')
    UNION ALL
    SELECT t.relname, i.relname, 'index',
           ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(n, o)
                 JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n
                 ORDER BY k.o),
           NULL, ARRAY[]::name[]
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = 'public' AND x.indisunique
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
    """
)
_TABLES = text(
    """
    SELECT c.relname, a.attname, a.attnotnull
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname IN ('school_id', 'scope')
    WHERE n.nspname = 'public' AND c.relkind = 'r'
    """
)


@dataclass(frozen=True)
class Schema:
    tables: frozenset[str]
    not_null: frozenset[tuple[str, str]]
    constraints: tuple[Constraint, ...]


@pytest.fixture
async def schema(pg_url: str) -> Schema:
    engine = create_async_engine(pg_url)
    try:
        async with engine.connect() as connection:
            table_rows = (await connection.execute(_TABLES)).all()
            constraint_rows = (await connection.execute(_CONSTRAINTS)).all()
    finally:
        await engine.dispose()
    return Schema(
        tables=frozenset(row[0] for row in table_rows),
        not_null=frozenset((row[0], row[1]) for row in table_rows if row[2]),
        constraints=tuple(
            Constraint(row[0], row[1], row[2], tuple(row[3]), row[4], tuple(row[5]))
            for row in constraint_rows
        ),
    )


def _ours(schema: Schema) -> Iterator[Constraint]:
    return (c for c in schema.constraints if not c.table.startswith(ON_THE_COORDINATOR_PREFIX))


def test_every_table_has_its_place_on_a_cluster(schema: Schema) -> None:
    """A new table fails here until it is given a place (and docs/scaling.md its statement)."""
    placed = {*DISTRIBUTED_BY_SCHOOL, *REFERENCE, *DISTRIBUTED_ALONE, *ON_THE_COORDINATOR}
    unplaced = {t for t in schema.tables if not t.startswith(ON_THE_COORDINATOR_PREFIX)} - placed
    assert unplaced == set(), f"say how these are laid out on a cluster: {sorted(unplaced)}"
    assert placed <= schema.tables, "a table named here is gone: take it out"


def test_distribution_columns_are_never_null(schema: Schema) -> None:
    nullable = [
        table
        for table in (*DISTRIBUTED_BY_SCHOOL, *DISTRIBUTED_ALONE)
        if (table, _distribution_column(table)) not in schema.not_null
    ]
    assert nullable == []


def test_primary_keys_and_unique_constraints_include_the_distribution_column(
    schema: Schema,
) -> None:
    blocking = [
        f"{c.table}.{c.name} {c.columns}"
        for c in _ours(schema)
        if c.kind in ("p", "u", "x", "index")
        and (column := _distribution_column(c.table)) is not None
        and (c.kind == "x" or column not in c.columns)
    ]
    assert blocking == []


def test_foreign_keys_between_distributed_tables_carry_the_school_on_both_sides(
    schema: Schema,
) -> None:
    blocking = []
    for c in _ours(schema):
        if c.kind != "f" or c.parent is None:
            continue
        child_distributed = c.table in DISTRIBUTED_BY_SCHOOL
        parent_distributed = c.parent in DISTRIBUTED_BY_SCHOOL
        if child_distributed and parent_distributed:
            pairs = set(zip(c.columns, c.parent_columns, strict=True))
            if ("school_id", "school_id") not in pairs:
                blocking.append(f"{c.name}: {c.columns} → {c.parent}{c.parent_columns}")
            order = DISTRIBUTED_BY_SCHOOL.index
            if c.parent != c.table and order(c.parent) > order(c.table):
                blocking.append(f"{c.name}: {c.parent} is distributed after {c.table}")
        elif parent_distributed or c.table in DISTRIBUTED_ALONE or c.parent in DISTRIBUTED_ALONE:
            # Citus allows keys into reference tables only, and only between co-located tables.
            blocking.append(f"{c.name}: {c.table} → {c.parent}")
        elif c.table in REFERENCE and c.parent not in REFERENCE:
            blocking.append(f"{c.name}: reference table {c.table} → {c.parent}")
    assert blocking == []


def test_the_keys_rules_catch_what_they_are_for(schema: Schema) -> None:
    """The checks above are not vacuous: the schema has the shapes they judge."""
    kinds = {c.kind for c in _ours(schema)}
    assert {"p", "u", "f"} <= kinds
    composite = [c for c in _ours(schema) if c.kind == "f" and c.parent in DISTRIBUTED_BY_SCHOOL]
    assert len(composite) >= 15, composite


def test_the_scaling_document_lists_the_statements_that_distribute_the_schema() -> None:
    document = SCALING.read_text(encoding="utf-8")
    missing = [statement for statement in citus_statements() if statement not in document]
    assert missing == []
