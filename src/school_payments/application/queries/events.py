"""Reading the event outbox: a school key its own school's events, the operator any school's."""

from __future__ import annotations

from uuid import UUID

from school_payments.application.caller import Caller
from school_payments.application.events import Event, EventFilter
from school_payments.application.pagination import Page, PageRequest
from school_payments.application.ports.events import EventReader


class EventQueries:
    """Events in the order they were recorded (newest last), kept at least 30 days."""

    def __init__(self, reader: EventReader) -> None:
        self._reader = reader

    async def get(self, caller: Caller, event_id: UUID) -> Event:
        return await self._reader.get(caller.scope, event_id)

    async def list(self, caller: Caller, where: EventFilter, page: PageRequest) -> Page[Event]:
        return await self._reader.list(caller.scope, where, page)
