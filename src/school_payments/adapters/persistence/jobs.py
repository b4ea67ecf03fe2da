"""The job engine's side of the outbox: deliveries become pgqueuer jobs in the transaction that
queued them, so a job exists exactly when its delivery row does.

pgqueuer runs on PostgreSQL only; on SQLite (one process) the in-process worker finds due
deliveries in their table instead (see `adapters/webhooks/worker.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, insert, or_, select

from school_payments.adapters.persistence.database import SqlConnection
from school_payments.adapters.persistence.tables import webhook_deliveries, webhook_endpoints
from school_payments.adapters.persistence.write_batch import DeferredRead
from school_payments.domain.ids import new_id
from school_payments.domain.webhooks import ALL_TYPES

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DELIVER = "deliver_webhook"
"""The pgqueuer entrypoint that attempts one delivery; its payload is the delivery id."""


def types_column(event_types: tuple[str, ...]) -> str:
    """`,a,b,`: a type matches with one portable LIKE."""
    return "," + ",".join(event_types) + ","


_TYPES = webhook_endpoints.c.event_types
_ENDPOINTS_TAKING = (
    select(webhook_endpoints.c.id)
    .where(
        webhook_endpoints.c.school_id == bindparam("school_id"),
        webhook_endpoints.c.enabled.is_(True),
        or_(_TYPES.like(bindparam("every_type")), _TYPES.like(bindparam("this_type"))),
    )
    .order_by(webhook_endpoints.c.id)
)
"""The enabled endpoints of a school that take an event type (`endpoints_taking`'s values)."""


def endpoints_taking(school_id: UUID, event_type: str) -> dict[str, Any]:
    """The values of `_ENDPOINTS_TAKING` for one school and event type."""
    return {
        "school_id": school_id,
        "every_type": f"%,{ALL_TYPES},%",
        "this_type": f"%,{event_type},%",
    }


def fan_out_later(
    sql: SqlConnection, event_id: UUID, school_id: UUID, event_type: str, now: datetime
) -> DeferredRead:
    """The fan-out of a new event, sent with the command's writes: its endpoints are read in
    the same statement, and deliveries (and their jobs) are queued only when there are any;
    most schools have none, and their events then cost no round trip of their own."""

    async def queue(endpoint_ids: list[Any]) -> None:
        await deliver_to(sql, event_id, school_id, endpoint_ids, now)

    return DeferredRead(_ENDPOINTS_TAKING, endpoints_taking(school_id, event_type), queue)


async def fan_out(
    sql: SqlConnection, event_id: UUID, school_id: UUID, event_type: str, now: datetime
) -> list[UUID]:
    """Queues deliveries of one event at once: one per enabled endpoint of its school that takes
    its type. Returns their ids."""
    found = await sql.rows(_ENDPOINTS_TAKING, endpoints_taking(school_id, event_type))
    return await deliver_to(sql, event_id, school_id, [row.id for row in found], now)


async def deliver_to(
    sql: SqlConnection, event_id: UUID, school_id: UUID, endpoint_ids: Sequence[UUID], now: datetime
) -> list[UUID]:
    """Queues one delivery of the event to each endpoint, and its job. Returns their ids."""
    if not endpoint_ids:
        return []
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "school_id": school_id,
            "endpoint_id": endpoint_id,
            "event_id": event_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for endpoint_id in endpoint_ids
    ]
    await sql.execute(insert(webhook_deliveries), rows)
    delivery_ids: list[UUID] = [row["id"] for row in rows]
    await enqueue_deliveries(sql, delivery_ids)
    return delivery_ids


async def enqueue_deliveries(sql: SqlConnection, delivery_ids: Sequence[UUID]) -> None:
    """Queues one job per delivery on the transaction's own connection (PostgreSQL only).

    The SQLAlchemy transaction has begun (the event row was inserted on it), so pgqueuer's
    INSERT runs inside it: commit keeps both, rollback neither. The dedupe key (the delivery id)
    lets a sweeper re-queue a lost job without ever doubling a queued one.
    """
    if not delivery_ids or sql.dialect != "postgresql":
        return
    await sql.flush()  # pgqueuer writes on the driver's connection, after what went before
    from pgqueuer import Queries  # on the first delivery: most API workers never queue one

    raw = await sql.connection.get_raw_connection()
    queries = Queries.from_asyncpg_connection(raw.driver_connection)
    count = len(delivery_ids)
    await queries.enqueue(
        [DELIVER] * count,
        [delivery_id.bytes for delivery_id in delivery_ids],
        [0] * count,
        dedupe_key=[str(delivery_id) for delivery_id in delivery_ids],
    )
