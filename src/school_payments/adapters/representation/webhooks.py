"""Webhook endpoints and their delivery attempts, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from school_payments.adapters.representation.json import ResponseModel
from school_payments.domain.webhooks import DeliveryOutcome


class WebhookEndpointOut(ResponseModel):
    """An endpoint, without its secret (shown once, when it is created)."""

    id: UUID
    school_id: UUID
    url: str
    event_types: list[str] = Field(description='event types it takes, or ["*"] for all')
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(
        description="why it was disabled (every attempt failed for 3 days, or a PATCH)"
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreatedOut(WebhookEndpointOut):
    """An endpoint just created: the only response that shows its signing secret."""

    secret: str = Field(description="`whsec_…` (Standard Webhooks); shown only in this response")


class DeliveryAttemptOut(ResponseModel):
    id: UUID
    event_id: UUID
    attempt: int = Field(description="1 for the first try of this delivery")
    status_code: int | None = Field(description="the receiver's HTTP status (null: no answer)")
    error: str | None
    duration_ms: int
    attempted_at: datetime
    next_attempt_at: datetime | None = Field(description="when it is tried again (retrying only)")
    outcome: DeliveryOutcome
