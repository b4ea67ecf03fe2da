"""A statement's per-currency figures as SQL aggregates: a fixed number of queries, whatever the
school's size.

Two ways to the same figures:
- *today* (no `as_of`): closed invoices come from `student_balances`, the balance projection
  (`projections.py`), only open invoices are scanned (through the partial index that carries
  their figures), and credit from `credit_balances`; so the cost follows open invoices and the
  page size, not years of paid history;
- *as of a past day*: invoices issued before the cut-off are aggregated from the raw rows, their
  figures at the cut-off being today's less what payments, refunds and credit notes made since
  added (read through the `(school_id, time)` indexes), and credit from the entries effective
  before the cut-off (this grows with history; it is the rarer question).

Each way is a UNION ALL of parts (invoice figures, student counts, credit), each already
grouped by the keys, summed once more per key: so a currency with credit and no invoice still
has its totals entry, with zero invoice figures. Both ways share the figures' names (`FIGURES`)
and the tests hold both against an oracle.

Statements are built once per shape with bound parameters (`:owner`, `:day`, `:cutoff`…), so a
request only binds values: building SQLAlchemy expressions per request cost more than the query.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any, Literal

from sqlalchemy import (
    Date,
    Table,
    Uuid,
    bindparam,
    case,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.sql import ColumnElement, Select, Subquery

from school_payments.adapters.persistence.concepts import is_open
from school_payments.adapters.persistence.tables import (
    credit_balances,
    credit_entries,
    credit_notes,
    invoices,
    payments,
    refunds,
    student_balances,
)
from school_payments.adapters.persistence.types import UtcDateTime
from school_payments.domain.calendar import aging_boundaries
from school_payments.domain.credit import CreditDirection

Owner = Literal["school", "student", "students"]
"""Whose figures: one school (`:owner`), one student (`:owner`), or a page (`:owners`); the
students' queries name their school too (`:school`), so that each stays on one shard when the
tables are distributed by school (docs/scaling.md §3)."""

DAY = bindparam("day", type_=Date)
B30, B60, B90 = (bindparam(name, type_=Date) for name in ("b30", "b60", "b90"))
CUTOFF = bindparam("cutoff", type_=UtcDateTime())
OWNER = bindparam("owner", type_=Uuid())
OWNERS = bindparam("owners", type_=Uuid(), expanding=True)
SCHOOL = bindparam("school", type_=Uuid())

AGING = ("aging_current", "aging_1_30", "aging_31_60", "aging_61_90", "aging_over_90")
INVOICE_FIGURES = (
    "invoiced",
    "credited",
    "paid",
    "refunded",
    "outstanding",
    "overdue",
    "invoice_count",
    "pending_count",
    "partially_paid_count",
    "paid_count",
    "overdue_count",
    "cancelled_count",
    *AGING,
)
FIGURES = (*INVOICE_FIGURES, "credit_balance", "student_count")
"""Every column a figures query returns after its keys (read back by `statements.py`)."""


def day_params(day: date) -> dict[str, date]:
    b30, b60, b90 = aging_boundaries(day)
    return {"day": day, "b30": b30, "b60": b60, "b90": b90}


def owned(owner: Owner, table: Table) -> ColumnElement[bool]:
    """The owner's rows of `table`. Refunds and credit notes have no student index: a student's
    are found through the student's invoices (`invoice_id` is indexed on both)."""
    if owner == "school":
        return table.c.school_id == OWNER
    school = table.c.school_id == SCHOOL
    if table not in (refunds, credit_notes):
        column = table.c.student_id
        return school & (column == OWNER if owner == "student" else column.in_(OWNERS))
    theirs = select(invoices.c.id).where(owned(owner, invoices))
    return school & table.c.invoice_id.in_(theirs)


def _sum(value: ColumnElement[Any], condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(value).filter(condition), 0)


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.count().filter(condition)


