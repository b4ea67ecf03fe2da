"""Every rule the domain can refuse, as a named error raised before anything changes.

The web adapter maps each type to an HTTP status and a problem `code` in one table; nothing
here knows about HTTP.
"""

from __future__ import annotations

from uuid import UUID


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


def money_text(amount: int, currency: str) -> str:
    """An amount of minor units as a person reads it: `50000, "MXN"` → `500.00 MXN`.

    Messages are read by people, who count in major units; the machine-readable fields of an
    error (and of every response) stay in minor units.
    """
    # Imported here: money.py and currency.py raise errors of this module.
    from school_payments.domain.currency import Currency  # noqa: PLC0415
    from school_payments.domain.money import Money  # noqa: PLC0415

    return Money(amount, Currency.of(currency)).formatted()


class PaymentExceedsRemainingError(BusinessRuleError):
    def __init__(self, amount: int, remaining: int, currency: str) -> None:
        """`amount` and `remaining` in minor units of `currency` (kept so, for machines)."""
        left = money_text(remaining, currency)
        super().__init__(
            f"the payment of {money_text(amount, currency)} exceeds the {left} that remain on"
            f" the invoice; pay at most {left}"
        )
        self.amount = amount
        self.remaining = remaining
        self.currency = currency


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
