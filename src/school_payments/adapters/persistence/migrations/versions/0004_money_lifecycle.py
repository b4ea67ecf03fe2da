"""The money lifecycle: refunds, credit notes, receipts (student payments), credit balances.

- `invoices` gain `amount_credited` (Σ credit notes) and `amount_refunded` (Σ refunds of their
  payments); `amount_paid` is now net of refunds. The stored status follows the figures:
  remaining (`amount − amount_credited − amount_paid`) 0 → PAID, else paid → PARTIALLY_PAID,
  else PENDING; a credit note can settle an invoice, a refund can reopen one.
- `payments` gain `amount_refunded` (the only column that may change, and only upwards),
  `receipt_id`, and the method `credit`.
- New immutable records: `refunds`, `credit_notes`, `receipts`, `credit_payouts`,
  `credit_entries`; `credit_balances` holds each student's balance per currency, never below 0.
- `student_balances` (the projection of settled invoices) gains their paid, credited and
  refunded sums: a settled invoice's paid amount is no longer always its amount.

PostgreSQL checks at commit that every stored figure equals what its records add up to
(deferred constraint triggers); SQLite has the same CHECKs and immutability triggers, and
reconciliation covers the sums.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from school_payments.adapters.persistence.types import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MAX_AMOUNT = "1000000000000"
OPEN = "status IN ('PENDING', 'PARTIALLY_PAID')"

SETTLED_WITHIN_AMOUNT = (
    "amount_paid >= 0 AND amount_credited >= 0 AND amount_refunded >= 0"
    " AND amount_paid + amount_credited <= amount"
)
STATUS_MATCHES_FIGURES = (
    "(status = 'PENDING' AND amount_paid = 0 AND amount_paid + amount_credited < amount"
    " AND cancelled_at IS NULL)"
    " OR (status = 'PARTIALLY_PAID' AND amount_paid > 0 AND amount_paid + amount_credited < amount"
    " AND cancelled_at IS NULL)"
    " OR (status = 'PAID' AND amount_paid + amount_credited = amount AND cancelled_at IS NULL)"
    " OR (status = 'CANCELLED' AND amount_paid = 0 AND cancelled_at IS NOT NULL)"
)
METHODS = "method IN ('cash', 'card', 'bank_transfer', 'other', 'credit')"
# The columns of a payment that never change (everything but amount_refunded).
PAYMENT_FACTS = (
    "id, invoice_id, school_id, student_id, currency, amount, paid_at, method, reference,"
    " created_at, receipt_id"
)
IMMUTABLE = ("refunds", "credit_notes", "receipts", "credit_payouts", "credit_entries")


def _money(name: str = "amount") -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _amount_range() -> sa.CheckConstraint:
    return sa.CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_range")


def _tenant_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
    ]


def _student_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["student_id", "school_id"],
        ["students.id", "students.school_id"],
        name=f"fk_{table}_student_id_school_id_students",
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _alter_invoices(postgres)
    _alter_payments(postgres)
    _create_records()
    _alter_student_balances()
    if postgres:
        _postgres_guards()
    else:
        _sqlite_guards()


def _alter_invoices(postgres: bool) -> None:
    if not postgres:
        # SQLite rebuilds the table to change a CHECK; the partial index goes with it.
        op.drop_index("ix_invoices_open_by_school", "invoices")
    with op.batch_alter_table("invoices", recreate="auto") as batch:
        batch.add_column(
            sa.Column("amount_credited", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("amount_refunded", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.drop_constraint(op.f("ck_invoices_ck_invoices_paid_within_amount"), type_="check")
        batch.drop_constraint(op.f("ck_invoices_ck_invoices_status_matches_amounts"), type_="check")
        batch.create_check_constraint("settled_within_amount", SETTLED_WITHIN_AMOUNT)
        batch.create_check_constraint("status_matches_figures", STATUS_MATCHES_FIGURES)
    if postgres:
        op.drop_index("ix_invoices_open_by_school", "invoices")
    op.create_index(
        "ix_invoices_open_by_school",
        "invoices",
        ["school_id", "currency", "due_date"],
        postgresql_include=[
            "amount",
            "amount_paid",
            "amount_credited",
            "amount_refunded",
            "student_id",
        ],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def _alter_payments(postgres: bool) -> None:
    if not postgres:
        # The immutability triggers go with the rebuilt table; _sqlite_guards makes new ones.
        op.execute("DROP TRIGGER IF EXISTS payments_no_update")
        op.execute("DROP TRIGGER IF EXISTS payments_no_delete")
    op.create_table(
        "receipts",
        *_tenant_columns(),
        sa.Column("currency", sa.String(3), nullable=False),
        _money(),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("paid_at", UtcDateTime(), nullable=False),
        sa.Column("reference", sa.String(200)),
        _money("credited_to_balance"),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_receipts"),
        _student_key("receipts"),
        sa.UniqueConstraint("id", "school_id", "student_id", "currency"),
        _amount_range(),
        sa.CheckConstraint(
            "credited_to_balance >= 0 AND credited_to_balance <= amount", name="credited_within"
        ),
        sa.CheckConstraint("method IN ('cash', 'card', 'bank_transfer', 'other')", name="method"),
    )
    op.create_index("ix_receipts_student_id_id", "receipts", ["student_id", "id"])
    with op.batch_alter_table("payments", recreate="auto") as batch:
        batch.add_column(
            sa.Column("amount_refunded", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("receipt_id", sa.Uuid()))
        batch.drop_constraint(op.f("ck_payments_ck_payments_method"), type_="check")
        batch.create_check_constraint("method", METHODS)
        batch.create_check_constraint(
            "refunded_within_amount", "amount_refunded >= 0 AND amount_refunded <= amount"
        )
        batch.create_unique_constraint(
            "uq_payments_id_invoice_id_school_id_student_id_currency",
            ["id", "invoice_id", "school_id", "student_id", "currency"],
        )
        batch.create_foreign_key(
            "fk_payments_receipt_id_school_id_student_id_currency_receipts",
            "receipts",
            ["receipt_id", "school_id", "student_id", "currency"],
            ["id", "school_id", "student_id", "currency"],
        )
    op.create_index("ix_payments_receipt_id", "payments", ["receipt_id"])


def _create_records() -> None:
    op.create_table(
        "refunds",
        *_tenant_columns(),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money(),
        sa.Column("reason", sa.String(500)),
        sa.Column("refunded_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(
            ["payment_id", "invoice_id", "school_id", "student_id", "currency"],
            [
                "payments.id",
                "payments.invoice_id",
                "payments.school_id",
                "payments.student_id",
                "payments.currency",
            ],
            name="fk_refunds_payment",
        ),
        _amount_range(),
    )
    op.create_index("ix_refunds_payment_id_id", "refunds", ["payment_id", "id"])
    op.create_index("ix_refunds_invoice_id", "refunds", ["invoice_id"])
    op.create_index(
        "ix_refunds_school_id_refunded_at",
        "refunds",
        ["school_id", "refunded_at"],
        postgresql_include=["invoice_id", "payment_id", "amount"],
    )
    op.create_table(
        "credit_notes",
        *_tenant_columns(),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _money(),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_notes"),
        sa.ForeignKeyConstraint(
            ["invoice_id", "school_id", "student_id", "currency"],
            ["invoices.id", "invoices.school_id", "invoices.student_id", "invoices.currency"],
            name="fk_credit_notes_invoice",
        ),
        _amount_range(),
    )
    op.create_index("ix_credit_notes_invoice_id_id", "credit_notes", ["invoice_id", "id"])
    op.create_index(
        "ix_credit_notes_school_id_issued_at",
        "credit_notes",
        ["school_id", "issued_at"],
        postgresql_include=["invoice_id", "amount"],
    )
    op.create_table(
        "credit_payouts",
        *_tenant_columns(),
        sa.Column("currency", sa.String(3), nullable=False),
        _money(),
        sa.Column("reason", sa.String(500)),
        sa.Column("reference", sa.String(255)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_payouts"),
        _student_key("credit_payouts"),
        _amount_range(),
    )
    op.create_index("ix_credit_payouts_student_id_id", "credit_payouts", ["student_id", "id"])
    op.create_table(
        "credit_entries",
        *_tenant_columns(),
        sa.Column("currency", sa.String(3), nullable=False),
        _money(),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("receipt_id", sa.Uuid()),
        sa.Column("payment_id", sa.Uuid()),
        sa.Column("refund_id", sa.Uuid()),
        sa.Column("payout_id", sa.Uuid()),
        sa.Column("effective_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_entries"),
        _student_key("credit_entries"),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name="fk_credit_entries_receipt_id_receipts"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_credit_entries_payment_id_payments"
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name="fk_credit_entries_refund_id_refunds"
        ),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["credit_payouts.id"], name="fk_credit_entries_payout_id_credit_payouts"
        ),
        _amount_range(),
        sa.CheckConstraint(
            "(kind = 'overpayment' AND direction = 'in' AND receipt_id IS NOT NULL)"
            " OR (kind = 'refund_of_credit_payment' AND direction = 'in' AND refund_id IS NOT NULL"
            " AND payment_id IS NOT NULL)"
            " OR (kind = 'applied' AND direction = 'out' AND payment_id IS NOT NULL)"
            " OR (kind = 'payout' AND direction = 'out' AND payout_id IS NOT NULL)",
            name="kind_matches_direction_and_source",
        ),
    )
    op.create_index("ix_credit_entries_student_id_id", "credit_entries", ["student_id", "id"])
    op.create_index(
        "ix_credit_entries_school_id_effective_at",
        "credit_entries",
        ["school_id", "effective_at"],
        postgresql_include=["student_id", "currency", "amount", "direction"],
    )
    op.create_table(
        "credit_balances",
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("school_id", sa.Uuid(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("student_id", "currency", name="pk_credit_balances"),
        _student_key("credit_balances"),
        sa.CheckConstraint("balance >= 0", name="never_negative"),
    )
    op.create_index(
        "ix_credit_balances_school_id_currency", "credit_balances", ["school_id", "currency"]
    )


def _alter_student_balances() -> None:
    with op.batch_alter_table("student_balances", recreate="auto") as batch:
        for name in ("closed_paid", "closed_credited", "closed_refunded"):
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
    # Until now a settled invoice was paid in full: its paid sum is its amount.
    op.execute("UPDATE student_balances SET closed_paid = closed_invoiced")


def _postgres_guards() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION payments_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- Only amount_refunded may change, and only upwards: refunds are records of their own.
            IF TG_OP = 'UPDATE' AND NEW.amount_refunded >= OLD.amount_refunded
               AND (to_jsonb(NEW) - 'amount_refunded') = (to_jsonb(OLD) - 'amount_refunded') THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'payments are immutable: % refused', TG_OP
                USING ERRCODE = 'restrict_violation';
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION records_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% are immutable: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END $$
        """
    )
    for table in IMMUTABLE:
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION records_are_immutable()"
        )
    # 0002's rule, widened: every stored figure of an invoice equals what its records add up to.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION invoice_paid_matches_payments() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            target uuid;
            figures record;
            paid bigint;
            refunded bigint;
            credited bigint;
        BEGIN
            IF TG_TABLE_NAME = 'invoices' THEN
                target := NEW.id;
            ELSE
                target := NEW.invoice_id;
            END IF;
            SELECT amount_paid, amount_refunded, amount_credited INTO figures
                FROM invoices WHERE id = target;
            SELECT COALESCE(SUM(amount), 0), COALESCE(SUM(amount_refunded), 0)
                INTO paid, refunded FROM payments WHERE invoice_id = target;
            SELECT COALESCE(SUM(amount), 0) INTO credited FROM credit_notes WHERE invoice_id = target;
            IF figures.amount_paid IS DISTINCT FROM paid - refunded
               OR figures.amount_refunded IS DISTINCT FROM refunded
               OR figures.amount_credited IS DISTINCT FROM credited THEN
                RAISE EXCEPTION 'invoice % has paid %, refunded %, credited %, but its records add'
                    ' up to paid %, refunded %, credited %', target, figures.amount_paid,
                    figures.amount_refunded, figures.amount_credited, paid - refunded, refunded,
                    credited
                    USING ERRCODE = 'integrity_constraint_violation',
                          CONSTRAINT = 'invoice_paid_matches_payments';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute("DROP TRIGGER IF EXISTS payments_add_up_after_paid_change ON invoices")
    for name, table, event, condition in (
        (
            "payments_add_up_after_paid_change",
            "invoices",
            "UPDATE OF amount_paid, amount_refunded, amount_credited",
            "OLD.amount_paid IS DISTINCT FROM NEW.amount_paid"
            " OR OLD.amount_refunded IS DISTINCT FROM NEW.amount_refunded"
            " OR OLD.amount_credited IS DISTINCT FROM NEW.amount_credited",
        ),
        ("figures_add_up_after_refund", "refunds", "INSERT", None),
        ("figures_add_up_after_credit_note", "credit_notes", "INSERT", None),
    ):
        when = f" WHEN ({condition})" if condition else ""
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table}"
            f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW{when}"
            " EXECUTE FUNCTION invoice_paid_matches_payments()"
        )
    op.execute(
        """
        CREATE FUNCTION payment_refunds_add_up() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            target uuid;
            stored bigint;
            total bigint;
        BEGIN
            IF TG_TABLE_NAME = 'payments' THEN target := NEW.id; ELSE target := NEW.payment_id; END IF;
            SELECT amount_refunded INTO stored FROM payments WHERE id = target;
            SELECT COALESCE(SUM(amount), 0) INTO total FROM refunds WHERE payment_id = target;
            IF stored IS DISTINCT FROM total THEN
                RAISE EXCEPTION 'payment % has amount_refunded % but its refunds add up to %',
                    target, stored, total
                    USING ERRCODE = 'integrity_constraint_violation',
                          CONSTRAINT = 'payment_refunds_add_up';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for name, table, event, condition in (
        ("refunds_add_up_after_refund", "refunds", "INSERT", None),
        (
            "refunds_add_up_after_refunded_change",
            "payments",
            "UPDATE OF amount_refunded",
            "OLD.amount_refunded IS DISTINCT FROM NEW.amount_refunded",
        ),
    ):
        when = f" WHEN ({condition})" if condition else ""
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table}"
            f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW{when}"
            " EXECUTE FUNCTION payment_refunds_add_up()"
        )
    op.execute(
        """
        CREATE FUNCTION credit_balance_adds_up() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            stored bigint;
            total bigint;
        BEGIN
            SELECT balance INTO stored FROM credit_balances
                WHERE student_id = NEW.student_id AND currency = NEW.currency;
            SELECT COALESCE(SUM(CASE direction WHEN 'in' THEN amount ELSE -amount END), 0)
                INTO total FROM credit_entries
                WHERE student_id = NEW.student_id AND currency = NEW.currency;
            IF COALESCE(stored, 0) IS DISTINCT FROM total THEN
                RAISE EXCEPTION 'student % holds % % of credit but the entries add up to %',
                    NEW.student_id, stored, NEW.currency, total
                    USING ERRCODE = 'integrity_constraint_violation',
                          CONSTRAINT = 'credit_balance_adds_up';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for name, table, event in (
        ("credit_adds_up_after_entry", "credit_entries", "INSERT"),
        ("credit_adds_up_after_balance_change", "credit_balances", "INSERT OR UPDATE"),
    ):
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table}"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION credit_balance_adds_up()"
        )


