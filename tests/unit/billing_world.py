"""A school with one student over in-memory fakes, and the invoice and payment handlers on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.commands.invoices import (
    CancelInvoiceHandler,
    IssueInvoice,
    IssueInvoiceHandler,
    ReviseInvoiceHandler,
)
from school_payments.application.commands.payments import RecordPayment, RecordPaymentHandler
from school_payments.domain.entities import School, Student
from tests.support.clock import FixedClock
from tests.unit.builders import a_school, a_student, an_invoice, mxn, pay
from tests.unit.fakes import FakeDatabase, FakeStatementCache, Invalidation


@dataclass
class World:
    db: FakeDatabase = field(default_factory=FakeDatabase)
    clock: FixedClock = field(default_factory=FixedClock)
    cache: FakeStatementCache = field(init=False)
    school: School = field(default_factory=a_school)
    student: Student = field(init=False)

    def __post_init__(self) -> None:
        self.cache = FakeStatementCache(self.db)
        self.student = a_student(self.school)
        self.db.given(self.school, self.student)

    def issue(self) -> IssueInvoiceHandler:
        return IssueInvoiceHandler(self.db.unit_of_work, self.cache, self.clock)

    def record(self) -> RecordPaymentHandler:
        return RecordPaymentHandler(self.db.unit_of_work, self.cache, self.clock)

    def revise(self) -> ReviseInvoiceHandler:
        return ReviseInvoiceHandler(self.db.unit_of_work, self.cache, self.clock)

    def cancel(self) -> CancelInvoiceHandler:
        return CancelInvoiceHandler(self.db.unit_of_work, self.cache, self.clock)

    def invalidated_after_commit(self) -> Invalidation:
        """The one invalidation the command made, checked to come after its commit."""
        assert len(self.cache.invalidations) == 1
        made = self.cache.invalidations[0]
        assert made.commits_before == self.db.commits >= 1
        assert made.schools == {self.school.id}
        assert made.students == {self.student.id}
        return made


def school_caller(school: School) -> Caller:
    return Caller(key_id=f"key-of-{school.id}", school_id=school.id)


def an_issue(student: Student, **fields: Any) -> IssueInvoice:
    values: dict[str, Any] = {
        "student_id": student.id,
        "amount": 150_000,
        "due_date": date(2026, 12, 1),
        "description": "Tuition",
    }
    values.update(fields)
    return IssueInvoice(**values)


def a_payment(invoice_id: UUID, amount: int = 40_000, **fields: Any) -> RecordPayment:
    return RecordPayment(invoice_id=invoice_id, amount=amount, method="cash", **fields)


def given_an_invoice(world: World, amount: int = 100_000, paid: int = 0) -> UUID:
    invoice = an_invoice(world.student, amount=mxn(amount))
    if paid:
        pay(invoice, paid)
    world.db.given(invoice)
    return invoice.id
