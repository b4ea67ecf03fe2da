"""Webhook endpoints, deliveries and attempts in the database.

A delivery row (one per event and endpoint) is the state of record: written in the event's own
transaction, leased by one worker at a time, finished with its attempt in one transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, or_, select, update

from school_payments.adapters.persistence.database import Database, SqlConnection
from school_payments.adapters.persistence.events import event_from
from school_payments.adapters.persistence.jobs import DELIVERED, FAILED, PENDING, types_column
from school_payments.adapters.persistence.mapping import (
    page_of,
    page_query,
    row_in_scope,
    school_in_scope,
)
from school_payments.adapters.persistence.tables import (
    events,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from school_payments.application.caller import Scope
from school_payments.application.pagination import Page, PageRequest
from school_payments.application.ports.webhooks import Busy, LeasedDelivery
from school_payments.domain.webhooks import (
    DeliveryAttempt,
    DeliveryOutcome,
    WebhookEndpoint,
)


def endpoint_from(row: Any) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        school_id=row.school_id,
        url=row.url,
        event_types=tuple(t for t in row.event_types.split(",") if t),
        description=row.description,
        secret=row.secret,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        updated_at=row.updated_at,
        disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
    )


def _endpoint_values(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "school_id": endpoint.school_id,
        "url": endpoint.url,
        "event_types": types_column(endpoint.event_types),
        "description": endpoint.description,
        "secret": endpoint.secret,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def attempt_from(row: Any) -> DeliveryAttempt:
    return DeliveryAttempt(
        id=row.id,
        school_id=row.school_id,
        endpoint_id=row.endpoint_id,
        delivery_id=row.delivery_id,
        event_id=row.event_id,
        attempt=row.attempt,
        status_code=row.status_code,
        error=row.error,
        duration_ms=row.duration_ms,
        attempted_at=row.attempted_at,
        next_attempt_at=row.next_attempt_at,
        outcome=DeliveryOutcome(row.outcome),
    )


class SqlWebhookEndpointRepository:
    def __init__(self, sql: SqlConnection, scope: Scope) -> None:
        self._sql = sql
        self._scope = scope

    async def add(self, endpoint: WebhookEndpoint) -> None:
        await self._sql.execute(insert(webhook_endpoints).values(_endpoint_values(endpoint)))

    async def get(self, endpoint_id: UUID, *, for_update: bool = False) -> WebhookEndpoint:
        row = await row_in_scope(
            self._sql,
            webhook_endpoints,
            self._scope,
            endpoint_id,
            "webhook endpoint",
            for_update=for_update,
        )
        return endpoint_from(row)

    async def update(self, endpoint: WebhookEndpoint) -> None:
        await self._sql.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint.id)
            .values(_endpoint_values(endpoint))
        )

    async def delete(self, endpoint_id: UUID) -> None:
        # Explicitly, children first: SQLite enforces no ON DELETE CASCADE without a pragma.
        await self._sql.execute(
            delete(webhook_attempts).where(webhook_attempts.c.endpoint_id == endpoint_id)
        )
        await self._sql.execute(
            delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
        )
        await self._sql.execute(
            delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        )


class SqlWebhookReader:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, scope: Scope, endpoint_id: UUID) -> WebhookEndpoint:
        async with self._database.snapshot() as sql:
            row = await row_in_scope(sql, webhook_endpoints, scope, endpoint_id, "webhook endpoint")
        return endpoint_from(row)

    async def list(self, scope: Scope, school_id: UUID, page: PageRequest) -> Page[WebhookEndpoint]:
        async with self._database.snapshot() as sql:
            await school_in_scope(sql, scope, school_id)
            query = select(webhook_endpoints).where(webhook_endpoints.c.school_id == school_id)
            rows = await sql.rows(page_query(query, webhook_endpoints.c.id, page))
        return page_of(rows, page, endpoint_from)

    async def attempts(
        self, scope: Scope, endpoint_id: UUID, page: PageRequest
    ) -> Page[DeliveryAttempt]:
        async with self._database.snapshot() as sql:
            await row_in_scope(sql, webhook_endpoints, scope, endpoint_id, "webhook endpoint")
            query = select(webhook_attempts).where(webhook_attempts.c.endpoint_id == endpoint_id)
            rows = await sql.rows(page_query(query, webhook_attempts.c.id, page))
        return page_of(rows, page, attempt_from)


class SqlDeliveryStore:
    """Leases and finishes deliveries, each in a short transaction of its own."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def lease(
        self, delivery_id: UUID, now: datetime, length: timedelta
    ) -> LeasedDelivery | Busy | None:
        d = webhook_deliveries
        async with self._database.transaction() as sql:
            row = await sql.first(select(d).where(d.c.id == delivery_id).with_for_update())
            if row is None or row.status != PENDING:
                return None
            if row.leased_until is not None and row.leased_until > now:
                return Busy(row.leased_until)
            endpoint_row = await sql.first(
                select(webhook_endpoints).where(webhook_endpoints.c.id == row.endpoint_id)
            )
            event_row = await sql.first(select(events).where(events.c.id == row.event_id))
            if endpoint_row is None or event_row is None:
                return None
            endpoint = endpoint_from(endpoint_row)
            if not endpoint.enabled:
                await sql.execute(update(d).where(d.c.id == delivery_id).values(status=FAILED))
                await sql.commit()
                return None
            await sql.execute(
                update(d).where(d.c.id == delivery_id).values(leased_until=now + length)
            )
            await sql.commit()
        return LeasedDelivery(
            id=row.id,
            event=event_from(event_row),
            endpoint=endpoint,
            attempts=row.attempts,
            created_at=row.created_at,
        )

    async def finish(self, delivery: LeasedDelivery, attempt: DeliveryAttempt) -> None:
        status = {
            DeliveryOutcome.DELIVERED: DELIVERED,
            DeliveryOutcome.RETRYING: PENDING,
            DeliveryOutcome.FAILED: FAILED,
        }[attempt.outcome]
        endpoint = delivery.endpoint
        async with self._database.transaction() as sql:
            await sql.execute(
                insert(webhook_attempts).values(
                    id=attempt.id,
                    school_id=attempt.school_id,
                    endpoint_id=attempt.endpoint_id,
                    delivery_id=attempt.delivery_id,
                    event_id=attempt.event_id,
                    attempt=attempt.attempt,
                    status_code=attempt.status_code,
                    error=None if attempt.error is None else attempt.error[:500],
                    duration_ms=attempt.duration_ms,
                    attempted_at=attempt.attempted_at,
                    next_attempt_at=attempt.next_attempt_at,
                    outcome=attempt.outcome.value,
                )
            )
            await sql.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == delivery.id)
                .values(
                    status=status,
                    attempts=attempt.attempt,
                    next_attempt_at=attempt.next_attempt_at or attempt.attempted_at,
                    leased_until=None,
                )
            )
            # Only what delivery changes: a PATCH made meanwhile keeps its url and types.
            await sql.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.id == endpoint.id)
                .values(
                    failing_since=endpoint.failing_since,
                    **(
                        {}
                        if endpoint.enabled
                        else {
                            "enabled": False,
                            "disabled_reason": endpoint.disabled_reason,
                            "updated_at": endpoint.updated_at,
                        }
                    ),
                )
            )
            await sql.commit()

    async def due(self, now: datetime, limit: int) -> list[UUID]:
        d = webhook_deliveries
        query = (
            select(d.c.id)
            .where(
                d.c.status == PENDING,
                d.c.next_attempt_at <= now,
                or_(d.c.leased_until.is_(None), d.c.leased_until <= now),
            )
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
        )
        async with self._database.snapshot() as sql:
            return [row.id for row in await sql.rows(query)]

    async def oldest_undelivered(self) -> datetime | None:
        """When the oldest pending delivery was queued (for the age metric)."""
        async with self._database.snapshot() as sql:
            value: datetime | None = await sql.scalar(
                select(webhook_deliveries.c.created_at)
                .where(webhook_deliveries.c.status == PENDING)
                .order_by(webhook_deliveries.c.created_at)
                .limit(1)
            )
        return value
