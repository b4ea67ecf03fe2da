"""Account statements as SQL aggregates: a fixed number of queries, whatever the school's size.

Two ways to the same figures:
- *today* (no `as_of`): closed invoices come from `student_balances`, the balance projection
  (`projections.py`), and only open invoices are scanned, so the cost follows open invoices and
  the page size, not years of paid history;
- *as of a past day*: invoices issued and payments made before the cut-off are aggregated from
  the raw rows (this grows with history; it is the rarer question).
Both are built from the same aggregate expressions, and the tests hold both against an oracle.

Statements are built once per shape with bound parameters (`:owner`, `:day`, `:cutoff`…), so a
request only binds values: building SQLAlchemy expressions per request cost more than the query.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import asdict
from datetime import date, datetime
from functools import partial
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import Date, Integer, Uuid, and_, bindparam, case, func, select, text
from sqlalchemy.sql import ColumnElement, Select, Subquery

from school_payments.adapters.persistence.concepts import is_open
from school_payments.adapters.persistence.database import Database, SqlConnection
from school_payments.adapters.persistence.mapping import (
    page_of,
    page_query,
    record_from,
    school_in_scope,
    scoped,
)
from school_payments.adapters.persistence.tables import (
    invoices,
    payments,
    schools,
    student_balances,
    students,
)
from school_payments.adapters.persistence.types import UtcDateTime
from school_payments.application.caller import Scope
from school_payments.application.pagination import LinesRequest, Page, PageRequest
from school_payments.application.read_models import (
    Aging,
    CurrencyTotals,
    SchoolStatement,
    StatusCounts,
    StudentLine,
    StudentStatement,
    StudentTotals,
)
from school_payments.domain.calendar import aging_boundaries, end_of_day, statement_day
from school_payments.domain.entities import (
    Invoice,
    InvoiceStatus,
    Payment,
    School,
    Student,
    status_for_paid,
)
from school_payments.domain.errors import NotFoundError
from school_payments.domain.money import Money

Owner = Literal["school", "student", "students"]
"""Whose figures: one school (`:owner`), one student (`:owner`), or a page (`:owners`)."""

DAY = bindparam("day", type_=Date)
B30, B60, B90 = (bindparam(name, type_=Date) for name in ("b30", "b60", "b90"))
CUTOFF = bindparam("cutoff", type_=UtcDateTime())
OWNER = bindparam("owner", type_=Uuid())
OWNERS = bindparam("owners", type_=Uuid(), expanding=True)


def _owned(owner: Owner, school_column: Any, student_column: Any) -> ColumnElement[bool]:
    if owner == "school":
        return school_column == OWNER  # type: ignore[no-any-return]
    if owner == "student":
        return student_column == OWNER  # type: ignore[no-any-return]
    return student_column.in_(OWNERS)  # type: ignore[no-any-return]


def _day_params(day: date) -> dict[str, date]:
    b30, b60, b90 = aging_boundaries(day)
    return {"day": day, "b30": b30, "b60": b60, "b90": b90}


# -- the figures, as aggregate expressions over "lines" ----------------------------------------
# A lines subquery has one row per invoice: student_id, currency, amount, paid (as of the
# cut-off), cancelled (1/0 as of the cut-off) and due_date.


def _sum(value: ColumnElement[Any], condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(value).filter(condition), 0)


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.count().filter(condition)


def _aggregates(lines: Subquery) -> list[ColumnElement[Any]]:
    """Every per-currency figure of the contract, judged on `:day` (labels are read back below)."""
    c = lines.c
    live = c.cancelled == 0
    owing = live & (c.paid < c.amount)
    late = c.due_date < DAY
    remaining = c.amount - c.paid
    return [
        _sum(c.amount, live).label("invoiced"),
        _sum(c.paid, live).label("paid"),
        _sum(remaining, owing & late).label("overdue"),
        func.count().label("invoice_count"),
        _count(live & (c.paid == 0) & ~late).label("pending_count"),
        _count(owing & (c.paid > 0) & ~late).label("partially_paid_count"),
        _count(live & (c.paid >= c.amount)).label("paid_count"),
        _count(owing & late).label("overdue_count"),
        _count(~live).label("cancelled_count"),
        _sum(remaining, owing & ~late).label("aging_current"),
        _sum(remaining, owing & late & (c.due_date >= B30)).label("aging_1_30"),
        _sum(remaining, owing & (c.due_date < B30) & (c.due_date >= B60)).label("aging_31_60"),
        _sum(remaining, owing & (c.due_date < B60) & (c.due_date >= B90)).label("aging_61_90"),
        _sum(remaining, owing & (c.due_date < B90)).label("aging_over_90"),
    ]


def _paid_since(owner: Owner) -> Subquery:
    """Per invoice, what its payments made at or after `:cutoff` add up to.

    What an invoice had been paid at the cut-off is its `amount_paid` minus these (the two agree
    because `amount_paid` is the sum of its payments, which reconciliation checks). Reading the
    later payments through the (school_id, paid_at) index costs what happened since the day,
    not the school's whole history of payments.
    """
    return (
        select(payments.c.invoice_id, func.sum(payments.c.amount).label("paid"))
        .where(
            _owned(owner, payments.c.school_id, payments.c.student_id),
            payments.c.paid_at >= CUTOFF,
        )
        .group_by(payments.c.invoice_id)
        .subquery("paid_since")
    )


def _lines_as_of(owner: Owner) -> Subquery:
    """The owner's invoices as they stood at `:cutoff`."""
    since = _paid_since(owner)
    return (
        select(
            invoices.c.student_id,
            invoices.c.currency,
            invoices.c.amount,
            (invoices.c.amount_paid - func.coalesce(since.c.paid, 0)).label("paid"),
            case((invoices.c.cancelled_at < CUTOFF, 1), else_=0).label("cancelled"),
            invoices.c.due_date,
        )
        .select_from(invoices.outerjoin(since, since.c.invoice_id == invoices.c.id))
        .where(
            _owned(owner, invoices.c.school_id, invoices.c.student_id),
            invoices.c.issued_at < CUTOFF,
        )
        .subquery("lines")
    )


