"""Tenant keys: every key of a school's rows carries `school_id` (ready for Citus).

Citus distributes a table by one column and refuses a primary key, a unique constraint or a
foreign key between distributed tables that leaves that column out (docs/scaling.md §3):

- the rows of a school keyed by `id` alone take `(id, school_id)` as primary key (led by `id`, so
  every look-up by id keeps its index); the balances and reminders add `school_id` to theirs;
- the foreign keys that pointed at a parent's `id` alone (a credit entry's source, a delivery's
  endpoint and event, an attempt's delivery, a reminder's invoice) carry `school_id` too, so a
  child can only point at a parent of its own school;
- `students` loses `UNIQUE (id, school_id)`, which its new primary key is.

Nothing changes for the data: ids were unique on their own, and every child row already shared
its parent's school (the composite keys elsewhere, and the application, held it).

On SQLite each table is rebuilt (copy, drop, rename); its indexes and triggers are recreated
from their own stored definitions, so nothing of them is lost or restated here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = ["id"]
# table → (primary key before, primary key after)
PRIMARY_KEYS: dict[str, tuple[list[str], list[str]]] = {
    **{
        table: (_ID, [*_ID, "school_id"])
        for table in (
            "students",
            "invoices",
            "payments",
            "receipts",
            "refunds",
            "credit_notes",
            "credit_payouts",
            "credit_entries",
            "events",
            "webhook_endpoints",
            "webhook_deliveries",
            "webhook_attempts",
        )
    },
    "student_balances": (["student_id", "currency"], ["student_id", "currency", "school_id"]),
    "credit_balances": (["student_id", "currency"], ["student_id", "currency", "school_id"]),
    "invoice_reminders": (
        ["invoice_id", "kind", "due_date"],
        ["invoice_id", "kind", "due_date", "school_id"],
    ),
}
# (child table, its column, parent table, ON DELETE): the keys that pointed at a parent's id alone.
REFERENCES: list[tuple[str, str, str, str | None]] = [
    ("credit_entries", "receipt_id", "receipts", None),
    ("credit_entries", "payment_id", "payments", None),
    ("credit_entries", "refund_id", "refunds", None),
    ("credit_entries", "payout_id", "credit_payouts", None),
    ("webhook_deliveries", "endpoint_id", "webhook_endpoints", "CASCADE"),
    ("webhook_deliveries", "event_id", "events", "CASCADE"),
    ("webhook_attempts", "endpoint_id", "webhook_endpoints", "CASCADE"),
    ("webhook_attempts", "delivery_id", "webhook_deliveries", "CASCADE"),
    ("invoice_reminders", "invoice_id", "invoices", "CASCADE"),
]
# The tables whose student key pointed at students' UNIQUE (id, school_id), now its primary key.
OF_STUDENT = (
    "invoices",
    "student_balances",
    "receipts",
    "credit_payouts",
    "credit_entries",
    "credit_balances",
)
STUDENTS_UNIQUE = "uq_students_id_school_id"


def _single(table: str, column: str, parent: str) -> str:
    return f"fk_{table}_{column}_{parent}"


def _composite(table: str, column: str, parent: str) -> str:
    return f"fk_{table}_{column}_school_id_{parent}"


def _student_key(table: str) -> str:
    return f"fk_{table}_student_id_school_id_students"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres(upgrading=True)
    else:
        _sqlite(upgrading=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres(upgrading=False)
    else:
        _sqlite(upgrading=False)


def _postgres(*, upgrading: bool) -> None:
    """In place: the keys that depend on a constraint go first and come back after it."""
    for table, column, parent, _ in REFERENCES:
        name = _single if upgrading else _composite
        op.drop_constraint(name(table, column, parent), table, type_="foreignkey")
    for table in OF_STUDENT:
        op.drop_constraint(_student_key(table), table, type_="foreignkey")
    if upgrading:
        op.drop_constraint(STUDENTS_UNIQUE, "students", type_="unique")
    for table, (before, after) in PRIMARY_KEYS.items():
        columns = ", ".join(after if upgrading else before)
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT pk_{table},"
            f" ADD CONSTRAINT pk_{table} PRIMARY KEY ({columns})"
        )
    if not upgrading:
        op.create_unique_constraint(STUDENTS_UNIQUE, "students", ["id", "school_id"])
    for table in OF_STUDENT:
        op.create_foreign_key(
            _student_key(table),
            table,
            "students",
            ["student_id", "school_id"],
            ["id", "school_id"],
        )
    for table, column, parent, on_delete in REFERENCES:
        if upgrading:
            op.create_foreign_key(
                _composite(table, column, parent),
                table,
                parent,
                [column, "school_id"],
                ["id", "school_id"],
                ondelete=on_delete,
            )
        else:
            op.create_foreign_key(
                _single(table, column, parent), table, parent, [column], ["id"], ondelete=on_delete
            )


def _sqlite(*, upgrading: bool) -> None:
    """SQLite alters a key only by rebuilding the table; env.py keeps foreign keys off meanwhile
    and checks them all before the commit."""
    for table, (before, after) in PRIMARY_KEYS.items():
        with _rebuilt(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", after if upgrading else before)
            if table == "students":
                if upgrading:
                    batch.drop_constraint(STUDENTS_UNIQUE, type_="unique")
                else:
                    batch.create_unique_constraint(STUDENTS_UNIQUE, ["id", "school_id"])
            for child, column, parent, on_delete in REFERENCES:
                if child != table:
                    continue
                old, new = _single(child, column, parent), _composite(child, column, parent)
                batch.drop_constraint(old if upgrading else new, type_="foreignkey")
                batch.create_foreign_key(
                    new if upgrading else old,
                    parent,
                    [column, "school_id"] if upgrading else [column],
                    ["id", "school_id"] if upgrading else ["id"],
                    ondelete=on_delete,
                )


@contextmanager
def _rebuilt(table: str) -> Iterator[BatchOperations]:
    """A batch rebuild of `table` that keeps its indexes and triggers exactly as they were.

    Alembic recreates reflected indexes without their predicates (a partial index would come
    back whole) and SQLite drops a table's triggers with it: both are read from sqlite_master
    first and replayed afterwards.
    """
    bind = op.get_bind()
    kept = bind.execute(
        sa.text(
            "SELECT type, name, sql FROM sqlite_master"
            " WHERE tbl_name = :table AND type IN ('index', 'trigger') AND sql IS NOT NULL"
        ),
        {"table": table},
    ).all()
    for kind, name, _ in kept:
        op.execute(f"DROP {kind.upper()} {name}")
    with op.batch_alter_table(table, recreate="always") as batch:
        yield batch
    for _, _, sql in kept:
        op.execute(sql)
