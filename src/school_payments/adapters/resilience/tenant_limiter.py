"""The per-school limit on concurrent expensive work, in one process."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from school_payments.application.errors import TenantBusyError


class InProcessTenantLimiter:
    """Counts each school's expensive jobs in progress in this process (one event loop: no lock),
    and lets at most `lane` of the admitted jobs, of all schools together, run at once.

    Per process on purpose: each worker protects its own event loop and its own connection
    pool, and needs no round trip to share counts. With N workers a school may run N × limit.

    Why a lane as well as the share: a statement is CPU-bound in PostgreSQL for a second or so.
    Four of them at once (one school's share) kept both cores of a small machine busy, and
    another school's three-query read then waited for CPU at every round trip (its median went
    from 9 to 40 ms, its p99 from 20 to 300-490 ms). Admitted jobs beyond the lane wait their
    turn here, in arrival order, holding no database connection, so cheap requests keep their
    pool slots and the database keeps cores free for them.

    Retry-After is spread over `retry_after_seconds` .. 2 × that: a school's clients refused
    together would otherwise all come back in the same instant, a burst of refusals every
    second on the event loop that serves everyone else.
    """

    def __init__(
        self,
        limit: int,
        retry_after_seconds: int = 1,
        *,
        lane: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.limit = limit
        self._retry_after = retry_after_seconds
        self._running: dict[UUID, int] = {}
        self._lane = asyncio.Semaphore(lane) if lane is not None else None
        self._rng = rng or random.Random()  # noqa: S311 - spreads retries, guards nothing

    def running(self, school_id: UUID) -> int:
        return self._running.get(school_id, 0)

    @asynccontextmanager
    async def slot(self, school_id: UUID) -> AsyncIterator[None]:
        running = self._running.get(school_id, 0)
        if running >= self.limit:
            retry_after = self._rng.randint(self._retry_after, 2 * self._retry_after)
            raise TenantBusyError(self.limit, retry_after)
        self._running[school_id] = running + 1
        try:
            if self._lane is None:
                yield
            else:
                async with self._lane:
                    yield
        finally:
            left = self._running[school_id] - 1
            if left:
                self._running[school_id] = left
            else:
                del self._running[school_id]