def _open_totals(owner: Owner, keys: tuple[str, ...]) -> Subquery:
    """Today's figures of the owner's open invoices, grouped by `keys`.

    Open invoices are owed by definition (nothing cancelled, paid below the amount), and every
    figure of the day depends on an invoice only through its due date. So they are first summed
    per due date — an index-only scan with a handful of plain sums — and the day's conditions
    (late, aging buckets) are then applied to those few hundred groups instead of to every
    invoice: evaluating a dozen FILTERs per open invoice was most of a school statement's time.
    """
    group = [invoices.c[k] for k in keys]
    remaining = invoices.c.amount - invoices.c.amount_paid
    by_due = (
        select(
            *group,
            invoices.c.due_date,
            func.count().label("n"),
            func.count().filter(invoices.c.amount_paid == 0).label("unpaid"),
            func.sum(invoices.c.amount).label("amount"),
            func.sum(invoices.c.amount_paid).label("paid"),
            func.sum(remaining).label("remaining"),
        )
        .where(
            _owned(owner, invoices.c.school_id, invoices.c.student_id),
            is_open(invoices.c.status),
        )
        .group_by(*group, invoices.c.due_date)
        .subquery("open_by_due")
    )
    c = by_due.c
    late = c.due_date < DAY
    return (
        select(
            *[c[k] for k in keys],
            func.sum(c.amount).label("invoiced"),
            func.sum(c.paid).label("paid"),
            _sum(c.remaining, late).label("overdue"),
            func.sum(c.n).label("invoice_count"),
            _sum(c.unpaid, ~late).label("pending_count"),
            _sum(c.n - c.unpaid, ~late).label("partially_paid_count"),
            _sum(c.n, late).label("overdue_count"),
            _sum(c.remaining, ~late).label("aging_current"),
            _sum(c.remaining, late & (c.due_date >= B30)).label("aging_1_30"),
            _sum(c.remaining, (c.due_date < B30) & (c.due_date >= B60)).label("aging_31_60"),
            _sum(c.remaining, (c.due_date < B60) & (c.due_date >= B90)).label("aging_61_90"),
            _sum(c.remaining, c.due_date < B90).label("aging_over_90"),
        )
        .group_by(*[c[k] for k in keys])
        .subquery("open_totals")
    )


