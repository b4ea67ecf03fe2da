"""List cursors: opaque to clients, the base64url of the last id on the page."""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from school_payments.domain.errors import InvalidValueError


def encode_cursor(after: UUID | None) -> str | None:
    return None if after is None else base64.urlsafe_b64encode(after.bytes).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> UUID | None:
    """The id a cursor continues after; a cursor this API did not hand out is a 422."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 16 or encode_cursor(UUID(bytes=raw)) != cursor:
            raise ValueError(cursor)
        return UUID(bytes=raw)
    except (ValueError, binascii.Error):
        raise InvalidValueError("cursor", "cursor is not one this API returned") from None
