"""The schema, as SQLAlchemy Core tables. Migrations create it; a test checks they agree.

Money is BIGINT minor units. Every row that belongs to a school carries `school_id`, and
composite foreign keys make a row's school agree with its parent's, so a tenant's data can
never point into another tenant's.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    column,
)

from school_payments.adapters.persistence.concepts import is_open
from school_payments.adapters.persistence.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

MAX_AMOUNT = "1000000000000"

schools = Table(
    "schools",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("default_currency", String(3)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

students = Table(
    "students",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, ForeignKey("schools.id"), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("external_id", String(100)),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("archived_at", UtcDateTime),
    CheckConstraint("status IN ('active', 'archived')", name="status"),
    CheckConstraint(
        "(status = 'archived') = (archived_at IS NOT NULL)", name="archived_at_with_status"
    ),
    # Target of the composite foreign keys that pin an invoice to its student's school.
    UniqueConstraint("id", "school_id"),
    UniqueConstraint("school_id", "external_id"),
    Index(None, "school_id", "id"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, nullable=False),
    Column("student_id", Uuid, nullable=False),
    Column("description", String(500), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("amount_paid", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("cancelled_at", UtcDateTime),
    ForeignKeyConstraint(["student_id", "school_id"], ["students.id", "students.school_id"]),
    CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range"),
    CheckConstraint("amount_paid >= 0 AND amount_paid <= amount", name="paid_within_amount"),
    # The stored state always agrees with the money: no PAID invoice with a balance, no
    # cancelled invoice with payments, whatever the application does.
    CheckConstraint(
        "(status = 'PENDING' AND amount_paid = 0 AND cancelled_at IS NULL)"
        " OR (status = 'PARTIALLY_PAID' AND amount_paid > 0 AND amount_paid < amount"
        " AND cancelled_at IS NULL)"
        " OR (status = 'PAID' AND amount_paid = amount AND cancelled_at IS NULL)"
        " OR (status = 'CANCELLED' AND amount_paid = 0 AND cancelled_at IS NOT NULL)",
        name="status_matches_amounts",
    ),
    # Target of the payments' composite foreign key (a payment's tenant and currency).
    UniqueConstraint("id", "school_id", "student_id", "currency"),
    Index(None, "student_id", "id"),
    Index(None, "school_id", "id"),
    # Open invoices are what a statement ages; paid history is summed from student_balances.
    # The predicate must stay the one migration 0001 created: a test compares them.
    Index(
        "ix_invoices_open_by_school",
        "school_id",
        "currency",
        "due_date",
        postgresql_include=["amount", "amount_paid", "student_id"],
        postgresql_where=is_open(column("status", String)),
        sqlite_where=is_open(column("status", String)),
    ),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("invoice_id", Uuid, nullable=False),
    Column("school_id", Uuid, nullable=False),
    Column("student_id", Uuid, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("paid_at", UtcDateTime, nullable=False),
    Column("method", String(16), nullable=False),
    Column("reference", String(200)),
    Column("created_at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(
        ["invoice_id", "school_id", "student_id", "currency"],
        ["invoices.id", "invoices.school_id", "invoices.student_id", "invoices.currency"],
    ),
    CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range"),
    CheckConstraint("method IN ('cash', 'card', 'bank_transfer', 'other')", name="method"),
    Index(None, "invoice_id", "id"),
    Index(None, "student_id", "paid_at"),
    Index(None, "school_id", "paid_at", postgresql_include=["invoice_id", "amount"]),
)

# A read-model projection, written only by `projections.StudentBalanceProjection`.
student_balances = Table(
    "student_balances",
    metadata,
    Column("student_id", Uuid, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("school_id", Uuid, nullable=False),
    Column("closed_invoiced", BigInteger, nullable=False, server_default="0"),
    Column("paid_count", Integer, nullable=False, server_default="0"),
    Column("cancelled_count", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("student_id", "currency"),
    ForeignKeyConstraint(["student_id", "school_id"], ["students.id", "students.school_id"]),
    CheckConstraint(
        "closed_invoiced >= 0 AND paid_count >= 0 AND cancelled_count >= 0", name="non_negative"
    ),
    Index(None, "school_id", "currency"),
    comment=(
        "Per student and currency: what closed (PAID and CANCELLED) invoices add to a statement,"
        " kept in the transaction that closes them, so that today's statement reads open"
        " invoices and this table instead of the whole history."
    ),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, ForeignKey("schools.id", ondelete="CASCADE"), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Index(None, "school_id", "id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("lock_token", Uuid, nullable=False),
    Column("locked_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime),
    Column("outcome", LargeBinary),
    PrimaryKeyConstraint("scope", "key"),
    CheckConstraint("(completed_at IS NULL) = (outcome IS NULL)", name="outcome_when_completed"),
    Index(None, "created_at"),
)
