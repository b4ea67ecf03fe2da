"""The tables statements scan are vacuumed after 1–2 % of their rows change, not 20 %.

A school statement sums the open invoices from an index-only scan of a partial index, and
`student_balances` from a scan of the school's rows. An index-only scan reads the table itself
for every page the visibility map no longer marks all-visible, and every payment, invoice and
refund unmarks one. At PostgreSQL's default (a vacuum after 20 % of a table's rows are dead)
the 10,000-student benchmark school ran its statement's totals with 26,206 heap fetches in a scan
of 38,648 entries, 28,000 dead rows and no vacuum yet: 21.0 ms, against 13.3 ms once vacuumed
(`benchmarks/results/2026-12-04-second-run.json`, docs/statements.md). Vacuuming a 1 % change
keeps the scans index-only at the cost of more, smaller vacuums.

PostgreSQL only: SQLite has no visibility map.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SETTINGS = {
    "invoices": {
        "autovacuum_vacuum_scale_factor": "0.01",
        "autovacuum_vacuum_insert_scale_factor": "0.01",
        "autovacuum_analyze_scale_factor": "0.02",
    },
    "student_balances": {
        "autovacuum_vacuum_scale_factor": "0.02",
        "autovacuum_vacuum_insert_scale_factor": "0.02",
    },
}
"""Each table's autovacuum storage parameters (tests read them back from `pg_class`)."""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, settings in SETTINGS.items():
        values = ", ".join(f"{name} = {value}" for name, value in settings.items())
        op.execute(f"ALTER TABLE {table} SET ({values})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, settings in SETTINGS.items():
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(settings)})")
