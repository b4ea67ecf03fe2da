"""Field types for request bodies: strict where JSON is ambiguous, explicit where pydantic is lax.

Amounts are integers only (no floats, strings or booleans), dates must be `YYYY-MM-DD` strings,
timestamps RFC 3339 strings (no offset means UTC), and text is stripped, non-blank and free of
characters the database cannot store.
"""

from __future__ import annotations

import re
import unicodedata
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


_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Control characters (bell, escape, NUL…), format characters (bidi overrides such as U+202E,
zero-width spaces, BOMs), surrogates and line/paragraph separators: nothing a name or a
description needs, and some make a text read differently from what it holds."""

_ALLOWED_FORMAT = frozenset({"\u200c", "\u200d", "\u00ad"})
"""Format characters that belong in real names: ZWNJ and ZWJ shape Persian, Arabic and Indic
scripts (they are part of how those names are spelled), and a soft hyphen is a harmless
hyphenation hint pasted from documents. They are invisible, so they do not make a text non-empty."""

_INVISIBLE = frozenset({*_ALLOWED_FORMAT, "\u034f", "\u115f", "\u1160", "\u2800", "\u3164"})
"""Characters that show nothing on their own (besides whitespace and variation selectors)."""


def _visible(char: str) -> bool:
    if char.isspace() or char in _INVISIBLE:
        return False
    return not "\ufe00" <= char <= "\ufe0f"  # variation selectors


def _refused(char: str) -> bool:
    return unicodedata.category(char) in _REFUSED_CATEGORIES and char not in _ALLOWED_FORMAT


def _text(value: str) -> str:
    stripped = value.strip()
    for char in stripped:
        if _refused(char):
            raise ValueError(
                f"must not contain control or format characters (found U+{ord(char):04X});"
                " send plain text"
            )
    if not any(_visible(char) for char in stripped):
        raise ValueError("must not be empty, only whitespace or only invisible characters")
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


AMOUNT_RULE = (
    "must be an integer number of the currency's minor unit (150000 is 1,500.00 MXN),"
    f" from 1 to {MAX_AMOUNT:,} (10^12); not a float, a string or a boolean"
)


def _amount(value: Any) -> int:
    # One message for every way an amount can be wrong (a float, a string, a boolean, zero, an
    # integer past the bound…): pydantic's own would say "a valid integer" even to 10^23.
    if type(value) is not int or not 0 < value <= MAX_AMOUNT:
        raise ValueError(AMOUNT_RULE)
    return value


Amount = Annotated[
    int,
    BeforeValidator(_amount),
    Field(gt=0, le=MAX_AMOUNT, description="an integer of the currency's minor unit"),
]
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