def _sqlite_guards() -> None:
    op.execute(
        f"CREATE TRIGGER payments_no_update BEFORE UPDATE OF {PAYMENT_FACTS} ON payments"
        " BEGIN SELECT RAISE(ABORT, 'payments are immutable: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER payments_refunds_only_grow BEFORE UPDATE OF amount_refunded ON payments"
        " WHEN NEW.amount_refunded < OLD.amount_refunded"
        " BEGIN SELECT RAISE(ABORT, 'payments are immutable: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER payments_no_delete BEFORE DELETE ON payments"
        " BEGIN SELECT RAISE(ABORT, 'payments are immutable: DELETE refused'); END"
    )
    for table in IMMUTABLE:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table}"
                f" BEGIN SELECT RAISE(ABORT, '{table} are immutable: {operation} refused'); END"
            )


def downgrade() -> None:
    """Back to 0003: the new records are dropped with their tables (back up first)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for name, table in (
            ("credit_adds_up_after_entry", "credit_entries"),
            ("credit_adds_up_after_balance_change", "credit_balances"),
            ("refunds_add_up_after_refund", "refunds"),
            ("refunds_add_up_after_refunded_change", "payments"),
            ("figures_add_up_after_refund", "refunds"),
            ("figures_add_up_after_credit_note", "credit_notes"),
            ("payments_add_up_after_paid_change", "invoices"),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for table in IMMUTABLE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
        for function in (
            "credit_balance_adds_up",
            "payment_refunds_add_up",
            "records_are_immutable",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for trigger in ("payments_no_update", "payments_refunds_only_grow", "payments_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for table in ("credit_balances", "credit_entries", "credit_payouts", "credit_notes", "refunds"):
        op.drop_table(table)
    op.drop_index("ix_payments_receipt_id", "payments")
    with op.batch_alter_table("payments", recreate="auto") as batch:
        batch.drop_constraint(
            "fk_payments_receipt_id_school_id_student_id_currency_receipts", type_="foreignkey"
        )
        batch.drop_constraint(
            "uq_payments_id_invoice_id_school_id_student_id_currency", type_="unique"
        )
        batch.drop_constraint(op.f("ck_payments_refunded_within_amount"), type_="check")
        batch.drop_constraint(op.f("ck_payments_method"), type_="check")
        batch.create_check_constraint(
            op.f("ck_payments_ck_payments_method"),
            "method IN ('cash', 'card', 'bank_transfer', 'other')",
        )
        batch.drop_column("receipt_id")
        batch.drop_column("amount_refunded")
    op.drop_table("receipts")
    with op.batch_alter_table("student_balances", recreate="auto") as batch:
        for name in ("closed_paid", "closed_credited", "closed_refunded"):
            batch.drop_column(name)
    op.drop_index("ix_invoices_open_by_school", "invoices")
    with op.batch_alter_table("invoices", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_invoices_settled_within_amount"), type_="check")
        batch.drop_constraint(op.f("ck_invoices_status_matches_figures"), type_="check")
        batch.create_check_constraint(
            op.f("ck_invoices_ck_invoices_paid_within_amount"),
            "amount_paid >= 0 AND amount_paid <= amount",
        )
        batch.create_check_constraint(
            op.f("ck_invoices_ck_invoices_status_matches_amounts"),
            "(status = 'PENDING' AND amount_paid = 0 AND cancelled_at IS NULL)"
            " OR (status = 'PARTIALLY_PAID' AND amount_paid > 0 AND amount_paid < amount"
            " AND cancelled_at IS NULL)"
            " OR (status = 'PAID' AND amount_paid = amount AND cancelled_at IS NULL)"
            " OR (status = 'CANCELLED' AND amount_paid = 0 AND cancelled_at IS NOT NULL)",
        )
        batch.drop_column("amount_refunded")
        batch.drop_column("amount_credited")
    op.create_index(
        "ix_invoices_open_by_school",
        "invoices",
        ["school_id", "currency", "due_date"],
        postgresql_include=["amount", "amount_paid", "student_id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )
    if postgres:
        op.execute(
            """
            CREATE OR REPLACE FUNCTION payments_are_immutable() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'payments are immutable: % refused', TG_OP
                    USING ERRCODE = 'restrict_violation';
            END $$
            """
        )
        op.execute(
            """
            CREATE OR REPLACE FUNCTION invoice_paid_matches_payments() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                target uuid;
                paid bigint;
                total bigint;
            BEGIN
                IF TG_TABLE_NAME = 'payments' THEN target := NEW.invoice_id; ELSE target := NEW.id; END IF;
                SELECT amount_paid INTO paid FROM invoices WHERE id = target;
                SELECT COALESCE(SUM(amount), 0) INTO total FROM payments WHERE invoice_id = target;
                IF paid IS DISTINCT FROM total THEN
                    RAISE EXCEPTION 'invoice % has amount_paid % but its payments add up to %',
                        target, paid, total
                        USING ERRCODE = 'integrity_constraint_violation',
                              CONSTRAINT = 'invoice_paid_matches_payments';
                END IF;
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE CONSTRAINT TRIGGER payments_add_up_after_paid_change AFTER UPDATE OF amount_paid"
            " ON invoices DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
            " WHEN (OLD.amount_paid IS DISTINCT FROM NEW.amount_paid)"
            " EXECUTE FUNCTION invoice_paid_matches_payments()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER payments_no_{operation.lower()} BEFORE {operation} ON payments"
                f" BEGIN SELECT RAISE(ABORT, 'payments are immutable: {operation} refused'); END"
            )
