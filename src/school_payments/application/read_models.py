"""What the queries return: frozen views built by the read side, ready to render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from school_payments.application.pagination import LinesRequest, Page
from school_payments.domain.entities import Invoice, School, Student


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """An invoice as it reads on `day` (the school's today, or a statement's as-of day)."""

    invoice: Invoice
    day: date

    @property
    def id(self) -> UUID:
        return self.invoice.id


@dataclass(frozen=True, slots=True)
class InvoiceListView:
    invoices: Page[Invoice]
    day: date


@dataclass(frozen=True, slots=True)
class CreditBalance:
    """Credit a student holds in one currency (listed only while above zero)."""

    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class CreditBalances:
    student_id: UUID
    balances: list[CreditBalance]


@dataclass(frozen=True, slots=True)
class StatusCounts:
    pending: int = 0
    partially_paid: int = 0
    paid: int = 0
    overdue: int = 0
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class Aging:
    """Outstanding money by days past due; the five buckets add up to `outstanding`."""

    current: int = 0
    days_1_30: int = 0
    days_31_60: int = 0
    days_61_90: int = 0
    over_90: int = 0


@dataclass(frozen=True, slots=True)
class StudentTotals:
    """One currency's figures; amounts of different currencies are never added together."""

    currency: str
    invoiced: int
    credited: int
    """Σ the credit notes of its uncancelled invoices (forgiven, not paid)."""
    paid: int
    """Net of refunds."""
    outstanding: int
    """Σ what each uncancelled invoice still owes (invoiced − credited − paid, each line ≥ 0)."""
    overdue: int
    invoice_count: int
    credit_balance: int
    """Credit held for the student(s) in this currency: owed to the payer, not subtracted."""


@dataclass(frozen=True, slots=True)
class CurrencyTotals(StudentTotals):
    """A statement's totals in one currency: the figures, with status counts and aging."""

    status_counts: StatusCounts
    aging: Aging
    refunded: int
    """Σ the refunds of its uncancelled invoices' payments (for information: `paid` is net)."""
    student_count: int | None = None
    """Students with at least one invoice in this currency (school statements only)."""


@dataclass(frozen=True, slots=True)
class StudentStatement:
    student: Student
    school: School
    as_of: date
    generated_at: datetime
    totals: list[CurrencyTotals]
    invoices: list[Invoice]
    """The invoices issued by the cut-off (every one, or the page `lines` asked for), with their
    figures, payments (and their refunds) and credit notes as of that day."""
    lines: LinesRequest | None = None
    """The page of lines asked for; None: every line."""
    next_line_after: UUID | None = None
    """Where the next page of lines starts; None when every line is listed."""


@dataclass(frozen=True, slots=True)
class StudentLine:
    student: Student
    totals: list[StudentTotals]


@dataclass(frozen=True, slots=True)
class SchoolStatement:
    school: School
    as_of: date
    generated_at: datetime
    totals: list[CurrencyTotals]
    """Totals over every student of the school, whatever page of students is returned."""
    students: Page[StudentLine]


@dataclass(frozen=True, slots=True)
class RenderedStatement:
    """A statement document, served from the cache or freshly built."""

    school_id: UUID
    body: bytes
    cache: str
    """`HIT`, `MISS` or `BYPASS` (see the statement cache port)."""