def _aged(
    remaining: ColumnElement[Any], due: Any, owing: ColumnElement[bool] | None = None
) -> list[Any]:
    """Overdue and the aging buckets of what owing rows (None: every row) still owe, judged on
    `:day`."""

    def owed(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return _sum(remaining, condition if owing is None else owing & condition)

    late = due < DAY
    return [
        owed(late).label("overdue"),
        owed(~late).label("aging_current"),
        owed(late & (due >= B30)).label("aging_1_30"),
        owed((due < B30) & (due >= B60)).label("aging_31_60"),
        owed((due < B60) & (due >= B90)).label("aging_61_90"),
        owed(due < B90).label("aging_over_90"),
    ]


# -- as of a day: the raw rows, less what happened since the cut-off ---------------------------


def _since(owner: Owner, table: Table, moment: Any, name: str) -> Subquery:
    """Per invoice, what the owner's `table` records made at or after `:cutoff` add up to.

    An invoice's figure at the cut-off is its stored figure less these (they agree because the
    stored figures are the sums of the records, which reconciliation checks). Reading the later
    records through the (school_id, time) index costs what happened since the day, not the
    school's whole history.
    """
    return (
        select(table.c.invoice_id, func.sum(table.c.amount).label("since"))
        .where(owned(owner, table), moment >= CUTOFF)
        .group_by(table.c.invoice_id)
        .subquery(name)
    )


def _lines_as_of(owner: Owner) -> Subquery:
    """The owner's invoices as they stood at `:cutoff`: one row per invoice with its amount,
    paid (net of refunds), credited, refunded, cancelled (1/0) and due date."""
    paid = _since(owner, payments, payments.c.paid_at, "paid_since")
    refunded = _since(owner, refunds, refunds.c.refunded_at, "refunded_since")
    credited = _since(owner, credit_notes, credit_notes.c.issued_at, "credited_since")
    i = invoices.c

    def less(figure: ColumnElement[int], since: Subquery) -> ColumnElement[Any]:
        return figure - func.coalesce(since.c.since, 0)

    return (
        select(
            i.student_id,
            i.currency,
            i.amount,
            # Net paid then: refunds made since gave back money the invoice still held then.
            (less(i.amount_paid, paid) + func.coalesce(refunded.c.since, 0)).label("paid"),
            less(i.amount_credited, credited).label("credited"),
            less(i.amount_refunded, refunded).label("refunded"),
            case((i.cancelled_at < CUTOFF, 1), else_=0).label("cancelled"),
            i.due_date,
        )
        .select_from(
            invoices.outerjoin(paid, paid.c.invoice_id == i.id)
            .outerjoin(refunded, refunded.c.invoice_id == i.id)
            .outerjoin(credited, credited.c.invoice_id == i.id)
        )
        .where(owned(owner, invoices), i.issued_at < CUTOFF)
        .subquery("lines")
    )


def _invoice_figures_as_of(owner: Owner, keys: tuple[str, ...]) -> Select[Any]:
    """Every invoice figure of the contract at `:cutoff`, judged on `:day`."""
    c = _lines_as_of(owner).c
    live = c.cancelled == 0
    owing = live & (c.paid + c.credited < c.amount)
    late = c.due_date < DAY
    # Backdated records can over-settle a line on a past day: it then owes 0, never less.
    remaining = c.amount - c.credited - c.paid
    group = [c[k] for k in keys]
    return select(
        *group,
        _sum(c.amount, live).label("invoiced"),
        _sum(c.credited, live).label("credited"),
        _sum(c.paid, live).label("paid"),
        _sum(c.refunded, live).label("refunded"),
        _sum(remaining, owing).label("outstanding"),
        func.count().label("invoice_count"),
        _count(owing & (c.paid == 0) & ~late).label("pending_count"),
        _count(owing & (c.paid > 0) & ~late).label("partially_paid_count"),
        _count(live & ~owing).label("paid_count"),
        _count(owing & late).label("overdue_count"),
        _count(~live).label("cancelled_count"),
        *_aged(remaining, c.due_date, owing),
    ).group_by(*group)


def _students_as_of(keys: tuple[str, ...]) -> Select[Any]:
    """How many students had an invoice in each currency at `:cutoff`.

    Its own (hashable) grouping: a COUNT(DISTINCT …) among the figures would force PostgreSQL
    to sort every line of the school.
    """
    pairs = (
        select(invoices.c.currency, invoices.c.student_id)
        .where(owned("school", invoices), invoices.c.issued_at < CUTOFF)
        .group_by(invoices.c.currency, invoices.c.student_id)
        .subquery("pairs")
    )
    group = [pairs.c[k] for k in keys]
    return select(*group, func.count().label("student_count")).group_by(*group)


def _credit_as_of(owner: Owner, keys: tuple[str, ...]) -> Select[Any]:
    """Credit held at `:cutoff`: Σ in − Σ out of the entries effective before it (an entry
    counts from the business time of its record)."""
    e = credit_entries.c
    signed = case((e.direction == CreditDirection.IN.value, e.amount), else_=-e.amount)
    group = [e[k] for k in keys]
    return (
        select(*group, func.sum(signed).label("credit_balance"))
        .where(owned(owner, credit_entries), e.effective_at < CUTOFF)
        .group_by(*group)
    )


# -- today: the balance projection, the open invoices and the credit balances ------------------


def _open_figures(owner: Owner, keys: tuple[str, ...]) -> Select[Any]:
    """Today's figures of the owner's open invoices, grouped by `keys`.

    Open invoices owe by definition (nothing cancelled, paid and credited below the amount),
    and every figure of the day depends on an invoice only through its due date. So they are
    first summed per due date — an index-only scan of the partial index with a handful of plain
    sums — and the day's conditions (late, aging buckets) are then applied to those few hundred
    groups instead of to every invoice: evaluating a dozen FILTERs per open invoice was most of
    a school statement's time.
    """
    i = invoices.c
    group = [i[k] for k in keys]
    by_due = (
        select(
            *group,
            i.due_date,
            func.count().label("n"),
            func.count().filter(i.amount_paid == 0).label("unpaid"),
            func.sum(i.amount).label("amount"),
            func.sum(i.amount_credited).label("credited"),
            func.sum(i.amount_paid).label("paid"),
            func.sum(i.amount_refunded).label("refunded"),
            func.sum(i.amount - i.amount_credited - i.amount_paid).label("remaining"),
        )
        .where(owned(owner, invoices), is_open(i.status))
        .group_by(*group, i.due_date)
        .subquery("open_by_due")
    )
    c = by_due.c
    late = c.due_date < DAY
    return select(
        *[c[k] for k in keys],
        func.sum(c.amount).label("invoiced"),
        func.sum(c.credited).label("credited"),
        func.sum(c.paid).label("paid"),
        func.sum(c.refunded).label("refunded"),
        func.sum(c.remaining).label("outstanding"),
        func.sum(c.n).label("invoice_count"),
        _sum(c.unpaid, ~late).label("pending_count"),
        _sum(c.n - c.unpaid, ~late).label("partially_paid_count"),
        _sum(c.n, late).label("overdue_count"),
        *_aged(c.remaining, c.due_date),
    ).group_by(*[c[k] for k in keys])


def _closed_figures(owner: Owner, keys: tuple[str, ...]) -> Select[Any]:
    """What closed invoices add, from the projection. Every (student, currency) with an invoice
    has a row there (`projections.py`), so counting rows counts the students."""
    b = student_balances.c
    group = [b[k] for k in keys]
    return (
        select(
            *group,
            func.sum(b.closed_invoiced).label("invoiced"),
            func.sum(b.closed_credited).label("credited"),
            func.sum(b.closed_paid).label("paid"),
            func.sum(b.closed_refunded).label("refunded"),
            func.sum(b.paid_count + b.cancelled_count).label("invoice_count"),
            func.sum(b.paid_count).label("paid_count"),
            func.sum(b.cancelled_count).label("cancelled_count"),
            func.count().label("student_count"),
        )
        .where(owned(owner, student_balances))
        .group_by(*group)
    )


def _credit_today(owner: Owner, keys: tuple[str, ...]) -> Select[Any]:
    """Credit held now. A balance row exists once a student has a credit entry in the currency
    (reconciliation checks it), so it also says the currency has one."""
    c = credit_balances.c
    group = [c[k] for k in keys]
    return (
        select(*group, func.sum(c.balance).label("credit_balance"))
        .where(owned(owner, credit_balances))
        .group_by(*group)
    )


def _combined(parts: list[Select[Any]], keys: tuple[str, ...]) -> Select[Any]:
    """The parts side by side (each lacking figure a zero), summed per key, ordered by key."""
    zero: ColumnElement[Any] = literal_column("0")
    aligned = []
    for part in parts:
        present = {column.name: column for column in part.selected_columns}
        aligned.append(
            part.with_only_columns(
                *[present[k] for k in keys],
                *[present.get(name, zero).label(name) for name in FIGURES],
                maintain_column_froms=True,
            )
        )
    every = union_all(*aligned).subquery("parts")
    group = [every.c[k] for k in keys]
    return (
        select(*group, *[func.sum(every.c[name]).label(name) for name in FIGURES])
        .group_by(*group)
        .order_by(*group)
    )


@functools.cache
def figures_query(owner: Owner, keys: tuple[str, ...], as_of: bool) -> Select[Any]:
    """Per-currency figures (grouped by `keys`), today or as of `:cutoff`; built once per shape.

    Student counts are only worked out for a whole school (the only statement showing them).
    """
    if as_of:
        parts = [_invoice_figures_as_of(owner, keys), _credit_as_of(owner, keys)]
        if owner == "school":
            parts.append(_students_as_of(keys))
    else:
        parts = [_closed_figures(owner, keys), _open_figures(owner, keys)]
        parts.append(_credit_today(owner, keys))
    return _combined(parts, keys)
