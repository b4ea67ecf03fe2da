"""Delivering one webhook: the use case every worker runs, on PostgreSQL as in process.

At least once: a delivery is attempted until a 2xx (delivered) or until it is 3 days old
(failed); a lease in the database makes sure no two workers attempt it at the same moment.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import timedelta
from uuid import UUID

from school_payments.application.ports.clock import Clock
from school_payments.application.ports.webhooks import (
    Busy,
    DeliveryStore,
    WebhookSender,
)
from school_payments.domain.ids import new_id
from school_payments.domain.webhooks import RETRY_FOR, DeliveryAttempt, DeliveryOutcome, retry_delay

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=25)
"""Longer than an attempt can take (10 s timeout, DNS, the database): twice the timeout + 5 s."""


class DeliverWebhook:
    """Makes one attempt at a delivery; returns how long to wait before the next (None: done)."""

    def __init__(
        self,
        store: DeliveryStore,
        sender: WebhookSender,
        clock: Clock,
        *,
        jitter: Callable[[], float] = random.random,
        observe: Callable[[DeliveryOutcome], None] = lambda _outcome: None,
        lease: timedelta = LEASE,
    ) -> None:
        self._lease = lease
        self._observe = observe
        self._store = store
        self._sender = sender
        self._clock = clock
        self._jitter = jitter

    async def __call__(self, delivery_id: UUID) -> timedelta | None:
        now = self._clock.now()
        leased = await self._store.lease(delivery_id, now, self._lease)
        if leased is None:
            return None
        if isinstance(leased, Busy):
            return max(leased.until - now, timedelta(seconds=1))
        endpoint, event = leased.endpoint, leased.event
        # The sender checks the URL again (DNS rebinding) and reports a refusal as a failure.
        result = await self._sender.send(endpoint, event)
        attempted_at = self._clock.now()
        number = leased.attempts + 1
        wait: timedelta | None = None
        if result.ok:
            outcome = DeliveryOutcome.DELIVERED
            endpoint.attempt_succeeded()
        else:
            disabled = endpoint.attempt_failed(attempted_at)
            if disabled or attempted_at - leased.created_at >= RETRY_FOR:
                outcome = DeliveryOutcome.FAILED
            else:
                outcome = DeliveryOutcome.RETRYING
                wait = retry_delay(number, self._jitter())
            if disabled:
                log.warning(
                    "webhook endpoint disabled",
                    extra={"endpoint_id": str(endpoint.id), "school_id": str(endpoint.school_id)},
                )
        attempt = DeliveryAttempt(
            id=new_id(),
            school_id=endpoint.school_id,
            endpoint_id=endpoint.id,
            delivery_id=leased.id,
            event_id=event.id,
            attempt=number,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
            attempted_at=attempted_at,
            next_attempt_at=None if wait is None else attempted_at + wait,
            outcome=outcome,
        )
        await self._store.finish(leased, attempt)
        self._observe(outcome)
        log.info(
            "webhook attempt",
            extra={
                "event_id": str(event.id),
                "event_type": event.type.value,
                "caused_by_request_id": event.request_id,
                "endpoint_id": str(endpoint.id),
                "delivery_id": str(leased.id),
                "attempt": number,
                "status_code": result.status_code,
                "error": result.error,
                "outcome": outcome.value,
                "duration_ms": result.duration_ms,
            },
        )
        return wait
