"""Webhook endpoints of a school, and resending an event to them."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.commands.unset import UNSET, Unset
from school_payments.application.ports.clock import Clock
from school_payments.application.ports.unit_of_work import UnitOfWorkFactory
from school_payments.application.ports.webhooks import UnsafeUrlError, UrlGuard
from school_payments.domain.errors import InvalidValueError
from school_payments.domain.ids import new_id
from school_payments.domain.webhooks import WebhookEndpoint


def generate_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True, slots=True)
class CreateWebhookEndpoint:
    school_id: UUID
    url: str
    event_types: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateWebhookEndpoint:
    endpoint_id: UUID
    url: str | Unset = UNSET
    event_types: tuple[str, ...] | Unset = UNSET
    description: str | Unset | None = UNSET
    enabled: bool | Unset = UNSET


@dataclass(frozen=True, slots=True)
class DeleteWebhookEndpoint:
    endpoint_id: UUID


@dataclass(frozen=True, slots=True)
class ResendEvent:
    event_id: UUID


async def _safe(guard: UrlGuard, url: str) -> str:
    try:
        await guard.check(url)
    except UnsafeUrlError as error:
        raise InvalidValueError("url", str(error)) from None
    return url


class _WebhookHandler:
    def __init__(self, uow: UnitOfWorkFactory, guard: UrlGuard, clock: Clock) -> None:
        self._uow = uow
        self._guard = guard
        self._clock = clock


class CreateWebhookEndpointHandler(_WebhookHandler):
    """Registers an endpoint for a school; its secret is shown in this result only."""

    async def __call__(self, command: CreateWebhookEndpoint, caller: Caller) -> WebhookEndpoint:
        url = await _safe(self._guard, command.url)  # a 422 comes before any 404
        now = self._clock.now()
        endpoint = WebhookEndpoint(
            id=new_id(),
            school_id=command.school_id,
            url=url,
            event_types=command.event_types,
            description=command.description,
            secret=generate_webhook_secret(),
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        async with self._uow(caller.scope) as uow:
            await uow.schools.get(command.school_id, for_update=True)
            await uow.webhooks.add(endpoint)
            await uow.commit()
        return endpoint


class UpdateWebhookEndpointHandler(_WebhookHandler):
    """Changes an endpoint; enabling it again clears why it was disabled."""

    async def __call__(self, command: UpdateWebhookEndpoint, caller: Caller) -> WebhookEndpoint:
        url = command.url
        if not isinstance(url, Unset):
            await _safe(self._guard, url)
        now = self._clock.now()
        async with self._uow(caller.scope) as uow:
            endpoint = await uow.webhooks.get(command.endpoint_id, for_update=True)
            if not isinstance(url, Unset):
                endpoint.url = url
            if not isinstance(command.event_types, Unset):
                endpoint.event_types = command.event_types
            if not isinstance(command.description, Unset):
                endpoint.description = command.description
            if command.enabled is True:
                endpoint.enable(now)
            elif command.enabled is False:
                endpoint.disable(now)
            endpoint.updated_at = now
            await uow.webhooks.update(endpoint)
            await uow.commit()
        return endpoint


class DeleteWebhookEndpointHandler(_WebhookHandler):
    """Deletes an endpoint with its deliveries and their attempts."""

    async def __call__(self, command: DeleteWebhookEndpoint, caller: Caller) -> None:
        async with self._uow(caller.scope) as uow:
            await uow.webhooks.get(command.endpoint_id, for_update=True)
            await uow.webhooks.delete(command.endpoint_id)
            await uow.commit()


class ResendEventHandler(_WebhookHandler):
    """Queues an event again for every enabled endpoint of its school that takes its type."""

    async def __call__(self, command: ResendEvent, caller: Caller) -> int:
        async with self._uow(caller.scope) as uow:
            queued = await uow.events.redeliver(command.event_id)
            await uow.commit()
        return queued
