"""Account statements from one database snapshot, in a fixed number of queries.

The per-currency figures are SQL aggregates (`statement_figures.py`); this module reads the
owner, those figures and, for a student, the invoice lines with their payments, refunds and
credit notes, each as it stood on the statement's day.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import date, datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Integer, Table, Uuid, and_, bindparam, select, text
from sqlalchemy.sql import ColumnElement, Select

from school_payments.adapters.persistence.database import Database, SqlConnection
from school_payments.adapters.persistence.mapping import (
    page_of,
    page_query,
    reader_of,
    record_from,
    school_in_scope,
    scoped,
)
from school_payments.adapters.persistence.statement_figures import (
    CUTOFF,
    OWNER,
    SCHOOL,
    day_params,
    figures_query,
    owned,
)
from school_payments.adapters.persistence.tables import (
    credit_notes,
    invoices,
    payments,
    refunds,
    schools,
    students,
)
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
from school_payments.domain.calendar import end_of_day, statement_day
from school_payments.domain.currency import Currency
from school_payments.domain.entities import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    Payment,
    Refund,
    School,
    Student,
    status_for_paid,
)
from school_payments.domain.errors import NotFoundError
from school_payments.domain.money import Money

R = TypeVar("R")

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


def _line_window(as_of: bool, after: bool) -> Select[Any]:
    """The ids of one page of `:owner`'s invoice lines (one more than asked: is there a next?)."""
    query = select(invoices.c.id).where(owned("student", invoices))
    if as_of:
        query = query.where(invoices.c.issued_at < CUTOFF)
    if after:
        query = query.where(invoices.c.id > AFTER)
    return query.order_by(invoices.c.id).limit(LINES_LIMIT)


@functools.cache
def _student_lines(as_of: bool, paged: bool, after: bool = False) -> Select[Any]:
    """Each invoice of `:owner` with its payments made by the cut-off (one row per payment, or
    one without); when `paged`, only the invoices of one page (`_line_window`), in the same
    query rather than a round trip of its own."""
    payment_columns = [column.label(f"payment__{column.name}") for column in payments.c]
    joined: ColumnElement[bool] = and_(
        payments.c.invoice_id == invoices.c.id, payments.c.school_id == SCHOOL
    )
    query = select(invoices, *payment_columns).where(owned("student", invoices))
    if as_of:
        joined = and_(joined, payments.c.paid_at < CUTOFF)
        query = query.where(invoices.c.issued_at < CUTOFF)
    if paged:
        query = query.where(invoices.c.id.in_(_line_window(as_of, after).scalar_subquery()))
    return query.select_from(invoices.outerjoin(payments, joined)).order_by(
        invoices.c.id, payments.c.id
    )


_MADE_AT = {refunds: refunds.c.refunded_at, credit_notes: credit_notes.c.issued_at}


@functools.cache
def _student_records(table: Table, as_of: bool) -> Select[Any]:
    """The refunds or credit notes of `:owner`'s invoices made by the cut-off, in creation
    order."""
    query = select(table).where(owned("student", table))
    if as_of:
        query = query.where(_MADE_AT[table] < CUTOFF)
    return query.order_by(table.c.id)


def student_statement_queries(*, refunded: bool, credited: bool) -> list[Select[Any]]:
    """Today's JSON student statement's queries (its first page of lines), in the order they
    run for a student whose lines were `refunded` or `credited` or not, with `:owner`,
    `:lines_limit` and the day's parameters to bind (the benchmark times them raw)."""
    return [
        _student_with_school(),
        figures_query("student", ("currency",), False),
        _student_lines(False, True),
        *([_student_records(refunds, False)] if refunded else []),
        *([_student_records(credit_notes, False)] if credited else []),
    ]


def _first_lines(rows: Sequence[Any], limit: int) -> tuple[Sequence[Any], UUID | None]:
    """The rows of the first `limit` invoices (rows come in invoice order), and the last one's id
    when more followed (the page's continuation)."""
    seen: list[UUID] = []
    for index, row in enumerate(rows):
        if not seen or seen[-1] != row.id:
            if len(seen) == limit:
                return rows[:index], seen[-1]
            seen.append(row.id)
    return rows, None


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
        refunded=int(row.refunded),
        student_count=int(row.student_count) if with_students else None,
    )


def _student_totals(row: Any) -> StudentTotals:
    return StudentTotals(
        currency=row.currency,
        invoiced=int(row.invoiced),
        credited=int(row.credited),
        paid=int(row.paid),
        outstanding=int(row.outstanding),
        overdue=int(row.overdue),
        invoice_count=int(row.invoice_count),
        credit_balance=int(row.credit_balance),
    )


