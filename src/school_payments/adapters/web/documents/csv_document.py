"""Statements as CSV for spreadsheets: RFC 4180, UTF-8, one header row, amounts twice (an integer
of minor units, as the API counts, and formatted for people)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import partial

from school_payments.adapters.representation.statements import (
    SchoolStatementOut,
    StudentStatementOut,
)
from school_payments.adapters.web.documents.reading import money, timestamp

Cell = str | int | None

_FORMULA_STARTS = "=+\\-@＝＋－＠"
"""What makes a spreadsheet read a cell as a formula (OWASP's list, plus the full-width forms
that some spreadsheet locales also accept); a leading tab or carriage return counts too."""

_SEPARATORS = ",;\t\r\n，；"
"""What spreadsheets split a line at, by locale, when they import text (`;` in most of Europe)."""

_DANGEROUS = re.compile(
    f"^[\\t\\r]|^\\s*[{_FORMULA_STARTS}]|[{_SEPARATORS}]\\s*[{_FORMULA_STARTS}]"
)


def neutralised(text: str) -> str:
    """Text that a spreadsheet shows as text, following OWASP's advice against CSV injection: a
    leading apostrophe before any cell that could start a formula, whether at its start (after
    any blanks) or after a separator some locale splits at (`x;=cmd|…`). The writer quotes every
    text cell as well, so the apostrophe stays at the start of the one cell."""
    return f"'{text}" if _DANGEROUS.search(text) else text


_NEEDS_QUOTES = re.compile(f'[",;\\t\\r\\n{_SEPARATORS}]')


def _field(value: Cell) -> str:
    """One RFC 4180 field, quoted when it holds a quote, a line break or a separator of any
    locale (`;` and tab too: unquoted, a `;` locale would split `'x;=cmd` into two cells)."""
    # Every string is guarded, ours included: ids, dates and codes never look like formulas,
    # and amounts are written as integers, which need no guard.
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    text = neutralised(value)
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    lines = [",".join(header)]
    lines.extend(",".join(_field(value) for value in row) for row in rows)
    return "".join(f"{line}\r\n" for line in lines).encode()


STUDENT_COLUMNS = (
    "line",
    "invoice_id",
    "payment_id",
    "description",
    "currency",
    "issued_at",
    "due_date",
    "paid_at",
    "method",
    "reference",
    "status",
    "days_overdue",
    "amount",
    "amount_paid",
    "amount_remaining",
    "amount_formatted",
    "amount_paid_formatted",
    "amount_remaining_formatted",
    # The money lifecycle's, after the columns spreadsheets already read by position.
    "amount_credited",
    "amount_refunded",
    "amount_credited_formatted",
    "amount_refunded_formatted",
    "record_id",
    "recorded_at",
)


def _row(columns: Sequence[str], currency: str, /, **cells: Cell) -> list[Cell]:
    """A line of `columns` from the cells given by name (others empty); each `amount…` given
    is repeated, formatted for people, in its `…_formatted` column."""
    for name, value in list(cells.items()):
        if name.startswith(("amount", "invoiced", "paid", "outstanding", "overdue", "credit")):
            formatted = f"{name}_formatted"
            if formatted in columns and isinstance(value, int):
                cells[formatted] = money(value, currency)
    return [cells.get(name) for name in columns]


def student_csv(document: StudentStatementOut) -> bytes:
    """One `invoice` line per invoice (cancelled ones too), each followed by its `payment` lines
    (each followed by its `refund` lines) and its `credit_note` lines."""
    rows: list[list[Cell]] = []
    for invoice in document.invoices:
        currency = invoice.currency
        of_invoice = partial(_row, STUDENT_COLUMNS, currency, invoice_id=str(invoice.id))
        rows.append(
            of_invoice(
                line="invoice",
                description=invoice.description,
                currency=currency,
                issued_at=timestamp(invoice.issued_at),
                due_date=invoice.due_date.isoformat(),
                status=invoice.status.value,
                days_overdue=invoice.days_overdue,
                amount=invoice.amount,
                amount_paid=invoice.amount_paid,
                amount_remaining=invoice.amount_remaining,
                amount_credited=invoice.amount_credited,
            )
        )
        for payment in invoice.payments:
            payment_id = str(payment.id)
            rows.append(
                of_invoice(
                    line="payment",
                    payment_id=payment_id,
                    currency=currency,
                    paid_at=timestamp(payment.paid_at),
                    method=payment.method.value,
                    reference=payment.reference,
                    amount=payment.amount,
                    amount_refunded=payment.amount_refunded,
                )
            )
            rows.extend(
                of_invoice(
                    line="refund",
                    payment_id=payment_id,
                    description=refund.reason,
                    currency=currency,
                    amount=refund.amount,
                    record_id=str(refund.id),
                    recorded_at=timestamp(refund.refunded_at),
                )
                for refund in payment.refunds
            )
        rows.extend(
            of_invoice(
                line="credit_note",
                description=note.reason,
                currency=currency,
                amount=note.amount,
                record_id=str(note.id),
                recorded_at=timestamp(note.issued_at),
            )
            for note in invoice.credit_notes
        )
    return _csv(STUDENT_COLUMNS, rows)


SCHOOL_COLUMNS = (
    "student_id",
    "first_name",
    "last_name",
    "status",
    "currency",
    "invoice_count",
    "invoiced",
    "paid",
    "outstanding",
    "overdue",
    "invoiced_formatted",
    "paid_formatted",
    "outstanding_formatted",
    "overdue_formatted",
    "credited",
    "credit_balance",
    "credited_formatted",
    "credit_balance_formatted",
)


def school_csv(document: SchoolStatementOut) -> bytes:
    """One line per student and currency, for the page of students the request asked for; a
    student without invoices or credit has one line with no currency and no figures."""
    rows: list[list[Cell]] = []
    for line in document.students.data:
        who: dict[str, Cell] = {
            "student_id": str(line.student_id),
            "first_name": line.first_name,
            "last_name": line.last_name,
            "status": line.status.value,
        }
        if not line.totals:
            rows.append(_row(SCHOOL_COLUMNS, "", **who))
        rows.extend(
            _row(
                SCHOOL_COLUMNS,
                t.currency,
                **who,
                currency=t.currency,
                invoice_count=t.invoice_count,
                invoiced=t.invoiced,
                paid=t.paid,
                outstanding=t.outstanding,
                overdue=t.overdue,
                credited=t.credited,
                credit_balance=t.credit_balance,
            )
            for t in line.totals
        )
    return _csv(SCHOOL_COLUMNS, rows)
