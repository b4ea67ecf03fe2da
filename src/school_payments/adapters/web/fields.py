"""Field types for request bodies: strict where JSON is ambiguous, explicit where pydantic is lax.

Amounts are integers only (no floats, strings or booleans), dates must be `YYYY-MM-DD` strings,
timestamps RFC 3339 strings (no offset means UTC), and text is stripped, non-blank and free of
characters the database cannot store.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict, WithJsonSchema

from school_payments.domain.calendar import validate_timezone
from school_payments.domain.currency import SUPPORTED_CURRENCIES, Currency
from school_payments.domain.errors import DomainError
from school_payments.domain.money import MAX_AMOUNT

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?"
)


def _text(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be empty or only whitespace")
    if "\x00" in stripped:
        raise ValueError("must not contain NUL characters")
    try:
        stripped.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return stripped


def Text(max_length: int) -> Any:  # noqa: N802 - reads as a type in annotations
    """A non-blank string of at most `max_length` characters, stored without outer whitespace."""
    return Annotated[
        str, Strict(), Field(min_length=1, max_length=max_length), AfterValidator(_text)
    ]


def _domain(check: Any) -> Any:
    def validate(value: Any) -> Any:
        try:
            return check(value)
        except DomainError as error:
            raise ValueError(error.detail) from None

    return validate


def _iso_date(value: Any) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a date string YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a calendar date") from None


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 timestamp, as UTC (no offset means UTC); ValueError says what is wrong."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise ValueError("must be an RFC 3339 timestamp string, e.g. 2026-11-24T10:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.upper())  # RFC 3339 allows a lower-case t and z
    except ValueError:
        raise ValueError("must be an RFC 3339 timestamp, e.g. 2026-11-24T10:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # the contract: no offset means UTC
    if not 1900 <= parsed.year <= 9998:
        raise ValueError("must be between the years 1900 and 9998")
    return parsed.astimezone(UTC)


Amount = Annotated[int, Strict(), Field(gt=0, le=MAX_AMOUNT, description="minor units")]
CurrencyCode = Annotated[
    str,
    Strict(),
    AfterValidator(_domain(lambda code: Currency.of(code).code)),
    WithJsonSchema({"type": "string", "enum": sorted(SUPPORTED_CURRENCIES)}),
]
Timezone = Annotated[
    str,
    Strict(),
    Field(min_length=1, max_length=64),
    AfterValidator(_domain(validate_timezone)),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 64, "example": "America/Mexico_City"}
    ),
]
IsoDate = Annotated[
    date, BeforeValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})
]
Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
