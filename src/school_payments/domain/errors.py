"""Every rule the domain can refuse, as a named error raised before anything changes.

The web adapter maps each type to an HTTP status and a problem `code` in one table; nothing
here knows about HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from school_payments.domain.money import Money


class DomainError(Exception):
    """A request the rules refuse; `detail` is a sentence a client developer can act on."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# -- input the rules cannot accept (the shape was right, the value is not) -------------------


class InvalidValueError(DomainError):
    """A field's value breaks a rule that needs more than its shape to check."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class UnknownCurrencyError(InvalidValueError):
    def __init__(self, code: object) -> None:
        super().__init__("currency", f"{code!r} is not an ISO 4217 currency this service supports")


class UnknownTimezoneError(InvalidValueError):
    def __init__(self, name: object) -> None:
        super().__init__(
            "timezone",
            f"{name!r} is not an IANA time zone name; use one such as 'America/Mexico_City'"
            " or 'UTC'",
        )


class InvalidAmountError(InvalidValueError):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(field, detail)


class TimestampInFutureError(InvalidValueError):
    def __init__(self, field: str) -> None:
        super().__init__(field, f"{field} may not be in the future")


class CurrencyRequiredError(InvalidValueError):
    def __init__(self) -> None:
        super().__init__(
            "currency", "currency is required: the school has no default_currency to fall back on"
        )


# -- things that are not there (or not visible to the caller) --------------------------------


class NotFoundError(DomainError):
    def __init__(self, resource: str, resource_id: UUID | str | None = None) -> None:
        super().__init__(
            f"no such {resource}" if resource_id is None else f"no {resource} {resource_id}"
        )
        self.resource = resource


# -- business rules that refuse an otherwise valid request (409) -----------------------------


class BusinessRuleError(DomainError):
    """The request is well formed, but the current state of the data does not allow it."""


class PaymentExceedsRemainingError(BusinessRuleError):
    def __init__(self, amount: Money, remaining: Money) -> None:
        super().__init__(
            f"the payment of {amount.formatted()} exceeds the {remaining.formatted()} that remain"
            f" on the invoice; pay at most {remaining.formatted()}"
        )
        self.amount = amount.amount
        self.remaining = remaining.amount


class RefundExceedsPaymentError(BusinessRuleError):
    def __init__(self, amount: Money, refundable: Money) -> None:
        if refundable.amount == 0:
            detail = "the payment has been refunded in full; nothing is left to refund"
        else:
            detail = (
                f"a refund of {amount.formatted()} exceeds the {refundable.formatted()} of the"
                f" payment not yet refunded; refund at most {refundable.formatted()}"
            )
        super().__init__(detail)
        self.amount = amount.amount
        self.refundable = refundable.amount


class InvoiceNotCreditableError(BusinessRuleError):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"an invoice that is {status} takes no credit notes; credit an open invoice instead"
        )


class CreditExceedsRemainingError(BusinessRuleError):
    def __init__(self, amount: Money, remaining: Money) -> None:
        super().__init__(
            f"a credit note of {amount.formatted()} exceeds the {remaining.formatted()} that"
            f" remain on the invoice; credit at most {remaining.formatted()}"
        )
        self.amount = amount.amount
        self.remaining = remaining.amount


class InsufficientCreditError(BusinessRuleError):
    def __init__(self, amount: Money, balance: Money) -> None:
        super().__init__(
            f"the student holds {balance.formatted()} of credit, less than the"
            f" {amount.formatted()} asked for; use at most {balance.formatted()}"
        )
        self.amount = amount.amount
        self.balance = balance.amount


class InvoiceNotPayableError(BusinessRuleError):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"an invoice that is {status} accepts no payments; pay an open (PENDING,"
            " PARTIALLY_PAID or OVERDUE) invoice instead"
        )


class CurrencyMismatchError(BusinessRuleError):
    def __init__(self, expected: str, got: str) -> None:
        super().__init__(
            f"the invoice is in {expected}; a payment in {got} cannot settle it:"
            f" pay in {expected} (or leave currency out)"
        )


class InvoiceNotEditableError(BusinessRuleError):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"an invoice that is {status} can no longer be edited; only PENDING, PARTIALLY_PAID"
            " and OVERDUE invoices can"
        )


class InvoiceHasPaymentsError(BusinessRuleError):
    def __init__(self) -> None:
        super().__init__(
            "an invoice with payments cannot be cancelled; only an invoice without payments can"
        )


class StudentArchivedError(BusinessRuleError):
    def __init__(self) -> None:
        super().__init__(
            "the student is archived and cannot receive new invoices; invoice an active student"
        )


class SchoolHasStudentsError(BusinessRuleError):
    def __init__(self) -> None:
        super().__init__(
            "a school with students cannot be deleted; delete (or archive) its students first"
        )


class DuplicateExternalIdError(BusinessRuleError):
    def __init__(self, external_id: str) -> None:
        super().__init__(
            f"another student of this school already has external_id {external_id!r};"
            " choose another external_id or leave it out"
        )