def _grouped(lines: Subquery, keys: tuple[str, ...]) -> Select[Any]:
    group = [lines.c[k] for k in keys]
    return select(*group, *_aggregates(lines)).group_by(*group).order_by(*group)


def _as_of(owner: Owner, keys: tuple[str, ...]) -> Select[Any]:
    """The figures at `:cutoff`, with how many students had an invoice in each currency.

    The student count is its own (hashable) grouping: a COUNT(DISTINCT …) among the figures
    would force PostgreSQL to sort every line of the school.
    """
    figures = _grouped(_lines_as_of(owner), keys).order_by(None).subquery("figures")
    pairs = (
        select(invoices.c.currency, invoices.c.student_id)
        .where(
            _owned(owner, invoices.c.school_id, invoices.c.student_id),
            invoices.c.issued_at < CUTOFF,
        )
        .group_by(invoices.c.currency, invoices.c.student_id)
        .subquery("pairs")
    )
    counted = (
        select(*[pairs.c[k] for k in keys], func.count().label("student_count"))
        .group_by(*[pairs.c[k] for k in keys])
        .subquery("counted")
    )
    return (
        select(figures, counted.c.student_count)
        .select_from(figures.join(counted, and_(*[counted.c[k] == figures.c[k] for k in keys])))
        .order_by(*[figures.c[k] for k in keys])
    )


def _today_with_history(owner: Owner, keys: tuple[str, ...]) -> Select[Any]:
    """Today's figures: closed invoices from the balance projection, plus the open invoices.

    Every (student, currency) with an invoice has a projection row (`projections.py`), so the
    balances side of the outer join is complete; open invoices only add to it.
    """
    opened = _open_totals(owner, keys)
    b = student_balances.c
    closed = (
        select(
            *[b[k] for k in keys],
            func.sum(b.closed_invoiced).label("closed_invoiced"),
            func.sum(b.paid_count).label("closed_paid_count"),
            func.sum(b.cancelled_count).label("closed_cancelled_count"),
            func.count().label("student_count"),
        )
        .where(_owned(owner, b.school_id, b.student_id))
        .group_by(*[b[k] for k in keys])
        .subquery("closed")
    )
    o, c = opened.c, closed.c

    def open_(name: str) -> ColumnElement[Any]:
        return func.coalesce(o[name], 0)

    aging = ("aging_current", "aging_1_30", "aging_31_60", "aging_61_90", "aging_over_90")
    return (
        select(
            *[c[k] for k in keys],
            (c.closed_invoiced + open_("invoiced")).label("invoiced"),
            (c.closed_invoiced + open_("paid")).label("paid"),
            open_("overdue").label("overdue"),
            (c.closed_paid_count + c.closed_cancelled_count + open_("invoice_count")).label(
                "invoice_count"
            ),
            open_("pending_count").label("pending_count"),
            open_("partially_paid_count").label("partially_paid_count"),
            c.closed_paid_count.label("paid_count"),
            open_("overdue_count").label("overdue_count"),
            c.closed_cancelled_count.label("cancelled_count"),
            *[open_(name).label(name) for name in aging],
            c.student_count,
        )
        .select_from(closed.outerjoin(opened, and_(*[o[k] == c[k] for k in keys])))
        .order_by(*[c[k] for k in keys])
    )


@functools.cache
def figures_query(owner: Owner, keys: tuple[str, ...], as_of: bool) -> Select[Any]:
    """Per-currency figures (grouped by `keys`), today or as of `:cutoff`; built once per shape."""
    if as_of:
        return _as_of(owner, keys)
    return _today_with_history(owner, keys)


_SCHOOL_COLUMNS = [column.label(f"school__{column.name}") for column in schools.c]


@functools.cache
def _student_with_school() -> Select[Any]:
    return (
        select(students, *_SCHOOL_COLUMNS)
        .join(schools, schools.c.id == students.c.school_id)
        .where(students.c.id == OWNER)
    )


