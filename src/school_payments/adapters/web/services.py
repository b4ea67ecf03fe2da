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
from school_payments.application.commands.webhooks import (
    CreateWebhookEndpointHandler,
    DeleteWebhookEndpointHandler,
    ResendEventHandler,
    UpdateWebhookEndpointHandler,
)
from school_payments.application.idempotency_guard import IdempotencyGuard
from school_payments.application.ports.cache import StatementCache
from school_payments.application.ports.limits import SchemaProbe
from school_payments.application.ports.readers import DatabaseProbe
from school_payments.application.queries.events import EventQueries
from school_payments.application.queries.expensive_work import ExpensiveWork
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
from school_payments.application.queries.webhooks import WebhookQueries


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
    create_webhook_endpoint: CreateWebhookEndpointHandler
    update_webhook_endpoint: UpdateWebhookEndpointHandler
    delete_webhook_endpoint: DeleteWebhookEndpointHandler
    resend_event: ResendEventHandler


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
    events: EventQueries
    webhooks: WebhookQueries


@dataclass(frozen=True, slots=True)
class ApiServices:
    commands: CommandHandlers
    queries: QueryHandlers
    idempotency: IdempotencyGuard
    authenticator: Authenticator | None
    """None when authentication is switched off explicitly (development only)."""
    database: DatabaseProbe
    cache: StatementCache
    schema: SchemaProbe
    expensive_work: ExpensiveWork
    """Each school's share of statements and documents at once (429 beyond it)."""
