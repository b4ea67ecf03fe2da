"""Ports of webhooks: endpoints (in a unit of work and on the read side), the URL guard, and
what the delivery worker needs (leases on deliveries, an HTTP sender)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from uuid import UUID

from school_payments.application.caller import Scope
from school_payments.application.events import Event
from school_payments.application.pagination import Page, PageRequest
from school_payments.domain.entities import Invoice, School
from school_payments.domain.webhooks import DeliveryAttempt, WebhookEndpoint


class UnsafeUrlError(Exception):
    """The URL may not be called: not https, or its host resolves to a non-public address."""


class UrlGuard(Protocol):
    """Decides whether a webhook URL may be called now (DNS is asked every time)."""

    async def check(self, url: str) -> None:
        """Raises UnsafeUrlError saying why the URL is refused."""
        ...


class WebhookEndpointRepository(Protocol):
    """Endpoints inside a unit of work, limited to its scope (another school's: NotFoundError)."""

    async def add(self, endpoint: WebhookEndpoint) -> None: ...

    async def get(self, endpoint_id: UUID, *, for_update: bool = False) -> WebhookEndpoint: ...

    async def update(self, endpoint: WebhookEndpoint) -> None: ...

    async def delete(self, endpoint_id: UUID) -> None: ...


class WebhookReader(Protocol):
    """Endpoints and their delivery attempts as the scope sees them (secrets included: the web
    layer never shows them but at creation)."""

    async def get(self, scope: Scope, endpoint_id: UUID) -> WebhookEndpoint: ...

    async def list(
        self, scope: Scope, school_id: UUID, page: PageRequest
    ) -> Page[WebhookEndpoint]: ...

    async def attempts(
        self, scope: Scope, endpoint_id: UUID, page: PageRequest
    ) -> Page[DeliveryAttempt]: ...


@dataclass(frozen=True, slots=True)
class LeasedDelivery:
    """A delivery this worker alone may attempt until the lease ends."""

    id: UUID
    event: Event
    endpoint: WebhookEndpoint
    attempts: int
    """Attempts made before this one."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Busy:
    """Another worker holds the delivery's lease until `until`: try again after it."""

    until: datetime


@dataclass(frozen=True, slots=True)
class SendResult:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class DeliveryStore(Protocol):
    """Deliveries in the database: leased one at a time, finished with their attempt."""

    async def lease(
        self, delivery_id: UUID, now: datetime, length: timedelta
    ) -> LeasedDelivery | Busy | None:
        """None: nothing left to do (delivered, failed, gone)."""
        ...

    async def finish(self, delivery: LeasedDelivery, attempt: DeliveryAttempt) -> None:
        """Records the attempt, moves the delivery on (delivered, retrying at its next time, or
        failed) and saves the endpoint's state, in one transaction."""
        ...

    async def due(self, now: datetime, limit: int) -> list[UUID]:
        """Pending deliveries whose time has come and that nobody holds (oldest first)."""
        ...


class WebhookSender(Protocol):
    """POSTs an event to an endpoint, signed; never raises for what the receiver does."""

    async def send(self, endpoint: WebhookEndpoint, event: Event) -> SendResult: ...


class ReminderRepository(Protocol):
    """What the time-based events need, inside a unit of work: open invoices not yet announced
    for their current due date, and the marks that make each announcement happen once."""

    async def schools(self) -> list[School]: ...

    async def unannounced(
        self, kind: str, school_id: UUID, first_due: date | None, last_due: date, limit: int
    ) -> list[Invoice]:
        """Open invoices of the school due between the two days (inclusive; None: any day
        before), with no mark of this kind for their due date."""
        ...

    async def mark(self, invoice: Invoice, kind: str, now: datetime) -> bool:
        """Marks the invoice announced for its due date; False if it already was (another
        worker did it: that worker records the event)."""
        ...
