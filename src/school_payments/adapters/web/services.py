"""What the HTTP adapter is given by the composition root: use cases, and the probes for /readyz."""

from __future__ import annotations

from dataclasses import dataclass

from school_payments.application.authentication import Authenticator
from school_payments.application.commands.api_keys import CreateApiKeyHandler, RevokeApiKeyHandler
from school_payments.application.commands.corrections import (
    IssueCreditNoteHandler,
    RefundPaymentHandler,
)
from school_payments.application.commands.credit import (
    PayOutCreditHandler,
    RecordStudentPaymentHandler,
)
from school_payments.application.commands.invoices import (
    CancelInvoiceHandler,
    IssueInvoiceHandler,
    ReviseInvoiceHandler,
)
from school_payments.application.commands.payments import RecordPaymentHandler
from school_payments.application.commands.schools import (
    CreateSchoolHandler,
    DeleteSchoolHandler,
    UpdateSchoolHandler,
)
from school_payments.application.commands.students import (
    EnrollStudentHandler,
    RemoveStudentHandler,
    UpdateStudentHandler,
)
from school_payments.application.idempotency_guard import IdempotencyGuard
from school_payments.application.ports.cache import StatementCache
from school_payments.application.ports.readers import DatabaseProbe
from school_payments.application.queries.resources import (
    ApiKeyQueries,
    CreditNoteQueries,
    CreditQueries,
    InvoiceQueries,
    PaymentQueries,
    RefundQueries,
    SchoolQueries,
    StudentQueries,
)
from school_payments.application.queries.statements import StatementQueries


@dataclass(frozen=True, slots=True)
class CommandHandlers:
    create_school: CreateSchoolHandler
    update_school: UpdateSchoolHandler
    delete_school: DeleteSchoolHandler
    enroll_student: EnrollStudentHandler
    update_student: UpdateStudentHandler
    remove_student: RemoveStudentHandler
    issue_invoice: IssueInvoiceHandler
    revise_invoice: ReviseInvoiceHandler
    cancel_invoice: CancelInvoiceHandler
    record_payment: RecordPaymentHandler
    refund_payment: RefundPaymentHandler
    issue_credit_note: IssueCreditNoteHandler
    record_student_payment: RecordStudentPaymentHandler
    pay_out_credit: PayOutCreditHandler
    create_api_key: CreateApiKeyHandler
    revoke_api_key: RevokeApiKeyHandler


@dataclass(frozen=True, slots=True)
class QueryHandlers:
    schools: SchoolQueries
    students: StudentQueries
    invoices: InvoiceQueries
    payments: PaymentQueries
    refunds: RefundQueries
    credit_notes: CreditNoteQueries
    credit: CreditQueries
    api_keys: ApiKeyQueries
    statements: StatementQueries


@dataclass(frozen=True, slots=True)
class ApiServices:
    commands: CommandHandlers
    queries: QueryHandlers
    idempotency: IdempotencyGuard
    authenticator: Authenticator | None
    """None when authentication is switched off explicitly (development only)."""
    database: DatabaseProbe
    cache: StatementCache
