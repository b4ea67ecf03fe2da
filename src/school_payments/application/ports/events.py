"""Ports of the event outbox: recording inside a unit of work, and reading back."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from school_payments.application.caller import Scope
from school_payments.application.events import Event, EventFilter, EventType
from school_payments.application.pagination import Page, PageRequest


class EventRecorder(Protocol):
    """Records an event in the unit of work's transaction: it commits with the change, or not at
    all."""

    async def record(self, event_type: EventType, school_id: UUID, subject: object) -> None: ...

    async def redeliver(self, event_id: UUID) -> int:
        """Queues a visible event again for its school's enabled endpoints that take its type;
        returns how many (NotFoundError for an event the scope may not see)."""
        ...


class EventReader(Protocol):
    """Events as the scope sees them, oldest first (ids are time-ordered)."""

    async def get(self, scope: Scope, event_id: UUID) -> Event: ...

    async def list(self, scope: Scope, where: EventFilter, page: PageRequest) -> Page[Event]: ...
