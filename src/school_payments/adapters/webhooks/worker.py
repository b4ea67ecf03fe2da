"""The worker: delivers webhooks and emits the time-based events.

On PostgreSQL, deliveries are pgqueuer jobs (queued in the transaction of their event): any
number of worker processes on any number of machines share them, pgqueuer hands each job to
one worker, re-queues a retry with its delay (`RetryRequested`), and hands a job whose worker
stopped sending heartbeats (killed) to another. A sweeper re-queues any pending delivery whose
job is gone (the handler crashed on a database outage, say); the dedupe key keeps it single.

On SQLite (the embedded default, one process), `serve` runs `InProcessWorker` instead: it finds
due deliveries in their table. Both run the same `DeliverWebhook`, whose database lease makes
sure no two attempts at one delivery overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID

import asyncpg
from pgqueuer import Queries, QueueManager, RetryRequested
from pgqueuer.errors import DuplicateJobError
from pgqueuer.models import Job

from school_payments.adapters.observability import metrics
from school_payments.adapters.persistence.jobs import DELIVER
from school_payments.adapters.persistence.webhooks import SqlDeliveryStore
from school_payments.application.ports.clock import Clock
from school_payments.application.webhook_delivery import DeliverWebhook

log = logging.getLogger(__name__)

Periodic = Callable[[], Awaitable[None]]

SWEEP_EVERY = timedelta(seconds=60)
STALE_AFTER = timedelta(minutes=2)
"""A pending delivery this far past its time has lost its job: the sweeper queues it again."""


async def every(seconds: float, work: Periodic, name: str) -> None:
    """Runs `work` forever, `seconds` apart (with jitter so workers spread out); an error is
    logged and the next round tries again."""
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic work failed", extra={"work": name})
        await asyncio.sleep(seconds * (0.75 + 0.5 * random.random()))  # noqa: S311


async def measure_backlog(store: SqlDeliveryStore, clock: Clock) -> None:
    oldest = await store.oldest_undelivered()
    age = 0.0 if oldest is None else max((clock.now() - oldest).total_seconds(), 0.0)
    metrics.oldest_undelivered(age)


class InProcessWorker:
    """The embedded default's worker: one process, due deliveries found by polling."""

    def __init__(
        self,
        deliver: DeliverWebhook,
        store: SqlDeliveryStore,
        clock: Clock,
        *,
        poll_seconds: float = 1.0,
        periodic: list[tuple[float, Periodic, str]] | None = None,
    ) -> None:
        self._deliver = deliver
        self._store = store
        self._clock = clock
        self._poll = poll_seconds
        self._periodic = periodic or []

    async def run_once(self) -> int:
        """Attempts every delivery due now; returns how many were attempted."""
        attempted = 0
        while True:
            due = await self._store.due(self._clock.now(), 50)
            if not due:
                return attempted
            for delivery_id in due:
                await self._deliver(delivery_id)
                attempted += 1

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            for seconds, work, name in self._periodic:
                tasks.create_task(every(seconds, work, name))
            tasks.create_task(every(self._poll, self._deliver_due, "deliveries"))

    async def _deliver_due(self) -> None:
        await self.run_once()


class PgQueuerWorker:
    """A worker process on PostgreSQL: pgqueuer jobs, plus the sweeper and periodic work."""

    def __init__(
        self,
        dsn: str,
        deliver: DeliverWebhook,
        store: SqlDeliveryStore,
        clock: Clock,
        *,
        periodic: list[tuple[float, Periodic, str]] | None = None,
        heartbeat_timeout: timedelta = timedelta(seconds=30),
        concurrency: int = 10,
    ) -> None:
        self._dsn = dsn
        self._deliver = deliver
        self._store = store
        self._clock = clock
        self._periodic = periodic or []
        self._heartbeat_timeout = heartbeat_timeout
        self._concurrency = concurrency
        self.manager: QueueManager | None = None

    async def run(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        sweeper_connection = await asyncpg.connect(self._dsn)
        try:
            manager = self.manager = QueueManager(Queries.from_asyncpg_connection(connection))

            @manager.entrypoint(DELIVER)
            async def deliver(job: Job) -> None:
                assert job.payload is not None
                wait = await self._deliver(UUID(bytes=job.payload))
                if wait is not None:
                    raise RetryRequested(delay=wait, reason="delivery failed; retrying")

            queries = Queries.from_asyncpg_connection(sweeper_connection)

            async def sweep() -> None:
                await self._sweep(queries)

            async with asyncio.TaskGroup() as tasks:
                for seconds, work, name in self._periodic:
                    tasks.create_task(every(seconds, work, name))
                tasks.create_task(every(SWEEP_EVERY.total_seconds(), sweep, "sweeper"))
                await manager.run(
                    batch_size=self._concurrency,
                    max_concurrent_tasks=2 * self._concurrency,
                    heartbeat_timeout=self._heartbeat_timeout,
                    dequeue_timeout=timedelta(seconds=5),
                )
                raise asyncio.CancelledError  # the queue manager stopped: stop the rest
        finally:
            for conn in (connection, sweeper_connection):
                with contextlib.suppress(Exception):
                    await conn.close()

    def stop(self) -> None:
        if self.manager is not None:
            self.manager.shutdown.set()

    async def _sweep(self, queries: Queries) -> None:
        stale = await self._store.due(self._clock.now() - STALE_AFTER, 500)
        requeued = 0
        for delivery_id in stale:
            try:
                await queries.enqueue(DELIVER, delivery_id.bytes, 0, dedupe_key=str(delivery_id))
                requeued += 1
            except DuplicateJobError:
                pass  # its job is still queued or running
        if requeued:
            log.warning("webhook deliveries re-queued by the sweeper", extra={"count": requeued})