AFTER = bindparam("after", type_=Uuid())
LINES_LIMIT = bindparam("lines_limit", type_=Integer())


@functools.cache
def _line_window(as_of: bool, after: bool) -> Select[Any]:
    """The ids of one page of `:owner`'s invoice lines (one more than asked: is there a next?)."""
    query = select(invoices.c.id).where(invoices.c.student_id == OWNER)
    if as_of:
        query = query.where(invoices.c.issued_at < CUTOFF)
    if after:
        query = query.where(invoices.c.id > AFTER)
    return query.order_by(invoices.c.id).limit(LINES_LIMIT)


@functools.cache
def _student_lines(as_of: bool, paged: bool) -> Select[Any]:
    """Each invoice of `:owner` with its payments (one row per payment, or one without); only
    those of `:line_ids` when `paged`."""
    payment_columns = [column.label(f"payment__{column.name}") for column in payments.c]
    if not as_of:
        query = (
            select(invoices, invoices.c.amount_paid.label("paid_as_of"), *payment_columns)
            .select_from(invoices.outerjoin(payments, payments.c.invoice_id == invoices.c.id))
            .where(invoices.c.student_id == OWNER)
            .order_by(invoices.c.id, payments.c.id)
        )
    else:
        counted = and_(payments.c.invoice_id == invoices.c.id, payments.c.paid_at < CUTOFF)
        paid = func.coalesce(func.sum(payments.c.amount).over(partition_by=invoices.c.id), 0)
        query = (
            select(invoices, paid.label("paid_as_of"), *payment_columns)
            .select_from(invoices.outerjoin(payments, counted))
            .where(invoices.c.student_id == OWNER, invoices.c.issued_at < CUTOFF)
            .order_by(invoices.c.id, payments.c.id)
        )
    if paged:
        query = query.where(invoices.c.id.in_(bindparam("line_ids", expanding=True)))
    return query


class _Prefixed:
    """The columns of a joined row that carry `prefix`, read without it (`payment__id` → `id`)."""

    __slots__ = ("_prefix", "_row")

    def __init__(self, row: Any, prefix: str) -> None:
        self._row = row
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)


def _currency_totals(row: Any, *, with_students: bool) -> CurrencyTotals:
    return CurrencyTotals(
        **asdict(_student_totals(row)),
        status_counts=StatusCounts(
            pending=int(row.pending_count),
            partially_paid=int(row.partially_paid_count),
            paid=int(row.paid_count),
            overdue=int(row.overdue_count),
            cancelled=int(row.cancelled_count),
        ),
        aging=Aging(
            current=int(row.aging_current),
            days_1_30=int(row.aging_1_30),
            days_31_60=int(row.aging_31_60),
            days_61_90=int(row.aging_61_90),
            over_90=int(row.aging_over_90),
        ),
        student_count=int(row.student_count) if with_students else None,
    )


def _student_totals(row: Any) -> StudentTotals:
    invoiced, paid = int(row.invoiced), int(row.paid)
    return StudentTotals(
        currency=row.currency,
        invoiced=invoiced,
        paid=paid,
        outstanding=invoiced - paid,
        overdue=int(row.overdue),
        invoice_count=int(row.invoice_count),
    )


def _invoices_from_lines(rows: Any, cutoff: datetime | None) -> list[Invoice]:
    """Invoices with their payments, figures as of `cutoff`, from the joined rows (in id order)."""
    found: list[Invoice] = []
    by_id: dict[UUID, list[Payment]] = {}
    for row in rows:
        if row.id not in by_id:
            by_id[row.id] = []
            found.append(_invoice_as_of(row, cutoff))
        if row.payment__id is not None:
            by_id[row.id].append(record_from(Payment, _Prefixed(row, "payment__")))
    for invoice in found:
        invoice.payments = tuple(by_id[invoice.id])
    return found


def _invoice_as_of(row: Any, cutoff: datetime | None) -> Invoice:
    invoice = record_from(Invoice, row)
    if cutoff is None:
        return invoice
    cancelled = invoice.cancelled_at is not None and invoice.cancelled_at < cutoff
    invoice.amount_paid = Money(int(row.paid_as_of), invoice.currency)
    invoice.cancelled_at = invoice.cancelled_at if cancelled else None
    invoice.status = (
        InvoiceStatus.CANCELLED
        if cancelled
        else status_for_paid(invoice.amount_paid.amount, invoice.amount.amount)
    )
    return invoice


