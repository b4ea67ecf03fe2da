"""Statements as printable PDF: what a student's or a school's statement shows, and in what order.

Text is set in the bundled DejaVu Sans (Latin, Greek, Cyrillic, Vietnamese and more); characters
it lacks come from the bundled fallbacks (Arabic, Hebrew, Indic scripts, Thai, CJK, emoji; see
pdf_fonts.py), shaped with HarfBuzz where the script needs it, and a character none has is drawn
as U+FFFD. The output is a function of the statement's content alone, so one snapshot always
gives the same bytes and its ETag is a true strong validator.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from school_payments.adapters.representation.resources import Listing
from school_payments.adapters.representation.statements import (
    CurrencyTotalsOut,
    SchoolCurrencyTotalsOut,
    SchoolStatementOut,
    StatementInvoiceOut,
    StudentLineOut,
    StudentStatementOut,
    StudentTotalsOut,
)
from school_payments.adapters.web.documents.pdf_layout import (
    PRIMARY,
    SECONDARY,
    Align,
    Row,
    StatementPdf,
    strings,
)
from school_payments.adapters.web.documents.reading import display, money, student_name
from school_payments.domain.entities import StudentStatus


def _local_day(timestamp: datetime, zone: ZoneInfo) -> str:
    return timestamp.astimezone(zone).date().isoformat()


def _label(code: str) -> str:
    """`PARTIALLY_PAID` → `Partially paid`, `bank_transfer` → `Bank transfer`."""
    return code.replace("_", " ").capitalize()


FIGURE_HEADINGS = ["Invoiced", "Credited", "Paid (net)", "Outstanding", "Overdue", "Credit held"]
"""The money columns of a totals row, in `_figures` order."""


def _figures(totals: StudentTotalsOut) -> list[str]:
    code = totals.currency
    return [
        money(totals.invoiced, code),
        money(totals.credited, code),
        money(totals.paid, code),
        money(totals.outstanding, code),
        money(totals.overdue, code),
        money(totals.credit_balance, code),
    ]


def _invoice_count(totals: CurrencyTotalsOut) -> str:
    """The count beside the invoiced amount, saying how many of its invoices are cancelled: those
    count as invoices but add nothing to "Invoiced" (`2` beside one invoice's amount misled)."""
    cancelled = totals.status_counts.CANCELLED
    count = str(totals.invoice_count)
    return f"{count} (incl. {cancelled} cancelled)" if cancelled else count


Document = StudentStatementOut | SchoolStatementOut


def _heading(pdf: StatementPdf, document: Document, title: str) -> None:
    pdf.say(display(document.school.name), size=15, bold=True)
    pdf.say(title, size=12, bold=True)
    pdf.ln(1)


def _as_of(pdf: StatementPdf, document: Document) -> None:
    timezone = document.school.timezone
    pdf.say(f"As of {document.as_of.isoformat()}, end of day ({timezone})")
    pdf.say(f"Snapshot {document.snapshot_id}", size=7.5, grey=True)


def _totals(pdf: StatementPdf, totals: Sequence[CurrencyTotalsOut], *, students: bool) -> None:
    pdf.section("Totals")
    if not totals:
        pdf.say("No invoices by this day.", grey=True)
        return
    headings = ["Currency", "Invoices", *FIGURE_HEADINGS]
    widths: list[float] = [18, 18, *[24.0] * 6]
    if students:
        headings.insert(1, "Students")
        widths = [16, 16, 16, *[22.0] * 6]
    rows: list[Row] = []
    for t in totals:
        cells = [t.currency, _invoice_count(t)]
        if students:
            count = t.student_count if isinstance(t, SchoolCurrencyTotalsOut) else 0
            cells.insert(1, str(count))
        cells += _figures(t)
        rows.append((cells, PRIMARY))
    right: Align = "R"
    aligns: list[Align] = ["L", *[right] * (len(headings) - 1)]
    pdf.grid(headings, widths, aligns, rows)
    for t in totals:
        if t.refunded:
            refunded = money(t.refunded, t.currency)
            pdf.say(f"{t.currency}: refunds of {refunded} are already out of Paid.", grey=True)
    pdf.say(
        "Outstanding = invoiced − credited − paid. Credit held is owed to the payer until it is"
        " applied: it is not taken off Outstanding.",
        size=7.5,
        grey=True,
    )

    pdf.section("Aging of the outstanding amount (days past due)")
    pdf.grid(
        ["Currency", "Not yet due", "1–30", "31–60", "61–90", "Over 90"],
        [18, 32.4, 32.4, 32.4, 32.4, 32.4],
        ["L", "R", "R", "R", "R", "R"],
        [([t.currency, *(money(b, t.currency) for b in _buckets(t))], PRIMARY) for t in totals],
    )


def _buckets(totals: CurrencyTotalsOut) -> tuple[int, int, int, int, int]:
    aging = totals.aging
    return (aging.current, aging.days_1_30, aging.days_31_60, aging.days_61_90, aging.over_90)


def _invoices(pdf: StatementPdf, invoices: Sequence[StatementInvoiceOut], zone: ZoneInfo) -> None:
    pdf.section("Invoices and payments")
    if not invoices:
        pdf.say("No invoices by this day.", grey=True)
        return
    rows: list[Row] = []
    for invoice in invoices:
        code = invoice.currency
        status = _label(invoice.status.value)
        if invoice.days_overdue:
            status += f" ({invoice.days_overdue} d)"
        rows.append(
            (
                [
                    _local_day(invoice.issued_at, zone),
                    display(invoice.description),
                    invoice.due_date.isoformat(),
                    status,
                    money(invoice.amount, code),
                    money(invoice.amount_paid, code),
                    money(invoice.amount_remaining, code),
                ],
                PRIMARY,
            )
        )
        for payment in invoice.payments:
            what = f"Payment, {_label(payment.method.value).lower()}"
            if payment.reference:
                what += f", ref. {display(payment.reference)}"
            day = _local_day(payment.paid_at, zone)
            rows.append(([day, what, "", "", "", money(payment.amount, code), ""], SECONDARY))
            for refund in payment.refunds:
                what = "Refund of this payment" + _because(refund.reason)
                day = _local_day(refund.refunded_at, zone)
                rows.append(
                    ([day, what, "", "", "", f"−{money(refund.amount, code)}", ""], SECONDARY)
                )
        for note in invoice.credit_notes:
            what = "Credit note" + _because(note.reason)
            day = _local_day(note.issued_at, zone)
            rows.append(([day, what, "", "", f"−{money(note.amount, code)}", "", ""], SECONDARY))
    pdf.grid(
        ["Issued", "Description", "Due", "Status", "Amount", "Paid", "Remaining"],
        [20, 40, 20, 24, 25.3, 25.3, 25.3],
        ["L", "L", "L", "L", "R", "R", "R"],
        rows,
    )


def _because(reason: str | None) -> str:
    return f": {display(reason)}" if reason else ""


def _students(pdf: StatementPdf, page: Listing[StudentLineOut]) -> None:
    pdf.section("Students")
    rows: list[Row] = []
    for line in page.data:
        name = student_name(line.first_name, line.last_name)
        status = _label(line.status.value)
        if not line.totals:
            rows.append(([name, status, "", "0", *[""] * len(FIGURE_HEADINGS)], PRIMARY))
        for n, t in enumerate(line.totals):
            rows.append(
                (
                    [
                        name if n == 0 else "",
                        status if n == 0 else "",
                        t.currency,
                        str(t.invoice_count),
                        *_figures(t),
                    ],
                    PRIMARY,
                )
            )
    if not rows:
        pdf.say("No students on this page.", grey=True)
        return
    right: Align = "R"
    pdf.grid(
        # Per student only the total count is known: the heading says it includes cancelled ones.
        [
            "Student",
            "Status",
            "Currency",
            "Invoices (incl. cancelled)",
            *FIGURE_HEADINGS,
        ],
        [26, 12, 14, 14, *[19.0] * 6],
        ["L", "L", "L", *[right] * (1 + len(FIGURE_HEADINGS))],
        rows,
    )
    if page.next_cursor:
        pdf.ln(2)
        pdf.say(f"More students follow on the next page (cursor={page.next_cursor}).", grey=True)


def student_pdf(document: StudentStatementOut) -> bytes:
    """The student's statement: totals and aging per currency, then every invoice and payment."""
    student, school = document.student, document.school
    name = student_name(student.first_name, student.last_name)
    pdf = StatementPdf(
        title=f"Statement of {name}, {document.as_of.isoformat()}",
        snapshot_id=document.snapshot_id,
        as_of=document.as_of.isoformat(),
        texts=strings(document),
    )
    pdf.add_page()
    _heading(pdf, document, "Account statement")
    subject = f"Student: {name}"
    if student.external_id:
        subject += f" (enrolment code {display(student.external_id)})"
    if student.status is StudentStatus.ARCHIVED:
        subject += ", archived"
    pdf.say(subject)
    _as_of(pdf, document)
    _totals(pdf, document.totals, students=False)
    _invoices(pdf, document.invoices, ZoneInfo(school.timezone))
    return pdf.finish()


def school_statement_pdf(document: SchoolStatementOut) -> bytes:
    """The school's statement: totals over every student, then this page of students."""
    pdf = StatementPdf(
        title=f"Statement of {display(document.school.name)}, {document.as_of.isoformat()}",
        snapshot_id=document.snapshot_id,
        as_of=document.as_of.isoformat(),
        texts=strings(document),
    )
    pdf.add_page()
    _heading(pdf, document, "School statement")
    _as_of(pdf, document)
    _totals(pdf, document.totals, students=True)
    _students(pdf, document.students)
    return pdf.finish()
