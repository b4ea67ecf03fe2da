"""Account statements as SQL aggregates: a fixed number of queries, whatever the school's size.

Two ways to the same figures:
- *today* (no `as_of`): closed invoices come from `student_balances` (kept in step by the write
  side) and only open invoices are scanned, so the cost follows open invoices and the page size,
  not years of paid history;
- *as of a past day*: invoices issued and payments made before the cut-off are aggregated
  from the raw rows (this grows with history; it is the rarer question).
Both feed the same aggregate expressions, and the tests hold both against an oracle.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, case, func, select
from sqlalchemy.sql import ColumnElement, Subquery

from school_payments.adapters.persistence.database import Database, Queries
from school_payments.adapters.persistence.mapping import (
    invoice_from,
    page_of,
    page_query,
    payment_from,
    school_from,
    school_in_scope,
    scoped,
    student_from,
)
from school_payments.adapters.persistence.tables import (
    invoices,
    payments,
    schools,
    student_balances,
    students,
)
from school_payments.application.caller import Scope
from school_payments.application.pagination import Page, PageRequest
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
from school_payments.domain.entities import Invoice, InvoiceStatus, Payment, status_for_paid
from school_payments.domain.errors import NotFoundError
from school_payments.domain.money import Money

OPEN = (InvoiceStatus.PENDING.value, InvoiceStatus.PARTIALLY_PAID.value)

# -- the figures, as aggregate expressions over "lines" ----------------------------------------
# A lines subquery has one row per invoice: student_id, currency, amount, paid (as of the
# cut-off), cancelled (1/0 as of the cut-off) and due_date.


def _sum(value: ColumnElement[Any], condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(value).filter(condition), 0)


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.count().filter(condition)


def _aggregates(lines: Subquery, day: date) -> list[ColumnElement[Any]]:
    """Every per-currency figure of the contract, judged on `day` (labels are read back below)."""
    c = lines.c
    live = c.cancelled == 0
    owing = live & (c.paid < c.amount)
    late = c.due_date < day
    remaining = c.amount - c.paid
    b30, b60, b90 = aging_boundaries(day)
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
        _sum(remaining, owing & late & (c.due_date >= b30)).label("aging_1_30"),
        _sum(remaining, owing & (c.due_date < b30) & (c.due_date >= b60)).label("aging_31_60"),
        _sum(remaining, owing & (c.due_date < b60) & (c.due_date >= b90)).label("aging_61_90"),
        _sum(remaining, owing & (c.due_date < b90)).label("aging_over_90"),
        func.count(c.student_id.distinct()).label("student_count"),
    ]


def _paid_as_of(pay_owner: ColumnElement[bool], cutoff: datetime) -> Subquery:
    """Per invoice, what its payments made before `cutoff` add up to."""
    return (
        select(payments.c.invoice_id, func.sum(payments.c.amount).label("paid"))
        .where(pay_owner, payments.c.paid_at < cutoff)
        .group_by(payments.c.invoice_id)
        .subquery("paid_as_of")
    )


def _lines_as_of(
    owner: ColumnElement[bool], pay_owner: ColumnElement[bool], cutoff: datetime | None
) -> Subquery:
    """Invoices matching `owner` as they stood at `cutoff` (None: as they stand now)."""
    if cutoff is None:
        return (
            select(
                invoices.c.student_id,
                invoices.c.currency,
                invoices.c.amount,
                invoices.c.amount_paid.label("paid"),
                case((invoices.c.status == "CANCELLED", 1), else_=0).label("cancelled"),
                invoices.c.due_date,
            )
            .where(owner)
            .subquery("lines")
        )
    paid = _paid_as_of(pay_owner, cutoff)
    return (
        select(
            invoices.c.student_id,
            invoices.c.currency,
            invoices.c.amount,
            func.coalesce(paid.c.paid, 0).label("paid"),
            case((invoices.c.cancelled_at < cutoff, 1), else_=0).label("cancelled"),
            invoices.c.due_date,
        )
        .select_from(invoices.outerjoin(paid, paid.c.invoice_id == invoices.c.id))
        .where(owner, invoices.c.issued_at < cutoff)
        .subquery("lines")
    )


def _currency_totals(row: Any, *, with_students: bool) -> CurrencyTotals:
    invoiced, paid = int(row.invoiced), int(row.paid)
    return CurrencyTotals(
        currency=row.currency,
        invoiced=invoiced,
        paid=paid,
        outstanding=invoiced - paid,
        overdue=int(row.overdue),
        invoice_count=int(row.invoice_count),
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


def _grouped(lines: Subquery, keys: list[str], day: date) -> Any:
    group = [lines.c[k] for k in keys]
    return select(*group, *_aggregates(lines, day)).group_by(*group).order_by(*group)


def _today_with_history(
    open_owner: ColumnElement[bool], balances_owner: ColumnElement[bool], keys: list[str], day: date
) -> Any:
    """Today's figures: closed invoices from `student_balances`, plus aggregates of open invoices.

    Every (student, currency) with an invoice has a balance row, so the balances side of the
    outer join is complete; an open invoice only adds to it.
    """
    open_lines = _lines_as_of(open_owner & invoices.c.status.in_(OPEN), open_owner, None)
    opened = _grouped(open_lines, keys, day).order_by(None).subquery("open_totals")
    b = student_balances.c
    closed = (
        select(
            *[b[k] for k in keys],
            func.sum(b.closed_invoiced).label("closed_invoiced"),
            func.sum(b.paid_count).label("closed_paid_count"),
            func.sum(b.cancelled_count).label("closed_cancelled_count"),
            func.count().label("student_count"),
        )
        .where(balances_owner)
        .group_by(*[b[k] for k in keys])
        .subquery("closed")
    )
    o, c = opened.c, closed.c

    def open_(name: str) -> ColumnElement[Any]:
        return func.coalesce(o[name], 0)

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
            *[
                open_(name).label(name)
                for name in (
                    "aging_current",
                    "aging_1_30",
                    "aging_31_60",
                    "aging_61_90",
                    "aging_over_90",
                )
            ],
            c.student_count,
        )
        .select_from(closed.outerjoin(opened, and_(*[o[k] == c[k] for k in keys])))
        .order_by(*[c[k] for k in keys])
    )


def _invoice_as_of(row: Any, cutoff: datetime | None, found: tuple[Payment, ...]) -> Invoice:
    invoice = invoice_from(row, found)
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
    """Statements in four queries each, from one snapshot of the database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def student_statement(
        self, scope: Scope, student_id: UUID, *, as_of: date | None, now: datetime
    ) -> StudentStatement:
        async with self._database.snapshot() as q:
            student_row = await q.first(
                scoped(
                    select(students).where(students.c.id == student_id),
                    students.c.school_id,
                    scope,
                )
            )
            if student_row is None:
                raise NotFoundError("student", student_id)
            student = student_from(student_row)
            school = school_from(
                await q.first(select(schools).where(schools.c.id == student.school_id))
            )
            day = statement_day(as_of, school.timezone, now)
            cutoff = None if as_of is None else end_of_day(day, school.timezone)
            owner = invoices.c.student_id == student_id
            pay_owner = payments.c.student_id == student_id
            totals = await q.rows(
                _grouped(_lines_as_of(owner, pay_owner, cutoff), ["currency"], day)
            )
            lines = await self._invoice_lines(q, owner, pay_owner, cutoff)
        return StudentStatement(
            student=student,
            school=school,
            as_of=day,
            generated_at=now,
            totals=[_currency_totals(row, with_students=False) for row in totals],
            invoices=lines,
        )

    @staticmethod
    async def _invoice_lines(
        q: Queries,
        owner: ColumnElement[bool],
        pay_owner: ColumnElement[bool],
        cutoff: datetime | None,
    ) -> list[Invoice]:
        if cutoff is None:
            line_query = select(invoices).where(owner)
            payment_query = select(payments).where(pay_owner)
        else:
            paid = _paid_as_of(pay_owner, cutoff)
            line_query = (
                select(invoices, func.coalesce(paid.c.paid, 0).label("paid_as_of"))
                .select_from(invoices.outerjoin(paid, paid.c.invoice_id == invoices.c.id))
                .where(owner, invoices.c.issued_at < cutoff)
            )
            payment_query = select(payments).where(pay_owner, payments.c.paid_at < cutoff)
        rows = await q.rows(line_query.order_by(invoices.c.id))
        by_invoice: dict[UUID, list[Payment]] = defaultdict(list)
        for payment_row in await q.rows(payment_query.order_by(payments.c.id)):
            by_invoice[payment_row.invoice_id].append(payment_from(payment_row))
        return [_invoice_as_of(row, cutoff, tuple(by_invoice[row.id])) for row in rows]

    async def school_statement(
        self, scope: Scope, school_id: UUID, *, as_of: date | None, now: datetime, page: PageRequest
    ) -> SchoolStatement:
        async with self._database.snapshot() as q:
            school = await school_in_scope(q, scope, school_id)
            day = statement_day(as_of, school.timezone, now)
            cutoff = None if as_of is None else end_of_day(day, school.timezone)
            totals = await q.rows(
                self._figures(
                    owner=invoices.c.school_id == school_id,
                    pay_owner=payments.c.school_id == school_id,
                    balances_owner=student_balances.c.school_id == school_id,
                    keys=["currency"],
                    day=day,
                    cutoff=cutoff,
                )
            )
            student_rows = await q.rows(
                page_query(
                    select(students).where(students.c.school_id == school_id), students.c.id, page
                )
            )
            students_page = page_of(student_rows, page, student_from)
            ids = [student.id for student in students_page.items]
            per_student: dict[UUID, list[StudentTotals]] = defaultdict(list)
            if ids:
                for row in await q.rows(
                    self._figures(
                        owner=invoices.c.student_id.in_(ids),
                        pay_owner=payments.c.student_id.in_(ids),
                        balances_owner=student_balances.c.student_id.in_(ids),
                        keys=["student_id", "currency"],
                        day=day,
                        cutoff=cutoff,
                    )
                ):
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

    @staticmethod
    def _figures(
        *,
        owner: ColumnElement[bool],
        pay_owner: ColumnElement[bool],
        balances_owner: ColumnElement[bool],
        keys: list[str],
        day: date,
        cutoff: datetime | None,
    ) -> Any:
        if cutoff is None:
            return _today_with_history(owner, balances_owner, keys, day)
        return _grouped(_lines_as_of(owner, pay_owner, cutoff), keys, day)
