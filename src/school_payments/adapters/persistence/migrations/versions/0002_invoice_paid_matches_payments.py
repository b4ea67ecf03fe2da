"""An invoice's amount_paid equals the sum of its payments, checked by PostgreSQL at commit.

CHECK constraints see one row; this rule spans two tables. A deferred constraint trigger checks
it when the transaction commits, after the payment is inserted and amount_paid moved on, so the
order of the two writes inside a transaction does not matter. It fires for a new payment, for a
change of amount_paid, and for an invoice inserted already (partly) paid, as the seed does.

SQLite has no deferred triggers. An immediate one would misfire in any transaction that writes
the two rows in the other order, so there the rule is covered by reconciliation
(`school-payments reconcile`, run after every randomized workload in the test suite).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE FUNCTION invoice_paid_matches_payments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target uuid;
    paid bigint;
    total bigint;
BEGIN
    IF TG_TABLE_NAME = 'payments' THEN
        target := NEW.invoice_id;
    ELSE
        target := NEW.id;
    END IF;
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

# name -> (table, event, condition): where the rule may have changed for one invoice.
_TRIGGERS = {
    "payments_add_up_after_payment": ("payments", "INSERT", None),
    "payments_add_up_after_paid_change": (
        "invoices",
        "UPDATE OF amount_paid",
        "OLD.amount_paid IS DISTINCT FROM NEW.amount_paid",
    ),
    "payments_add_up_after_paid_invoice": ("invoices", "INSERT", "NEW.amount_paid <> 0"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    for name, (table, event, condition) in _TRIGGERS.items():
        when = f" WHEN ({condition})" if condition else ""
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table}"
            f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW{when}"
            " EXECUTE FUNCTION invoice_paid_matches_payments()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, _, _) in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS invoice_paid_matches_payments()")
