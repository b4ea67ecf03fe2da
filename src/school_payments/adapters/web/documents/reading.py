"""The JSON statements read back for the renderings, and how their figures read to people.

A statement is parsed by the very models that wrote it (`representation/statements.py`): there
is no second declaration of its shape here to drift from the one the API documents and sends.
An entry cached by a release with another shape is never read: the statement cache keys carry
the renderer's shape (`JsonStatementRenderer.shape`), so no field here needs a fallback.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

import orjson

from school_payments.adapters.representation.statements import (
    SchoolStatementOut,
    StudentStatementOut,
)
from school_payments.domain.currency import Currency
from school_payments.domain.money import Money


def student_document(body: bytes) -> StudentStatementOut:
    """The student statement the query returned, parsed by the model that wrote it."""
    return StudentStatementOut.model_validate_json(body)


def school_document(body: bytes) -> SchoolStatementOut:
    """The school statement the query returned, parsed by the model that wrote it."""
    return SchoolStatementOut.model_validate_json(body)


_SNAPSHOT_START = b'{"snapshot_id":"'


def snapshot_of(body: bytes) -> str:
    """The snapshot id of a JSON statement, read from its first key without parsing the rest."""
    if body.startswith(_SNAPSHOT_START):
        end = body.find(b'"', len(_SNAPSHOT_START))
        if end > 0:
            return body[len(_SNAPSHOT_START) : end].decode("ascii")
    found: str = orjson.loads(body)["snapshot_id"]
    return found


def timestamp(value: datetime) -> str:
    """A timestamp as the JSON writes it: ISO 8601, `Z` for UTC (what the CSV has always shown)."""
    text = value.isoformat()
    return f"{text[:-6]}Z" if text.endswith("+00:00") else text


def money(amount: int, currency: str) -> str:
    """An amount for people: major units with the currency's minor digits (`1,500.00 MXN`)."""
    return Money(amount, Currency.of(currency)).formatted()


def display(text: str | None) -> str:
    """Text as typed, composed (NFC): accented letters then come from the font's precomposed
    glyphs, since the PDF is drawn without text shaping."""
    return unicodedata.normalize("NFC", text or "")


def student_name(first_name: str, last_name: str) -> str:
    return display(f"{first_name} {last_name}")
