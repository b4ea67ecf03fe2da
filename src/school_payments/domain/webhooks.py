"""Webhook endpoints and the rules of delivering to them: what they take, when to try again,
when to give up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

RETRY_FOR = timedelta(days=3)
"""A delivery is retried for at least this long after it was queued, then marked failed."""
DISABLE_AFTER = timedelta(days=3)
"""An endpoint whose every attempt failed for this long is disabled."""
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=6)
ALL_TYPES = "*"


def retry_delay(attempt: int, jitter: float) -> timedelta:
    """The wait after failed attempt number `attempt` (1, 2, …): 30 s doubling to at most 6 h,
    spread by `jitter` in [0, 1) over ±25 % so that failing endpoints' retries do not align."""
    base: timedelta = min(FIRST_RETRY * 2 ** min(attempt - 1, 20), LONGEST_WAIT)
    return base * (0.75 + 0.5 * jitter)


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"


@dataclass
class WebhookEndpoint:
    """Where a school wants its events POSTed, signed with `secret` (Standard Webhooks)."""

    id: UUID
    school_id: UUID
    url: str
    event_types: tuple[str, ...]
    """Event types it takes, or `("*",)` for every type."""
    description: str | None
    secret: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    """When the first of its current run of failed attempts happened (None: last one worked)."""

    def takes(self, event_type: str) -> bool:
        return ALL_TYPES in self.event_types or event_type in self.event_types

    def attempt_succeeded(self) -> None:
        self.failing_since = None

    def attempt_failed(self, now: datetime) -> bool:
        """Notes a failed attempt; True when this one disables the endpoint."""
        if self.failing_since is None:
            self.failing_since = now
        if self.enabled and now - self.failing_since >= DISABLE_AFTER:
            self.enabled = False
            self.disabled_reason = "every delivery attempt failed for 3 days"
            self.updated_at = now
            return True
        return False

    def enable(self, now: datetime) -> None:
        self.enabled = True
        self.disabled_reason = None
        self.failing_since = None
        self.updated_at = now

    def disable(self, now: datetime) -> None:
        if self.enabled:
            self.enabled = False
            self.disabled_reason = "disabled through the API"
            self.updated_at = now


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One try at delivering one event to one endpoint, as the API lists it."""

    id: UUID
    school_id: UUID
    endpoint_id: UUID
    delivery_id: UUID
    event_id: UUID
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    attempted_at: datetime
    next_attempt_at: datetime | None
    outcome: DeliveryOutcome