def _invoices_from_lines(
    rows: Any, refund_rows: Any, note_rows: Any, cutoff: datetime | None
) -> list[Invoice]:
    """Invoices with their payments (and their refunds) and credit notes, from the joined rows
    (in id order) and the student's records; figures as of `cutoff` (None: as stored)."""
    refunds_of: dict[UUID, list[Refund]] = defaultdict(list)
    read_refund = _reader(Refund, refund_rows)
    for row in refund_rows:
        refunds_of[row.payment_id].append(read_refund(row))
    notes_of: dict[UUID, list[CreditNote]] = defaultdict(list)
    read_note = _reader(CreditNote, note_rows)
    for row in note_rows:
        notes_of[row.invoice_id].append(read_note(row))
    found: list[Invoice] = []
    by_id: dict[UUID, list[Payment]] = {}
    read_invoice = _reader(Invoice, rows)
    read_payment = _reader(Payment, rows, prefix="payment__")
    for row in rows:
        if row.id not in by_id:
            by_id[row.id] = []
            found.append(read_invoice(row))
        if row.payment__id is not None:
            given: dict[str, Any] = {"refunds": tuple(refunds_of[row.payment__id])}
            if cutoff is not None:
                given["amount_refunded"] = _total(given["refunds"], row.currency)
            by_id[row.id].append(read_payment(row, **given))
    for invoice in found:
        invoice.payments = tuple(by_id[invoice.id])
        invoice.credit_notes = tuple(notes_of[invoice.id])
        if cutoff is not None:
            _as_it_stood(invoice, cutoff)
    return found


def _reader(cls: type[R], rows: Sequence[Any], *, prefix: str = "") -> Callable[..., R]:
    """One reader for all the rows of a query (they share their columns)."""
    fields: tuple[str, ...] = tuple(rows[0]._fields) if rows else ()
    read: Callable[..., R] = reader_of(cls, fields, prefix)  # type: ignore[arg-type]  # hashable
    return read


def _total(records: Any, currency: str) -> Money:
    return Money(sum(r.amount.amount for r in records), Currency.of(currency))


def _as_it_stood(invoice: Invoice, cutoff: datetime) -> None:
    """Sets the figures the invoice had at `cutoff`, from its records made before it (the ones
    loaded with it): what it held net of refunds, what was credited, its state then."""
    loaded = invoice.payments or ()
    code = invoice.currency.code
    invoice.amount_refunded = _total([r for p in loaded for r in p.refunds or ()], code)
    invoice.amount_paid = _total(loaded, code) - invoice.refunded
    invoice.amount_credited = _total(invoice.credit_notes or (), code)
    cancelled = invoice.cancelled_at is not None and invoice.cancelled_at < cutoff
    invoice.cancelled_at = invoice.cancelled_at if cancelled else None
    invoice.status = (
        InvoiceStatus.CANCELLED
        if cancelled
        else status_for_paid(
            invoice.amount_paid.amount, invoice.amount.amount, invoice.credited.amount
        )
    )


class SqlStatementReader:
    """Statements from one database snapshot: a student's in three queries (owner, totals,
    lines), plus its refunds and its credit notes when a line has any; a school's in four."""

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
                record_from(School, row, prefix="school__"),
            )
            day, cutoff, params = await _judged(sql, student_id, school, as_of, now)
            totals = (
                await sql.execute(
                    figures_query("student", ("currency",), cutoff is not None), params
                )
            ).all()
            as_of_day = cutoff is not None
            next_after = None
            if lines is not None:
                # One line more than asked: its presence says there is a next page.
                params |= {"after": lines.after, "lines_limit": lines.limit + 1}
            after = lines is not None and lines.after is not None
            query = _student_lines(as_of_day, lines is not None, after)
            rows: Sequence[Any] = (await sql.execute(query, params)).all()
            if lines is not None:
                rows, next_after = _first_lines(rows, lines.limit)
            # An invoice's stored figures are what its records add up to (the database checks
            # it at commit) and only grow: lines whose invoices were never refunded or credited
            # have no such records, at any cut-off. Most students have none: two queries saved.
            refund_rows: Any = []
            note_rows: Any = []
            if any(row.amount_refunded for row in rows):
                refund_rows = await sql.rows(_student_records(refunds, as_of_day), params)
            if any(row.amount_credited for row in rows):
                note_rows = await sql.rows(_student_records(credit_notes, as_of_day), params)
        return StudentStatement(
            student=student,
            school=school,
            as_of=day,
            generated_at=now,
            totals=[_currency_totals(row, with_students=False) for row in totals],
            invoices=_invoices_from_lines(rows, refund_rows, note_rows, cutoff),
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
    params: dict[str, Any] = {"owner": owner, "school": school.id, **day_params(day)}
    if as_of is None:
        return day, None, params
    params["cutoff"] = cutoff = end_of_day(day, school.timezone)
    if sql.dialect == "postgresql":
        # The as-of path aggregates a school's whole history; let its hash aggregates stay in
        # memory (for this transaction only) instead of spilling to disk at the default 4 MB.
        await sql.execute(text("SET LOCAL work_mem = '64MB'"))
    return day, cutoff, params
