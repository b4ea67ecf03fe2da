"""How cached statements are keyed and stored, shared by the Redis and in-process caches.

Keys follow the design: `student:{id}:statement:v{version}` / `school:{id}:statement:v{version}`
plus the query parameters. The braces around the id make it a Redis Cluster hash tag, so an
owner's version counter and its entries live in one slot.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

import orjson

from school_payments.application.ports.cache import CachedStatement, StatementKey


def version_key(owner: str, owner_id: UUID) -> str:
    return f"{owner}:{{{owner_id}}}:statement:version"


def entry_prefix(key: StatementKey) -> str:
    """An entry key up to its version: `entry_prefix(key) + version + ":" + variant`."""
    return f"{key.owner}:{{{key.owner_id}}}:statement:v"


def entry_key(key: StatementKey, version: int | str) -> str:
    return f"{entry_prefix(key)}{version}:{key.variant}"


def encode(entry: CachedStatement) -> bytes:
    """A one-line JSON header, a newline, then the document exactly as it will be served."""
    header = orjson.dumps(
        {"school_id": str(entry.school_id), "day": entry.day.isoformat(), "tz": entry.timezone}
    )
    return header + b"\n" + entry.body


def decode(raw: bytes) -> CachedStatement | None:
    """The entry, or None when the bytes are not one of ours (treated as a miss)."""
    header, newline, body = raw.partition(b"\n")
    if not newline:
        return None
    try:
        fields = orjson.loads(header)
        return CachedStatement(
            school_id=UUID(fields["school_id"]),
            day=date.fromisoformat(fields["day"]),
            timezone=str(fields["tz"]),
            body=body,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
