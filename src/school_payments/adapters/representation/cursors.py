"""List cursors: opaque to clients, the base64url of the last id on the page."""

from __future__ import annotations

import base64
import binascii
import struct
from datetime import date
from uuid import UUID

from school_payments.application.pagination import LinesRequest
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


def encode_lines_cursor(after: UUID | None, lines: LinesRequest) -> str | None:
    """The cursor to a student statement's next page of lines: the last line's invoice id, and
    the `lines_limit` and `as_of` of the request (a continuation must name the same)."""
    if after is None:
        return None
    day = lines.as_of.toordinal() if lines.as_of is not None else 0
    raw = after.bytes + struct.pack(">HI", lines.limit, day)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_lines_cursor(cursor: str | None, *, limit: int, as_of: date | None) -> UUID | None:
    """The invoice id a lines cursor continues after; 422 for a cursor this API did not hand
    out, or one handed out for another `lines_limit` or `as_of`."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 22:
            raise ValueError(cursor)
        after = UUID(bytes=raw[:16])
        cursor_limit, day = struct.unpack(">HI", raw[16:])
        cursor_as_of = date.fromordinal(day) if day else None
        if encode_lines_cursor(after, LinesRequest(cursor_limit, as_of=cursor_as_of)) != cursor:
            raise ValueError(cursor)
    except (ValueError, binascii.Error, struct.error, OverflowError):
        raise InvalidValueError(
            "lines_cursor", "lines_cursor is not one this API returned"
        ) from None
    if (cursor_limit, cursor_as_of) != (limit, as_of):
        raise InvalidValueError(
            "lines_cursor",
            "lines_cursor continues a listing with another lines_limit or as_of: send the"
            f" lines_limit ({cursor_limit}) and as_of"
            f" ({cursor_as_of.isoformat() if cursor_as_of else 'none'}) it came with",
        )
    return after
