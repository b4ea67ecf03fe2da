"""The event outbox in the database: recorded by the change's transaction, read by the API.

The subject of an event (the resource as it stood) is stored as tagged JSON by the same codec as
idempotency outcomes, and rendered by the representation models when it is served or delivered.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import insert, select

from school_payments.adapters.observability.context import request_id
from school_payments.adapters.persistence.database import Database, SqlConnection
from school_payments.adapters.persistence.jobs import fan_out, fan_out_later
from school_payments.adapters.persistence.mapping import page_of, page_query, row_in_scope, scoped
from school_payments.adapters.persistence.tables import events
from school_payments.adapters.persistence.value_codec import decode_value, encode_value
from school_payments.adapters.persistence.write_batch import DeferredWrite
from school_payments.application.caller import Scope
from school_payments.application.events import Event, EventFilter, EventType
from school_payments.application.pagination import Page, PageRequest
from school_payments.application.ports.clock import Clock
from school_payments.domain.ids import new_id

_INSERT_EVENT = insert(events)


def event_from(row: Any) -> Event:
    return Event(
        id=row.id,
        type=EventType(row.type),
        school_id=row.school_id,
        created_at=row.created_at,
        subject=decode_value(bytes(row.subject)),
        request_id=row.request_id,
    )


class SqlEventRecorder:
    """Inserts events in the unit of work's transaction, with the id of the request that caused
    them, and queues their webhook deliveries in the same transaction."""

    def __init__(self, sql: SqlConnection, scope: Scope, clock: Clock) -> None:
        self._sql = sql
        self._scope = scope
        self._clock = clock

    async def record(self, event_type: EventType, school_id: UUID, subject: object) -> None:
        event = Event(
            id=new_id(),
            type=event_type,
            school_id=school_id,
            created_at=self._clock.now(),
            subject=subject,
            request_id=request_id.get(),
        )
        # Encoded now: the subject may be changed by the command after this call.
        values = {
            "id": event.id,
            "school_id": school_id,
            "type": event_type.value,
            "created_at": event.created_at,
            "request_id": event.request_id,
            "subject": encode_value(subject),
        }
        await self._sql.defer(DeferredWrite(_INSERT_EVENT, values, ("events", event.id)))
        await self._sql.defer_read(
            fan_out_later(self._sql, event.id, school_id, event_type.value, event.created_at)
        )

    async def redeliver(self, event_id: UUID) -> int:
        row = await row_in_scope(self._sql, events, self._scope, event_id, "event")
        queued = await fan_out(self._sql, row.id, row.school_id, row.type, self._clock.now())
        return len(queued)


class SqlEventReader:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, scope: Scope, event_id: UUID) -> Event:
        async with self._database.snapshot() as sql:
            return event_from(await row_in_scope(sql, events, scope, event_id, "event"))

    async def list(self, scope: Scope, where: EventFilter, page: PageRequest) -> Page[Event]:
        query = scoped(select(events), events.c.school_id, scope)
        if where.school_id is not None:
            query = query.where(events.c.school_id == where.school_id)
        if where.type is not None:
            query = query.where(events.c.type == where.type.value)
        if where.created_after is not None:
            query = query.where(events.c.created_at > where.created_after)
        async with self._database.snapshot() as sql:
            rows = await sql.rows(page_query(query, events.c.id, page))
        return page_of(rows, page, event_from)
