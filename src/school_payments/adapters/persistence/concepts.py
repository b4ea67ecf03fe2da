"""The domain's business concepts as SQL, built from the domain's own definitions.

The SQL cannot disagree with the domain about what a concept means: the values come from
`domain/entities.py`, not from a second spelling here.
"""

from __future__ import annotations

from sqlalchemy.sql import ColumnElement

from school_payments.domain.entities import OPEN_STATUSES, InvoiceStatus

OPEN_STATUS_VALUES = tuple(status.value for status in InvoiceStatus if status in OPEN_STATUSES)
"""`OPEN_STATUSES` in declaration order (PENDING, PARTIALLY_PAID): the SQL text is stable."""


def is_open(status: ColumnElement[str]) -> ColumnElement[bool]:
    """An open invoice: its stored `status` still awaits money (so it can become overdue)."""
    return status.in_(OPEN_STATUS_VALUES)
