"""Reading webhook endpoints and what their deliveries got."""

from __future__ import annotations

from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.pagination import Page, PageRequest
from school_payments.application.ports.webhooks import WebhookReader
from school_payments.domain.webhooks import DeliveryAttempt, WebhookEndpoint


class WebhookQueries:
    """Endpoints of the schools the caller may see, and their delivery attempts, oldest first."""

    def __init__(self, reader: WebhookReader) -> None:
        self._reader = reader

    async def get(self, caller: Caller, endpoint_id: UUID) -> WebhookEndpoint:
        return await self._reader.get(caller.scope, endpoint_id)

    async def list(
        self, caller: Caller, school_id: UUID, page: PageRequest
    ) -> Page[WebhookEndpoint]:
        return await self._reader.list(caller.scope, school_id, page)

    async def attempts(
        self, caller: Caller, endpoint_id: UUID, page: PageRequest
    ) -> Page[DeliveryAttempt]:
        return await self._reader.attempts(caller.scope, endpoint_id, page)
