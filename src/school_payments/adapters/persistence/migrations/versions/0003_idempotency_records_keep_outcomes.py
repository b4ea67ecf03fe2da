"""Idempotency records keep the command's outcome, not an HTTP response.

The application stores what a creating command ended with (its result, or its refusal) and the
web adapter renders it, for the first request and for every replay alike (ADR 0014). The table
holds at most a day of short-lived records; they are recreated empty rather than converted,
since an HTTP body of the earlier version cannot be turned back into an outcome. Upgrade while no
client is retrying a creating request: a retry of a request completed before the upgrade would
act again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from school_payments.adapters.persistence.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _create(outcome_columns: list[sa.Column[object]], check: sa.CheckConstraint) -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("lock_token", sa.Uuid(), nullable=False),
        sa.Column("locked_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime()),
        *outcome_columns,
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
        check,
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def upgrade() -> None:
    op.drop_table("idempotency_keys")
    _create(
        [sa.Column("outcome", sa.LargeBinary())],
        sa.CheckConstraint(
            "(completed_at IS NULL) = (outcome IS NULL)",
            name="outcome_when_completed",
        ),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    _create(
        [
            sa.Column("response_status", sa.Integer()),
            sa.Column("response_headers", sa.Text()),
            sa.Column("response_body", sa.LargeBinary()),
        ],
        sa.CheckConstraint(
            "(completed_at IS NULL) = (response_status IS NULL)",
            name="ck_idempotency_keys_response_when_completed",
        ),
    )
