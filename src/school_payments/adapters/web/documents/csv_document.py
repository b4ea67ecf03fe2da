"""Statements as CSV for spreadsheets: RFC 4180, UTF-8, one header row, amounts twice (an integer
of minor units, as the API counts, and formatted for people)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from school_payments.adapters.web.documents.model import (
    SchoolStatementDocument,
    StudentStatementDocument,
    money,
)

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
)


def student_csv(document: StudentStatementDocument) -> bytes:
    """One `invoice` line per invoice (cancelled ones too), each followed by its `payment` lines."""
    rows: list[list[Cell]] = []
    for invoice in document["invoices"]:
        currency = invoice["currency"]
        rows.append(
            [
                "invoice",
                invoice["id"],
                None,
                invoice["description"],
                currency,
                invoice["issued_at"],
                invoice["due_date"],
                None,
                None,
                None,
                invoice["status"],
                invoice["days_overdue"],
                invoice["amount"],
                invoice["amount_paid"],
                invoice["amount_remaining"],
                money(invoice["amount"], currency),
                money(invoice["amount_paid"], currency),
                money(invoice["amount_remaining"], currency),
            ]
        )
        rows.extend(
            [
                "payment",
                invoice["id"],
                payment["id"],
                None,
                currency,
                None,
                None,
                payment["paid_at"],
                payment["method"],
                payment["reference"],
                None,
                None,
                payment["amount"],
                None,
                None,
                money(payment["amount"], currency),
                None,
                None,
            ]
            for payment in invoice["payments"]
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
)


def school_csv(document: SchoolStatementDocument) -> bytes:
    """One line per student and currency, for the page of students the request asked for; a
    student without invoices has one line with no currency and no figures."""
    rows: list[list[Cell]] = []
    for line in document["students"]["data"]:
        who: list[Cell] = [
            line["student_id"],
            line["first_name"],
            line["last_name"],
            line["status"],
        ]
        if not line["totals"]:
            rows.append([*who, *[None] * (len(SCHOOL_COLUMNS) - len(who))])
        rows.extend(
            [
                *who,
                t["currency"],
                t["invoice_count"],
                t["invoiced"],
                t["paid"],
                t["outstanding"],
                t["overdue"],
                money(t["invoiced"], t["currency"]),
                money(t["paid"], t["currency"]),
                money(t["outstanding"], t["currency"]),
                money(t["overdue"], t["currency"]),
            ]
            for t in line["totals"]
        )
    return _csv(SCHOOL_COLUMNS, rows)
