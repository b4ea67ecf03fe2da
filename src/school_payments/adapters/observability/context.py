"""The ids of the request being served, visible to every layer through `contextvars`.

asyncio copies the context into each task, so two interleaved requests never see each other's
ids, and code outside any request sees None.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def choose_request_id(incoming: str | None) -> str:
    """The caller's X-Request-ID if it is sane (short, no spaces or controls), else a new one."""
    if incoming and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return secrets.token_hex(16)


def choose_trace_id(traceparent: str | None) -> str:
    """The trace id of a valid W3C `traceparent` header, else a new one (32 hex digits)."""
    if traceparent:
        match = _TRACEPARENT.fullmatch(traceparent.strip())
        if match:
            version, trace, parent, _flags = match.groups()
            if version != "ff" and trace != "0" * 32 and parent != "0" * 16:
                return trace
    return secrets.token_hex(16)
