"""Initial schema: schools, students, invoices, immutable payments, balances, keys, idempotency.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from school_payments.adapters.persistence.types import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OPEN = "status IN ('PENDING', 'PARTIALLY_PAID')"
MAX_AMOUNT = "1000000000000"


def upgrade() -> None:
    op.create_table(
        "schools",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("default_currency", sa.String(3)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schools"),
    )
    op.create_table(
        "students",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(100)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("archived_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_students"),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name="fk_students_school_id_schools"
        ),
        sa.CheckConstraint("status IN ('active', 'archived')", name="ck_students_status"),
        sa.CheckConstraint(
            "(status = 'archived') = (archived_at IS NOT NULL)",
            name="ck_students_archived_at_with_status",
        ),
        sa.UniqueConstraint("id", "school_id", name="uq_students_id_school_id"),
        sa.UniqueConstraint("school_id", "external_id", name="uq_students_school_id_external_id"),
    )
    op.create_index("ix_students_school_id_id", "students", ["school_id", "id"])
    op.create_table(
        "invoices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("cancelled_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_invoices"),
        sa.ForeignKeyConstraint(
            ["student_id", "school_id"],
            ["students.id", "students.school_id"],
            name="fk_invoices_student_id_school_id_students",
        ),
        sa.CheckConstraint(
            f"amount > 0 AND amount <= {MAX_AMOUNT}", name="ck_invoices_amount_range"
        ),
        sa.CheckConstraint(
            "amount_paid >= 0 AND amount_paid <= amount", name="ck_invoices_paid_within_amount"
        ),
        sa.CheckConstraint(
            "(status = 'PENDING' AND amount_paid = 0 AND cancelled_at IS NULL)"
            " OR (status = 'PARTIALLY_PAID' AND amount_paid > 0 AND amount_paid < amount"
            " AND cancelled_at IS NULL)"
            " OR (status = 'PAID' AND amount_paid = amount AND cancelled_at IS NULL)"
            " OR (status = 'CANCELLED' AND amount_paid = 0 AND cancelled_at IS NOT NULL)",
            name="ck_invoices_status_matches_amounts",
        ),
        sa.UniqueConstraint(
            "id",
            "school_id",
            "student_id",
            "currency",
            name="uq_invoices_id_school_id_student_id_currency",
        ),
    )
    op.create_index("ix_invoices_student_id_id", "invoices", ["student_id", "id"])
    op.create_index("ix_invoices_school_id_id", "invoices", ["school_id", "id"])
    op.create_index(
        "ix_invoices_open_by_school",
        "invoices",
        ["school_id", "currency", "due_date"],
        postgresql_include=["amount", "amount_paid", "student_id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", UtcDateTime(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.ForeignKeyConstraint(
            ["invoice_id", "school_id", "student_id", "currency"],
            ["invoices.id", "invoices.school_id", "invoices.student_id", "invoices.currency"],
            name="fk_payments_invoice_id_school_id_student_id_currency_invoices",
        ),
        sa.CheckConstraint(
            f"amount > 0 AND amount <= {MAX_AMOUNT}", name="ck_payments_amount_range"
        ),
        sa.CheckConstraint(
            "method IN ('cash', 'card', 'bank_transfer', 'other')", name="ck_payments_method"
        ),
    )
    op.create_index("ix_payments_invoice_id_id", "payments", ["invoice_id", "id"])
    op.create_index("ix_payments_student_id_paid_at", "payments", ["student_id", "paid_at"])
    op.create_index(
        "ix_payments_school_id_paid_at",
        "payments",
        ["school_id", "paid_at"],
        postgresql_include=["invoice_id", "amount"],
    )
    op.create_table(
        "student_balances",
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("closed_invoiced", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("paid_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cancelled_count", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("student_id", "currency", name="pk_student_balances"),
        sa.ForeignKeyConstraint(
            ["student_id", "school_id"],
            ["students.id", "students.school_id"],
            name="fk_student_balances_student_id_school_id_students",
        ),
        sa.CheckConstraint(
            "closed_invoiced >= 0 AND paid_count >= 0 AND cancelled_count >= 0",
            name="ck_student_balances_non_negative",
        ),
        comment=(
            "Per student and currency: what closed (PAID and CANCELLED) invoices add to a"
            " statement, kept in the transaction that closes them, so that today's statement"
            " reads open invoices and this table instead of the whole history."
        ),
    )
    op.create_index(
        "ix_student_balances_school_id_currency", "student_balances", ["school_id", "currency"]
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name="fk_api_keys_school_id_schools", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_school_id_id", "api_keys", ["school_id", "id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("lock_token", sa.Uuid(), nullable=False),
        sa.Column("locked_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime()),
        sa.Column("response_status", sa.Integer()),
        sa.Column("response_headers", sa.Text()),
        sa.Column("response_body", sa.LargeBinary()),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
        sa.CheckConstraint(
            "(completed_at IS NULL) = (response_status IS NULL)",
            name="ck_idempotency_keys_response_when_completed",
        ),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    _make_payments_immutable()


def _make_payments_immutable() -> None:
    """The database itself refuses to change or delete a payment, whatever the application does."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION payments_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'payments are immutable: % refused', TG_OP
                    USING ERRCODE = 'restrict_violation';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER payments_immutable BEFORE UPDATE OR DELETE ON payments"
            " FOR EACH ROW EXECUTE FUNCTION payments_are_immutable()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER payments_no_{operation.lower()} BEFORE {operation} ON payments"
                f" BEGIN SELECT RAISE(ABORT, 'payments are immutable: {operation} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS payments_immutable ON payments")
        op.execute("DROP FUNCTION IF EXISTS payments_are_immutable()")
    for table in (
        "idempotency_keys",
        "api_keys",
        "student_balances",
        "payments",
        "invoices",
        "students",
        "schools",
    ):
        op.drop_table(table)