class SqlStatementReader:
    """Statements in three (student) or four (school) queries, from one database snapshot."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def student_statement(
        self,
        scope: Scope,
        student_id: UUID,
        *,
        as_of: date | None,
        now: datetime,
        lines: LinesRequest | None = None,
    ) -> StudentStatement:
        async with self._database.snapshot() as sql:
            query = scoped(_student_with_school(), students.c.school_id, scope)
            row = (await sql.execute(query, {"owner": student_id})).first()
            if row is None:
                raise NotFoundError("student", student_id)
            student, school = (
                record_from(Student, row),
                record_from(School, _Prefixed(row, "school__")),
            )
            day, cutoff, params = await _judged(sql, student_id, school, as_of, now)
            totals = (
                await sql.execute(
                    figures_query("student", ("currency",), cutoff is not None), params
                )
            ).all()
            next_after = None
            if lines is not None:
                window = _line_window(cutoff is not None, lines.after is not None)
                ids = (
                    (
                        await sql.execute(
                            window, {**params, "after": lines.after, "lines_limit": lines.limit + 1}
                        )
                    )
                    .scalars()
                    .all()
                )
                if len(ids) > lines.limit:
                    ids = ids[: lines.limit]
                    next_after = ids[-1]
                params["line_ids"] = list(ids)
            query = _student_lines(cutoff is not None, lines is not None)
            rows: Any = []
            if lines is None or params["line_ids"]:
                rows = (await sql.execute(query, params)).all()
        return StudentStatement(
            student=student,
            school=school,
            as_of=day,
            generated_at=now,
            totals=[_currency_totals(row, with_students=False) for row in totals],
            invoices=_invoices_from_lines(rows, cutoff),
            lines=lines,
            next_line_after=next_after,
        )

    async def school_statement(
        self, scope: Scope, school_id: UUID, *, as_of: date | None, now: datetime, page: PageRequest
    ) -> SchoolStatement:
        async with self._database.snapshot() as sql:
            school = await school_in_scope(sql, scope, school_id)
            day, cutoff, params = await _judged(sql, school_id, school, as_of, now)
            totals = (
                await sql.execute(
                    figures_query("school", ("currency",), cutoff is not None), params
                )
            ).all()
            student_rows = await sql.rows(
                page_query(
                    select(students).where(students.c.school_id == school_id), students.c.id, page
                )
            )
            students_page = page_of(student_rows, page, partial(record_from, Student))
            per_student: dict[UUID, list[StudentTotals]] = defaultdict(list)
            if students_page.items:
                params["owners"] = [student.id for student in students_page.items]
                query = figures_query("students", ("student_id", "currency"), cutoff is not None)
                for row in (await sql.execute(query, params)).all():
                    per_student[row.student_id].append(_student_totals(row))
        return SchoolStatement(
            school=school,
            as_of=day,
            generated_at=now,
            totals=[_currency_totals(row, with_students=True) for row in totals],
            students=Page(
                [StudentLine(s, per_student.get(s.id, [])) for s in students_page.items],
                students_page.next_after,
            ),
        )


async def _judged(
    sql: SqlConnection, owner: UUID, school: School, as_of: date | None, now: datetime
) -> tuple[date, datetime | None, dict[str, Any]]:
    """The day the statement is judged on, its cut-off (None: now) and the query parameters."""
    day = statement_day(as_of, school.timezone, now)
    params: dict[str, Any] = {"owner": owner, **_day_params(day)}
    if as_of is None:
        return day, None, params
    params["cutoff"] = cutoff = end_of_day(day, school.timezone)
    if sql.dialect == "postgresql":
        # The as-of path aggregates a school's whole history; let its hash aggregates stay in
        # memory (for this transaction only) instead of spilling to disk at the default 4 MB.
        await sql.execute(text("SET LOCAL work_mem = '64MB'"))
    return day, cutoff, params
