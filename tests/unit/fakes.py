"""In-memory implementations of the application's ports, honest about transactions.

A unit of work stages a deep copy of the committed state when it is entered; its repositories
read and write that copy; `commit()` publishes it; leaving the block without `commit()` throws
it away. Repositories hand out copies, so a handler's change to an object is kept only if it
saves it through the repository, as with the SQL adapters.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import TracebackType
from typing import Self
from uuid import UUID

from school_payments.application.api_keys import ApiKey
from school_payments.application.caller import Scope
from school_payments.application.errors import DatabaseUnavailableError, IdempotencyClaimLostError
from school_payments.application.events import EventType
from school_payments.application.ports.cache import (
    CachedStatement,
    CacheHealth,
    CacheLookup,
    CacheOutcome,
    StatementKey,
)
from school_payments.application.ports.idempotency_store import Created, IdempotencyClaim
from school_payments.domain.credit import CreditAccount, CreditEntry, CreditPayout, Receipt
from school_payments.domain.currency import Currency
from school_payments.domain.entities import (
    OPEN_STATUSES,
    CreditNote,
    Invoice,
    Payment,
    Refund,
    School,
    Student,
)
from school_payments.domain.errors import DuplicateExternalIdError, NotFoundError
from school_payments.domain.money import Money
from school_payments.domain.webhooks import WebhookEndpoint

# -- the database ----------------------------------------------------------------------------


@dataclass
class State:
    schools: dict[UUID, School] = field(default_factory=dict)
    students: dict[UUID, Student] = field(default_factory=dict)
    invoices: dict[UUID, Invoice] = field(default_factory=dict)
    payments: dict[UUID, Payment] = field(default_factory=dict)
    api_keys: dict[UUID, ApiKey] = field(default_factory=dict)
    outcomes: dict[tuple[str, str], Created[object]] = field(default_factory=dict)
    refunds: dict[UUID, Refund] = field(default_factory=dict)
    credit_notes: dict[UUID, CreditNote] = field(default_factory=dict)
    receipts: dict[UUID, Receipt] = field(default_factory=dict)
    credit_entries: dict[UUID, CreditEntry] = field(default_factory=dict)
    payouts: dict[UUID, CreditPayout] = field(default_factory=dict)
    credit_balances: dict[tuple[UUID, str], int] = field(default_factory=dict)
    events: list[tuple[EventType, UUID, object]] = field(default_factory=list)
    webhooks: dict[UUID, WebhookEndpoint] = field(default_factory=dict)


class FakeDatabase:
    """Committed state, plus helpers for tests to arrange it and read it back."""

    def __init__(self) -> None:
        self.committed = State()
        self.commits = 0
        self.units_opened = 0
        self.lost_claims: set[UUID] = set()
        """Claims another request has taken over: completing one fails."""
        self.commit_outcome_lost = False
        """The next commits land, but the connection fails before the client hears of it."""

    def given(self, *things: School | Student | Invoice | Payment | ApiKey) -> None:
        """Puts objects straight into the committed state (arranging a test)."""
        for thing in things:
            table = {
                School: self.committed.schools,
                Student: self.committed.students,
                Invoice: self.committed.invoices,
                Payment: self.committed.payments,
                ApiKey: self.committed.api_keys,
            }[type(thing)]
            stored = copy.deepcopy(thing)
            if isinstance(stored, Invoice):
                for payment in stored.payments or ():
                    self.committed.payments[payment.id] = payment
                stored.payments = None
            table[thing.id] = stored  # type: ignore[index]

    def invoice(self, invoice_id: UUID) -> Invoice:
        return self.committed.invoices[invoice_id]

    def payments_of(self, invoice_id: UUID) -> list[Payment]:
        return [p for p in self.committed.payments.values() if p.invoice_id == invoice_id]

    def unit_of_work(self, scope: Scope) -> FakeUnitOfWork:
        """The UnitOfWorkFactory."""
        self.units_opened += 1
        return FakeUnitOfWork(self, scope)


class FakeUnitOfWork:
    def __init__(self, db: FakeDatabase, scope: Scope) -> None:
        self._db = db
        self._scope = scope
        self._staged: State | None = None

    @property
    def staged(self) -> State:
        if self._staged is None:
            raise RuntimeError("the unit of work is used outside its `async with` block")
        return self._staged

    async def __aenter__(self) -> Self:
        self._staged = copy.deepcopy(self._db.committed)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._staged = None  # whatever was not committed is rolled back

    async def commit(self) -> None:
        self._db.committed = copy.deepcopy(self.staged)
        self._db.commits += 1
        if self._db.commit_outcome_lost:
            raise DatabaseUnavailableError()

    @property
    def schools(self) -> FakeSchoolRepository:
        return FakeSchoolRepository(self, self._scope)

    @property
    def students(self) -> FakeStudentRepository:
        return FakeStudentRepository(self, self._scope)

    @property
    def invoices(self) -> FakeInvoiceRepository:
        return FakeInvoiceRepository(self, self._scope)

    @property
    def credit(self) -> FakeCreditRepository:
        return FakeCreditRepository(self, self._scope)

    @property
    def api_keys(self) -> FakeApiKeyRepository:
        return FakeApiKeyRepository(self, self._scope)

    @property
    def idempotency(self) -> FakeIdempotencyRecorder:
        return FakeIdempotencyRecorder(self, self._db.lost_claims)

    @property
    def events(self) -> FakeEventRecorder:
        return FakeEventRecorder(self)

    @property
    def webhooks(self) -> FakeWebhookEndpointRepository:
        return FakeWebhookEndpointRepository(self, self._scope)

    @property
    def reminders(self) -> FakeReminderRepository:
        return FakeReminderRepository(self, self._scope)


# -- repositories ----------------------------------------------------------------------------


@dataclass
class _Repository:
    uow: FakeUnitOfWork
    scope: Scope

    @property
    def state(self) -> State:
        return self.uow.staged


class FakeSchoolRepository(_Repository):
    async def add(self, school: School) -> None:
        self.state.schools[school.id] = copy.deepcopy(school)

    async def get(self, school_id: UUID, *, for_update: bool = False) -> School:
        school = self.state.schools.get(school_id)
        if school is None or not self.scope.allows(school_id):
            raise NotFoundError("school", school_id)
        return copy.deepcopy(school)

    async def update(self, school: School) -> None:
        self.state.schools[school.id] = copy.deepcopy(school)

    async def delete(self, school_id: UUID) -> None:
        del self.state.schools[school_id]

    async def has_students(self, school_id: UUID) -> bool:
        return any(s.school_id == school_id for s in self.state.students.values())


class FakeStudentRepository(_Repository):
    def _ensure_unique(self, student: Student) -> None:
        if student.external_id is None:
            return
        for other in self.state.students.values():
            same_code = (other.school_id, other.external_id) == (
                student.school_id,
                student.external_id,
            )
            if same_code and other.id != student.id:
                raise DuplicateExternalIdError(student.external_id)

    async def add(self, student: Student) -> None:
        self._ensure_unique(student)
        self.state.students[student.id] = copy.deepcopy(student)

    async def get(
        self, student_id: UUID, *, for_update: bool = False, for_share: bool = False
    ) -> Student:
        student = self.state.students.get(student_id)
        if student is None:
            raise NotFoundError("student", student_id)
        self.scope.require(student.school_id, "student", student_id)
        return copy.deepcopy(student)

    async def update(self, student: Student) -> None:
        self._ensure_unique(student)
        self.state.students[student.id] = copy.deepcopy(student)

    async def delete(self, student_id: UUID) -> None:
        del self.state.students[student_id]

    async def has_billing_history(self, student_id: UUID) -> bool:
        state = self.state
        return any(
            record.student_id == student_id
            for records in (state.invoices, state.receipts, state.credit_entries)
            for record in records.values()
        )

    async def ids_in_school(self, school_id: UUID) -> list[UUID]:
        return [s.id for s in self.state.students.values() if s.school_id == school_id]


class FakeInvoiceRepository(_Repository):
    async def add(self, invoice: Invoice) -> None:
        self.state.invoices[invoice.id] = replace(copy.deepcopy(invoice), payments=None)

    async def get(
        self, invoice_id: UUID, *, for_update: bool = False, with_payments: bool = False
    ) -> Invoice:
        invoice = self.state.invoices.get(invoice_id)
        if invoice is None:
            raise NotFoundError("invoice", invoice_id)
        self.scope.require(invoice.school_id, "invoice", invoice_id)
        found = copy.deepcopy(invoice)
        if with_payments:
            payments = self.state.payments.values()
            found.payments = tuple(p for p in payments if p.invoice_id == invoice_id)
        return found

    async def update(self, invoice: Invoice) -> None:
        self.state.invoices[invoice.id] = replace(copy.deepcopy(invoice), payments=None)

    async def payment(self, payment_id: UUID) -> Payment:
        payment = self.state.payments.get(payment_id)
        if payment is None:
            raise NotFoundError("payment", payment_id)
        self.scope.require(payment.school_id, "payment", payment_id)
        return payment

    async def open_for_allocation(
        self, student_id: UUID, currency: Currency, *, for_update: bool
    ) -> list[Invoice]:
        found = [
            copy.deepcopy(i)
            for i in self.state.invoices.values()
            if i.student_id == student_id and i.currency == currency and i.status in OPEN_STATUSES
        ]
        return sorted(found, key=lambda i: (i.due_date, i.issued_at, i.id))

    async def add_payment(self, invoice: Invoice, payment: Payment) -> None:
        self.state.payments[payment.id] = payment
        self.state.invoices[invoice.id] = replace(copy.deepcopy(invoice), payments=None)

    async def add_refund(self, invoice: Invoice, refund: Refund, payment: Payment) -> None:
        self.state.refunds[refund.id] = refund
        self.state.payments[payment.id] = replace(payment, refunds=None)
        self.state.invoices[invoice.id] = replace(copy.deepcopy(invoice), payments=None)

    async def add_credit_note(self, invoice: Invoice, note: CreditNote) -> None:
        self.state.credit_notes[note.id] = note
        self.state.invoices[invoice.id] = replace(
            copy.deepcopy(invoice), payments=None, credit_notes=None
        )


class FakeCreditRepository(_Repository):
    async def account(self, student: Student, currency: Currency) -> CreditAccount:
        balance = self.state.credit_balances.get((student.id, currency.code), 0)
        return CreditAccount(student.school_id, student.id, Money(balance, currency))

    async def save(self, account: CreditAccount, currency: Currency) -> None:
        self.state.credit_balances[(account.student_id, currency.code)] = account.balance.amount

    async def add_entry(self, entry: CreditEntry) -> None:
        self.state.credit_entries[entry.id] = entry

    async def add_receipt(self, receipt: Receipt) -> None:
        self.state.receipts[receipt.id] = receipt

    async def add_payout(self, payout: CreditPayout) -> None:
        self.state.payouts[payout.id] = payout


class FakeApiKeyRepository(_Repository):
    async def add(self, key: ApiKey) -> None:
        self.state.api_keys[key.id] = copy.deepcopy(key)

    async def get(self, key_id: UUID) -> ApiKey:
        key = self.state.api_keys.get(key_id)
        if key is None:
            raise NotFoundError("api key", key_id)
        self.scope.require(key.school_id, "api key", key_id)
        return copy.deepcopy(key)

    async def update(self, key: ApiKey) -> None:
        self.state.api_keys[key.id] = copy.deepcopy(key)


class FakeIdempotencyRecorder:
    """Stages the outcome with the work; a claim taken over by another request fails."""

    def __init__(self, uow: FakeUnitOfWork, lost_claims: set[UUID]) -> None:
        self._uow = uow
        self._lost = lost_claims

    async def complete(self, claim: IdempotencyClaim, outcome: Created[object]) -> None:
        if claim.token in self._lost:
            raise IdempotencyClaimLostError()
        self._uow.staged.outcomes[(claim.scope, claim.key)] = outcome


class FakeEventRecorder:
    """Stages events with the work: a rolled-back unit of work leaves none."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def record(self, event_type: EventType, school_id: UUID, subject: object) -> None:
        self._uow.staged.events.append((event_type, school_id, copy.deepcopy(subject)))

    async def redeliver(self, event_id: UUID) -> int:
        raise NotFoundError("event", event_id)  # the fakes keep no deliveries


