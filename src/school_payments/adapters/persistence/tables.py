"""The schema, as SQLAlchemy Core tables. Migrations create it; a test checks they agree.

Money is BIGINT minor units. Every row that belongs to a school carries `school_id`, in its
primary key and in every foreign key to another of the school's rows (migration 0006), so a
tenant's data can never point into another tenant's, and the tables can be distributed by
`school_id` (Citus; `tests/integration/test_tenant_keys.py` holds the rules, docs/scaling.md §3).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    # Migration 0005; no server default: NULL (reminders off) must stay NULL when written.
    Column("reminder_days_before_due", Integer),
)

students = Table(
    "students",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, ForeignKey("schools.id"), primary_key=True),
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
    UniqueConstraint("school_id", "external_id"),
    Index(None, "school_id", "id"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, primary_key=True),
    Column("student_id", Uuid, nullable=False),
    Column("description", String(500), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("amount_paid", BigInteger, nullable=False),
    Column("amount_credited", BigInteger, nullable=False, server_default="0"),
    Column("amount_refunded", BigInteger, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("cancelled_at", UtcDateTime),
    ForeignKeyConstraint(["student_id", "school_id"], ["students.id", "students.school_id"]),
    CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range"),
    # amount_paid is net of refunds; a credit note settles part of the amount without money.
    CheckConstraint(
        "amount_paid >= 0 AND amount_credited >= 0 AND amount_refunded >= 0"
        " AND amount_paid + amount_credited <= amount",
        name="settled_within_amount",
    ),
    # The stored state always agrees with the figures: no PAID invoice with a balance, no
    # cancelled invoice holding money, whatever the application does.
    CheckConstraint(
        "(status = 'PENDING' AND amount_paid = 0 AND amount_paid + amount_credited < amount"
        " AND cancelled_at IS NULL)"
        " OR (status = 'PARTIALLY_PAID' AND amount_paid > 0"
        " AND amount_paid + amount_credited < amount AND cancelled_at IS NULL)"
        " OR (status = 'PAID' AND amount_paid + amount_credited = amount AND cancelled_at IS NULL)"
        " OR (status = 'CANCELLED' AND amount_paid = 0 AND cancelled_at IS NOT NULL)",
        name="status_matches_figures",
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
        postgresql_include=[
            "amount",
            "amount_paid",
            "amount_credited",
            "amount_refunded",
            "student_id",
        ],
        postgresql_where=is_open(column("status", String)),
        sqlite_where=is_open(column("status", String)),
    ),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("invoice_id", Uuid, nullable=False),
    Column("school_id", Uuid, primary_key=True),
    Column("student_id", Uuid, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("paid_at", UtcDateTime, nullable=False),
    Column("method", String(16), nullable=False),
    Column("reference", String(200)),
    Column("created_at", UtcDateTime, nullable=False),
    # The one column that changes (upwards only, by a refund): PostgreSQL and SQLite refuse any
    # other change of a payment.
    Column("amount_refunded", BigInteger, nullable=False, server_default="0"),
    Column("receipt_id", Uuid),
    ForeignKeyConstraint(
        ["invoice_id", "school_id", "student_id", "currency"],
        ["invoices.id", "invoices.school_id", "invoices.student_id", "invoices.currency"],
    ),
    ForeignKeyConstraint(
        ["receipt_id", "school_id", "student_id", "currency"],
        ["receipts.id", "receipts.school_id", "receipts.student_id", "receipts.currency"],
    ),
    CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range"),
    CheckConstraint(
        "method IN ('cash', 'card', 'bank_transfer', 'other', 'credit')", name="method"
    ),
    CheckConstraint(
        "amount_refunded >= 0 AND amount_refunded <= amount", name="refunded_within_amount"
    ),
    # Target of the refunds' composite foreign key.
    UniqueConstraint("id", "invoice_id", "school_id", "student_id", "currency"),
    Index(None, "receipt_id"),
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
    Column("closed_paid", BigInteger, nullable=False, server_default="0"),
    Column("closed_credited", BigInteger, nullable=False, server_default="0"),
    Column("closed_refunded", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("student_id", "currency", "school_id"),
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


def _tenant_keys() -> list[Column[object]]:
    return [
        Column("id", Uuid, primary_key=True),
        Column("school_id", Uuid, primary_key=True),
        Column("student_id", Uuid, nullable=False),
    ]


def _of_student() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["student_id", "school_id"], ["students.id", "students.school_id"])


def _of_school(column: str, parent: str, on_delete: str | None = None) -> ForeignKeyConstraint:
    """A key to another row of the same school: `(column, school_id)` → `parent (id, school_id)`."""
    return ForeignKeyConstraint(
        [column, "school_id"], [f"{parent}.id", f"{parent}.school_id"], ondelete=on_delete
    )


def _amount_range() -> CheckConstraint:
    return CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range")


# -- the money lifecycle (migration 0004): immutable records, and credit held per student ------

receipts = Table(
    "receipts",
    metadata,
    *_tenant_keys(),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("method", String(16), nullable=False),
    Column("paid_at", UtcDateTime, nullable=False),
    Column("reference", String(200)),
    Column("credited_to_balance", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    _of_student(),
    UniqueConstraint("id", "school_id", "student_id", "currency"),
    _amount_range(),
    CheckConstraint(
        "credited_to_balance >= 0 AND credited_to_balance <= amount", name="credited_within"
    ),
    CheckConstraint("method IN ('cash', 'card', 'bank_transfer', 'other')", name="method"),
    Index(None, "student_id", "id"),
)

refunds = Table(
    "refunds",
    metadata,
    *_tenant_keys(),
    Column("invoice_id", Uuid, nullable=False),
    Column("payment_id", Uuid, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(500)),
    Column("refunded_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(
        ["payment_id", "invoice_id", "school_id", "student_id", "currency"],
        [
            "payments.id",
            "payments.invoice_id",
            "payments.school_id",
            "payments.student_id",
            "payments.currency",
        ],
        name="fk_refunds_payment",  # the generated name is over PostgreSQL's 63 characters
    ),
    _amount_range(),
    Index(None, "payment_id", "id"),
    Index(None, "invoice_id"),
    Index(
        None, "school_id", "refunded_at", postgresql_include=["invoice_id", "payment_id", "amount"]
    ),
)

credit_notes = Table(
    "credit_notes",
    metadata,
    *_tenant_keys(),
    Column("invoice_id", Uuid, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(
        ["invoice_id", "school_id", "student_id", "currency"],
        ["invoices.id", "invoices.school_id", "invoices.student_id", "invoices.currency"],
        name="fk_credit_notes_invoice",  # the generated name is over PostgreSQL's 63 characters
    ),
    _amount_range(),
    Index(None, "invoice_id", "id"),
    Index(None, "school_id", "issued_at", postgresql_include=["invoice_id", "amount"]),
)

credit_payouts = Table(
    "credit_payouts",
    metadata,
    *_tenant_keys(),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(500)),
    Column("reference", String(255)),
    Column("created_at", UtcDateTime, nullable=False),
    _of_student(),
    _amount_range(),
    Index(None, "student_id", "id"),
)

# What a credit entry comes from: one of these, by its kind (the CHECK below).
CREDIT_SOURCES = {
    "receipt_id": "receipts",
    "payment_id": "payments",
    "refund_id": "refunds",
    "payout_id": "credit_payouts",
}

credit_entries = Table(
    "credit_entries",
    metadata,
    *_tenant_keys(),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("direction", String(3), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("receipt_id", Uuid),
    Column("payment_id", Uuid),
    Column("refund_id", Uuid),
    Column("payout_id", Uuid),
    # The business time the entry counts from in a statement as of a day: the receipt's or
    # payment's paid_at, the refund's refunded_at, the payout's created_at.
    Column("effective_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    _of_student(),
    *(_of_school(source, parent) for source, parent in CREDIT_SOURCES.items()),
    _amount_range(),
    CheckConstraint(
        "(kind = 'overpayment' AND direction = 'in' AND receipt_id IS NOT NULL)"
        " OR (kind = 'refund_of_credit_payment' AND direction = 'in' AND refund_id IS NOT NULL"
        " AND payment_id IS NOT NULL)"
        " OR (kind = 'applied' AND direction = 'out' AND payment_id IS NOT NULL)"
        " OR (kind = 'payout' AND direction = 'out' AND payout_id IS NOT NULL)",
        name="kind_matches_direction_and_source",
    ),
    Index(None, "student_id", "id"),
    Index(
        None,
        "school_id",
        "effective_at",
        postgresql_include=["student_id", "currency", "amount", "direction"],
    ),
)

# Per student and currency: Σ entries in − Σ entries out, kept in the entries' transaction and
# never below zero (a CHECK, so no interleaving of concurrent debits can overdraw it).
credit_balances = Table(
    "credit_balances",
    metadata,
    Column("student_id", Uuid, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("school_id", Uuid, nullable=False),
    Column("balance", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("student_id", "currency", "school_id"),
    _of_student(),
    CheckConstraint("balance >= 0", name="never_negative"),
    Index(None, "school_id", "currency"),
)


# -- events (migration 0005): the transactional outbox ------------------------------------------

events = Table(
    "events",
    metadata,
    Column("id", Uuid, primary_key=True),
    # No foreign key: an event outlives what it tells of (a student deleted, a school deleted).
    Column("school_id", Uuid, primary_key=True),
    Column("type", String(40), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("request_id", String(128)),
    Column("subject", LargeBinary, nullable=False),
    Index(None, "school_id", "id"),
    Index(None, "created_at"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("event_types", String(1000), nullable=False),
    Column("description", String(500)),
    Column("secret", String(100), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(200)),
    Column("failing_since", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "school_id", "id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, primary_key=True),
    Column("endpoint_id", Uuid, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("leased_until", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    _of_school("endpoint_id", "webhook_endpoints", on_delete="CASCADE"),
    _of_school("event_id", "events", on_delete="CASCADE"),
    CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    Index(None, "status", "next_attempt_at"),
    Index(None, "endpoint_id"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("school_id", Uuid, primary_key=True),
    Column("endpoint_id", Uuid, nullable=False),
    Column("delivery_id", Uuid, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer),
    Column("error", String(500)),
    Column("duration_ms", Integer, nullable=False),
    Column("attempted_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime),
    Column("outcome", String(16), nullable=False),
    _of_school("endpoint_id", "webhook_endpoints", on_delete="CASCADE"),
    _of_school("delivery_id", "webhook_deliveries", on_delete="CASCADE"),
    CheckConstraint("outcome IN ('delivered', 'retrying', 'failed')", name="outcome"),
    Index(None, "endpoint_id", "id"),
)

# Time-based events already emitted: one row per invoice, kind and due date, so that each is
# emitted once whatever the number of workers (and a new due date re-arms it).
invoice_reminders = Table(
    "invoice_reminders",
    metadata,
    Column("invoice_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("school_id", Uuid, nullable=False),
    Column("emitted_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("invoice_id", "kind", "due_date", "school_id"),
    _of_school("invoice_id", "invoices", on_delete="CASCADE"),
)