class FakeReminderRepository(_Repository):
    """Time-based events are tested against the real databases (tests/e2e/test_webhooks.py)."""

    async def schools(self) -> list[School]:
        return []

    async def unannounced(
        self, kind: str, school_id: UUID, first_due: date | None, last_due: date, limit: int
    ) -> list[Invoice]:
        return []

    async def mark(self, invoice: Invoice, kind: str, now: datetime) -> bool:
        return False


class FakeWebhookEndpointRepository(_Repository):
    async def add(self, endpoint: WebhookEndpoint) -> None:
        self.state.webhooks[endpoint.id] = copy.deepcopy(endpoint)

    async def get(self, endpoint_id: UUID, *, for_update: bool = False) -> WebhookEndpoint:
        found = self.state.webhooks.get(endpoint_id)
        if found is None or not self.scope.allows(found.school_id):
            raise NotFoundError("webhook endpoint", endpoint_id)
        return copy.deepcopy(found)

    async def update(self, endpoint: WebhookEndpoint) -> None:
        self.state.webhooks[endpoint.id] = copy.deepcopy(endpoint)

    async def delete(self, endpoint_id: UUID) -> None:
        del self.state.webhooks[endpoint_id]


# -- the statement cache ---------------------------------------------------------------------


@dataclass(frozen=True)
class Invalidation:
    schools: frozenset[UUID]
    students: frozenset[UUID]
    commits_before: int
    """How many commits the database had seen when the versions were moved on."""


class FakeStatementCache:
    """Versioned entries in dicts, recording invalidations; `bypass` makes it unavailable."""

    def __init__(self, db: FakeDatabase | None = None, *, bypass: bool = False) -> None:
        self._db = db
        self.bypass = bypass
        self.versions: dict[tuple[str, UUID], int] = {}
        self.entries: dict[str, CachedStatement] = {}
        self.lookups: list[StatementKey] = []
        self.invalidations: list[Invalidation] = []

    def slot_for(self, key: StatementKey) -> str:
        version = self.versions.get((key.owner, key.owner_id), 0)
        return f"{key.owner}:{{{key.owner_id}}}:statement:v{version}:{key.variant}"

    async def lookup(self, key: StatementKey) -> CacheLookup:
        self.lookups.append(key)
        if self.bypass:
            return CacheLookup(CacheOutcome.BYPASS)
        slot = self.slot_for(key)
        entry = self.entries.get(slot)
        if entry is None:
            return CacheLookup(CacheOutcome.MISS, None, slot)
        return CacheLookup(CacheOutcome.HIT, entry, slot)

    async def store(self, slot: str, entry: CachedStatement) -> None:
        self.entries[slot] = entry

    async def invalidate(
        self, *, schools: Iterable[UUID] = (), students: Iterable[UUID] = ()
    ) -> None:
        schools, students = frozenset(schools), frozenset(students)
        for owner, ids in (("school", schools), ("student", students)):
            for owner_id in ids:
                self.versions[(owner, owner_id)] = self.versions.get((owner, owner_id), 0) + 1
        commits = self._db.commits if self._db is not None else 0
        self.invalidations.append(Invalidation(schools, students, commits))

    async def health(self) -> CacheHealth:
        return CacheHealth("unavailable" if self.bypass else "ok", "CLOSED")

    async def close(self) -> None:
        self.entries.clear()
